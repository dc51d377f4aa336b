/*
 * Attention ops of the MeshAutoencoder's optional attention blocks
 * (attn_encoder_depth / attn_decoder_depth > 0): LocalMHA's windowed
 * attention with rotary positions, and the pieces of Taylor-series linear
 * attention. Same conventions as ops/ops.h: each entry checks its arguments
 * and runs the CPU reference or records its shader. docs/ae_attention.md
 * has the math.
 */
#ifndef MG_OPS_OPS_ATTENTION_H
#define MG_OPS_OPS_ATTENTION_H

#include "ops/ops.h"
#include "ops/ref/attention_ref.h"

/*
 * A new f32 tensor [2, positions, dim_head / 2] holding the rotary table
 * (cos rows, then sin rows) for inv_freq[dim_head / 2] (host array; NULL:
 * upstream's 1 / 10000^(2c / dim_head)). Built on the host, uploaded once.
 */
mg_status mg_rotary_table_create(mg_context *ctx, const float *inv_freq, size_t dim_head, size_t positions,
                                 mg_tensor **out);

/*
 * Windowed attention, non-causal, exact windows (see mg_local_attention_params):
 * qkv [B, N, 3 * heads * dim_head] (LocalMHA's to_qkv output), mask i32 [B, N]
 * (0 = pad face) or NULL, rotary [2, slots, dim_head / 2] from
 * mg_rotary_table_create (slots = mg_local_attention_slots) or NULL when
 * !params->rotary -> out [B, N, heads * dim_head]. out must not overlap qkv.
 */
mg_status mg_op_local_attention(mg_context *ctx, const mg_tensor *qkv, const mg_tensor *mask, const mg_tensor *rotary,
                                const mg_local_attention_params *params, mg_tensor *out);

/*
 * Taylor linear attention, key/value side: kv [B, N, 2 * heads * d] (to_kv
 * output: keys then values), mask i32 [B, N] or NULL -> summary
 * [B, heads, 1 + d + d^2, d + 1] (see mg_ref_taylor_kv_summary). d <= 16.
 */
mg_status mg_op_taylor_kv_summary(mg_context *ctx, const mg_tensor *kv, const mg_tensor *mask, size_t heads,
                                  mg_tensor *summary);

/*
 * Taylor linear attention, query side: q [B, N, heads * d] (to_q output,
 * unscaled), summary from mg_op_taylor_kv_summary -> out [B, N, heads * d]
 * = phi(q * scale) . S[:, :d] / max(phi(q * scale) . S[:, d], eps).
 */
mg_status mg_op_taylor_readout(mg_context *ctx, const mg_tensor *q, const mg_tensor *summary, size_t heads,
                               float scale, float eps, mg_tensor *out);

#endif
