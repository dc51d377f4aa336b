/* The residual quantizer: lookup-free (ResidualLFQ, the default) or a shared
 * Euclidean codebook (ResidualVQ), in eval mode. */
#include "model/autoencoder.h"

#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

/* ResidualVQ with shared_codebook=True: every level reads layer 0's codebook. */
static mg_tensor *shared_codebook(const mg_autoencoder *ae, mg_scratch *scratch)
{
    mg_tensor *embed = mg_ae_weight(ae, "quantizer.layers.0._codebook.embed");
    if (!embed)
        return NULL;
    int64_t shape[2] = {embed->shape[embed->ndim - 2], embed->shape[embed->ndim - 1]};
    return mg_scratch_view(scratch, embed, 2, shape);
}

/* ResidualLFQ has project_in/project_out only when log2(codebook_size) differs from dim_codebook. */
static bool lfq_projects(const mg_autoencoder *ae)
{
    return mg_ae_config_code_dim(&ae->config) != ae->config.dim_codebook;
}

static mg_status quantize_lfq(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *x, mg_tensor *indices,
                              mg_tensor **quantized)
{
    mg_context *ctx = ae->ctx;
    const int64_t rows = x->shape[0], code_dim = mg_ae_config_code_dim(&ae->config);
    const bool projects = lfq_projects(ae);
    mg_tensor *projected = projects ? mg_scratch_2d(scratch, MG_DTYPE_F32, rows, code_dim) : x;
    mg_tensor *values = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, code_dim);
    if (!projected || !values)
        return scratch->status;
    mg_status status = MG_OK;
    if (projects)
        status = mg_op_matmul(ctx, x, mg_ae_weight(ae, "quantizer.project_in.weight"),
                              mg_ae_weight(ae, "quantizer.project_in.bias"), true, projected);
    if (status == MG_OK)
        status = mg_op_lfq_quantize(ctx, projected, ae->config.num_quantizers, ae->config.lfq_soft_clamp, values,
                                    indices);
    if (status != MG_OK || !quantized)
        return status;
    if (!projects) {
        *quantized = values;
        return MG_OK;
    }
    *quantized = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, x->shape[1]);
    if (!*quantized)
        return scratch->status;
    return mg_op_matmul(ctx, values, mg_ae_weight(ae, "quantizer.project_out.weight"),
                        mg_ae_weight(ae, "quantizer.project_out.bias"), true, *quantized);
}

static mg_status quantize_vq(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *x, mg_tensor *indices,
                             mg_tensor **quantized)
{
    mg_context *ctx = ae->ctx;
    const int64_t rows = x->shape[0], dim = x->shape[1];
    const int levels = ae->config.num_quantizers;
    mg_tensor *codebook = shared_codebook(ae, scratch);
    mg_tensor *residual = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, dim);
    mg_tensor *chosen = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, dim);
    mg_tensor *sum = mg_scratch_2d(scratch, MG_DTYPE_F32, rows, dim);
    int64_t level_shape[1] = {rows};
    mg_tensor *level_ids = mg_scratch_tensor(scratch, MG_DTYPE_I32, 1, level_shape);
    int32_t *level_host = malloc((size_t)rows * sizeof(int32_t));
    int32_t *all_host = malloc((size_t)rows * (size_t)levels * sizeof(int32_t));
    mg_status status = scratch->status;
    if (status == MG_OK && (!level_host || !all_host))
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the codes");
    if (status == MG_OK && !codebook)
        status = MG_ERR_INTERNAL;
    if (status == MG_OK)
        status = mg_op_scale(ctx, x, 1.0f, 0.0f, residual);
    if (status == MG_OK)
        status = mg_tensor_fill_u32(sum, 0);
    for (int q = 0; q < levels && status == MG_OK; q++) {
        status = mg_op_vq_nearest(ctx, residual, codebook, level_ids);
        if (status == MG_OK)
            status = mg_op_embedding(ctx, codebook, level_ids, chosen);
        if (status == MG_OK)
            status = mg_op_binary(ctx, MG_BINARY_SUB, residual, chosen, residual);
        if (status == MG_OK)
            status = mg_op_add(ctx, sum, chosen, sum);
        if (status == MG_OK)
            status = mg_tensor_read(level_ids, level_host, level_ids->nbytes);
        for (int64_t r = 0; r < rows && status == MG_OK; r++)
            all_host[r * levels + q] = level_host[r];
    }
    if (status == MG_OK)
        status = mg_tensor_write(indices, all_host, indices->nbytes);
    if (status == MG_OK && quantized)
        *quantized = sum;
    free(level_host);
    free(all_host);
    return status;
}

mg_status mg_ae_quantize(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *vertices, mg_tensor **indices,
                         mg_tensor **quantized)
{
    *indices = mg_scratch_2d(scratch, MG_DTYPE_I32, vertices->shape[0], ae->config.num_quantizers);
    if (!*indices)
        return scratch->status;
    if (ae->config.use_residual_lfq)
        return quantize_lfq(ae, scratch, vertices, *indices, quantized);
    return quantize_vq(ae, scratch, vertices, *indices, quantized);
}

mg_status mg_ae_dequantize(const mg_autoencoder *ae, mg_scratch *scratch, const int32_t *codes, size_t rows,
                           mg_tensor **out)
{
    mg_context *ctx = ae->ctx;
    const int levels = ae->config.num_quantizers;
    const int64_t dim = ae->config.dim_codebook;
    *out = mg_scratch_2d(scratch, MG_DTYPE_F32, (int64_t)rows, dim);
    if (!*out)
        return scratch->status;
    if (ae->config.use_residual_lfq) {
        int64_t code_shape[2] = {(int64_t)rows, levels};
        mg_tensor *ids = mg_scratch_i32(scratch, codes, 2, code_shape);
        const bool projects = lfq_projects(ae);
        mg_tensor *values =
            projects ? mg_scratch_2d(scratch, MG_DTYPE_F32, (int64_t)rows, mg_ae_config_code_dim(&ae->config)) : *out;
        if (!ids || !values)
            return scratch->status;
        mg_status status = mg_op_lfq_dequantize(ctx, ids, values);
        if (status != MG_OK || !projects)
            return status;
        /* A missing code contributes zeros, so its row is project_out's bias, as upstream. */
        return mg_op_matmul(ctx, values, mg_ae_weight(ae, "quantizer.project_out.weight"),
                            mg_ae_weight(ae, "quantizer.project_out.bias"), true, *out);
    }
    mg_tensor *codebook = shared_codebook(ae, scratch);
    mg_tensor *chosen = mg_scratch_2d(scratch, MG_DTYPE_F32, (int64_t)rows, dim);
    int64_t level_shape[1] = {(int64_t)rows};
    mg_tensor *level_ids = mg_scratch_tensor(scratch, MG_DTYPE_I32, 1, level_shape);
    int32_t *level_host = malloc(rows * sizeof(int32_t));
    mg_status status = scratch->status;
    if (status == MG_OK && !level_host)
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the codes");
    if (status == MG_OK && !codebook)
        status = MG_ERR_INTERNAL;
    if (status == MG_OK)
        status = mg_tensor_fill_u32(*out, 0);
    for (int q = 0; q < levels && status == MG_OK; q++) {
        for (size_t r = 0; r < rows; r++)
            level_host[r] = codes[r * (size_t)levels + (size_t)q];
        status = mg_tensor_write(level_ids, level_host, level_ids->nbytes);
        /* Missing (-1) or out-of-range ids embed as zeros, as upstream's masked_fill. */
        if (status == MG_OK)
            status = mg_op_embedding(ctx, codebook, level_ids, chosen);
        if (status == MG_OK)
            status = mg_op_add(ctx, *out, chosen, *out);
    }
    free(level_host);
    return status;
}
