/* ResidualLFQ's training terms (commitment, entropy, straight-through): checked
 * entries over the CPU reference. The Vulkan shaders are still to come. */
#include "ops/grad_ae_common.h"

#include <math.h>

mg_lfq_loss_params mg_lfq_loss_default_params(void)
{
    mg_lfq_loss_params p = {.levels = 2, .soft_clamp = 10.0f, .commit_weight = 1.0f, .entropy_weight = 0.1f,
                            .diversity_gamma = 1.0f, .inv_temperature = 100.0f, .softplus_entropy = true,
                            .entropy_offset = 5.0f};
    return p;
}

static mg_status check(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *mask,
                       const mg_lfq_loss_params *p)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK))
        return status;
    if (!p)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params is NULL (see mg_lfq_loss_default_params)", op);
    if (x->ndim != 2 || x->shape[1] > MG_LFQ_LOSS_MAX_DIM) {
        char shape[64];
        mg_shape_string(x, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: x must be [N, d] with d <= %d but has shape %s", op,
                       MG_LFQ_LOSS_MAX_DIM, shape);
    }
    if (mask && mask->count != (size_t)x->shape[0])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: mask must have one entry per row of x", op);
    if (p->levels < 1 || p->levels > 16 || !(p->inv_temperature > 0.0f) || !isfinite(p->soft_clamp) ||
        !isfinite(p->commit_weight) || !isfinite(p->entropy_weight) || !isfinite(p->diversity_gamma) ||
        !isfinite(p->entropy_offset))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: params need 1..16 levels, a positive inv_temperature and finite weights", op);
    if (ctx->gpu)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED,
                       "%s: the LFQ training terms run on the CPU backend only so far", op);
    return MG_OK;
}

mg_status mg_op_lfq_loss(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, const mg_lfq_loss_params *params,
                         mg_tensor *losses, mg_tensor *avg)
{
    const char *op = "lfq_loss";
    mg_status status;
    if ((status = check(ctx, op, x, mask, params)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "losses", losses, MG_DTYPE_F32, false)) != MG_OK ||
        (avg && (status = mg_check_tensor(ctx, op, "avg", avg, MG_DTYPE_F32, false)) != MG_OK))
        return status;
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1], levels = (size_t)params->levels;
    if (losses->count != levels * MG_LFQ_LOSS_COLUMNS || (avg && avg->count != levels << d))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: losses must hold [%zu, %d] values and avg [%zu, %zu]", op, levels, MG_LFQ_LOSS_COLUMNS,
                       levels, (size_t)1 << d);
    const mg_tensor *inputs[] = {x, mask};
    mg_tensor *outputs[] = {losses, avg};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 2, outputs, 2)) != MG_OK)
        return status;
    mg_ref_lfq_loss(n, d, mg_f32_of(x), mg_i32_of(mask), params, mg_f32_of(losses), avg ? mg_f32_of(avg) : NULL);
    if (isnan(mg_f32_of(losses)[4]))
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu codes", op, (size_t)1 << d);
    return MG_OK;
}

mg_status mg_op_lfq_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask,
                             const mg_lfq_loss_params *params, const mg_tensor *d_values, float aux_scale,
                             mg_tensor *d_x)
{
    const char *op = "lfq_backward";
    mg_status status;
    if ((status = check(ctx, op, x, mask, params)) != MG_OK ||
        (d_values && (status = mg_check_tensor(ctx, op, "d_values", d_values, MG_DTYPE_F32, false)) != MG_OK) ||
        (status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (d_values && (status = mg_check_same_shape(ctx, op, "d_values", x, d_values)) != MG_OK) ||
        (status = mg_check_same_shape(ctx, op, "x", x, d_x)) != MG_OK)
        return status;
    const mg_tensor *inputs[] = {x, mask, d_values};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 3, &d_x, 1)) != MG_OK)
        return status;
    if (!isfinite(aux_scale))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: aux_scale must be finite", op);
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1];
    mg_ref_lfq_backward(n, d, mg_f32_of(x), mg_i32_of(mask), params, d_values ? mg_f32_of(d_values) : NULL, aux_scale,
                        mg_f32_of(d_x));
    if (n && isnan(mg_f32_of(d_x)[0]) && !isnan(mg_f32_of(x)[0]))
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu codes", op, (size_t)1 << d);
    return MG_OK;
}
