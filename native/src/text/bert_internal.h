/* The BERT model object shared by bert_load.c (config and weights) and bert.c (the forward pass). */
#ifndef MG_TEXT_BERT_INTERNAL_H
#define MG_TEXT_BERT_INTERNAL_H

#include "text/bert.h"

/* One head's slice of a projection: rows [h * d, (h + 1) * d) of a Linear weight [out, in] and of its bias,
 * views made once at load time so attention runs per head without transposing activations. */
typedef struct mg_bert_head {
    mg_tensor *query_w, *query_b, *key_w, *key_b, *value_w, *value_b;
} mg_bert_head;

typedef struct mg_bert_layer {
    mg_tensor *query_w, *query_b, *key_w, *key_b, *value_w, *value_b;
    mg_tensor *attn_out_w, *attn_out_b, *attn_norm_w, *attn_norm_b;
    mg_tensor *inter_w, *inter_b, *out_w, *out_b, *out_norm_w, *out_norm_b;
    mg_bert_head *heads;
} mg_bert_layer;

struct mg_bert {
    mg_context *ctx;
    mg_bert_config config;
    mg_tensor *word, *position, *token_type;
    mg_tensor *embed_norm_w, *embed_norm_b;
    mg_bert_layer *layers;
};

/* ---- the tensors a config implies (bert_tensors.c) ---- */

#include "io/safetensors.h"
#include "model/weights.h"

typedef struct mg_bert_tensor {
    char name[128];     /* BertModel's state-dict name, e.g. "encoder.layer.0.attention.self.query.weight" */
    int ndim;
    int64_t shape[2];
    mg_tensor **slot;   /* where it lives in `bert` (NULL when no bert was given) */
} mg_bert_tensor;

/* 5 embedding tensors, then 16 per layer. */
size_t mg_bert_tensor_count(const mg_bert_config *config);
/* Tensor i of the list; bert may be NULL (names and shapes only), else its layers must be allocated. */
void mg_bert_tensor_at(const mg_bert_config *config, mg_bert *bert, size_t i, mg_bert_tensor *out);
/* The list as weight specs under `prefix` ("text_encoder." in model files), appended to *specs / *count
 * (realloc'ed). */
mg_status mg_bert_weight_specs(const mg_bert_config *config, const char *prefix, mg_weight_spec **specs,
                               size_t *count, mg_diag *diag);

/* A BertModel tensor in a Hugging Face file: its own name, under "bert.", or LayerNorm.gamma/beta. NULL if none. */
const mg_st_tensor *mg_bert_find_tensor(const mg_safetensors *file, const char *name);
/* Present (t not NULL), of `want`'s shape and a float dtype; messages name `path`. */
mg_status mg_bert_check_tensor(const mg_st_tensor *t, const mg_bert_tensor *want, const char *path, mg_diag *diag);

typedef mg_status (*mg_bert_fetch_fn)(void *source, const mg_bert_tensor *want, mg_tensor **out);

/* BERT over tensors a model file uploaded under `prefix` (views: the weights keep their own references). */
mg_status mg_bert_from_weights(mg_context *ctx, const mg_bert_config *config, const mg_weights *weights,
                               const char *prefix, mg_bert **out);

#endif
