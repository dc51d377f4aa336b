/* Entries of the attention ops (ops_attention.h): argument checks, then the
 * CPU reference or one shader dispatch. */
#include "ops/ops_attention.h"
#include "ops/op_common.h"

#include <stdlib.h>
#include <string.h>

#define ATTENTION_WORKGROUP 64

/* [B, N, width] or [N, width] (B = 1): the batch and sequence sizes. */
static mg_status sequence_shape(mg_context *ctx, const char *op, const char *name, const mg_tensor *t, size_t width,
                                size_t *batch, size_t *n)
{
    bool ok = (t->ndim == 3 || t->ndim == 2) && (size_t)t->shape[t->ndim - 1] == width;
    if (!ok) {
        char shape[64];
        mg_shape_string(t, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s has shape %s but must be [B, N, %zu] or [N, %zu]",
                       op, name, shape, width, width);
    }
    *batch = t->ndim == 3 ? (size_t)t->shape[0] : 1;
    *n = (size_t)t->shape[t->ndim - 2];
    return MG_OK;
}

static mg_status check_out_shape(mg_context *ctx, const char *op, const mg_tensor *out, size_t batch, size_t n,
                                 size_t width)
{
    size_t ob = 0, on = 0;
    mg_status status = sequence_shape(ctx, op, "out", out, width, &ob, &on);
    if (status != MG_OK)
        return status;
    if (ob != batch || on != n)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: out must be [%zu, %zu, %zu] like its input", op,
                       batch, n, width);
    return MG_OK;
}

static mg_status check_mask(mg_context *ctx, const char *op, const mg_tensor *mask, size_t batch, size_t n)
{
    if (!mask)
        return MG_OK;
    mg_status status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false);
    if (status != MG_OK)
        return status;
    if (mask->count != batch * n || (size_t)mask->shape[mask->ndim - 1] != n)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: the mask must be i32 [%zu, %zu] (one flag per face)",
                       op, batch, n);
    return MG_OK;
}

static void grid_for(mg_context *ctx, mg_gpu_dispatch *d, size_t invocations)
{
    d->spec[0] = mg_workgroup_size(ctx, ATTENTION_WORKGROUP);
    d->spec_count = 1;
    mg_grid_1d(ctx, d, (invocations + d->spec[0] - 1) / d->spec[0]);
}

mg_status mg_rotary_table_create(mg_context *ctx, const float *inv_freq, size_t dim_head, size_t positions,
                                 mg_tensor **out)
{
    *out = NULL;
    if (dim_head == 0 || dim_head % 2 != 0 || positions == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "rotary table: dim_head (%zu) must be even and positive, positions (%zu) positive", dim_head,
                       positions);
    size_t half = dim_head / 2;
    float *freq = malloc(half * sizeof *freq);
    float *table = malloc(2 * positions * half * sizeof *table);
    if (!freq || !table) {
        free(freq);
        free(table);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "rotary table: out of host memory");
    }
    if (inv_freq)
        memcpy(freq, inv_freq, half * sizeof *freq);
    else
        mg_ref_rotary_inv_freq(dim_head, freq);
    mg_ref_rotary_table(positions, half, freq, table);
    int64_t shape[3] = {2, (int64_t)positions, (int64_t)half};
    mg_tensor *t = NULL;
    mg_status status = mg_tensor_create(ctx, MG_DTYPE_F32, 3, shape, &t);
    if (status == MG_OK)
        status = mg_tensor_write_f32(t, table, 2 * positions * half);
    free(freq);
    free(table);
    if (status != MG_OK) {
        mg_tensor_free(t);
        return status;
    }
    *out = t;
    return MG_OK;
}

mg_status mg_op_local_attention(mg_context *ctx, const mg_tensor *qkv, const mg_tensor *mask, const mg_tensor *rotary,
                                const mg_local_attention_params *params, mg_tensor *out)
{
    const char *op = "local_attention";
    mg_status status;
    if (!params)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params must not be NULL", op);
    const mg_local_attention_params *p = params;
    if (p->heads == 0 || p->dim_head == 0 || p->dim_head % 2 != 0 || p->dim_head > MG_LOCAL_ATTENTION_MAX_DIM_HEAD ||
        p->window == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: heads (%zu) and window (%zu) must be positive and dim_head (%zu) even, at most %d", op,
                       p->heads, p->window, p->dim_head, MG_LOCAL_ATTENTION_MAX_DIM_HEAD);
    if ((status = mg_check_tensor(ctx, op, "qkv", qkv, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "qkv", qkv, out)) != MG_OK)
        return status;
    size_t inner = p->heads * p->dim_head, batch = 0, n = 0;
    if ((status = sequence_shape(ctx, op, "qkv", qkv, 3 * inner, &batch, &n)) != MG_OK ||
        (status = check_out_shape(ctx, op, out, batch, n, inner)) != MG_OK ||
        (status = check_mask(ctx, op, mask, batch, n)) != MG_OK)
        return status;
    size_t slots = mg_local_attention_slots(p), half = p->dim_head / 2;
    if (p->rotary) {
        if ((status = mg_check_tensor(ctx, op, "rotary", rotary, MG_DTYPE_F32, false)) != MG_OK)
            return status;
        if (rotary->count != 2 * slots * half)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "%s: the rotary table must be [2, %zu, %zu] (mg_rotary_table_create with %zu positions)",
                           op, slots, half, slots);
    }
    if (batch * n == 0)
        return MG_OK;
    if (!ctx->gpu) {
        mg_ref_local_attention(p, batch, n, mg_f32_of(qkv), mask ? mg_i32_of(mask) : NULL,
                               p->rotary ? mg_f32_of(rotary) : NULL, mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t qkv_offset, mask_offset, rotary_offset, out_offset;
        uint32_t batch, n, heads, dim_head, window, look_backward, look_forward, has_mask, use_rotary;
        float scale;
    } pc = {.batch = (uint32_t)batch, .n = (uint32_t)n, .heads = (uint32_t)p->heads,
            .dim_head = (uint32_t)p->dim_head, .window = (uint32_t)p->window,
            .look_backward = (uint32_t)p->look_backward, .look_forward = (uint32_t)p->look_forward,
            .has_mask = mask != NULL, .use_rotary = p->rotary, .scale = p->scale};
    pc.qkv_offset = mg_bind(ctx, &d, qkv, false);
    if (mask)
        pc.mask_offset = mg_bind(ctx, &d, mask, false);
    else
        mg_bind_none(ctx, &d);
    if (p->rotary)
        pc.rotary_offset = mg_bind(ctx, &d, rotary, false);
    else
        mg_bind_none(ctx, &d);
    pc.out_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_ATTN_LOCAL;
    grid_for(ctx, &d, batch * n * p->heads);
    memcpy(d.push, &pc, sizeof pc);
    d.push_size = sizeof pc;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

static mg_status check_taylor_heads(mg_context *ctx, const char *op, size_t heads, size_t width, size_t parts,
                                    size_t *dim_head)
{
    if (heads == 0 || width % (parts * heads) != 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: the last dimension (%zu) must be %zu x heads (%zu) x d",
                       op, width, parts, heads);
    *dim_head = width / (parts * heads);
    if (*dim_head == 0 || *dim_head > MG_TAYLOR_MAX_DIM_HEAD)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: head dimension %zu is out of range: the Taylor feature map supports 1 to %d", op,
                       *dim_head, MG_TAYLOR_MAX_DIM_HEAD);
    return MG_OK;
}

mg_status mg_op_taylor_kv_summary(mg_context *ctx, const mg_tensor *kv, const mg_tensor *mask, size_t heads,
                                  mg_tensor *summary)
{
    const char *op = "taylor_kv_summary";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "kv", kv, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "summary", summary, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "kv", kv, summary)) != MG_OK)
        return status;
    size_t d = 0, batch = 0, n = 0;
    if ((status = check_taylor_heads(ctx, op, heads, mg_last_dim(kv), 2, &d)) != MG_OK ||
        (status = sequence_shape(ctx, op, "kv", kv, 2 * heads * d, &batch, &n)) != MG_OK ||
        (status = check_mask(ctx, op, mask, batch, n)) != MG_OK)
        return status;
    size_t features = mg_taylor_feature_dim(d);
    if (summary->ndim != 4 || (size_t)summary->shape[0] != batch || (size_t)summary->shape[1] != heads ||
        (size_t)summary->shape[2] != features || (size_t)summary->shape[3] != d + 1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: summary must be [%zu, %zu, %zu, %zu]", op, batch,
                       heads, features, d + 1);
    if (summary->count == 0)
        return MG_OK;
    if (!ctx->gpu) {
        mg_ref_taylor_kv_summary(batch, n, heads, d, mg_f32_of(kv), mask ? mg_i32_of(mask) : NULL,
                                 mg_f32_of(summary));
        return MG_OK;
    }
    mg_gpu_dispatch dispatch;
    memset(&dispatch, 0, sizeof dispatch);
    struct {
        uint32_t kv_offset, mask_offset, summary_offset, batch, n, heads, dim_head, has_mask;
    } pc = {.batch = (uint32_t)batch, .n = (uint32_t)n, .heads = (uint32_t)heads, .dim_head = (uint32_t)d,
            .has_mask = mask != NULL};
    pc.kv_offset = mg_bind(ctx, &dispatch, kv, false);
    if (mask)
        pc.mask_offset = mg_bind(ctx, &dispatch, mask, false);
    else
        mg_bind_none(ctx, &dispatch);
    pc.summary_offset = mg_bind(ctx, &dispatch, summary, true);
    dispatch.shader = MG_SHADER_ATTN_TAYLOR_SUMMARY;
    grid_for(ctx, &dispatch, summary->count);
    memcpy(dispatch.push, &pc, sizeof pc);
    dispatch.push_size = sizeof pc;
    return mg_gpu_record_dispatch(ctx->gpu, &dispatch);
}

mg_status mg_op_taylor_readout(mg_context *ctx, const mg_tensor *q, const mg_tensor *summary, size_t heads,
                               float scale, float eps, mg_tensor *out)
{
    const char *op = "taylor_readout";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "q", q, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "summary", summary, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "q", q, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "summary", summary, out)) != MG_OK)
        return status;
    size_t d = 0, batch = 0, n = 0;
    if ((status = check_taylor_heads(ctx, op, heads, mg_last_dim(q), 1, &d)) != MG_OK ||
        (status = sequence_shape(ctx, op, "q", q, heads * d, &batch, &n)) != MG_OK ||
        (status = check_out_shape(ctx, op, out, batch, n, heads * d)) != MG_OK)
        return status;
    size_t features = mg_taylor_feature_dim(d);
    if (summary->ndim != 4 || (size_t)summary->shape[0] != batch || (size_t)summary->shape[1] != heads ||
        (size_t)summary->shape[2] != features || (size_t)summary->shape[3] != d + 1)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: summary must be [%zu, %zu, %zu, %zu]", op, batch,
                       heads, features, d + 1);
    if (!(eps > 0.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: eps must be positive (upstream: 1e-5)", op);
    if (batch * n == 0)
        return MG_OK;
    if (!ctx->gpu) {
        mg_ref_taylor_readout(batch, n, heads, d, scale, eps, mg_f32_of(q), mg_f32_of(summary), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch dispatch;
    memset(&dispatch, 0, sizeof dispatch);
    struct {
        uint32_t q_offset, summary_offset, out_offset, batch, n, heads, dim_head;
        float scale, eps;
    } pc = {.batch = (uint32_t)batch, .n = (uint32_t)n, .heads = (uint32_t)heads, .dim_head = (uint32_t)d,
            .scale = scale, .eps = eps};
    pc.q_offset = mg_bind(ctx, &dispatch, q, false);
    pc.summary_offset = mg_bind(ctx, &dispatch, summary, false);
    pc.out_offset = mg_bind(ctx, &dispatch, out, true);
    dispatch.shader = MG_SHADER_ATTN_TAYLOR_READOUT;
    grid_for(ctx, &dispatch, out->count);
    memcpy(dispatch.push, &pc, sizeof pc);
    dispatch.push_size = sizeof pc;
    return mg_gpu_record_dispatch(ctx->gpu, &dispatch);
}
