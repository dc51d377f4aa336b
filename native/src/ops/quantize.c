/* The autoencoder's quantizers: residual lookup-free quantization (and its
 * inverse, from token ids back to values) and nearest-codebook-entry search
 * (ResidualVQ). */
#include "ops/op_common.h"

#include <string.h>

#define LFQ_MAX_DIM 30
#define LFQ_MAX_LEVELS 16 /* = the index registers of lfq.comp */

static mg_status check_lfq_shapes(mg_context *ctx, const char *op, const mg_tensor *values, const mg_tensor *indices,
                                  int levels)
{
    if (levels < 1 || levels > LFQ_MAX_LEVELS)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: levels is %d but must be 1 to %d", op, levels,
                       LFQ_MAX_LEVELS);
    char vs[64], is[64];
    mg_shape_string(values, vs, sizeof vs);
    mg_shape_string(indices, is, sizeof is);
    size_t d = mg_last_dim(values);
    if (values->ndim != 2 || d > LFQ_MAX_DIM)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: values has shape %s but must be [N, d] with d <= %d",
                       op, vs, LFQ_MAX_DIM);
    if (indices->ndim != 2 || indices->shape[0] != values->shape[0] || indices->shape[1] != levels)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: indices has shape %s but values %s and %d levels need "
                       "[%lld, %d]", op, is, vs, levels, (long long)values->shape[0], levels);
    if (values->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: tensors of more than 2^32 elements are not supported", op);
    return MG_OK;
}

static mg_status run_lfq(mg_context *ctx, uint32_t mode, const mg_tensor *x, float soft_clamp, mg_tensor *values,
                         const mg_tensor *indices, int levels)
{
    size_t n = (size_t)values->shape[0], d = (size_t)values->shape[1];
    mg_gpu_dispatch dispatch;
    memset(&dispatch, 0, sizeof dispatch);
    struct {
        uint32_t x_offset, values_offset, indices_offset, n, d;
        float soft_clamp;
    } p = {.n = (uint32_t)n, .d = (uint32_t)d, .soft_clamp = soft_clamp};
    /* Dequantizing has no x: the indices stand in at binding 0 (never read there). */
    p.x_offset = mg_bind(ctx, &dispatch, x ? x : indices, false);
    p.values_offset = mg_bind(ctx, &dispatch, values, true);
    p.indices_offset = mg_bind(ctx, &dispatch, indices, mode == 0);
    dispatch.shader = MG_SHADER_LFQ;
    /* One invocation per row (quantize) or element (dequantize). */
    dispatch.spec[0] = mg_workgroup_size(ctx, mg_device_is_cpu(ctx) ? 32 : 64);
    dispatch.spec[1] = mode;
    dispatch.spec[2] = (uint32_t)levels;
    dispatch.spec_count = 3;
    uint64_t items = mode == 0 ? n : n * d;
    mg_grid_1d(ctx, &dispatch, (items + dispatch.spec[0] - 1) / dispatch.spec[0]);
    memcpy(dispatch.push, &p, sizeof p);
    dispatch.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &dispatch);
}

mg_status mg_op_lfq_quantize(mg_context *ctx, const mg_tensor *x, int levels, float soft_clamp, mg_tensor *values,
                             mg_tensor *indices)
{
    const char *op = "lfq_quantize";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "values", values, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "indices", indices, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, values)) != MG_OK ||
        (status = check_lfq_shapes(ctx, op, values, indices, levels)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, values)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, indices)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "values", values, indices)) != MG_OK)
        return status;
    if (soft_clamp != soft_clamp)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "lfq_quantize: soft_clamp is NaN (use <= 0 for no clamp)");
    if (ctx->gpu)
        return run_lfq(ctx, 0, x, soft_clamp, values, indices, levels);
    mg_ref_lfq_quantize((size_t)x->shape[0], (size_t)x->shape[1], levels, soft_clamp, mg_f32_of(x), mg_f32_of(values),
                        mg_i32_of(indices));
    return MG_OK;
}

mg_status mg_op_lfq_dequantize(mg_context *ctx, const mg_tensor *indices, mg_tensor *values)
{
    const char *op = "lfq_dequantize";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "indices", indices, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "values", values, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "indices", indices, values)) != MG_OK)
        return status;
    if (indices->ndim != 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "lfq_dequantize: indices must be [N, levels]");
    int levels = (int)indices->shape[1];
    if ((status = check_lfq_shapes(ctx, op, values, indices, levels)) != MG_OK)
        return status;
    if (ctx->gpu)
        return run_lfq(ctx, 1, NULL, 0.0f, values, indices, levels);
    mg_ref_lfq_dequantize((size_t)values->shape[0], (size_t)values->shape[1], levels, mg_i32_of(indices),
                          mg_f32_of(values));
    return MG_OK;
}

mg_status mg_op_vq_nearest(mg_context *ctx, const mg_tensor *x, const mg_tensor *codebook, mg_tensor *indices)
{
    const char *op = "vq_nearest";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "codebook", codebook, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "indices", indices, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, indices)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "codebook", codebook, indices)) != MG_OK)
        return status;
    char xs[64], cs[64], is[64];
    mg_shape_string(x, xs, sizeof xs);
    mg_shape_string(codebook, cs, sizeof cs);
    mg_shape_string(indices, is, sizeof is);
    if (x->ndim != 2 || codebook->ndim != 2 || codebook->shape[1] != x->shape[1])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "vq_nearest: x %s and codebook %s must be [N, D] and [K, D] with the same D", xs, cs);
    if (indices->ndim != 1 || indices->shape[0] != x->shape[0])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "vq_nearest: indices has shape %s but x %s needs [%lld]",
                       is, xs, (long long)x->shape[0]);
    if (x->count > UINT32_MAX || codebook->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "vq_nearest: tensors of more than 2^32 elements are not supported");
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1], k = (size_t)codebook->shape[0];
    if (!ctx->gpu) {
        mg_ref_vq_nearest(n, d, k, mg_f32_of(x), mg_param_of(codebook), mg_i32_of(indices));
        return MG_OK;
    }
    mg_gpu_dispatch dispatch;
    memset(&dispatch, 0, sizeof dispatch);
    struct {
        uint32_t x_offset, codebook_offset, result_offset, n, d, k;
    } p = {.n = (uint32_t)n, .d = (uint32_t)d, .k = (uint32_t)k};
    p.x_offset = mg_bind(ctx, &dispatch, x, false);
    p.codebook_offset = mg_bind(ctx, &dispatch, codebook, false);
    p.result_offset = mg_bind(ctx, &dispatch, indices, true);
    dispatch.shader = codebook->dtype == MG_DTYPE_F16 ? MG_SHADER_VQ_NEAREST_F16 : MG_SHADER_VQ_NEAREST_F32;
    /* One workgroup per row of x; its invocations share the codebook rows. A CPU
     * device wants few invocations, but Mesa's lavapipe stops every loop of a
     * shader once its loops together ran 65,535 iterations (an anti-hang guard),
     * so each invocation's share, ceil(k / size) rows of d + 1 steps, must stay
     * below that: a larger workgroup for large codebooks. */
    uint32_t wanted = 256;
    if (mg_device_is_cpu(ctx)) {
        wanted = 8;
        while (wanted < 1024 && ((uint64_t)k + wanted - 1) / wanted * ((uint64_t)d + 1) > MG_CPU_DEVICE_LOOP_BUDGET)
            wanted *= 2;
    }
    dispatch.spec[0] = mg_workgroup_size(ctx, wanted);
    if (mg_device_is_cpu(ctx) &&
        ((uint64_t)k + dispatch.spec[0] - 1) / dispatch.spec[0] * ((uint64_t)d + 1) > MG_CPU_DEVICE_LOOP_BUDGET)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED,
                       "vq_nearest: a codebook of %zu x %zu is too large for this CPU Vulkan driver's loop limit; "
                       "use the CPU backend (--device cpu)", k, d);
    dispatch.spec_count = 1;
    mg_grid_1d(ctx, &dispatch, n);
    memcpy(dispatch.push, &p, sizeof p);
    dispatch.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &dispatch);
}
