/* The autoencoder's reconstruction loss (Gaussian-blurred cross-entropy over
 * coordinate bins) and its gradient: recon_loss.comp or the CPU reference. */
#include "ops/grad_ae_common.h"

#include <string.h>

int mg_recon_blur_width(float sigma)
{
    double kernel[MG_RECON_BLUR_MAX];
    return mg_ref_recon_blur_kernel(sigma, kernel);
}

static mg_status check(mg_context *ctx, const char *op, const mg_tensor *logits, const mg_tensor *targets,
                       float sigma, const mg_tensor *out, bool per_bin)
{
    mg_status status;
    if ((status = mg_check_tensor(ctx, op, "logits", logits, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "targets", targets, MG_DTYPE_I32, false)) != MG_OK ||
        (status = mg_check_tensor(ctx, op, "out", out, MG_DTYPE_F32, false)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "logits", logits, out)) != MG_OK ||
        (status = mg_check_no_alias(ctx, op, "targets", targets, out)) != MG_OK)
        return status;
    if (logits->count > UINT32_MAX)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: tensors of more than 2^32 elements are not supported", op);
    size_t rows = mg_rows(logits);
    if (targets->count != rows || (per_bin ? out->count != logits->count : out->count != rows)) {
        char ls[64], ts[64], os[64];
        mg_shape_string(logits, ls, sizeof ls);
        mg_shape_string(targets, ts, sizeof ts);
        mg_shape_string(out, os, sizeof os);
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: logits %s need one target per row (got %s) and %s (got %s)", op, ls, ts,
                       per_bin ? "a gradient of their shape" : "one loss per row", os);
    }
    if (!(sigma == sigma))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "%s: sigma is NaN", op);
    return MG_OK;
}

static mg_status run_vulkan(mg_context *ctx, uint32_t mode, const mg_tensor *logits, const mg_tensor *targets,
                            float sigma, float scale, mg_tensor *out)
{
    mg_gpu_dispatch d;
    memset(&d, 0, sizeof d);
    struct {
        uint32_t z_offset, targets_offset, y_offset, r, bins;
        int32_t width;
        float sigma, scale;
    } p = {.r = (uint32_t)mg_rows(logits), .bins = (uint32_t)mg_last_dim(logits),
           .width = mg_recon_blur_width(sigma), .sigma = sigma, .scale = scale};
    p.z_offset = mg_bind(ctx, &d, logits, false);
    p.targets_offset = mg_bind(ctx, &d, targets, false);
    p.y_offset = mg_bind(ctx, &d, out, true);
    /* One invocation per coordinate; its loops run 3 x bins (+ width) iterations. */
    if (mg_device_is_cpu(ctx) && 3 * (uint64_t)p.bins + 2 * MG_RECON_BLUR_MAX > MG_CPU_DEVICE_LOOP_BUDGET)
        return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "recon_loss: %u bins are too many for a CPU Vulkan device",
                       p.bins);
    d.shader = MG_SHADER_RECON_LOSS;
    d.spec[0] = mg_workgroup_size(ctx, 64);
    d.spec[1] = mode;
    d.spec_count = 2;
    mg_grid_1d(ctx, &d, (p.r + d.spec[0] - 1) / d.spec[0]);
    return mg_grad_ae_record(ctx, &d, &p, sizeof p);
}

mg_status mg_op_recon_loss(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets, float sigma,
                           mg_tensor *row_loss)
{
    mg_status status = check(ctx, "recon_loss", logits, targets, sigma, row_loss, false);
    if (status != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_recon_loss(mg_rows(logits), mg_last_dim(logits), mg_f32_of(logits), mg_i32_of(targets), sigma,
                          mg_f32_of(row_loss));
        return MG_OK;
    }
    return run_vulkan(ctx, 0, logits, targets, sigma, 0.0f, row_loss);
}

mg_status mg_op_recon_loss_backward(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets, float sigma,
                                    float scale, mg_tensor *d_logits)
{
    mg_status status = check(ctx, "recon_loss_backward", logits, targets, sigma, d_logits, true);
    if (status != MG_OK)
        return status;
    if (!ctx->gpu) {
        mg_ref_recon_loss_backward(mg_rows(logits), mg_last_dim(logits), mg_f32_of(logits), mg_i32_of(targets), sigma,
                                   scale, mg_f32_of(d_logits));
        return MG_OK;
    }
    return run_vulkan(ctx, 1, logits, targets, sigma, scale, d_logits);
}
