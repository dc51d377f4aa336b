/*
 * Backward ops and training losses of the autoencoder (issue 6), beside the
 * forward ops of ops.h. Conventions (notes/train_conventions.md):
 *  - gradients of activations (d_x, d_src, d_gate, ...) are OVERWRITTEN;
 *  - gradients of parameters (d_weight, d_bias) are ACCUMULATED (+=), f32;
 *  - any gradient output may be NULL: it is not computed;
 *  - deterministic: no float atomics; scatter-style gradients read an index
 *    list built on the host.
 * Each op runs its CPU reference (ops/ref/grad_ae_ref.h) or its Vulkan shaders.
 */
#ifndef MG_OPS_OPS_GRAD_AE_H
#define MG_OPS_OPS_GRAD_AE_H

#include "ops/ops.h"
#include "ops/ref/grad_ae_ref.h"

/*
 * Backward of mg_op_conv1d (same x, weight, mask; shapes as there; d_out has
 * out's shape). d_x [B, N, Ci]: rows whose mask is 0 read as zero in the
 * forward pass, so their gradient is 0. d_weight [Co, Ci, K] f32 += (weight
 * may be f16); d_bias [Co] f32 +=.
 */
mg_status mg_op_conv1d_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *mask,
                                const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_weight, mg_tensor *d_bias);

/* Backward of mg_op_masked_mean: d_x[b, t, :] = mask[b, t] ? d_out[b, :] / max(count_b, eps) : 0. */
mg_status mg_op_masked_mean_backward(mg_context *ctx, const mg_tensor *mask, float eps, const mg_tensor *d_out,
                                     mg_tensor *d_x);

/* Backward of mg_op_scale_channels: d_x = d_out * gate (per batch and channel), d_gate[b, c] = sum_t d_out * x. */
mg_status mg_op_scale_channels_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gate,
                                        const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gate);

/* Backward of mg_op_mask_rows: d_x = mask_rows(d_out) (the same op; in place ok). */
mg_status mg_op_mask_rows_backward(mg_context *ctx, const mg_tensor *mask, const mg_tensor *d_out, mg_tensor *d_x);

/* Backward of mg_op_copy_columns: d_src[r, c] = d_dst[r, column_offset + c] (a column slice). */
mg_status mg_op_copy_columns_backward(mg_context *ctx, const mg_tensor *d_dst, size_t column_offset,
                                      mg_tensor *d_src);

/*
 * The transpose of a gather_mean CSR list (host arrays), for its backward:
 * for every source row r of [0, rows), the entries p with indices[p] == r, in
 * increasing p, as t_sources = their output rows m (t_offsets [rows + 1],
 * t_sources [offsets[m_count] - offsets[0]] entries). Refuses malformed lists
 * as mg_op_gather_mean's CPU backend does.
 */
mg_status mg_gather_mean_transpose(mg_context *ctx, const int32_t *offsets, size_t m_count, const int32_t *indices,
                                   size_t rows, int32_t *t_offsets, int32_t *t_sources);
/*
 * Backward of mg_op_gather_mean, as a gather (deterministic, no atomics):
 * d_src[r, :] = sum over q in [t_offsets[r], t_offsets[r + 1]) of
 * d_out[m, :] / (offsets[m + 1] - offsets[m]) with m = t_sources[q].
 * offsets i32 [M + 1] (the forward list), t_offsets i32 [R + 1], t_sources i32
 * [nnz] (mg_gather_mean_transpose), d_out [M, D], d_src [R, D] overwritten.
 */
mg_status mg_op_gather_mean_backward(mg_context *ctx, const mg_tensor *offsets, const mg_tensor *t_offsets,
                                     const mg_tensor *t_sources, const mg_tensor *d_out, mg_tensor *d_src);

/* ---- losses ---- */

/*
 * meshgpt-pytorch's reconstruction loss per coordinate (the same definition as
 * mg_ae_recon_loss): the one-hot target blurred along the bins by a Gaussian
 * of `sigma` (width ceil(5 sigma) made odd, L1-normalised, zero padding at the
 * ends; sigma <= 0: plain one-hot), then -sum_bins target * log_softmax(logits).
 * logits [R, bins] f32, targets i32 [R] (a negative target: a pad coordinate,
 * loss 0). row_loss [R] f32. The mean loss is sum(row_loss) / (rows with a
 * target >= 0), which the caller forms on the host (it owns the targets).
 */
mg_status mg_op_recon_loss(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets, float sigma,
                           mg_tensor *row_loss);
/* d_logits [R, bins] = scale * (softmax(logits) * sum(target) - target) for rows with a target >= 0, else 0.
 * For the mean loss, scale = d_loss / (rows with a target >= 0). */
mg_status mg_op_recon_loss_backward(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets, float sigma,
                                    float scale, mg_tensor *d_logits);
/* The number of taps of the blur kernel for sigma (1 when sigma <= 0), at most MG_RECON_BLUR_MAX. */
#define MG_RECON_BLUR_MAX 63
int mg_recon_blur_width(float sigma);

/*
 * ResidualLFQ's training terms per level q (vector-quantize-pytorch 1.20.x LFQ
 * as meshgpt-pytorch configures it, with the intended masking): x [N, d] is
 * the quantizer input (project_in's output, d <= MG_LFQ_LOSS_MAX_DIM), mask i32
 * [N] or NULL the valid rows (meshgpt-pytorch masks the pad vertex). With
 * xq = soft-clamped residual of level q and v = its +-2^-q values:
 *   commit   = mean over valid rows and d of (xq - v)^2;
 *   p_i      = softmax over the 2^d codes c_j of 2 T xq_i . c_j (T = inv_temperature);
 *   per_sample = mean over valid rows of H(p_i); codebook = H(mean over valid rows of p_i),
 *   with H(p) = -sum p log(max(p, 1e-5));
 *   E = per_sample - gamma * codebook, softplus(E + offset) when softplus_entropy;
 *   aux = entropy_weight * E' + commit_weight * commit.
 * losses [levels, MG_LFQ_LOSS_COLUMNS] = (aux, commit, per_sample, codebook, valid rows);
 * avg [levels, 2^d] (may be NULL) the batch code distribution. meshgpt-pytorch's
 * total loss adds commit_loss_weight (0.1) * sum over levels of aux.
 * Vulkan: shaders lfq_*.comp (f32 sums; the CPU reference sums in double).
 */
mg_lfq_loss_params mg_lfq_loss_default_params(void);
mg_status mg_op_lfq_loss(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, const mg_lfq_loss_params *params,
                         mg_tensor *losses, mg_tensor *avg);
/*
 * Gradient of the quantizer input x: the straight-through estimator (d_values,
 * the gradient of mg_op_lfq_quantize's summed values, reaches every level's xq
 * unchanged; NULL: none) plus aux_scale * d(sum over levels of aux)/dx; every
 * level's residual is x minus detached values, so each adds its term times
 * the soft clamp's derivative 1 - tanh^2(r / c). d_x [N, d] overwritten. For
 * meshgpt-pytorch's loss, aux_scale = d_loss * commit_loss_weight (0.1).
 * Vulkan: lfq_backward.comp after the statistics passes of mg_op_lfq_loss.
 */
mg_status mg_op_lfq_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask,
                             const mg_lfq_loss_params *params, const mg_tensor *d_values, float aux_scale,
                             mg_tensor *d_x);

#endif
