/*
 * Shared between the autoencoder trainable's files: the trainable itself, the
 * tensors one forward pass keeps for the backward pass, and a small owner of
 * per-step tensors (the model scratch holds too few for a deep decoder).
 */
#ifndef MG_TRAIN_AE_TRAIN_INTERNAL_H
#define MG_TRAIN_AE_TRAIN_INTERNAL_H

#include "mesh/features.h"
#include "model/weights.h"
#include "ops/ops_grad.h"
#include "ops/ops_grad_ae.h"
#include "train/ae_train.h"
#include "train/rng.h"

typedef struct ae_train {
    mg_trainable base;        /* base.impl points back here */
    mg_ae_config config;
    char (*names)[MG_WEIGHT_NAME_MAX];
    size_t count;
    /* ResidualVQ: the codebook's EMA update runs in training steps (those with a backward pass) and draws
     * its samples (k-means start, dead-code replacements) from the step's rng, else from own_rng. */
    bool training;
    mg_rng *rng;
    mg_rng own_rng;
} ae_train;

/* ---- the parameters by name ---- */

/* The parameter's value, or NULL with an internal error on the context. */
mg_tensor *ae_value(const ae_train *t, const char *fmt, ...) MG_PRINTF(2, 3);
/* Its gradient (NULL when frozen or absent; absence is reported by ae_value). */
mg_tensor *ae_grad(const ae_train *t, const char *fmt, ...) MG_PRINTF(2, 3);

/* ---- per-step tensors ---- */

typedef struct ae_store {
    mg_context *ctx;
    mg_tensor **items;
    size_t count, capacity;
    mg_status status; /* of the first failure */
} ae_store;

void ae_store_init(ae_store *store, mg_context *ctx);
mg_tensor *ae_tensor(ae_store *store, mg_dtype dtype, int ndim, const int64_t *shape);
mg_tensor *ae_f32(ae_store *store, int ndim, const int64_t *shape);
mg_tensor *ae_f32_2d(ae_store *store, int64_t rows, int64_t cols);
mg_tensor *ae_f32_3d(ae_store *store, int64_t d0, int64_t d1, int64_t d2);
mg_tensor *ae_i32(ae_store *store, const int32_t *values, int ndim, const int64_t *shape);
mg_tensor *ae_view(ae_store *store, mg_tensor *parent, int ndim, const int64_t *shape);
void ae_store_free(ae_store *store);

/* ---- what the forward pass keeps ---- */

/* SAGEConv: x -> relu(lin x) = projected -> neighbour mean -> lin_l(mean) + lin_r(x) = sum -> l2norm = out */
typedef struct ae_sage_acts {
    char layer[32];
    mg_tensor *x, *projected, *mean, *sum, *out;
} ae_sage_acts;

/* Block: conv -> mask = masked -> PixelNorm = normed -> SiLU = act */
typedef struct ae_block_acts {
    char name[48];
    mg_tensor *x, *masked, *normed, *act;
} ae_block_acts;

typedef struct ae_resnet_acts {
    char name[32];
    mg_tensor *x;                              /* block input */
    ae_block_acts block1, block2;
    mg_tensor *gated_in;                       /* block2's output with pad faces zeroed (squeeze-excite input) */
    mg_tensor *mean, *hidden_pre, *hidden, *gate_pre, *gate;
    mg_tensor *out;
    bool residual_conv;
} ae_resnet_acts;

typedef struct ae_forward {
    ae_store store;
    size_t meshes, max_faces, faces, vertices, face_size;
    /* host */
    mg_face_feature_ids ids;
    int32_t *slot_vertex;          /* [meshes * max_faces * face_size]: packed vertex of each padded corner, -1 pad */
    int32_t *targets;              /* [meshes * max_faces * face_size * 3]: discrete coordinates, -1 pad */
    int32_t *vertex_mask;          /* [vertices]: 1 where some face uses the vertex */
    size_t coordinates;            /* targets >= 0 */
    size_t used_vertices;
    /* encoder */
    mg_tensor *concat, *embedded_in;   /* face features concatenated, project_in's output */
    mg_tensor *adj_offsets, *adj_neighbors;
    ae_sage_acts sage[MG_AE_MAX_DEPTH];
    mg_tensor *init_silu_out, *encoded;
    /* face corners -> vertices -> quantizer */
    mg_tensor *corners;            /* [F, fs * dim_codebook] */
    mg_tensor *corner_offsets, *corner_slots;
    mg_tensor *vertex_embed;       /* [V, dim_codebook] */
    mg_tensor *lfq_in;             /* [V, code_dim] (vertex_embed itself without projections) */
    mg_tensor *lfq_values, *lfq_indices, *lfq_mask;
    mg_tensor *quantized;          /* [V, dim_codebook] */
    mg_tensor *rvq_remainder[MG_AE_MAX_QUANTIZERS]; /* ResidualVQ: r_q - e_q after each level [V, dim_codebook] */
    int32_t *rvq_ids;              /* ResidualVQ: host [V * levels] chosen codes */
    /* decoder */
    mg_tensor *face_mask;          /* i32 [B, N] */
    mg_tensor *decoder_in;         /* [B, N, fs * dim_codebook] */
    mg_tensor *init_conv, *init_silu; /* conv output (pre-SiLU), SiLU output (LayerNorm input) */
    mg_tensor *init_out;
    ae_resnet_acts resnet[MG_AE_MAX_DEPTH];
    mg_tensor *final;              /* last block's output, pad faces zeroed */
    mg_tensor *logits;             /* [B * N * fs * 3, bins] */
    mg_tensor *target_tensor;
    /* losses */
    double recon, quantizer;
} ae_forward;

/* Runs the forward pass on `batch`, keeping the activations, and computes both losses. */
mg_status ae_forward_run(const ae_train *t, const mg_train_batch *batch, ae_forward *f);
/* Adds grad_scale * d(total)/d(param) to the gradients. */
mg_status ae_backward_run(const ae_train *t, const mg_train_batch *batch, ae_forward *f, float grad_scale);
void ae_forward_free(ae_forward *f);
/* The two halves of ae_backward_run (the gradient check looks between them): the decoder's, down to the
 * gradient of the quantized vertex vectors (a tensor of f's store), and the quantizer's and encoder's from it. */
mg_status ae_backward_decoder(const ae_train *t, ae_forward *f, float grad_scale, mg_tensor **d_quantized);
mg_status ae_backward_encoder(const ae_train *t, const mg_train_batch *batch, ae_forward *f, float grad_scale,
                              mg_tensor *d_quantized);

/* ResidualVQ (ae_rvq.c): quantizes f->vertex_embed into f->quantized and sets f->quantizer (the weighted
 * commitment loss); in training also updates the codebook (EMA, dead codes). The backward writes d_x, the
 * gradient of f->vertex_embed [V, dim_codebook], from the decoder's d_quantized. */
mg_status ae_rvq_forward(const ae_train *t, ae_forward *f);
mg_status ae_rvq_backward(const ae_train *t, ae_forward *f, float grad_scale, const mg_tensor *d_quantized,
                          mg_tensor *d_x);

/* The quantizer loss settings from the config. */
mg_lfq_loss_params ae_lfq_params(const mg_ae_config *config);
/* Whether ResidualLFQ projects in and out (log2(codebook_size) != dim_codebook). */
bool ae_lfq_projects(const mg_ae_config *config);

/* Fresh values as torch initialises each layer kind, from `seed`; the embedding tables instead start as fixed
 * sinusoids when `embedding_init` asks for them. */
mg_status ae_init_fresh(ae_train *t, const mg_weight_spec *specs, size_t count, uint64_t seed,
                        mg_embedding_init embedding_init);

/* The coordinate-code start (ae_coordinate_code.c): whether the config can carry it (an error that names the
 * sizes it needs), and the weights, set over a fresh initialisation. */
mg_status ae_coordinate_code_check(const mg_ae_config *config, mg_diag *diag);
mg_status ae_init_coordinate_code(ae_train *t);

/* Early returns of the training passes: a failed op, or a NULL from the store (its error, or a bug). */
#define OK(call)                                                                                                   \
    do {                                                                                                           \
        mg_status ok_status_ = (call);                                                                             \
        if (ok_status_ != MG_OK)                                                                                   \
            return ok_status_;                                                                                     \
    } while (0)
#define NEED(store, ...)                                                                                           \
    do {                                                                                                           \
        const void *need_[] = {__VA_ARGS__};                                                                       \
        for (size_t need_i_ = 0; need_i_ < sizeof need_ / sizeof need_[0]; need_i_++)                             \
            if (!need_[need_i_])                                                                                   \
                return (store)->status != MG_OK ? (store)->status : MG_ERR_INTERNAL;                               \
    } while (0)

#endif
