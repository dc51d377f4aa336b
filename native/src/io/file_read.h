/* Reading a whole file into memory (where mapping it is not possible). */
#ifndef MG_IO_FILE_READ_H
#define MG_IO_FILE_READ_H

#include "core/diag.h"

#include <stddef.h>
#include <stdint.h>

/* *data (malloc'ed, at least 1 byte even for an empty file) and *size; errors name the path. */
mg_status mg_read_whole_file(const char *path, uint8_t **data, size_t *size, mg_diag *diag);

/* A file's bytes: memory-mapped where the platform can (a large model stays out of the heap and only the pages
 * used are read), else read into the heap. Exactly one of mapped / owned is set on success. */
typedef struct mg_file_bytes {
    const uint8_t *data;
    size_t size;
    void *mapped;          /* munmap with mg_file_unmap */
    size_t mapped_size;
    uint8_t *owned;        /* free() */
} mg_file_bytes;

mg_status mg_file_bytes_open(const char *path, mg_file_bytes *out, mg_diag *diag);
/* Releases a mapping made by mg_file_bytes_open (NULL is fine). */
void mg_file_unmap(void *mapped, size_t size);

#endif
