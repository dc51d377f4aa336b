/* Entries of the MeshTransformer backward ops other than attention
 * (ops_grad_tf.h), and the checks they share with grad_tf_attention.c. */
#include "ops/tf_op_common.h"
#include "ops/ops_grad_tf.h"

#include <string.h>

#define GRAD_TF_ELEMENTWISE_WORKGROUP 256

static uint32_t elementwise_workgroup(mg_context *ctx)
{
    return mg_workgroup_size(ctx, GRAD_TF_ELEMENTWISE_WORKGROUP);
}

/* ---- gateloop ---- */

mg_status mg_op_gateloop_backward(mg_context *ctx, const mg_tensor *qkva, const mg_tensor *d_out, mg_tensor *d_qkva)
{
    const char *op = "gateloop_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "qkva", qkva, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_qkva", d_qkva, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t width = mg_last_dim(qkva);
    if (width % 3 != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: qkva's last dimension (%zu) must be 3 x dim (q | kv | a, the to_qkva output)", op, width);
    size_t dim = width / 3, batch = 0, n = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "qkva", qkva, width, &batch, &n)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "d_out", d_out, batch, n, dim)) != MG_OK ||
        (status = mg_tf_op_check_output(ctx, op, "d_qkva", d_qkva, qkva, "qkva")) != MG_OK ||
        (status = mg_tf_op_check_apart(ctx, op, "d_qkva", d_qkva, "qkva", qkva)) != MG_OK ||
        (status = mg_tf_op_check_apart(ctx, op, "d_qkva", d_qkva, "d_out", d_out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, qkva)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        if (!mg_ref_gateloop_backward(batch, n, dim, mg_f32_of(qkva), mg_f32_of(d_out), mg_f32_of(d_qkva)))
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu steps", op, n);
        return MG_OK;
    }
    if (mg_device_is_cpu(ctx) && 2 * (uint64_t)n > MG_CPU_DEVICE_LOOP_BUDGET)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: %zu steps exceed what one invocation may loop on a CPU Vulkan device (%u); use shorter "
                       "sequences or the CPU backend",
                       op, n, MG_CPU_DEVICE_LOOP_BUDGET / 2);
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t qkva_offset, d_out_offset, d_qkva_offset, batch, n, dim;
    } pc = {.batch = (uint32_t)batch, .n = (uint32_t)n, .dim = (uint32_t)dim};
    pc.qkva_offset = mg_bind(ctx, &d, qkva, false);
    pc.d_out_offset = mg_bind(ctx, &d, d_out, false);
    pc.d_qkva_offset = mg_bind(ctx, &d, d_qkva, true);
    d.shader = MG_SHADER_GRAD_TF_GATELOOP;
    /* One invocation per channel: small workgroups spread few channels over more cores. */
    mg_tf_op_grid(ctx, &d, mg_workgroup_size(ctx, 64), batch * dim);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- value residual ---- */

mg_status mg_op_value_residual_mix_backward(mg_context *ctx, const mg_tensor *v, const mg_tensor *v_first,
                                            const mg_tensor *mix_logits, size_t heads, const mg_tensor *d_out,
                                            mg_tensor *d_v, mg_tensor *d_v_first, mg_tensor *d_mix_logits)
{
    const char *op = "value_residual_mix_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "v", v, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "v_first", v_first, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_tf_op_check_output(ctx, op, "v_first", v_first, v, "v")) != MG_OK ||
        (status = mg_tf_op_check_output(ctx, op, "d_out", d_out, v, "v")) != MG_OK ||
        (status = mg_tf_op_check_output(ctx, op, "d_v", d_v, v, "v")) != MG_OK ||
        (status = mg_tf_op_check_output(ctx, op, "d_v_first", d_v_first, v, "v")) != MG_OK)
        return status;
    size_t width = mg_last_dim(v), rows = mg_rows(v);
    if (heads == 0 || width % heads != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: v's last dimension (%zu) must be heads (%zu) x dim_head", op, width, heads);
    if (mix_logits) {
        if ((status = mg_check_tensor(ctx, op, "mix_logits", mix_logits, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (mix_logits->count != rows * heads || mg_last_dim(mix_logits) != heads)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: mix_logits must have one value per row of v and head (%zu x %zu)", op, rows, heads);
        if ((status = mg_tf_op_check_output(ctx, op, "d_mix_logits", d_mix_logits, mix_logits, "mix_logits")) !=
            MG_OK)
            return status;
    } else if (d_mix_logits) {
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: d_mix_logits is given but mix_logits is NULL (a fixed 0.5 mix has no logits); pass NULL",
                       op);
    }
    /* d_v may be d_out (each element is read before it is written); nothing else may overlap. */
    const mg_tensor *inputs[4] = {v, v_first, mix_logits, d_out};
    const char *input_names[4] = {"v", "v_first", "mix_logits", "d_out"};
    mg_tensor *outputs[3] = {d_v, d_v_first, d_mix_logits};
    const char *output_names[3] = {"d_v", "d_v_first", "d_mix_logits"};
    for (int o = 0; o < 3; o++) {
        for (int i = 0; i < 4; i++)
            if (!(o == 0 && i == 3 && d_v && d_v->storage == d_out->storage &&
                  d_v->byte_offset == d_out->byte_offset) &&
                (status = mg_tf_op_check_apart(ctx, op, output_names[o], outputs[o], input_names[i], inputs[i])) !=
                    MG_OK)
                return status;
        for (int other = o + 1; other < 3; other++)
            if ((status = mg_tf_op_check_apart(ctx, op, output_names[o], outputs[o], output_names[other],
                                                 outputs[other])) != MG_OK)
                return status;
    }
    if ((status = mg_tf_op_check_indexable(ctx, op, v)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_value_residual_mix_backward(rows, heads, width / heads, mg_f32_of(v), mg_f32_of(v_first),
                                           mg_f32_of(mix_logits), mg_f32_of(d_out), mg_f32_of(d_v),
                                           mg_f32_of(d_v_first), mg_f32_of(d_mix_logits));
        return MG_OK;
    }
    if (!d_v && !d_v_first && !d_mix_logits)
        return MG_OK;
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t v_offset, v_first_offset, mix_offset, d_out_offset, d_v_offset, d_v_first_offset, d_mix_offset;
        uint32_t items, dim_head, has_mix, has_d_v, has_d_v_first, has_d_mix;
    } pc = {.items = (uint32_t)(rows * heads), .dim_head = (uint32_t)(width / heads), .has_mix = mix_logits != NULL,
            .has_d_v = d_v != NULL, .has_d_v_first = d_v_first != NULL, .has_d_mix = d_mix_logits != NULL};
    pc.v_offset = mg_bind(ctx, &d, v, false);
    pc.v_first_offset = mg_bind(ctx, &d, v_first, false);
    if (mix_logits)
        pc.mix_offset = mg_bind(ctx, &d, mix_logits, false);
    else
        mg_bind_none(ctx, &d);
    pc.d_out_offset = mg_bind(ctx, &d, d_out, false);
    mg_tensor *const targets[3] = {d_v, d_v_first, d_mix_logits};
    uint32_t *offsets[3] = {&pc.d_v_offset, &pc.d_v_first_offset, &pc.d_mix_offset};
    for (int o = 0; o < 3; o++) {
        if (targets[o])
            *offsets[o] = mg_bind(ctx, &d, targets[o], true);
        else
            mg_bind_none(ctx, &d);
    }
    d.shader = MG_SHADER_GRAD_TF_VALUE_MIX;
    mg_tf_op_grid(ctx, &d, elementwise_workgroup(ctx), rows * heads);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- position-dependent embedding rows ---- */

mg_status mg_op_add_table_rows_backward(mg_context *ctx, const mg_tensor *d_out, int64_t offset, size_t divisor,
                                        size_t period, mg_tensor *d_table)
{
    const char *op = "add_table_rows_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_table", d_table, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(d_out), batch = 0, n = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "d_out", d_out, dim, &batch, &n)) != MG_OK)
        return status;
    if (d_table->ndim != 2 || mg_last_dim(d_table) != dim) {
        char shape[64];
        mg_shape_string(d_table, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: d_table has shape %s but must be [rows, %zu]", op,
                       shape, dim);
    }
    size_t table_rows = (size_t)d_table->shape[0];
    if (divisor == 0 || period == 0 || period > table_rows || offset < 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: need divisor >= 1 (got %zu), 1 <= period (%zu) <= table rows (%zu), offset >= 0 (%lld)",
                       op, divisor, period, table_rows, (long long)offset);
    if ((status = mg_tf_op_check_apart(ctx, op, "d_table", d_table, "d_out", d_out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, d_out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, d_table)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_add_table_rows_backward(batch, n, dim, mg_f32_of(d_out), offset, divisor, period, mg_f32_of(d_table));
        return MG_OK;
    }
    uint64_t cycle = (uint64_t)divisor * period, reduced = (uint64_t)offset % cycle;
    if (cycle > UINT32_MAX / 4 || n > UINT32_MAX / 4)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: divisor x period (%llu) is too large", op,
                       (unsigned long long)cycle);
    /* Loop iterations of one invocation per batch entry, counted as lavapipe
     * may count them (every loop test, the last one that fails too): the
     * cycles its positions span, twice (the cycle loop and the entry of the
     * position loop), plus the positions that read its row. */
    uint64_t spans = (reduced + n) / cycle + 1;
    uint64_t reads = (uint64_t)divisor * ((n + cycle - 1) / cycle + 1);
    uint64_t per_batch = 2 * spans + 2 + (reads < n ? reads : n);
    size_t batches_per_dispatch = batch;
    if (mg_device_is_cpu(ctx)) {
        if (per_batch > MG_CPU_DEVICE_LOOP_BUDGET)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: a sequence of %zu rows is too long for one invocation on a CPU Vulkan device; use "
                           "the CPU backend or shorter sequences",
                           op, n);
        batches_per_dispatch = (size_t)(MG_CPU_DEVICE_LOOP_BUDGET / per_batch);
    }
    /* Dispatches add to d_table one after the other (the stream orders them): deterministic. */
    for (size_t begin = 0; begin < batch; begin += batches_per_dispatch) {
        size_t end = batch - begin < batches_per_dispatch ? batch : begin + batches_per_dispatch;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t d_out_offset, d_table_offset, n, dim, offset, divisor, period, batch_begin, batch_end;
        } pc = {.n = (uint32_t)n, .dim = (uint32_t)dim, .offset = (uint32_t)reduced, .divisor = (uint32_t)divisor,
                .period = (uint32_t)period, .batch_begin = (uint32_t)begin, .batch_end = (uint32_t)end};
        pc.d_out_offset = mg_bind(ctx, &d, d_out, false);
        pc.d_table_offset = mg_bind(ctx, &d, d_table, true);
        d.shader = MG_SHADER_GRAD_TF_ADD_TABLE_ROWS;
        mg_tf_op_grid(ctx, &d, mg_workgroup_size(ctx, 64), period * dim);
        if ((status = mg_tf_op_record(ctx, &d, &pc, sizeof pc)) != MG_OK)
            return status;
    }
    return MG_OK;
}

/* ---- copy_rows ---- */

mg_status mg_op_copy_rows_backward(mg_context *ctx, const mg_tensor *d_dst, size_t row_offset, mg_tensor *d_src)
{
    const char *op = "copy_rows_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "d_dst", d_dst, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_src", d_src, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(d_src), batch = 0, n = 0, db = 0, dst_rows = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "d_src", d_src, dim, &batch, &n)) != MG_OK ||
        (status = mg_tf_op_sequence_shape(ctx, op, "d_dst", d_dst, dim, &db, &dst_rows)) != MG_OK)
        return status;
    if (db != batch || d_src->ndim != d_dst->ndim)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: d_src and d_dst must have the same batch (%zu and %zu) and number of dimensions", op,
                       batch, db);
    if (row_offset > dst_rows || n > dst_rows - row_offset)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: rows [%zu, %zu) do not fit in d_dst's %zu rows", op,
                       row_offset, row_offset + n, dst_rows);
    if ((status = mg_tf_op_check_apart(ctx, op, "d_src", d_src, "d_dst", d_dst)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, d_dst)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_copy_rows_backward(batch, n, dim, dst_rows, row_offset, mg_f32_of(d_dst), mg_f32_of(d_src));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t d_dst_offset, d_src_offset, count, block, dst_block, row_shift;
    } pc = {.count = (uint32_t)d_src->count, .block = (uint32_t)(n * dim), .dst_block = (uint32_t)(dst_rows * dim),
            .row_shift = (uint32_t)(row_offset * dim)};
    pc.d_dst_offset = mg_bind(ctx, &d, d_dst, false);
    pc.d_src_offset = mg_bind(ctx, &d, d_src, true);
    d.shader = MG_SHADER_GRAD_TF_COPY_ROWS;
    mg_tf_op_grid(ctx, &d, elementwise_workgroup(ctx), d_src->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}
