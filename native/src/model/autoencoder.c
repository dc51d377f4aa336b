/* Autoencoder set-up and the two drivers: tokenize (mesh -> codes) and decode
 * (codes -> discrete coordinates). The layers live in ae_encoder.c,
 * ae_quantizer.c and ae_decoder.c. */
#include "model/autoencoder.h"

#include "ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_tensor *mg_ae_weight(const mg_autoencoder *ae, const char *fmt, ...)
{
    char suffix[MG_WEIGHT_NAME_MAX], name[MG_WEIGHT_NAME_MAX + 32];
    va_list args;
    va_start(args, fmt);
    vsnprintf(suffix, sizeof suffix, fmt, args);
    va_end(args);
    snprintf(name, sizeof name, "%s%s", ae->prefix, suffix);
    mg_tensor *tensor = mg_weights_tensor(ae->weights, name);
    if (!tensor)
        mg_fail(&ae->ctx->diag, MG_ERR_INTERNAL, "the autoencoder has no weight '%s'", name);
    return tensor;
}

mg_status mg_autoencoder_init(mg_autoencoder *ae, mg_context *ctx, const mg_ae_config *config,
                              const mg_weights *weights, const char *prefix)
{
    memset(ae, 0, sizeof *ae);
    ae->ctx = ctx;
    ae->config = *config;
    ae->weights = weights;
    snprintf(ae->prefix, sizeof ae->prefix, "%s", prefix ? prefix : "");
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    mg_status status = mg_ae_weight_specs(config, ae->prefix, &specs, &count, &ctx->diag);
    if (status != MG_OK)
        return status;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        if (!specs[i].optional && !mg_weights_find(weights, specs[i].name))
            status = mg_fail(&ctx->diag, MG_ERR_FORMAT, "the model has no tensor '%s'", specs[i].name);
    }
    free(specs);
    return status;
}

mg_status mg_ae_tokenize(const mg_autoencoder *ae, const mg_mesh_batch *batch, int32_t *codes,
                         const mg_ae_probe *probe)
{
    mg_scratch scratch;
    mg_scratch_init(&scratch, ae->ctx);
    const int levels = ae->config.num_quantizers;
    const size_t face_size = batch->face_size;
    int32_t *vertex_codes = NULL;
    mg_tensor *encoded = NULL, *corners = NULL, *vertices = NULL, *indices = NULL, *quantized = NULL;
    mg_status status = mg_ae_encode_faces(ae, &scratch, batch, &encoded, probe);
    if (status != MG_OK)
        goto done;

    /* One dim_codebook vector per face corner, averaged onto the vertices. */
    const int dim = ae->config.dim_codebook;
    corners = mg_scratch_2d(&scratch, MG_DTYPE_F32, (int64_t)batch->num_faces, (int64_t)(face_size * dim));
    if (!corners) {
        status = scratch.status;
        goto done;
    }
    if ((status = mg_op_matmul(ae->ctx, encoded, mg_ae_weight(ae, "project_dim_codebook.weight"),
                               mg_ae_weight(ae, "project_dim_codebook.bias"), true, corners)) != MG_OK)
        goto done;
    int64_t corner_shape[2] = {(int64_t)(batch->num_faces * face_size), dim};
    mg_tensor *corner_rows = mg_scratch_view(&scratch, corners, 2, corner_shape);
    int64_t offsets_shape[1] = {(int64_t)batch->num_vertices + 1};
    int64_t slots_shape[1] = {(int64_t)(batch->num_faces * face_size)};
    mg_tensor *offsets = mg_scratch_i32(&scratch, batch->corner_offsets, 1, offsets_shape);
    mg_tensor *slots = mg_scratch_i32(&scratch, batch->corners, 1, slots_shape);
    vertices = mg_scratch_2d(&scratch, MG_DTYPE_F32, (int64_t)batch->num_vertices, dim);
    if (!corner_rows || !offsets || !slots || !vertices) {
        status = scratch.status;
        goto done;
    }
    if ((status = mg_op_gather_mean(ae->ctx, corner_rows, offsets, slots, vertices)) != MG_OK)
        goto done;
    if (probe)
        probe->fn(probe->user, "quantizer_input", vertices);
    if ((status = mg_ae_quantize(ae, &scratch, vertices, &indices, probe ? &quantized : NULL)) != MG_OK)
        goto done;
    if (probe) {
        probe->fn(probe->user, "quantizer_output", quantized);
        probe->fn(probe->user, "quantizer_indices", indices);
    }
    vertex_codes = malloc(batch->num_vertices * (size_t)levels * sizeof *vertex_codes);
    if (!vertex_codes) {
        status = mg_fail(&ae->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the vertex codes");
        goto done;
    }
    if ((status = mg_tensor_read(indices, vertex_codes, indices->nbytes)) != MG_OK)
        goto done;
    /* Codes are laid out per face corner: shared vertices repeat, as in the paper. */
    for (size_t slot = 0; slot < batch->num_faces * face_size; slot++) {
        int32_t vertex = batch->faces[slot];
        for (int q = 0; q < levels; q++)
            codes[slot * (size_t)levels + (size_t)q] = vertex_codes[(size_t)vertex * (size_t)levels + (size_t)q];
    }
done:
    free(vertex_codes);
    mg_scratch_release(&scratch);
    return status;
}

mg_status mg_ae_decode(const mg_autoencoder *ae, const int32_t *codes, size_t batch, size_t max_faces,
                       const uint8_t *face_mask, int32_t *discrete, float *logits_out, const mg_ae_probe *probe)
{
    const mg_ae_config *config = &ae->config;
    const size_t face_size = (size_t)mg_ae_config_face_size(config);
    const size_t dim = (size_t)config->dim_codebook;
    const size_t bins = (size_t)config->num_discrete_coors;
    const size_t faces = batch * max_faces;
    mg_scratch scratch;
    mg_scratch_init(&scratch, ae->ctx);
    mg_status status = MG_OK;
    int32_t *mask_values = malloc(faces * sizeof *mask_values);
    if (!mask_values) {
        status = mg_fail(&ae->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the face mask");
        goto done;
    }
    for (size_t f = 0; f < faces; f++)
        mask_values[f] = face_mask[f] != 0;
    int64_t mask_shape[2] = {(int64_t)batch, (int64_t)max_faces};
    mg_tensor *mask = mg_scratch_i32(&scratch, mask_values, 2, mask_shape);
    mg_tensor *corner_vectors = NULL, *logits = NULL;
    if (!mask) {
        status = scratch.status;
        goto done;
    }
    if ((status = mg_ae_dequantize(ae, &scratch, codes, faces * face_size, &corner_vectors)) != MG_OK)
        goto done;
    int64_t face_shape[3] = {(int64_t)batch, (int64_t)max_faces, (int64_t)(face_size * dim)};
    mg_tensor *quantized = mg_scratch_view(&scratch, corner_vectors, 3, face_shape);
    if (!quantized) {
        status = scratch.status;
        goto done;
    }
    if (probe)
        probe->fn(probe->user, "quantized", quantized);
    if ((status = mg_ae_decode_faces(ae, &scratch, quantized, mask, &logits, probe)) != MG_OK)
        goto done;
    int64_t rows_shape[2] = {(int64_t)(faces * face_size * 3), (int64_t)bins};
    mg_tensor *coordinate_rows = mg_scratch_view(&scratch, logits, 2, rows_shape);
    int64_t argmax_shape[1] = {(int64_t)(faces * face_size * 3)};
    mg_tensor *best = mg_scratch_tensor(&scratch, MG_DTYPE_I32, 1, argmax_shape);
    if (!coordinate_rows || !best) {
        status = scratch.status;
        goto done;
    }
    if ((status = mg_op_argmax(ae->ctx, coordinate_rows, best)) != MG_OK ||
        (status = mg_tensor_read(best, discrete, best->nbytes)) != MG_OK)
        goto done;
    if (logits_out)
        status = mg_tensor_read(logits, logits_out, logits->nbytes);
done:
    free(mask_values);
    mg_scratch_release(&scratch);
    return status;
}
