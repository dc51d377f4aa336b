/* Matrix multiply: shape checks, CPU reference, and the choice between the
 * tiled kernel and the matrix-vector kernel (few rows: token-by-token decoding). */
#include "ops/op_common.h"

#include <stdlib.h>
#include <string.h>

#define MATVEC_MAX_ROWS 4 /* = MAX_M in matvec.comp */

typedef struct matmul_push {
    uint32_t a_offset, w_offset, bias_offset, y_offset;
    uint32_t m, n, k;
    uint32_t a_batch_stride, w_batch_stride, y_batch_stride;
    uint32_t has_bias;
} matmul_push;

typedef struct matmul_shape {
    size_t batch, m, n, k;
    bool broadcast;
} matmul_shape;

static mg_status check_shapes(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, bool transpose_b,
                              const mg_tensor *out, matmul_shape *s)
{
    char as[64], bs[64], os[64];
    mg_shape_string(a, as, sizeof as);
    mg_shape_string(b, bs, sizeof bs);
    mg_shape_string(out, os, sizeof os);
    s->k = mg_last_dim(a);
    s->m = a->ndim >= 2 ? (size_t)a->shape[a->ndim - 2] : 1;
    s->batch = a->count / (s->m * s->k);
    if (b->ndim < 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "matmul: b has shape %s but must have 2 or more dimensions",
                       bs);
    size_t b_rows = (size_t)b->shape[b->ndim - 2], b_cols = (size_t)b->shape[b->ndim - 1];
    size_t b_k = transpose_b ? b_cols : b_rows;
    s->n = transpose_b ? b_rows : b_cols;
    if (b_k != s->k)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "matmul: a has shape %s (k = %zu) but b has shape %s (k = %zu with transpose_b = %s)", as, s->k,
                       bs, b_k, transpose_b ? "true" : "false");
    s->broadcast = b->ndim == 2;
    if (!s->broadcast) {
        bool same = b->ndim == a->ndim;
        for (int i = 0; same && i < a->ndim - 2; i++)
            same = a->shape[i] == b->shape[i];
        if (!same)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "matmul: a %s and b %s must have the same batch dimensions (or b must be 2-D)", as, bs);
    }
    bool out_ok = out->ndim == (a->ndim == 1 ? 1 : a->ndim) && mg_last_dim(out) == s->n &&
                  out->count == s->batch * s->m * s->n;
    for (int i = 0; out_ok && i < a->ndim - 1; i++)
        out_ok = out->shape[i] == a->shape[i];
    if (!out_ok)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "matmul: out has shape %s but a %s times b %s gives [..., %zu, %zu]", os, as, bs, s->m, s->n);
    if (s->batch > 65535)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "matmul: %zu batches exceed 65535", s->batch);
    return MG_OK;
}

static bool multiple_of_4(uint32_t v)
{
    return v % 4u == 0;
}

/* matvec.comp: see the shader for the two layouts. */
static void set_matvec(mg_context *ctx, mg_gpu_dispatch *d, const matmul_push *p, bool transpose_b, bool f16)
{
    bool subgroups = mg_use_subgroups(ctx);
    bool cpu = mg_device_is_cpu(ctx);
    uint32_t m = p->m, n = p->n, k = p->k;
    /* vec4 reads need every base index of a vec4 to be a multiple of 4: the
     * element offsets, the batch strides and the row length along which the
     * shader steps (k for transposed w and for a; n for plain w). */
    bool vec4 = multiple_of_4(p->a_offset) && multiple_of_4(p->w_offset) && multiple_of_4(p->a_batch_stride) &&
                multiple_of_4(p->w_batch_stride) && multiple_of_4(k) && (transpose_b || multiple_of_4(n));
    uint32_t wg, rows = 1, rows_per_group = 1, ksplit = 1, cvec = 1, groups;
    if (transpose_b) {
        /* Outputs per team pass: a is read once for all of them, but each
         * needs M accumulators; ROWS x M <= 16 keeps them in registers. */
        rows = m <= 2 ? 8 : 4;
        if (subgroups) {
            /* Teams are subgroups, several per workgroup on a GPU. On a CPU
             * device one subgroup per workgroup measured fastest (lavapipe:
             * 1.7 ms for 768 -> 3072, against 3 ms with 4 subgroups). */
            uint32_t subgroup = mg_gpu_get_limits(ctx->gpu)->subgroup_size;
            wg = mg_subgroup_workgroup_size(ctx, cpu ? subgroup : 128);
            rows_per_group = rows * (wg / subgroup);
        } else {
            /* The workgroup is one team that reduces in shared memory; on a
             * CPU device a small one keeps the tree (and its barriers) short. */
            wg = mg_workgroup_size(ctx, cpu ? 8 : 128);
            rows_per_group = rows;
        }
        groups = (n + rows_per_group - 1) / rows_per_group;
    } else {
        uint32_t cols = vec4 ? 4 : 1;
        /* On a CPU device 4 column groups per invocation make each workgroup
         * stream long runs of a weight row (lavapipe: ~3 ms against ~5 ms for
         * one). On a GPU one group per invocation keeps more invocations. */
        cvec = cpu ? 4 : 1;
        wg = mg_workgroup_size(ctx, cpu ? 32 : 256);
        uint32_t threads_needed = (n + cols * cvec - 1) / (cols * cvec);
        /* A discrete GPU wants tens of thousands of invocations in flight;
         * when the columns alone do not give that, invocations also split k
         * and sum in shared memory (wg * M * cvec vec4s of it). A CPU device
         * has few cores: one invocation per column group is plenty and needs
         * no barrier. */
        uint32_t max_shared = mg_gpu_get_limits(ctx->gpu)->max_shared_memory_bytes;
        if (!cpu && (uint64_t)wg * m * cvec * 16 <= max_shared)
            while (ksplit * 2 <= wg / 16 && ksplit * 2 <= k && threads_needed * ksplit * 2 <= 32768)
                ksplit *= 2;
        uint32_t col_threads = wg / ksplit;
        groups = (threads_needed + col_threads - 1) / col_threads;
    }
    d->shader = subgroups ? (f16 ? MG_SHADER_MATVEC_F16_SG : MG_SHADER_MATVEC_F32_SG)
                          : (f16 ? MG_SHADER_MATVEC_F16 : MG_SHADER_MATVEC_F32);
    d->spec[0] = wg;
    d->spec[1] = transpose_b;
    d->spec[2] = vec4;
    d->spec[3] = m;
    d->spec[4] = rows;
    d->spec[5] = rows_per_group;
    d->spec[6] = ksplit;
    d->spec[7] = cvec;
    d->spec_count = 8;
    d->groups[0] = groups;
    d->groups[1] = 1;
}

/* matmul.comp: tile sizes from the device limits (see the shader). */
static void set_matmul(mg_context *ctx, mg_gpu_dispatch *d, const matmul_push *p, const matmul_shape *s,
                       bool transpose_b, bool f16, uint32_t *tile_m, uint32_t *tile_n)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint32_t max_wg = mg_workgroup_size(ctx, 1024);
    /* Candidates, best first; each needs (bm / tm) * (bn / tn) invocations and
     * bk * (bm + bn) * 4 bytes of shared memory.
     *  - GPUs: 128 x 128 tiles of 8 x 8 per invocation (256 invocations, 16
     *    KiB) when the output is big enough to fill the device with them,
     *    otherwise 64 x 64 of 4 x 4 (256, 8 KiB), or 32 x 32 (64 invocations:
     *    every Vulkan device has 128) on small devices.
     *  - CPU devices: on lavapipe every shared-memory read is a loop over the
     *    SIMD lanes, so the more multiply-adds per read the better; 64 x 64
     *    tiles of 8 x 8 (64 invocations) measured fastest, 3x the 64 x 64 of
     *    4 x 4 (256 x 256 x 1024: 8.7 against 2.4 GFLOP/s; 128-wide tiles
     *    were no faster and worse for small batched products). */
    struct cfg { uint32_t bm, bn, bk, tm, tn; };
    static const struct cfg gpu_big[] = {{128, 128, 16, 8, 8}, {64, 64, 16, 4, 4}, {32, 32, 16, 4, 4}};
    static const struct cfg gpu_small[] = {{64, 64, 16, 4, 4}, {32, 32, 16, 4, 4}};
    static const struct cfg cpu_cfgs[] = {{64, 64, 16, 8, 8}, {32, 32, 16, 4, 4}};
    const struct cfg *list;
    size_t count;
    if (mg_device_is_cpu(ctx)) {
        list = cpu_cfgs;
        count = sizeof cpu_cfgs / sizeof cpu_cfgs[0];
    } else if (s->m >= 512 && s->n >= 512) {
        list = gpu_big;
        count = sizeof gpu_big / sizeof gpu_big[0];
    } else {
        list = gpu_small;
        count = sizeof gpu_small / sizeof gpu_small[0];
    }
    struct cfg c = list[count - 1];
    for (size_t i = 0; i < count; i++) {
        uint32_t threads = (list[i].bm / list[i].tm) * (list[i].bn / list[i].tn);
        uint32_t shared = list[i].bk * (list[i].bm + list[i].bn) * 4;
        if (threads <= max_wg && shared <= limits->max_shared_memory_bytes) {
            c = list[i];
            break;
        }
    }
    /* vec4 tile loads: a rows and transposed w rows step along k, plain w rows
     * along n; every base index must be a multiple of 4. */
    bool vec4 = multiple_of_4(p->a_offset) && multiple_of_4(p->w_offset) && multiple_of_4(p->a_batch_stride) &&
                multiple_of_4(p->w_batch_stride) && multiple_of_4(p->k) && (transpose_b || multiple_of_4(p->n));
    d->shader = f16 ? MG_SHADER_MATMUL_F16 : MG_SHADER_MATMUL_F32;
    d->spec[0] = (c.bm / c.tm) * (c.bn / c.tn);
    d->spec[1] = c.bm;
    d->spec[2] = c.bn;
    d->spec[3] = c.bk;
    d->spec[4] = c.tm;
    d->spec[5] = c.tn;
    d->spec[6] = transpose_b;
    d->spec[7] = vec4;
    d->spec_count = 8;
    *tile_m = c.bm;
    *tile_n = c.bn;
}

static mg_status run_vulkan(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, const mg_tensor *bias,
                            bool transpose_b, mg_tensor *out, const matmul_shape *s)
{
    bool f16 = b->dtype == MG_DTYPE_F16;
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    matmul_push p = {
        .m = (uint32_t)s->m,
        .n = (uint32_t)s->n,
        .k = (uint32_t)s->k,
        .a_batch_stride = (uint32_t)(s->m * s->k),
        .w_batch_stride = s->broadcast ? 0 : (uint32_t)(s->k * s->n),
        .y_batch_stride = (uint32_t)(s->m * s->n),
        .has_bias = bias != NULL,
    };
    p.a_offset = mg_bind(ctx, &d, a, false);
    p.w_offset = mg_bind(ctx, &d, b, false);
    if (bias)
        p.bias_offset = mg_bind(ctx, &d, bias, false);
    else
        mg_bind_none(ctx, &d);
    p.y_offset = mg_bind(ctx, &d, out, true);

    if (s->m <= MATVEC_MAX_ROWS) {
        set_matvec(ctx, &d, &p, transpose_b, f16);
    } else {
        uint32_t tile_m, tile_n;
        set_matmul(ctx, &d, &p, s, transpose_b, f16, &tile_m, &tile_n);
        d.groups[0] = (uint32_t)((s->n + tile_n - 1) / tile_n);
        d.groups[1] = (uint32_t)((s->m + tile_m - 1) / tile_m);
        const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
        if (d.groups[0] > limits->max_workgroup_count[0] || d.groups[1] > limits->max_workgroup_count[1])
            return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "matmul: %zu x %zu is too large for one dispatch", s->m,
                           s->n);
    }
    d.groups[2] = (uint32_t)s->batch;
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_matmul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, const mg_tensor *bias, bool transpose_b,
                       mg_tensor *out)
{
    const char *op = "matmul";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "a", a, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "b", b, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    matmul_shape s = {0};
    if ((status = check_shapes(ctx, a, b, transpose_b, out, &s)) != MG_OK ||
        (status = mg_check_param(ctx, op, "bias", bias, s.n, b->dtype)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "a", a, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "b", b, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "bias", bias, out)) != MG_OK)
        return status;
    if (ctx->gpu)
        return run_vulkan(ctx, a, b, bias, transpose_b, out, &s);
    mg_ref_matmul(s.batch, s.m, s.n, s.k, mg_f32_of(a), mg_param_of(b), transpose_b, s.broadcast, mg_param_of(bias),
                  mg_f32_of(out));
    return MG_OK;
}
