/* One MeshAutoencoder attention block (see ae_attention.h, docs/ae_attention.md). */
#include "model/ae_attention.h"

#include "ops/op_common.h"
#include "ops/ops_attention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NORMALIZE_EPS 1e-12f   /* F.normalize's default, in both RMSNorms */
#define LAYER_NORM_EPS 1e-5f   /* nn.LayerNorm's default (LocalMHA prenorm) */
#define TAYLOR_EPS 1e-5f       /* TaylorSeriesLinearAttn.forward's eps */
#define MAX_TEMPORARIES 16

/* The temporaries of one call, freed together on every path. */
typedef struct block_scratch {
    mg_tensor *tensors[MAX_TEMPORARIES];
    int count;
} block_scratch;

static mg_status scratch_tensor(mg_context *ctx, block_scratch *s, int ndim, const int64_t *shape, mg_tensor **out)
{
    *out = NULL;
    if (s->count == MAX_TEMPORARIES)
        return mg_fail(&ctx->diag, MG_ERR_INTERNAL, "attention block: too many temporaries");
    mg_status status = mg_tensor_create(ctx, MG_DTYPE_F32, ndim, shape, out);
    if (status == MG_OK)
        s->tensors[s->count++] = *out;
    return status;
}

static void scratch_free(block_scratch *s)
{
    for (int i = 0; i < s->count; i++)
        mg_tensor_free(s->tensors[i]);
    s->count = 0;
}

/* The float weight prefix + suffix, checked against [d0] or [d0, d1] (d1 = 0: 1-D). */
static mg_status need_weight(mg_context *ctx, const mg_weights *weights, const char *prefix, const char *suffix,
                             int64_t d0, int64_t d1, const mg_tensor **out)
{
    char name[MG_WEIGHT_NAME_MAX + 64];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    *out = NULL;
    const mg_weight *found = NULL;
    for (size_t i = 0; weights && i < weights->count; i++)
        if (strcmp(weights->items[i].name, name) == 0) {
            found = &weights->items[i];
            break;
        }
    if (!found || !found->tensor)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "attention block: weight %s is missing (the checkpoint does not match the config's "
                       "attention settings)", name);
    const mg_tensor *t = found->tensor;
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char shape[64];
        mg_shape_string(t, shape, sizeof shape);
        if (d1)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "attention block: weight %s has shape %s, the config needs [%lld, %lld]", name, shape,
                           (long long)d0, (long long)d1);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "attention block: weight %s has shape %s, the config needs [%lld]", name, shape,
                       (long long)d0);
    }
    *out = t;
    return MG_OK;
}

/* The rotary table of LocalMHA: from the checkpoint's inv_freq buffer when it
 * has one (exactly what upstream multiplies with), else upstream's formula. */
static mg_status local_rotary_table(mg_context *ctx, const mg_weights *weights, const char *prefix, size_t dim_head,
                                    size_t slots, mg_tensor **out)
{
    char name[MG_WEIGHT_NAME_MAX + 64];
    snprintf(name, sizeof name, "%s1.attn_fn.rel_pos.inv_freq", prefix);
    const mg_weight *found = NULL;
    for (size_t i = 0; weights && i < weights->count; i++)
        if (strcmp(weights->items[i].name, name) == 0)
            found = &weights->items[i];
    if (!found || !found->tensor)
        return mg_rotary_table_create(ctx, NULL, dim_head, slots, out);
    if (found->tensor->count != dim_head / 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "attention block: %s has %zu values, dim_head %zu needs %zu",
                       name, found->tensor->count, dim_head, dim_head / 2);
    float inv_freq[MG_LOCAL_ATTENTION_MAX_DIM_HEAD / 2];
    if (dim_head / 2 > sizeof inv_freq / sizeof inv_freq[0])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "attention block: local_attn_dim_head %zu exceeds %d", dim_head,
                       MG_LOCAL_ATTENTION_MAX_DIM_HEAD);
    mg_status status = mg_tensor_read_f32(found->tensor, inv_freq, dim_head / 2);
    if (status != MG_OK)
        return status;
    return mg_rotary_table_create(ctx, inv_freq, dim_head, slots, out);
}

/* x = TaylorSeriesLinearAttn(x, mask) + x, written to `out` (which may be x). */
static mg_status linear_attention(mg_context *ctx, block_scratch *s, const mg_weights *weights, const char *prefix,
                                  const mg_ae_config *config, const mg_tensor *x, const mg_tensor *mask,
                                  mg_tensor *out)
{
    int64_t batch = x->shape[0], n = x->shape[1], dim = x->shape[2];
    int64_t heads = config->linear_attn_heads, d = config->linear_attn_dim_head, inner = heads * d;
    int64_t features = (int64_t)mg_taylor_feature_dim((size_t)d);
    const mg_tensor *gamma, *w_q, *w_kv, *w_out;
    mg_status status;
    if ((status = need_weight(ctx, weights, prefix, "0.norm.gamma", dim, 0, &gamma)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "0.to_q.0.weight", inner, dim, &w_q)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "0.to_kv.0.weight", 2 * inner, dim, &w_kv)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "0.to_out.0.weight", dim, inner, &w_out)) != MG_OK)
        return status;
    mg_tensor *normed, *q, *kv, *summary, *attended, *projected;
    int64_t shape_d[3] = {batch, n, dim}, shape_q[3] = {batch, n, inner}, shape_kv[3] = {batch, n, 2 * inner};
    int64_t shape_s[4] = {batch, heads, features, d + 1};
    if ((status = scratch_tensor(ctx, s, 3, shape_d, &normed)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_q, &q)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_kv, &kv)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 4, shape_s, &summary)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_q, &attended)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_d, &projected)) != MG_OK)
        return status;
    /* prenorm RMSNorm: normalize(x) * sqrt(dim) * gamma (gamma as stored) */
    float root_dim = (float)sqrt((double)dim);
    if ((status = mg_op_l2_normalize(ctx, x, gamma, NORMALIZE_EPS, root_dim, 0.0f, normed)) != MG_OK ||
        (status = mg_op_matmul(ctx, normed, w_q, NULL, true, q)) != MG_OK ||
        (status = mg_op_matmul(ctx, normed, w_kv, NULL, true, kv)) != MG_OK ||
        (status = mg_op_taylor_kv_summary(ctx, kv, mask, (size_t)heads, summary)) != MG_OK ||
        (status = mg_op_taylor_readout(ctx, q, summary, (size_t)heads, (float)(1.0 / sqrt((double)d)), TAYLOR_EPS,
                                       attended)) != MG_OK ||
        (status = mg_op_matmul(ctx, attended, w_out, NULL, true, projected)) != MG_OK)
        return status;
    return mg_op_add(ctx, projected, x, out);
}

/* x = LocalMHA(x, mask) + x, in place on x. */
static mg_status local_attention(mg_context *ctx, block_scratch *s, const mg_weights *weights, const char *prefix,
                                 const mg_ae_config *config, mg_tensor *x, const mg_tensor *mask)
{
    int64_t batch = x->shape[0], n = x->shape[1], dim = x->shape[2];
    int64_t heads = config->local_attn_heads, d = config->local_attn_dim_head, inner = heads * d;
    const mg_tensor *ln_weight, *ln_bias, *w_qkv, *w_out;
    mg_status status;
    if ((status = need_weight(ctx, weights, prefix, "1.norm.weight", dim, 0, &ln_weight)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "1.norm.bias", dim, 0, &ln_bias)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "1.to_qkv.weight", 3 * inner, dim, &w_qkv)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "1.to_out.weight", dim, inner, &w_out)) != MG_OK)
        return status;
    if (d <= 0 || d % 2 != 0 || d > MG_LOCAL_ATTENTION_MAX_DIM_HEAD || config->local_attn_window_size <= 0)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED,
                       "attention block: local_attn_dim_head %lld must be even and at most %d, and "
                       "local_attn_window_size (%d) positive", (long long)d, MG_LOCAL_ATTENTION_MAX_DIM_HEAD,
                       config->local_attn_window_size);
    mg_local_attention_params p = {
        .heads = (size_t)heads,
        .dim_head = (size_t)d,
        .window = (size_t)config->local_attn_window_size,
        .look_backward = 1,
        .look_forward = 1,
        .scale = (float)(1.0 / sqrt((double)d)),
        .rotary = true,
    };
    mg_tensor *normed, *qkv, *attended, *projected, *rotary = NULL;
    int64_t shape_d[3] = {batch, n, dim}, shape_qkv[3] = {batch, n, 3 * inner}, shape_a[3] = {batch, n, inner};
    if ((status = scratch_tensor(ctx, s, 3, shape_d, &normed)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_qkv, &qkv)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_a, &attended)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_d, &projected)) != MG_OK)
        return status;
    if (s->count == MAX_TEMPORARIES)
        return mg_fail(&ctx->diag, MG_ERR_INTERNAL, "attention block: too many temporaries");
    if ((status = local_rotary_table(ctx, weights, prefix, (size_t)d, mg_local_attention_slots(&p), &rotary)) != MG_OK)
        return status;
    s->tensors[s->count++] = rotary;
    if ((status = mg_op_layer_norm(ctx, x, ln_weight, ln_bias, LAYER_NORM_EPS, 0.0f, normed)) != MG_OK ||
        (status = mg_op_matmul(ctx, normed, w_qkv, NULL, true, qkv)) != MG_OK ||
        (status = mg_op_local_attention(ctx, qkv, mask, rotary, &p, attended)) != MG_OK ||
        (status = mg_op_matmul(ctx, attended, w_out, NULL, true, projected)) != MG_OK)
        return status;
    return mg_op_add(ctx, x, projected, x);
}

/* x = FeedForward(RMSNorm(x)) + x, in place on x. */
static mg_status feed_forward(mg_context *ctx, block_scratch *s, const mg_weights *weights, const char *prefix,
                              mg_tensor *x)
{
    int64_t batch = x->shape[0], n = x->shape[1], dim = x->shape[2], hidden = 4 * dim;
    const mg_tensor *g, *w_in, *b_in, *w_out, *b_out;
    mg_status status;
    if ((status = need_weight(ctx, weights, prefix, "2.0.g", dim, 0, &g)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "2.1.ff.0.proj.weight", 2 * hidden, dim, &w_in)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "2.1.ff.0.proj.bias", 2 * hidden, 0, &b_in)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "2.1.ff.2.weight", dim, hidden, &w_out)) != MG_OK ||
        (status = need_weight(ctx, weights, prefix, "2.1.ff.2.bias", dim, 0, &b_out)) != MG_OK)
        return status;
    mg_tensor *normed, *up, *gated, *projected;
    int64_t shape_d[3] = {batch, n, dim}, shape_up[3] = {batch, n, 2 * hidden}, shape_h[3] = {batch, n, hidden};
    if ((status = scratch_tensor(ctx, s, 3, shape_d, &normed)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_up, &up)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_h, &gated)) != MG_OK ||
        (status = scratch_tensor(ctx, s, 3, shape_d, &projected)) != MG_OK)
        return status;
    /* x-transformers 1.42 RMSNorm without unit_offset: the gain is g itself */
    float root_dim = (float)sqrt((double)dim);
    if ((status = mg_op_l2_normalize(ctx, x, g, NORMALIZE_EPS, root_dim, 0.0f, normed)) != MG_OK ||
        (status = mg_op_matmul(ctx, normed, w_in, b_in, true, up)) != MG_OK ||
        (status = mg_op_geglu(ctx, up, gated)) != MG_OK ||
        (status = mg_op_matmul(ctx, gated, w_out, b_out, true, projected)) != MG_OK)
        return status;
    return mg_op_add(ctx, x, projected, x);
}

mg_status mg_ae_attn_block_forward(mg_context *ctx, const mg_weights *weights, const char *prefix,
                                   const mg_ae_config *config, const mg_tensor *x, const mg_tensor *mask,
                                   mg_tensor *out)
{
    if (!ctx)
        return MG_ERR_INVALID_ARGUMENT;
    if (!weights || !prefix || !config || !x || !out)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "attention block: weights, prefix, config, x and out must not be NULL");
    if (x->ndim != 3 || out->ndim != 3 || x->dtype != MG_DTYPE_F32 || out->dtype != MG_DTYPE_F32 ||
        memcmp(x->shape, out->shape, 3 * sizeof x->shape[0]) != 0) {
        char xs[64], os[64];
        mg_shape_string(x, xs, sizeof xs);
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "attention block: x %s and out %s must both be f32 [B, N, D] of the same shape", xs, os);
    }
    if (x->count == 0)
        return MG_OK;
    block_scratch scratch = {{NULL}, 0};
    mg_status status;
    if (config->use_linear_attn)
        status = linear_attention(ctx, &scratch, weights, prefix, config, x, mask, out);
    else
        status = out == x ? MG_OK : mg_op_scale(ctx, x, 1.0f, 0.0f, out);
    if (status == MG_OK)
        status = local_attention(ctx, &scratch, weights, prefix, config, out, mask);
    if (status == MG_OK)
        status = feed_forward(ctx, &scratch, weights, prefix, out);
    scratch_free(&scratch);
    return status;
}
