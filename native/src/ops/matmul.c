/* Matrix multiply: shape checks, CPU reference, and the choice between the
 * tiled kernel and the matrix-vector kernel (few rows: token-by-token decoding). */
#include "ops/op_common.h"

#include <stdlib.h>
#include <string.h>

#define MATVEC_MAX_ROWS 4 /* = MAX_ROWS in matvec.comp */
#define MATVEC_ROWS_PER_GROUP 2 /* = ROWS_PER_GROUP in matvec.comp */

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
        uint32_t wg = mg_workgroup_size(ctx, transpose_b ? 128 : 64);
        d.shader = f16 ? MG_SHADER_MATVEC_F16 : MG_SHADER_MATVEC_F32;
        d.spec[0] = wg;
        d.spec[1] = transpose_b;
        d.spec_count = 2;
        d.groups[0] = transpose_b ? (uint32_t)((s->n + MATVEC_ROWS_PER_GROUP - 1) / MATVEC_ROWS_PER_GROUP)
                                  : (uint32_t)((s->n + wg - 1) / wg);
        d.groups[1] = 1;
    } else {
        /* 64x64 tiles of 4x4 per invocation = 256 invocations; 32x32 where the
         * device allows fewer (shared memory is 8 KiB either way at most). */
        uint32_t tile = mg_workgroup_size(ctx, 256) >= 256 ? 64 : 32;
        uint32_t bk = 16, tm = 4, tn = 4;
        d.shader = f16 ? MG_SHADER_MATMUL_F16 : MG_SHADER_MATMUL_F32;
        d.spec[0] = (tile / tm) * (tile / tn);
        d.spec[1] = tile;
        d.spec[2] = tile;
        d.spec[3] = bk;
        d.spec[4] = tm;
        d.spec[5] = tn;
        d.spec[6] = transpose_b;
        d.spec_count = 7;
        d.groups[0] = (uint32_t)((s->n + tile - 1) / tile);
        d.groups[1] = (uint32_t)((s->m + tile - 1) / tile);
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
