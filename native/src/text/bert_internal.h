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
    mg_tensor *word, *position, *token_type, *token_type0; /* token_type0: row 0, a view [hidden] */
    mg_tensor *embed_norm_w, *embed_norm_b;
    mg_bert_layer *layers;
};

#endif
