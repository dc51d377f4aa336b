/*
 * Building lists of expected state-dict entries (mg_weight_spec), shared by
 * the autoencoder's and the transformer's spec derivations.
 */
#ifndef MG_MODEL_SPEC_LIST_H
#define MG_MODEL_SPEC_LIST_H

#include "model/weights.h"

typedef struct mg_spec_list {
    mg_weight_spec *items;
    size_t count, capacity;
    const char *prefix;
    bool failed;            /* out of memory or a name too long */
} mg_spec_list;

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* Appends prefix + the formatted name; failures are remembered in list->failed. */
void mg_spec_add(mg_spec_list *list, mg_weight_kind kind, bool buffer, int ndim, const int64_t *shape,
                 const char *fmt, ...) MG_PRINTF(6, 7);
/* name.leaf [n] */
void mg_spec_vector(mg_spec_list *l, const char *name, const char *leaf, int64_t n);
/* nn.Linear(in, out): weight [out, in], bias [out]. */
void mg_spec_linear(mg_spec_list *l, const char *name, int64_t out, int64_t in, bool bias);

#endif
