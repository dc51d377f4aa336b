#include "model/scratch.h"

#include "core/diag.h"

#include <string.h>

void mg_scratch_init(mg_scratch *scratch, mg_context *ctx)
{
    memset(scratch, 0, sizeof *scratch);
    scratch->ctx = ctx;
}

static mg_tensor *keep(mg_scratch *scratch, mg_status status, mg_tensor *tensor)
{
    if (status != MG_OK) {
        if (scratch->status == MG_OK)
            scratch->status = status;
        return NULL;
    }
    if (scratch->count == MG_SCRATCH_MAX) {
        mg_tensor_free(tensor);
        scratch->status = mg_fail(&scratch->ctx->diag, MG_ERR_INTERNAL,
                                  "a forward pass needs more than %d temporaries", MG_SCRATCH_MAX);
        return NULL;
    }
    scratch->tensors[scratch->count++] = tensor;
    return tensor;
}

mg_tensor *mg_scratch_tensor(mg_scratch *scratch, mg_dtype dtype, int ndim, const int64_t *shape)
{
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_create(scratch->ctx, dtype, ndim, shape, &tensor);
    return keep(scratch, status, tensor);
}

mg_tensor *mg_scratch_2d(mg_scratch *scratch, mg_dtype dtype, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return mg_scratch_tensor(scratch, dtype, 2, shape);
}

mg_tensor *mg_scratch_3d(mg_scratch *scratch, mg_dtype dtype, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return mg_scratch_tensor(scratch, dtype, 3, shape);
}

mg_tensor *mg_scratch_view(mg_scratch *scratch, mg_tensor *parent, int ndim, const int64_t *shape)
{
    return mg_scratch_view_at(scratch, parent, 0, ndim, shape);
}

mg_tensor *mg_scratch_view_at(mg_scratch *scratch, mg_tensor *parent, size_t byte_offset, int ndim,
                              const int64_t *shape)
{
    if (!parent)
        return NULL;
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_view(parent, byte_offset, parent->dtype, ndim, shape, &tensor);
    return keep(scratch, status, tensor);
}

mg_tensor *mg_scratch_i32(mg_scratch *scratch, const int32_t *values, int ndim, const int64_t *shape)
{
    mg_tensor *tensor = mg_scratch_tensor(scratch, MG_DTYPE_I32, ndim, shape);
    if (tensor) {
        mg_status status = mg_tensor_write(tensor, values, tensor->nbytes);
        if (status != MG_OK) {
            if (scratch->status == MG_OK)
                scratch->status = status;
            return NULL;
        }
    }
    return tensor;
}

void mg_scratch_drop(mg_scratch *scratch, mg_tensor *tensor)
{
    for (size_t i = 0; i < scratch->count; i++) {
        if (scratch->tensors[i] == tensor) {
            scratch->tensors[i] = scratch->tensors[--scratch->count];
            mg_tensor_free(tensor);
            return;
        }
    }
}

void mg_scratch_release(mg_scratch *scratch)
{
    for (size_t i = scratch->count; i > 0; i--)
        mg_tensor_free(scratch->tensors[i - 1]);
    scratch->count = 0;
}
