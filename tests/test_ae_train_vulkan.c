/*
 * Autoencoder training on Vulkan (lavapipe in CI) under the validation layer:
 * the LFQ loss and backward shaders against the CPU reference, the whole
 * trainable's losses and gradients against the CPU backend from the same
 * weights, and a small autoencoder overfitting three meshes.
 */
#include "test_ae_train_common.h"

#include <criterion/criterion.h>
#include <stdio.h>

/* ---- the LFQ ops ---- */

typedef struct lfq_case {
    size_t n, d;
    int levels;
    float soft_clamp;
    bool mask, d_values;
    float aux_scale;
} lfq_case;

static void run_lfq(mg_context *ctx, const lfq_case *c, const float *x, const int32_t *mask, const float *dv,
                    float *losses, float *avg, float *d_x)
{
    mg_lfq_loss_params p = mg_lfq_loss_default_params();
    p.levels = c->levels;
    p.soft_clamp = c->soft_clamp;
    int64_t xs[2] = {(int64_t)c->n, (int64_t)c->d}, ms[1] = {(int64_t)c->n};
    int64_t ls[2] = {c->levels, MG_LFQ_LOSS_COLUMNS}, as[2] = {c->levels, (int64_t)1 << c->d};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, xs, x, 3);
    mg_tensor *tm = c->mask ? test_offset_ids(ctx, 1, ms, mask, 1) : NULL;
    mg_tensor *tdv = c->d_values ? test_offset_input(ctx, MG_DTYPE_F32, 2, xs, dv, 2) : NULL;
    test_guarded tl = test_guarded_output(ctx, MG_DTYPE_F32, 2, ls);
    test_guarded ta = test_guarded_output(ctx, MG_DTYPE_F32, 2, as);
    test_guarded tdx = test_guarded_output(ctx, MG_DTYPE_F32, 2, xs);
    cr_assert_eq(mg_op_lfq_loss(ctx, tx, tm, &p, tl.view, ta.view), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_op_lfq_backward(ctx, tx, tm, &p, tdv, c->aux_scale, tdx.view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float *l = test_guarded_take(&tl, "lfq losses"), *a = test_guarded_take(&ta, "lfq avg");
    float *g = test_guarded_take(&tdx, "lfq d_x");
    memcpy(losses, l, (size_t)c->levels * MG_LFQ_LOSS_COLUMNS * sizeof *l);
    memcpy(avg, a, ((size_t)c->levels << c->d) * sizeof *a);
    memcpy(d_x, g, c->n * c->d * sizeof *g);
    free(l), free(a), free(g);
    mg_tensor_free(tx), mg_tensor_free(tm), mg_tensor_free(tdv);
}

Test(ae_train_vulkan, lfq_loss_and_backward_match_reference, .timeout = 300)
{
    static const lfq_case cases[] = {
        {1, 1, 1, 10.0f, false, true, 1.0f},   {7, 4, 2, 10.0f, true, true, 0.1f},
        {70, 8, 2, 10.0f, true, true, 0.1f},   {130, 11, 3, 0.0f, false, false, 1.0f},
        {33, 14, 2, 10.0f, true, true, 0.1f},  {5, 3, 16, 10.0f, true, false, 2.0f},
        {9, 5, 2, 10.0f, true, true, 0.0f},
    };
    test_pair pair = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const lfq_case *c = &cases[ci];
        float *x = malloc(c->n * c->d * sizeof *x), *dv = malloc(c->n * c->d * sizeof *dv);
        int32_t *mask = malloc(c->n * sizeof *mask);
        test_fill_uniform(x, c->n * c->d, 100 + (uint32_t)ci, -1.5f, 1.5f);
        test_fill_uniform(dv, c->n * c->d, 200 + (uint32_t)ci, -1.0f, 1.0f);
        for (size_t i = 0; i < c->n; i++)
            mask[i] = c->n == 1 || i % 5 != 2;
        size_t nl = (size_t)c->levels * MG_LFQ_LOSS_COLUMNS, na = (size_t)c->levels << c->d, nx = c->n * c->d;
        float *l_vk = malloc(nl * 4), *l_ref = malloc(nl * 4), *a_vk = malloc(na * 4), *a_ref = malloc(na * 4);
        float *g_vk = malloc(nx * 4), *g_ref = malloc(nx * 4);
        run_lfq(pair.vk, c, x, mask, dv, l_vk, a_vk, g_vk);
        run_lfq(pair.ref, c, x, mask, dv, l_ref, a_ref, g_ref);
        char what[64];
        snprintf(what, sizeof what, "case %zu losses", ci);
        test_compare(what, l_vk, l_ref, nl, 1e-9);
        snprintf(what, sizeof what, "case %zu avg", ci);
        test_compare(what, a_vk, a_ref, na, 1e-9);
        snprintf(what, sizeof what, "case %zu d_x", ci);
        test_compare(what, g_vk, g_ref, nx, 1e-7);
        free(x), free(dv), free(mask), free(l_vk), free(l_ref), free(a_vk), free(a_ref), free(g_vk), free(g_ref);
    }
    test_close_pair(pair);
}

/* ---- the whole trainable ---- */

/* Copies every parameter value of `from` into `to` (two backends, the same architecture). */
static void copy_values(mg_trainable *to, mg_trainable *from)
{
    cr_assert_eq(to->count, from->count);
    for (size_t i = 0; i < from->count; i++) {
        float *v = test_read(from->params[i].value);
        cr_assert_eq(mg_tensor_write_f32(to->params[i].value, v, from->params[i].value->count), MG_OK);
        free(v);
    }
}

Test(ae_train_vulkan, losses_and_gradients_match_cpu, .timeout = 300)
{
    test_pair pair = test_open_pair();
    mg_model_config config;
    tiny_config(&config, 16);
    mg_trainable *vk = fresh_trainable(pair.vk, &config, 9), *ref = fresh_trainable(pair.ref, &config, 9);
    mg_mesh meshes[3] = {test_cube(), test_pyramid(), test_tetra()};
    mg_train_batch batch_vk, batch_ref;
    test_batch(pair.vk, meshes, 3, &batch_vk);
    test_batch(pair.ref, meshes, 3, &batch_ref);
    /* train the CPU copy a few steps so the weights are not the fresh ones, then compare from there */
    for (int step = 1; step <= 3; step++) {
        zero_grads(ref);
        run_step(ref, &batch_ref, true, 1.0f);
        adam_all(ref, 1e-2, (uint64_t)step);
    }
    copy_values(vk, ref);
    zero_grads(vk);
    zero_grads(ref);
    mg_train_losses l_vk = run_step(vk, &batch_vk, true, 0.7f), l_ref = run_step(ref, &batch_ref, true, 0.7f);
    cr_log_info("losses: Vulkan %.7f + %.7f, CPU %.7f + %.7f", l_vk.values[0], l_vk.values[1], l_ref.values[0],
                l_ref.values[1]);
    cr_expect_leq(fabs(l_vk.values[0] - l_ref.values[0]), 1e-5 * fabs(l_ref.values[0]));
    cr_expect_leq(fabs(l_vk.values[1] - l_ref.values[1]), 1e-5 * fabs(l_ref.values[1]) + 1e-7);
    double worst = 0.0;
    for (size_t i = 0; i < ref->count; i++) {
        float *g_vk = test_read(vk->grads[i]), *g_ref = test_read(ref->grads[i]);
        double nmse = test_nmse(g_vk, g_ref, ref->grads[i]->count);
        worst = nmse > worst ? nmse : worst;
        test_compare(ref->params[i].name, g_vk, g_ref, ref->grads[i]->count, 1e-6);
        free(g_vk);
        free(g_ref);
    }
    cr_log_info("worst gradient normalized MSE %.3g over %zu parameters", worst, ref->count);
    test_batch_free(&batch_vk);
    test_batch_free(&batch_ref);
    trainable_free(vk);
    trainable_free(ref);
    test_close_pair(pair);
}

/* The overfit test on lavapipe: the reconstruction loss falls well below its start, and the saved
 * model's tokenize + decode gives back most faces exactly. */
Test(ae_train_vulkan, overfits_a_few_meshes, .timeout = 600)
{
    mg_context *ctx = test_vulkan_context();
    double first = 0.0, last = 0.0, recovered = 0.0;
    overfit_and_check(ctx, 200, 4e-3, &first, &last, &recovered);
    cr_log_info("recon %.4f -> %.4f, %.0f%% of the faces recovered exactly", first, last, 100.0 * recovered);
    cr_expect_lt(last, 0.25 * first, "recon %.4f -> %.4f", first, last);
    cr_expect_geq(recovered, 0.8, "%.0f%% of the faces recovered", 100.0 * recovered);
    test_close(ctx);
}
