/*
 * Optimizer ops and schedules (train/optim.h): Adam/AdamW against updates
 * computed by hand, Vulkan against the CPU reference (validation layer on),
 * the gradient norm and clipping against clip_grad_norm_'s formula, warm-up
 * and ema-pytorch's EMA schedule against their formulas.
 */
#include "test_util.h"
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Adam ---- */

static void run_adam(mg_context *ctx, const mg_adam_step *s, float *param, const float *grad, float *m, float *v,
                     size_t n)
{
    int64_t shape[1] = {(int64_t)n};
    mg_tensor *tp = test_offset_input(ctx, MG_DTYPE_F32, 1, shape, param, 3);
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 1, shape, grad, 5);
    mg_tensor *tm = test_offset_input(ctx, MG_DTYPE_F32, 1, shape, m, 7);
    mg_tensor *tv = test_offset_input(ctx, MG_DTYPE_F32, 1, shape, v, 1);
    cr_assert_eq(mg_op_adam_step(ctx, s, tp, tg, tm, tv), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_tensor_read_f32(tp, param, n), MG_OK);
    cr_assert_eq(mg_tensor_read_f32(tm, m, n), MG_OK);
    cr_assert_eq(mg_tensor_read_f32(tv, v, n), MG_OK);
    mg_tensor_free(tp);
    mg_tensor_free(tg);
    mg_tensor_free(tm);
    mg_tensor_free(tv);
}

Test(train_optim, adam_first_step_moves_each_weight_by_lr_against_its_gradient)
{
    /* Step 1: m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps) = lr * sign(g) (eps is 1e-8
     * against |g| >= 0.1: a 1e-10 relative effect). */
    mg_context *ctx = test_cpu_context();
    float p[3] = {0.5f, -1.0f, 2.0f}, g[3] = {0.1f, -0.2f, 0.3f}, m[3] = {0}, v[3] = {0};
    mg_adam_step s = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.0, .step = 1};
    run_adam(ctx, &s, p, g, m, v, 3);
    const double want_p[3] = {0.499, -0.999, 1.999};
    const double want_m[3] = {0.01, -0.02, 0.03};
    const double want_v[3] = {1e-4, 4e-4, 9e-4};
    test_assert_close(p, want_p, 3, 1e-6);
    test_assert_close(m, want_m, 3, 1e-8);
    test_assert_close(v, want_v, 3, 1e-9);
    mg_context_destroy(ctx);
}

/* The torch.optim.AdamW update written out in double, step by step. */
static void adamw_double(double *p, const double *g, double *m, double *v, size_t n, double lr, double b1, double b2,
                         double eps, double wd, int step)
{
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1.0 - lr * wd;
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        double m_hat = m[i] / (1.0 - pow(b1, step));
        double v_hat = v[i] / (1.0 - pow(b2, step));
        p[i] -= lr * m_hat / (sqrt(v_hat) + eps);
    }
}

Test(train_optim, adamw_three_steps_match_the_formula_in_double)
{
    mg_context *ctx = test_cpu_context();
    enum { N = 5 };
    float p[N] = {0.3f, -0.7f, 1.5f, 0.0f, -2.0f}, m[N] = {0}, v[N] = {0};
    double pd[N], md[N] = {0}, vd[N] = {0};
    for (int i = 0; i < N; i++)
        pd[i] = p[i];
    const float grads[3][N] = {{0.2f, -0.1f, 0.05f, 1.0f, -0.3f},
                               {-0.1f, -0.4f, 0.02f, 0.5f, 0.0f},
                               {0.3f, 0.2f, -0.06f, -1.0f, 0.1f}};
    for (int step = 1; step <= 3; step++) {
        mg_adam_step s = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1, .step = step};
        run_adam(ctx, &s, p, grads[step - 1], m, v, N);
        double g[N];
        for (int i = 0; i < N; i++)
            g[i] = grads[step - 1][i];
        adamw_double(pd, g, md, vd, N, 0.01, 0.9, 0.99, 1e-8, 0.1, step);
        test_assert_close(p, pd, N, 2e-6);
        test_assert_close(m, md, N, 1e-7);
        test_assert_close(v, vd, N, 1e-8);
    }
    mg_context_destroy(ctx);
}

Test(train_optim, adam_vulkan_matches_cpu_over_steps)
{
    test_pair pair = test_open_pair();
    static const size_t sizes[] = {1, 7, 255, 1000, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        float *pv = malloc(n * 4), *pr = malloc(n * 4), *g = malloc(n * 4);
        float *mv = calloc(n, 4), *mr = calloc(n, 4), *vv = calloc(n, 4), *vr = calloc(n, 4);
        test_fill_uniform(pv, n, (uint32_t)si + 1, -1, 1);
        memcpy(pr, pv, n * 4);
        for (int step = 1; step <= 4; step++) {
            test_fill_uniform(g, n, (uint32_t)(si * 10 + (size_t)step), -0.5f, 0.5f);
            mg_adam_step s = {.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
                              .weight_decay = step % 2 ? 0.01 : 0.0, .step = step};
            run_adam(pair.vk, &s, pv, g, mv, vv, n);
            run_adam(pair.ref, &s, pr, g, mr, vr, n);
        }
        test_compare("adam param", pv, pr, n, 1e-12);
        test_compare("adam m", mv, mr, n, 1e-12);
        test_compare("adam v", vv, vr, n, 1e-12);
        free(pv), free(pr), free(g), free(mv), free(mr), free(vv), free(vr);
    }
    test_close_pair(pair);
}

Test(train_optim, adam_refuses_bad_arguments)
{
    mg_context *ctx = test_cpu_context();
    int64_t s3[1] = {3}, s4[1] = {4};
    float zeros[4] = {0};
    mg_tensor *p = test_tensor(ctx, MG_DTYPE_F32, 1, s3, zeros), *g = test_tensor(ctx, MG_DTYPE_F32, 1, s4, zeros);
    mg_tensor *m = test_tensor(ctx, MG_DTYPE_F32, 1, s3, zeros), *v = test_tensor(ctx, MG_DTYPE_F32, 1, s3, zeros);
    mg_adam_step s = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .step = 1};
    cr_assert_eq(mg_op_adam_step(ctx, &s, p, g, m, v), MG_ERR_INVALID_ARGUMENT);
    s.step = 0;
    cr_assert_eq(mg_op_adam_step(ctx, &s, p, m, m, v), MG_ERR_INVALID_ARGUMENT);
    s.step = 1;
    cr_assert_eq(mg_op_adam_step(ctx, &s, p, p, m, v), MG_ERR_INVALID_ARGUMENT, "grad aliasing param");
    s.beta2 = 1.0;
    cr_assert_eq(mg_op_adam_step(ctx, &s, p, m, m, v), MG_ERR_INVALID_ARGUMENT);
    mg_tensor_free(p), mg_tensor_free(g), mg_tensor_free(m), mg_tensor_free(v);
    mg_context_destroy(ctx);
}

Test(train_optim, adam_config_defaults_warmup_and_decay_exclusion)
{
    mg_adam_config c = mg_adam_default_config();
    cr_assert_float_eq(c.lr, 1e-4, 0);
    cr_assert_float_eq(c.beta1, 0.9, 0);
    cr_assert_float_eq(c.beta2, 0.99, 0);
    cr_assert_float_eq(c.eps, 1e-8, 0);
    cr_assert_float_eq(c.weight_decay, 0.0, 0);
    /* LinearWarmup(1000): step k uses min(1, (k + 1) / 1000). */
    cr_assert_float_eq(mg_lr_warmup_factor(0, 1000), 0.001, 1e-15);
    cr_assert_float_eq(mg_lr_warmup_factor(499, 1000), 0.5, 1e-15);
    cr_assert_float_eq(mg_lr_warmup_factor(998, 1000), 0.999, 1e-15);
    cr_assert_float_eq(mg_lr_warmup_factor(999, 1000), 1.0, 0);
    cr_assert_float_eq(mg_lr_warmup_factor(123456, 1000), 1.0, 0);
    cr_assert_float_eq(mg_lr_warmup_factor(0, 0), 1.0, 0);
    /* Cosine decay after 100 warm-up steps of 1100: 1 at the first step after the warm-up (step 100), about
     * half way down at step 600 (t = 500 / 999), the final share at the last step (1099) and after it. */
    cr_assert_float_eq(mg_lr_decay_factor(50, 100, 1100, true, 0.05), 1.0, 0);
    cr_assert_float_eq(mg_lr_decay_factor(100, 100, 1100, true, 0.05), 1.0, 1e-15);
    cr_assert_float_eq(mg_lr_decay_factor(1099, 100, 1100, true, 0.05), 0.05, 1e-15);
    cr_assert_float_eq(mg_lr_decay_factor(5000, 100, 1100, true, 0.05), 0.05, 1e-15);
    double at600 = 0.05 + 0.95 * 0.5 * (1.0 + cos(3.14159265358979323846 * 500.0 / 999.0));
    cr_assert_float_eq(mg_lr_decay_factor(600, 100, 1100, true, 0.05), at600, 1e-15);
    cr_assert(at600 > 0.5 && at600 < 0.53, "%g", at600);
    cr_assert_float_eq(mg_lr_decay_factor(600, 100, 1100, false, 0.05), 1.0, 0);
    cr_assert_float_eq(mg_lr_decay_factor(3, 10, 10, true, 0.05), 1.0, 0); /* nothing left after the warm-up */
    c.weight_decay = 0.1;
    /* Optimizer step 1 is warm-up step 0; vectors (biases, gains) get no decay. */
    mg_adam_step s = mg_adam_step_for(&c, 1, 1000, 2);
    cr_assert_float_eq(s.lr, 1e-7, 1e-20);
    cr_assert_float_eq(s.weight_decay, 0.1, 0);
    cr_assert_eq(s.step, 1);
    s = mg_adam_step_for(&c, 2000, 1000, 1);
    cr_assert_float_eq(s.lr, 1e-4, 0);
    cr_assert_float_eq(s.weight_decay, 0.0, 0);
    cr_assert(mg_adam_param_decays(2) && mg_adam_param_decays(3) && !mg_adam_param_decays(1));
}

/* ---- gradient norm, clipping, zeroing ---- */

Test(train_optim, grad_norm_and_clip_by_hand)
{
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.ref, pair.vk};
    for (int c = 0; c < 2; c++) {
        mg_context *ctx = ctxs[c];
        int64_t s2[1] = {2}, s1[1] = {1};
        const float a[2] = {3.0f, 0.0f}, b[1] = {4.0f};
        mg_tensor *ta = test_offset_input(ctx, MG_DTYPE_F32, 1, s2, a, 3);
        mg_tensor *tb = test_offset_input(ctx, MG_DTYPE_F32, 1, s1, b, 1);
        mg_tensor *list[2] = {ta, tb};
        double norm = 0;
        cr_assert_eq(mg_train_grad_norm(ctx, (const mg_tensor *const *)list, 2, &norm), MG_OK);
        cr_assert_float_eq(norm, 5.0, 1e-12);
        /* max_norm above the norm: untouched. */
        cr_assert_eq(mg_train_clip_grad_norm(ctx, list, 2, 10.0, &norm), MG_OK);
        float ra[2], rb[1];
        mg_tensor_read_f32(ta, ra, 2);
        mg_tensor_read_f32(tb, rb, 1);
        cr_assert(ra[0] == 3.0f && ra[1] == 0.0f && rb[0] == 4.0f);
        /* max_norm 1: scaled by 1 / (5 + 1e-6). */
        cr_assert_eq(mg_train_clip_grad_norm(ctx, list, 2, 1.0, &norm), MG_OK);
        cr_assert_float_eq(norm, 5.0, 1e-12);
        mg_tensor_read_f32(ta, ra, 2);
        mg_tensor_read_f32(tb, rb, 1);
        double k = 1.0 / (5.0 + 1e-6);
        const double want_a[2] = {3.0 * k, 0.0}, want_b[1] = {4.0 * k};
        test_assert_close(ra, want_a, 2, 1e-7);
        test_assert_close(rb, want_b, 1, 1e-7);
        cr_assert_float_eq(mg_clip_coefficient(5.0, 1.0), k, 1e-15);
        cr_assert_float_eq(mg_clip_coefficient(5.0, 0.0), 1.0, 0);
        cr_assert_eq(mg_train_zero_grads(ctx, list, 2), MG_OK);
        mg_tensor_read_f32(ta, ra, 2);
        mg_tensor_read_f32(tb, rb, 1);
        cr_assert(ra[0] == 0.0f && ra[1] == 0.0f && rb[0] == 0.0f);
        mg_tensor_free(ta);
        mg_tensor_free(tb);
    }
    test_close_pair(pair);
}

Test(train_optim, sum_squares_vulkan_matches_cpu_and_is_deterministic)
{
    test_pair pair = test_open_pair();
    static const size_t sizes[] = {1, 255, 4096, 4097, 70001, 300000};
    enum { COUNT = sizeof sizes / sizeof sizes[0] };
    mg_tensor *vk[COUNT], *ref[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        float *values = malloc(sizes[i] * 4);
        test_fill_uniform(values, sizes[i], (uint32_t)i + 11, -2, 2);
        int64_t shape[1] = {(int64_t)sizes[i]};
        vk[i] = test_offset_input(pair.vk, MG_DTYPE_F32, 1, shape, values, i + 1);
        ref[i] = test_offset_input(pair.ref, MG_DTYPE_F32, 1, shape, values, i + 1);
        free(values);
    }
    double want = 0, got = 0, again = 0;
    cr_assert_eq(mg_op_sum_squares(pair.ref, (const mg_tensor *const *)ref, COUNT, &want), MG_OK);
    cr_assert_eq(mg_op_sum_squares(pair.vk, (const mg_tensor *const *)vk, COUNT, &got), MG_OK, "%s",
                 mg_context_last_error(pair.vk));
    cr_assert_eq(mg_op_sum_squares(pair.vk, (const mg_tensor *const *)vk, COUNT, &again), MG_OK);
    cr_assert(fabs(got - want) <= 1e-6 * want, "vulkan %.9g, reference %.9g", got, want);
    cr_assert(memcmp(&got, &again, sizeof got) == 0, "two runs differ: %.17g vs %.17g", got, again);
    /* Non-finite gradients show in the norm (the trainer stops on it) and clipping leaves them alone. */
    float inf_value[1] = {INFINITY};
    int64_t s1[1] = {1};
    mg_tensor *bad = test_tensor(pair.vk, MG_DTYPE_F32, 1, s1, inf_value);
    mg_tensor *with_bad[2] = {vk[0], bad};
    double norm = 0;
    cr_assert_eq(mg_train_clip_grad_norm(pair.vk, with_bad, 2, 1.0, &norm), MG_OK);
    cr_assert(isinf(norm));
    mg_tensor_free(bad);
    for (size_t i = 0; i < COUNT; i++) {
        mg_tensor_free(vk[i]);
        mg_tensor_free(ref[i]);
    }
    test_close_pair(pair);
}

/* ---- EMA ---- */

Test(train_optim, ema_schedule_follows_ema_pytorch)
{
    mg_ema_config c = mg_ema_default_config();
    cr_assert_float_eq(c.beta, 0.9999, 0);
    cr_assert_eq(c.update_after_step, 100);
    cr_assert_eq(c.update_every, 10);
    cr_assert_float_eq(c.power, 2.0 / 3.0, 0);
    mg_ema_state state = {0, false};
    for (uint64_t s = 0; s < 1000; s++) {
        double decay = -1;
        mg_ema_action a = mg_ema_advance(&c, &state, &decay);
        cr_assert_eq(state.step, s + 1);
        if (s % 10 != 0) {
            cr_assert_eq(a, MG_EMA_SKIP, "update %llu", (unsigned long long)s);
        } else if (s <= 110) {
            /* Copies up to update_after_step, then once more as the EMA initializes (s = 110). */
            cr_assert_eq(a, MG_EMA_COPY, "update %llu", (unsigned long long)s);
            cr_assert_eq(state.initted, s == 110);
        } else {
            cr_assert_eq(a, MG_EMA_LERP, "update %llu", (unsigned long long)s);
            /* get_current_decay after the increment: epoch = (s + 1) - 100 - 1. */
            double want = 1.0 - pow(1.0 + (double)(s - 100), -2.0 / 3.0);
            cr_assert_float_eq(decay, want, 1e-15, "update %llu", (unsigned long long)s);
        }
    }
    /* The first lerp (update 120): 1 - 21^(-2/3). */
    cr_assert_float_eq(mg_ema_decay(&c, 121), 1.0 - pow(21.0, -2.0 / 3.0), 1e-15);
    cr_assert_float_eq(mg_ema_decay(&c, 101), 0.0, 0);
    /* Capped by beta late in training. */
    cr_assert_float_eq(mg_ema_decay(&c, 1000000000ull), 0.9999, 0);
}

Test(train_optim, ema_lerp_by_hand_and_vulkan_matches_cpu)
{
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.ref, pair.vk};
    for (int c = 0; c < 2; c++) {
        mg_context *ctx = ctxs[c];
        int64_t s2[1] = {2};
        const float e0[2] = {0.0f, 1.0f}, p[2] = {1.0f, 3.0f};
        mg_tensor *te = test_offset_input(ctx, MG_DTYPE_F32, 1, s2, e0, 3);
        mg_tensor *tp = test_offset_input(ctx, MG_DTYPE_F32, 1, s2, p, 2);
        float r[2];
        cr_assert_eq(mg_op_ema_lerp(ctx, te, tp, 0.25f), MG_OK);
        mg_tensor_read_f32(te, r, 2);
        cr_assert(r[0] == 0.25f && r[1] == 1.5f, "%g %g", (double)r[0], (double)r[1]);
        cr_assert_eq(mg_op_ema_lerp(ctx, te, tp, 0.75f), MG_OK); /* 0.25 -> 0.8125, 1.5 -> 2.625 */
        mg_tensor_read_f32(te, r, 2);
        cr_assert(r[0] == 0.8125f && r[1] == 2.625f, "%g %g", (double)r[0], (double)r[1]);
        cr_assert_eq(mg_op_ema_lerp(ctx, te, tp, 1.0f), MG_OK);
        mg_tensor_read_f32(te, r, 2);
        cr_assert(r[0] == 1.0f && r[1] == 3.0f);
        cr_assert_eq(mg_op_ema_lerp(ctx, te, tp, 1.5f), MG_ERR_INVALID_ARGUMENT);
        mg_tensor_free(te);
        mg_tensor_free(tp);
    }
    size_t n = 5003;
    float *e = malloc(n * 4), *p = malloc(n * 4), *rv = malloc(n * 4), *rr = malloc(n * 4);
    test_fill_uniform(e, n, 1, -1, 1);
    test_fill_uniform(p, n, 2, -1, 1);
    int64_t shape[1] = {(int64_t)n};
    mg_tensor *ev = test_offset_input(pair.vk, MG_DTYPE_F32, 1, shape, e, 1);
    mg_tensor *pv = test_offset_input(pair.vk, MG_DTYPE_F32, 1, shape, p, 2);
    mg_tensor *er = test_tensor(pair.ref, MG_DTYPE_F32, 1, shape, e);
    mg_tensor *pr = test_tensor(pair.ref, MG_DTYPE_F32, 1, shape, p);
    for (int k = 0; k < 3; k++) {
        float w = k == 0 ? 0.2024f : k == 1 ? 0.6f : 1e-4f;
        cr_assert_eq(mg_op_ema_lerp(pair.vk, ev, pv, w), MG_OK);
        cr_assert_eq(mg_op_ema_lerp(pair.ref, er, pr, w), MG_OK);
    }
    mg_tensor_read_f32(ev, rv, n);
    mg_tensor_read_f32(er, rr, n);
    test_compare("ema_lerp", rv, rr, n, 1e-12);
    mg_tensor_free(ev), mg_tensor_free(pv), mg_tensor_free(er), mg_tensor_free(pr);
    free(e), free(p), free(rv), free(rr);
    test_close_pair(pair);
}

Test(train_optim, ema_update_copies_then_lerps)
{
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.ref, pair.vk};
    for (int c = 0; c < 2; c++) {
        mg_context *ctx = ctxs[c];
        mg_ema_config config = mg_ema_default_config();
        config.update_after_step = 2;
        config.update_every = 1;
        int64_t s3[1] = {3};
        const float zero[3] = {0}, w[3] = {1.0f, -2.0f, 4.0f};
        mg_tensor *ema = test_tensor(ctx, MG_DTYPE_F32, 1, s3, zero);
        mg_tensor *param = test_tensor(ctx, MG_DTYPE_F32, 1, s3, w);
        mg_ema_state state = {0, false};
        mg_ema_action action;
        /* Updates 0..2 copy, update 3 initializes (copy). */
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(mg_train_ema_update(ctx, &config, &state, &ema, (const mg_tensor *const *)&param, 1,
                                             &action), MG_OK);
            cr_assert_eq(action, MG_EMA_COPY);
        }
        float r[3];
        mg_tensor_read_f32(ema, r, 3);
        cr_assert(r[0] == 1.0f && r[1] == -2.0f && r[2] == 4.0f);
        /* Update 4: decay = 1 - (1 + (5 - 2 - 1))^(-2/3) = 1 - 3^(-2/3); weights moved to zero. */
        mg_tensor_fill_u32(param, 0);
        cr_assert_eq(mg_train_ema_update(ctx, &config, &state, &ema, (const mg_tensor *const *)&param, 1,
                                         &action), MG_OK);
        cr_assert_eq(action, MG_EMA_LERP);
        mg_tensor_read_f32(ema, r, 3);
        double decay = 1.0 - pow(3.0, -2.0 / 3.0);
        const double want[3] = {1.0 * decay, -2.0 * decay, 4.0 * decay};
        test_assert_close(r, want, 3, 1e-6);
        mg_tensor_free(ema);
        mg_tensor_free(param);
    }
    test_close_pair(pair);
}
