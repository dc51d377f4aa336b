/* Elementwise ops: binary (broadcast), unary activations and scale, GEGLU. */
#include "ops/op_common.h"

#include <string.h>

#define ELEMENTWISE_WORKGROUP 256

static void grid_for(mg_context *ctx, mg_gpu_dispatch *d, size_t elements)
{
    d->spec[0] = mg_workgroup_size(ctx, ELEMENTWISE_WORKGROUP);
    mg_grid_1d(ctx, d, (elements + d->spec[0] - 1) / d->spec[0]);
}

mg_status mg_op_binary(mg_context *ctx, mg_binary_op op, const mg_tensor *a, const mg_tensor *b, mg_tensor *out)
{
    const char *name = op == MG_BINARY_ADD ? "add" : op == MG_BINARY_SUB ? "sub" : "mul";
    mg_status status;
    if ((status = mg_check_tensor(ctx, name, "a", a, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, name, "b", b, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, name, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, name, "a", a, out)) != MG_OK)
        return status;
    if ((unsigned)op > MG_BINARY_MUL)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "binary: unknown op %d", (int)op);
    /* b broadcasts when its shape equals a's trailing dimensions. */
    bool trailing = b->ndim <= a->ndim;
    for (int i = 0; trailing && i < b->ndim; i++)
        trailing = b->shape[b->ndim - 1 - i] == a->shape[a->ndim - 1 - i];
    if (!trailing) {
        char as[64], bs[64];
        mg_shape_string(a, as, sizeof as);
        mg_shape_string(b, bs, sizeof bs);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: b has shape %s, which is not a's shape %s nor its trailing dimensions", name, bs, as);
    }
    if (!ctx->gpu) {
        mg_ref_binary(op, a->count, mg_f32_of(a), b->count, mg_f32_of(b), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t a_offset, b_offset, y_offset, count, b_count;
    } p = {.count = (uint32_t)a->count, .b_count = (uint32_t)b->count};
    p.a_offset = mg_bind(ctx, &d, a, false);
    p.b_offset = mg_bind(ctx, &d, b, false);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_BINARY;
    d.spec[1] = (uint32_t)op;
    d.spec_count = 2;
    grid_for(ctx, &d, a->count);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_add(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out)
{
    return mg_op_binary(ctx, MG_BINARY_ADD, a, b, out);
}

mg_status mg_op_mul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out)
{
    return mg_op_binary(ctx, MG_BINARY_MUL, a, b, out);
}

static mg_status unary(mg_context *ctx, const char *name, mg_unary_op op, const mg_tensor *x, float alpha, float beta,
                       mg_tensor *out)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, name, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, name, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_same_shape(ctx, name, "x", x, out)) != MG_OK)
        return status;
    if ((unsigned)op > MG_UNARY_RELU)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "unary: unknown op %d", (int)op);
    if (!ctx->gpu) {
        mg_ref_unary(op, x->count, mg_f32_of(x), alpha, beta, mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, y_offset, count;
        float alpha, beta;
    } p = {.count = (uint32_t)x->count, .alpha = alpha, .beta = beta};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_UNARY;
    d.spec[1] = (uint32_t)op;
    d.spec_count = 2;
    grid_for(ctx, &d, x->count);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_unary(mg_context *ctx, mg_unary_op op, const mg_tensor *x, mg_tensor *out)
{
    static const char *names[] = {"scale", "silu", "gelu", "sigmoid", "tanh", "relu"};
    return unary(ctx, (unsigned)op <= MG_UNARY_RELU ? names[op] : "unary", op, x, 1.0f, 0.0f, out);
}

mg_status mg_op_scale(mg_context *ctx, const mg_tensor *x, float alpha, float beta, mg_tensor *out)
{
    return unary(ctx, "scale", MG_UNARY_SCALE, x, alpha, beta, out);
}

mg_status mg_op_geglu(mg_context *ctx, const mg_tensor *x, mg_tensor *out)
{
    const char *op = "geglu";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "x", x, out)) != MG_OK)
        return status;
    size_t width = mg_last_dim(x);
    bool ok = width % 2 == 0 && out->ndim == x->ndim && mg_last_dim(out) * 2 == width;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = out->shape[i] == x->shape[i];
    if (!ok) {
        char xs[64], os[64];
        mg_shape_string(x, xs, sizeof xs);
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "geglu: x %s must have an even last dimension and out %s half of it", xs, os);
    }
    size_t rows = mg_rows(x), n = width / 2;
    if (!ctx->gpu) {
        mg_ref_geglu(rows, n, mg_f32_of(x), mg_f32_of(out));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, y_offset, rows, n;
    } p = {.rows = (uint32_t)rows, .n = (uint32_t)n};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.y_offset = mg_bind(ctx, &d, out, true);
    d.shader = MG_SHADER_GEGLU;
    d.spec_count = 1;
    grid_for(ctx, &d, rows * n);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
