/*
 * FiLM text conditioning under training (text_cond_with_film): the forward of
 * model/transformer.c's mg_tf_film_params + mg_tf_film_apply, keeping what the
 * backward needs, and that backward.
 *
 *   c     = masked mean of the text context over its visible tokens     [B, dim_text]
 *   gamma = 1 + gamma_mult * tanh(c W_g^T)                             [B, d]
 *   beta  = beta_mult * tanh(c W_b^T + b_b)                            [B, d]
 *   y     = x * gamma + beta   (per batch row, every position)
 *
 * The multipliers are single learned numbers, zero at initialisation (FiLM
 * starts as the identity and only the multipliers receive a gradient at first).
 */
#include "train/tf_train_internal.h"

#include "ops/ops_grad.h"
#include "ops/ops_grad_ae.h"

#include <stdio.h>
#include <string.h>

static mg_tensor *film_param(tf_train *t, const char *name, const char *suffix)
{
    mg_tensor *tensor = tft_param(t, "%s.%s", name, suffix);
    if (!tensor)
        mg_fail(&t->ctx->diag, MG_ERR_INTERNAL, "the transformer under training has no tensor '%s.%s'", name, suffix);
    return tensor;
}

mg_status tft_film_forward(tf_train *t, tft_arena *arena, const char *name, mg_tensor *pooled, mg_tensor *x,
                           tft_film *f)
{
    mg_context *ctx = t->ctx;
    const int64_t b = x->shape[0], n = x->shape[1], d = x->shape[2];
    mg_status status = MG_OK;
    memset(f, 0, sizeof *f);
    f->name = name;
    mg_tensor *gamma_mult = film_param(t, name, "gamma_mult"), *beta_mult = film_param(t, name, "beta_mult");
    mg_tensor *w_gamma = film_param(t, name, "to_gamma.weight"), *w_beta = film_param(t, name, "to_beta.weight");
    mg_tensor *b_beta = film_param(t, name, "to_beta.bias");
    if (!gamma_mult || !beta_mult || !w_gamma || !w_beta || !b_beta)
        return MG_ERR_INTERNAL;
    CHECK(mg_tensor_read_f32(gamma_mult, &f->gamma_mult, 1));
    CHECK(mg_tensor_read_f32(beta_mult, &f->beta_mult, 1));
    f->gamma_pre = tft_2d(arena, b, d);
    f->beta_pre = tft_2d(arena, b, d);
    f->gamma = tft_2d(arena, b, d);
    f->beta = tft_2d(arena, b, d);
    f->x_in = tft_copy(arena, x);
    mg_tensor *shift = tft_3d(arena, b, n, d);
    HAVE(f->gamma_pre);
    HAVE(f->beta_pre);
    HAVE(f->gamma);
    HAVE(f->beta);
    HAVE(f->x_in);
    HAVE(shift);
    CHECK(mg_op_matmul(ctx, pooled, w_gamma, NULL, true, f->gamma_pre));
    CHECK(mg_op_unary(ctx, MG_UNARY_TANH, f->gamma_pre, f->gamma));
    CHECK(mg_op_scale(ctx, f->gamma, f->gamma_mult, 1.0f, f->gamma));
    CHECK(mg_op_matmul(ctx, pooled, w_beta, b_beta, true, f->beta_pre));
    CHECK(mg_op_unary(ctx, MG_UNARY_TANH, f->beta_pre, f->beta));
    CHECK(mg_op_scale(ctx, f->beta, f->beta_mult, 0.0f, f->beta));
    /* beta reaches every position of its row as ones scaled per channel (as the inference code does it) */
    CHECK(mg_tensor_fill_u32(shift, 0x3f800000u)); /* 1.0f */
    CHECK(mg_op_scale_channels(ctx, shift, f->beta, shift));
    CHECK(mg_op_scale_channels(ctx, x, f->gamma, x));
    CHECK(mg_op_add(ctx, x, shift, x));
done:
    return status;
}

/* d_pre = d_value * mult * tanh'(pre): the gradient of a multiplier-scaled tanh's input. */
static mg_status scaled_tanh_backward(mg_context *ctx, const mg_tensor *pre, float mult, const mg_tensor *d_value,
                                      mg_tensor *d_pre)
{
    mg_status status = mg_op_scale(ctx, d_value, mult, 0.0f, d_pre);
    if (status == MG_OK)
        status = mg_op_unary_backward(ctx, MG_UNARY_TANH, pre, 1.0f, d_pre, d_pre);
    return status;
}

mg_status tft_film_backward(tf_train *t, tft_arena *arena, const tft_film *f, mg_tensor *pooled, mg_tensor *d_x,
                            mg_tensor *d_pooled)
{
    mg_context *ctx = t->ctx;
    const char *name = f->name;
    const int64_t b = d_x->shape[0], d = d_x->shape[2], text_width = pooled->shape[1];
    mg_status status = MG_OK;
    mg_tensor *w_gamma = film_param(t, name, "to_gamma.weight"), *w_beta = film_param(t, name, "to_beta.weight");
    if (!w_gamma || !w_beta)
        return MG_ERR_INTERNAL;
    mg_tensor *d_gamma = tft_2d(arena, b, d), *d_beta = tft_2d(arena, b, d);
    mg_tensor *d_pre = tft_2d(arena, b, d), *d_part = d_pooled ? tft_2d(arena, b, text_width) : NULL;
    HAVE(d_gamma);
    HAVE(d_beta);
    HAVE(d_pre);
    if (d_pooled)
        HAVE(d_part);
    /* y = x * gamma + beta: the row gains' gradients sum over the positions; then d_x = d_y * gamma. */
    CHECK(mg_op_column_sum(ctx, d_x, f->x_in, (size_t)b, false, d_gamma));
    CHECK(mg_op_column_sum(ctx, d_x, NULL, (size_t)b, false, d_beta));
    CHECK(mg_op_scale_channels(ctx, d_x, f->gamma, d_x));

    /* gamma = 1 + gamma_mult * tanh(gamma_pre): the multiplier's gradient is sum(d_gamma * tanh(gamma_pre)),
     * and tanh(gamma_pre) = (gamma - 1) / gamma_mult is not recoverable at gamma_mult = 0: recompute it. */
    mg_tensor *tanh_value = tft_2d(arena, b, d);
    HAVE(tanh_value);
    mg_tensor *g_gamma_mult = tft_grad(t, "%s.gamma_mult", name), *g_beta_mult = tft_grad(t, "%s.beta_mult", name);
    if (g_gamma_mult) {
        CHECK(mg_op_unary(ctx, MG_UNARY_TANH, f->gamma_pre, tanh_value));
        CHECK(mg_op_column_sum(ctx, d_gamma, tanh_value, 1, true, g_gamma_mult));
    }
    if (g_beta_mult) {
        CHECK(mg_op_unary(ctx, MG_UNARY_TANH, f->beta_pre, tanh_value));
        CHECK(mg_op_column_sum(ctx, d_beta, tanh_value, 1, true, g_beta_mult));
    }
    CHECK(scaled_tanh_backward(ctx, f->gamma_pre, f->gamma_mult, d_gamma, d_pre));
    CHECK(mg_op_matmul_backward(ctx, pooled, w_gamma, true, d_pre, d_part, tft_grad(t, "%s.to_gamma.weight", name),
                                NULL));
    if (d_pooled)
        CHECK(mg_op_add(ctx, d_pooled, d_part, d_pooled));
    CHECK(scaled_tanh_backward(ctx, f->beta_pre, f->beta_mult, d_beta, d_pre));
    CHECK(mg_op_matmul_backward(ctx, pooled, w_beta, true, d_pre, d_part, tft_grad(t, "%s.to_beta.weight", name),
                                tft_grad(t, "%s.to_beta.bias", name)));
    if (d_pooled)
        CHECK(mg_op_add(ctx, d_pooled, d_part, d_pooled));
done:
    return status;
}
