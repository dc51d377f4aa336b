/*
 * Incremental decoding with the MeshTransformer: one token per step, with
 * key/value caches for every attention layer, the text's keys and values
 * computed once, and the gated loops' recurrent states carried along (what
 * meshgpt-pytorch's cache_kv=True computes). The coarse decoder runs once per
 * completed face, the fine decoder once per token.
 */
#ifndef MG_MODEL_TF_INCREMENTAL_H
#define MG_MODEL_TF_INCREMENTAL_H

#include "model/transformer.h"

typedef struct mg_tf_stream mg_tf_stream;

/* A stream for `batch` rows and at most `max_tokens` tokens; text as for mg_tf_logits (NULL: none). */
mg_status mg_tf_stream_create(const mg_transformer *tf, size_t batch, size_t max_tokens, const mg_tf_text *text,
                              mg_tf_stream **out);
void mg_tf_stream_free(mg_tf_stream *stream);

/*
 * Advances by one position: row b's tokens are tokens[b * stride + i] for
 * i < t (t = tokens consumed by previous steps; the last one is new to the
 * stream, none at t = 0). Writes the logits for token t, [batch, vocab].
 */
mg_status mg_tf_stream_step(mg_tf_stream *stream, const int32_t *tokens, size_t stride, size_t t, float *logits);

#endif
