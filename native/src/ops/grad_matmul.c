/* Matmul backward: d_a through the forward matmul kernel (d_out @ B^T is a
 * matmul with b's transposition flipped), d_b through grad_matmul_tn.comp,
 * d_bias through the column sum. */
#include "ops/grad_common.h"

#include <string.h>

typedef struct grad_matmul_shape {
    size_t batch, m, n, k;
    bool broadcast;
} grad_matmul_shape;

static mg_status check_shapes(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, bool transpose_b,
                              const mg_tensor *d_out, grad_matmul_shape *s)
{
    char as[64], bs[64], os[64];
    mg_shape_string(a, as, sizeof as);
    mg_shape_string(b, bs, sizeof bs);
    mg_shape_string(d_out, os, sizeof os);
    if (b->ndim < 2)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "matmul_backward: b has shape %s but must be 2-D or more",
                       bs);
    s->k = mg_last_dim(a);
    s->m = a->ndim >= 2 ? (size_t)a->shape[a->ndim - 2] : 1;
    s->batch = a->count / (s->m * s->k);
    size_t b_rows = (size_t)b->shape[b->ndim - 2], b_cols = (size_t)b->shape[b->ndim - 1];
    s->n = transpose_b ? b_rows : b_cols;
    s->broadcast = b->ndim == 2;
    bool ok = (transpose_b ? b_cols : b_rows) == s->k;
    if (ok && !s->broadcast) {
        ok = b->ndim == a->ndim;
        for (int i = 0; ok && i < a->ndim - 2; i++)
            ok = a->shape[i] == b->shape[i];
    }
    bool out_ok = d_out->ndim == a->ndim && mg_last_dim(d_out) == s->n;
    for (int i = 0; out_ok && i < a->ndim - 1; i++)
        out_ok = d_out->shape[i] == a->shape[i];
    if (!ok || !out_ok)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "matmul_backward: a %s, b %s (transpose_b = %s) and d_out %s do not match a forward matmul "
                       "(d_out must be [..., m, n] for a [..., m, k])",
                       as, bs, transpose_b ? "true" : "false", os);
    if (s->batch > 65535)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "matmul_backward: %zu batches exceed 65535", s->batch);
    return MG_OK;
}

/* c[z] (+)= xs[z]^T @ ys[z] over `rows` rows (xs [rows, P], ys [rows, Q]), in row chunks. */
static mg_status record_tn(mg_context *ctx, const mg_tensor *xs, const mg_tensor *ys, mg_tensor *c, size_t z,
                           size_t rows, size_t P, size_t Q, bool accumulate)
{
    struct cfg { uint32_t bm, bn, bk, tm, tn; };
    /* CPU devices: 8 x 8 outputs per invocation (many multiply-adds per shared-memory read, as matmul.c);
     * GPUs: 256 invocations of 4 x 4; the last fits every Vulkan device (64 invocations, 4 KiB). */
    static const struct cfg cpu_cfg = {64, 64, 16, 8, 8}, gpu_cfg = {64, 64, 16, 4, 4}, small_cfg = {32, 32, 16, 4, 4};
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    struct cfg cf = mg_device_is_cpu(ctx) ? cpu_cfg : gpu_cfg;
    uint32_t threads = (cf.bm / cf.tm) * (cf.bn / cf.tn);
    if (threads > mg_workgroup_size(ctx, 1024) || cf.bk * (cf.bm + cf.bn) * 4 > limits->max_shared_memory_bytes) {
        cf = small_cfg;
        threads = (cf.bm / cf.tm) * (cf.bn / cf.tn);
    }
    uint64_t groups_q = (Q + cf.bn - 1) / cf.bn, groups_p = (P + cf.bm - 1) / cf.bm;
    if (groups_q > limits->max_workgroup_count[0] || groups_p > limits->max_workgroup_count[1] ||
        z > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "matmul_backward: a %zu x %zu weight gradient is too large "
                       "for one dispatch", P, Q);
    /* Per BK rows each invocation loops over its share of both tile loads. */
    uint32_t per_step = 1 + (cf.bm * cf.bk + threads - 1) / threads + (cf.bn * cf.bk + threads - 1) / threads;
    size_t chunk = mg_grad_row_chunk(ctx, per_step) * cf.bk;
    size_t begin = 0;
    do {
        size_t end = rows - begin > chunk ? begin + chunk : rows;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t x_offset, y_offset, c_offset, P, Q, r_begin, r_end, x_batch_stride, y_batch_stride,
                c_batch_stride, accumulate;
        } p = {.P = (uint32_t)P, .Q = (uint32_t)Q, .r_begin = (uint32_t)begin, .r_end = (uint32_t)end,
               .x_batch_stride = (uint32_t)(rows * P), .y_batch_stride = (uint32_t)(rows * Q),
               .c_batch_stride = (uint32_t)(P * Q), .accumulate = accumulate || begin > 0};
        p.x_offset = mg_bind(ctx, &d, xs, false);
        p.y_offset = mg_bind(ctx, &d, ys, false);
        p.c_offset = mg_bind(ctx, &d, c, true);
        d.shader = MG_SHADER_GRAD_MATMUL_TN;
        d.spec[0] = threads;
        d.spec[1] = cf.bm;
        d.spec[2] = cf.bn;
        d.spec[3] = cf.bk;
        d.spec[4] = cf.tm;
        d.spec[5] = cf.tn;
        d.spec_count = 6;
        d.groups[0] = (uint32_t)groups_q;
        d.groups[1] = (uint32_t)groups_p;
        d.groups[2] = (uint32_t)z;
        memcpy(d.push, &p, sizeof p);
        d.push_size = sizeof p;
        mg_status status = mg_gpu_record_dispatch(ctx->gpu, &d);
        if (status != MG_OK)
            return status;
        begin = end;
    } while (begin < rows);
    return MG_OK;
}

mg_status mg_op_matmul_backward(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, bool transpose_b,
                                const mg_tensor *d_out, mg_tensor *d_a, mg_tensor *d_b, mg_tensor *d_bias)
{
    const char *op = "matmul_backward";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "a", a, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "b", b, MG_DTYPE_F32, true)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK)
        return status;
    grad_matmul_shape s = {0};
    if ((status = check_shapes(ctx, a, b, transpose_b, d_out, &s)) != MG_OK)
        return status;
    if (d_a) {
        if ((status = mg_check_tensor(ctx, op, "d_a", d_a, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_grad_check_shape(ctx, op, "d_a", d_a, "a", a)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_out", d_out, d_a)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "b", b, d_a)) != MG_OK)
            return status;
    }
    if (d_b) {
        if ((status = mg_check_tensor(ctx, op, "d_b", d_b, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_grad_check_shape(ctx, op, "d_b", d_b, "b", b)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "a", a, d_b)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_out", d_out, d_b)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_a", d_a, d_b)) != MG_OK)
            return status;
    }
    if (d_bias) {
        if ((status = mg_check_tensor(ctx, op, "d_bias", d_bias, MG_DTYPE_F32, false)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_out", d_out, d_bias)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_a", d_a, d_bias)) != MG_OK ||
            (status = mg_check_no_alias(ctx, op, "d_b", d_b, d_bias)) != MG_OK)
            return status;
        if (d_bias->count != s.n)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "matmul_backward: d_bias has %zu elements but n = %zu",
                           d_bias->count, s.n);
    }
    if (!ctx->gpu) {
        if (!mg_ref_matmul_backward(s.batch, s.m, s.n, s.k, mg_f32_of(a), mg_param_of(b), transpose_b, s.broadcast,
                                    mg_f32_of(d_out), mg_f32_of(d_a), mg_f32_of(d_b), mg_f32_of(d_bias)))
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "matmul_backward: out of host memory for a %zu x %zu "
                           "scratch", s.k, s.n);
        return MG_OK;
    }
    /* d_a [..., m, k] = d_out [..., m, n] @ B^T: the forward kernel with b read the other way round. */
    if (d_a && (status = mg_op_matmul(ctx, d_out, b, NULL, !transpose_b, d_a)) != MG_OK)
        return status;
    if (d_b) {
        /* A shared b sums over every row of every batch: one product over batch * m rows. */
        size_t z = s.broadcast ? 1 : s.batch, rows = s.broadcast ? s.batch * s.m : s.m;
        status = transpose_b ? record_tn(ctx, d_out, a, d_b, z, rows, s.n, s.k, true)
                             : record_tn(ctx, a, d_out, d_b, z, rows, s.k, s.n, true);
        if (status != MG_OK)
            return status;
    }
    if (d_bias)
        return mg_op_column_sum(ctx, d_out, NULL, 1, true, d_bias);
    return MG_OK;
}
