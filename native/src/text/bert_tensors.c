/* The tensors of a BertModel with a given config: one list for loading from a folder, from a model file, and for
 * the model file's expected-tensor check. */
#include "text/bert_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { EMBEDDING_TENSORS = 5, LAYER_TENSORS = 16 };

/* Sizes a tensor dimension can name. */
typedef enum dim_kind { DIM_NONE, DIM_HIDDEN, DIM_INTER, DIM_VOCAB, DIM_POSITIONS, DIM_TYPES } dim_kind;

typedef struct tensor_entry {
    const char *name;
    dim_kind d0, d1;
    size_t offset; /* of the slot in mg_bert (embeddings) or mg_bert_layer (layers) */
} tensor_entry;

static const tensor_entry embedding_entries[EMBEDDING_TENSORS] = {
    {"embeddings.word_embeddings.weight", DIM_VOCAB, DIM_HIDDEN, offsetof(mg_bert, word)},
    {"embeddings.position_embeddings.weight", DIM_POSITIONS, DIM_HIDDEN, offsetof(mg_bert, position)},
    {"embeddings.token_type_embeddings.weight", DIM_TYPES, DIM_HIDDEN, offsetof(mg_bert, token_type)},
    {"embeddings.LayerNorm.weight", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert, embed_norm_w)},
    {"embeddings.LayerNorm.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert, embed_norm_b)},
};

static const tensor_entry layer_entries[LAYER_TENSORS] = {
    {"attention.self.query.weight", DIM_HIDDEN, DIM_HIDDEN, offsetof(mg_bert_layer, query_w)},
    {"attention.self.query.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, query_b)},
    {"attention.self.key.weight", DIM_HIDDEN, DIM_HIDDEN, offsetof(mg_bert_layer, key_w)},
    {"attention.self.key.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, key_b)},
    {"attention.self.value.weight", DIM_HIDDEN, DIM_HIDDEN, offsetof(mg_bert_layer, value_w)},
    {"attention.self.value.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, value_b)},
    {"attention.output.dense.weight", DIM_HIDDEN, DIM_HIDDEN, offsetof(mg_bert_layer, attn_out_w)},
    {"attention.output.dense.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, attn_out_b)},
    {"attention.output.LayerNorm.weight", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, attn_norm_w)},
    {"attention.output.LayerNorm.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, attn_norm_b)},
    {"intermediate.dense.weight", DIM_INTER, DIM_HIDDEN, offsetof(mg_bert_layer, inter_w)},
    {"intermediate.dense.bias", DIM_INTER, DIM_NONE, offsetof(mg_bert_layer, inter_b)},
    {"output.dense.weight", DIM_HIDDEN, DIM_INTER, offsetof(mg_bert_layer, out_w)},
    {"output.dense.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, out_b)},
    {"output.LayerNorm.weight", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, out_norm_w)},
    {"output.LayerNorm.bias", DIM_HIDDEN, DIM_NONE, offsetof(mg_bert_layer, out_norm_b)},
};

static int64_t dim_size(const mg_bert_config *c, dim_kind kind)
{
    switch (kind) {
    case DIM_HIDDEN: return (int64_t)c->hidden;
    case DIM_INTER: return (int64_t)c->intermediate;
    case DIM_VOCAB: return (int64_t)c->vocab;
    case DIM_POSITIONS: return (int64_t)c->max_positions;
    case DIM_TYPES: return (int64_t)c->type_vocab;
    case DIM_NONE: break;
    }
    return 0;
}

size_t mg_bert_tensor_count(const mg_bert_config *config)
{
    return EMBEDDING_TENSORS + LAYER_TENSORS * config->layers;
}

void mg_bert_tensor_at(const mg_bert_config *config, mg_bert *bert, size_t i, mg_bert_tensor *out)
{
    memset(out, 0, sizeof *out);
    const tensor_entry *e;
    char *base = NULL;
    if (i < EMBEDDING_TENSORS) {
        e = &embedding_entries[i];
        mg_format(out->name, sizeof out->name, "%s", e->name);
        base = (char *)bert; /* NULL when only names are wanted */
    } else {
        size_t layer = (i - EMBEDDING_TENSORS) / LAYER_TENSORS;
        e = &layer_entries[(i - EMBEDDING_TENSORS) % LAYER_TENSORS];
        mg_format(out->name, sizeof out->name, "encoder.layer.%zu.%s", layer, e->name);
        base = bert ? (char *)&bert->layers[layer] : NULL;
    }
    out->ndim = e->d1 == DIM_NONE ? 1 : 2;
    out->shape[0] = dim_size(config, e->d0);
    out->shape[1] = dim_size(config, e->d1);
    out->slot = base ? (mg_tensor **)(base + e->offset) : NULL;
}

mg_status mg_bert_weight_specs(const mg_bert_config *config, const char *prefix, mg_weight_spec **specs,
                               size_t *count, mg_diag *diag)
{
    size_t more = mg_bert_tensor_count(config);
    mg_weight_spec *grown = realloc(*specs, (*count + more) * sizeof *grown);
    if (!grown)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory listing the text encoder's tensors");
    *specs = grown;
    for (size_t i = 0; i < more; i++) {
        mg_bert_tensor t;
        mg_bert_tensor_at(config, NULL, i, &t);
        mg_weight_spec *s = &grown[(*count)++];
        memset(s, 0, sizeof *s);
        mg_format(s->name, sizeof s->name, "%s%s", prefix, t.name);
        s->ndim = t.ndim;
        s->shape[0] = t.shape[0];
        s->shape[1] = t.shape[1];
        s->kind = MG_WEIGHT_FLOAT;
    }
    return MG_OK;
}
