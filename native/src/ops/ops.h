/*
 * The op library, as model code uses it: one entry per op, the same call on
 * every backend. Each entry checks its arguments (shapes, dtypes, contexts) and
 * then runs the CPU reference or records the op's Vulkan shader; Vulkan ops are
 * asynchronous and ordered, and results are read with mg_tensor_read*.
 *
 * Activations are f32; parameters (matmul's b and bias, embedding tables, norm
 * gains and biases) are f32 or f16, and a bias or beta has the dtype of its
 * weight or gain. Ops that read a row and write it back may run in place
 * (out == x) where noted.
 */
#ifndef MG_OPS_OPS_H
#define MG_OPS_OPS_H

#include "ops/ref/ref_ops.h"
#include "ops/tensor.h"

/*
 * out[..., m, n] = a[..., m, k] @ B + bias. B is b[k, n], or b[n, k] when
 * transpose_b (PyTorch's Linear weight layout). a may have leading batch
 * dimensions; b is either 2-D (shared by every batch) or has the same leading
 * dimensions as a. bias (NULL for none) is [n].
 */
mg_status mg_op_matmul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, const mg_tensor *bias, bool transpose_b,
                       mg_tensor *out);

/* out[i, :] = table[ids[i], :], ids i32 of any shape, out [ids..., dim]; out-of-range ids give zeros. */
mg_status mg_op_embedding(mg_context *ctx, const mg_tensor *table, const mg_tensor *ids, mg_tensor *out);

/* out = a op b, b broadcast over a's leading dimensions (b's shape equals a's trailing dimensions). In place ok. */
mg_status mg_op_binary(mg_context *ctx, mg_binary_op op, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);
mg_status mg_op_add(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);
mg_status mg_op_mul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);

/* out = f(x) elementwise. In place ok. */
mg_status mg_op_unary(mg_context *ctx, mg_unary_op op, const mg_tensor *x, mg_tensor *out);
/* out = alpha * x + beta. In place ok. */
mg_status mg_op_scale(mg_context *ctx, const mg_tensor *x, float alpha, float beta, mg_tensor *out);

/* Normalisation over the last axis; gamma and beta [dim] or NULL. In place ok. */
mg_status mg_op_layer_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, const mg_tensor *beta,
                           float eps, float gamma_offset, mg_tensor *out);
mg_status mg_op_rms_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float gamma_offset,
                         mg_tensor *out);
/* x / max(||x||, eps) * scale * (gamma + gamma_offset) */
mg_status mg_op_l2_normalize(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float scale,
                             float gamma_offset, mg_tensor *out);

/* Softmax over the last axis (see mg_softmax_params; here the mask is an i32 tensor [mask_rows, n] or NULL). */
typedef struct mg_softmax_options {
    float scale;
    const mg_tensor *mask;
    size_t mask_row_divisor;
    bool causal;
    size_t causal_queries;
    int64_t causal_offset;
} mg_softmax_options;
mg_softmax_options mg_softmax_default_options(void);
mg_status mg_op_softmax(mg_context *ctx, const mg_tensor *x, const mg_softmax_options *options, mg_tensor *out);

/* x[..., 2n] -> out[..., n] = first half * gelu(second half) */
mg_status mg_op_geglu(mg_context *ctx, const mg_tensor *x, mg_tensor *out);

/* out (i32, x's shape without the last axis; [1] for a 1-D x) = argmax over x's last axis. */
mg_status mg_op_argmax(mg_context *ctx, const mg_tensor *x, mg_tensor *out);

/* ---- autoencoder ops (graph, sequence and quantizer) ---- */

/*
 * 1-D convolution along the sequence axis, channels last, "same" zero padding:
 * out[b, t, o] = bias[o] + sum_{k, i} weight[o, i, k] * x[b, t + k - K/2, i].
 * x [B, N, Ci] or [N, Ci]; weight [Co, Ci, K] (PyTorch Conv1d layout), K odd;
 * bias [Co] or NULL; mask i32 [B, N] or [N], or NULL: rows of x whose mask is 0
 * read as zero (meshgpt-pytorch zeroes pad faces before every conv). Sequences
 * of a batch never see each other. out [B, N, Co] (or [N, Co]) must not overlap
 * any input (not in place).
 */
mg_status mg_op_conv1d(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *bias,
                       const mg_tensor *mask, mg_tensor *out);

/* out[b, :] = sum over t with mask[b, t] != 0 of x[b, t, :] / max(that count, eps); no mask: the plain
 * mean. Any non-zero mask value counts once; masked rows are skipped (a NaN there does not spread).
 * x [B, N, C], mask i32 [B, N] or NULL, out [B, C]. */
mg_status mg_op_masked_mean(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, float eps, mg_tensor *out);

/* out[b, t, c] = x[b, t, c] * gate[b, c]; x [B, N, C], gate [B, C]. In place ok. */
mg_status mg_op_scale_channels(mg_context *ctx, const mg_tensor *x, const mg_tensor *gate, mg_tensor *out);

/* out[b, t, :] = mask[b, t] ? x[b, t, :] : 0; x [B, N, C], mask i32 [B, N]. In place ok. */
mg_status mg_op_mask_rows(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, mg_tensor *out);

/*
 * Mean over a compressed sparse row list: out[m, :] = mean of src[indices[p], :]
 * for p in [offsets[m], offsets[m + 1]), zeros when the range is empty.
 * src [R, D], offsets i32 [M + 1], indices i32 [nnz] (each in [0, R)), out [M, D].
 * Serves SAGEConv's neighbour mean and the face-corner to vertex scatter-mean.
 * Offsets must start >= 0, never decrease and end <= nnz: the CPU backend
 * refuses other lists (and out-of-range indices) with MG_ERR_INVALID_ARGUMENT;
 * the Vulkan shader cannot report, so it clamps each range to [0, nnz] (end >=
 * begin) and skips out-of-range indices (neither summed nor counted).
 */
mg_status mg_op_gather_mean(mg_context *ctx, const mg_tensor *src, const mg_tensor *offsets, const mg_tensor *indices,
                            mg_tensor *out);

/* dst[r, column_offset + c] = src[r, c] for src [R, w], dst [R, W] (concatenation along the last axis). */
mg_status mg_op_copy_columns(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t column_offset);

/*
 * Residual lookup-free quantization of x [N, d] (d <= 30) over `levels` levels:
 * r = x; for q: xq = c tanh(r / c) with c = soft_clamp * 0.5^q (no clamp when
 * soft_clamp <= 0); v = xq > 0 ? 2^-q : -2^-q per dimension; index = sum_d
 * [xq_d > 0] 2^(d-1-dim) (first dimension is the most significant bit); r -= v.
 * values [N, d] = sum over levels of v; indices i32 [N, levels], 1 <= levels <= 16.
 * As vector-quantize-pytorch's ResidualLFQ at inference (1.20.x): 0, -0 and NaN
 * quantize to -2^-q, and the clamp never changes a sign, so it matters only
 * where a residual is so small that r / c is denormal (devices that flush
 * denormals then see 0). All arithmetic is f32, so results are exact and equal
 * on every backend. values and indices must not overlap x or each other.
 */
mg_status mg_op_lfq_quantize(mg_context *ctx, const mg_tensor *x, int levels, float soft_clamp, mg_tensor *values,
                             mg_tensor *indices);
/* values [N, d] = sum over levels q of the ±2^-q bit vector of indices[n, q]; an index outside
 * [0, 2^d) (the pad id -1) adds nothing. indices i32 [N, levels]. */
mg_status mg_op_lfq_dequantize(mg_context *ctx, const mg_tensor *indices, mg_tensor *values);

/* indices[n] = argmin_k ||x[n] - codebook[k]||^2 (ties: lowest k; NaN distances never win, all NaN: 0);
 * x [N, D], codebook [K, D] f32 or f16, indices i32 [N]. The CPU reference sums in double, Vulkan in
 * f32 (in dimension order, so identical codebook rows tie exactly): rows whose two best distances
 * differ by ~1e-6 relative may choose differently. */
mg_status mg_op_vq_nearest(mg_context *ctx, const mg_tensor *x, const mg_tensor *codebook, mg_tensor *indices);

#endif
