/*
 * Tensors: dense, row-major, up to 4 dimensions, living on the context's
 * backend (device memory for Vulkan, host memory for the CPU reference).
 * Model code creates them, uploads weights once and passes them to ops without
 * knowing which backend runs.
 *
 * A view shares its parent's storage (reference counted), so freeing the parent
 * first is safe. Sizes of 0 are refused: an op on nothing is a caller's bug.
 */
#ifndef MG_OPS_TENSOR_H
#define MG_OPS_TENSOR_H

#include "core/context.h"
#include "gpu/gpu.h"

#include <stddef.h>
#include <stdint.h>

#define MG_MAX_DIMS 4

typedef enum mg_dtype {
    MG_DTYPE_F32 = 0,
    MG_DTYPE_F16 = 1,  /* storage only: ops accumulate in f32 */
    MG_DTYPE_I32 = 2
} mg_dtype;

const char *mg_dtype_name(mg_dtype dtype);
size_t mg_dtype_size(mg_dtype dtype);

typedef struct mg_tensor_storage {
    int references;
    size_t nbytes;
    void *host;          /* CPU backend */
    mg_gpu_alloc device; /* Vulkan backend */
} mg_tensor_storage;

typedef struct mg_tensor {
    mg_context *ctx;
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    size_t count;        /* elements */
    size_t nbytes;
    size_t byte_offset;  /* within the storage (views) */
    mg_tensor_storage *storage;
} mg_tensor;

mg_status mg_tensor_create(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, mg_tensor **out);
/* A tensor over `parent`'s storage starting `byte_offset` bytes into the parent. */
mg_status mg_tensor_view(mg_tensor *parent, size_t byte_offset, mg_dtype dtype, int ndim, const int64_t *shape,
                         mg_tensor **out);
void mg_tensor_free(mg_tensor *tensor);

/* Raw bytes in the tensor's own dtype; nbytes must equal tensor->nbytes. */
mg_status mg_tensor_write(mg_tensor *tensor, const void *data, size_t nbytes);
mg_status mg_tensor_read(const mg_tensor *tensor, void *data, size_t nbytes);
/* f32 values converted to/from the tensor's dtype (f32 or f16). */
mg_status mg_tensor_write_f32(mg_tensor *tensor, const float *data, size_t count);
mg_status mg_tensor_read_f32(const mg_tensor *tensor, float *data, size_t count);
/* Every 32-bit word of the tensor set to `pattern` (nbytes must be a multiple of 4). */
mg_status mg_tensor_fill_u32(mg_tensor *tensor, uint32_t pattern);

/* Waits until every recorded op has finished (a no-op on the CPU backend). */
mg_status mg_context_synchronize(mg_context *ctx);

/* The bytes of the tensor on the host (CPU backend only). */
void *mg_tensor_host_data(const mg_tensor *tensor);
/* The device range holding the tensor (Vulkan backend only). */
mg_gpu_range mg_tensor_device_range(const mg_tensor *tensor);

#endif
