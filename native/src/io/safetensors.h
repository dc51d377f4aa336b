/*
 * safetensors files (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header mapping tensor names to dtype,
 * shape and byte range, then the raw little-endian tensor data.
 *
 * The reader checks the header strictly before anything trusts it, because
 * model files come from the internet: every range must lie inside the data,
 * match its shape and dtype, and not overlap another. Errors name the tensor
 * and the fact that is wrong.
 */
#ifndef MG_IO_SAFETENSORS_H
#define MG_IO_SAFETENSORS_H

#include "core/diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_ST_MAX_DIMS 8
/* Headers larger than this are refused (the reference implementation's limit). */
#define MG_ST_MAX_HEADER_BYTES 100000000ull

typedef enum mg_st_dtype {
    MG_ST_F32 = 0,
    MG_ST_F16,
    MG_ST_BF16,
    MG_ST_F64,
    MG_ST_I64,
    MG_ST_I32,
    MG_ST_I16,
    MG_ST_I8,
    MG_ST_U8,
    MG_ST_BOOL,
    MG_ST_DTYPE_COUNT
} mg_st_dtype;

/* "F32", ... ("?" for a value out of range). */
const char *mg_st_dtype_name(mg_st_dtype dtype);
/* Bytes per element (0 for a value out of range). */
size_t mg_st_dtype_size(mg_st_dtype dtype);
/* Parses a dtype string as the header spells it; false when unknown. */
bool mg_st_dtype_parse(const char *text, mg_st_dtype *out);

typedef struct mg_st_tensor {
    char *name;
    mg_st_dtype dtype;
    int ndim;
    int64_t shape[MG_ST_MAX_DIMS];
    uint64_t count;          /* elements: product of shape (1 for a scalar) */
    uint64_t begin, end;     /* byte range within the data section */
    const uint8_t *data;     /* data section + begin; no alignment is guaranteed */
} mg_st_tensor;

typedef struct mg_st_metadata {
    char *key;
    char *value;
} mg_st_metadata;

typedef struct mg_safetensors {
    mg_st_tensor *tensors;   /* sorted by name */
    size_t count;
    mg_st_metadata *metadata;
    size_t metadata_count;
    const uint8_t *data;     /* the data section */
    uint64_t data_size;
    /* storage of the file bytes */
    void *owned;             /* malloc'ed copy, or NULL */
    void *mapped;            /* mmap'ed file, or NULL */
    size_t mapped_size;
} mg_safetensors;

/* Opens and validates a file (mapped when the platform can, else read). `diag` may be NULL. */
mg_status mg_safetensors_open(const char *path, mg_safetensors *out, mg_diag *diag);
/* Validates bytes in memory; `out` points into `bytes`, which must outlive it. */
mg_status mg_safetensors_parse(const void *bytes, size_t size, mg_safetensors *out, mg_diag *diag);
/* Frees what open/parse allocated; a zeroed struct is fine. */
void mg_safetensors_close(mg_safetensors *file);

/* NULL when absent. */
const mg_st_tensor *mg_safetensors_find(const mg_safetensors *file, const char *name);
/* The value of a "__metadata__" entry, NULL when absent. */
const char *mg_safetensors_metadata(const mg_safetensors *file, const char *key);

/* One tensor for the writer: `data` holds count * dtype size little-endian bytes. */
typedef struct mg_st_write_tensor {
    const char *name;
    mg_st_dtype dtype;
    int ndim;
    int64_t shape[MG_ST_MAX_DIMS];
    const void *data;
} mg_st_write_tensor;

/*
 * Writes a valid file: tensors sorted by name and laid out in that order,
 * "__metadata__" first, the header padded with spaces to a multiple of 8.
 * Written to a temporary file beside `path` and renamed into place, so a
 * reader never sees half a file. Duplicate names are refused.
 */
mg_status mg_safetensors_write(const char *path, const mg_st_write_tensor *tensors, size_t count,
                               const mg_st_metadata *metadata, size_t metadata_count, mg_diag *diag);

#endif
