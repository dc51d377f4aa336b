/*
 * The MeshAutoencoder of meshgpt-pytorch as a mesh tokenizer: encode meshes to
 * per-vertex residual codes, decode per-face-corner codes back to discrete
 * coordinates. Runs on whatever backend its context has (Vulkan or the CPU
 * reference) through the op library only.
 */
#ifndef MG_MODEL_AUTOENCODER_H
#define MG_MODEL_AUTOENCODER_H

#include "mesh/mesh_batch.h"
#include "model/ae_config.h"
#include "model/scratch.h"
#include "model/weights.h"

/* Receives named intermediate results (tests compare them with meshgpt-pytorch). */
typedef struct mg_ae_probe {
    void (*fn)(void *user, const char *name, const mg_tensor *tensor);
    void *user;
} mg_ae_probe;

typedef struct mg_autoencoder {
    mg_context *ctx;
    mg_ae_config config;
    const mg_weights *weights;   /* not owned */
    char prefix[32];             /* "" or "autoencoder." */
} mg_autoencoder;

/* Checks that every weight the config needs is present. */
mg_status mg_autoencoder_init(mg_autoencoder *ae, mg_context *ctx, const mg_ae_config *config,
                              const mg_weights *weights, const char *prefix);

/* The weight `prefix + name`, or NULL with an internal error recorded on the context. */
mg_tensor *mg_ae_weight(const mg_autoencoder *ae, const char *fmt, ...) MG_PRINTF(2, 3);

/*
 * Encodes a packed batch. codes[(f * face_size + c) * levels + q] for every
 * packed face f (batch order), as meshgpt-pytorch's tokenize.
 */
mg_status mg_ae_tokenize(const mg_autoencoder *ae, const mg_mesh_batch *batch, int32_t *codes,
                         const mg_ae_probe *probe);

/*
 * Decodes `batch` padded sequences of `max_faces` faces each: codes
 * [batch * max_faces * face_size * levels] (-1 or out of range = missing),
 * face_mask [batch * max_faces] (1 = decode this face). Writes the arg-max
 * discrete coordinate of every face corner, discrete[batch * max_faces *
 * face_size * 3], and optionally (logits != NULL) the coordinate logits
 * [batch * max_faces * face_size * 3 * num_discrete_coors].
 */
mg_status mg_ae_decode(const mg_autoencoder *ae, const int32_t *codes, size_t batch, size_t max_faces,
                       const uint8_t *face_mask, int32_t *discrete, float *logits, const mg_ae_probe *probe);

/* ---- pieces, shared by tokenize, decode and (later) training ---- */

/* Face features -> encoder output, packed [total_faces, encoder_dims[last]]. */
mg_status mg_ae_encode_faces(const mg_autoencoder *ae, mg_scratch *scratch, const mg_mesh_batch *batch,
                             mg_tensor **out, const mg_ae_probe *probe);
/* Vertex embeddings [V, dim_codebook] -> indices i32 [V, levels] and, if wanted, the quantized vectors. */
mg_status mg_ae_quantize(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *vertices, mg_tensor **indices,
                         mg_tensor **quantized);
/* Host codes [rows * levels] -> quantized vectors [rows, dim_codebook]. */
mg_status mg_ae_dequantize(const mg_autoencoder *ae, mg_scratch *scratch, const int32_t *codes, size_t rows,
                           mg_tensor **out);
/* Quantized faces [B, N, face_size * dim_codebook] + mask i32 [B, N] -> coordinate logits
 * [B, N, face_size * 3 * num_discrete_coors]. */
mg_status mg_ae_decode_faces(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *quantized, mg_tensor *mask,
                             mg_tensor **logits, const mg_ae_probe *probe);

/* meshgpt-pytorch's reconstruction loss (Gaussian-blurred cross-entropy) over the faces whose
 * mask is 1: logits [faces * face_size * 3 * bins], targets [faces * face_size * 3]. */
double mg_ae_recon_loss(const mg_ae_config *config, const float *logits, const int32_t *targets,
                        const uint8_t *face_mask, size_t faces);

#endif
