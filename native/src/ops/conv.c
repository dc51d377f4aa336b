/* 1-D convolution along the sequence (the autoencoder decoder's main cost):
 * shape checks, CPU reference, and the tile sizes of conv1d.comp. */
#include "ops/conv_tiles.h"

#include <string.h>

typedef struct conv_shape {
    size_t batch, n, ci, co, kernel;
} conv_shape;

static mg_status shape_error(mg_context *ctx, const char *what, const mg_tensor *t)
{
    char shape[64];
    mg_shape_string(t, shape, sizeof shape);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "conv1d: %s has shape %s", what, shape);
}

static mg_status check_shapes(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *mask,
                              const mg_tensor *out, conv_shape *s)
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
    bool ok = out->ndim == x->ndim && (size_t)out->shape[out->ndim - 1] == s->co;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = out->shape[i] == x->shape[i];
    if (!ok)
        return shape_error(ctx, "out must be x's shape with Co channels but", out);
    return MG_OK;
}

static mg_status run_vulkan(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *bias,
                            const mg_tensor *mask, mg_tensor *out, const conv_shape *s)
{
    mg_conv_tiles c = {0};
    mg_status status = mg_conv_choose_tiles(ctx, s->batch, s->n, s->co, s->ci, s->kernel, "conv1d", &c);
    if (status != MG_OK)
        return status;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint64_t groups_x = (s->co + c.bn - 1) / c.bn, groups_y = (s->n + c.bm - 1) / c.bm;
    if (groups_x > limits->max_workgroup_count[0] || groups_y > limits->max_workgroup_count[1] ||
        s->batch > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "conv1d: %zu x %zu x %zu outputs are too many for one dispatch",
                       s->batch, s->n, s->co);
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, w_offset, bias_offset, mask_offset, y_offset, n, ci, co, has_bias, has_mask;
    } p = {.n = (uint32_t)s->n, .ci = (uint32_t)s->ci, .co = (uint32_t)s->co, .has_bias = bias != NULL,
           .has_mask = mask != NULL};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.w_offset = mg_bind(ctx, &d, weight, false);
    if (bias)
        p.bias_offset = mg_bind(ctx, &d, bias, false);
    else
        mg_bind_none(ctx, &d);
    if (mask)
        p.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = weight->dtype == MG_DTYPE_F16 ? MG_SHADER_CONV1D_F16 : MG_SHADER_CONV1D_F32;
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
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_conv1d(mg_context *ctx, const mg_tensor *x, const mg_tensor *weight, const mg_tensor *bias,
                       const mg_tensor *mask, mg_tensor *out)
{
    const char *op = "conv1d";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "weight", weight, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK))
        return status;
    conv_shape s;
    if ((status = check_shapes(ctx, x, weight, mask, out, &s)) != MG_OK ||
        (status = mg_check_param(ctx, op, "bias", bias, s.co, weight->dtype)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "weight", weight, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "bias", bias, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "mask", mask, out)) != MG_OK)
        return status;
    if (x->count > UINT32_MAX || out->count > UINT32_MAX || weight->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "conv1d: tensors of more than 2^32 elements are not supported");
    if (ctx->gpu)
        return run_vulkan(ctx, x, weight, bias, mask, out, &s);
    mg_ref_conv1d(s.batch, s.n, s.ci, s.co, s.kernel, mg_f32_of(x), mg_param_of(weight), mg_param_of(bias),
                  mg_i32_of(mask), mg_f32_of(out));
    return MG_OK;
}
