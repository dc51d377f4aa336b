/*
 * CPU references of the MeshTransformer backward ops (ops/ops_grad_tf.h):
 * plain arrays, f32 in and out, double accumulation. Gradients of activations
 * are overwritten, gradients of parameters accumulated (+=); a NULL gradient
 * pointer is not computed.
 */
#ifndef MG_OPS_REF_GRAD_TF_REF_H
#define MG_OPS_REF_GRAD_TF_REF_H

#include "ops/ref/transformer_ref.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Backward of mg_ref_attention (same arguments, then d_out [batch, n, heads*dh]):
 * d_q [batch, n, heads*dh], d_k and d_v [batch, key_rows, heads*dh] are
 * overwritten (rows that no query sees, hidden or past p->keys, get zeros);
 * d_mem_k and d_mem_v [heads, mems, dh] are accumulated. Returns false when
 * host memory for the double scratch runs out (nothing is written then).
 */
bool mg_ref_attention_backward(const mg_attention_params *p, size_t batch, size_t n, size_t dim_head,
                               size_t key_rows, const float *q, const float *k, const float *v, size_t mems,
                               mg_ref_param mem_k, mg_ref_param mem_v, const int32_t *key_mask, const float *d_out,
                               float *d_q, float *d_k, float *d_v, float *d_mem_k, float *d_mem_v);

/* Backward of mg_ref_gateloop with a zero initial state: qkva [batch, n, 3*dim], d_out [batch, n, dim] ->
 * d_qkva [batch, n, 3*dim] (overwritten). Returns false when host memory for the double scratch runs out. */
bool mg_ref_gateloop_backward(size_t batch, size_t n, size_t dim, const float *qkva, const float *d_out,
                              float *d_qkva);

/* Backward of mg_ref_value_residual_mix: d_v = d_out * s (overwritten), d_v_first += d_out * (1 - s)
 * (ACCUMULATED: every layer mixes in the first layer's values), d_mix_logits[row, h] = sum over the head's
 * channels of d_out * (v - v_first) * s * (1 - s) (overwritten; only with mix_logits). d_v may be d_out. */
void mg_ref_value_residual_mix_backward(size_t rows, size_t heads, size_t dim_head, const float *v,
                                        const float *v_first, const float *mix_logits, const float *d_out,
                                        float *d_v, float *d_v_first, float *d_mix_logits);

/* Backward of mg_ref_add_table_rows for the table: d_table[r, :] += sum of d_out[b, t, :] over the (b, t)
 * that read row r, summed in (b, t) order in double. d_table [table_rows, dim]. */
void mg_ref_add_table_rows_backward(size_t batch, size_t n, size_t dim, const float *d_out, int64_t offset,
                                    size_t divisor, size_t period, float *d_table);

/* Backward of mg_ref_copy_rows for src: d_src[b, i, :] = d_dst[b, row_offset + i, :] (overwritten). */
void mg_ref_copy_rows_backward(size_t batch, size_t n, size_t dim, size_t dst_rows, size_t row_offset,
                               const float *d_dst, float *d_src);

#endif
