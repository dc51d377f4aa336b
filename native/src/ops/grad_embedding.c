/* Embedding backward: a deterministic scatter-add, run as a gather over a
 * host-built list of the positions of each id. */
#include "ops/grad_common.h"

#include <stdlib.h>
#include <string.h>

#define EMBEDDING_WORKGROUP 256

void mg_embedding_grad_index_free(mg_embedding_grad_index *index)
{
    if (!index)
        return;
    free(index->rows);
    free(index->offsets);
    free(index->positions);
    memset(index, 0, sizeof *index);
}

mg_status mg_embedding_grad_index_build(mg_context *ctx, const int32_t *ids, size_t n_ids, size_t vocab,
                                        mg_embedding_grad_index *out)
{
    mg_status status = mg_context_check(ctx, "embedding_grad_index");
    if (status != MG_OK)
        return status;
    memset(out, 0, sizeof *out);
    if ((!ids && n_ids) || n_ids > INT32_MAX || vocab > INT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "embedding_grad_index: ids must be given and n_ids and vocab below 2^31");
    /* Counting sort by id: positions come out ascending within each id. */
    size_t *counts = calloc(vocab + 1, sizeof *counts);
    out->rows = malloc((n_ids ? n_ids : 1) * sizeof *out->rows);
    out->offsets = malloc((n_ids + 1) * sizeof *out->offsets);
    out->positions = malloc((n_ids ? n_ids : 1) * sizeof *out->positions);
    if (!counts || !out->rows || !out->offsets || !out->positions) {
        free(counts);
        mg_embedding_grad_index_free(out);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "embedding_grad_index: out of host memory for %zu ids",
                       n_ids);
    }
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < vocab)
            counts[ids[i]]++;
    size_t nnz = 0, unique = 0;
    out->offsets[0] = 0;
    for (size_t v = 0; v < vocab; v++) {
        if (!counts[v])
            continue;
        out->rows[unique] = (int32_t)v;
        size_t start = nnz;
        nnz += counts[v];
        if (counts[v] > out->max_count)
            out->max_count = counts[v];
        counts[v] = start; /* becomes the next write position of id v */
        out->offsets[++unique] = (int32_t)nnz;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < vocab)
            out->positions[counts[ids[i]]++] = (int32_t)i;
    out->unique = unique;
    out->nnz = nnz;
    free(counts);
    return MG_OK;
}

/* The CPU backend reads the lists on the host: refuse what would read or write out of bounds. */
static mg_status check_lists(mg_context *ctx, size_t unique, size_t vocab, size_t n_ids, size_t nnz,
                             const int32_t *rows, const int32_t *offsets, const int32_t *positions)
{
    if (offsets[0] < 0 || (size_t)offsets[unique] > nnz)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "embedding_backward: offsets must start >= 0 and end <= %zu (the positions)", nnz);
    for (size_t u = 0; u < unique; u++) {
        if (rows[u] < 0 || (size_t)rows[u] >= vocab)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "embedding_backward: rows[%zu] = %d is outside the table [0, %zu)", u, rows[u], vocab);
        if (offsets[u + 1] < offsets[u])
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "embedding_backward: offsets decrease at %zu", u);
    }
    for (size_t p = 0; p < nnz; p++)
        if (positions[p] < 0 || (size_t)positions[p] >= n_ids)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "embedding_backward: positions[%zu] = %d is outside d_out's %zu rows", p, positions[p],
                           n_ids);
    return MG_OK;
}

mg_status mg_op_embedding_backward(mg_context *ctx, const mg_tensor *d_out, const mg_tensor *rows,
                                   const mg_tensor *offsets, const mg_tensor *positions, size_t max_count,
                                   mg_tensor *d_table)
{
    const char *op = "embedding_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "rows", rows, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "offsets", offsets, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "positions", positions, MG_DTYPE_I32, false)) != MG_OK)
        return status;
    if (!d_table)
        return MG_OK;
    if ((status = mg_check_tensor(ctx, op, "d_table", d_table, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "d_out", d_out, d_table)) != MG_OK)
        return status;
    if (d_table->ndim != 2 || mg_last_dim(d_out) != (size_t)d_table->shape[1])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "embedding_backward: d_table must be [vocab, dim] with d_out's last dimension as dim");
    size_t vocab = (size_t)d_table->shape[0], dim = (size_t)d_table->shape[1];
    size_t n_ids = d_out->count / dim, unique = rows->count, nnz = positions->count;
    if (offsets->count != unique + 1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "embedding_backward: offsets has %zu elements but must have rows + 1 = %zu", offsets->count,
                       unique + 1);
    if (!ctx->gpu) {
        if ((status = check_lists(ctx, unique, vocab, n_ids, nnz, mg_i32_of(rows), mg_i32_of(offsets),
                                  mg_i32_of(positions))) != MG_OK)
            return status;
        mg_ref_embedding_backward(dim, unique, mg_i32_of(rows), mg_i32_of(offsets), mg_i32_of(positions),
                                  mg_f32_of(d_out), mg_f32_of(d_table));
        return MG_OK;
    }
    size_t longest = max_count && max_count < nnz ? max_count : nnz;
    size_t chunk = mg_grad_row_chunk(ctx, 1);
    size_t begin = 0;
    do {
        size_t end = longest - begin > chunk ? begin + chunk : longest;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t g_offset, rows_offset, offsets_offset, positions_offset, table_offset, unique, dim, vocab,
                n_ids, nnz, chunk_begin, chunk_end;
        } p = {.unique = (uint32_t)unique, .dim = (uint32_t)dim, .vocab = (uint32_t)vocab, .n_ids = (uint32_t)n_ids,
               .nnz = (uint32_t)nnz, .chunk_begin = (uint32_t)begin, .chunk_end = (uint32_t)end};
        p.g_offset = mg_bind(ctx, &d, d_out, false);
        p.rows_offset = mg_bind(ctx, &d, rows, false);
        p.offsets_offset = mg_bind(ctx, &d, offsets, false);
        p.positions_offset = mg_bind(ctx, &d, positions, false);
        p.table_offset = mg_bind(ctx, &d, d_table, true);
        d.shader = MG_SHADER_GRAD_EMBEDDING;
        d.spec[0] = mg_workgroup_size(ctx, EMBEDDING_WORKGROUP);
        d.spec_count = 1;
        mg_grid_1d(ctx, &d, (unique * dim + d.spec[0] - 1) / d.spec[0]);
        memcpy(d.push, &p, sizeof p);
        d.push_size = sizeof p;
        if ((status = mg_gpu_record_dispatch(ctx->gpu, &d)) != MG_OK)
            return status;
        begin = end;
    } while (begin < longest);
    return MG_OK;
}

mg_status mg_op_embedding_backward_ids(mg_context *ctx, const mg_tensor *d_out, const int32_t *ids, size_t n_ids,
                                       mg_tensor *d_table)
{
    const char *op = "embedding_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    if (!d_table)
        return MG_OK;
    if ((status = mg_check_tensor(ctx, op, "d_table", d_table, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    if (d_table->ndim != 2 || d_out->count != n_ids * (size_t)d_table->shape[1])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "embedding_backward: d_out has %zu elements but %zu ids need %zu x dim of a 2-D d_table",
                       d_out->count, n_ids, n_ids);
    mg_embedding_grad_index index;
    if ((status = mg_embedding_grad_index_build(ctx, ids, n_ids, (size_t)d_table->shape[0], &index)) != MG_OK)
        return status;
    if (index.unique == 0) {
        mg_embedding_grad_index_free(&index);
        return MG_OK; /* every id is a pad: nothing to add */
    }
    mg_tensor *rows = NULL, *offsets = NULL, *positions = NULL;
    int64_t rows_shape[1] = {(int64_t)index.unique}, offsets_shape[1] = {(int64_t)index.unique + 1},
            positions_shape[1] = {(int64_t)index.nnz};
    if ((status = mg_tensor_create(ctx, MG_DTYPE_I32, 1, rows_shape, &rows)) == MG_OK &&
        (status = mg_tensor_create(ctx, MG_DTYPE_I32, 1, offsets_shape, &offsets)) == MG_OK &&
        (status = mg_tensor_create(ctx, MG_DTYPE_I32, 1, positions_shape, &positions)) == MG_OK &&
        (status = mg_tensor_write(rows, index.rows, rows->nbytes)) == MG_OK &&
        (status = mg_tensor_write(offsets, index.offsets, offsets->nbytes)) == MG_OK &&
        (status = mg_tensor_write(positions, index.positions, positions->nbytes)) == MG_OK)
        status = mg_op_embedding_backward(ctx, d_out, rows, offsets, positions, index.max_count, d_table);
    /* Freeing right after recording is safe: the stream orders later writes to the memory after this op. */
    mg_tensor_free(rows);
    mg_tensor_free(offsets);
    mg_tensor_free(positions);
    mg_embedding_grad_index_free(&index);
    return status;
}
