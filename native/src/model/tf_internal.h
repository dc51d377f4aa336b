/* Pieces of the transformer forward shared by teacher forcing (transformer.c)
 * and incremental decoding (tf_incremental.c). */
#ifndef MG_MODEL_TF_INTERNAL_H
#define MG_MODEL_TF_INTERNAL_H

#include "model/transformer.h"

#define MG_TF_MAX_LAYERS 256

/* Error unwinding of the forward passes: a failing op, or a scratch tensor that could not be made, jumps to
 * `done` with `status` set (the function declares `status` and a `scratch`). */
#define TRY(expr)                                                                                                  \
    do {                                                                                                           \
        status = (expr);                                                                                           \
        if (status != MG_OK)                                                                                       \
            goto done;                                                                                             \
    } while (0)

#define NEED(tensor)                                                                                               \
    do {                                                                                                           \
        if (!(tensor)) {                                                                                           \
            status = scratch.status != MG_OK ? scratch.status : MG_ERR_INTERNAL;                                   \
            goto done;                                                                                             \
        }                                                                                                          \
    } while (0)

/* What one decoder pass attends to besides itself, and how its norms are conditioned. */
typedef struct decoder_context {
    mg_tensor *text;       /* [B', T, dim_text] or NULL */
    mg_tensor *text_mask;  /* i32 [B', T] */
    /* NULL: x-transformers LayerNorms. Else AdaptiveRMSNorm gains [norms, B', d] (to_gamma(pooled text) + 1),
     * one per pre-norm in layer order, then the final norm's (mg_tf_adaptive_norm_gains). */
    mg_tensor *norm_gains;
} decoder_context;

/* Key/value caches of one decoder for incremental decoding. */
typedef struct mg_tf_decoder_cache {
    mg_tensor *self_k[MG_TF_MAX_LAYERS], *self_v[MG_TF_MAX_LAYERS]; /* [B, rows, inner] per self-attention layer */
    mg_tensor *cross_k[MG_TF_MAX_LAYERS], *cross_v[MG_TF_MAX_LAYERS]; /* [B, T, inner] per cross-attention layer */
    bool cross_ready;      /* cross_k/v computed (after the first call) */
    size_t position;       /* absolute position of the first new row */
    /* NULL, or an i32 scalar tensor whose value, read on the device when the ops run, is added to `position`:
     * a decoding step recorded once is replayed at every position (ops/recording.h). */
    const mg_tensor *step;
} mg_tf_decoder_cache;

/* The weight `fmt` (no prefix), or NULL with an internal error recorded. */
mg_tensor *mg_tf_weight(const mg_transformer *tf, const char *fmt, ...) MG_PRINTF(2, 3);

/* gateloop-transformer's SimpleGateLoopLayer blocks: x += gateloop(rmsnorm(x)) per layer, in place. states
 * (NULL: start from zeros) holds one [B, D] recurrent state per layer, carried across calls. */
mg_status mg_tf_gateloop_block(const mg_transformer *tf, const char *block, int depth, mg_tensor *x,
                               mg_tensor **states);

/* x-transformers Decoder (pre-norm, causal, 'a' [+ 'c'] + 'f' per depth unit, final norm), in place on x
 * [B, N, d]. With a cache the N rows are new positions after cache->position. */
mg_status mg_tf_decoder(const mg_transformer *tf, const char *name, int depth, bool cross, mg_tensor *x,
                        const decoder_context *context, mg_tf_decoder_cache *cache);

/* The text as cross-attention context and its key mask. */
mg_status mg_tf_text_context(const mg_transformer *tf, mg_scratch *scratch, const mg_tf_text *text, size_t batch,
                             decoder_context *out);

/* FiLM text conditioning (text_cond_with_film, with condition_on_text): x * gamma + beta per batch row,
 * gamma = 1 + gamma_mult * tanh(to_gamma(c)), beta = beta_mult * tanh(to_beta(c)), c the text embeddings'
 * mean over visible tokens (0 when none is: a dropped text). */
typedef struct mg_tf_film {
    mg_tensor *gamma, *beta; /* [B, d] */
} mg_tf_film;

bool mg_tf_uses_film(const mg_tf_config *config);

/* gamma and beta of the FiLM module `name` (text_coarse_film_cond or text_fine_film_cond), in the scratch. */
mg_status mg_tf_film_params(const mg_transformer *tf, mg_scratch *scratch, const char *name,
                            const decoder_context *text, mg_tf_film *out);

/* x [B, N, d] = x * gamma + beta, in place. */
mg_status mg_tf_film_apply(const mg_transformer *tf, const mg_tf_film *film, mg_tensor *x);

/* The text embeddings' mean over visible tokens [B, dim_text] (meshgpt-pytorch's masked_mean: 0 for a dropped
 * text), in the scratch; text NULL (no text given) gives zeros, upstream's pooled value for a dropped text. */
mg_status mg_tf_pooled_text(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *text,
                            size_t batch, mg_tensor **out);

/* coarse_adaptive_rmsnorm with text: the coarse decoder's norms are x-transformers AdaptiveRMSNorms. */
bool mg_tf_uses_adaptive_norm(const mg_tf_config *config);

/* Number of norms of a decoder: one per layer ('a', 'c', 'f') plus the final one. */
int mg_tf_decoder_norms(int depth, bool cross);

/* The coarse decoder's AdaptiveRMSNorm gains for a batch, to_gamma(pooled text) + 1 per norm, [norms, B, dim],
 * in the scratch (the decoder_context's norm_gains). text as for mg_tf_pooled_text. */
mg_status mg_tf_adaptive_norm_gains(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *text,
                                    size_t batch, mg_tensor **out);

/* x [B, N, dim] projected to the fine width by maybe_project_coarse_to_fine into a new scratch tensor; x itself
 * when the widths are equal (upstream's nn.Identity). */
mg_status mg_tf_project_to_fine(const mg_transformer *tf, mg_scratch *scratch, mg_tensor *x, mg_tensor **out);

#endif
