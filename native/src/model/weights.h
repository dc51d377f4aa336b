/*
 * A model's weights on its context's backend, by meshgpt-pytorch state-dict
 * name. Loading checks every tensor the config expects (name, dtype, shape)
 * and reports all that are missing, unexpected or mis-shaped at once.
 */
#ifndef MG_MODEL_WEIGHTS_H
#define MG_MODEL_WEIGHTS_H

#include "model/ae_config.h"
#include "ops/tensor.h"

#include <stddef.h>

#define MG_WEIGHT_NAME_MAX 160

typedef enum mg_weight_kind {
    MG_WEIGHT_FLOAT = 0,  /* stored F32, F16 or BF16; uploaded as f32 (or f16 when stored f16) */
    MG_WEIGHT_INT = 1     /* stored I64 or I32 (LFQ masks); kept on the host only */
} mg_weight_kind;

typedef struct mg_weight_spec {
    char name[MG_WEIGHT_NAME_MAX];
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    mg_weight_kind kind;
    bool optional;        /* loaded when present, not reported when absent */
    bool buffer;          /* a registered buffer (LFQ mask, rotary inv_freq, VQ codebook state), not a parameter */
} mg_weight_spec;

/* The tensors a MeshAutoencoder with `config` has, each name prefixed by `prefix`
 * ("" or "autoencoder."). *out is malloc'ed. */
mg_status mg_ae_weight_specs(const mg_ae_config *config, const char *prefix, mg_weight_spec **out, size_t *count,
                             mg_diag *diag);

typedef struct mg_weight {
    char name[MG_WEIGHT_NAME_MAX];
    mg_tensor *tensor;    /* on the backend; NULL for MG_WEIGHT_INT */
    int64_t *ints;        /* host copy for MG_WEIGHT_INT, else NULL */
    size_t count;
} mg_weight;

typedef struct mg_weights {
    mg_weight *items;
    size_t count;
} mg_weights;

/* NULL when absent. */
const mg_weight *mg_weights_find(const mg_weights *weights, const char *name);
/* The tensor of a float weight, NULL when absent. */
mg_tensor *mg_weights_tensor(const mg_weights *weights, const char *name);
void mg_weights_free(mg_weights *weights);

#endif
