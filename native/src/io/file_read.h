/* Reading a whole file into memory (where mapping it is not possible). */
#ifndef MG_IO_FILE_READ_H
#define MG_IO_FILE_READ_H

#include "core/diag.h"

#include <stddef.h>
#include <stdint.h>

/* *data (malloc'ed, at least 1 byte even for an empty file) and *size; errors name the path. */
mg_status mg_read_whole_file(const char *path, uint8_t **data, size_t *size, mg_diag *diag);

#endif
