/*
 * One attention block of the MeshAutoencoder (encoder_attn_blocks.{i} or
 * decoder_attn_blocks.{i}; meshgpt-pytorch 1.7.2, used when
 * attn_encoder_depth / attn_decoder_depth > 0):
 *
 *   x = TaylorSeriesLinearAttn(x, mask) + x     (only if config->use_linear_attn)
 *   x = LocalMHA(x, mask) + x
 *   x = FeedForward(RMSNorm(x)) + x
 *
 * with exactly upstream's masking: pad faces are masked as keys and values
 * (both attentions) but their rows are computed like any other and are not
 * zeroed (encode() and decode() never read them back). docs/ae_attention.md
 * has the math and the weight names.
 */
#ifndef MG_MODEL_AE_ATTENTION_H
#define MG_MODEL_AE_ATTENTION_H

#include "model/ae_config.h"
#include "model/weights.h"
#include "ops/tensor.h"

/*
 * x and out [B, N, D] f32 (out may be x), mask i32 [B, N] (0 = pad face) or
 * NULL. `prefix` ends with the block's dot, e.g.
 * "autoencoder.encoder_attn_blocks.0.". The weights are found by their
 * state-dict names under the prefix; a missing or mis-shaped one is reported
 * by name. LocalMHA's rotary frequencies come from the checkpoint's
 * attn_fn.rel_pos.inv_freq buffer when present (read back to the host once
 * per call), else from upstream's formula.
 */
mg_status mg_ae_attn_block_forward(mg_context *ctx, const mg_weights *weights, const char *prefix,
                                   const mg_ae_config *config, const mg_tensor *x, const mg_tensor *mask,
                                   mg_tensor *out);

#endif
