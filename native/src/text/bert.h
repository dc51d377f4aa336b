/*
 * The BERT encoder (Hugging Face BertModel, eval mode) on the op library, so
 * the same code runs on Vulkan and on the CPU reference: what MeshGPT's text
 * conditioning runs for BERT-family encoders such as BAAI/bge-base-en-v1.5.
 *
 * Loaded from a Hugging Face model folder: config.json (hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, vocab_size,
 * max_position_embeddings, type_vocab_size, layer_norm_eps, hidden_act) and
 * model.safetensors with BertModel's state-dict names, either plain
 * (AutoModel / BGE) or under "bert." (task models such as BertForMaskedLM);
 * old LayerNorm.gamma / LayerNorm.beta names are accepted for weight / bias.
 * Heads (cls.*), the pooler and embeddings.position_ids are not needed.
 *
 * Maths (docs: the bert-tiny fixture README): x = LayerNorm(word[id] +
 * position[t] + token_type[0]); per layer self-attention over the keys whose
 * mask is 1 (pad keys get probability 0; pad queries are still computed),
 * x = LN(attn_out + x), x = LN(Linear(GELU_erf(Linear(x))) + x).
 */
#ifndef MG_TEXT_BERT_H
#define MG_TEXT_BERT_H

#include "ops/ops.h"

typedef struct mg_bert_config {
    size_t hidden;         /* hidden_size (768 for BERT-base) */
    size_t layers;         /* num_hidden_layers */
    size_t heads;          /* num_attention_heads; hidden is a multiple */
    size_t intermediate;   /* intermediate_size */
    size_t vocab;          /* vocab_size */
    size_t max_positions;  /* max_position_embeddings: the longest input */
    size_t type_vocab;     /* type_vocab_size */
    float layer_norm_eps;  /* layer_norm_eps */
    mg_unary_op activation; /* hidden_act: "gelu" (exact erf) or "relu" */
} mg_bert_config;

typedef struct mg_bert mg_bert;

/* Loads config.json and model.safetensors from `folder` onto ctx (errors are recorded on ctx). */
mg_status mg_bert_load(mg_context *ctx, const char *folder, mg_bert **out);
void mg_bert_free(mg_bert *bert);
const mg_bert_config *mg_bert_get_config(const mg_bert *bert);

/*
 * last_hidden_state for ids [batch, tokens] (i32, row-major) with mask
 * [batch, tokens] (1 real, 0 pad; NULL: all real): *out is a new f32 tensor
 * [batch, tokens, hidden] on the context, which the caller frees. Pad positions
 * hold the values BertModel computes for them (meaningless, not zero). Token
 * type ids are all 0, as BertTokenizer makes them for one sequence.
 */
mg_status mg_bert_encode(mg_bert *bert, const int32_t *ids, const int32_t *mask, size_t batch, size_t tokens,
                         mg_tensor **out);

/*
 * The text encodings classifier-free-guidance-pytorch's BGEAdapter returns
 * (embed_text(..., return_text_encodings=True)): last_hidden_state for every
 * position ([CLS], the word pieces and [SEP]), unnormalised, with the pad
 * positions (mask 0) set to pad_value. meshgpt-pytorch uses pad_value -1 and
 * recovers the mask as "any feature != -1".
 */
mg_status mg_bert_text_encodings(mg_bert *bert, const int32_t *ids, const int32_t *mask, size_t batch, size_t tokens,
                                 float pad_value, mg_tensor **out);

#endif
