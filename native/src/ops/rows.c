/* Row-wise ops: LayerNorm, RMSNorm, L2 normalisation, masked softmax, argmax.
 * On Vulkan one workgroup reduces one row. */
#include "ops/op_common.h"

#include <string.h>

#define ROW_WORKGROUP 256

static uint32_t row_workgroup(mg_context *ctx, size_t width)
{
    /* A CPU device runs a workgroup as one task on one core, in SIMD batches
     * of a subgroup: a row split over more than one subgroup only adds
     * barriers (with subgroups) or tree levels (without). There are plenty of
     * rows to keep the cores busy. */
    if (mg_device_is_cpu(ctx))
        return mg_subgroup_workgroup_size(ctx, 1);
    /* A GPU: no more invocations than elements, but at least 32 and a
     * subgroup's worth. */
    uint32_t wanted = 32;
    while (wanted < ROW_WORKGROUP && wanted < width)
        wanted *= 2;
    return mg_subgroup_workgroup_size(ctx, wanted);
}

static mg_status norm(mg_context *ctx, const char *op, const mg_norm_params *np, const mg_tensor *x,
                      const mg_tensor *gamma, const mg_tensor *beta, mg_tensor *out)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, out)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(x), rows = mg_rows(x);
    mg_dtype param_dtype = gamma ? gamma->dtype : beta ? beta->dtype : MG_DTYPE_F32;
    if (param_dtype != MG_DTYPE_F32 && param_dtype != MG_DTYPE_F16)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: gamma and beta must be f32 or f16", op);
    if ((status = mg_check_param(ctx, op, "gamma", gamma, dim, param_dtype)) != MG_OK ||
        (status = mg_check_param(ctx, op, "beta", beta, dim, param_dtype)) != MG_OK)
        return status;
    if (!(np->eps >= 0.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: eps must be a non-negative number", op);
    if (!ctx->gpu) {
        mg_ref_norm(np, rows, dim, mg_f32_of(x), mg_param_of(gamma), mg_param_of(beta), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, gamma_offset, beta_offset, y_offset, rows, dim, has_gamma, has_beta;
        float eps, gain_offset, scale;
    } p = {.rows = (uint32_t)rows, .dim = (uint32_t)dim, .has_gamma = gamma != NULL, .has_beta = beta != NULL,
           .eps = np->eps, .gain_offset = np->gamma_offset, .scale = np->scale};
    /* x is bound read-write: in place, x and out are the same range. */
    p.x_offset = mg_bind(ctx, &d, x, out->storage == x->storage);
    if (gamma)
        p.gamma_offset = mg_bind(ctx, &d, gamma, false);
    else
        mg_bind_none(ctx, &d);
    if (beta)
        p.beta_offset = mg_bind(ctx, &d, beta, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);
    bool sg = mg_use_subgroups(ctx);
    if (param_dtype == MG_DTYPE_F16)
        d.shader = sg ? MG_SHADER_NORM_F16_SG : MG_SHADER_NORM_F16;
    else
        d.shader = sg ? MG_SHADER_NORM_F32_SG : MG_SHADER_NORM_F32;
    d.spec[0] = row_workgroup(ctx, dim);
    d.spec[1] = (uint32_t)np->mode;
    d.spec[2] = dim % 4 == 0 && p.x_offset % 4 == 0 && p.y_offset % 4 == 0 && p.gamma_offset % 4 == 0 &&
                p.beta_offset % 4 == 0;
    d.spec_count = 3;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_layer_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, const mg_tensor *beta,
                           float eps, float gamma_offset, mg_tensor *out)
{
    mg_norm_params np = {MG_NORM_LAYER, eps, gamma_offset, 1.0f};
    return norm(ctx, "layer_norm", &np, x, gamma, beta, out);
}

mg_status mg_op_rms_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float gamma_offset,
                         mg_tensor *out)
{
    mg_norm_params np = {MG_NORM_RMS, eps, gamma_offset, 1.0f};
    return norm(ctx, "rms_norm", &np, x, gamma, NULL, out);
}

mg_status mg_op_l2_normalize(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float scale,
                             float gamma_offset, mg_tensor *out)
{
    mg_norm_params np = {MG_NORM_L2, eps, gamma_offset, scale};
    return norm(ctx, "l2_normalize", &np, x, gamma, NULL, out);
}

mg_softmax_options mg_softmax_default_options(void)
{
    mg_softmax_options o;
    memset(&o, 0, sizeof o);
    o.scale = 1.0f;
    o.mask_row_divisor = 1;
    o.causal_queries = 1;
    return o;
}

mg_status mg_op_softmax(mg_context *ctx, const mg_tensor *x, const mg_softmax_options *options, mg_tensor *out)
{
    const char *op = "softmax";
    mg_softmax_options defaults = mg_softmax_default_options();
    const mg_softmax_options *o = options ? options : &defaults;
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, out)) != MG_OK)
        return status;
    size_t n = mg_last_dim(x), rows = mg_rows(x);
    if (o->mask_row_divisor == 0 || o->causal_queries == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "softmax: mask_row_divisor and causal_queries must be >= 1");
    if (o->mask) {
        if ((status = mg_check_tensor(ctx, op, "mask", o->mask, MG_DTYPE_I32, false)) != MG_OK)
            return status;
        size_t needed = ((rows - 1) / o->mask_row_divisor + 1) * n;
        if (mg_last_dim(o->mask) != n || o->mask->count < needed)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "softmax: the mask must be [mask_rows, %zu] with at least %zu rows for %zu rows of x "
                           "divided by %zu", n, needed / n, rows, o->mask_row_divisor);
    }
    if (!ctx->gpu) {
        mg_softmax_params p = {o->scale, mg_i32_of(o->mask), o->mask_row_divisor, o->causal, o->causal_queries,
                               o->causal_offset};
        mg_ref_softmax(&p, rows, n, mg_f32_of(x), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, mask_offset, y_offset, rows, n;
        float scale;
        uint32_t has_mask, mask_row_divisor, causal, causal_queries;
        int32_t causal_offset;
    } p = {.rows = (uint32_t)rows, .n = (uint32_t)n, .scale = o->scale, .has_mask = o->mask != NULL,
           .mask_row_divisor = (uint32_t)o->mask_row_divisor, .causal = o->causal,
           .causal_queries = (uint32_t)o->causal_queries, .causal_offset = (int32_t)o->causal_offset};
    p.x_offset = mg_bind(ctx, &d, x, out->storage == x->storage);
    if (o->mask)
        p.mask_offset = mg_bind(ctx, &d, o->mask, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = mg_use_subgroups(ctx) ? MG_SHADER_SOFTMAX_SG : MG_SHADER_SOFTMAX;
    d.spec[0] = row_workgroup(ctx, n);
    d.spec[1] = n % 4 == 0 && p.x_offset % 4 == 0 && p.y_offset % 4 == 0 && (!o->mask || p.mask_offset % 4 == 0);
    d.spec_count = 2;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_argmax(mg_context *ctx, const mg_tensor *x, mg_tensor *out)
{
    const char *op = "argmax";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, out)) != MG_OK)
        return status;
    size_t n = mg_last_dim(x), rows = mg_rows(x);
    bool ok = out->count == rows;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = out->ndim == x->ndim - 1 && out->shape[i] == x->shape[i];
    if (!ok) {
        char xs[64], os[64];
        mg_shape_string(x, xs, sizeof xs);
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "argmax: out has shape %s but x %s needs its shape without the last dimension", os, xs);
    }
    if (!ctx->gpu) {
        mg_ref_argmax(rows, n, mg_f32_of(x), mg_i32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, result_offset, rows, n;
    } p = {.rows = (uint32_t)rows, .n = (uint32_t)n};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.result_offset = mg_bind(ctx, &d, out, true);
    d.shader = mg_use_subgroups(ctx) ? MG_SHADER_ARGMAX_SG : MG_SHADER_ARGMAX;
    d.spec[0] = row_workgroup(ctx, n);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
