/*
 * The MeshAutoencoder as an mg_trainable (train/trainable.h): f32 master
 * copies of every parameter, a forward pass that keeps the activations the
 * backward pass needs, and the backward pass written out layer by layer over
 * the backward ops (ops_grad.h, ops_grad_ae.h), llm.c-style.
 *
 * The loss is meshgpt-pytorch's training loss with the quantizer terms as
 * intended (ops_grad_ae.h, mg_op_lfq_loss):
 *   total = recon + commit_loss_weight * sum over levels of
 *           (0.1 * softplus(per_sample_entropy - codebook_entropy + 5) + commit_mse)
 * recon is the Gaussian-blurred coordinate cross-entropy averaged over the
 * coordinates of the batch's faces (as mg_ae_recon_loss); the quantizer
 * terms are averaged over the vertices some face uses (upstream also counts
 * vertex slots no face uses, which are zero vectors of its padded batch).
 * Quantization is straight-through: the decoder's gradient reaches the
 * quantizer input unchanged (times the soft clamp's slope).
 *
 * With the ResidualVQ quantizer (use_residual_lfq = false; ae_rvq.c) the
 * quantizer term is commit_loss_weight * sum over levels of the commitment
 * MSE (masked mean over used vertices), the output is straight-through (each
 * level passes the decoder's gradient to x), and the shared codebook is not
 * trained by gradients: layer 0's buffers (initted, cluster_size, embed_avg,
 * embed) are parameters without gradient or Adam moments, updated in each
 * training step by EMA (decay 0.8, Laplace eps 1e-5), with codes whose
 * cluster size falls below 2 replaced by residuals of the batch drawn from
 * the step's rng, and initialised by 10 k-means iterations on the first batch
 * (kmeans_init). They are saved under every level's name (shared codebook).
 * Not replicated from vector-quantize-pytorch 1.20.x as meshgpt-pytorch
 * configures it: the rotation trick (gradients pass straight through), the
 * stochastic Gumbel choice of codes in training (the nearest code is used),
 * and rvq_kwargs other than the defaults (decay, threshold_ema_dead_code,
 * kmeans_init are fixed at 0.8, 2, true). The EMA update runs on the host
 * (the codebook is read and written once per training step).
 *
 * Loss terms reported: "recon" and "quantizer" (the weighted sum of the
 * quantizer's aux terms, commit_loss_weight included).
 *
 * Not supported yet (MG_ERR_UNSUPPORTED at creation, with a message):
 * attention blocks (attn_encoder_depth / attn_decoder_depth > 0).
 *
 * Ownership: the trainable owns every tensor of params[] (value, adam_m,
 * adam_v and ema when set: a loop that wants EMA may store tensors it
 * created in params[i].ema and they are freed with the trainable) and of
 * grads[].
 */
#ifndef MG_TRAIN_AE_TRAIN_H
#define MG_TRAIN_AE_TRAIN_H

#include "meshgpt.h"
#include "train/trainable.h"

typedef struct mg_ae_train_params {
    /* Fine-tuning: the autoencoder of this loaded model (a MeshTransformer file's too; f16/bf16 weights become
     * f32 masters). The model is only read during creation. NULL: fresh weights from `config`. */
    const mg_model *model;
    /* Fresh training: config->autoencoder is the architecture (a transformer part is ignored). */
    const mg_model_config *config;
    /* Seed of the fresh initialisation (torch's default initialisation of each layer kind). */
    uint64_t seed;
    /* How fresh embedding tables (coordinates, angles, areas, normals) start; the other layers always take
     * torch's default. */
    mg_embedding_init embedding_init;
    /* MG_AUTOENCODER_START_COORDINATE_CODE: the hand-set exact code instead (over the fresh values). */
    mg_autoencoder_start autoencoder_start;
} mg_ae_train_params;

mg_ae_train_params mg_ae_train_default_params(void);

/* Creates the trainable on ctx's backend; free with mg_trainable_free. */
mg_status mg_ae_trainable_create(mg_context *ctx, const mg_ae_train_params *params, mg_trainable **out);

/* The index of the parameter named `name` (state-dict name, no prefix), or -1. */
long mg_ae_trainable_find(const mg_trainable *trainable, const char *name);

#endif
