/* Backward of the row ops (normalisations, softmax) and the fused cross-entropy.
 * On Vulkan one workgroup handles one row; the gain gradients are column sums
 * over rows of a second kernel. */
#include "ops/grad_common.h"

#include <string.h>

static bool overlaps(const mg_tensor *x, const mg_tensor *y)
{
    return x && y && x->storage == y->storage && x->byte_offset < y->byte_offset + y->nbytes &&
           y->byte_offset < x->byte_offset + x->nbytes;
}

static bool same_range(const mg_tensor *x, const mg_tensor *y)
{
    return x->storage == y->storage && x->byte_offset == y->byte_offset;
}

/* The first `outputs` tensors (the op's outputs) overlap none of the others (NULL entries are skipped). */
static mg_status check_disjoint(mg_context *ctx, const char *op, const mg_tensor *const *tensors,
                                const char *const *names, size_t outputs, size_t count)
{
    for (size_t i = 0; i < outputs; i++)
        for (size_t j = i + 1; j < count; j++)
            if (overlaps(tensors[i], tensors[j]))
                return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s; use separate tensors", op,
                               names[i], names[j]);
    return MG_OK;
}

static mg_status record_norm_params(mg_context *ctx, const mg_tensor *x, const mg_tensor *d_out,
                                    const mg_tensor *stats, mg_tensor *d_gamma, mg_tensor *d_beta, size_t rows,
                                    size_t dim)
{
    size_t chunk = mg_grad_row_chunk(ctx, 1);
    size_t begin = 0;
    do {
        size_t end = rows - begin > chunk ? begin + chunk : rows;
        mg_gpu_dispatch d;
        memset(&d, 0, sizeof d);
        struct {
            uint32_t x_offset, g_offset, stats_offset, d_gamma_offset, d_beta_offset, dim, r_begin, r_end,
                has_gamma, has_beta;
        } p = {.dim = (uint32_t)dim, .r_begin = (uint32_t)begin, .r_end = (uint32_t)end,
               .has_gamma = d_gamma != NULL, .has_beta = d_beta != NULL};
        p.x_offset = mg_bind(ctx, &d, x, false);
        p.g_offset = mg_bind(ctx, &d, d_out, false);
        p.stats_offset = mg_bind(ctx, &d, stats, false);
        if (d_gamma)
            p.d_gamma_offset = mg_bind(ctx, &d, d_gamma, true);
        else
            mg_bind_none(ctx, &d);
        if (d_beta)
            p.d_beta_offset = mg_bind(ctx, &d, d_beta, true);
        else
            mg_bind_none(ctx, &d);
        d.shader = MG_SHADER_GRAD_NORM_PARAMS;
        d.spec[0] = mg_workgroup_size(ctx, 256);
        d.spec_count = 1;
        mg_grid_1d(ctx, &d, (dim + d.spec[0] - 1) / d.spec[0]);
        memcpy(d.push, &p, sizeof p);
        d.push_size = sizeof p;
        mg_status status = mg_gpu_record_dispatch(ctx->gpu, &d);
        if (status != MG_OK)
            return status;
        begin = end;
    } while (begin < rows);
    return MG_OK;
}

static mg_status norm_backward(mg_context *ctx, const char *op, const mg_norm_params *np, const mg_tensor *x,
                               const mg_tensor *gamma, const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gamma,
                               mg_tensor *d_beta)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_out", d_out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_grad_check_shape(ctx, op, "d_out", d_out, "x", x)) != MG_OK)
        return status;
    size_t dim = mg_last_dim(x), rows = mg_rows(x);
    if (gamma && (status = mg_check_param(ctx, op, "gamma", gamma, dim, gamma->dtype)) != MG_OK)
        return status;
    if (gamma && gamma->dtype != MG_DTYPE_F32 && gamma->dtype != MG_DTYPE_F16)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: gamma must be f32 or f16", op);
    if (d_gamma && !gamma)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: d_gamma needs the forward's gamma", op);
    if (!(np->eps >= 0.0f))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: eps must be a non-negative number", op);
    if ((d_x && ((status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
                 (status = mg_grad_check_shape(ctx, op, "d_x", d_x, "x", x)) != MG_OK)) ||
        (status = mg_grad_check_param_grad(ctx, op, "d_gamma", d_gamma, dim)) != MG_OK ||
        (status = mg_grad_check_param_grad(ctx, op, "d_beta", d_beta, dim)) != MG_OK)
        return status;
    const mg_tensor *all[] = {d_x, d_gamma, d_beta, x, d_out};
    const char *names[] = {"d_x", "d_gamma", "d_beta", "x", "d_out"};
    if ((status = check_disjoint(ctx, op, all, names, 3, 5)) != MG_OK)
        return status;
    if (!d_x && !d_gamma && !d_beta)
        return MG_OK;
    if (!ctx->gpu) {
        if (!mg_ref_norm_backward(np, rows, dim, mg_f32_of(x), mg_param_of(gamma), mg_f32_of(d_out), mg_f32_of(d_x),
                                  mg_f32_of(d_gamma), mg_f32_of(d_beta)))
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
        return MG_OK;
    }
    mg_tensor *stats = NULL;
    if (d_gamma || d_beta) {
        int64_t stats_shape[2] = {(int64_t)rows, 2};
        if ((status = mg_tensor_create(ctx, MG_DTYPE_F32, 2, stats_shape, &stats)) != MG_OK)
            return status;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, g_offset, gamma_offset, dx_offset, stats_offset, rows, dim, has_gamma, has_dx, has_stats;
        float eps, gain_offset, scale;
    } p = {.rows = (uint32_t)rows, .dim = (uint32_t)dim, .has_gamma = gamma != NULL, .has_dx = d_x != NULL,
           .has_stats = stats != NULL, .eps = np->eps, .gain_offset = np->gamma_offset, .scale = np->scale};
    p.x_offset = mg_bind(ctx, &d, x, false);
    p.g_offset = mg_bind(ctx, &d, d_out, false);
    if (gamma)
        p.gamma_offset = mg_bind(ctx, &d, gamma, false);
    else
        mg_bind_none(ctx, &d);
    if (d_x)
        p.dx_offset = mg_bind(ctx, &d, d_x, true);
    else
        mg_bind_none(ctx, &d);
    if (stats)
        p.stats_offset = mg_bind(ctx, &d, stats, true);
    else
        mg_bind_none(ctx, &d);
    bool sg = mg_use_subgroups(ctx), f16 = gamma && gamma->dtype == MG_DTYPE_F16;
    d.shader = f16 ? (sg ? MG_SHADER_GRAD_NORM_F16_SG : MG_SHADER_GRAD_NORM_F16)
                   : (sg ? MG_SHADER_GRAD_NORM_F32_SG : MG_SHADER_GRAD_NORM_F32);
    d.spec[0] = mg_grad_row_workgroup(ctx, dim);
    d.spec[1] = (uint32_t)np->mode;
    d.spec_count = 2;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    status = mg_gpu_record_dispatch(ctx->gpu, &d);
    if (status == MG_OK && stats)
        status = record_norm_params(ctx, x, d_out, stats, d_gamma, np->mode == MG_NORM_LAYER ? d_beta : NULL, rows,
                                    dim);
    mg_tensor_free(stats);
    return status;
}

mg_status mg_op_layer_norm_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                    float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gamma,
                                    mg_tensor *d_beta)
{
    mg_norm_params np = {MG_NORM_LAYER, eps, gamma_offset, 1.0f};
    return norm_backward(ctx, "layer_norm_backward", &np, x, gamma, d_out, d_x, d_gamma, d_beta);
}

mg_status mg_op_rms_norm_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                  float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gamma)
{
    mg_norm_params np = {MG_NORM_RMS, eps, gamma_offset, 1.0f};
    return norm_backward(ctx, "rms_norm_backward", &np, x, gamma, d_out, d_x, d_gamma, NULL);
}

mg_status mg_op_l2_normalize_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                      float scale, float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x,
                                      mg_tensor *d_gamma)
{
    mg_norm_params np = {MG_NORM_L2, eps, gamma_offset, scale};
    return norm_backward(ctx, "l2_normalize_backward", &np, x, gamma, d_out, d_x, d_gamma, NULL);
}

mg_status mg_op_softmax_backward(mg_context *ctx, const mg_tensor *y, const mg_tensor *d_y,
                                 const mg_softmax_options *options, mg_tensor *d_x)
{
    const char *op = "softmax_backward";
    mg_softmax_options defaults = mg_softmax_default_options();
    const mg_softmax_options *o = options ? options : &defaults;
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "y", y, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "d_y", d_y, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_grad_check_shape(ctx, op, "d_y", d_y, "y", y)) != MG_OK)
        return status;
    if (!d_x)
        return MG_OK;
    if ((status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_grad_check_shape(ctx, op, "d_x", d_x, "y", y)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "y", y, d_x)) != MG_OK)
        return status;
    bool in_place = same_range(d_x, d_y);
    if (!in_place && overlaps(d_x, d_y))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "softmax_backward: d_x must be d_y itself (in place) or not overlap it");
    size_t n = mg_last_dim(y), rows = mg_rows(y);
    if (o->mask_row_divisor == 0 || o->causal_queries == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "softmax_backward: mask_row_divisor and causal_queries must be >= 1");
    if (o->mask) {
        if ((status = mg_check_tensor(ctx, op, "mask", o->mask, MG_DTYPE_I32, false)) != MG_OK)
            return status;
        size_t needed = ((rows - 1) / o->mask_row_divisor + 1) * n;
        if (mg_last_dim(o->mask) != n || o->mask->count < needed)
            return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                           "softmax_backward: the mask must be [mask_rows, %zu] with at least %zu rows", n,
                           needed / n);
    }
    if (!ctx->gpu) {
        mg_softmax_params p = {o->scale, mg_i32_of(o->mask), o->mask_row_divisor, o->causal, o->causal_queries,
                               o->causal_offset};
        mg_ref_softmax_backward(&p, rows, n, mg_f32_of(y), mg_f32_of(d_y), mg_f32_of(d_x));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t y_offset, mask_offset, g_offset, dx_offset, rows, n;
        float scale;
        uint32_t has_mask, mask_row_divisor, causal, causal_queries;
        int32_t causal_offset;
    } p = {.rows = (uint32_t)rows, .n = (uint32_t)n, .scale = o->scale, .has_mask = o->mask != NULL,
           .mask_row_divisor = (uint32_t)o->mask_row_divisor, .causal = o->causal,
           .causal_queries = (uint32_t)o->causal_queries, .causal_offset = (int32_t)o->causal_offset};
    p.y_offset = mg_bind(ctx, &d, y, false);
    if (o->mask)
        p.mask_offset = mg_bind(ctx, &d, o->mask, false);
    else
        mg_bind_none(ctx, &d);
    p.g_offset = mg_bind(ctx, &d, d_y, in_place);
    p.dx_offset = mg_bind(ctx, &d, d_x, true);
    d.shader = mg_use_subgroups(ctx) ? MG_SHADER_GRAD_SOFTMAX_SG : MG_SHADER_GRAD_SOFTMAX;
    d.spec[0] = mg_grad_row_workgroup(ctx, n);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}

mg_status mg_op_cross_entropy(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets,
                              const mg_tensor *weights, float scale, mg_tensor *loss, mg_tensor *d_logits)
{
    const char *op = "cross_entropy";
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "logits", logits, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "targets", targets, MG_DTYPE_I32, false)) != MG_OK)
        return status;
    size_t v = mg_last_dim(logits), rows = mg_rows(logits);
    if (targets->count != rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "cross_entropy: targets has %zu elements but logits has %zu rows", targets->count, rows);
    if (weights && ((status = mg_check_tensor(ctx, op, "weights", weights, MG_DTYPE_F32, false)) != MG_OK))
        return status;
    if (weights && weights->count != rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "cross_entropy: weights has %zu elements but logits has %zu rows", weights->count, rows);
    if (loss && ((status = mg_check_tensor(ctx, op, "loss", loss, MG_DTYPE_F32, false)) != MG_OK))
        return status;
    if (loss && loss->count != rows)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "cross_entropy: loss has %zu elements but logits has %zu rows", loss->count, rows);
    if (d_logits && ((status = mg_check_tensor(ctx, op, "d_logits", d_logits, MG_DTYPE_F32, false)) != MG_OK ||
                     (status = mg_grad_check_shape(ctx, op, "d_logits", d_logits, "logits", logits)) != MG_OK))
        return status;
    bool in_place = d_logits && same_range(d_logits, logits);
    /* The outputs overlap no input, except d_logits = logits exactly (in place). */
    const mg_tensor *all[] = {loss, d_logits, targets, weights, in_place ? NULL : logits};
    const char *names[] = {"loss", "d_logits", "targets", "weights", "logits"};
    if ((status = check_disjoint(ctx, op, all, names, 2, 5)) != MG_OK)
        return status;
    if (loss && overlaps(loss, logits))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "cross_entropy: loss overlaps logits");
    if (!loss && !d_logits)
        return MG_OK;
    if (!ctx->gpu) {
        const int32_t *t = mg_i32_of(targets);
        for (size_t r = 0; r < rows; r++)
            if (t[r] >= 0 && (size_t)t[r] >= v)
                return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                               "cross_entropy: target %d of row %zu is outside the %zu classes (negative targets "
                               "are ignored)", t[r], r, v);
        mg_ref_cross_entropy(rows, v, mg_f32_of(logits), t, mg_f32_of(weights), scale, mg_f32_of(loss),
                             mg_f32_of(d_logits));
        return MG_OK;
    }
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t x_offset, targets_offset, weights_offset, loss_offset, dx_offset, rows, V, has_weights, has_loss,
            has_dx;
        float scale;
    } p = {.rows = (uint32_t)rows, .V = (uint32_t)v, .has_weights = weights != NULL, .has_loss = loss != NULL,
           .has_dx = d_logits != NULL, .scale = scale};
    p.x_offset = mg_bind(ctx, &d, logits, in_place);
    p.targets_offset = mg_bind(ctx, &d, targets, false);
    if (weights)
        p.weights_offset = mg_bind(ctx, &d, weights, false);
    else
        mg_bind_none(ctx, &d);
    if (loss)
        p.loss_offset = mg_bind(ctx, &d, loss, true);
    else
        mg_bind_none(ctx, &d);
    if (d_logits)
        p.dx_offset = mg_bind(ctx, &d, d_logits, true);
    else
        mg_bind_none(ctx, &d);
    d.shader = mg_use_subgroups(ctx) ? MG_SHADER_GRAD_CROSS_ENTROPY_SG : MG_SHADER_GRAD_CROSS_ENTROPY;
    d.spec[0] = mg_grad_row_workgroup(ctx, v);
    d.spec_count = 1;
    mg_grid_1d(ctx, &d, rows);
    memcpy(d.push, &p, sizeof p);
    d.push_size = sizeof p;
    return mg_gpu_record_dispatch(ctx->gpu, &d);
}
