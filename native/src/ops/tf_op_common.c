/* Argument checks and dispatch helpers shared by the MeshTransformer op entries, forward (transformer_ops.c)
 * and backward (grad_tf.c, grad_tf_attention.c). */
#include "ops/tf_op_common.h"

#include <string.h>

mg_status mg_tf_op_sequence_shape(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                    size_t width, size_t *batch, size_t *n)
{
    bool ok = (t->ndim == 3 || t->ndim == 2) && (width == 0 || (size_t)t->shape[t->ndim - 1] == width);
    if (!ok) {
        char shape[64];
        mg_shape_string(t, shape, sizeof shape);
        if (width == 0)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must be [B, N, D] or [N, D]",
                           op, name, shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must be [B, N, %zu] or [N, %zu]",
                       op, name, shape, width, width);
    }
    *batch = t->ndim == 3 ? (size_t)t->shape[0] : 1;
    *n = (size_t)t->shape[t->ndim - 2];
    return MG_OK;
}

mg_status mg_tf_op_check_sequence(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                    size_t batch, size_t rows, size_t width)
{
    size_t tb = 0, tn = 0;
    mg_status status = mg_tf_op_sequence_shape(ctx, op, name, t, width, &tb, &tn);
    if (status != MG_OK)
        return status;
    if (tb != batch || tn != rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s must be [%zu, %zu, %zu]", op, name, batch, rows,
                       width);
    return MG_OK;
}

mg_status mg_tf_op_check_output(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                  const mg_tensor *like, const char *like_name)
{
    if (!t)
        return MG_OK;
    mg_status status = mg_check_tensor(ctx, op, name, t, MG_DTYPE_F32, false);
    if (status != MG_OK)
        return status;
    if (t->ndim == like->ndim && memcmp(t->shape, like->shape, (size_t)t->ndim * sizeof t->shape[0]) == 0)
        return MG_OK;
    char ts[64], ls[64];
    mg_shape_string(t, ts, sizeof ts);
    mg_shape_string(like, ls, sizeof ls);
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must have %s's shape %s", op, name,
                   ts, like_name, ls);
}

mg_status mg_tf_op_check_apart(mg_context *ctx, const char *op, const char *out_name, const mg_tensor *out,
                                 const char *name, const mg_tensor *t)
{
    if (!out || !t || out->storage != t->storage)
        return MG_OK;
    size_t a0 = t->byte_offset, a1 = a0 + t->nbytes, b0 = out->byte_offset, b1 = b0 + out->nbytes;
    if (a0 < b1 && b0 < a1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s; give it a buffer of its own", op,
                       out_name, name);
    return MG_OK;
}

mg_status mg_tf_op_check_indexable(mg_context *ctx, const char *op, const mg_tensor *t)
{
    if (t && t->count > UINT32_MAX / 4)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: a tensor of %zu elements is too large for this op; split the batch", op, t->count);
    return MG_OK;
}

mg_status mg_tf_op_record(mg_context *ctx, mg_gpu_dispatch *d, const void *push, size_t push_size)
{
    memcpy(d->push, push, push_size);
    d->push_size = (uint32_t)push_size;
    return mg_gpu_record_dispatch(ctx->gpu, d);
}

void mg_tf_op_grid(mg_context *ctx, mg_gpu_dispatch *d, uint32_t workgroup, size_t items)
{
    d->spec[0] = workgroup;
    if (d->spec_count < 1)
        d->spec_count = 1;
    mg_grid_1d(ctx, d, (items + workgroup - 1) / workgroup);
}
