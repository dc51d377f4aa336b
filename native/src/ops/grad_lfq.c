/* ResidualLFQ's training terms (commitment, entropy, straight-through): checked
 * entries over the CPU reference and the Vulkan shaders lfq_*.comp. */
#include "ops/grad_ae_common.h"

#include <math.h>
#include <string.h>

mg_lfq_loss_params mg_lfq_loss_default_params(void)
{
    mg_lfq_loss_params p = {.levels = 2, .soft_clamp = 10.0f, .commit_weight = 1.0f, .entropy_weight = 0.1f,
                            .diversity_gamma = 1.0f, .inv_temperature = 100.0f, .softplus_entropy = true,
                            .entropy_offset = 5.0f};
    return p;
}

static mg_status check(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *mask,
                       const mg_lfq_loss_params *p)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "x", x, MG_DTYPE_F32, false)) != MG_OK ||
        (mask && (status = mg_check_tensor(ctx, op, "mask", mask, MG_DTYPE_I32, false)) != MG_OK))
        return status;
    if (!p)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: params is NULL (see mg_lfq_loss_default_params)", op);
    if (x->ndim != 2 || x->shape[1] > MG_LFQ_LOSS_MAX_DIM) {
        char shape[64];
        mg_shape_string(x, shape, sizeof shape);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: x must be [N, d] with d <= %d but has shape %s", op,
                       MG_LFQ_LOSS_MAX_DIM, shape);
    }
    if (mask && mask->count != (size_t)x->shape[0])
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: mask must have one entry per row of x", op);
    if (p->levels < 1 || p->levels > 16 || !(p->inv_temperature > 0.0f) || !isfinite(p->soft_clamp) ||
        !isfinite(p->commit_weight) || !isfinite(p->entropy_weight) || !isfinite(p->diversity_gamma) ||
        !isfinite(p->entropy_offset))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: params need 1..16 levels, a positive inv_temperature and finite weights", op);
    if (x->count > UINT32_MAX / 2 || (size_t)p->levels * (size_t)x->shape[0] * 2 > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: x is too large", op);
    return MG_OK;
}

/* ---- Vulkan ---- */

#define LFQ_PARTIAL_ROWS 64 /* ROWS of lfq_code_partial.comp */
#define LFQ_ROW_THREADS 64  /* workgroup of the per-row shaders (their shared sums are sized by it) */

/* A temporary f32 tensor of `count` elements (freed by the caller after recording: storage outlives the work). */
static mg_status temp(mg_context *ctx, size_t count, mg_tensor **out)
{
    int64_t shape[1] = {(int64_t)count};
    return mg_tensor_create(ctx, MG_DTYPE_F32, 1, shape, out);
}

static void bind_mask(mg_context *ctx, mg_gpu_dispatch *d, const mg_tensor *mask, uint32_t *offset)
{
    if (mask)
        *offset = mg_bind(ctx, d, mask, false);
    else
        mg_bind_none(ctx, d);
}

/* The row-per-workgroup grid (x and y) with z = `levels`, or an error when the device cannot hold it. */
static mg_status row_grid(mg_context *ctx, const char *op, mg_gpu_dispatch *d, size_t rows, uint32_t levels)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    mg_grid_1d(ctx, d, rows);
    if (d->groups[1] > limits->max_workgroup_count[1] || levels > limits->max_workgroup_count[2])
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: %zu rows are too many for one dispatch", op, rows);
    d->groups[2] = levels;
    return MG_OK;
}

/* The three passes of the loss: per-block code sums (summed over blocks by grad_sum_rows), per-row entropy
 * and commitment, and the per-level totals into losses [levels, 5] and avg [levels, 2^d]. */
static mg_status vk_lfq_stats(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *mask,
                              const mg_lfq_loss_params *p, mg_tensor *losses, mg_tensor *avg)
{
    const size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1], levels = (size_t)p->levels;
    const size_t codes = (size_t)1 << d, blocks = (n + LFQ_PARTIAL_ROWS - 1) / LFQ_PARTIAL_ROWS;
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint32_t wg = mg_workgroup_size(ctx, 64);
    if ((codes + wg - 1) / wg > limits->max_workgroup_count[0] || blocks > limits->max_workgroup_count[1] ||
        levels > limits->max_workgroup_count[2] || levels * blocks * codes > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: %zu rows of %zu codes are too many for the device", op,
                       n, codes);
    mg_tensor *partial = NULL, *code_sum = NULL, *stats = NULL;
    mg_status status = temp(ctx, levels * blocks * codes, &partial);
    if (status == MG_OK)
        status = temp(ctx, levels * codes, &code_sum);
    if (status == MG_OK)
        status = temp(ctx, levels * n * 2, &stats);
    if (status == MG_OK) {
        mg_gpu_dispatch dp;
        memset(&dp, 0, sizeof dp);
        struct {
            uint32_t x_offset, mask_offset, partial_offset, n, d, has_mask, blocks;
            float soft_clamp, inv_temperature;
        } pp = {.n = (uint32_t)n, .d = (uint32_t)d, .has_mask = mask != NULL, .blocks = (uint32_t)blocks,
                .soft_clamp = p->soft_clamp, .inv_temperature = p->inv_temperature};
        pp.x_offset = mg_bind(ctx, &dp, x, false);
        bind_mask(ctx, &dp, mask, &pp.mask_offset);
        pp.partial_offset = mg_bind(ctx, &dp, partial, true);
        dp.shader = MG_SHADER_LFQ_CODE_PARTIAL;
        dp.spec[0] = wg;
        dp.spec_count = 1;
        dp.groups[0] = (uint32_t)((codes + wg - 1) / wg);
        dp.groups[1] = (uint32_t)blocks;
        dp.groups[2] = (uint32_t)levels;
        status = mg_grad_ae_record(ctx, &dp, &pp, sizeof pp);
    }
    if (status == MG_OK)
        status = mg_grad_ae_sum_rows(ctx, partial, NULL, levels, blocks, codes, false, code_sum);
    if (status == MG_OK) {
        mg_gpu_dispatch dr;
        memset(&dr, 0, sizeof dr);
        struct {
            uint32_t x_offset, mask_offset, stats_offset, n, d, has_mask;
            float soft_clamp, inv_temperature;
        } pr = {.n = (uint32_t)n, .d = (uint32_t)d, .has_mask = mask != NULL, .soft_clamp = p->soft_clamp,
                .inv_temperature = p->inv_temperature};
        pr.x_offset = mg_bind(ctx, &dr, x, false);
        bind_mask(ctx, &dr, mask, &pr.mask_offset);
        pr.stats_offset = mg_bind(ctx, &dr, stats, true);
        dr.shader = MG_SHADER_LFQ_ROW_STATS;
        dr.spec[0] = mg_workgroup_size(ctx, LFQ_ROW_THREADS);
        dr.spec_count = 1;
        status = row_grid(ctx, op, &dr, n, (uint32_t)levels);
        if (status == MG_OK)
            status = mg_grad_ae_record(ctx, &dr, &pr, sizeof pr);
    }
    if (status == MG_OK) {
        mg_gpu_dispatch df;
        memset(&df, 0, sizeof df);
        struct {
            uint32_t stats_offset, mask_offset, code_sum_offset, losses_offset, avg_offset, n, d, has_mask,
                softplus;
            float commit_weight, entropy_weight, gamma, offset;
        } pf = {.n = (uint32_t)n, .d = (uint32_t)d, .has_mask = mask != NULL, .softplus = p->softplus_entropy,
                .commit_weight = p->commit_weight, .entropy_weight = p->entropy_weight,
                .gamma = p->diversity_gamma, .offset = p->entropy_offset};
        pf.stats_offset = mg_bind(ctx, &df, stats, false);
        bind_mask(ctx, &df, mask, &pf.mask_offset);
        pf.code_sum_offset = mg_bind(ctx, &df, code_sum, false);
        pf.losses_offset = mg_bind(ctx, &df, losses, true);
        pf.avg_offset = mg_bind(ctx, &df, avg, true);
        df.shader = MG_SHADER_LFQ_LOSS_FINISH;
        df.spec[0] = mg_workgroup_size(ctx, 256);
        df.spec_count = 1;
        df.groups[0] = (uint32_t)levels;
        df.groups[1] = df.groups[2] = 1;
        status = mg_grad_ae_record(ctx, &df, &pf, sizeof pf);
    }
    mg_tensor_free(partial);
    mg_tensor_free(code_sum);
    mg_tensor_free(stats);
    return status;
}

static mg_status vk_lfq_loss(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *mask,
                             const mg_lfq_loss_params *p, mg_tensor *losses, mg_tensor *avg)
{
    mg_tensor *own_avg = NULL;
    mg_status status = avg ? MG_OK : temp(ctx, (size_t)p->levels << x->shape[1], &own_avg);
    if (status == MG_OK)
        status = vk_lfq_stats(ctx, op, x, mask, p, losses, avg ? avg : own_avg);
    mg_tensor_free(own_avg);
    return status;
}

static mg_status vk_lfq_backward(mg_context *ctx, const char *op, const mg_tensor *x, const mg_tensor *mask,
                                 const mg_lfq_loss_params *p, const mg_tensor *d_values, float aux_scale,
                                 mg_tensor *d_x)
{
    const size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1], levels = (size_t)p->levels;
    const bool entropy = aux_scale != 0.0f && p->entropy_weight != 0.0f;
    mg_tensor *losses = NULL, *avg = NULL;
    /* the statistics also count the valid rows, which the commitment term divides by */
    mg_status status = temp(ctx, levels * MG_LFQ_LOSS_COLUMNS, &losses);
    if (status == MG_OK)
        status = temp(ctx, levels << d, &avg);
    if (status == MG_OK)
        status = vk_lfq_stats(ctx, op, x, mask, p, losses, avg);
    if (status == MG_OK) {
        mg_gpu_dispatch db;
        memset(&db, 0, sizeof db);
        struct {
            uint32_t x_offset, mask_offset, dv_offset, avg_offset, losses_offset, dx_offset, n, d, levels, flags;
            float soft_clamp, inv_temperature, aux_scale, commit_weight, entropy_weight, gamma, offset;
        } pb = {.n = (uint32_t)n, .d = (uint32_t)d, .levels = (uint32_t)levels,
                .flags = (mask ? 1u : 0u) | (d_values ? 2u : 0u) | (entropy ? 4u : 0u) |
                         (p->softplus_entropy ? 8u : 0u),
                .soft_clamp = p->soft_clamp, .inv_temperature = p->inv_temperature, .aux_scale = aux_scale,
                .commit_weight = p->commit_weight, .entropy_weight = p->entropy_weight,
                .gamma = p->diversity_gamma, .offset = p->entropy_offset};
        pb.x_offset = mg_bind(ctx, &db, x, false);
        bind_mask(ctx, &db, mask, &pb.mask_offset);
        if (d_values)
            pb.dv_offset = mg_bind(ctx, &db, d_values, false);
        else
            mg_bind_none(ctx, &db);
        pb.avg_offset = mg_bind(ctx, &db, avg, false);
        pb.losses_offset = mg_bind(ctx, &db, losses, false);
        pb.dx_offset = mg_bind(ctx, &db, d_x, true);
        db.shader = MG_SHADER_LFQ_BACKWARD;
        db.spec[0] = mg_workgroup_size(ctx, LFQ_ROW_THREADS);
        db.spec_count = 1;
        status = row_grid(ctx, op, &db, n, 1);
        if (status == MG_OK)
            status = mg_grad_ae_record(ctx, &db, &pb, sizeof pb);
    }
    mg_tensor_free(losses);
    mg_tensor_free(avg);
    return status;
}

mg_status mg_op_lfq_loss(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask, const mg_lfq_loss_params *params,
                         mg_tensor *losses, mg_tensor *avg)
{
    const char *op = "lfq_loss";
    mg_status status;
    if ((status = check(ctx, op, x, mask, params)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "losses", losses, MG_DTYPE_F32, false)) != MG_OK ||
        (avg && (status = mg_check_tensor(ctx, op, "avg", avg, MG_DTYPE_F32, false)) != MG_OK))
        return status;
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1], levels = (size_t)params->levels;
    if (losses->count != levels * MG_LFQ_LOSS_COLUMNS || (avg && avg->count != levels << d))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: losses must hold [%zu, %d] values and avg [%zu, %zu]", op, levels, MG_LFQ_LOSS_COLUMNS,
                       levels, (size_t)1 << d);
    const mg_tensor *inputs[] = {x, mask};
    mg_tensor *outputs[] = {losses, avg};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 2, outputs, 2)) != MG_OK)
        return status;
    if (ctx->gpu)
        return vk_lfq_loss(ctx, op, x, mask, params, losses, avg);
    mg_ref_lfq_loss(n, d, mg_f32_of(x), mg_i32_of(mask), params, mg_f32_of(losses), avg ? mg_f32_of(avg) : NULL);
    if (isnan(mg_f32_of(losses)[4]))
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu codes", op, (size_t)1 << d);
    return MG_OK;
}

mg_status mg_op_lfq_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *mask,
                             const mg_lfq_loss_params *params, const mg_tensor *d_values, float aux_scale,
                             mg_tensor *d_x)
{
    const char *op = "lfq_backward";
    mg_status status;
    if ((status = check(ctx, op, x, mask, params)) != MG_OK ||
        (d_values && (status = mg_check_tensor(ctx, op, "d_values", d_values, MG_DTYPE_F32, false)) != MG_OK) ||
        (status = mg_check_tensor(ctx, op, "d_x", d_x, MG_DTYPE_F32, false)) != MG_OK ||
        (d_values && (status = mg_check_same_shape(ctx, op, "d_values", x, d_values)) != MG_OK) ||
        (status = mg_check_same_shape(ctx, op, "x", x, d_x)) != MG_OK)
        return status;
    const mg_tensor *inputs[] = {x, mask, d_values};
    if ((status = mg_grad_ae_check_outputs(ctx, op, inputs, 3, &d_x, 1)) != MG_OK)
        return status;
    if (!isfinite(aux_scale))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: aux_scale must be finite", op);
    if (ctx->gpu)
        return vk_lfq_backward(ctx, op, x, mask, params, d_values, aux_scale, d_x);
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1];
    mg_ref_lfq_backward(n, d, mg_f32_of(x), mg_i32_of(mask), params, d_values ? mg_f32_of(d_values) : NULL, aux_scale,
                        mg_f32_of(d_x));
    if (n && isnan(mg_f32_of(d_x)[0]) && !isnan(mg_f32_of(x)[0]))
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu codes", op, (size_t)1 << d);
    return MG_OK;
}
