/*
 * Backward ops of the MeshTransformer's own forward ops (ops_transformer.h),
 * for llm.c-style training (docs: the training conventions of issue 6).
 * Each entry checks its arguments, then runs the CPU reference
 * (ops/ref/grad_tf_ref.h) or records its shaders (shaders/grad_tf_*.comp).
 *
 * Conventions, as for every backward op:
 *  - gradients of ACTIVATIONS (d_q, d_k, d_qkva, ...) are OVERWRITTEN;
 *  - gradients of PARAMETERS (d_mem_k, d_mem_v, d_table) are ACCUMULATED (+=),
 *    always f32, whatever the parameter's dtype;
 *  - one documented exception: value_residual_mix's d_v_first is accumulated,
 *    because the first layer's values receive a gradient from every layer;
 *  - a NULL gradient output is not computed;
 *  - deterministic: no float atomics, identical results run to run.
 * Gradient outputs must not overlap the inputs (except where noted).
 */
#ifndef MG_OPS_OPS_GRAD_TF_H
#define MG_OPS_OPS_GRAD_TF_H

#include "ops/ops_transformer.h"
#include "ops/ref/grad_tf_ref.h"

/*
 * Backward of mg_op_attention: the same inputs (q, k, v, mem_k, mem_v,
 * key_mask, params) and d_out [B, N, H*dh] ->
 *   d_q [B, N, H*dh], d_k and d_v [B, M, H*dh] (k's full shape; rows past
 *   params->keys and hidden keys get zeros): overwritten;
 *   d_mem_k, d_mem_v f32 [H, nm, dh]: accumulated (memories are parameters);
 *   only with memories.
 * Any output may be NULL. The forward output is not needed: the softmax
 * statistics are recomputed. On Vulkan the op allocates scratch of
 * B*N*H*2 + (2 + 2B)*H*nm*dh floats. On a CPU Vulkan device (lavapipe) at most
 * about 30,000 memories + keys and 60,000 queries (its loop guard, see
 * MG_CPU_DEVICE_LOOP_BUDGET).
 */
mg_status mg_op_attention_backward(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                                   const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                                   const mg_attention_params *params, const mg_tensor *d_out, mg_tensor *d_q,
                                   mg_tensor *d_k, mg_tensor *d_v, mg_tensor *d_mem_k, mg_tensor *d_mem_v);

/*
 * Backward of mg_op_gateloop over whole sequences (initial state zeros, as in
 * training): qkva [B, N, 3D], d_out [B, N, D] -> d_qkva [B, N, 3D]
 * (overwritten; q | kv | a like qkva). The forward states are recomputed.
 */
mg_status mg_op_gateloop_backward(mg_context *ctx, const mg_tensor *qkva, const mg_tensor *d_out,
                                  mg_tensor *d_qkva);

/*
 * Backward of mg_op_value_residual_mix (s = sigmoid(mix_logits), or 0.5 when
 * mix_logits is NULL), all [B, N, H*dh] except d_mix_logits [B, N, H]:
 *   d_v = d_out * s                                   OVERWRITTEN (may be d_out: in place ok);
 *   d_v_first += d_out * (1 - s)                      ACCUMULATED: the first layer's values feed
 *                                                     every later layer, so the training code zeroes
 *                                                     one buffer and lets each layer add its share;
 *   d_mix_logits = sum_c d_out * (v - v_first) s (1 - s)  OVERWRITTEN (an activation: the output
 *                                                     of to_value_residual_mix); NULL without mix_logits.
 */
mg_status mg_op_value_residual_mix_backward(mg_context *ctx, const mg_tensor *v, const mg_tensor *v_first,
                                            const mg_tensor *mix_logits, size_t heads, const mg_tensor *d_out,
                                            mg_tensor *d_v, mg_tensor *d_v_first, mg_tensor *d_mix_logits);

/*
 * Backward of mg_op_add_table_rows for the table (d_x is d_out itself: no op):
 * d_table f32 [R, D] += the sum of d_out[b, t, :] over every (b, t) that read
 * row r = ((t + offset) / divisor) % period. Same offset/divisor/period rules
 * as the forward; d_out [B, N, D] or [N, D].
 */
mg_status mg_op_add_table_rows_backward(mg_context *ctx, const mg_tensor *d_out, int64_t offset, size_t divisor,
                                        size_t period, mg_tensor *d_table);

/*
 * Backward of mg_op_copy_rows for src: d_src [B, n, D] = d_dst[b, row_offset
 * + i, :] (overwritten: a slice of rows). d_dst [B, M, D]; the gradient of
 * dst's other rows is d_dst itself.
 */
mg_status mg_op_copy_rows_backward(mg_context *ctx, const mg_tensor *d_dst, size_t row_offset, mg_tensor *d_src);

#endif
