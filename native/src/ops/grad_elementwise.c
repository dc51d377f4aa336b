/* Backward of the unary activations and of GEGLU. */
#include "ops/grad_common.h"

#include <string.h>

#define ELEMENTWISE_WORKGROUP 256

static bool overlaps(const mg_tensor *x, const mg_tensor *y)
{
    return x && y && x->storage == y->storage && x->byte_offset < y->byte_offset + y->nbytes &&
           y->byte_offset < x->byte_offset + x->nbytes;
}

mg_status mg_op_unary_backward(mg_context *ctx, mg_unary_op op, const mg_tensor *x, float alpha,
                               const mg_tensor *d_out, mg_tensor *d_x)
{
    const char *name = "unary_backward";
    mg_status status;
    if ((unsigned)op > MG_UNARY_RELU)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "unary_backward: unknown op %d", (int)op);
    if ((status = mg_check_tensor(ctx, name, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    if (!d_x)
        return MG_OK;
    if ((status = mg_check_tensor(ctx, name, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_grad_check_shape(ctx, name, "d_x", d_x, "d_out", d_out)) != MG_OK)
        return status;
    if (op != MG_UNARY_SCALE || x) {
        if ((status = mg_check_tensor(ctx, name, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_grad_check_shape(ctx, name, "x", x, "d_out", d_out)) != MG_OK)
            return status;
    }
    /* In place means d_x is d_out exactly; any other overlap would race. */
    bool in_place = d_x->storage == d_out->storage && d_x->byte_offset == d_out->byte_offset;
    if ((!in_place && overlaps(d_x, d_out)) || (op != MG_UNARY_SCALE && overlaps(d_x, x)))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "unary_backward: d_x must be d_out itself or overlap neither d_out nor x");
    if (!ctx->gpu) {
        mg_ref_unary_backward(op, d_out->count, op == MG_UNARY_SCALE ? NULL : mg_f32_of(x), alpha, mg_f32_of(d_out),
                              mg_f32_of(d_x));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t g_offset, x_offset, dx_offset, count;
        float alpha;
    } p = {.count = (uint32_t)d_out->count, .alpha = alpha};
    p.g_offset = mg_bind(ctx, &d, d_out, in_place);
    if (op != MG_UNARY_SCALE)
        p.x_offset = mg_bind(ctx, &d, x, false);
    else
        mg_bind_none(ctx, &d);
    p.dx_offset = mg_bind(ctx, &d, d_x, true);
    d.shader = MG_SHADER_GRAD_UNARY;
    d.spec[0] = mg_workgroup_size(ctx, ELEMENTWISE_WORKGROUP);
    d.spec[1] = (uint32_t)op;
    d.spec_count = 2;
    mg_grid_1d(ctx, &d, (d_out->count + d.spec[0] - 1) / d.spec[0]);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_geglu_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *d_out, mg_tensor *d_x)
{
    const char *op = "geglu_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t width = mg_last_dim(x);
    bool ok = width % 2 == 0 && d_out->ndim == x->ndim && mg_last_dim(d_out) * 2 == width;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = d_out->shape[i] == x->shape[i];
    if (!ok) {
        char xs[64], os[64];
        mg_shape_string(x, xs, sizeof xs);
        mg_shape_string(d_out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "geglu_backward: x %s must have an even last dimension and d_out %s half of it", xs, os);
    }
    if (!d_x)
        return MG_OK;
    if ((status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_grad_check_shape(ctx, op, "d_x", d_x, "x", x)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, d_x)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "d_out", d_out, d_x)) != MG_OK)
        return status;
    size_t rows = mg_rows(x), n = width / 2;
    if (!ctx->gpu) {
        mg_ref_geglu_backward(rows, n, mg_f32_of(x), mg_f32_of(d_out), mg_f32_of(d_x));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, g_offset, dx_offset, rows, n;
    } p = {.rows = (uint32_t)rows, .n = (uint32_t)n};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.g_offset = mg_bind(ctx, &d, d_out, false);
    p.dx_offset = mg_bind(ctx, &d, d_x, true);
    d.shader = MG_SHADER_GRAD_GEGLU;
    d.spec[0] = mg_workgroup_size(ctx, ELEMENTWISE_WORKGROUP);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, (rows * n + d.spec[0] - 1) / d.spec[0]);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
