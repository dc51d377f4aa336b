#include "ops/op_common.h"

#include <stdio.h>
#include <string.h>

void mg_shape_string(const mg_tensor *t, char *buffer, size_t size)
{
    size_t used = (size_t)snprintf(buffer, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buffer + used, size - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < size)
        snprintf(buffer + used, size - used, "]");
}

size_t mg_last_dim(const mg_tensor *t)
{
    return (size_t)t->shape[t->ndim - 1];
}

size_t mg_rows(const mg_tensor *t)
{
    return t->count / mg_last_dim(t);
}

mg_status mg_check_tensor(mg_context *ctx, const char *op, const char *name, const mg_tensor *t, mg_dtype dtype,
                          bool allow_f16)
{
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!t)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    if (t->ctx != ctx)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s belongs to another context", op, name);
    if (t->dtype != dtype && !(allow_f16 && t->dtype == MG_DTYPE_F16))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s is %s but must be %s%s", op, name,
                       mg_dtype_name(t->dtype), mg_dtype_name(dtype), allow_f16 ? " or f16" : "");
    return MG_OK;
}

mg_status mg_check_param(mg_context *ctx, const char *op, const char *name, const mg_tensor *t, size_t count,
                         mg_dtype dtype)
{
    if (!t)
        return MG_OK;
    mg_status status = mg_check_tensor(ctx, op, name, t, dtype, false);
    if (status != MG_OK)
        return status;
    if (t->count != count) {
        char shape[64];
        mg_shape_string(t, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must have %zu elements", op,
                       name, shape, count);
    }
    return MG_OK;
}

mg_status mg_check_same_shape(mg_context *ctx, const char *op, const char *name, const mg_tensor *x,
                              const mg_tensor *out)
{
    if (x->ndim == out->ndim && memcmp(x->shape, out->shape, (size_t)x->ndim * sizeof x->shape[0]) == 0)
        return MG_OK;
    char xs[64], os[64];
    mg_shape_string(x, xs, sizeof xs);
    mg_shape_string(out, os, sizeof os);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: out has shape %s but %s has shape %s", op, os, name, xs);
}

mg_status mg_check_no_alias(mg_context *ctx, const char *op, const char *name, const mg_tensor *input,
                            const mg_tensor *out)
{
    if (!input || input->storage != out->storage)
        return MG_OK;
    size_t a0 = input->byte_offset, a1 = a0 + input->nbytes;
    size_t b0 = out->byte_offset, b1 = b0 + out->nbytes;
    if (a0 < b1 && b0 < a1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: out overlaps %s; this op cannot run in place", op,
                       name);
    return MG_OK;
}

mg_ref_param mg_param_of(const mg_tensor *t)
{
    mg_ref_param p = {NULL, false};
    if (t) {
        p.data = mg_tensor_host_data(t);
        p.is_f16 = t->dtype == MG_DTYPE_F16;
    }
    return p;
}

float *mg_f32_of(const mg_tensor *t)
{
    return t ? (float *)mg_tensor_host_data(t) : NULL;
}

int32_t *mg_i32_of(const mg_tensor *t)
{
    return t ? (int32_t *)mg_tensor_host_data(t) : NULL;
}

uint32_t mg_bind(mg_context *ctx, mg_gpu_dispatch *d, const mg_tensor *t, bool write)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    mg_gpu_range range = mg_tensor_device_range(t);
    /* Bind from an aligned offset (the shader adds the remainder as an element
     * offset) to the tensor's end rounded to a word, widened by the debug slack. */
    uint64_t begin = range.offset > limits->binding_slack ? range.offset - limits->binding_slack : 0;
    uint64_t aligned = begin / limits->storage_buffer_alignment * limits->storage_buffer_alignment;
    uint64_t end = (range.offset + range.size + limits->binding_slack + 3) / 4 * 4;
    uint64_t block_size = mg_gpu_block_size(range.block);
    if (end > block_size)
        end = block_size;
    uint32_t index = d->buffer_count++;
    d->buffers[index] = (mg_gpu_range){range.block, aligned, end - aligned};
    d->writes[index] = write;
    return (uint32_t)((range.offset - aligned) / mg_dtype_size(t->dtype));
}

void mg_bind_none(mg_context *ctx, mg_gpu_dispatch *d)
{
    (void)ctx;
    /* Binding the first buffer again (read-only) keeps the descriptor valid. */
    uint32_t index = d->buffer_count++;
    d->buffers[index] = d->buffers[0];
    d->writes[index] = false;
}

void mg_grid_1d(mg_context *ctx, mg_gpu_dispatch *d, uint64_t groups)
{
    uint32_t max_x = mg_gpu_get_limits(ctx->gpu)->max_workgroup_count[0];
    if (groups <= max_x) {
        d->groups[0] = (uint32_t)groups;
        d->groups[1] = 1;
    } else {
        d->groups[0] = max_x;
        d->groups[1] = (uint32_t)((groups + max_x - 1) / max_x);
    }
    d->groups[2] = 1;
}

uint32_t mg_workgroup_size(mg_context *ctx, uint32_t wanted)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint32_t limit = limits->max_workgroup_invocations < limits->max_workgroup_size_x
                         ? limits->max_workgroup_invocations
                         : limits->max_workgroup_size_x;
    if (wanted > limit)
        wanted = limit;
    uint32_t size = 1;
    while (size * 2 <= wanted)
        size *= 2;
    return size;
}

bool mg_use_subgroups(mg_context *ctx)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    const uint32_t needed = MG_GPU_SUBGROUP_BASIC | MG_GPU_SUBGROUP_ARITHMETIC;
    return MG_SHADERS_HAVE_SUBGROUPS && (limits->subgroup_operations & needed) == needed &&
           mg_workgroup_size(ctx, limits->subgroup_size) >= limits->subgroup_size;
}

uint32_t mg_subgroup_workgroup_size(mg_context *ctx, uint32_t wanted)
{
    uint32_t subgroup = mg_gpu_get_limits(ctx->gpu)->subgroup_size;
    return mg_workgroup_size(ctx, wanted > subgroup ? wanted : subgroup);
}

bool mg_device_is_cpu(mg_context *ctx)
{
    return mg_gpu_get_limits(ctx->gpu)->device_type == MG_DEVICE_VULKAN_CPU;
}
