/* Embedding gather: rows of an f32 or f16 table by i32 ids. */
#include "ops/op_common.h"

#include <string.h>

mg_status mg_op_embedding(mg_context *ctx, const mg_tensor *table, const mg_tensor *ids, mg_tensor *out)
{
    const char *op = "embedding";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "table", table, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "ids", ids, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "table", table, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "ids", ids, out)) != MG_OK)
        return status;
    if (table->ndim != 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "embedding: the table must be 2-D [vocab, dim]");
    size_t vocab = (size_t)table->shape[0], dim = (size_t)table->shape[1];
    bool ok = out->ndim == ids->ndim + 1 && mg_last_dim(out) == dim && out->count == ids->count * dim;
    for (int i = 0; ok && i < ids->ndim; i++)
        ok = out->shape[i] == ids->shape[i];
    if (!ok) {
        char is[64], os[64];
        mg_shape_string(ids, is, sizeof is);
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "embedding: out has shape %s but ids %s need [..., %zu]",
                       os, is, dim);
    }
    if (!ctx->gpu) {
        mg_ref_embedding(ids->count, dim, vocab, mg_i32_of(ids), mg_param_of(table), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t table_offset, ids_offset, y_offset, id_count, dim, vocab;
    } p = {.id_count = (uint32_t)ids->count, .dim = (uint32_t)dim, .vocab = (uint32_t)vocab};
    p.table_offset = mg_bind(ctx, &d, table, false);
    p.ids_offset = mg_bind(ctx, &d, ids, false);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = table->dtype == MG_DTYPE_F16 ? MG_SHADER_EMBEDDING_F16 : MG_SHADER_EMBEDDING_F32;
    d.spec[0] = mg_workgroup_size(ctx, 256);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, (ids->count * dim + d.spec[0] - 1) / d.spec[0]);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
