/* Entries of the MeshTransformer ops (ops_transformer.h): argument checks,
 * then the CPU reference or one shader dispatch. */
#include "ops/ops_transformer.h"
#include "ops/op_common.h"
#include "ops/tf_op_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TF_ELEMENTWISE_WORKGROUP 256
#define TF_ATTENTION_GPU_WORKGROUP 64

static void elementwise_grid(mg_context *ctx, mg_gpu_dispatch *d, size_t elements)
{
    d->spec[0] = mg_workgroup_size(ctx, TF_ELEMENTWISE_WORKGROUP);
    d->spec_count = 1;
    mg_grid_1d(ctx, d, (elements + d->spec[0] - 1) / d->spec[0]);
}

/* ---- step values read on the device ---- */

static mg_status check_step(mg_context *ctx, const char *op, const mg_tensor *step)
{
    if (!step)
        return MG_OK;
    mg_status status = mg_check_tensor(ctx, op, "step", step, MG_DTYPE_I32, false);
    if (status == MG_OK && step->count != 1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: step must be an i32 tensor of one element", op);
    return status;
}

/* The CPU reference reads the value when the op runs, as the shaders do. */
static int64_t step_value(const mg_tensor *step)
{
    if (!step)
        return 0;
    int32_t s = *mg_i32_of(step);
    return s < 0 ? 0 : s;
}

/* ---- attention ---- */

static mg_status check_memories(mg_context *ctx, const char *op, const mg_tensor *mem_k, const mg_tensor *mem_v,
                                size_t heads, size_t dim_head, size_t *mems)
{
    *mems = 0;
    if (!mem_k && !mem_v)
        return MG_OK;
    if (!mem_k || !mem_v)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: give both mem_k and mem_v, or neither", op);
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "mem_k", mem_k, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "mem_v", mem_v, MG_DTYPE_F32, true)) != MG_OK)
        return status;
    if (mem_k->dtype != mem_v->dtype)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: mem_k and mem_v must have the same dtype", op);
    bool ok = mem_k->ndim == 3 && (size_t)mem_k->shape[0] == heads && (size_t)mem_k->shape[2] == dim_head &&
              mem_v->ndim == 3 && memcmp(mem_k->shape, mem_v->shape, 3 * sizeof mem_k->shape[0]) == 0;
    if (!ok) {
        char ks[64], vs[64];
        mg_shape_string(mem_k, ks, sizeof ks);
        mg_shape_string(mem_v, vs, sizeof vs);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: mem_k %s and mem_v %s must both be [heads = %zu, memories, dim_head = %zu]", op, ks, vs,
                       heads, dim_head);
    }
    *mems = (size_t)mem_k->shape[1];
    return MG_OK;
}

static uint32_t attention_workgroup(mg_context *ctx, bool subgroups)
{
    /* A CPU device runs a workgroup as SIMD batches of one subgroup on one
     * core: a single subgroup needs no cross-batch barriers, and there are
     * enough (batch, query, head) groups to fill the cores. */
    if (mg_device_is_cpu(ctx))
        return mg_subgroup_workgroup_size(ctx, 1);
    return subgroups ? mg_subgroup_workgroup_size(ctx, TF_ATTENTION_GPU_WORKGROUP)
                     : mg_workgroup_size(ctx, TF_ATTENTION_GPU_WORKGROUP);
}

/* Which attention shader runs: tf_attention.comp (a workgroup per item, key
 * tiles, workgroup or subgroup reductions: what GPUs run fast) or
 * tf_attention_per_invocation.comp (an invocation per item, everything in
 * registers: 10x faster than the tiled one on lavapipe, whose workgroups are
 * loops over SIMD lanes of one core and whose barriers are expensive).
 * MESHGPT_ATTENTION_KERNEL=tiled|per_invocation overrides the choice, so
 * that tests and benchmarks can run either on any device. */
static mg_status attention_kernel(mg_context *ctx, const char *op, bool *per_invocation)
{
    const char *choice = getenv("MESHGPT_ATTENTION_KERNEL");
    if (!choice || !*choice) {
        *per_invocation = mg_device_is_cpu(ctx);
        return MG_OK;
    }
    if (strcmp(choice, "tiled") == 0 || strcmp(choice, "per_invocation") == 0) {
        *per_invocation = choice[0] == 'p';
        return MG_OK;
    }
    return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                   "%s: MESHGPT_ATTENTION_KERNEL is \"%s\"; set it to tiled or per_invocation, or unset it", op,
                   choice);
}

/* Invocations per workgroup of the per-invocation shader: one SIMD batch.
 * lavapipe runs a workgroup on one core, its invocations in batches of the
 * subgroup size (the SIMD width); a smaller workgroup still costs a whole
 * batch (measured: 1 invocation per workgroup is 10x slower than 8), and a
 * larger one leaves cores idle on a decoding step (batch x heads items). */
static uint32_t per_invocation_workgroup(mg_context *ctx)
{
    return mg_subgroup_workgroup_size(ctx, 1);
}

/* lavapipe ends every loop of an invocation once the loops of that
 * invocation have run 65535 iterations in all (a guard against endless
 * loops). The per-invocation shader unrolls its channel loops, so only its
 * key loops count; past this many keys it would silently stop early. */
#define TF_ATTENTION_CPU_LOOP_BUDGET 65000

mg_status mg_op_attention(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                          const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                          const mg_attention_params *params, mg_tensor *out)
{
    return mg_op_attention_at(ctx, q, k, v, mem_k, mem_v, key_mask, params, NULL, out);
}

mg_status mg_op_attention_at(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                             const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                             const mg_attention_params *params, const mg_tensor *step, mg_tensor *out)
{
    const char *op = "attention";
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!params)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params must not be NULL", op);
    const mg_attention_params *p = params;
    if ((status = mg_check_tensor(ctx, op, "q", q, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "k", k, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "v", v, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t width = mg_last_dim(q);
    if (p->heads == 0 || width % p->heads != 0 || width / p->heads > MG_TF_ATTENTION_MAX_DIM_HEAD)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: q's last dimension (%zu) must be heads (%zu) x dim_head, dim_head at most %d", op, width,
                       p->heads, MG_TF_ATTENTION_MAX_DIM_HEAD);
    size_t dim_head = width / p->heads, batch = 0, n = 0, kb = 0, key_rows = 0, mems = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "q", q, width, &batch, &n)) != MG_OK ||
        (status = mg_tf_op_sequence_shape(ctx, op, "k", k, width, &kb, &key_rows)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "k", k, batch, key_rows, width)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "v", v, batch, key_rows, width)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "out", out, batch, n, width)) != MG_OK ||
        (status = check_memories(ctx, op, mem_k, mem_v, p->heads, dim_head, &mems)) != MG_OK)
        return status;
    if (p->keys > key_rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params->keys (%zu) exceeds the %zu rows of k and v",
                       op, p->keys, key_rows);
    if (key_mask) {
        if ((status = mg_check_tensor(ctx, op, "key_mask", key_mask, MG_DTYPE_I32, false)) != MG_OK)
            return status;
        if (key_mask->count != batch * key_rows || (size_t)key_mask->shape[key_mask->ndim - 1] != key_rows)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: key_mask must be i32 [%zu, %zu] (one flag per row of k)", op, batch, key_rows);
    }
    if (p->causal && (p->query_offset < -(int64_t)INT32_MAX / 2 || p->query_offset > (int64_t)INT32_MAX / 2))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: query_offset %lld is out of range", op,
                       (long long)p->query_offset);
    if ((status = mg_check_no_alias(ctx, op, "q", q, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "k", k, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "v", v, out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, q)) != MG_OK || (status = mg_tf_op_check_indexable(ctx, op, k)) != MG_OK ||
        (status = check_step(ctx, op, step)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_attention_params shifted = *p;
        const int64_t shift = step_value(step);
        shifted.keys = p->keys + (size_t)shift < key_rows ? p->keys + (size_t)shift : key_rows;
        shifted.query_offset = p->query_offset + shift;
        mg_ref_attention(&shifted, batch, n, dim_head, key_rows, mg_f32_of(q), mg_f32_of(k), mg_f32_of(v), mems,
                         mg_param_of(mem_k), mg_param_of(mem_v), mg_i32_of(key_mask), mg_f32_of(out));
        return MG_OK;
    }
    bool per_invocation = false;
    if ((status = attention_kernel(ctx, op, &per_invocation)) != MG_OK)
        return status;
    if (per_invocation && mg_device_is_cpu(ctx) && mems + p->keys > TF_ATTENTION_CPU_LOOP_BUDGET)
        per_invocation = false; /* the tiled shader runs fewer iterations per invocation */
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t q_offset, k_offset, v_offset, mem_k_offset, mem_v_offset, mask_offset, y_offset;
        uint32_t n, heads, dim_head, key_rows, real_keys, mems, has_mask, causal;
        int32_t query_offset;
        float scale;
        uint32_t groups, step_offset, has_step;
    } pc = {.n = (uint32_t)n, .heads = (uint32_t)p->heads, .dim_head = (uint32_t)dim_head,
            .key_rows = (uint32_t)key_rows, .real_keys = (uint32_t)p->keys, .mems = (uint32_t)mems,
            .has_mask = key_mask != NULL, .causal = p->causal, .query_offset = (int32_t)p->query_offset,
            .scale = p->scale, .groups = (uint32_t)(batch * n * p->heads)};
    pc.q_offset = mg_bind(ctx, &d, q, false);
    pc.k_offset = mg_bind(ctx, &d, k, false);
    pc.v_offset = mg_bind(ctx, &d, v, false);
    if (mems) {
        pc.mem_k_offset = mg_bind(ctx, &d, mem_k, false);
        pc.mem_v_offset = mg_bind(ctx, &d, mem_v, false);
    } else {
        mg_bind_none(ctx, &d);
        mg_bind_none(ctx, &d);
    }
    if (key_mask)
        pc.mask_offset = mg_bind(ctx, &d, key_mask, false);
    else
        mg_bind_none(ctx, &d);
    pc.y_offset = mg_bind(ctx, &d, out, true);
    if (step) {
        pc.step_offset = mg_bind(ctx, &d, step, false);
        pc.has_step = 1;
    }
    bool sg = mg_use_subgroups(ctx);
    bool f16 = mems && mem_k->dtype == MG_DTYPE_F16;
    size_t items = batch * n * p->heads;
    if (per_invocation) {
        d.shader = f16 ? MG_SHADER_TF_ATTENTION_PER_INVOCATION_F16 : MG_SHADER_TF_ATTENTION_PER_INVOCATION_F32;
        d.spec[0] = per_invocation_workgroup(ctx);
        d.spec[1] = (uint32_t)dim_head; /* DIM_HEAD: the channel loops unroll */
        d.spec_count = 2;
        mg_grid_1d(ctx, &d, (items + d.spec[0] - 1) / d.spec[0]);
        return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
    }
    if (f16)
        d.shader = sg ? MG_SHADER_TF_ATTENTION_F16_SG : MG_SHADER_TF_ATTENTION_F16;
    else
        d.shader = sg ? MG_SHADER_TF_ATTENTION_F32_SG : MG_SHADER_TF_ATTENTION_F32;
    d.spec[0] = attention_workgroup(ctx, sg);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, items);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- copy_rows ---- */

mg_status mg_op_copy_rows(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t row_offset)
{
    return mg_op_copy_rows_at(ctx, src, dst, row_offset, NULL);
}

mg_status mg_op_copy_rows_at(mg_context *ctx, const mg_tensor *src, mg_tensor *dst, size_t row_offset,
                             const mg_tensor *step)
{
    const char *op = "copy_rows";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "src", src, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "dst", dst, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(src), batch = 0, n = 0, db = 0, dst_rows = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "src", src, dim, &batch, &n)) != MG_OK ||
        (status = mg_tf_op_sequence_shape(ctx, op, "dst", dst, dim, &db, &dst_rows)) != MG_OK)
        return status;
    if (db != batch || src->ndim != dst->ndim)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: src and dst must have the same batch (%zu and %zu) and number of dimensions", op, batch,
                       db);
    if (row_offset > dst_rows || n > dst_rows - row_offset)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: rows [%zu, %zu) do not fit in dst's %zu rows; allocate a longer cache", op, row_offset,
                       row_offset + n, dst_rows);
    if ((status = mg_check_no_alias(ctx, op, "src", src, dst)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, dst)) != MG_OK || (status = check_step(ctx, op, step)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        const size_t shifted = row_offset + (size_t)step_value(step);
        if (shifted <= dst_rows && n <= dst_rows - shifted) {
            mg_ref_copy_rows(batch, n, dim, dst_rows, shifted, mg_f32_of(src), mg_f32_of(dst));
            return MG_OK;
        }
        /* As the shader: rows that would land past dst are dropped. */
        for (size_t b = 0; b < batch; b++)
            for (size_t i = 0; i < n && shifted + i < dst_rows; i++)
                memcpy(mg_f32_of(dst) + (b * dst_rows + shifted + i) * dim, mg_f32_of(src) + (b * n + i) * dim,
                       dim * sizeof(float));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t src_offset, dst_offset, count, block, dst_block, row_shift, step_offset, has_step, dim;
    } pc = {.count = (uint32_t)src->count, .block = (uint32_t)(n * dim), .dst_block = (uint32_t)(dst_rows * dim),
            .row_shift = (uint32_t)(row_offset * dim), .dim = (uint32_t)dim};
    pc.src_offset = mg_bind(ctx, &d, src, false);
    pc.dst_offset = mg_bind(ctx, &d, dst, true);
    if (step) {
        pc.step_offset = mg_bind(ctx, &d, step, false);
        pc.has_step = 1;
    }
    d.shader = MG_SHADER_TF_COPY_ROWS;
    elementwise_grid(ctx, &d, src->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- gateloop ---- */

mg_status mg_op_gateloop(mg_context *ctx, const mg_tensor *qkva, mg_tensor *state, mg_tensor *out)
{
    const char *op = "gateloop";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "qkva", qkva, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t width = mg_last_dim(qkva);
    if (width % 3 != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: qkva's last dimension (%zu) must be 3 x dim (q | kv | a, the to_qkva output)", op, width);
    size_t dim = width / 3, batch = 0, n = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "qkva", qkva, width, &batch, &n)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "out", out, batch, n, dim)) != MG_OK)
        return status;
    if (state) {
        if ((status = mg_check_tensor(ctx, op, "state", state, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (state->count != batch * dim || mg_last_dim(state) != dim)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: state must be f32 [%zu, %zu]", op, batch, dim);
        if ((status = mg_check_no_alias(ctx, op, "state", state, out)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "qkva", qkva, state)) != MG_OK)
            return status;
    }
    if ((status = mg_check_no_alias(ctx, op, "qkva", qkva, out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, qkva)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_gateloop(batch, n, dim, mg_f32_of(qkva), mg_f32_of(state), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t qkva_offset, state_offset, y_offset, batch, n, dim, has_state;
    } pc = {.batch = (uint32_t)batch, .n = (uint32_t)n, .dim = (uint32_t)dim, .has_state = state != NULL};
    pc.qkva_offset = mg_bind(ctx, &d, qkva, false);
    if (state)
        pc.state_offset = mg_bind(ctx, &d, state, true);
    else
        mg_bind_none(ctx, &d);
    pc.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_TF_GATELOOP;
    /* One invocation per channel: small workgroups spread few channels
     * (dim 512, batch 1) over more cores. */
    d.spec[0] = mg_workgroup_size(ctx, 64);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, (batch * dim + d.spec[0] - 1) / d.spec[0]);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- value residual ---- */

mg_status mg_op_value_residual_mix(mg_context *ctx, const mg_tensor *v, const mg_tensor *v_first,
                                   const mg_tensor *mix_logits, size_t heads, mg_tensor *out)
{
    const char *op = "value_residual_mix";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "v", v, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "v_first", v_first, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "v", v, v_first)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "v", v, out)) != MG_OK)
        return status;
    size_t width = mg_last_dim(v), rows = mg_rows(v);
    if (heads == 0 || width % heads != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: v's last dimension (%zu) must be heads (%zu) x dim_head",
                       op, width, heads);
    if (mix_logits) {
        if ((status = mg_check_tensor(ctx, op, "mix_logits", mix_logits, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (mix_logits->count != rows * heads || mg_last_dim(mix_logits) != heads)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: mix_logits must have one value per row of v and head (%zu x %zu)", op, rows, heads);
        if ((status = mg_check_no_alias(ctx, op, "mix_logits", mix_logits, out)) != MG_OK)
            return status;
    }
    if ((status = mg_tf_op_check_indexable(ctx, op, v)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_value_residual_mix(rows, heads, width / heads, mg_f32_of(v), mg_f32_of(v_first), mg_f32_of(mix_logits),
                                  mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t v_offset, v_first_offset, mix_offset, y_offset, count, heads, dim_head, has_mix;
    } pc = {.count = (uint32_t)v->count, .heads = (uint32_t)heads, .dim_head = (uint32_t)(width / heads),
            .has_mix = mix_logits != NULL};
    pc.v_offset = mg_bind(ctx, &d, v, false);
    pc.v_first_offset = mg_bind(ctx, &d, v_first, false);
    if (mix_logits)
        pc.mix_offset = mg_bind(ctx, &d, mix_logits, false);
    else
        mg_bind_none(ctx, &d);
    pc.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_TF_VALUE_MIX;
    elementwise_grid(ctx, &d, v->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* ---- position-dependent embedding rows ---- */

mg_status mg_op_add_table_rows(mg_context *ctx, const mg_tensor *x, const mg_tensor *table, int64_t offset,
                               size_t divisor, size_t period, mg_tensor *out)
{
    return mg_op_add_table_rows_at(ctx, x, table, offset, divisor, period, NULL, out);
}

mg_status mg_op_add_table_rows_at(mg_context *ctx, const mg_tensor *x, const mg_tensor *table, int64_t offset,
                                  size_t divisor, size_t period, const mg_tensor *step, mg_tensor *out)
{
    const char *op = "add_table_rows";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "table", table, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, op, "x", x, out)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(x), batch = 0, n = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "x", x, dim, &batch, &n)) != MG_OK)
        return status;
    if (table->ndim != 2 || mg_last_dim(table) != dim) {
        char shape[64];
        mg_shape_string(table, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: table has shape %s but must be [rows, %zu]", op,
                       shape, dim);
    }
    size_t table_rows = (size_t)table->shape[0];
    if (divisor == 0 || period == 0 || period > table_rows || offset < 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: need divisor >= 1 (got %zu), 1 <= period (%zu) <= table rows (%zu), offset >= 0 (%lld)",
                       op, divisor, period, table_rows, (long long)offset);
    if ((status = mg_check_no_alias(ctx, op, "table", table, out)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, x)) != MG_OK || (status = mg_tf_op_check_indexable(ctx, op, table)) != MG_OK ||
        (status = check_step(ctx, op, step)) != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_add_table_rows(batch, n, dim, mg_f32_of(x), mg_param_of(table), offset + step_value(step), divisor,
                              period, mg_f32_of(out));
        return MG_OK;
    }
    /* The row only depends on (t + offset) modulo divisor * period: the shader
     * gets the reduced offset and stays within 32 bits. */
    uint64_t cycle = (uint64_t)divisor * period;
    uint64_t reduced = (uint64_t)offset % cycle;
    if (cycle > UINT32_MAX / 2 || n > UINT32_MAX / 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: divisor x period (%llu) is too large", op,
                       (unsigned long long)cycle);
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, table_offset, y_offset, count, n, dim, offset, divisor, period, step_offset, has_step;
    } pc = {.count = (uint32_t)x->count, .n = (uint32_t)n, .dim = (uint32_t)dim, .offset = (uint32_t)reduced,
            .divisor = (uint32_t)divisor, .period = (uint32_t)period};
    pc.x_offset = mg_bind(ctx, &d, x, false);
    pc.table_offset = mg_bind(ctx, &d, table, false);
    pc.y_offset = mg_bind(ctx, &d, out, true);
    if (step) {
        pc.step_offset = mg_bind(ctx, &d, step, false);
        pc.has_step = 1;
    }
    d.shader = table->dtype == MG_DTYPE_F16 ? MG_SHADER_TF_ADD_TABLE_ROWS_F16 : MG_SHADER_TF_ADD_TABLE_ROWS_F32;
    elementwise_grid(ctx, &d, x->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}
