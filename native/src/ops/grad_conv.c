/* Backward of the sequence convolution: input gradient (grad_conv1d_dx.comp),
 * weight gradient (grad_conv1d_dw.comp) and bias gradient (grad_sum_rows.comp). */
#include "ops/conv_tiles.h"
#include "ops/grad_ae_common.h"

#include <string.h>

typedef struct conv_shape {
    size_t batch, n, ci, co, kernel;
} conv_shape;

static mg_status shape_error(mg_context *ctx, const char *what, const mg_tensor *t)
{
    char shape[64];
    mg_shape_string(t, shape, sizeof shape);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "conv1d_backward: %s has shape %s", what, shape);
}

/* t has x's shape with `channels` in the last axis */
static bool rows_like(const mg_tensor *x, const mg_tensor *t, size_t channels)
{
    if (t->ndim != x->ndim || (size_t)t->shape[t->ndim - 1] != channels)
        return false;
    for (int i = 0; i < x->ndim - 1; i++)
        if (t->shape[i] != x->shape[i])
            return false;
    return true;
}

static mg_status check_shapes(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *mask,
                              const mg_tensor *d_out, const mg_tensor *d_x, const mg_tensor *d_weight,
                              const mg_tensor *d_bias, conv_shape *s)
{
    if (x->ndim != 2 && x->ndim != 3)
        return shape_error(ctx, "x must be [B, N, Ci] or [N, Ci] but", x);
    s->batch = x->ndim == 3 ? (size_t)x->shape[0] : 1;
    s->n = (size_t)x->shape[x->ndim - 2];
    s->ci = (size_t)x->shape[x->ndim - 1];
    if (weight->ndim != 3 || (size_t)weight->shape[1] != s->ci || weight->shape[2] % 2 == 0)
        return shape_error(ctx, "weight must be [Co, Ci, K] with x's Ci and an odd K but", weight);
    s->co = (size_t)weight->shape[0];
    s->kernel = (size_t)weight->shape[2];
    if (mask) {
        bool ok = mask->ndim == x->ndim - 1;
        for (int i = 0; ok && i < mask->ndim; i++)
            ok = mask->shape[i] == x->shape[i];
        if (!ok)
            return shape_error(ctx, "mask must be x's shape without the channels ([B, N] or [N]) but", mask);
    }
    if (!rows_like(x, d_out, s->co))
        return shape_error(ctx, "d_out must be x's shape with Co channels but", d_out);
    if (d_x && !rows_like(x, d_x, s->ci))
        return shape_error(ctx, "d_x must be x's shape but", d_x);
    if (d_weight && (d_weight->ndim != 3 || memcmp(d_weight->shape, weight->shape, 3 * sizeof weight->shape[0]) != 0))
        return shape_error(ctx, "d_weight must be weight's shape [Co, Ci, K] but", d_weight);
    if (d_bias && d_bias->count != s->co)
        return shape_error(ctx, "d_bias must have Co elements but", d_bias);
    return MG_OK;
}

static mg_status run_dx(mg_context *ctx, const mg_tensor *weight, const mg_tensor *mask, const mg_tensor *d_out,
                        mg_tensor *d_x, const conv_shape *s)
{
    mg_conv_tiles c = {0};
    mg_status status = mg_conv_choose_tiles(ctx, s->batch, s->n, s->ci, s->co, s->kernel, "conv1d_backward", &c);
    if (status != MG_OK)
        return status;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint64_t groups_x = (s->ci + c.bn - 1) / c.bn, groups_y = (s->n + c.bm - 1) / c.bm;
    if (groups_x > limits->max_workgroup_count[0] || groups_y > limits->max_workgroup_count[1] ||
        s->batch > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED,
                       "conv1d_backward: %zu x %zu x %zu gradients are too many for one dispatch", s->batch, s->n,
                       s->ci);
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t dy_offset, w_offset, mask_offset, dx_offset, n, ci, co, has_mask;
    } p = {.n = (uint32_t)s->n, .ci = (uint32_t)s->ci, .co = (uint32_t)s->co, .has_mask = mask != NULL};
    p.dy_offset = mg_bind(ctx, &d, d_out, false);
    p.w_offset = mg_bind(ctx, &d, weight, false);
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    p.dx_offset = mg_bind(ctx, &d, d_x, true);
    d.shader = weight->dtype == MG_DTYPE_F16 ? MG_SHADER_GRAD_CONV1D_DX_F16 : MG_SHADER_GRAD_CONV1D_DX_F32;
    d.spec[0] = (c.bm / c.tm) * (c.bn / c.tn);
    d.spec[1] = c.bm;
    d.spec[2] = c.bn;
    d.spec[3] = c.bk;
    d.spec[4] = c.tm;
    d.spec[5] = c.tn;
    d.spec[6] = (uint32_t)s->kernel;
    d.spec_count = 7;
    d.groups[0] = (uint32_t)groups_x;
    d.groups[1] = (uint32_t)groups_y;
    d.groups[2] = (uint32_t)s->batch;
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}

static mg_status run_dw(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, const mg_tensor *d_out,
                        mg_tensor *d_weight, const conv_shape *s)
{
    /* 16 x 16 (o, i) pairs per workgroup (8 x 8 where workgroups are small), 32 positions per step. */
    uint32_t side = mg_workgroup_size(ctx, 256) >= 256 ? 16 : 8;
    const uint32_t positions = 32;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint32_t shared = (positions * side + (positions + (uint32_t)s->kernel - 1) * side) * 4;
    if (shared > limits->max_shared_memory_bytes || s->kernel > 63)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "conv1d_backward: a kernel of %zu taps is not supported",
                       s->kernel);
    uint64_t groups_x = (s->ci + side - 1) / side, groups_y = (s->co + side - 1) / side;
    if (groups_x > limits->max_workgroup_count[0] || groups_y > limits->max_workgroup_count[1])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "conv1d_backward: %zu x %zu weights are too many for one dispatch",
                       s->co, s->ci);
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, dy_offset, mask_offset, dw_offset, b, n, ci, co, has_mask;
    } p = {.b = (uint32_t)s->batch, .n = (uint32_t)s->n, .ci = (uint32_t)s->ci, .co = (uint32_t)s->co,
           .has_mask = mask != NULL};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.dy_offset = mg_bind(ctx, &d, d_out, false);
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    p.dw_offset = mg_bind(ctx, &d, d_weight, true);
    d.shader = MG_SHADER_GRAD_CONV1D_DW;
    d.spec[0] = side * side;
    d.spec[1] = side;
    d.spec[2] = side;
    d.spec[3] = positions;
    d.spec[4] = (uint32_t)s->kernel;
    d.spec_count = 5;
    d.groups[0] = (uint32_t)groups_x;
    d.groups[1] = (uint32_t)groups_y;
    d.groups[2] = 1;
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}

mg_status mg_op_conv1d_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *mask,
                                const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_weight, mg_tensor *d_bias)
{
    const char *op = "conv1d_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "weight", weight, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK) ||
        (d_x && (status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK) ||
        (d_weight && (status = mg_check_tensor(ctx, op, "d_weight", d_weight, MG_DTYPE_F32, false)) != MG_OK) ||
        (d_bias && (status = mg_check_tensor(ctx, op, "d_bias", d_bias, MG_DTYPE_F32, false)) != MG_OK))
        return status;
    conv_shape s = {0};
    if ((status = check_shapes(ctx, x, weight, mask, d_out, d_x, d_weight, d_bias, &s)) != MG_OK)
        return status;
    const mg_tensor *inputs[] = {x, weight, mask, d_out};
    mg_tensor *outputs[] = {d_x, d_weight, d_bias};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 4, outputs, 3)) != MG_OK)
        return status;
    if (x->count > UINT32_MAX || d_out->count > UINT32_MAX || weight->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: tensors of more than 2^32 elements are not supported", op);
    if (!ctx->gpu) {
        mg_ref_conv1d_backward(s.batch, s.n, s.ci, s.co, s.kernel, mg_f32_of(x), mg_param_of(weight), mg_i32_of(mask),
                               mg_f32_of(d_out), d_x ? mg_f32_of(d_x) : NULL, d_weight ? mg_f32_of(d_weight) : NULL,
                               d_bias ? mg_f32_of(d_bias) : NULL);
        return MG_OK;
    }
    if (d_x && (status = run_dx(ctx, weight, mask, d_out, d_x, &s)) != MG_OK)
        return status;
    if (d_weight && (status = run_dw(ctx, x, mask, d_out, d_weight, &s)) != MG_OK)
        return status;
    if (d_bias)
        status = mg_grad_ae_sum_rows(ctx, d_out, NULL, 1, s.batch * s.n, s.co, true, d_bias);
    return status;
}
