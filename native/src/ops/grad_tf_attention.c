/* Entry of the attention backward (ops_grad_tf.h): argument checks, then the
 * CPU reference or up to five dispatches:
 *   1. grad_tf_attention_pack_memory: memory key/values -> one f32 scratch
 *      buffer (only with memories);
 *   2. grad_tf_attention_query: per (batch, query, head) the softmax
 *      statistics (lse, D) into scratch, and d_q;
 *   3. grad_tf_attention_keys: per (batch, key row, head) d_k and d_v;
 *   4. grad_tf_attention_keys (MEMORY_KEYS): per (batch, head, memory) the
 *      batch's share of the memory gradients into scratch;
 *   5. grad_tf_attention_memory_sum: those shares summed over the batch and
 *      added to d_mem_k and d_mem_v.
 * Every invocation owns what it writes: deterministic, no atomics. */
#include "ops/tf_op_common.h"
#include "ops/ops_grad_tf.h"

#include <string.h>

/* On a GPU, 64 invocations per workgroup; on a CPU device one SIMD batch
 * (one subgroup), as for the forward's per-invocation shader: the lanes of a
 * batch are the heads of one query or key and follow the same control flow. */
static uint32_t per_invocation_workgroup(mg_context *ctx)
{
    return mg_device_is_cpu(ctx) ? mg_subgroup_workgroup_size(ctx, 1) : mg_workgroup_size(ctx, 64);
}

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

/* The shapes of the inputs and of every given gradient, and that no gradient
 * overlaps an input or another gradient. */
static mg_status check_arguments(mg_context *ctx, const char *op, const mg_tensor *q, const mg_tensor *k,
                                 const mg_tensor *v, const mg_tensor *mem_k, const mg_tensor *mem_v,
                                 const mg_tensor *key_mask, const mg_attention_params *p, const mg_tensor *d_out,
                                 mg_tensor *const grads[5], size_t *batch, size_t *n, size_t *key_rows,
                                 size_t *mems)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "q", q, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "k", k, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "v", v, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    size_t width = mg_last_dim(q);
    if (p->heads == 0 || width % p->heads != 0 || width / p->heads > MG_TF_ATTENTION_MAX_DIM_HEAD)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: q's last dimension (%zu) must be heads (%zu) x dim_head, dim_head at most %d", op, width,
                       p->heads, MG_TF_ATTENTION_MAX_DIM_HEAD);
    size_t dim_head = width / p->heads, kb = 0;
    if ((status = mg_tf_op_sequence_shape(ctx, op, "q", q, width, batch, n)) != MG_OK ||
        (status = mg_tf_op_sequence_shape(ctx, op, "k", k, width, &kb, key_rows)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "k", k, *batch, *key_rows, width)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "v", v, *batch, *key_rows, width)) != MG_OK ||
        (status = mg_tf_op_check_sequence(ctx, op, "d_out", d_out, *batch, *n, width)) != MG_OK ||
        (status = check_memories(ctx, op, mem_k, mem_v, p->heads, dim_head, mems)) != MG_OK)
        return status;
    if (q->ndim != k->ndim || q->ndim != d_out->ndim)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: q, k, v and d_out must all be 3-D or all 2-D", op);
    if (p->keys > *key_rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params->keys (%zu) exceeds the %zu rows of k and v",
                       op, p->keys, *key_rows);
    if (key_mask) {
        if ((status = mg_check_tensor(ctx, op, "key_mask", key_mask, MG_DTYPE_I32, false)) != MG_OK)
            return status;
        if (key_mask->count != *batch * *key_rows || (size_t)key_mask->shape[key_mask->ndim - 1] != *key_rows)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: key_mask must be i32 [%zu, %zu] (one flag per row of k)", op, *batch, *key_rows);
    }
    if (p->causal && (p->query_offset < -(int64_t)INT32_MAX / 2 || p->query_offset > (int64_t)INT32_MAX / 2))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: query_offset %lld is out of range", op,
                       (long long)p->query_offset);
    static const char *const grad_names[5] = {"d_q", "d_k", "d_v", "d_mem_k", "d_mem_v"};
    const mg_tensor *likes[5] = {q, k, v, mem_k, mem_v};
    static const char *const like_names[5] = {"q", "k", "v", "mem_k", "mem_v"};
    for (int g = 0; g < 5; g++) {
        if (!grads[g])
            continue;
        if (!likes[g])
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: %s is given but there are no memories; pass NULL", op, grad_names[g]);
        if ((status = mg_tf_op_check_output(ctx, op, grad_names[g], grads[g], likes[g], like_names[g])) != MG_OK)
            return status;
    }
    const mg_tensor *inputs[7] = {q, k, v, mem_k, mem_v, key_mask, d_out};
    static const char *const input_names[7] = {"q", "k", "v", "mem_k", "mem_v", "key_mask", "d_out"};
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < 7; i++)
            if ((status = mg_tf_op_check_apart(ctx, op, grad_names[g], grads[g], input_names[i], inputs[i])) !=
                MG_OK)
                return status;
        for (int other = g + 1; other < 5; other++)
            if ((status = mg_tf_op_check_apart(ctx, op, grad_names[g], grads[g], grad_names[other],
                                                 grads[other])) != MG_OK)
                return status;
    }
    if ((status = mg_tf_op_check_indexable(ctx, op, q)) != MG_OK ||
        (status = mg_tf_op_check_indexable(ctx, op, k)) != MG_OK)
        return status;
    return MG_OK;
}

/* The push constants of the query and key shaders (the key shader reads
 * k_offset/v_offset as mem/part offsets in its MEMORY_KEYS variant). */
typedef struct query_push {
    uint32_t q_offset, k_offset, v_offset, mem_offset, mask_offset, d_out_offset, stats_offset, d_q_offset;
    uint32_t n, heads, key_rows, real_keys, mems, has_mask, causal;
    int32_t query_offset;
    float scale;
    uint32_t items, has_d_q;
} query_push;

typedef struct keys_push {
    uint32_t q_offset, d_out_offset, stats_offset, k_offset, v_offset, mask_offset, d_k_offset, d_v_offset;
    uint32_t n, heads, key_rows, real_keys, mems, has_mask, causal;
    int32_t query_offset;
    float scale;
    uint32_t items, has_d_k, has_d_v, batch;
} keys_push;

typedef struct attention_job {
    const mg_tensor *q, *k, *v, *mem_k, *mem_v, *key_mask, *d_out;
    mg_tensor *d_q, *d_k, *d_v, *d_mem_k, *d_mem_v;
    const mg_attention_params *p;
    size_t batch, n, key_rows, mems, dim_head;
    mg_tensor *mem, *stats, *part; /* scratch */
} attention_job;

static mg_status scratch(mg_context *ctx, size_t count, mg_tensor **out)
{
    int64_t shape[1] = {(int64_t)(count ? count : 1)}; /* empty batches still bind something */
    return mg_tensor_create(ctx, MG_DTYPE_F32, 1, shape, out);
}

static mg_status record_pack(mg_context *ctx, const attention_job *job)
{
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t mem_k_offset, mem_v_offset, mem_offset, count;
    } pc = {.count = (uint32_t)job->mem_k->count};
    pc.mem_k_offset = mg_bind(ctx, &d, job->mem_k, false);
    pc.mem_v_offset = mg_bind(ctx, &d, job->mem_v, false);
    pc.mem_offset = mg_bind(ctx, &d, job->mem, true);
    d.shader = job->mem_k->dtype == MG_DTYPE_F16 ? MG_SHADER_GRAD_TF_ATTENTION_PACK_MEMORY_F16
                                                 : MG_SHADER_GRAD_TF_ATTENTION_PACK_MEMORY_F32;
    mg_tf_op_grid(ctx, &d, mg_workgroup_size(ctx, 256), job->mem_k->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

static mg_status record_query(mg_context *ctx, const attention_job *job)
{
    const mg_attention_params *p = job->p;
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    size_t items = job->batch * job->n * p->heads;
    query_push pc = {.n = (uint32_t)job->n, .heads = (uint32_t)p->heads, .key_rows = (uint32_t)job->key_rows,
                     .real_keys = (uint32_t)p->keys, .mems = (uint32_t)job->mems, .has_mask = job->key_mask != NULL,
                     .causal = p->causal, .query_offset = (int32_t)p->query_offset, .scale = p->scale,
                     .items = (uint32_t)items, .has_d_q = job->d_q != NULL};
    pc.q_offset = mg_bind(ctx, &d, job->q, false);
    pc.k_offset = mg_bind(ctx, &d, job->k, false);
    pc.v_offset = mg_bind(ctx, &d, job->v, false);
    if (job->mem)
        pc.mem_offset = mg_bind(ctx, &d, job->mem, false);
    else
        mg_bind_none(ctx, &d);
    if (job->key_mask)
        pc.mask_offset = mg_bind(ctx, &d, job->key_mask, false);
    else
        mg_bind_none(ctx, &d);
    pc.d_out_offset = mg_bind(ctx, &d, job->d_out, false);
    pc.stats_offset = mg_bind(ctx, &d, job->stats, true);
    if (job->d_q)
        pc.d_q_offset = mg_bind(ctx, &d, job->d_q, true);
    else
        mg_bind_none(ctx, &d);
    d.shader = MG_SHADER_GRAD_TF_ATTENTION_QUERY;
    d.spec[1] = (uint32_t)job->dim_head; /* DIM_HEAD: the channel loops unroll */
    d.spec_count = 2;
    mg_tf_op_grid(ctx, &d, per_invocation_workgroup(ctx), items);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* The key shader, for the real keys or (memory) for the memories. */
static mg_status record_keys(mg_context *ctx, const attention_job *job, bool memory)
{
    const mg_attention_params *p = job->p;
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    size_t items = memory ? job->batch * p->heads * job->mems : job->batch * job->key_rows * p->heads;
    keys_push pc = {.n = (uint32_t)job->n, .heads = (uint32_t)p->heads, .key_rows = (uint32_t)job->key_rows,
                    .real_keys = (uint32_t)p->keys, .mems = (uint32_t)job->mems, .has_mask = job->key_mask != NULL,
                    .causal = p->causal, .query_offset = (int32_t)p->query_offset, .scale = p->scale,
                    .items = (uint32_t)items, .has_d_k = job->d_k != NULL, .has_d_v = job->d_v != NULL,
                    .batch = (uint32_t)job->batch};
    pc.q_offset = mg_bind(ctx, &d, job->q, false);
    pc.d_out_offset = mg_bind(ctx, &d, job->d_out, false);
    pc.stats_offset = mg_bind(ctx, &d, job->stats, false);
    if (memory) {
        pc.k_offset = mg_bind(ctx, &d, job->mem, false);
        pc.v_offset = mg_bind(ctx, &d, job->part, true);
        d.shader = MG_SHADER_GRAD_TF_ATTENTION_MEMORY_KEYS;
    } else {
        pc.k_offset = mg_bind(ctx, &d, job->k, false);
        pc.v_offset = mg_bind(ctx, &d, job->v, false);
        if (job->key_mask)
            pc.mask_offset = mg_bind(ctx, &d, job->key_mask, false);
        else
            mg_bind_none(ctx, &d);
        if (job->d_k)
            pc.d_k_offset = mg_bind(ctx, &d, job->d_k, true);
        else
            mg_bind_none(ctx, &d);
        if (job->d_v)
            pc.d_v_offset = mg_bind(ctx, &d, job->d_v, true);
        else
            mg_bind_none(ctx, &d);
        d.shader = MG_SHADER_GRAD_TF_ATTENTION_KEYS;
    }
    d.spec[1] = (uint32_t)job->dim_head;
    d.spec_count = 2;
    mg_tf_op_grid(ctx, &d, per_invocation_workgroup(ctx), items);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

static mg_status record_memory_sum(mg_context *ctx, const attention_job *job)
{
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t part_offset, d_mem_k_offset, d_mem_v_offset, count, batch, has_d_mem_k, has_d_mem_v;
    } pc = {.count = (uint32_t)job->mem_k->count, .batch = (uint32_t)job->batch,
            .has_d_mem_k = job->d_mem_k != NULL, .has_d_mem_v = job->d_mem_v != NULL};
    pc.part_offset = mg_bind(ctx, &d, job->part, false);
    if (job->d_mem_k)
        pc.d_mem_k_offset = mg_bind(ctx, &d, job->d_mem_k, true);
    else
        mg_bind_none(ctx, &d);
    if (job->d_mem_v)
        pc.d_mem_v_offset = mg_bind(ctx, &d, job->d_mem_v, true);
    else
        mg_bind_none(ctx, &d);
    d.shader = MG_SHADER_GRAD_TF_ATTENTION_MEMORY_SUM;
    mg_tf_op_grid(ctx, &d, mg_workgroup_size(ctx, 256), job->mem_k->count);
    return mg_tf_op_record(ctx, &d, &pc, sizeof pc);
}

/* Loop iterations per invocation: 2 (mems + keys) in the query shader, n in
 * the key shaders, batch in the memory sum. */
static mg_status check_loop_budget(mg_context *ctx, const char *op, const attention_job *job)
{
    if (!mg_device_is_cpu(ctx))
        return MG_OK;
    uint64_t budget = MG_CPU_DEVICE_LOOP_BUDGET;
    if (2 * ((uint64_t)job->mems + job->p->keys) > budget || job->n > budget || job->batch > budget)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: %zu memories + %zu keys, %zu queries or a batch of %zu exceed what one invocation may "
                       "loop on a CPU Vulkan device (%llu per invocation; the query side loops twice over the "
                       "keys); use the CPU backend or shorter sequences",
                       op, job->mems, job->p->keys, job->n, job->batch, (unsigned long long)budget);
    return MG_OK;
}

static mg_status record_all(mg_context *ctx, attention_job *job)
{
    mg_status status;
    bool want_keys = job->d_k || job->d_v, want_memories = job->d_mem_k || job->d_mem_v;
    size_t heads = job->p->heads, mem_count = heads * job->mems * job->dim_head;
    if ((status = scratch(ctx, job->batch * job->n * heads * 2, &job->stats)) != MG_OK)
        return status;
    if (job->mems && (status = scratch(ctx, 2 * mem_count, &job->mem)) != MG_OK)
        return status;
    if (want_memories && (status = scratch(ctx, 2 * job->batch * mem_count, &job->part)) != MG_OK)
        return status;
    if (job->mems && (status = record_pack(ctx, job)) != MG_OK)
        return status;
    if ((status = record_query(ctx, job)) != MG_OK)
        return status;
    if (want_keys && (status = record_keys(ctx, job, false)) != MG_OK)
        return status;
    if (want_memories && ((status = record_keys(ctx, job, true)) != MG_OK ||
                          (status = record_memory_sum(ctx, job)) != MG_OK))
        return status;
    return MG_OK;
}

mg_status mg_op_attention_backward(mg_context *ctx, const mg_tensor *q, const mg_tensor *k, const mg_tensor *v,
                                   const mg_tensor *mem_k, const mg_tensor *mem_v, const mg_tensor *key_mask,
                                   const mg_attention_params *params, const mg_tensor *d_out, mg_tensor *d_q,
                                   mg_tensor *d_k, mg_tensor *d_v, mg_tensor *d_mem_k, mg_tensor *d_mem_v)
{
    const char *op = "attention_backward";
    mg_status status = mg_context_check(ctx, op);
    if (status != MG_OK)
        return status;
    if (!params)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params must not be NULL", op);
    mg_tensor *const grads[5] = {d_q, d_k, d_v, d_mem_k, d_mem_v};
    attention_job job = {.q = q, .k = k, .v = v, .mem_k = mem_k, .mem_v = mem_v, .key_mask = key_mask,
                         .d_out = d_out, .d_q = d_q, .d_k = d_k, .d_v = d_v, .d_mem_k = d_mem_k,
                         .d_mem_v = d_mem_v, .p = params};
    if ((status = check_arguments(ctx, op, q, k, v, mem_k, mem_v, key_mask, params, d_out, grads, &job.batch, &job.n,
                                  &job.key_rows, &job.mems)) != MG_OK)
        return status;
    job.dim_head = mg_last_dim(q) / params->heads;
    if (!ctx->gpu) {
        if (!mg_ref_attention_backward(params, job.batch, job.n, job.dim_head, job.key_rows, mg_f32_of(q),
                                       mg_f32_of(k), mg_f32_of(v), job.mems, mg_param_of(mem_k), mg_param_of(mem_v),
                                       mg_i32_of(key_mask), mg_f32_of(d_out), mg_f32_of(d_q), mg_f32_of(d_k),
                                       mg_f32_of(d_v), mg_f32_of(d_mem_k), mg_f32_of(d_mem_v)))
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for the gradient scratch", op);
        return MG_OK;
    }
    if (!d_q && !d_k && !d_v && !d_mem_k && !d_mem_v)
        return MG_OK;
    if ((status = check_loop_budget(ctx, op, &job)) != MG_OK)
        return status;
    status = record_all(ctx, &job);
    /* The stream orders the recorded dispatches before any later use of this
     * memory (hazards are tracked per range, and every batch starts with a
     * full barrier), so the scratch can go back at once. */
    mg_tensor_free(job.stats);
    mg_tensor_free(job.mem);
    mg_tensor_free(job.part);
    return status;
}
