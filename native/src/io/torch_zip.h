/*
 * The zip container of PyTorch checkpoints (torch.save since PyTorch 1.6):
 * `<archive>/data.pkl`, `<archive>/data/<key>` (raw storages), `<archive>/version`.
 * PyTorch stores entries uncompressed (and aligns them to 64 bytes), so a
 * stored entry is used in place from the memory-mapped file; deflated entries
 * (a checkpoint re-zipped by hand) are inflated on request.
 *
 * Every size and offset comes from the file and is checked against the file's
 * size before use: central directory, local headers, zip64 records.
 */
#ifndef MG_IO_TORCH_ZIP_H
#define MG_IO_TORCH_ZIP_H

#include "core/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_zip_entry {
    char *name;
    uint16_t method;          /* 0 stored, 8 deflate */
    uint32_t crc32;
    uint64_t compressed_size; /* bytes in the file */
    uint64_t size;            /* bytes once extracted */
    uint64_t data_offset;     /* where the (compressed) bytes start in the file */
} mg_zip_entry;

typedef struct mg_zip {
    const uint8_t *bytes;     /* the whole file */
    size_t size;
    mg_zip_entry *entries;    /* sorted by name */
    size_t count;
    char *source;             /* for messages */
    void *mapped;             /* mmap'ed file, or NULL */
    size_t mapped_size;
    void *owned;              /* malloc'ed copy where mmap is unavailable, or NULL */
} mg_zip;

/* True when `bytes` start like a zip file (a local header or an empty archive). */
bool mg_zip_has_magic(const void *bytes, size_t size);

/* Maps (or reads) the file and validates its directory. `diag` may be NULL. */
mg_status mg_zip_open(const char *path, mg_zip *out, mg_diag *diag);
/* Validates bytes in memory; `out` points into them, so they must outlive it. */
mg_status mg_zip_parse(const void *bytes, size_t size, const char *source, mg_zip *out, mg_diag *diag);
/* Frees and unmaps; a zeroed struct is fine. */
void mg_zip_close(mg_zip *zip);

/* NULL when absent. */
const mg_zip_entry *mg_zip_find(const mg_zip *zip, const char *name);

/*
 * The extracted bytes of an entry. Stored entries: *data points into the file
 * and `scratch` is not used. Deflated entries: inflated into `scratch`, which
 * must hold entry->size bytes (NULL is refused with a message), and checked
 * against the entry's CRC-32.
 */
mg_status mg_zip_entry_data(const mg_zip *zip, const mg_zip_entry *entry, void *scratch, const uint8_t **data,
                            mg_diag *diag);

#endif
