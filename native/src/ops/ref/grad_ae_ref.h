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

/* ResidualLFQ's training terms (vector-quantize-pytorch's LFQ, one per level, as meshgpt-pytorch configures
 * them); see mg_op_lfq_loss. */
typedef struct mg_lfq_loss_params {
    int levels;              /* num_quantizers (2) */
    float soft_clamp;        /* soft_clamp_input_value of level 0 (10; halved per level; <= 0: none) */
    float commit_weight;     /* commitment_loss_weight (meshgpt-pytorch passes 1) */
    float entropy_weight;    /* entropy_loss_weight (0.1) */
    float diversity_gamma;   /* weight of the codebook entropy (1) */
    float inv_temperature;   /* of the code distribution softmax (100) */
    bool softplus_entropy;   /* experimental_softplus_entropy_loss (true in meshgpt-pytorch) */
    float entropy_offset;    /* entropy_loss_offset before the softplus (5) */
} mg_lfq_loss_params;
#define MG_LFQ_LOSS_COLUMNS 5 /* aux, commit, per-sample entropy, codebook entropy, valid rows */
#define MG_LFQ_LOSS_MAX_DIM 16 /* the entropy terms enumerate 2^d codes */

/* losses [levels, MG_LFQ_LOSS_COLUMNS]; avg [levels, 2^d] (the batch code distribution, or NULL). */
void mg_ref_lfq_loss(size_t n, size_t d, const float *x, const int32_t *mask, const mg_lfq_loss_params *p,
                     float *losses, float *avg);
/* d_x = sum over levels of dtanh * (d_values + aux_scale * d(aux_level)/d(xq)); d_values may be NULL. */
void mg_ref_lfq_backward(size_t n, size_t d, const float *x, const int32_t *mask, const mg_lfq_loss_params *p,
                         const float *d_values, float aux_scale, float *d_x);

#endif
