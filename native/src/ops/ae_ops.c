/* The autoencoder's row and graph ops: masked mean (squeeze-excite), channel
 * gates, row masks, CSR gather-mean (SAGEConv, scatter-mean) and column copies
 * (concatenation). */
#include "ops/op_common.h"

#include <string.h>

static mg_status shape_error(mg_context *ctx, const char *op, const char *what, const mg_tensor *t)
{
    char shape[64];
    mg_shape_string(t, shape, sizeof shape);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s", op, what, shape);
}

/* t's shape is x's without dimension `skip` (counted from the front). */
static bool shape_without(const mg_tensor *x, int skip, const mg_tensor *t)
{
    if (t->ndim != x->ndim - 1)
        return false;
    for (int i = 0, j = 0; i < x->ndim; i++) {
        if (i == skip)
            continue;
        if (t->shape[j++] != x->shape[i])
            return false;
    }
    return true;
}

static mg_status check_count(mg_context *ctx, const char *op, const mg_tensor *t)
{
    if (t && t->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: tensors of more than 2^32 elements are not supported", op);
    return MG_OK;
}

static void finish_dispatch(mg_gpu_dispatch *d, const void *push, size_t size)
{
    memcpy(d->push, push, size);
    d->push_size = (uint32_t)size;
}

/* ------------------------------------------------------------------------ */

mg_status mg_op_masked_mean(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, float eps, mg_tensor *out)
{
    const char *op = "masked_mean";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK) ||
        (status = mg_check_no_alias(ctx, op, "x", x, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "mask", mask, out)) != MG_OK || (status = check_count(ctx, op, x)) != MG_OK)
        return status;
    if (x->ndim != 3)
        return shape_error(ctx, op, "x must be [B, N, C] but", x);
    if (mask && !shape_without(x, 2, mask))
        return shape_error(ctx, op, "mask must be [B, N] (x's shape without channels) but", mask);
    if (!shape_without(x, 1, out))
        return shape_error(ctx, op, "out must be [B, C] but", out);
    if (!(eps >= 0.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "masked_mean: eps must be a non-negative number");
    size_t batch = (size_t)x->shape[0], n = (size_t)x->shape[1], c = (size_t)x->shape[2];
    if (!ctx->gpu) {
        mg_ref_masked_mean(batch, n, c, mg_f32_of(x), mg_i32_of(mask), eps, mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, mask_offset, y_offset, n, c, has_mask;
        float eps;
    } p = {.n = (uint32_t)n, .c = (uint32_t)c, .has_mask = mask != NULL, .eps = eps};
    p.x_offset = mg_bind(ctx, &d, x, false);
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);
    /* 32 or 64 channels per workgroup (one per invocation, coalesced), rows in
     * LANES interleaved streams: 4 on GPUs (more invocations for one long
     * reduction), 1 on CPU devices (no shared-memory pass worth having). */
    uint32_t cols = c <= 32 ? 32 : 64;
    uint32_t lanes = mg_device_is_cpu(ctx) ? 1 : 4;
    uint32_t wg = mg_workgroup_size(ctx, cols * lanes);
    while (cols * lanes > wg) {
        if (lanes > 1)
            lanes /= 2;
        else
            cols /= 2;
    }
    d.shader = MG_SHADER_MASKED_MEAN;
    d.spec[0] = cols * lanes;
    d.spec[1] = cols;
    d.spec[2] = lanes;
    d.spec_count = 3;
    d.groups[0] = (uint32_t)((c + cols - 1) / cols);
    d.groups[1] = (uint32_t)batch;
    d.groups[2] = 1;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    if (d.groups[0] > limits->max_workgroup_count[0] || d.groups[1] > limits->max_workgroup_count[1])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "masked_mean: [%zu, %zu] outputs are too many for one dispatch",
                       batch, c);
    finish_dispatch(&d, &p, sizeof p);
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

/* ------------------------------------------------------------------------ */

/* scale_rows.comp: MODE 0 gates channels, MODE 1 masks rows. */
static mg_status scale_rows(mg_context *ctx, uint32_t mode, const mg_tensor *x, const mg_tensor *gate,
                            const mg_tensor *mask, size_t rows_per_batch, mg_tensor *out)
{
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, gate_offset, mask_offset, y_offset, count, c, rows_per_batch;
    } p = {.count = (uint32_t)x->count, .c = (uint32_t)mg_last_dim(x), .rows_per_batch = (uint32_t)rows_per_batch};
    bool in_place = x->storage == out->storage;
    p.x_offset = mg_bind(ctx, &d, x, in_place);
    if (gate)
        p.gate_offset = mg_bind(ctx, &d, gate, false);
    else
        mg_bind_none(ctx, &d);
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_SCALE_ROWS;
    d.spec[0] = mg_workgroup_size(ctx, 256);
    d.spec[1] = mode;
    d.spec_count = 2;
    mg_grid_1d(ctx, &d, (x->count + d.spec[0] - 1) / d.spec[0]);
    finish_dispatch(&d, &p, sizeof p);
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

/* In place (out == x) or out apart from x; a partial overlap is refused. */
static mg_status check_in_place(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *out)
{
    if (x->storage == out->storage && x->byte_offset == out->byte_offset)
        return MG_OK;
    return mg_check_no_alias(ctx, op, "x", x, out);
}

mg_status mg_op_scale_channels(mg_context *ctx, const mg_tensor *x, const mg_tensor *gate, mg_tensor *out)
{
    const char *op = "scale_channels";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "gate", gate, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, out)) != MG_OK ||
        (status = check_in_place(ctx, op, x, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "gate", gate, out)) != MG_OK ||
        (status = check_count(ctx, op, x)) != MG_OK)
        return status;
    if (x->ndim != 3)
        return shape_error(ctx, op, "x must be [B, N, C] but", x);
    if (!shape_without(x, 1, gate))
        return shape_error(ctx, op, "gate must be [B, C] but", gate);
    size_t batch = (size_t)x->shape[0], n = (size_t)x->shape[1], c = (size_t)x->shape[2];
    if (!ctx->gpu) {
        mg_ref_scale_channels(batch, n, c, mg_f32_of(x), mg_f32_of(gate), mg_f32_of(out));
        return MG_OK;
    }
    return scale_rows(ctx, 0, x, gate, NULL, n, out);
}

mg_status mg_op_mask_rows(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, mg_tensor *out)
{
    const char *op = "mask_rows";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, out)) != MG_OK ||
        (status = check_in_place(ctx, op, x, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "mask", mask, out)) != MG_OK ||
        (status = check_count(ctx, op, x)) != MG_OK)
        return status;
    if (x->ndim < 2 || !shape_without(x, x->ndim - 1, mask))
        return shape_error(ctx, op, "mask must be x's shape without the channels ([B, N] for [B, N, C]) but", mask);
    if (!ctx->gpu) {
        mg_ref_mask_rows(mg_rows(x), mg_last_dim(x), mg_f32_of(x), mg_i32_of(mask), mg_f32_of(out));
        return MG_OK;
    }
    return scale_rows(ctx, 1, x, NULL, mask, 1, out);
}

/* ------------------------------------------------------------------------ */

/* The CPU backend refuses malformed CSR lists (on Vulkan the shader clamps). */
static mg_status check_csr(mg_context *ctx, const int32_t *offsets, size_t m, const int32_t *indices, size_t nnz,
                           size_t rows)
{
    const char *op = "gather_mean";
    if (offsets[0] < 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: offsets[0] is %d but must be >= 0", op, offsets[0]);
    for (size_t i = 0; i < m; i++)
        if (offsets[i + 1] < offsets[i])
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: offsets must not decrease, but offsets[%zu] = %d < offsets[%zu] = %d", op, i + 1,
                           offsets[i + 1], i, offsets[i]);
    if ((size_t)offsets[m] > nnz)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: offsets[%zu] = %d exceeds the %zu indices", op, m,
                       offsets[m], nnz);
    for (size_t p = (size_t)offsets[0]; p < (size_t)offsets[m]; p++)
        if (indices[p] < 0 || (size_t)indices[p] >= rows)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: indices[%zu] = %d is outside the %zu rows of src", op, p, indices[p], rows);
    return MG_OK;
}

mg_status mg_op_gather_mean(mg_context *ctx, const mg_tensor *src, const mg_tensor *offsets, const mg_tensor *indices,
                            mg_tensor *out)
{
    const char *op = "gather_mean";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "src", src, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "offsets", offsets, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "indices", indices, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "src", src, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "offsets", offsets, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "indices", indices, out)) != MG_OK ||
        (status = check_count(ctx, op, src)) != MG_OK || (status = check_count(ctx, op, out)) != MG_OK ||
        (status = check_count(ctx, op, indices)) != MG_OK)
        return status;
    if (src->ndim != 2)
        return shape_error(ctx, op, "src must be [R, D] but", src);
    if (offsets->ndim != 1)
        return shape_error(ctx, op, "offsets must be [M + 1] but", offsets);
    if (indices->ndim != 1)
        return shape_error(ctx, op, "indices must be [nnz] but", indices);
    size_t rows = (size_t)src->shape[0], d = (size_t)src->shape[1];
    size_t m = offsets->count - 1, nnz = indices->count;
    if (out->ndim != 2 || (size_t)out->shape[0] != m || (size_t)out->shape[1] != d) {
        char os[64];
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "gather_mean: out has shape %s but %zu offsets and src [%zu, %zu] need [%zu, %zu]", os,
                       offsets->count, rows, d, m, d);
    }
    if (m == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "gather_mean: offsets needs at least 2 entries (M + 1)");
    if (!ctx->gpu) {
        if ((status = check_csr(ctx, mg_i32_of(offsets), m, mg_i32_of(indices), nnz, rows)) != MG_OK)
            return status;
        mg_ref_gather_mean(m, d, mg_f32_of(src), mg_i32_of(offsets), mg_i32_of(indices), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d_;
    memset(&d_, 0, sizeof d_);
    struct {
        uint32_t src_offset, offsets_offset, indices_offset, y_offset, m, d, rows, nnz;
    } p = {.m = (uint32_t)m, .d = (uint32_t)d, .rows = (uint32_t)rows, .nnz = (uint32_t)nnz};
    p.src_offset = mg_bind(ctx, &d_, src, false);
    p.offsets_offset = mg_bind(ctx, &d_, offsets, false);
    p.indices_offset = mg_bind(ctx, &d_, indices, false);
    p.y_offset = mg_bind(ctx, &d_, out, true);
    /* Columns per workgroup: the row width rounded up to a power of two, 32
     * to 128 (CPU devices: 8 to 64, a workgroup is one SIMD loop on one core). */
    bool cpu = mg_device_is_cpu(ctx);
    uint32_t wanted = cpu ? 8 : 32;
    while (wanted < (cpu ? 64u : 128u) && wanted < d)
        wanted *= 2;
    d_.shader = MG_SHADER_GATHER_MEAN;
    d_.spec[0] = mg_workgroup_size(ctx, wanted);
    d_.spec_count = 1;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint64_t column_groups = (d + d_.spec[0] - 1) / d_.spec[0];
    uint64_t max_y = limits->max_workgroup_count[1];
    uint64_t rows_z = (m + max_y - 1) / max_y;
    if (column_groups > limits->max_workgroup_count[0] || rows_z > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "gather_mean: [%zu, %zu] outputs are too many for one dispatch",
                       m, d);
    d_.groups[0] = (uint32_t)column_groups;
    d_.groups[1] = (uint32_t)(m < max_y ? m : max_y);
    d_.groups[2] = (uint32_t)rows_z;
    finish_dispatch(&d_, &p, sizeof p);
    return mg_gpu_record_dispatch(ctx->gpu, &d_);
}

/* ------------------------------------------------------------------------ */

mg_status mg_op_copy_columns(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t column_offset)
{
    const char *op = "copy_columns";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "src", src, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "dst", dst, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "src", src, dst)) != MG_OK ||
        (status = check_count(ctx, op, dst)) != MG_OK)
        return status;
    size_t w = mg_last_dim(src), width = mg_last_dim(dst), rows = mg_rows(src);
    bool same_rows = src->ndim == dst->ndim;
    for (int i = 0; same_rows && i < src->ndim - 1; i++)
        same_rows = src->shape[i] == dst->shape[i];
    if (!same_rows || column_offset > width || w > width - column_offset) {
        char ss[64], ds[64];
        mg_shape_string(src, ss, sizeof ss);
        mg_shape_string(dst, ds, sizeof ds);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "copy_columns: src %s does not fit in dst %s at column %zu (same leading dimensions and "
                       "column_offset + %zu <= %zu needed)", ss, ds, column_offset, w, width);
    }
    if (!ctx->gpu) {
        mg_ref_copy_columns(rows, w, width, column_offset, mg_f32_of(src), mg_f32_of(dst));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t src_offset, dst_offset, count, w, width, column_offset;
    } p = {.count = (uint32_t)src->count, .w = (uint32_t)w, .width = (uint32_t)width,
           .column_offset = (uint32_t)column_offset};
    p.src_offset = mg_bind(ctx, &d, src, false);
    p.dst_offset = mg_bind(ctx, &d, dst, true);
    d.shader = MG_SHADER_COPY_COLUMNS;
    d.spec[0] = mg_workgroup_size(ctx, 256);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, (src->count + d.spec[0] - 1) / d.spec[0]);
    finish_dispatch(&d, &p, sizeof p);
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
