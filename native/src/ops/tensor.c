#include "ops/tensor.h"

#include "core/half.h"

#include <stdlib.h>
#include <string.h>

const char *mg_dtype_name(mg_dtype dtype)
{
    switch (dtype) {
    case MG_DTYPE_F32: return "f32";
    case MG_DTYPE_F16: return "f16";
    case MG_DTYPE_I32: return "i32";
    }
    return "unknown";
}

size_t mg_dtype_size(mg_dtype dtype)
{
    return dtype == MG_DTYPE_F16 ? 2 : 4;
}

static mg_status check_shape(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, size_t *out_count)
{
    if ((unsigned)dtype > MG_DTYPE_I32)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "unknown tensor dtype %d", (int)dtype);
    if (ndim < 1 || ndim > MG_MAX_DIMS || !shape)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "a tensor has 1 to %d dimensions (got %d)",
                       MG_MAX_DIMS, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "tensor dimension %d is %lld; every dimension must be at least 1", i, (long long)shape[i]);
        if ((uint64_t)shape[i] > (SIZE_MAX / 8) / count)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "tensor shape is too large");
        count *= (size_t)shape[i];
    }
    *out_count = count;
    return MG_OK;
}

static mg_tensor *new_header(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, size_t count)
{
    mg_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->count = count;
    t->nbytes = count * mg_dtype_size(dtype);
    return t;
}

mg_status mg_tensor_create(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, mg_tensor **out)
{
    mg_status status = mg_context_check(ctx, "mg_tensor_create");
    if (status != MG_OK)
        return status;
    if (!out)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_tensor_create: out is NULL");
    *out = NULL;
    size_t count;
    if ((status = check_shape(ctx, dtype, ndim, shape, &count)) != MG_OK)
        return status;
    mg_tensor *t = new_header(ctx, dtype, ndim, shape, count);
    mg_tensor_storage *storage = calloc(1, sizeof *storage);
    if (!t || !storage) {
        free(t);
        free(storage);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    /* Round up to whole 32-bit words: shaders read f16 data two at a time. */
    storage->nbytes = (t->nbytes + 3) / 4 * 4;
    storage->references = 1;
    if (ctx->gpu) {
        status = mg_gpu_alloc_memory(ctx->gpu, storage->nbytes, &storage->device);
    } else if (ctx->memory_limit && ctx->host_bytes_in_use + storage->nbytes > ctx->memory_limit) {
        status = mg_fail(&ctx->diag, MG_ERR_DEVICE_OUT_OF_MEMORY,
                         "the context's memory limit of %llu bytes is reached: %llu bytes are in use and %zu "
                         "more were requested; raise device_memory_limit or free tensors",
                         (unsigned long long)ctx->memory_limit, (unsigned long long)ctx->host_bytes_in_use,
                         storage->nbytes);
    } else {
        storage->host = calloc(1, storage->nbytes);
        if (!storage->host)
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory allocating %zu bytes",
                             storage->nbytes);
        else if ((ctx->host_bytes_in_use += storage->nbytes) > ctx->host_bytes_peak)
            ctx->host_bytes_peak = ctx->host_bytes_in_use;
    }
    if (status != MG_OK) {
        free(storage);
        free(t);
        return status;
    }
    t->storage = storage;
    mg_context_retain(ctx);
    *out = t;
    return MG_OK;
}

mg_status mg_tensor_view(mg_tensor *parent, size_t byte_offset, mg_dtype dtype, int ndim, const int64_t *shape,
                         mg_tensor **out)
{
    if (!parent || !out)
        return MG_ERR_INVALID_ARGUMENT;
    *out = NULL;
    mg_context *ctx = parent->ctx;
    mg_status status = mg_context_check(ctx, "mg_tensor_view");
    if (status != MG_OK)
        return status;
    size_t count;
    if ((status = check_shape(ctx, dtype, ndim, shape, &count)) != MG_OK)
        return status;
    size_t start = parent->byte_offset + byte_offset;
    size_t nbytes = count * mg_dtype_size(dtype);
    if (byte_offset % mg_dtype_size(dtype) != 0 || byte_offset > parent->nbytes || nbytes > parent->nbytes - byte_offset)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "a view of %zu bytes at offset %zu does not fit in its parent of %zu bytes (or is misaligned "
                       "for %s)", nbytes, byte_offset, parent->nbytes, mg_dtype_name(dtype));
    mg_tensor *t = new_header(ctx, dtype, ndim, shape, count);
    if (!t)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    t->byte_offset = start;
    t->storage = parent->storage;
    t->storage->references++;
    mg_context_retain(ctx);
    *out = t;
    return MG_OK;
}

void mg_tensor_free(mg_tensor *t)
{
    if (!t)
        return;
    mg_context *ctx = t->ctx;
    mg_tensor_storage *storage = t->storage;
    if (--storage->references == 0) {
        if (storage->host) {
            ctx->host_bytes_in_use -= storage->nbytes;
            free(storage->host);
        }
        /* After mg_context_destroy the device memory is already gone. */
        if (storage->device.block && !atomic_load(&ctx->destroyed) && ctx->gpu)
            mg_gpu_free_memory(ctx->gpu, &storage->device);
        free(storage);
    }
    free(t);
    mg_context_release(ctx);
}

void *mg_tensor_host_data(const mg_tensor *t)
{
    return (uint8_t *)t->storage->host + t->byte_offset;
}

mg_gpu_range mg_tensor_device_range(const mg_tensor *t)
{
    const mg_gpu_alloc *a = &t->storage->device;
    return (mg_gpu_range){a->block, a->offset + t->byte_offset, t->nbytes};
}

static mg_status check_io(const mg_tensor *t, const void *data, size_t nbytes, const char *what)
{
    if (!t)
        return MG_ERR_INVALID_ARGUMENT;
    mg_status status = mg_context_check(t->ctx, what);
    if (status != MG_OK)
        return status;
    if (!data)
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: data is NULL", what);
    if (nbytes != t->nbytes)
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %zu bytes given for a %s tensor of %zu bytes",
                       what, nbytes, mg_dtype_name(t->dtype), t->nbytes);
    return MG_OK;
}

mg_status mg_tensor_write(mg_tensor *t, const void *data, size_t nbytes)
{
    mg_status status = check_io(t, data, nbytes, "mg_tensor_write");
    if (status != MG_OK)
        return status;
    if (t->ctx->gpu)
        return mg_gpu_write(t->ctx->gpu, mg_tensor_device_range(t), data);
    memcpy(mg_tensor_host_data(t), data, nbytes);
    return MG_OK;
}

mg_status mg_tensor_read(const mg_tensor *t, void *data, size_t nbytes)
{
    mg_status status = check_io(t, data, nbytes, "mg_tensor_read");
    if (status != MG_OK)
        return status;
    if (t->ctx->gpu)
        return mg_gpu_read(t->ctx->gpu, mg_tensor_device_range(t), data);
    memcpy(data, mg_tensor_host_data(t), nbytes);
    return MG_OK;
}

mg_status mg_tensor_write_f32(mg_tensor *t, const float *data, size_t count)
{
    if (!t)
        return MG_ERR_INVALID_ARGUMENT;
    if (t->dtype == MG_DTYPE_F32)
        return mg_tensor_write(t, data, count * sizeof(float));
    if (t->dtype != MG_DTYPE_F16 || count != t->count || !data)
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_tensor_write_f32: %zu floats given for a %s tensor of %zu elements", count,
                       mg_dtype_name(t->dtype), t->count);
    uint16_t *halves = malloc(count * sizeof *halves);
    if (!halves)
        return mg_fail(&t->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    mg_float_to_half_array(data, halves, count);
    mg_status status = mg_tensor_write(t, halves, count * sizeof *halves);
    free(halves);
    return status;
}

mg_status mg_tensor_read_f32(const mg_tensor *t, float *data, size_t count)
{
    if (!t)
        return MG_ERR_INVALID_ARGUMENT;
    if (t->dtype == MG_DTYPE_F32)
        return mg_tensor_read(t, data, count * sizeof(float));
    if (t->dtype != MG_DTYPE_F16 || count != t->count || !data)
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_tensor_read_f32: room for %zu floats given for a %s tensor of %zu elements", count,
                       mg_dtype_name(t->dtype), t->count);
    uint16_t *halves = malloc(count * sizeof *halves);
    if (!halves)
        return mg_fail(&t->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    mg_status status = mg_tensor_read(t, halves, count * sizeof *halves);
    if (status == MG_OK)
        mg_half_to_float_array(halves, data, count);
    free(halves);
    return status;
}

mg_status mg_tensor_fill_u32(mg_tensor *t, uint32_t pattern)
{
    if (!t)
        return MG_ERR_INVALID_ARGUMENT;
    mg_status status = mg_context_check(t->ctx, "mg_tensor_fill_u32");
    if (status != MG_OK)
        return status;
    if (t->nbytes % 4 || t->byte_offset % 4)
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_tensor_fill_u32: the tensor is not made of "
                       "whole 32-bit words");
    if (t->ctx->gpu)
        return mg_gpu_fill(t->ctx->gpu, mg_tensor_device_range(t), pattern);
    uint32_t *words = mg_tensor_host_data(t);
    for (size_t i = 0; i < t->nbytes / 4; i++)
        words[i] = pattern;
    return MG_OK;
}

mg_status mg_context_synchronize(mg_context *ctx)
{
    mg_status status = mg_context_check(ctx, "mg_context_synchronize");
    if (status != MG_OK || !ctx->gpu)
        return status;
    return mg_gpu_finish(ctx->gpu);
}
