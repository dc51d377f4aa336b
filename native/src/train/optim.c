/* Checked entries of the optimizer ops (train/optim.h): CPU reference or Vulkan shader. */
#include "train/optim.h"

#include "ops/op_common.h"
#include "train/optim_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_WORKGROUP 256
#define SUM_SQUARES_ITEMS 16 /* elements per invocation: a 4096-element block per workgroup of 256 */

static mg_status check_f32_like(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                const mg_tensor *like, const char *like_name)
{
    mg_status status = mg_check_tensor(ctx, op, name, t, MG_DTYPE_F32, false);
    if (status == MG_OK && like)
        status = mg_check_same_shape(ctx, op, like_name, like, t);
    if (status == MG_OK && t->count > UINT32_MAX)
        status = mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has %zu elements; at most 2^32-1 are "
                         "supported per tensor: split the parameter", op, name, t->count);
    return status;
}

static void grid_for(mg_context *ctx, mg_gpu_dispatch *d, size_t elements)
{
    d->spec[0] = mg_workgroup_size(ctx, OPTIM_WORKGROUP);
    d->spec_count = 1;
    mg_grid_1d(ctx, d, (elements + d->spec[0] - 1) / d->spec[0]);
}

static mg_adam_scalars adam_scalars(const mg_adam_step *s)
{
    mg_adam_scalars out;
    double step = (double)s->step;
    out.decay_factor = (float)(1.0 - s->lr * s->weight_decay);
    out.one_minus_beta1 = (float)(1.0 - s->beta1);
    out.beta2 = (float)s->beta2;
    out.one_minus_beta2 = (float)(1.0 - s->beta2);
    out.step_size = (float)(s->lr / (1.0 - pow(s->beta1, step)));
    out.bias2_sqrt = (float)sqrt(1.0 - pow(s->beta2, step));
    out.eps = (float)s->eps;
    return out;
}

mg_status mg_op_adam_step(mg_context *ctx, const mg_adam_step *step, mg_tensor *param, const mg_tensor *grad,
                          mg_tensor *m, mg_tensor *v)
{
    const char *op = "adam_step";
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!step)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: the step parameters are NULL", op);
    if ((status = check_f32_like(ctx, op, "param", param, NULL, NULL)) != MG_OK ||
        (status = check_f32_like(ctx, op, "grad", grad, param, "param")) != MG_OK ||
        (status = check_f32_like(ctx, op, "m", m, param, "param")) != MG_OK ||
        (status = check_f32_like(ctx, op, "v", v, param, "param")) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "grad", grad, param)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "m", m, param)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "v", v, param)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "m", m, v)) != MG_OK)
        return status;
    if (step->step < 1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: step counts from 1 (torch's step after its "
                       "increment); got 0", op);
    if (!(step->beta1 >= 0.0 && step->beta1 < 1.0 && step->beta2 >= 0.0 && step->beta2 < 1.0))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: betas must lie in [0, 1); got (%g, %g)", op,
                       step->beta1, step->beta2);
    if (!(step->lr >= 0.0) || !(step->eps >= 0.0) || !(step->weight_decay >= 0.0))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: lr, eps and weight_decay must be >= 0 (got %g, %g, "
                       "%g)", op, step->lr, step->eps, step->weight_decay);
    mg_adam_scalars s = adam_scalars(step);
    if (!ctx->gpu) {
        mg_ref_adam_step(param->count, &s, mg_f32_of(param), mg_f32_of(grad), mg_f32_of(m), mg_f32_of(v));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t param_offset, grad_offset, m_offset, v_offset, count;
        mg_adam_scalars s;
    } p = {.count = (uint32_t)param->count, .s = s};
    p.param_offset = mg_bind(ctx, &d, param, true);
    p.grad_offset = mg_bind(ctx, &d, grad, false);
    p.m_offset = mg_bind(ctx, &d, m, true);
    p.v_offset = mg_bind(ctx, &d, v, true);
    d.shader = MG_SHADER_OPTIM_ADAM;
    grid_for(ctx, &d, param->count);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

static mg_status check_list(mg_context *ctx, const char *op, const mg_tensor *const *tensors, size_t count)
{
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!tensors && count)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: the tensor list is NULL", op);
    for (size_t i = 0; i < count; i++) {
        char name[32];
        mg_format(name, sizeof name, "tensor %zu", i);
        if ((status = check_f32_like(ctx, op, name, tensors[i], NULL, NULL)) != MG_OK)
            return status;
    }
    return MG_OK;
}

mg_status mg_op_sum_squares(mg_context *ctx, const mg_tensor *const *tensors, size_t count, double *out)
{
    const char *op = "sum_squares";
    mg_status status = check_list(ctx, op, tensors, count);
    if (status != MG_OK)
        return status;
    if (!out)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = 0.0;
    if (!ctx->gpu) {
        double sum = 0.0;
        for (size_t i = 0; i < count; i++)
            sum += mg_ref_sum_squares(tensors[i]->count, mg_f32_of(tensors[i]));
        *out = sum;
        return MG_OK;
    }
    if (count == 0)
        return MG_OK;
    bool sg = mg_use_subgroups(ctx);
    uint32_t wg = sg ? mg_subgroup_workgroup_size(ctx, OPTIM_WORKGROUP) : mg_workgroup_size(ctx, OPTIM_WORKGROUP);
    size_t block = (size_t)wg * SUM_SQUARES_ITEMS;
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += (tensors[i]->count + block - 1) / block;
    mg_tensor *partial = NULL;
    int64_t shape[1] = {(int64_t)total};
    if ((status = mg_tensor_create(ctx, MG_DTYPE_F32, 1, shape, &partial)) != MG_OK)
        return status;
    size_t base = 0;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        size_t groups = (tensors[i]->count + block - 1) / block;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t x_offset, partial_offset, count;
        } p = {.count = (uint32_t)tensors[i]->count};
        p.x_offset = mg_bind(ctx, &d, tensors[i], false);
        p.partial_offset = mg_bind(ctx, &d, partial, true) + (uint32_t)base;
        d.shader = sg ? MG_SHADER_OPTIM_SUM_SQUARES_SG : MG_SHADER_OPTIM_SUM_SQUARES;
        d.spec[0] = wg;
        d.spec[1] = SUM_SQUARES_ITEMS;
        d.spec_count = 2;
        mg_grid_1d(ctx, &d, groups);
        memcpy(d.push, &p, sizeof p);
        d.push_size = sizeof p;
        status = mg_gpu_record_dispatch(ctx->gpu, &d);
        base += groups;
    }
    float *values = status == MG_OK ? malloc(total * sizeof *values) : NULL;
    if (status == MG_OK && !values)
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (status == MG_OK)
        status = mg_tensor_read_f32(partial, values, total);
    if (status == MG_OK) {
        double sum = 0.0;
        for (size_t i = 0; i < total; i++)
            sum += values[i];
        *out = sum;
    }
    free(values);
    mg_tensor_free(partial);
    return status;
}

mg_status mg_train_grad_norm(mg_context *ctx, const mg_tensor *const *grads, size_t count, double *out_norm)
{
    double sum = 0.0;
    mg_status status = mg_op_sum_squares(ctx, grads, count, &sum);
    if (out_norm)
        *out_norm = status == MG_OK ? sqrt(sum) : 0.0;
    return status;
}

mg_status mg_train_clip_grad_norm(mg_context *ctx, mg_tensor *const *grads, size_t count, double max_norm,
                                  double *out_norm)
{
    double norm = 0.0;
    mg_status status = mg_train_grad_norm(ctx, (const mg_tensor *const *)grads, count, &norm);
    if (out_norm)
        *out_norm = norm;
    if (status != MG_OK || !isfinite(norm))
        return status;
    double coefficient = mg_clip_coefficient(norm, max_norm);
    if (coefficient >= 1.0)
        return MG_OK;
    for (size_t i = 0; i < count && status == MG_OK; i++)
        status = mg_op_scale(ctx, grads[i], (float)coefficient, 0.0f, grads[i]);
    return status;
}

mg_status mg_train_zero_grads(mg_context *ctx, mg_tensor *const *grads, size_t count)
{
    mg_status status = check_list(ctx, "zero_grads", (const mg_tensor *const *)grads, count);
    for (size_t i = 0; i < count && status == MG_OK; i++)
        status = mg_tensor_fill_u32(grads[i], 0u);
    return status;
}

mg_status mg_op_ema_lerp(mg_context *ctx, mg_tensor *ema, const mg_tensor *param, float weight)
{
    const char *op = "ema_lerp";
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if ((status = check_f32_like(ctx, op, "ema", ema, NULL, NULL)) != MG_OK ||
        (status = check_f32_like(ctx, op, "param", param, ema, "ema")) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "param", param, ema)) != MG_OK)
        return status;
    if (!(weight >= 0.0f && weight <= 1.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: weight (1 - decay) must lie in [0, 1]; got %g", op,
                       (double)weight);
    if (!ctx->gpu) {
        mg_ref_ema_lerp(ema->count, mg_f32_of(ema), mg_f32_of(param), weight);
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t ema_offset, param_offset, count;
        float weight;
    } p = {.count = (uint32_t)ema->count, .weight = weight};
    p.ema_offset = mg_bind(ctx, &d, ema, true);
    p.param_offset = mg_bind(ctx, &d, param, false);
    d.shader = MG_SHADER_OPTIM_EMA_LERP;
    grid_for(ctx, &d, ema->count);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

/* ema = param, bit for bit. */
static mg_status copy_tensor(mg_context *ctx, mg_tensor *dst, const mg_tensor *src)
{
    if (!ctx->gpu) {
        memcpy(mg_tensor_host_data(dst), mg_tensor_host_data(src), src->nbytes);
        return MG_OK;
    }
    return mg_gpu_copy(ctx->gpu, mg_tensor_device_range(src), mg_tensor_device_range(dst));
}

mg_status mg_train_ema_update(mg_context *ctx, const mg_ema_config *config, mg_ema_state *state,
                              mg_tensor *const *ema, const mg_tensor *const *params, size_t count,
                              mg_ema_action *out_action)
{
    const char *op = "ema_update";
    if (out_action)
        *out_action = MG_EMA_SKIP;
    mg_status status = check_list(ctx, op, (const mg_tensor *const *)ema, count);
    if (status == MG_OK)
        status = check_list(ctx, op, params, count);
    if (status != MG_OK)
        return status;
    if (!config || !state)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: config and state must not be NULL", op);
    for (size_t i = 0; i < count; i++)
        if ((status = mg_check_same_shape(ctx, op, "ema", ema[i], params[i])) != MG_OK)
            return status;
    double decay = 0.0;
    mg_ema_state next = *state;
    mg_ema_action action = mg_ema_advance(config, &next, &decay);
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        if (action == MG_EMA_COPY)
            status = copy_tensor(ctx, ema[i], params[i]);
        else if (action == MG_EMA_LERP)
            status = mg_op_ema_lerp(ctx, ema[i], params[i], (float)(1.0 - decay));
    }
    if (status == MG_OK) {
        *state = next;
        if (out_action)
            *out_action = action;
    }
    return status;
}
