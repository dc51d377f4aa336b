/*
 * Values for tensors a model file lacks, when the caller allowed missing
 * tensors (mg_model_load_with, allow_missing). Chosen so that a missing piece
 * changes the network as little as it can and the result is deterministic:
 *
 *   - normalisation gains at their neutral value: nn.LayerNorm weights
 *     (1-D ".weight": the autoencoder's norms, to_face_tokens.1) and RMSNorm
 *     gains (".gamma" of gateloop and linear-attention norms, ".g") at 1;
 *     x-transformers' LayerNorm gamma of the transformer's decoders
 *     ("decoder.layers.N.0.0.gamma", "final_norm.gamma"), applied as
 *     gamma + 1, at 0;
 *   - buffers upstream computes rather than learns, as upstream computes
 *     them: LocalMHA's rotary inv_freq (10000^(-2i/dim_head)) and the LFQ bit
 *     mask (2^(bits-1) ... 1);
 *   - everything else (biases, linear/conv/embedding weights, memory KV,
 *     start tokens, VQ codebook state) 0, so a missing layer adds nothing
 *     beyond its residual path.
 */
#ifndef MG_MODEL_MISSING_INIT_H
#define MG_MODEL_MISSING_INIT_H

#include "model/weights.h"

typedef enum mg_missing_init {
    MG_MISSING_ZERO = 0,
    MG_MISSING_ONE,        /* a norm gain applied as is */
    MG_MISSING_INV_FREQ,   /* rotary frequencies */
    MG_MISSING_BIT_MASK    /* LFQ bit mask */
} mg_missing_init;

/* Which rule above applies to `spec` (by its name, rank and kind). */
mg_missing_init mg_missing_init_rule(const mg_weight_spec *spec);

/* The element count of `spec`'s shape. */
size_t mg_spec_element_count(const mg_weight_spec *spec);

/* Fills out[mg_spec_element_count(spec)] with the initial values (float specs). */
void mg_missing_init_floats(const mg_weight_spec *spec, float *out);
/* Fills out[...] for integer specs (LFQ masks; others 0). */
void mg_missing_init_ints(const mg_weight_spec *spec, int64_t *out);

#endif
