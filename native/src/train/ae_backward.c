/* The autoencoder's backward pass: the forward pass of ae_train_forward.c
 * undone layer by layer in reverse order with the backward ops, from the
 * losses' gradients to every parameter's (accumulated) gradient. */
#include "train/ae_train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The transposed CSR list of a gather_mean (for its backward), uploaded. */
static mg_status transpose_list(mg_context *ctx, ae_store *s, const int32_t *offsets, size_t m_count,
                                const int32_t *indices, size_t rows, mg_tensor **t_offsets, mg_tensor **t_sources)
{
    size_t nnz = (size_t)(offsets[m_count] - offsets[0]);
    int32_t *host_offsets = malloc((rows + 1) * sizeof *host_offsets);
    int32_t *host_sources = malloc((nnz ? nnz : 1) * sizeof *host_sources);
    mg_status status = MG_OK;
    if (!host_offsets || !host_sources)
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for a transposed list");
    if (status == MG_OK)
        status = mg_gather_mean_transpose(ctx, offsets, m_count, indices, rows, host_offsets, host_sources);
    if (status == MG_OK) {
        int64_t offsets_shape[1] = {(int64_t)rows + 1}, sources_shape[1] = {(int64_t)(nnz ? nnz : 1)};
        *t_offsets = ae_i32(s, host_offsets, 1, offsets_shape);
        *t_sources = ae_i32(s, host_sources, 1, sources_shape);
        if (!*t_offsets || !*t_sources)
            status = s->status != MG_OK ? s->status : MG_ERR_INTERNAL;
    }
    free(host_offsets);
    free(host_sources);
    return status;
}

/* ---- decoder ---- */

static mg_status block_backward(const ae_train *t, ae_forward *f, ae_block_acts *b, mg_tensor *d_act,
                                mg_tensor *d_x)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t channels = b->act->shape[2];
    mg_tensor *d_normed = ae_f32(s, 3, b->act->shape), *d_masked = ae_f32(s, 3, b->act->shape);
    mg_tensor *w = ae_value(t, "%s.proj.weight", b->name);
    NEED(s, d_normed, d_masked, w);
    OK(mg_op_unary_backward(ctx, MG_UNARY_SILU, b->normed, 0.0f, d_act, d_normed));
    OK(mg_op_l2_normalize_backward(ctx, b->masked, NULL, 1e-4f, sqrtf((float)channels), 0.0f, d_normed, d_masked,
                                   NULL));
    OK(mg_op_mask_rows_backward(ctx, f->face_mask, d_masked, d_masked));
    return mg_op_conv1d_backward(ctx, b->x, w, f->face_mask, d_masked, d_x, ae_grad(t, "%s.proj.weight", b->name),
                                 ae_grad(t, "%s.proj.bias", b->name));
}

/* d_x (overwritten) from d_out of one ResnetBlock. */
static mg_status resnet_backward(const ae_train *t, ae_forward *f, ae_resnet_acts *r, mg_tensor *d_out,
                                 mg_tensor *d_x)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const char *n = r->name;
    if (r->residual_conv) {
        mg_tensor *wr = ae_value(t, "%s.residual_conv.weight", n);
        NEED(s, wr);
        OK(mg_op_conv1d_backward(ctx, r->x, wr, NULL, d_out, d_x, ae_grad(t, "%s.residual_conv.weight", n),
                                 ae_grad(t, "%s.residual_conv.bias", n)));
    } else {
        OK(mg_op_scale(ctx, d_out, 1.0f, 0.0f, d_x));
    }
    mg_tensor *w0 = ae_value(t, "%s.excite.net.0.weight", n), *w2 = ae_value(t, "%s.excite.net.2.weight", n);
    mg_tensor *d_gated_in = ae_f32(s, 3, r->gated_in->shape), *d_from_mean = ae_f32(s, 3, r->gated_in->shape);
    mg_tensor *d_gate = ae_f32(s, 2, r->gate->shape), *d_hidden = ae_f32(s, 2, r->hidden->shape);
    mg_tensor *d_mean = ae_f32(s, 2, r->mean->shape), *d_act1 = ae_f32(s, 3, r->block1.act->shape);
    NEED(s, w0, w2, d_gated_in, d_from_mean, d_gate, d_hidden, d_mean, d_act1);
    OK(mg_op_scale_channels_backward(ctx, r->gated_in, r->gate, d_out, d_gated_in, d_gate));
    OK(mg_op_unary_backward(ctx, MG_UNARY_SIGMOID, r->gate_pre, 0.0f, d_gate, d_gate));
    OK(mg_op_matmul_backward(ctx, r->hidden, w2, true, d_gate, d_hidden, ae_grad(t, "%s.excite.net.2.weight", n),
                             ae_grad(t, "%s.excite.net.2.bias", n)));
    OK(mg_op_unary_backward(ctx, MG_UNARY_SILU, r->hidden_pre, 0.0f, d_hidden, d_hidden));
    OK(mg_op_matmul_backward(ctx, r->mean, w0, true, d_hidden, d_mean, ae_grad(t, "%s.excite.net.0.weight", n),
                             ae_grad(t, "%s.excite.net.0.bias", n)));
    OK(mg_op_masked_mean_backward(ctx, f->face_mask, 1e-5f, d_mean, d_from_mean));
    OK(mg_op_add(ctx, d_gated_in, d_from_mean, d_gated_in));
    OK(mg_op_mask_rows_backward(ctx, f->face_mask, d_gated_in, d_gated_in));
    OK(block_backward(t, f, &r->block2, d_gated_in, d_act1));
    mg_tensor *d_main = ae_f32(s, 3, r->x->shape);
    NEED(s, d_main);
    OK(block_backward(t, f, &r->block1, d_act1, d_main));
    return mg_op_add(ctx, d_x, d_main, d_x);
}

/* From the loss to the gradient of the quantized vertex vectors, *d_quantized [V, dim_codebook]. */
mg_status ae_backward_decoder(const ae_train *t, ae_forward *f, float grad_scale, mg_tensor **d_quantized)
{
    const mg_ae_config *c = &t->config;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const int64_t batch = (int64_t)f->meshes, n = (int64_t)f->max_faces, fs = (int64_t)f->face_size;
    mg_tensor *d_logits = ae_f32(s, 2, f->logits->shape);
    int64_t logits3[3] = {batch, n, fs * 3 * c->num_discrete_coors};
    mg_tensor *d_logits3 = ae_view(s, d_logits, 3, logits3);
    mg_tensor *d_h = ae_f32(s, 3, f->final->shape), *wl = ae_value(t, "to_coor_logits.0.weight");
    NEED(s, d_logits, d_logits3, d_h, wl);
    float scale = f->coordinates ? grad_scale / (float)f->coordinates : 0.0f;
    OK(mg_op_recon_loss_backward(ctx, f->logits, f->target_tensor, c->bin_smooth_blur_sigma, scale, d_logits));
    OK(mg_op_matmul_backward(ctx, f->final, wl, true, d_logits3, d_h, ae_grad(t, "to_coor_logits.0.weight"),
                             ae_grad(t, "to_coor_logits.0.bias")));
    OK(mg_op_mask_rows_backward(ctx, f->face_mask, d_h, d_h));
    for (int i = c->decoder_depth - 2; i >= 0; i--) {
        mg_tensor *d_x = ae_f32(s, 3, f->resnet[i].x->shape);
        NEED(s, d_x);
        OK(resnet_backward(t, f, &f->resnet[i], d_h, d_x));
        d_h = d_x;
    }
    mg_tensor *d_silu = ae_f32(s, 3, f->init_silu->shape), *d_in = ae_f32(s, 3, f->decoder_in->shape);
    int64_t rows_shape[2] = {batch * n * fs, c->dim_codebook};
    mg_tensor *d_rows = ae_view(s, d_in, 2, rows_shape);
    mg_tensor *gamma = ae_value(t, "init_decoder_conv.3.weight"), *w = ae_value(t, "init_decoder_conv.0.weight");
    *d_quantized = ae_f32(s, 2, f->quantized->shape);
    NEED(s, d_silu, d_in, d_rows, gamma, w, *d_quantized);
    OK(mg_op_layer_norm_backward(ctx, f->init_silu, gamma, 1e-5f, 0.0f, d_h, d_silu,
                                 ae_grad(t, "init_decoder_conv.3.weight"), ae_grad(t, "init_decoder_conv.3.bias")));
    OK(mg_op_unary_backward(ctx, MG_UNARY_SILU, f->init_conv, 0.0f, d_silu, d_silu));
    OK(mg_op_conv1d_backward(ctx, f->decoder_in, w, f->face_mask, d_silu, d_in,
                             ae_grad(t, "init_decoder_conv.0.weight"), ae_grad(t, "init_decoder_conv.0.bias")));
    /* the corners' gradients summed onto their vertices (the gather's backward; pad corners drop out) */
    OK(mg_tensor_fill_u32(*d_quantized, 0));
    return mg_op_embedding_backward_ids(ctx, d_rows, f->slot_vertex, (size_t)(batch * n * fs), *d_quantized);
}

/* ---- quantizer and face corners ---- */

/* ResidualLFQ: from d_quantized to the gradient of the quantizer's input *d_vertex [V, dim_codebook]. */
static mg_status lfq_backward(const ae_train *t, ae_forward *f, float grad_scale, mg_tensor *d_quantized,
                              mg_tensor **d_vertex)
{
    const mg_ae_config *c = &t->config;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const bool projects = ae_lfq_projects(c);
    mg_tensor *d_values = d_quantized;
    if (projects) {
        mg_tensor *w_out = ae_value(t, "quantizer.project_out.weight");
        d_values = ae_f32(s, 2, f->lfq_values->shape);
        NEED(s, w_out, d_values);
        OK(mg_op_matmul_backward(ctx, f->lfq_values, w_out, true, d_quantized, d_values,
                                 ae_grad(t, "quantizer.project_out.weight"), ae_grad(t, "quantizer.project_out.bias")));
    }
    /* straight-through estimator plus the aux losses' gradient (weighted by commit_loss_weight) */
    mg_lfq_loss_params lp = ae_lfq_params(c);
    mg_tensor *d_lfq_in = ae_f32(s, 2, f->lfq_in->shape);
    NEED(s, d_lfq_in);
    OK(mg_op_lfq_backward(ctx, f->lfq_in, f->lfq_mask, &lp, d_values, grad_scale * c->commit_loss_weight,
                          d_lfq_in));
    *d_vertex = d_lfq_in;
    if (!projects)
        return MG_OK;
    mg_tensor *w_in = ae_value(t, "quantizer.project_in.weight");
    *d_vertex = ae_f32(s, 2, f->vertex_embed->shape);
    NEED(s, w_in, *d_vertex);
    return mg_op_matmul_backward(ctx, f->vertex_embed, w_in, true, d_lfq_in, *d_vertex,
                                 ae_grad(t, "quantizer.project_in.weight"), ae_grad(t, "quantizer.project_in.bias"));
}

/* From d_quantized to the encoder output's gradient *d_encoded [F, encoder_dims[last]]. */
static mg_status quantizer_backward(const ae_train *t, const mg_train_batch *batch, ae_forward *f,
                                    float grad_scale, mg_tensor *d_quantized, mg_tensor **d_encoded)
{
    const mg_ae_config *c = &t->config;
    const mg_mesh_batch *p = &batch->packed;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    mg_tensor *d_vertex = NULL;
    if (c->use_residual_lfq) {
        OK(lfq_backward(t, f, grad_scale, d_quantized, &d_vertex));
    } else {
        d_vertex = ae_f32(s, 2, f->vertex_embed->shape);
        NEED(s, d_vertex);
        OK(ae_rvq_backward(t, f, grad_scale, d_quantized, d_vertex));
    }
    const size_t slots = f->faces * f->face_size;
    mg_tensor *t_offsets = NULL, *t_sources = NULL;
    OK(transpose_list(ctx, s, p->corner_offsets, f->vertices, p->corners, slots, &t_offsets, &t_sources));
    mg_tensor *d_corners = ae_f32(s, 2, f->corners->shape);
    int64_t rows_shape[2] = {(int64_t)slots, c->dim_codebook};
    mg_tensor *d_rows = ae_view(s, d_corners, 2, rows_shape);
    mg_tensor *w = ae_value(t, "project_dim_codebook.weight");
    *d_encoded = ae_f32(s, 2, f->encoded->shape);
    NEED(s, d_corners, d_rows, w, *d_encoded);
    OK(mg_op_gather_mean_backward(ctx, f->corner_offsets, t_offsets, t_sources, d_vertex, d_rows));
    return mg_op_matmul_backward(ctx, f->encoded, w, true, d_corners, *d_encoded,
                                 ae_grad(t, "project_dim_codebook.weight"), ae_grad(t, "project_dim_codebook.bias"));
}

/* ---- encoder ---- */

static mg_status sage_backward(const ae_train *t, ae_forward *f, const ae_sage_acts *a, mg_tensor *t_offsets,
                               mg_tensor *t_sources, mg_tensor *d_out, mg_tensor *d_x)
{
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    const char *l = a->layer;
    mg_tensor *d_sum = ae_f32(s, 2, a->sum->shape), *d_mean = ae_f32(s, 2, a->mean->shape);
    mg_tensor *d_projected = ae_f32(s, 2, a->projected->shape), *d_x_lin = ae_f32(s, 2, a->x->shape);
    mg_tensor *w = ae_value(t, "%s.lin.weight", l), *wl = ae_value(t, "%s.lin_l.weight", l);
    mg_tensor *wr = ae_value(t, "%s.lin_r.weight", l);
    NEED(s, d_sum, d_mean, d_projected, d_x_lin, w, wl, wr);
    OK(mg_op_l2_normalize_backward(ctx, a->sum, NULL, 1e-12f, 1.0f, 0.0f, d_out, d_sum, NULL));
    OK(mg_op_matmul_backward(ctx, a->mean, wl, true, d_sum, d_mean, ae_grad(t, "%s.lin_l.weight", l),
                             ae_grad(t, "%s.lin_l.bias", l)));
    OK(mg_op_matmul_backward(ctx, a->x, wr, true, d_sum, d_x, ae_grad(t, "%s.lin_r.weight", l), NULL));
    OK(mg_op_gather_mean_backward(ctx, f->adj_offsets, t_offsets, t_sources, d_mean, d_projected));
    /* relu'(pre-activation) = [projected > 0]: the kept output serves as the input */
    OK(mg_op_unary_backward(ctx, MG_UNARY_RELU, a->projected, 0.0f, d_projected, d_projected));
    OK(mg_op_matmul_backward(ctx, a->x, w, true, d_projected, d_x_lin, ae_grad(t, "%s.lin.weight", l),
                             ae_grad(t, "%s.lin.bias", l)));
    return mg_op_add(ctx, d_x, d_x_lin, d_x);
}

static mg_status embedding_backward(const ae_train *t, ae_forward *f, const char *table, const int32_t *ids,
                                    int64_t per_face, mg_tensor *d_concat, size_t *column)
{
    ae_store *s = &f->store;
    mg_tensor *weight = ae_value(t, "%s.weight", table);
    NEED(s, weight);
    const int64_t faces = (int64_t)f->faces, dim = weight->shape[1];
    mg_tensor *d_flat = ae_f32_2d(s, faces, per_face * dim);
    int64_t rows_shape[2] = {faces * per_face, dim};
    mg_tensor *d_rows = ae_view(s, d_flat, 2, rows_shape);
    NEED(s, d_flat, d_rows);
    OK(mg_op_copy_columns_backward(t->base.ctx, d_concat, *column, d_flat));
    *column += (size_t)(per_face * dim);
    mg_tensor *d_table = ae_grad(t, "%s.weight", table);
    if (!d_table)
        return MG_OK;
    return mg_op_embedding_backward_ids(t->base.ctx, d_rows, ids, (size_t)(faces * per_face), d_table);
}

static mg_status encoder_backward(const ae_train *t, const mg_train_batch *batch, ae_forward *f,
                                  mg_tensor *d_encoded)
{
    const mg_ae_config *c = &t->config;
    const mg_mesh_batch *p = &batch->packed;
    mg_context *ctx = t->base.ctx;
    ae_store *s = &f->store;
    mg_tensor *t_offsets = NULL, *t_sources = NULL;
    OK(transpose_list(ctx, s, p->adjacency.offsets, f->faces, p->adjacency.neighbors, f->faces, &t_offsets,
                      &t_sources));
    mg_tensor *d = d_encoded;
    for (int i = c->encoder_depth - 1; i >= 1; i--) {
        mg_tensor *d_x = ae_f32(s, 2, f->sage[i].x->shape);
        NEED(s, d_x);
        OK(sage_backward(t, f, &f->sage[i], t_offsets, t_sources, d, d_x));
        d = d_x;
    }
    mg_tensor *d_silu = ae_f32(s, 2, f->init_silu_out->shape), *d_x0 = ae_f32(s, 2, f->embedded_in->shape);
    mg_tensor *d_concat = ae_f32(s, 2, f->concat->shape);
    mg_tensor *gamma = ae_value(t, "init_encoder_act_and_norm.1.weight"), *w_in = ae_value(t, "project_in.weight");
    NEED(s, d_silu, d_x0, d_concat, gamma, w_in);
    OK(mg_op_layer_norm_backward(ctx, f->init_silu_out, gamma, 1e-5f, 0.0f, d, d_silu,
                                 ae_grad(t, "init_encoder_act_and_norm.1.weight"),
                                 ae_grad(t, "init_encoder_act_and_norm.1.bias")));
    OK(mg_op_unary_backward(ctx, MG_UNARY_SILU, f->sage[0].out, 0.0f, d_silu, d_silu));
    OK(sage_backward(t, f, &f->sage[0], t_offsets, t_sources, d_silu, d_x0));
    OK(mg_op_matmul_backward(ctx, f->concat, w_in, true, d_x0, d_concat, ae_grad(t, "project_in.weight"),
                             ae_grad(t, "project_in.bias")));
    const int64_t fs = (int64_t)f->face_size;
    size_t column = 0;
    OK(embedding_backward(t, f, "coor_embed", f->ids.coords, fs * 3, d_concat, &column));
    OK(embedding_backward(t, f, "angle_embed", f->ids.angles, fs, d_concat, &column));
    OK(embedding_backward(t, f, "area_embed", f->ids.area, 1, d_concat, &column));
    return embedding_backward(t, f, "normal_embed", f->ids.normals, 3, d_concat, &column);
}

mg_status ae_backward_encoder(const ae_train *t, const mg_train_batch *batch, ae_forward *f, float grad_scale,
                              mg_tensor *d_quantized)
{
    mg_tensor *d_encoded = NULL;
    OK(quantizer_backward(t, batch, f, grad_scale, d_quantized, &d_encoded));
    return encoder_backward(t, batch, f, d_encoded);
}

mg_status ae_backward_run(const ae_train *t, const mg_train_batch *batch, ae_forward *f, float grad_scale)
{
    mg_tensor *d_quantized = NULL;
    OK(ae_backward_decoder(t, f, grad_scale, &d_quantized));
    return ae_backward_encoder(t, batch, f, grad_scale, d_quantized);
}
