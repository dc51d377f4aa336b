/*
 * Plain-C reference of the generic backward ops (ops_grad.h): the test oracle
 * for their shaders and the CPU backend. Sums accumulate in double. Parameter
 * gradients (d_b, d_bias, d_gamma, d_beta, d_table) are added to (+=);
 * activation gradients are overwritten; NULL outputs are skipped.
 */
#ifndef MG_OPS_REF_GRAD_REF_H
#define MG_OPS_REF_GRAD_REF_H

#include "ops/ref/ref_ops.h"

/* Backward of mg_ref_matmul: d_a [batch, m, k] = d_out @ B^T; d_b += a^T @ d_out in b's layout (summed over
 * batches when b_broadcast); d_bias [n] += column sums of d_out. Returns false when out of memory (nothing
 * written then). */
bool mg_ref_matmul_backward(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b,
                            bool b_transposed, bool b_broadcast, const float *d_out, float *d_a, float *d_b,
                            float *d_bias);

/* d_table[rows[u], :] += sum over p in [offsets[u], offsets[u + 1]) of d_out[positions[p], :]. The caller has
 * checked the lists (rows in [0, vocab), offsets non-decreasing within [0, nnz], positions in [0, n_ids)). */
void mg_ref_embedding_backward(size_t dim, size_t unique, const int32_t *rows, const int32_t *offsets,
                               const int32_t *positions, const float *d_out, float *d_table);

/* d_x[i] = d_out[i] * f'(x[i]) (MG_UNARY_SCALE: alpha * d_out[i]; x may be NULL). In place ok. */
void mg_ref_unary_backward(mg_unary_op op, size_t n, const float *x, float alpha, const float *d_out, float *d_x);

/* Backward of mg_ref_norm (beta is not needed): d_x [rows, dim], d_gamma += [dim], d_beta += [dim]
 * (LayerNorm only). d_x must not overlap x or d_out. Returns false when out of memory (nothing written). */
bool mg_ref_norm_backward(const mg_norm_params *p, size_t rows, size_t dim, const float *x, mg_ref_param gamma,
                          const float *d_out, float *d_x, float *d_gamma, float *d_beta);

/* x [rows, 2n], d_out [rows, n], d_x [rows, 2n]. */
void mg_ref_geglu_backward(size_t rows, size_t n, const float *x, const float *d_out, float *d_x);

/* d_x = scale * y * (d_y - sum over visible j of d_y * y), 0 where invisible. In place (d_x == d_y) ok. */
void mg_ref_softmax_backward(const mg_softmax_params *p, size_t rows, size_t n, const float *y, const float *d_y,
                             float *d_x);

/* out[g, c] (+)= sum over r < r_count of x[g, r, c] * (w ? w[g, r, c] : 1). */
void mg_ref_column_sum(size_t groups, size_t r_count, size_t c, const float *x, const float *w, bool accumulate,
                       float *out);

/* Fused cross-entropy (see mg_op_cross_entropy). Targets outside [0, v) ignore their row. loss [rows] and
 * d_logits [rows, v] may be NULL; d_logits may be logits (in place). */
void mg_ref_cross_entropy(size_t rows, size_t v, const float *logits, const int32_t *targets, const float *weights,
                          float scale, float *loss, float *d_logits);

/* d/dx of the exact GELU: Phi(x) + x phi(x). */
double mg_ref_gelu_derivative(double x);

#endif
