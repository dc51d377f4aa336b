/*
 * mg_bench_ops: times every op at realistic sizes on the context's device and,
 * optionally, on the CPU reference, and reports how far apart their results are.
 * Vulkan timings include recording and submission: N calls are recorded, then
 * the stream is drained, so per-call overhead is amortised as in a model.
 */
#include "core/context.h"
#include "ops/ops.h"
#include "ops/ops_transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum bench_kind {
    BENCH_MATMUL,
    BENCH_EMBEDDING,
    BENCH_ADD,
    BENCH_GELU,
    BENCH_LAYER_NORM,
    BENCH_RMS_NORM,
    BENCH_L2,
    BENCH_SOFTMAX,
    BENCH_GEGLU,
    BENCH_ARGMAX,
    /* d0 batch, d1 positions, d2 in channels, d3 out channels; the kind names the kernel taps */
    BENCH_CONV1D_K1,
    BENCH_CONV1D_K3,
    BENCH_CONV1D_K7,
    BENCH_MASKED_MEAN, /* d0 batch, d1 positions, d2 channels */
    BENCH_GATHER_MEAN, /* d0 output rows, d1 source rows, d2 width, d3 entries per row */
    BENCH_LFQ,         /* d0 rows, d1 bits, d2 levels */
    /* transformer ops */
    BENCH_ATTENTION,   /* d0 batch, d1 queries, d2 keys, d3 heads (dim_head 64, 4 memories, causal, last queries) */
    BENCH_GATELOOP     /* d0 batch, d1 positions, d2 channels */
} bench_kind;

typedef struct bench_case {
    bench_kind kind;
    const char *op;
    int64_t d0, d1, d2, d3;  /* meaning depends on kind */
    bool f16;
    bool transposed;
} bench_case;

#define MAX_TENSORS 6

typedef struct bench_state {
    mg_tensor *t[MAX_TENSORS];
    mg_tensor *out;
} bench_state;

/* Full-size cases; quick mode divides the big dimensions. */
static const bench_case full_cases[] = {
    {BENCH_MATMUL, "matmul", 1, 1024, 1024, 1024, false, true},
    {BENCH_MATMUL, "matmul", 1, 1024, 1024, 1024, true, true},
    {BENCH_MATMUL, "matmul", 1, 1024, 1024, 1024, false, false},
    {BENCH_MATMUL, "matmul", 1, 1, 3072, 768, false, true},  /* 768 -> 3072 matrix-vector */
    {BENCH_MATMUL, "matmul", 1, 1, 3072, 768, true, true},
    {BENCH_MATMUL, "matmul", 1, 1, 3072, 768, false, false},
    {BENCH_MATMUL, "matmul", 16, 600, 600, 64, false, true}, /* attention scores, 16 heads */
    {BENCH_EMBEDDING, "embedding", 4096, 512, 16385, 0, false, false},
    {BENCH_EMBEDDING, "embedding", 4096, 512, 16385, 0, true, false},
    {BENCH_ADD, "add", 1 << 20, 0, 0, 0, false, false},
    {BENCH_GELU, "gelu", 1 << 20, 0, 0, 0, false, false},
    {BENCH_LAYER_NORM, "layer_norm", 4096, 512, 0, 0, false, false},
    {BENCH_RMS_NORM, "rms_norm", 4096, 512, 0, 0, false, false},
    {BENCH_L2, "l2_normalize", 4096, 576, 0, 0, false, false},
    {BENCH_SOFTMAX, "softmax", 16 * 600, 604, 0, 0, false, false},
    {BENCH_GEGLU, "geglu", 600, 2048, 0, 0, false, false},
    {BENCH_ARGMAX, "argmax", 64, 16385, 0, 0, false, false},
    /* The autoencoder's decoder at 800 faces: init conv 576 -> 128 (K = 7), ResNet
     * convs (K = 3) at the widest width, 1x1 residual convs; a training batch of 4. */
    {BENCH_CONV1D_K7, "conv1d", 1, 800, 576, 128, false, false},
    {BENCH_CONV1D_K7, "conv1d", 1, 800, 576, 128, true, false},
    {BENCH_CONV1D_K3, "conv1d", 1, 800, 384, 384, false, false},
    {BENCH_CONV1D_K3, "conv1d", 4, 800, 256, 256, false, false},
    {BENCH_CONV1D_K1, "conv1d", 4, 800, 192, 256, false, false},
    {BENCH_MASKED_MEAN, "masked_mean", 4, 800, 384, 0, false, false},
    /* SAGEConv mean over ~8 neighbours per face of 4 x 800 faces; vertices <- corners */
    {BENCH_GATHER_MEAN, "gather_mean", 3200, 3200, 256, 8, false, false},
    {BENCH_GATHER_MEAN, "gather_mean", 1600, 9600, 192, 6, false, false},
    {BENCH_LFQ, "lfq_quantize", 16384, 14, 2, 0, false, false},
    /* MeshTransformer (default config: 16 heads x 64): one KV-cached decoding step at
     * ~1500 faces, coarse teacher forcing over 600 faces, the fine decoder's 6-token
     * groups over 800 faces; the gateloop over one step and over a fine sequence. */
    {BENCH_ATTENTION, "attention", 1, 1, 1500, 16, false, false},
    {BENCH_ATTENTION, "attention", 1, 600, 600, 16, false, false},
    {BENCH_ATTENTION, "attention", 800, 6, 6, 16, false, false},
    {BENCH_GATELOOP, "gateloop", 1, 1, 512, 0, false, false},
    {BENCH_GATELOOP, "gateloop", 1, 4800, 512, 0, false, false},
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static mg_status new_tensor(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, uint32_t seed,
                            int32_t id_limit, mg_tensor **out)
{
    mg_status status = mg_tensor_create(ctx, dtype, ndim, shape, out);
    if (status != MG_OK)
        return status;
    size_t count = (*out)->count;
    uint32_t state = seed * 2654435761u + 1u;
    if (dtype == MG_DTYPE_I32) {
        int32_t *ids = malloc(count * sizeof *ids);
        if (!ids)
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "mg_bench_ops: out of host memory");
        for (size_t i = 0; i < count; i++)
            ids[i] = (int32_t)(next_random(&state) % (uint32_t)id_limit);
        status = mg_tensor_write(*out, ids, count * sizeof *ids);
        free(ids);
        return status;
    }
    float *values = malloc(count * sizeof *values);
    if (!values)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "mg_bench_ops: out of host memory");
    for (size_t i = 0; i < count; i++)
        values[i] = (float)(next_random(&state) % 20001u) / 10000.0f - 1.0f;
    status = mg_tensor_write_f32(*out, values, count);
    free(values);
    return status;
}

static void free_state(bench_state *s)
{
    for (int i = 0; i < MAX_TENSORS; i++)
        mg_tensor_free(s->t[i]);
    mg_tensor_free(s->out);
    memset(s, 0, sizeof *s);
}

static int64_t conv_kernel(bench_kind kind)
{
    return kind == BENCH_CONV1D_K1 ? 1 : kind == BENCH_CONV1D_K3 ? 3 : 7;
}

/* Creates inputs and output; fills flops/bytes and a shape label. */
static mg_status setup(mg_context *ctx, const bench_case *c, bench_state *s, double *flops, double *bytes,
                       char *label, size_t label_size)
{
    memset(s, 0, sizeof *s);
    mg_dtype wt = c->f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    size_t ws = c->f16 ? 2 : 4;
    mg_status st = MG_OK;
    switch (c->kind) {
    case BENCH_MATMUL: {
        int64_t batch = c->d0, m = c->d1, n = c->d2, k = c->d3;
        int64_t a_shape[3] = {batch, m, k}, out_shape[3] = {batch, m, n};
        int64_t b_shape[3] = {batch, c->transposed ? n : k, c->transposed ? k : n};
        bool batched = batch > 1;
        if ((st = new_tensor(ctx, MG_DTYPE_F32, batched ? 3 : 2, batched ? a_shape : a_shape + 1, 1, 0, &s->t[0])) ||
            (st = new_tensor(ctx, wt, batched ? 3 : 2, batched ? b_shape : b_shape + 1, 2, 0, &s->t[1])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, batched ? 3 : 2, batched ? out_shape : out_shape + 1, &s->out)))
            return st;
        *flops = 2.0 * (double)(batch * m * n * k);
        *bytes = (double)batch * ((double)(m * k) * 4 + (double)(k * n) * (double)ws + (double)(m * n) * 4);
        if (batched)
            mg_format(label, label_size, "%lldx(%lldx%lldx%lld) %s%s", (long long)batch, (long long)m, (long long)n,
                      (long long)k, c->f16 ? "f16" : "f32", c->transposed ? " W^T" : "");
        else
            mg_format(label, label_size, "%lldx%lldx%lld %s%s", (long long)m, (long long)n, (long long)k,
                      c->f16 ? "f16" : "f32", c->transposed ? " W^T" : "");
        return MG_OK;
    }
    case BENCH_EMBEDDING: {
        int64_t ids_shape[1] = {c->d0}, table_shape[2] = {c->d2, c->d1}, out_shape[2] = {c->d0, c->d1};
        if ((st = new_tensor(ctx, MG_DTYPE_I32, 1, ids_shape, 3, (int32_t)c->d2, &s->t[0])) ||
            (st = new_tensor(ctx, wt, 2, table_shape, 4, 0, &s->t[1])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, out_shape, &s->out)))
            return st;
        *flops = 0;
        *bytes = (double)(c->d0 * c->d1) * (4.0 + (double)ws) + (double)c->d0 * 4;
        mg_format(label, label_size, "%lld ids x %lld from %lld %s", (long long)c->d0, (long long)c->d1,
                  (long long)c->d2, c->f16 ? "f16" : "f32");
        return MG_OK;
    }
    case BENCH_ADD:
    case BENCH_GELU: {
        int64_t shape[1] = {c->d0};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 1, shape, 5, 0, &s->t[0])) ||
            (c->kind == BENCH_ADD && (st = new_tensor(ctx, MG_DTYPE_F32, 1, shape, 6, 0, &s->t[1]))) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 1, shape, &s->out)))
            return st;
        *flops = (double)c->d0 * (c->kind == BENCH_ADD ? 1.0 : 20.0);
        *bytes = (double)c->d0 * 4 * (c->kind == BENCH_ADD ? 3.0 : 2.0);
        mg_format(label, label_size, "%lld", (long long)c->d0);
        return MG_OK;
    }
    case BENCH_LAYER_NORM:
    case BENCH_RMS_NORM:
    case BENCH_L2:
    case BENCH_SOFTMAX:
    case BENCH_ARGMAX: {
        int64_t shape[2] = {c->d0, c->d1}, gamma_shape[1] = {c->d1};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 2, shape, 7, 0, &s->t[0])))
            return st;
        if (c->kind == BENCH_ARGMAX)
            st = mg_tensor_create(ctx, MG_DTYPE_I32, 1, shape, &s->out);
        else
            st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, shape, &s->out);
        if (st || (c->kind != BENCH_SOFTMAX && c->kind != BENCH_ARGMAX &&
                   ((st = new_tensor(ctx, MG_DTYPE_F32, 1, gamma_shape, 8, 0, &s->t[1])) ||
                    (st = new_tensor(ctx, MG_DTYPE_F32, 1, gamma_shape, 9, 0, &s->t[2])))))
            return st;
        double elements = (double)(c->d0 * c->d1);
        *flops = elements * (c->kind == BENCH_SOFTMAX ? 5.0 : c->kind == BENCH_ARGMAX ? 1.0 : 6.0);
        *bytes = elements * (c->kind == BENCH_ARGMAX ? 4.0 : 8.0);
        mg_format(label, label_size, "%lld rows x %lld%s", (long long)c->d0, (long long)c->d1,
                  c->kind == BENCH_SOFTMAX ? " causal" : "");
        return MG_OK;
    }
    case BENCH_GEGLU: {
        int64_t in_shape[2] = {c->d0, 2 * c->d1}, out_shape[2] = {c->d0, c->d1};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 2, in_shape, 10, 0, &s->t[0])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, out_shape, &s->out)))
            return st;
        *flops = (double)(c->d0 * c->d1) * 21.0;
        *bytes = (double)(c->d0 * c->d1) * 12.0;
        mg_format(label, label_size, "%lld x %lld -> %lld", (long long)c->d0, (long long)(2 * c->d1), (long long)c->d1);
        return MG_OK;
    }
    case BENCH_CONV1D_K1:
    case BENCH_CONV1D_K3:
    case BENCH_CONV1D_K7: {
        int64_t kernel = conv_kernel(c->kind);
        int64_t x_shape[3] = {c->d0, c->d1, c->d2}, w_shape[3] = {c->d3, c->d2, kernel}, b_shape[1] = {c->d3};
        int64_t out_shape[3] = {c->d0, c->d1, c->d3};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 3, x_shape, 11, 0, &s->t[0])) ||
            (st = new_tensor(ctx, wt, 3, w_shape, 12, 0, &s->t[1])) ||
            (st = new_tensor(ctx, wt, 1, b_shape, 13, 0, &s->t[2])) ||
            (st = new_tensor(ctx, MG_DTYPE_I32, 2, x_shape, 14, 2, &s->t[3])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 3, out_shape, &s->out)))
            return st;
        double rows = (double)(c->d0 * c->d1);
        *flops = 2.0 * rows * (double)(c->d2 * c->d3 * kernel);
        *bytes = rows * (double)(c->d2 + c->d3) * 4 + (double)(c->d2 * c->d3 * kernel) * (double)ws;
        mg_format(label, label_size, "%lldx%lld %lld->%lld k%lld %s", (long long)c->d0, (long long)c->d1,
                  (long long)c->d2, (long long)c->d3, (long long)kernel, c->f16 ? "f16" : "f32");
        return MG_OK;
    }
    case BENCH_MASKED_MEAN: {
        int64_t x_shape[3] = {c->d0, c->d1, c->d2}, out_shape[2] = {c->d0, c->d2};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 3, x_shape, 15, 0, &s->t[0])) ||
            (st = new_tensor(ctx, MG_DTYPE_I32, 2, x_shape, 16, 2, &s->t[1])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, out_shape, &s->out)))
            return st;
        *flops = (double)(c->d0 * c->d1 * c->d2);
        *bytes = (double)(c->d0 * c->d1 * c->d2) * 4;
        mg_format(label, label_size, "%lldx%lld x %lld", (long long)c->d0, (long long)c->d1, (long long)c->d2);
        return MG_OK;
    }
    case BENCH_GATHER_MEAN: {
        int64_t m = c->d0, rows = c->d1, width = c->d2, per_row = c->d3;
        int64_t src_shape[2] = {rows, width}, off_shape[1] = {m + 1}, idx_shape[1] = {m * per_row};
        int64_t out_shape[2] = {m, width};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 2, src_shape, 17, 0, &s->t[0])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_I32, 1, off_shape, &s->t[1])) ||
            (st = new_tensor(ctx, MG_DTYPE_I32, 1, idx_shape, 18, (int32_t)rows, &s->t[2])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, out_shape, &s->out)))
            return st;
        int32_t *offsets = malloc((size_t)(m + 1) * sizeof *offsets);
        if (!offsets)
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "mg_bench_ops: out of host memory");
        for (int64_t i = 0; i <= m; i++)
            offsets[i] = (int32_t)(i * per_row);
        st = mg_tensor_write(s->t[1], offsets, (size_t)(m + 1) * sizeof *offsets);
        free(offsets);
        if (st)
            return st;
        *flops = (double)(m * per_row * width);
        *bytes = (double)(m * per_row * width) * 4 + (double)(m * width) * 4;
        mg_format(label, label_size, "%lld rows x %lld from %lld, %lld each", (long long)m, (long long)width,
                  (long long)rows, (long long)per_row);
        return MG_OK;
    }
    case BENCH_LFQ: {
        int64_t shape[2] = {c->d0, c->d1}, idx_shape[2] = {c->d0, c->d2};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 2, shape, 19, 0, &s->t[0])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_I32, 2, idx_shape, &s->t[1])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 2, shape, &s->out)))
            return st;
        *flops = (double)(c->d0 * c->d1 * c->d2) * 20.0;
        *bytes = (double)(c->d0 * c->d1) * 8 + (double)(c->d0 * c->d2) * 4;
        mg_format(label, label_size, "%lld x %lld bits, %lld levels", (long long)c->d0, (long long)c->d1,
                  (long long)c->d2);
        return MG_OK;
    }
    case BENCH_ATTENTION: {
        int64_t batch = c->d0, n = c->d1, keys = c->d2, heads = c->d3, dh = 64, inner = heads * dh;
        int64_t q_shape[3] = {batch, n, inner}, kv_shape[3] = {batch, keys, inner}, mem_shape[3] = {heads, 4, dh};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 3, q_shape, 20, 0, &s->t[0])) ||
            (st = new_tensor(ctx, MG_DTYPE_F32, 3, kv_shape, 21, 0, &s->t[1])) ||
            (st = new_tensor(ctx, MG_DTYPE_F32, 3, kv_shape, 22, 0, &s->t[2])) ||
            (st = new_tensor(ctx, wt, 3, mem_shape, 23, 0, &s->t[3])) ||
            (st = new_tensor(ctx, wt, 3, mem_shape, 24, 0, &s->t[4])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 3, q_shape, &s->out)))
            return st;
        /* causal, queries at the end: query i sees keys - n + i + 1 keys and 4 memories */
        double pairs = (double)n * (double)(keys - n + 4) + (double)n * (double)(n + 1) / 2.0;
        *flops = 4.0 * (double)(batch * heads * dh) * pairs;
        *bytes = (double)batch * (double)(2 * n + 2 * keys) * (double)inner * 4.0;
        mg_format(label, label_size, "%lldx%lld queries, %lld keys, %lld heads x %lld", (long long)batch,
                  (long long)n, (long long)keys, (long long)heads, (long long)dh);
        return MG_OK;
    }
    case BENCH_GATELOOP: {
        int64_t in_shape[3] = {c->d0, c->d1, 3 * c->d2}, out_shape[3] = {c->d0, c->d1, c->d2};
        if ((st = new_tensor(ctx, MG_DTYPE_F32, 3, in_shape, 25, 0, &s->t[0])) ||
            (st = mg_tensor_create(ctx, MG_DTYPE_F32, 3, out_shape, &s->out)))
            return st;
        *flops = (double)(c->d0 * c->d1 * c->d2) * 8.0;
        *bytes = (double)(c->d0 * c->d1 * c->d2) * 16.0;
        mg_format(label, label_size, "%lldx%lld x %lld", (long long)c->d0, (long long)c->d1, (long long)c->d2);
        return MG_OK;
    }
    }
    return MG_ERR_INTERNAL;
}

static mg_status run_once(mg_context *ctx, const bench_case *c, bench_state *s)
{
    switch (c->kind) {
    case BENCH_MATMUL: return mg_op_matmul(ctx, s->t[0], s->t[1], NULL, c->transposed, s->out);
    case BENCH_EMBEDDING: return mg_op_embedding(ctx, s->t[1], s->t[0], s->out);
    case BENCH_ADD: return mg_op_add(ctx, s->t[0], s->t[1], s->out);
    case BENCH_GELU: return mg_op_unary(ctx, MG_UNARY_GELU, s->t[0], s->out);
    case BENCH_LAYER_NORM: return mg_op_layer_norm(ctx, s->t[0], s->t[1], s->t[2], 1e-5f, 0.0f, s->out);
    case BENCH_RMS_NORM: return mg_op_rms_norm(ctx, s->t[0], s->t[1], 1e-6f, 0.0f, s->out);
    case BENCH_L2: return mg_op_l2_normalize(ctx, s->t[0], s->t[1], 1e-12f, 24.0f, 0.0f, s->out);
    case BENCH_SOFTMAX: {
        mg_softmax_options o = mg_softmax_default_options();
        o.scale = 0.125f;
        o.causal = true;
        o.causal_queries = 600;
        o.causal_offset = 4;
        return mg_op_softmax(ctx, s->t[0], &o, s->out);
    }
    case BENCH_GEGLU: return mg_op_geglu(ctx, s->t[0], s->out);
    case BENCH_ARGMAX: return mg_op_argmax(ctx, s->t[0], s->out);
    case BENCH_CONV1D_K1:
    case BENCH_CONV1D_K3:
    case BENCH_CONV1D_K7: return mg_op_conv1d(ctx, s->t[0], s->t[1], s->t[2], s->t[3], s->out);
    case BENCH_MASKED_MEAN: return mg_op_masked_mean(ctx, s->t[0], s->t[1], 1e-5f, s->out);
    case BENCH_GATHER_MEAN: return mg_op_gather_mean(ctx, s->t[0], s->t[1], s->t[2], s->out);
    case BENCH_LFQ: return mg_op_lfq_quantize(ctx, s->t[0], (int)c->d2, 10.0f, s->out, s->t[1]);
    case BENCH_ATTENTION: {
        mg_attention_params ap = {.heads = (size_t)c->d3, .scale = 0.125f, .keys = (size_t)c->d2, .causal = true,
                                  .query_offset = c->d2 - c->d1};
        return mg_op_attention(ctx, s->t[0], s->t[1], s->t[2], s->t[3], s->t[4], NULL, &ap, s->out);
    }
    case BENCH_GATELOOP: return mg_op_gateloop(ctx, s->t[0], NULL, s->out);
    }
    return MG_ERR_INTERNAL;
}

/* Seconds per call: repeat until min_seconds have passed (after one warm-up call). */
static mg_status time_case(mg_context *ctx, const bench_case *c, bench_state *s, double min_seconds, double *out)
{
    mg_status st = run_once(ctx, c, s);
    if (st == MG_OK)
        st = mg_context_synchronize(ctx);
    if (st != MG_OK)
        return st;
    size_t calls = 1, total_calls = 0;
    double start = now_seconds(), elapsed = 0.0;
    while (elapsed < min_seconds) {
        for (size_t i = 0; i < calls && st == MG_OK; i++)
            st = run_once(ctx, c, s);
        if (st == MG_OK)
            st = mg_context_synchronize(ctx);
        if (st != MG_OK)
            return st;
        total_calls += calls;
        elapsed = now_seconds() - start;
        calls *= 2;
    }
    *out = elapsed / (double)total_calls;
    return MG_OK;
}

static double compare_outputs(const mg_tensor *a, const mg_tensor *b)
{
    size_t count = a->count;
    double worst = 0.0;
    void *x = malloc(a->nbytes), *y = malloc(b->nbytes);
    if (x && y && mg_tensor_read(a, x, a->nbytes) == MG_OK && mg_tensor_read(b, y, b->nbytes) == MG_OK) {
        for (size_t i = 0; i < count; i++) {
            double d = a->dtype == MG_DTYPE_I32 ? (((int32_t *)x)[i] != ((int32_t *)y)[i] ? 1.0 : 0.0)
                                                : fabs((double)((float *)x)[i] - (double)((float *)y)[i]);
            if (d > worst || isnan(d))
                worst = isnan(d) ? NAN : d;
        }
    } else {
        worst = NAN;
    }
    free(x);
    free(y);
    return worst;
}

mg_bench_params mg_bench_default_params(void)
{
    mg_bench_params p;
    memset(&p, 0, sizeof p);
    p.include_cpu_reference = true;
    p.min_seconds = 0.25;
    return p;
}

static bench_case scaled(const bench_case *c, bool quick)
{
    bench_case q = *c;
    if (!quick)
        return q;
    switch (q.kind) {
    case BENCH_MATMUL:
        if (q.d1 > 1)
            q.d1 = q.d1 / 4;
        q.d2 = q.d2 / 4;
        break;
    case BENCH_CONV1D_K1:
    case BENCH_CONV1D_K3:
    case BENCH_CONV1D_K7:
    case BENCH_MASKED_MEAN:
        q.d1 = q.d1 / 4; /* fewer positions, the same channels */
        break;
    case BENCH_GATHER_MEAN:
        q.d0 = q.d0 / 16;
        break;
    case BENCH_ATTENTION:
        q.d0 = q.d0 > 16 ? q.d0 / 16 : q.d0;
        q.d1 = q.d1 > 6 ? q.d1 / 4 : q.d1;
        q.d2 = q.d2 > 6 ? q.d2 / 4 : q.d2;
        break;
    case BENCH_GATELOOP:
        q.d1 = q.d1 > 1 ? q.d1 / 16 : q.d1;
        break;
    default:
        q.d0 = q.d0 / 16 > 0 ? q.d0 / 16 : 1;
        break;
    }
    return q;
}

static mg_status add_result(mg_bench_result **results, size_t *count, size_t *capacity, const mg_bench_result *r)
{
    if (*count == *capacity) {
        size_t grown_capacity = *capacity ? *capacity * 2 : 32;
        mg_bench_result *grown = realloc(*results, grown_capacity * sizeof *grown);
        if (!grown)
            return MG_ERR_OUT_OF_MEMORY;
        *results = grown;
        *capacity = grown_capacity;
    }
    (*results)[(*count)++] = *r;
    return MG_OK;
}

mg_status mg_bench_ops(mg_context *ctx, const mg_bench_params *params, mg_bench_progress_fn progress, void *user_data,
                       mg_bench_result **out_results, size_t *out_count)
{
    mg_status status = mg_context_check(ctx, "mg_bench_ops");
    if (status != MG_OK)
        return status;
    if (!out_results || !out_count)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_bench_ops: out_results and out_count must not be NULL");
    *out_results = NULL;
    *out_count = 0;
    mg_bench_params defaults = mg_bench_default_params();
    const mg_bench_params *p = params ? params : &defaults;
    double min_seconds = p->min_seconds > 0 ? p->min_seconds : defaults.min_seconds;

    /* The CPU reference runs in a context of its own (unless ctx already is one). */
    mg_context *cpu = NULL;
    if (p->include_cpu_reference && ctx->gpu) {
        mg_context_params cp = mg_context_default_params();
        cp.device = "cpu";
        char error[256];
        if ((status = mg_context_create(&cp, &cpu, error, sizeof error)) != MG_OK)
            return mg_fail(&ctx->diag, status, "mg_bench_ops: %s", error);
    }

    size_t case_count = sizeof full_cases / sizeof full_cases[0];
    mg_bench_result *results = NULL;
    size_t count = 0, capacity = 0;
    for (size_t i = 0; i < case_count && status == MG_OK; i++) {
        bench_case c = scaled(&full_cases[i], p->quick);
        if (p->filter && *p->filter && !strstr(c.op, p->filter))
            continue;
        if (progress && !progress(i, case_count, c.op, user_data)) {
            status = mg_fail(&ctx->diag, MG_ERR_CANCELLED, "mg_bench_ops: cancelled");
            break;
        }
        bench_state main_state, cpu_state;
        memset(&cpu_state, 0, sizeof cpu_state);
        mg_bench_result r;
        memset(&r, 0, sizeof r);
        double flops = 0, bytes = 0, seconds = 0;
        mg_format(r.op, sizeof r.op, "%s", c.op);
        status = setup(ctx, &c, &main_state, &flops, &bytes, r.shape, sizeof r.shape);
        if (status == MG_OK)
            status = time_case(ctx, &c, &main_state, min_seconds, &seconds);
        if (status == MG_OK) {
            mg_format(r.backend, sizeof r.backend, "%s", ctx->gpu ? "vulkan" : "cpu-ref");
            r.seconds_per_call = seconds;
            r.gflops = flops / seconds * 1e-9;
            r.gbytes_per_second = bytes / seconds * 1e-9;
            r.max_abs_diff = NAN;
        }
        if (status == MG_OK && cpu) {
            mg_bench_result rc = r;
            double cpu_seconds = 0;
            char unused[64];
            status = setup(cpu, &c, &cpu_state, &flops, &bytes, unused, sizeof unused);
            if (status == MG_OK)
                status = time_case(cpu, &c, &cpu_state, min_seconds, &cpu_seconds);
            if (status == MG_OK) {
                r.max_abs_diff = compare_outputs(main_state.out, cpu_state.out);
                mg_format(rc.backend, sizeof rc.backend, "cpu-ref");
                rc.seconds_per_call = cpu_seconds;
                rc.gflops = flops / cpu_seconds * 1e-9;
                rc.gbytes_per_second = bytes / cpu_seconds * 1e-9;
                rc.max_abs_diff = r.max_abs_diff;
                status = add_result(&results, &count, &capacity, &r);
                if (status == MG_OK)
                    status = add_result(&results, &count, &capacity, &rc);
            } else {
                status = mg_fail(&ctx->diag, status, "mg_bench_ops on the CPU reference: %s",
                                 mg_context_last_error(cpu));
            }
        } else if (status == MG_OK) {
            status = add_result(&results, &count, &capacity, &r);
        }
        free_state(&main_state);
        free_state(&cpu_state);
    }
    mg_context_destroy(cpu);
    if (status != MG_OK) {
        free(results);
        return status;
    }
    *out_results = results;
    *out_count = count;
    return MG_OK;
}

void mg_bench_results_free(mg_bench_result *results)
{
    free(results);
}
