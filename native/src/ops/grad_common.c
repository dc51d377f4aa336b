/* Helpers shared by the backward op entries. */
#include "ops/grad_common.h"

#include <stdint.h>
#include <string.h>

size_t mg_grad_row_chunk(mg_context *ctx, uint32_t iterations_per_row)
{
    if (!mg_device_is_cpu(ctx))
        return SIZE_MAX;
    size_t chunk = MG_CPU_DEVICE_LOOP_BUDGET / (iterations_per_row ? iterations_per_row : 1);
    return chunk ? chunk : 1;
}

mg_status mg_grad_check_shape(mg_context *ctx, const char *op, const char *grad_name, const mg_tensor *grad,
                              const char *name, const mg_tensor *x)
{
    if (grad->ndim == x->ndim && memcmp(grad->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]) == 0)
        return MG_OK;
    char gs[64], xs[64];
    mg_shape_string(grad, gs, sizeof gs);
    mg_shape_string(x, xs, sizeof xs);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must have %s's shape %s", op,
                   grad_name, gs, name, xs);
}

mg_status mg_grad_check_param_grad(mg_context *ctx, const char *op, const char *name, const mg_tensor *grad,
                                   size_t count)
{
    if (!grad)
        return MG_OK;
    mg_status status = mg_check_tensor(ctx, op, name, grad, MG_DTYPE_F32, false);
    if (status != MG_OK)
        return status;
    if (grad->count != count) {
        char shape[64];
        mg_shape_string(grad, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: %s has shape %s but must have %zu elements (gradients of parameters are f32)", op, name,
                       shape, count);
    }
    return MG_OK;
}

uint32_t mg_grad_row_workgroup(mg_context *ctx, size_t width)
{
    /* As rows.c: on a CPU device one subgroup per row (more only adds barriers);
     * on a GPU up to 256 invocations, no more than the row has elements. */
    if (mg_device_is_cpu(ctx))
        return mg_subgroup_workgroup_size(ctx, 1);
    uint32_t wanted = 32;
    while (wanted < 256 && wanted < width)
        wanted *= 2;
    return mg_subgroup_workgroup_size(ctx, wanted);
}
