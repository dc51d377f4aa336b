/* PNG files from 8-bit RGBA pixels (zlib deflates the image data and computes the CRCs). */
#ifndef MG_RENDER_PNG_WRITE_H
#define MG_RENDER_PNG_WRITE_H

#include "core/diag.h"

#include <stddef.h>
#include <stdint.h>

/* The PNG bytes of a width x height RGBA image (rows top to bottom) as a new malloc'ed buffer. */
mg_status mg_png_encode(const uint8_t *rgba, uint32_t width, uint32_t height, uint8_t **out, size_t *out_size,
                        mg_diag *diag);
/* The same written to `path` (through a temporary file renamed into place). */
mg_status mg_png_write(const char *path, const uint8_t *rgba, uint32_t width, uint32_t height, mg_diag *diag);

#endif
