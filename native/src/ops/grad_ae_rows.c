/* Backward of the autoencoder's row and graph ops: masked mean, channel gates,
 * row masks, column copies and the CSR gather-mean. */
#include "ops/grad_ae_common.h"

#include <stdlib.h>
#include <string.h>

static mg_status shape_error(mg_context *ctx, const char *op, const char *what, const mg_tensor *t)
{
    char shape[64];
    mg_shape_string(t, shape, sizeof shape);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s", op, what, shape);
}

static bool has_shape(const mg_tensor *t, int ndim, const int64_t *shape)
{
    return t->ndim == ndim && memcmp(t->shape, shape, (size_t)ndim * sizeof shape[0]) == 0;
}

static mg_status check_count(mg_context *ctx, const char *op, const mg_tensor *t)
{
    if (t && t->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: tensors of more than 2^32 elements are not supported", op);
    return MG_OK;
}

/* ------------------------------------------------------------------------ */

mg_status mg_op_masked_mean_backward(mg_context *ctx, const mg_tensor *mask, float eps, const mg_tensor *d_out,
                                     mg_tensor *d_x)
{
    const char *op = "masked_mean_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK) ||
        (status = check_count(ctx, op, d_x)) != MG_OK)
        return status;
    if (d_x->ndim != 3)
        return shape_error(ctx, op, "d_x must be [B, N, C] but", d_x);
    const int64_t b_c[2] = {d_x->shape[0], d_x->shape[2]}, b_n[2] = {d_x->shape[0], d_x->shape[1]};
    if (!has_shape(d_out, 2, b_c))
        return shape_error(ctx, op, "d_out must be [B, C] (d_x's batch and channels) but", d_out);
    if (mask && !has_shape(mask, 2, b_n))
        return shape_error(ctx, op, "mask must be [B, N] but", mask);
    if (!(eps >= 0.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: eps must be a non-negative number", op);
    const mg_tensor *inputs[] = {mask, d_out};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 2, &d_x, 1)) != MG_OK)
        return status;
    size_t batch = (size_t)d_x->shape[0], n = (size_t)d_x->shape[1], c = (size_t)d_x->shape[2];
    if (!ctx->gpu) {
        mg_ref_masked_mean_backward(batch, n, c, mg_i32_of(mask), eps, mg_f32_of(d_out), mg_f32_of(d_x));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t mask_offset, dy_offset, dx_offset, n, c, has_mask;
        float eps;
    } p = {.n = (uint32_t)n, .c = (uint32_t)c, .has_mask = mask != NULL, .eps = eps};
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind(ctx, &d, d_out, false); /* a placeholder: the shader reads no mask */
    p.dy_offset = mg_bind(ctx, &d, d_out, false);
    p.dx_offset = mg_bind(ctx, &d, d_x, true);
    const uint32_t per_invocation = 4;
    uint32_t wg = mg_workgroup_size(ctx, 256);
    uint64_t groups = ((uint64_t)n * c + (uint64_t)wg * per_invocation - 1) / ((uint64_t)wg * per_invocation);
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    if (groups > limits->max_workgroup_count[0] || batch > limits->max_workgroup_count[1])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: [%zu, %zu, %zu] gradients are too many for one dispatch",
                       op, batch, n, c);
    d.shader = MG_SHADER_GRAD_MASKED_MEAN;
    d.spec[0] = wg;
    d.spec[1] = per_invocation;
    d.spec_count = 2;
    d.groups[0] = (uint32_t)groups;
    d.groups[1] = (uint32_t)batch;
    d.groups[2] = 1;
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}

/* ------------------------------------------------------------------------ */

mg_status mg_op_scale_channels_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gate,
                                        const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gate)
{
    const char *op = "scale_channels_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = check_count(ctx, op, d_out)) != MG_OK)
        return status;
    if (d_out->ndim != 3)
        return shape_error(ctx, op, "d_out must be [B, N, C] but", d_out);
    const int64_t b_c[2] = {d_out->shape[0], d_out->shape[2]};
    if (d_x) {
        if ((status = mg_check_tensor(ctx, op, "gate", gate, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (!has_shape(gate, 2, b_c))
            return shape_error(ctx, op, "gate must be [B, C] but", gate);
        if (!has_shape(d_x, 3, d_out->shape))
            return shape_error(ctx, op, "d_x must be d_out's shape but", d_x);
    }
    if (d_gate) {
        if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_check_tensor(ctx, op, "d_gate", d_gate, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (!has_shape(x, 3, d_out->shape))
            return shape_error(ctx, op, "x must be d_out's shape but", x);
        if (!has_shape(d_gate, 2, b_c))
            return shape_error(ctx, op, "d_gate must be [B, C] but", d_gate);
    }
    const mg_tensor *inputs[] = {d_x ? gate : NULL, d_gate ? x : NULL, d_out};
    mg_tensor *outputs[] = {d_x, d_gate};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 3, outputs, 2)) != MG_OK)
        return status;
    size_t batch = (size_t)d_out->shape[0], n = (size_t)d_out->shape[1], c = (size_t)d_out->shape[2];
    if (!ctx->gpu) {
        mg_ref_scale_channels_backward(batch, n, c, d_gate ? mg_f32_of(x) : NULL, d_x ? mg_f32_of(gate) : NULL,
                                       mg_f32_of(d_out), d_x ? mg_f32_of(d_x) : NULL,
                                       d_gate ? mg_f32_of(d_gate) : NULL);
        return MG_OK;
    }
    /* d_x is the forward op on d_out; d_gate a sum over the positions of each batch element. */
    if (d_x && (status = mg_op_scale_channels(ctx, d_out, gate, d_x)) != MG_OK)
        return status;
    if (d_gate)
        status = mg_grad_ae_sum_rows(ctx, d_out, x, batch, n, c, false, d_gate);
    return status;
}

mg_status mg_op_mask_rows_backward(mg_context *ctx, const mg_tensor *mask, const mg_tensor *d_out, mg_tensor *d_x)
{
    /* y = mask ? x : 0 is linear and diagonal: its backward is itself. */
    return mg_op_mask_rows(ctx, d_out, mask, d_x);
}

/* ------------------------------------------------------------------------ */

mg_status mg_op_copy_columns_backward(mg_context *ctx, const mg_tensor *d_dst, size_t column_offset,
                                      mg_tensor *d_src)
{
    const char *op = "copy_columns_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_dst", d_dst, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_src", d_src, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "d_dst", d_dst, d_src)) != MG_OK ||
        (status = check_count(ctx, op, d_dst)) != MG_OK)
        return status;
    size_t w = mg_last_dim(d_src), width = mg_last_dim(d_dst), rows = mg_rows(d_src);
    bool same_rows = d_src->ndim == d_dst->ndim;
    for (int i = 0; same_rows && i < d_src->ndim - 1; i++)
        same_rows = d_src->shape[i] == d_dst->shape[i];
    if (!same_rows || column_offset > width || w > width - column_offset) {
        char ss[64], ds[64];
        mg_shape_string(d_src, ss, sizeof ss);
        mg_shape_string(d_dst, ds, sizeof ds);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: d_src %s is not a column slice of d_dst %s at column %zu (same leading dimensions and "
                       "column_offset + %zu <= %zu needed)", op, ss, ds, column_offset, w, width);
    }
    if (!ctx->gpu) {
        mg_ref_copy_columns_backward(rows, w, width, column_offset, mg_f32_of(d_dst), mg_f32_of(d_src));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t ddst_offset, dsrc_offset, count, w, width, column_offset;
    } p = {.count = (uint32_t)d_src->count, .w = (uint32_t)w, .width = (uint32_t)width,
           .column_offset = (uint32_t)column_offset};
    p.ddst_offset = mg_bind(ctx, &d, d_dst, false);
    p.dsrc_offset = mg_bind(ctx, &d, d_src, true);
    d.shader = MG_SHADER_GRAD_COPY_COLUMNS;
    d.spec[0] = mg_workgroup_size(ctx, 256);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, (d_src->count + d.spec[0] - 1) / d.spec[0]);
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}

/* ------------------------------------------------------------------------ */

mg_status mg_gather_mean_transpose(mg_context *ctx, const int32_t *offsets, size_t m_count, const int32_t *indices,
                                   size_t rows, int32_t *t_offsets, int32_t *t_sources)
{
    const char *op = "gather_mean_transpose";
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!offsets || !t_offsets || (!indices && m_count && offsets[m_count] > offsets[0]))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: offsets, indices and t_offsets are required", op);
    if (offsets[0] < 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: offsets[0] is %d but must be >= 0", op, offsets[0]);
    for (size_t m = 0; m < m_count; m++)
        if (offsets[m + 1] < offsets[m])
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: offsets must not decrease, but offsets[%zu] = %d < offsets[%zu] = %d", op, m + 1,
                           offsets[m + 1], m, offsets[m]);
    if (rows > INT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: more than 2^31 source rows", op);
    size_t first = (size_t)offsets[0], end = (size_t)offsets[m_count];
    for (size_t p = first; p < end; p++)
        if (indices[p] < 0 || (size_t)indices[p] >= rows)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: indices[%zu] = %d is outside the %zu source rows", op, p, indices[p], rows);
    /* Counting sort by source row; entries of a row keep their order p, so the gather sums in a fixed order. */
    memset(t_offsets, 0, (rows + 1) * sizeof *t_offsets);
    for (size_t p = first; p < end; p++)
        t_offsets[indices[p] + 1]++;
    for (size_t r = 0; r < rows; r++)
        t_offsets[r + 1] += t_offsets[r];
    int32_t *next = malloc((rows ? rows : 1) * sizeof *next);
    if (!next)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu rows", op, rows);
    memcpy(next, t_offsets, rows * sizeof *next);
    for (size_t m = 0; m < m_count; m++)
        for (int32_t p = offsets[m]; p < offsets[m + 1]; p++)
            t_sources[next[indices[p]]++] = (int32_t)m;
    free(next);
    return MG_OK;
}

mg_status mg_op_gather_mean_backward(mg_context *ctx, const mg_tensor *offsets, const mg_tensor *t_offsets,
                                     const mg_tensor *t_sources, const mg_tensor *d_out, mg_tensor *d_src)
{
    const char *op = "gather_mean_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "offsets", offsets, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "t_offsets", t_offsets, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "t_sources", t_sources, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_src", d_src, MG_DTYPE_F32, false)) != MG_OK ||
        (status = check_count(ctx, op, d_src)) != MG_OK || (status = check_count(ctx, op, d_out)) != MG_OK ||
        (status = check_count(ctx, op, t_sources)) != MG_OK)
        return status;
    if (d_out->ndim != 2 || offsets->ndim != 1 || (size_t)d_out->shape[0] + 1 != offsets->count)
        return shape_error(ctx, op, "d_out must be [M, D] for offsets [M + 1] but", d_out);
    if (d_src->ndim != 2 || d_src->shape[1] != d_out->shape[1] || t_offsets->ndim != 1 ||
        (size_t)d_src->shape[0] + 1 != t_offsets->count)
        return shape_error(ctx, op, "d_src must be [R, D] for t_offsets [R + 1] and d_out's D but", d_src);
    if (t_sources->ndim != 1)
        return shape_error(ctx, op, "t_sources must be [nnz] but", t_sources);
    const mg_tensor *inputs[] = {offsets, t_offsets, t_sources, d_out};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 4, &d_src, 1)) != MG_OK)
        return status;
    size_t rows = (size_t)d_src->shape[0], dim = (size_t)d_src->shape[1], m = (size_t)d_out->shape[0];
    size_t nnz = t_sources->count;
    if (!ctx->gpu) {
        /* The CPU backend checks the lists it is handed (the shader clamps instead). */
        const int32_t *to = mg_i32_of(t_offsets), *ts = mg_i32_of(t_sources), *fo = mg_i32_of(offsets);
        if (to[0] < 0 || (size_t)to[rows] > nnz)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: t_offsets must lie within the %zu t_sources", op,
                           nnz);
        for (size_t r = 0; r < rows; r++) {
            if (to[r + 1] < to[r])
                return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: t_offsets must not decrease (at %zu)", op,
                               r + 1);
            for (int32_t q = to[r]; q < to[r + 1]; q++)
                if (ts[q] < 0 || (size_t)ts[q] >= m || fo[ts[q] + 1] <= fo[ts[q]])
                    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                                   "%s: t_sources[%d] = %d is not an output row with sources (build the list with "
                                   "mg_gather_mean_transpose)", op, q, ts[q]);
        }
        mg_ref_gather_mean_backward(rows, dim, fo, to, ts, mg_f32_of(d_out), mg_f32_of(d_src));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t offsets_offset, t_offsets_offset, t_sources_offset, dy_offset, dsrc_offset, r, d, m, nnz;
    } p = {.r = (uint32_t)rows, .d = (uint32_t)dim, .m = (uint32_t)m, .nnz = (uint32_t)nnz};
    p.offsets_offset = mg_bind(ctx, &d, offsets, false);
    p.t_offsets_offset = mg_bind(ctx, &d, t_offsets, false);
    p.t_sources_offset = mg_bind(ctx, &d, t_sources, false);
    p.dy_offset = mg_bind(ctx, &d, d_out, false);
    p.dsrc_offset = mg_bind(ctx, &d, d_src, true);
    bool cpu = mg_device_is_cpu(ctx);
    uint32_t wanted = cpu ? 8 : 32;
    while (wanted < (cpu ? 64u : 128u) && wanted < dim)
        wanted *= 2;
    d.shader = MG_SHADER_GRAD_GATHER_MEAN;
    d.spec[0] = mg_workgroup_size(ctx, wanted);
    d.spec_count = 1;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint64_t column_groups = (dim + d.spec[0] - 1) / d.spec[0];
    uint64_t max_y = limits->max_workgroup_count[1];
    uint64_t rows_z = (rows + max_y - 1) / max_y;
    if (column_groups > limits->max_workgroup_count[0] || rows_z > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: [%zu, %zu] gradients are too many for one dispatch", op,
                       rows, dim);
    d.groups[0] = (uint32_t)column_groups;
    d.groups[1] = (uint32_t)(rows < max_y ? rows : max_y);
    d.groups[2] = (uint32_t)rows_z;
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}
