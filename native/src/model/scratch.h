/*
 * Temporary tensors of one forward pass: created through the scratch, freed
 * together at the end, on success and on every error path alike.
 */
#ifndef MG_MODEL_SCRATCH_H
#define MG_MODEL_SCRATCH_H

#include "ops/tensor.h"

#define MG_SCRATCH_MAX 256

typedef struct mg_scratch {
    mg_context *ctx;
    mg_tensor *tensors[MG_SCRATCH_MAX];
    size_t count;
    mg_status status;    /* of the first failed call, MG_OK while all went well */
} mg_scratch;

void mg_scratch_init(mg_scratch *scratch, mg_context *ctx);
/* A new tensor owned by the scratch (NULL on failure; the error is on ctx). */
mg_tensor *mg_scratch_tensor(mg_scratch *scratch, mg_dtype dtype, int ndim, const int64_t *shape);
/* The same shape list written inline: mg_scratch_tensor_2d(s, MG_DTYPE_F32, rows, cols). */
mg_tensor *mg_scratch_2d(mg_scratch *scratch, mg_dtype dtype, int64_t rows, int64_t cols);
mg_tensor *mg_scratch_3d(mg_scratch *scratch, mg_dtype dtype, int64_t d0, int64_t d1, int64_t d2);
/* A view owned by the scratch. */
mg_tensor *mg_scratch_view(mg_scratch *scratch, mg_tensor *parent, int ndim, const int64_t *shape);
/* A view `byte_offset` bytes into `parent`, owned by the scratch. */
mg_tensor *mg_scratch_view_at(mg_scratch *scratch, mg_tensor *parent, size_t byte_offset, int ndim,
                              const int64_t *shape);
/* An i32 tensor holding `values`. */
mg_tensor *mg_scratch_i32(mg_scratch *scratch, const int32_t *values, int ndim, const int64_t *shape);
/* Frees one tensor of the scratch early (a pass over many layers keeps only what it still needs). */
void mg_scratch_drop(mg_scratch *scratch, mg_tensor *tensor);
/* Frees every tensor (waits for nothing: Vulkan storage outlives the recorded work). */
void mg_scratch_release(mg_scratch *scratch);

#endif
