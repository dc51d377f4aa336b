/*
 * Ops of the MeshTransformer (x-transformers 1.42.24 Decoder blocks and
 * gateloop-transformer 0.2.5 SimpleGateLoopLayer as meshgpt-pytorch uses
 * them). Same conventions as ops/ops.h: each entry checks its arguments, then
 * runs the CPU reference (ops/ref/transformer_ref.h) or records one shader.
 *
 * Sequence tensors are [B, N, width], or [N, width] for B = 1.
 */
#ifndef MG_OPS_OPS_TRANSFORMER_H
#define MG_OPS_OPS_TRANSFORMER_H

#include "ops/ops.h"
#include "ops/ref/transformer_ref.h"

/*
 * Multi-head softmax attention with learned memory key/values, as
 * x-transformers' Attention + Attend compute it (see mg_attention_params):
 *   q [B, N, H*dh], k and v [B, M, H*dh] (heads outer, "(h d)"), of which
 *   only rows [0, p->keys) are read (a KV cache may be allocated longer);
 *   mem_k, mem_v [H, nm, dh] f32 or f16 (same dtype), or both NULL (nm = 0);
 *   key_mask i32 [B, M] or NULL: real key j is hidden where key_mask[b, j] == 0
 *   (memories are always visible);
 *   out [B, N, H*dh] = softmax(scale q.k over [memories, visible keys]) . v.
 * A query with nothing visible gets zeros. out must not overlap q, k or v.
 * dh <= MG_TF_ATTENTION_MAX_DIM_HEAD.
 */
mg_status mg_op_attention(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                          const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                          const mg_attention_params *params, mg_tensor *out);

/*
 * dst[b, row_offset + i, :] = src[b, i, :] for src [B, n, D], dst [B, M, D]
 * (or [n, D] / [M, D]), row_offset + n <= M: writes new K/V rows into a cache.
 * f32 only; src and dst must not overlap.
 */
mg_status mg_op_copy_rows(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t row_offset);

/*
 * SimpleGateLoopLayer's recurrence (use_heinsen=False): qkva [B, N, 3D] is
 * the to_qkva output (q | kv | a, D channels each, in that order), state
 * f32 [B, D] or NULL, out [B, N, D]:
 *   g_t = sigmoid(a_t); h_t = g_t * h_{t-1} + kv_t; out_t = q_t * h_t,
 * per channel, with h_{-1} = state (zeros when NULL). When state is given it
 * is overwritten with h_{N-1}, so successive calls continue one sequence
 * (incremental decoding). out must not overlap qkva or state.
 */
mg_status mg_op_gateloop(mg_context *ctx, const mg_tensor *qkva, mg_tensor *state, mg_tensor *out);

/*
 * x-transformers' value residual: out = v * s + v_first * (1 - s), with
 * s = sigmoid(mix_logits[b, n, h]) broadcast over the head's dh channels, or
 * s = 0.5 when mix_logits is NULL (cross-attention layers).
 * v, v_first, out [B, N, H*dh]; mix_logits [B, N, H] (the to_value_residual_mix
 * Linear output, before its sigmoid) or NULL, then `heads` gives H. In place
 * (out == v or out == v_first) ok.
 */
mg_status mg_op_value_residual_mix(mg_context *ctx, const mg_tensor *v, const mg_tensor *v_first,
                                   const mg_tensor *mix_logits, size_t heads, mg_tensor *out);

/*
 * out[b, n, :] = x[b, n, :] + table[((n + offset) / divisor) % period, :]
 * for x, out [B, N, D] (or [N, D]), table [R, D] f32 or f16, 1 <= period <= R,
 * divisor >= 1: the position-dependent embeddings of meshgpt-pytorch's token
 * embedding (absolute position: divisor 1, period R, offset = first position;
 * quantize level: divisor 1, period Q; vertex: divisor Q, period 3). In place ok.
 */
mg_status mg_op_add_table_rows(mg_context *ctx, const mg_tensor *x, const mg_tensor *table, int64_t offset,
                               size_t divisor, size_t period, mg_tensor *out);

/*
 * The same three ops with a step value read on the device: `step` is an i32
 * tensor of one element (typically a view into a small buffer of step values)
 * or NULL (then exactly the ops above). Its value s, read when the op runs,
 * not when it is recorded, is added to
 *   attention:      params->keys and params->query_offset;
 *   copy_rows:      row_offset (rows that would land past dst are dropped);
 *   add_table_rows: offset.
 * A decoding step recorded once (gpu.h recordings) is then replayed at every
 * position with only the step buffer rewritten. s < 0 counts as 0. The host
 * checks the arguments without s; keys + s beyond k's rows reads k's rows only.
 */
mg_status mg_op_attention_at(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                             const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                             const mg_attention_params *params, const mg_tensor *step, mg_tensor *out);
mg_status mg_op_copy_rows_at(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t row_offset,
                             const mg_tensor *step);
mg_status mg_op_add_table_rows_at(mg_context *ctx, const mg_tensor *x, const mg_tensor *table, int64_t offset,
                                  size_t divisor, size_t period, const mg_tensor *step, mg_tensor *out);

#endif
