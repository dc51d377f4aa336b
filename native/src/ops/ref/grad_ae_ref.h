/*
 * Plain-C references of the autoencoder's backward ops and training losses
 * (see ops/ops_grad_ae.h for the semantics). Reductions accumulate in double.
 * Parameter gradients are accumulated (+=), activation gradients overwritten;
 * a NULL output is skipped.
 */
#ifndef MG_OPS_REF_GRAD_AE_REF_H
#define MG_OPS_REF_GRAD_AE_REF_H

#include "ops/ref/ref_ops.h"

void mg_ref_conv1d_backward(size_t batch, size_t n, size_t ci, size_t co, size_t kernel, const float *x,
                            mg_ref_param weight, const int32_t *mask, const float *d_out, float *d_x, float *d_weight,
                            float *d_bias);
void mg_ref_masked_mean_backward(size_t batch, size_t n, size_t c, const int32_t *mask, float eps,
                                 const float *d_out, float *d_x);
void mg_ref_scale_channels_backward(size_t batch, size_t n, size_t c, const float *x, const float *gate,
                                    const float *d_out, float *d_x, float *d_gate);
void mg_ref_copy_columns_backward(size_t rows, size_t w, size_t dst_width, size_t offset, const float *d_dst,
                                  float *d_src);
void mg_ref_gather_mean_backward(size_t rows, size_t d, const int32_t *offsets, const int32_t *t_offsets,
                                 const int32_t *t_sources, const float *d_out, float *d_src);

/* The L1-normalised blur kernel of mg_op_recon_loss; returns its width (odd, <= 63). */
int mg_ref_recon_blur_kernel(float sigma, double *kernel);
void mg_ref_recon_loss(size_t rows, size_t bins, const float *logits, const int32_t *targets, float sigma,
                       float *row_loss);
void mg_ref_recon_loss_backward(size_t rows, size_t bins, const float *logits, const int32_t *targets, float sigma,
                                float scale, float *d_logits);

#endif
