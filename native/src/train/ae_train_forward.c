/* The autoencoder's training forward pass: the same computation as tokenize +
 * decode (model/ae_encoder.c, ae_quantizer.c, ae_decoder.c) on a training
 * batch, keeping every activation the backward pass reads, then the losses.
 * Straight-through quantization makes the forward values those of eval mode
 * (dropouts are 0), so the reconstruction loss equals mg_ae_recon_loss of the
 * eval logits. */
#include "train/ae_train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


mg_lfq_loss_params ae_lfq_params(const mg_ae_config *config)
{
    mg_lfq_loss_params p = mg_lfq_loss_default_params();
    p.levels = config->num_quantizers;
    p.soft_clamp = config->lfq_soft_clamp;
    return p;
}

bool ae_lfq_projects(const mg_ae_config *config)
{
    return mg_ae_config_code_dim(config) != config->dim_codebook;
}

/* ---- host side: feature ids, the padded layout of the decoder, targets ---- */

static mg_status prepare_host(const ae_train *t, const mg_train_batch *batch, ae_forward *f)
{
    const mg_mesh_batch *p = &batch->packed;
    mg_context *ctx = t->base.ctx;
    f->meshes = p->num_meshes;
    f->faces = p->num_faces;
    f->vertices = p->num_vertices;
    f->face_size = p->face_size;
    f->max_faces = 0;
    for (size_t m = 0; m < f->meshes; m++) {
        size_t n = p->face_offsets[m + 1] - p->face_offsets[m];
        f->max_faces = n > f->max_faces ? n : f->max_faces;
    }
    const size_t fs = f->face_size, slots = f->meshes * f->max_faces * fs;
    f->ids.coords = malloc(f->faces * fs * 3 * sizeof(int32_t));
    f->ids.angles = malloc(f->faces * fs * sizeof(int32_t));
    f->ids.area = malloc(f->faces * sizeof(int32_t));
    f->ids.normals = malloc(f->faces * 3 * sizeof(int32_t));
    f->slot_vertex = malloc(slots * sizeof(int32_t));
    f->targets = malloc(slots * 3 * sizeof(int32_t));
    f->vertex_mask = malloc(f->vertices * sizeof(int32_t));
    if (!f->ids.coords || !f->ids.angles || !f->ids.area || !f->ids.normals || !f->slot_vertex || !f->targets ||
        !f->vertex_mask)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the training batch");
    mg_face_feature_ids_compute(&t->config, p->vertices, p->faces, f->faces, &f->ids);
    f->coordinates = 0;
    for (size_t m = 0; m < f->meshes; m++) {
        size_t first = p->face_offsets[m], n = p->face_offsets[m + 1] - first;
        for (size_t i = 0; i < f->max_faces; i++) {
            size_t slot = (m * f->max_faces + i) * fs;
            for (size_t k = 0; k < fs; k++)
                f->slot_vertex[slot + k] = i < n ? p->faces[(first + i) * fs + k] : -1;
            /* the targets are the discrete coordinates the encoder embedded (upstream's discretized face coords) */
            for (size_t k = 0; k < fs * 3; k++)
                f->targets[slot * 3 + k] = i < n ? f->ids.coords[(first + i) * fs * 3 + k] : -1;
        }
        f->coordinates += n * fs * 3;
    }
    f->used_vertices = 0;
    for (size_t v = 0; v < f->vertices; v++) {
        f->vertex_mask[v] = p->corner_offsets[v + 1] > p->corner_offsets[v];
        f->used_vertices += (size_t)f->vertex_mask[v];
    }
    return MG_OK;
}

/* ---- encoder ---- */

static mg_status embed_feature(const ae_train *t, ae_forward *f, const char *table, const int32_t *ids,
                               int64_t per_face, size_t *column)
{
    ae_store *s = &f->store;
    mg_tensor *weight = ae_value(t, "%s.weight", table);
    NEED(s, weight);
    const int64_t faces = (int64_t)f->faces, dim = weight->shape[1];
    int64_t id_shape[2] = {faces, per_face}, flat_shape[2] = {faces, per_face * dim};
    mg_tensor *id_tensor = ae_i32(s, ids, 2, id_shape);
    mg_tensor *embedded = ae_f32_3d(s, faces, per_face, dim);
    mg_tensor *flat = ae_view(s, embedded, 2, flat_shape);
    NEED(s, id_tensor, embedded, flat);
    OK(mg_op_embedding(t->base.ctx, weight, id_tensor, embedded));
    OK(mg_op_copy_columns(t->base.ctx, flat, f->concat, *column));
    *column += (size_t)(per_face * dim);
    return MG_OK;
}

/* torch_geometric SAGEConv(normalize=True, project=True), mean aggregation. */
static mg_status sage_forward(const ae_train *t, ae_forward *f, const char *layer, mg_tensor *x, int64_t out_dim,
                              ae_sage_acts *a)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t rows = x->shape[0], in_dim = x->shape[1];
    snprintf(a->layer, sizeof a->layer, "%s", layer);
    a->x = x;
    a->projected = ae_f32_2d(s, rows, in_dim);
    a->mean = ae_f32_2d(s, rows, in_dim);
    a->sum = ae_f32_2d(s, rows, out_dim);
    a->out = ae_f32_2d(s, rows, out_dim);
    mg_tensor *root = ae_f32_2d(s, rows, out_dim);
    mg_tensor *w = ae_value(t, "%s.lin.weight", layer), *b = ae_value(t, "%s.lin.bias", layer);
    mg_tensor *wl = ae_value(t, "%s.lin_l.weight", layer), *bl = ae_value(t, "%s.lin_l.bias", layer);
    mg_tensor *wr = ae_value(t, "%s.lin_r.weight", layer);
    NEED(s, a->projected, a->mean, a->sum, a->out, root, w, b, wl, bl, wr);
    OK(mg_op_matmul(ctx, x, w, b, true, a->projected));
    OK(mg_op_unary(ctx, MG_UNARY_RELU, a->projected, a->projected));
    OK(mg_op_gather_mean(ctx, a->projected, f->adj_offsets, f->adj_neighbors, a->mean));
    OK(mg_op_matmul(ctx, a->mean, wl, bl, true, a->sum));
    OK(mg_op_matmul(ctx, x, wr, NULL, true, root));
    OK(mg_op_add(ctx, a->sum, root, a->sum));
    return mg_op_l2_normalize(ctx, a->sum, NULL, 1e-12f, 1.0f, 0.0f, a->out);
}

static size_t init_dim(const mg_ae_config *c)
{
    const size_t fs = (size_t)mg_ae_config_face_size(c);
    return (size_t)c->dim_coor_embed * fs * 3 + (size_t)c->dim_angle_embed * fs + (size_t)c->dim_area_embed +
           (size_t)c->dim_normal_embed * 3;
}

static mg_status encoder_forward(const ae_train *t, const mg_train_batch *batch, ae_forward *f)
{
    const mg_ae_config *c = &t->config;
    const mg_mesh_batch *p = &batch->packed;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t faces = (int64_t)f->faces, fs = (int64_t)f->face_size;
    f->concat = ae_f32_2d(s, faces, (int64_t)init_dim(c));
    f->embedded_in = ae_f32_2d(s, faces, c->dim_codebook);
    int64_t offsets_shape[1] = {faces + 1}, neighbors_shape[1] = {(int64_t)p->adjacency.offsets[f->faces]};
    f->adj_offsets = ae_i32(s, p->adjacency.offsets, 1, offsets_shape);
    f->adj_neighbors = ae_i32(s, p->adjacency.neighbors, 1, neighbors_shape);
    mg_tensor *w_in = ae_value(t, "project_in.weight"), *b_in = ae_value(t, "project_in.bias");
    NEED(s, f->concat, f->embedded_in, f->adj_offsets, f->adj_neighbors, w_in, b_in);
    size_t column = 0; /* meshgpt-pytorch's order: coords, angles, area, normals */
    OK(embed_feature(t, f, "coor_embed", f->ids.coords, fs * 3, &column));
    OK(embed_feature(t, f, "angle_embed", f->ids.angles, fs, &column));
    OK(embed_feature(t, f, "area_embed", f->ids.area, 1, &column));
    OK(embed_feature(t, f, "normal_embed", f->ids.normals, 3, &column));
    OK(mg_op_matmul(ctx, f->concat, w_in, b_in, true, f->embedded_in));

    OK(sage_forward(t, f, "init_sage_conv", f->embedded_in, c->encoder_dims[0], &f->sage[0]));
    f->init_silu_out = ae_f32_2d(s, faces, c->encoder_dims[0]);
    mg_tensor *x = ae_f32_2d(s, faces, c->encoder_dims[0]);
    mg_tensor *gamma = ae_value(t, "init_encoder_act_and_norm.1.weight");
    mg_tensor *beta = ae_value(t, "init_encoder_act_and_norm.1.bias");
    NEED(s, f->init_silu_out, x, gamma, beta);
    OK(mg_op_unary(ctx, MG_UNARY_SILU, f->sage[0].out, f->init_silu_out));
    OK(mg_op_layer_norm(ctx, f->init_silu_out, gamma, beta, 1e-5f, 0.0f, x));
    for (int i = 1; i < c->encoder_depth; i++) {
        char layer[32];
        snprintf(layer, sizeof layer, "encoders.%d", i - 1);
        OK(sage_forward(t, f, layer, x, c->encoder_dims[i], &f->sage[i]));
        x = f->sage[i].out;
    }
    f->encoded = x;
    return MG_OK;
}

/* ---- face corners -> vertices -> ResidualLFQ ---- */

static mg_status quantizer_forward(const ae_train *t, const mg_train_batch *batch, ae_forward *f)
{
    const mg_ae_config *c = &t->config;
    const mg_mesh_batch *p = &batch->packed;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t faces = (int64_t)f->faces, fs = (int64_t)f->face_size, dim = c->dim_codebook;
    const int64_t vertices = (int64_t)f->vertices, code_dim = mg_ae_config_code_dim(c);
    f->corners = ae_f32_2d(s, faces, fs * dim);
    int64_t rows_shape[2] = {faces * fs, dim}, offsets_shape[1] = {vertices + 1}, slots_shape[1] = {faces * fs};
    mg_tensor *corner_rows = ae_view(s, f->corners, 2, rows_shape);
    f->corner_offsets = ae_i32(s, p->corner_offsets, 1, offsets_shape);
    f->corner_slots = ae_i32(s, p->corners, 1, slots_shape);
    f->vertex_embed = ae_f32_2d(s, vertices, dim);
    mg_tensor *w = ae_value(t, "project_dim_codebook.weight"), *b = ae_value(t, "project_dim_codebook.bias");
    NEED(s, f->corners, corner_rows, f->corner_offsets, f->corner_slots, f->vertex_embed, w, b);
    OK(mg_op_matmul(ctx, f->encoded, w, b, true, f->corners));
    OK(mg_op_gather_mean(ctx, corner_rows, f->corner_offsets, f->corner_slots, f->vertex_embed));
    if (!c->use_residual_lfq)
        return ae_rvq_forward(t, f);

    const bool projects = ae_lfq_projects(c);
    f->lfq_in = f->vertex_embed;
    if (projects) {
        f->lfq_in = ae_f32_2d(s, vertices, code_dim);
        mg_tensor *w_in = ae_value(t, "quantizer.project_in.weight");
        mg_tensor *b_in = ae_value(t, "quantizer.project_in.bias");
        NEED(s, f->lfq_in, w_in, b_in);
        OK(mg_op_matmul(ctx, f->vertex_embed, w_in, b_in, true, f->lfq_in));
    }
    int64_t index_shape[2] = {vertices, c->num_quantizers}, mask_shape[1] = {vertices};
    f->lfq_values = ae_f32_2d(s, vertices, code_dim);
    f->lfq_indices = ae_tensor(s, MG_DTYPE_I32, 2, index_shape);
    f->lfq_mask = ae_i32(s, f->vertex_mask, 1, mask_shape);
    NEED(s, f->lfq_values, f->lfq_indices, f->lfq_mask);
    OK(mg_op_lfq_quantize(ctx, f->lfq_in, c->num_quantizers, c->lfq_soft_clamp, f->lfq_values, f->lfq_indices));
    f->quantized = f->lfq_values;
    if (projects) {
        f->quantized = ae_f32_2d(s, vertices, dim);
        mg_tensor *w_out = ae_value(t, "quantizer.project_out.weight");
        mg_tensor *b_out = ae_value(t, "quantizer.project_out.bias");
        NEED(s, f->quantized, w_out, b_out);
        OK(mg_op_matmul(ctx, f->lfq_values, w_out, b_out, true, f->quantized));
    }

    /* the quantizer's aux losses (commitment + entropy per level) */
    mg_lfq_loss_params lp = ae_lfq_params(c);
    mg_tensor *losses = ae_f32_2d(s, c->num_quantizers, MG_LFQ_LOSS_COLUMNS);
    NEED(s, losses);
    OK(mg_op_lfq_loss(ctx, f->lfq_in, f->lfq_mask, &lp, losses, NULL));
    float values[MG_AE_MAX_QUANTIZERS * MG_LFQ_LOSS_COLUMNS];
    OK(mg_tensor_read(losses, values, losses->nbytes));
    double aux = 0.0;
    for (int q = 0; q < c->num_quantizers; q++)
        aux += values[q * MG_LFQ_LOSS_COLUMNS];
    f->quantizer = (double)c->commit_loss_weight * aux;
    return MG_OK;
}

/* ---- decoder ---- */

/* Block: conv (pad faces read as zero) -> zero pad faces -> PixelNorm -> SiLU. */
static mg_status block_forward(const ae_train *t, ae_forward *f, const char *name, mg_tensor *x,
                               ae_block_acts *b)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    mg_tensor *w = ae_value(t, "%s.proj.weight", name), *bias = ae_value(t, "%s.proj.bias", name);
    NEED(s, w, bias);
    const int64_t channels = w->shape[0];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->x = x;
    b->masked = ae_f32_3d(s, x->shape[0], x->shape[1], channels);
    b->normed = ae_f32_3d(s, x->shape[0], x->shape[1], channels);
    b->act = ae_f32_3d(s, x->shape[0], x->shape[1], channels);
    NEED(s, b->masked, b->normed, b->act);
    OK(mg_op_conv1d(ctx, x, w, bias, f->face_mask, b->masked));
    OK(mg_op_mask_rows(ctx, b->masked, f->face_mask, b->masked));
    OK(mg_op_l2_normalize(ctx, b->masked, NULL, 1e-4f, sqrtf((float)channels), 0.0f, b->normed));
    return mg_op_unary(ctx, MG_UNARY_SILU, b->normed, b->act);
}

static mg_status resnet_forward(const ae_train *t, ae_forward *f, int index, mg_tensor *x, ae_resnet_acts *r)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    char block[48];
    snprintf(r->name, sizeof r->name, "decoders.%d", index);
    r->x = x;
    snprintf(block, sizeof block, "%s.block1", r->name);
    OK(block_forward(t, f, block, x, &r->block1));
    snprintf(block, sizeof block, "%s.block2", r->name);
    OK(block_forward(t, f, block, r->block1.act, &r->block2));
    const int64_t batch = x->shape[0], n = x->shape[1], channels = r->block2.act->shape[2];
    mg_tensor *w0 = ae_value(t, "%s.excite.net.0.weight", r->name), *b0 = ae_value(t, "%s.excite.net.0.bias", r->name);
    mg_tensor *w2 = ae_value(t, "%s.excite.net.2.weight", r->name), *b2 = ae_value(t, "%s.excite.net.2.bias", r->name);
    NEED(s, w0, b0, w2, b2);
    const int64_t inner = w0->shape[0];
    r->gated_in = ae_f32_3d(s, batch, n, channels);
    r->mean = ae_f32_2d(s, batch, channels);
    r->hidden_pre = ae_f32_2d(s, batch, inner);
    r->hidden = ae_f32_2d(s, batch, inner);
    r->gate_pre = ae_f32_2d(s, batch, channels);
    r->gate = ae_f32_2d(s, batch, channels);
    r->out = ae_f32_3d(s, batch, n, channels);
    mg_tensor *gated = ae_f32_3d(s, batch, n, channels);
    NEED(s, r->gated_in, r->mean, r->hidden_pre, r->hidden, r->gate_pre, r->gate, r->out, gated);
    /* squeeze-excite: gates from the masked mean over faces */
    OK(mg_op_mask_rows(ctx, r->block2.act, f->face_mask, r->gated_in));
    OK(mg_op_masked_mean(ctx, r->gated_in, f->face_mask, 1e-5f, r->mean));
    OK(mg_op_matmul(ctx, r->mean, w0, b0, true, r->hidden_pre));
    OK(mg_op_unary(ctx, MG_UNARY_SILU, r->hidden_pre, r->hidden));
    OK(mg_op_matmul(ctx, r->hidden, w2, b2, true, r->gate_pre));
    OK(mg_op_unary(ctx, MG_UNARY_SIGMOID, r->gate_pre, r->gate));
    OK(mg_op_scale_channels(ctx, r->gated_in, r->gate, gated));
    r->residual_conv = x->shape[2] != channels;
    if (!r->residual_conv)
        return mg_op_add(ctx, gated, x, r->out);
    mg_tensor *wr = ae_value(t, "%s.residual_conv.weight", r->name);
    mg_tensor *br = ae_value(t, "%s.residual_conv.bias", r->name);
    NEED(s, wr, br);
    OK(mg_op_conv1d(ctx, x, wr, br, NULL, r->out));
    return mg_op_add(ctx, r->out, gated, r->out);
}

static mg_status decoder_forward(const ae_train *t, ae_forward *f)
{
    const mg_ae_config *c = &t->config;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t batch = (int64_t)f->meshes, n = (int64_t)f->max_faces, fs = (int64_t)f->face_size;
    const int64_t dim = c->dim_codebook, bins = c->num_discrete_coors;
    int32_t *mask = malloc((size_t)(batch * n) * sizeof *mask);
    if (!mask)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the face mask");
    for (int64_t i = 0; i < batch * n; i++)
        mask[i] = f->slot_vertex[i * fs] >= 0;
    int64_t mask_shape[2] = {batch, n}, slot_shape[1] = {batch * n * fs}, flat_shape[2] = {batch * n * fs, dim};
    f->face_mask = ae_i32(s, mask, 2, mask_shape);
    free(mask);
    mg_tensor *slots = ae_i32(s, f->slot_vertex, 1, slot_shape);
    f->decoder_in = ae_f32_3d(s, batch, n, fs * dim);
    mg_tensor *decoder_rows = ae_view(s, f->decoder_in, 2, flat_shape);
    NEED(s, f->face_mask, slots, f->decoder_in, decoder_rows);
    /* each face's corners read their vertex's quantized vector; pad corners (-1) read zeros */
    OK(mg_op_embedding(ctx, f->quantized, slots, decoder_rows));

    mg_tensor *w = ae_value(t, "init_decoder_conv.0.weight"), *b = ae_value(t, "init_decoder_conv.0.bias");
    mg_tensor *gamma = ae_value(t, "init_decoder_conv.3.weight"), *beta = ae_value(t, "init_decoder_conv.3.bias");
    f->init_conv = ae_f32_3d(s, batch, n, c->decoder_dims[0]);
    f->init_silu = ae_f32_3d(s, batch, n, c->decoder_dims[0]);
    f->init_out = ae_f32_3d(s, batch, n, c->decoder_dims[0]);
    NEED(s, w, b, gamma, beta, f->init_conv, f->init_silu, f->init_out);
    OK(mg_op_conv1d(ctx, f->decoder_in, w, b, f->face_mask, f->init_conv));
    OK(mg_op_unary(ctx, MG_UNARY_SILU, f->init_conv, f->init_silu));
    OK(mg_op_layer_norm(ctx, f->init_silu, gamma, beta, 1e-5f, 0.0f, f->init_out));
    mg_tensor *h = f->init_out;
    for (int i = 0; i + 1 < c->decoder_depth; i++) {
        OK(resnet_forward(t, f, i, h, &f->resnet[i]));
        h = f->resnet[i].out;
    }
    const int64_t outputs = fs * 3 * bins, rows = batch * n * fs * 3;
    int64_t logits_shape[2] = {rows, bins}, target_shape[1] = {rows};
    f->final = ae_f32_3d(s, batch, n, h->shape[2]);
    mg_tensor *logits = ae_f32_3d(s, batch, n, outputs);
    f->logits = ae_view(s, logits, 2, logits_shape);
    f->target_tensor = ae_i32(s, f->targets, 1, target_shape);
    mg_tensor *row_loss = ae_f32(s, 1, target_shape);
    mg_tensor *wl = ae_value(t, "to_coor_logits.0.weight"), *bl = ae_value(t, "to_coor_logits.0.bias");
    NEED(s, f->final, logits, f->logits, f->target_tensor, row_loss, wl, bl);
    OK(mg_op_mask_rows(ctx, h, f->face_mask, f->final));
    OK(mg_op_matmul(ctx, f->final, wl, bl, true, logits));
    OK(mg_op_recon_loss(ctx, f->logits, f->target_tensor, c->bin_smooth_blur_sigma, row_loss));
    float *per_row = malloc((size_t)rows * sizeof *per_row);
    if (!per_row)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the reconstruction loss");
    mg_status status = mg_tensor_read(row_loss, per_row, row_loss->nbytes);
    double total = 0.0;
    for (int64_t i = 0; i < rows; i++)
        total += (double)per_row[i];
    free(per_row);
    f->recon = f->coordinates ? total / (double)f->coordinates : 0.0;
    return status;
}

mg_status ae_forward_run(const ae_train *t, const mg_train_batch *batch, ae_forward *f)
{
    memset(f, 0, sizeof *f);
    ae_store_init(&f->store, t->base.ctx);
    mg_status status = prepare_host(t, batch, f);
    if (status == MG_OK)
        status = encoder_forward(t, batch, f);
    if (status == MG_OK)
        status = quantizer_forward(t, batch, f);
    if (status == MG_OK)
        status = decoder_forward(t, f);
    /* a non-finite loss is reported as it is: the loop decides what to do about it */
    return status;
}

void ae_forward_free(ae_forward *f)
{
    ae_store_free(&f->store);
    free(f->ids.coords);
    free(f->ids.angles);
    free(f->ids.area);
    free(f->ids.normals);
    free(f->slot_vertex);
    free(f->targets);
    free(f->vertex_mask);
    free(f->rvq_ids);
    memset(f, 0, sizeof *f);
}
