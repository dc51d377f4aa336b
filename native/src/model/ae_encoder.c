/* The encoder: discrete face features -> embeddings -> project_in -> SAGEConv
 * graph layers over the face adjacency (-> optional attention blocks). */
#include "model/autoencoder.h"

#include "mesh/features.h"
#include "model/ae_attention.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* torch_geometric SAGEConv(normalize=True, project=True) with mean aggregation:
 * out = l2norm(lin_l(mean_j relu(lin(x_j))) + lin_r(x)). */
static mg_status sage_conv(const mg_autoencoder *ae, mg_scratch *scratch, const char *layer, mg_tensor *x,
                           int64_t out_dim, mg_tensor *offsets, mg_tensor *neighbors, mg_tensor **out)
{
    mg_context *ctx = ae->ctx;
    const int64_t rows = x->shape[0], in_dim = x->shape[1];
    mg_scratch local;
    mg_scratch_init(&local, ctx);
    mg_tensor *projected = mg_scratch_2d(&local, MG_DTYPE_F32, rows, in_dim);
    mg_tensor *mean = mg_scratch_2d(&local, MG_DTYPE_F32, rows, in_dim);
    mg_tensor *root = mg_scratch_2d(&local, MG_DTYPE_F32, rows, out_dim);
    mg_tensor *y = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, out_dim);
    mg_status status = local.status != MG_OK ? local.status : scratch->status;
    if (status == MG_OK && (!projected || !mean || !root || !y))
        status = MG_ERR_INTERNAL;
    if (status == MG_OK)
        status = mg_op_matmul(ctx, x, mg_ae_weight(ae, "%s.lin.weight", layer), mg_ae_weight(ae, "%s.lin.bias", layer),
                              true, projected);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_RELU, projected, projected);
    if (status == MG_OK)
        status = mg_op_gather_mean(ctx, projected, offsets, neighbors, mean);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, mean, mg_ae_weight(ae, "%s.lin_l.weight", layer),
                              mg_ae_weight(ae, "%s.lin_l.bias", layer), true, y);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, x, mg_ae_weight(ae, "%s.lin_r.weight", layer), NULL, true, root);
    if (status == MG_OK)
        status = mg_op_add(ctx, y, root, y);
    if (status == MG_OK)
        status = mg_op_l2_normalize(ctx, y, NULL, 1e-12f, 1.0f, 0.0f, y);
    mg_scratch_release(&local);
    *out = y;
    return status;
}

/* Embeds one discrete feature (ids [F, per_face]) into columns of `concat`. */
static mg_status embed_feature(const mg_autoencoder *ae, mg_scratch *scratch, const char *table,
                               const int32_t *ids, int64_t faces, int64_t per_face, mg_tensor *concat,
                               size_t *column)
{
    mg_tensor *weight = mg_ae_weight(ae, "%s.weight", table);
    if (!weight)
        return MG_ERR_INTERNAL;
    const int64_t dim = weight->shape[1];
    int64_t id_shape[2] = {faces, per_face};
    mg_tensor *id_tensor = mg_scratch_i32(scratch, ids, 2, id_shape);
    mg_tensor *embedded = mg_scratch_3d(scratch, MG_DTYPE_F32, faces, per_face, dim);
    int64_t flat_shape[2] = {faces, per_face * dim};
    mg_tensor *flat = mg_scratch_view(scratch, embedded, 2, flat_shape);
    if (!id_tensor || !embedded || !flat)
        return scratch->status;
    mg_status status = mg_op_embedding(ae->ctx, weight, id_tensor, embedded);
    if (status == MG_OK)
        status = mg_op_copy_columns(ae->ctx, flat, concat, *column);
    *column += (size_t)(per_face * dim);
    return status;
}

static size_t init_dim(const mg_ae_config *c)
{
    const size_t fs = (size_t)mg_ae_config_face_size(c);
    return (size_t)c->dim_coor_embed * fs * 3 + (size_t)c->dim_angle_embed * fs + (size_t)c->dim_area_embed +
           (size_t)c->dim_normal_embed * 3;
}

/* The feature ids of every packed face, embedded, concatenated and projected. */
static mg_status face_embeddings(const mg_autoencoder *ae, mg_scratch *scratch, const mg_mesh_batch *batch,
                                 mg_tensor **out)
{
    const mg_ae_config *c = &ae->config;
    const int64_t faces = (int64_t)batch->num_faces, fs = (int64_t)batch->face_size;
    mg_face_feature_ids ids = {
        .coords = malloc((size_t)(faces * fs * 3) * sizeof(int32_t)),
        .angles = malloc((size_t)(faces * fs) * sizeof(int32_t)),
        .area = malloc((size_t)faces * sizeof(int32_t)),
        .normals = malloc((size_t)(faces * 3) * sizeof(int32_t)),
    };
    mg_status status = MG_OK;
    if (!ids.coords || !ids.angles || !ids.area || !ids.normals) {
        status = mg_fail(&ae->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the face features");
        goto done;
    }
    mg_face_feature_ids_compute(c, batch->vertices, batch->faces, batch->num_faces, &ids);
    mg_tensor *concat = mg_scratch_2d(scratch, MG_DTYPE_F32, faces, (int64_t)init_dim(c));
    mg_tensor *projected = mg_scratch_2d(scratch, MG_DTYPE_F32, faces, c->dim_codebook);
    if (!concat || !projected) {
        status = scratch->status;
        goto done;
    }
    /* meshgpt-pytorch packs [coords, angles, area, normals] in this order. */
    size_t column = 0;
    if ((status = embed_feature(ae, scratch, "coor_embed", ids.coords, faces, fs * 3, concat, &column)) != MG_OK ||
        (status = embed_feature(ae, scratch, "angle_embed", ids.angles, faces, fs, concat, &column)) != MG_OK ||
        (status = embed_feature(ae, scratch, "area_embed", ids.area, faces, 1, concat, &column)) != MG_OK ||
        (status = embed_feature(ae, scratch, "normal_embed", ids.normals, faces, 3, concat, &column)) != MG_OK)
        goto done;
    status = mg_op_matmul(ae->ctx, concat, mg_ae_weight(ae, "project_in.weight"), mg_ae_weight(ae, "project_in.bias"),
                          true, projected);
    *out = projected;
done:
    free(ids.coords);
    free(ids.angles);
    free(ids.area);
    free(ids.normals);
    return status;
}

/* Packed [F, D] <-> padded [B, N, D] through an embedding lookup: a row index
 * of -1 reads as zeros, which is exactly meshgpt-pytorch's masked_scatter. */
static mg_status repack(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *src, const int32_t *rows,
                        int ndim, const int64_t *shape, mg_tensor **out)
{
    int64_t count = 1;
    for (int i = 0; i < ndim - 1; i++)
        count *= shape[i];
    int64_t id_shape[1] = {count};
    mg_tensor *ids = mg_scratch_i32(scratch, rows, 1, id_shape);
    mg_tensor *dst = mg_scratch_tensor(scratch, MG_DTYPE_F32, ndim, shape);
    int64_t flat_shape[2] = {count, shape[ndim - 1]};
    mg_tensor *flat = mg_scratch_view(scratch, dst, 2, flat_shape);
    if (!ids || !dst || !flat)
        return scratch->status;
    *out = dst;
    return mg_op_embedding(ae->ctx, src, ids, flat);
}

static mg_status encoder_attention(const mg_autoencoder *ae, mg_scratch *scratch, const mg_mesh_batch *batch,
                                   mg_tensor **x)
{
    const size_t meshes = batch->num_meshes;
    size_t longest = 0;
    for (size_t m = 0; m < meshes; m++) {
        size_t n = batch->face_offsets[m + 1] - batch->face_offsets[m];
        longest = n > longest ? n : longest;
    }
    const int64_t dim = (*x)->shape[1];
    int32_t *to_padded = malloc(meshes * longest * sizeof(int32_t));
    int32_t *to_packed = malloc(batch->num_faces * sizeof(int32_t));
    int32_t *mask_values = malloc(meshes * longest * sizeof(int32_t));
    mg_status status = MG_OK;
    if (!to_padded || !to_packed || !mask_values) {
        status = mg_fail(&ae->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the attention layout");
        goto done;
    }
    for (size_t m = 0; m < meshes; m++) {
        size_t first = batch->face_offsets[m], n = batch->face_offsets[m + 1] - first;
        for (size_t i = 0; i < longest; i++) {
            to_padded[m * longest + i] = i < n ? (int32_t)(first + i) : -1;
            mask_values[m * longest + i] = i < n;
            if (i < n)
                to_packed[first + i] = (int32_t)(m * longest + i);
        }
    }
    int64_t padded_shape[3] = {(int64_t)meshes, (int64_t)longest, dim};
    int64_t mask_shape[2] = {(int64_t)meshes, (int64_t)longest};
    mg_tensor *padded = NULL, *mask = mg_scratch_i32(scratch, mask_values, 2, mask_shape);
    if (!mask) {
        status = scratch->status;
        goto done;
    }
    if ((status = repack(ae, scratch, *x, to_padded, 3, padded_shape, &padded)) != MG_OK)
        goto done;
    for (int i = 0; i < ae->config.attn_encoder_depth && status == MG_OK; i++) {
        char prefix[MG_WEIGHT_NAME_MAX];
        snprintf(prefix, sizeof prefix, "%sencoder_attn_blocks.%d.", ae->prefix, i);
        status = mg_ae_attn_block_forward(ae->ctx, ae->weights, prefix, &ae->config, padded, mask, padded);
    }
    if (status != MG_OK)
        goto done;
    int64_t packed_shape[2] = {(int64_t)batch->num_faces, dim};
    int64_t flat_shape[2] = {(int64_t)(meshes * longest), dim};
    mg_tensor *flat = mg_scratch_view(scratch, padded, 2, flat_shape);
    if (!flat) {
        status = scratch->status;
        goto done;
    }
    status = repack(ae, scratch, flat, to_packed, 2, packed_shape, x);
done:
    free(to_padded);
    free(to_packed);
    free(mask_values);
    return status;
}

mg_status mg_ae_encode_faces(const mg_autoencoder *ae, mg_scratch *scratch, const mg_mesh_batch *batch,
                             mg_tensor **out, const mg_ae_probe *probe)
{
    const mg_ae_config *c = &ae->config;
    mg_context *ctx = ae->ctx;
    mg_tensor *x = NULL;
    mg_status status = face_embeddings(ae, scratch, batch, &x);
    if (status != MG_OK)
        return status;
    if (probe)
        probe->fn(probe->user, "face_embed_in", x);
    int64_t offsets_shape[1] = {(int64_t)batch->num_faces + 1};
    int64_t neighbors_shape[1] = {(int64_t)batch->adjacency.offsets[batch->num_faces]};
    mg_tensor *offsets = mg_scratch_i32(scratch, batch->adjacency.offsets, 1, offsets_shape);
    mg_tensor *neighbors = mg_scratch_i32(scratch, batch->adjacency.neighbors, 1, neighbors_shape);
    if (!offsets || !neighbors)
        return scratch->status;

    mg_tensor *y = NULL;
    if ((status = sage_conv(ae, scratch, "init_sage_conv", x, c->encoder_dims[0], offsets, neighbors, &y)) != MG_OK)
        return status;
    if (probe)
        probe->fn(probe->user, "init_sage_conv_out", y);
    if ((status = mg_op_unary(ctx, MG_UNARY_SILU, y, y)) != MG_OK ||
        (status = mg_op_layer_norm(ctx, y, mg_ae_weight(ae, "init_encoder_act_and_norm.1.weight"),
                                   mg_ae_weight(ae, "init_encoder_act_and_norm.1.bias"), 1e-5f, 0.0f, y)) != MG_OK)
        return status;
    mg_scratch_drop(scratch, x);
    x = y;
    for (int i = 1; i < c->encoder_depth; i++) {
        char layer[32];
        snprintf(layer, sizeof layer, "encoders.%d", i - 1);
        if ((status = sage_conv(ae, scratch, layer, x, c->encoder_dims[i], offsets, neighbors, &y)) != MG_OK)
            return status;
        mg_scratch_drop(scratch, x);
        x = y;
    }
    if (c->attn_encoder_depth > 0 && (status = encoder_attention(ae, scratch, batch, &x)) != MG_OK)
        return status;
    if (probe)
        probe->fn(probe->user, "encoded", x);
    *out = x;
    return MG_OK;
}
