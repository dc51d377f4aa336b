/*
 * The subset of Python's pickle that torch.save writes for state dicts and
 * checkpoints, interpreted into a tree of plain values. Nothing is executed:
 * GLOBAL / STACK_GLOBAL resolve only a fixed list of constructors
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2/_v3,
 * torch._utils._rebuild_parameter, torch.*Storage, torch dtypes,
 * _codecs.encode), each rebuilt by C code here; any other global is refused
 * with a message naming it. Persistent ids (BINPERSID) become storage
 * references ('storage', type, key, location, numel); the storages' bytes
 * stay in the zip and are checked by the caller.
 *
 * Values live in an arena owned by the result and freed at once; the same
 * value may be referenced from several places (memo), and a malicious pickle
 * can make a list contain itself, so walkers must bound their depth.
 */
#ifndef MG_IO_TORCH_PICKLE_H
#define MG_IO_TORCH_PICKLE_H

#include "io/safetensors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_PK_MAX_DIMS 8

typedef enum mg_pk_kind {
    MG_PK_NONE = 0,
    MG_PK_BOOL,
    MG_PK_INT,
    MG_PK_FLOAT,
    MG_PK_STRING,  /* UTF-8 text (Python str) */
    MG_PK_BYTES,   /* Python bytes (e.g. meshgpt-pytorch's pickled config: kept opaque) */
    MG_PK_TUPLE,
    MG_PK_LIST,
    MG_PK_DICT,    /* items hold key, value, key, value, ... in insertion order */
    MG_PK_GLOBAL,  /* one of the known constructors, not yet called */
    MG_PK_STORAGE, /* a persistent id: a storage in the archive */
    MG_PK_TENSOR,
    MG_PK_MARK     /* internal: the MARK opcode's stack marker */
} mg_pk_kind;

typedef enum mg_pk_global {
    MG_PK_G_ORDERED_DICT = 0,
    MG_PK_G_REBUILD_TENSOR_V2,
    MG_PK_G_REBUILD_TENSOR_V3,
    MG_PK_G_REBUILD_PARAMETER,
    MG_PK_G_CODECS_ENCODE,
    MG_PK_G_BYTES,        /* bytes(): an empty bytes object */
    MG_PK_G_STORAGE_TYPE, /* torch.FloatStorage, ...: `dtype` says which */
    MG_PK_G_DTYPE         /* torch.float32, ...: `dtype` says which */
} mg_pk_global;

typedef struct mg_pk_value mg_pk_value;

typedef struct mg_pk_tensor {
    const mg_pk_value *storage; /* MG_PK_STORAGE */
    mg_st_dtype dtype;
    int64_t offset;             /* in elements */
    int ndim;
    int64_t shape[MG_PK_MAX_DIMS];
    int64_t stride[MG_PK_MAX_DIMS];
} mg_pk_tensor;

struct mg_pk_value {
    mg_pk_kind kind;
    mg_pk_value *arena_next;    /* every value, for freeing */
    union {
        bool boolean;
        int64_t integer;
        double real;
        struct {
            char *data;         /* NUL-terminated for convenience; may hold NULs for bytes */
            size_t size;
        } text;
        struct {
            mg_pk_value **items;
            size_t count, capacity;
        } seq;
        struct {
            mg_pk_global which;
            mg_st_dtype dtype;
            char name[64];      /* "module.name", for messages */
        } global;
        struct {
            const char *key;    /* the storage's archive entry: <archive>/data/<key> */
            mg_st_dtype dtype;
            int64_t numel;
        } storage;
        mg_pk_tensor tensor;
    } as;
};

typedef struct mg_pickle {
    const mg_pk_value *root;
    mg_pk_value *arena;
} mg_pickle;

/* Interprets `bytes`; `source` names them in messages. On failure nothing is left to free. */
mg_status mg_pickle_load(const void *bytes, size_t size, const char *source, mg_pickle *out, mg_diag *diag);
void mg_pickle_free(mg_pickle *pickle);

/* Dict lookup by string key (the last occurrence wins, as in Python); NULL when absent or not a dict. */
const mg_pk_value *mg_pk_dict_get(const mg_pk_value *dict, const char *key);
/* "dict", "tensor", ... for messages. */
const char *mg_pk_kind_name(mg_pk_kind kind);

#endif
