#include "ops/grad_ae_common.h"

#include <string.h>

mg_status mg_grad_ae_check_outputs(mg_context *ctx, const char *op, const mg_tensor *const *inputs, size_t n_inputs,
                                   mg_tensor *const *outputs, size_t n_outputs)
{
    mg_status status;
    for (size_t o = 0; o < n_outputs; o++) {
        if (!outputs[o])
            continue;
        for (size_t i = 0; i < n_inputs; i++)
            if ((status = mg_check_no_alias(ctx, op, "an input", inputs[i], outputs[o])) != MG_OK)
                return status;
        for (size_t other = 0; other < o; other++)
            if ((status = mg_check_no_alias(ctx, op, "another gradient", outputs[other], outputs[o])) != MG_OK)
                return status;
    }
    return MG_OK;
}

mg_status mg_grad_ae_record(mg_context *ctx, mg_gpu_dispatch *d, const void *push, size_t size)
{
    memcpy(d->push, push, size);
    d->push_size = (uint32_t)size;
    return mg_gpu_record_dispatch(ctx->gpu, d);
}

mg_status mg_grad_ae_sum_rows(mg_context *ctx, const mg_tensor *a, const mg_tensor *m, size_t batch, size_t n, size_t c,
                              bool accumulate, mg_tensor *y)
{
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t a_offset, m_offset, y_offset, n, c, has_m, accumulate;
    } p = {.n = (uint32_t)n, .c = (uint32_t)c, .has_m = m != NULL, .accumulate = accumulate};
    p.a_offset = mg_bind(ctx, &d, a, false);
    if (m)
        p.m_offset = mg_bind(ctx, &d, m, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, y, true);
    /* Many row streams: the rows (all positions of a batch for a bias) are the long axis; 64 lanes keep
     * each invocation's loop short enough for lavapipe's loop guard (MG_CPU_DEVICE_LOOP_BUDGET). */
    uint32_t cols = c <= 4 ? 4 : c <= 16 ? 16 : 32;
    uint32_t lanes = 64;
    uint32_t wg = mg_workgroup_size(ctx, cols * lanes);
    while (cols * lanes > wg) {
        if (lanes > 8)
            lanes /= 2;
        else
            cols /= 2;
    }
    if (mg_device_is_cpu(ctx) && (n + lanes - 1) / lanes > MG_CPU_DEVICE_LOOP_BUDGET)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "sum over %zu rows is too long for a CPU Vulkan device", n);
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint64_t groups_x = (c + cols - 1) / cols;
    if (groups_x > limits->max_workgroup_count[0] || batch > limits->max_workgroup_count[1])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "sum over rows: [%zu, %zu] outputs are too many for one dispatch",
                       batch, c);
    d.shader = MG_SHADER_GRAD_SUM_ROWS;
    d.spec[0] = cols * lanes;
    d.spec[1] = cols;
    d.spec[2] = lanes;
    d.spec_count = 3;
    d.groups[0] = (uint32_t)groups_x;
    d.groups[1] = (uint32_t)batch;
    d.groups[2] = 1;
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}
