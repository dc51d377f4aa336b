/*
 * The autoencoder's backward ops and losses on Vulkan against the CPU
 * reference, under the validation layer. Inputs are views at unaligned
 * offsets; activation-gradient outputs sit between guard words. Bound:
 * normalized MSE <= 1e-7 (f32), 1e-5 for f16 weights against the f32
 * reference. Parameter gradients start from non-zero values (they accumulate).
 */
#include "ops/ops_grad_ae.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_F32 1e-7

static float *fresh(size_t count, uint32_t seed, float lo, float hi)
{
    float *v = malloc(count * sizeof *v);
    test_fill_uniform(v, count, seed, lo, hi);
    return v;
}

/* ------------------------------------------------------------------------ */

typedef struct conv_case {
    int64_t batch, n, ci, co, k;
    bool mask;
} conv_case;

typedef struct conv_result {
    float *d_x, *d_w, *d_b;
} conv_result;

static conv_result run_conv(mg_context *ctx, const conv_case *c, mg_dtype wt, const float *x, const float *w,
                            const int32_t *mask, const float *dy, const float *dw0, const float *db0, int repeat)
{
    int64_t xs[3] = {c->batch, c->n, c->ci}, ys[3] = {c->batch, c->n, c->co}, ms[2] = {c->batch, c->n};
    int64_t ws[3] = {c->co, c->ci, c->k}, bs[1] = {c->co};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 3, xs, x, 3);
    mg_tensor *tw = test_offset_input(ctx, wt, 3, ws, w, 1);
    mg_tensor *ty = test_offset_input(ctx, MG_DTYPE_F32, 3, ys, dy, 5);
    mg_tensor *tm = mask ? test_offset_ids(ctx, 2, ms, mask, 1) : NULL;
    test_guarded dx = test_guarded_output(ctx, MG_DTYPE_F32, 3, xs);
    mg_tensor *tdw = test_tensor(ctx, MG_DTYPE_F32, 3, ws, dw0);
    mg_tensor *tdb = test_tensor(ctx, MG_DTYPE_F32, 1, bs, db0);
    for (int i = 0; i < repeat; i++)
        cr_assert_eq(mg_op_conv1d_backward(ctx, tx, tw, tm, ty, dx.view, tdw, tdb), MG_OK, "%s",
                     mg_context_last_error(ctx));
    conv_result r = {test_guarded_take(&dx, "conv1d d_x"), test_read(tdw), test_read(tdb)};
    mg_tensor_free(tx), mg_tensor_free(tw), mg_tensor_free(ty), mg_tensor_free(tm), mg_tensor_free(tdw),
        mg_tensor_free(tdb);
    return r;
}

Test(grad_ae_vulkan, conv1d_backward_matches_reference)
{
    static const conv_case cases[] = {
        {1, 1, 1, 1, 1, false}, {2, 17, 5, 7, 3, true},   {1, 70, 33, 65, 7, true},
        {3, 45, 128, 24, 3, true}, {2, 130, 64, 130, 1, false}, {1, 9, 3, 5, 9, true},
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        size_t nx = (size_t)(c->batch * c->n * c->ci), ny = (size_t)(c->batch * c->n * c->co);
        size_t nw = (size_t)(c->co * c->ci * c->k);
        float *x = fresh(nx, 1 + (uint32_t)ci, -1, 1), *w = fresh(nw, 2 + (uint32_t)ci, -1, 1);
        float *dy = fresh(ny, 3 + (uint32_t)ci, -1, 1), *dw0 = fresh(nw, 4, -1, 1), *db0 = fresh((size_t)c->co, 5, -1, 1);
        int32_t *mask = malloc((size_t)(c->batch * c->n) * 4);
        for (int64_t r = 0; r < c->batch * c->n; r++)
            mask[r] = (r * 7) % 5 != 3;
        for (int f16 = 0; f16 < 2; f16++) {
            mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
            char what[128];
            snprintf(what, sizeof what, "conv1d_backward %lldx%lldx%lld -> %lld k%lld%s %s", (long long)c->batch,
                     (long long)c->n, (long long)c->ci, (long long)c->co, (long long)c->k, c->mask ? " mask" : "",
                     f16 ? "f16" : "f32");
            const int32_t *m = c->mask ? mask : NULL;
            conv_result got = run_conv(ctx.vk, c, wt, x, w, m, dy, dw0, db0, 1);
            conv_result want = run_conv(ctx.ref, c, wt, x, w, m, dy, dw0, db0, 1);
            test_compare(what, got.d_x, want.d_x, nx, NMSE_F32);
            test_compare(what, got.d_w, want.d_w, nw, NMSE_F32);
            test_compare(what, got.d_b, want.d_b, (size_t)c->co, NMSE_F32);
            for (int64_t r = 0; r < c->batch * c->n && m; r++)
                for (int64_t i = 0; i < c->ci && !m[r]; i++)
                    cr_assert_eq(got.d_x[r * c->ci + i], 0.0f, "%s: masked row %lld has a gradient", what,
                                 (long long)r);
            free(got.d_x), free(got.d_w), free(got.d_b), free(want.d_x), free(want.d_w), free(want.d_b);
        }
        free(x), free(w), free(dy), free(dw0), free(db0), free(mask);
    }
    test_close_pair(ctx);
}

Test(grad_ae_vulkan, conv1d_backward_accumulates_and_skips_null_outputs)
{
    const conv_case c = {2, 33, 8, 12, 3, true};
    size_t nx = 2 * 33 * 8, ny = 2 * 33 * 12, nw = 12 * 8 * 3;
    float *x = fresh(nx, 1, -1, 1), *w = fresh(nw, 2, -1, 1), *dy = fresh(ny, 3, -1, 1);
    float *zero_w = calloc(nw, 4), *zero_b = calloc(12, 4);
    int32_t mask[66];
    for (int r = 0; r < 66; r++)
        mask[r] = r % 4 != 0;
    mg_context *vk = test_vulkan_context();
    conv_result once = run_conv(vk, &c, MG_DTYPE_F32, x, w, mask, dy, zero_w, zero_b, 1);
    conv_result twice = run_conv(vk, &c, MG_DTYPE_F32, x, w, mask, dy, zero_w, zero_b, 2);
    for (size_t i = 0; i < nw; i++)
        cr_assert_float_eq(twice.d_w[i], 2.0f * once.d_w[i], 1e-5f, "d_weight[%zu] accumulates", i);
    for (size_t i = 0; i < 12; i++)
        cr_assert_float_eq(twice.d_b[i], 2.0f * once.d_b[i], 1e-5f, "d_bias[%zu] accumulates", i);
    /* only d_weight: d_bias and d_x untouched */
    int64_t xs[3] = {2, 33, 8}, ys[3] = {2, 33, 12}, ws[3] = {12, 8, 3}, ms[2] = {2, 33}, bs[1] = {12};
    mg_tensor *tx = test_tensor(vk, MG_DTYPE_F32, 3, xs, x), *tw = test_tensor(vk, MG_DTYPE_F32, 3, ws, w);
    mg_tensor *ty = test_tensor(vk, MG_DTYPE_F32, 3, ys, dy), *tm = test_tensor_i32(vk, 2, ms, mask);
    mg_tensor *tdw = test_tensor(vk, MG_DTYPE_F32, 3, ws, zero_w), *tdb = test_tensor(vk, MG_DTYPE_F32, 1, bs, zero_b);
    cr_assert_eq(mg_op_conv1d_backward(vk, tx, tw, tm, ty, NULL, tdw, NULL), MG_OK);
    float *dw = test_read(tdw), *db = test_read(tdb);
    test_compare("d_weight alone", dw, once.d_w, nw, NMSE_F32);
    for (size_t i = 0; i < 12; i++)
        cr_assert_eq(db[i], 0.0f, "NULL d_bias is skipped, the tensor left alone");
    /* d_out of the wrong shape is refused */
    cr_assert_eq(mg_op_conv1d_backward(vk, tx, tw, tm, tx, NULL, tdw, NULL), MG_ERR_INVALID_ARGUMENT);
    free(dw), free(db);
    mg_tensor_free(tx), mg_tensor_free(tw), mg_tensor_free(ty), mg_tensor_free(tm), mg_tensor_free(tdw),
        mg_tensor_free(tdb);
    free(once.d_x), free(once.d_w), free(once.d_b), free(twice.d_x), free(twice.d_w), free(twice.d_b);
    free(x), free(w), free(dy), free(zero_w), free(zero_b);
    test_close(vk);
}

/* ------------------------------------------------------------------------ */

static float *run_masked_mean(mg_context *ctx, int64_t b, int64_t n, int64_t c, const int32_t *mask, float eps,
                              const float *dy)
{
    int64_t xs[3] = {b, n, c}, ys[2] = {b, c}, ms[2] = {b, n};
    mg_tensor *ty = test_offset_input(ctx, MG_DTYPE_F32, 2, ys, dy, 3);
    mg_tensor *tm = mask ? test_offset_ids(ctx, 2, ms, mask, 1) : NULL;
    test_guarded dx = test_guarded_output(ctx, MG_DTYPE_F32, 3, xs);
    cr_assert_eq(mg_op_masked_mean_backward(ctx, tm, eps, ty, dx.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *r = test_guarded_take(&dx, "masked_mean_backward");
    mg_tensor_free(ty), mg_tensor_free(tm);
    return r;
}

static void run_scale_channels(mg_context *ctx, int64_t b, int64_t n, int64_t c, const float *x, const float *gate,
                               const float *dy, float **d_x, float **d_gate)
{
    int64_t xs[3] = {b, n, c}, gs[2] = {b, c};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 3, xs, x, 1);
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 2, gs, gate, 2);
    mg_tensor *ty = test_offset_input(ctx, MG_DTYPE_F32, 3, xs, dy, 3);
    test_guarded dx = test_guarded_output(ctx, MG_DTYPE_F32, 3, xs);
    test_guarded dg = test_guarded_output(ctx, MG_DTYPE_F32, 2, gs);
    cr_assert_eq(mg_op_scale_channels_backward(ctx, tx, tg, ty, dx.view, dg.view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    *d_x = test_guarded_take(&dx, "scale_channels d_x");
    *d_gate = test_guarded_take(&dg, "scale_channels d_gate");
    mg_tensor_free(tx), mg_tensor_free(tg), mg_tensor_free(ty);
}

Test(grad_ae_vulkan, masked_mean_scale_channels_mask_rows_backward_match_reference)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {2, 300, 129}, {4, 64, 384}, {1, 2000, 33}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t b = shapes[si][0], n = shapes[si][1], c = shapes[si][2];
        size_t nx = (size_t)(b * n * c), ng = (size_t)(b * c);
        float *x = fresh(nx, 1, -2, 2), *gate = fresh(ng, 2, -1, 1), *dy = fresh(nx, 3, -1, 1);
        int32_t *mask = malloc((size_t)(b * n) * 4);
        for (int64_t r = 0; r < b * n; r++)
            mask[r] = r < n && b > 1 ? 0 : (int32_t)((r * 5) % 7 % 3); /* batch 0 all pad when b > 1 */
        char what[96];
        snprintf(what, sizeof what, "[%lld, %lld, %lld]", (long long)b, (long long)n, (long long)c);
        for (int with_mask = 0; with_mask < 2; with_mask++) {
            float *got = run_masked_mean(ctx.vk, b, n, c, with_mask ? mask : NULL, 1e-5f, dy);
            float *want = run_masked_mean(ctx.ref, b, n, c, with_mask ? mask : NULL, 1e-5f, dy);
            test_compare(what, got, want, nx, NMSE_F32);
            free(got), free(want);
        }
        float *gx, *gg, *wx, *wg;
        run_scale_channels(ctx.vk, b, n, c, x, gate, dy, &gx, &gg);
        run_scale_channels(ctx.ref, b, n, c, x, gate, dy, &wx, &wg);
        test_compare(what, gx, wx, nx, NMSE_F32);
        test_compare(what, gg, wg, ng, NMSE_F32);
        free(gx), free(gg), free(wx), free(wg);
        /* mask_rows backward, in place on Vulkan against the reference */
        int64_t xs[3] = {b, n, c}, ms[2] = {b, n};
        mg_tensor *vd = test_tensor(ctx.vk, MG_DTYPE_F32, 3, xs, dy), *vm = test_tensor_i32(ctx.vk, 2, ms, mask);
        cr_assert_eq(mg_op_mask_rows_backward(ctx.vk, vm, vd, vd), MG_OK);
        float *masked = test_read(vd);
        for (size_t e = 0; e < nx; e++)
            cr_assert_eq(masked[e], mask[e / (size_t)c] ? dy[e] : 0.0f, "mask_rows_backward %s at %zu", what, e);
        free(masked);
        mg_tensor_free(vd), mg_tensor_free(vm);
        free(x), free(gate), free(dy), free(mask);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_copy_back(mg_context *ctx, int64_t rows, int64_t w, int64_t width, size_t offset, const float *dd)
{
    int64_t ds[2] = {rows, width}, ss[2] = {rows, w};
    mg_tensor *td = test_offset_input(ctx, MG_DTYPE_F32, 2, ds, dd, 3);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, 2, ss);
    cr_assert_eq(mg_op_copy_columns_backward(ctx, td, offset, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *r = test_guarded_take(&out, "copy_columns_backward");
    mg_tensor_free(td);
    return r;
}

Test(grad_ae_vulkan, copy_columns_backward_slices_exactly)
{
    test_pair ctx = test_open_pair();
    static const int64_t cases[][4] = {{1, 1, 1, 0}, {7, 3, 10, 7}, {300, 192, 576, 192}, {5, 13, 40, 1}};
    for (size_t i = 0; i < 4; i++) {
        int64_t rows = cases[i][0], w = cases[i][1], width = cases[i][2];
        float *dd = fresh((size_t)(rows * width), (uint32_t)i, -1, 1);
        float *got = run_copy_back(ctx.vk, rows, w, width, (size_t)cases[i][3], dd);
        float *want = run_copy_back(ctx.ref, rows, w, width, (size_t)cases[i][3], dd);
        cr_assert_arr_eq(got, want, (size_t)(rows * w) * 4, "copy_columns_backward case %zu", i);
        free(dd), free(got), free(want);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_gather_back(mg_context *ctx, const int32_t *offsets, int64_t m, const int32_t *t_offsets,
                              const int32_t *t_sources, int64_t rows, int64_t nnz, int64_t d, const float *dy)
{
    int64_t os[1] = {m + 1}, ts[1] = {rows + 1}, ss[1] = {nnz}, ys[2] = {m, d}, xs[2] = {rows, d};
    mg_tensor *to = test_offset_ids(ctx, 1, os, offsets, 1), *tt = test_offset_ids(ctx, 1, ts, t_offsets, 2);
    mg_tensor *tsrc = test_offset_ids(ctx, 1, ss, t_sources, 3), *ty = test_offset_input(ctx, MG_DTYPE_F32, 2, ys, dy, 1);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, 2, xs);
    cr_assert_eq(mg_op_gather_mean_backward(ctx, to, tt, tsrc, ty, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *r = test_guarded_take(&out, "gather_mean_backward");
    mg_tensor_free(to), mg_tensor_free(tt), mg_tensor_free(tsrc), mg_tensor_free(ty);
    return r;
}

Test(grad_ae_vulkan, gather_mean_backward_matches_reference)
{
    test_pair ctx = test_open_pair();
    static const int64_t cases[][3] = {{1, 1, 1}, {50, 40, 7}, {1000, 600, 64}, {300, 900, 192}};
    for (size_t ci = 0; ci < 4; ci++) {
        int64_t m = cases[ci][0], rows = cases[ci][1], d = cases[ci][2];
        int32_t *offsets = malloc((size_t)(m + 1) * 4);
        int64_t nnz = 0;
        offsets[0] = 0;
        for (int64_t i = 0; i < m; i++) { /* 0..5 sources per output, some empty */
            nnz += (i * 13) % 6;
            offsets[i + 1] = (int32_t)nnz;
        }
        int32_t *indices = malloc((size_t)(nnz ? nnz : 1) * 4);
        for (int64_t p = 0; p < nnz; p++)
            indices[p] = (int32_t)((p * 7919) % rows);
        int32_t *t_offsets = malloc((size_t)(rows + 1) * 4), *t_sources = malloc((size_t)(nnz ? nnz : 1) * 4);
        cr_assert_eq(mg_gather_mean_transpose(ctx.ref, offsets, (size_t)m, indices, (size_t)rows, t_offsets, t_sources),
                     MG_OK);
        int64_t entries = nnz ? nnz : 1;
        if (!nnz)
            t_sources[0] = 0;
        float *dy = fresh((size_t)(m * d), (uint32_t)ci, -1, 1);
        float *got = run_gather_back(ctx.vk, offsets, m, t_offsets, t_sources, rows, entries, d, dy);
        float *want = run_gather_back(ctx.ref, offsets, m, t_offsets, t_sources, rows, entries, d, dy);
        char what[64];
        snprintf(what, sizeof what, "gather_mean_backward M %lld R %lld D %lld", (long long)m, (long long)rows,
                 (long long)d);
        test_compare(what, got, want, (size_t)(rows * d), NMSE_F32);
        free(offsets), free(indices), free(t_offsets), free(t_sources), free(dy), free(got), free(want);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_recon(mg_context *ctx, bool backward, int64_t rows, int64_t bins, const float *logits,
                        const int32_t *targets, float sigma, float scale)
{
    int64_t ls[2] = {rows, bins}, ts[1] = {rows};
    mg_tensor *tl = test_offset_input(ctx, MG_DTYPE_F32, 2, ls, logits, 3);
    mg_tensor *tt = test_offset_ids(ctx, 1, ts, targets, 1);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, backward ? 2 : 1, backward ? ls : ts);
    mg_status status = backward ? mg_op_recon_loss_backward(ctx, tl, tt, sigma, scale, out.view)
                                : mg_op_recon_loss(ctx, tl, tt, sigma, out.view);
    cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
    float *r = test_guarded_take(&out, "recon_loss");
    mg_tensor_free(tl), mg_tensor_free(tt);
    return r;
}

Test(grad_ae_vulkan, recon_loss_forward_and_backward_match_reference)
{
    test_pair ctx = test_open_pair();
    static const int64_t cases[][2] = {{1, 1}, {9, 128}, {2000, 128}, {37, 7}};
    const float sigmas[] = {0.4f, 0.0f, 2.0f};
    for (size_t ci = 0; ci < 4; ci++) {
        int64_t rows = cases[ci][0], bins = cases[ci][1];
        float *logits = fresh((size_t)(rows * bins), (uint32_t)ci, -8, 8);
        int32_t *targets = malloc((size_t)rows * 4);
        for (int64_t r = 0; r < rows; r++)
            targets[r] = r % 11 == 4 ? -1 : (int32_t)((r * 31) % bins); /* pads, and targets at both ends */
        for (size_t s = 0; s < 3; s++) {
            char what[64];
            snprintf(what, sizeof what, "recon_loss [%lld, %lld] sigma %.1f", (long long)rows, (long long)bins,
                     (double)sigmas[s]);
            float *got = run_recon(ctx.vk, false, rows, bins, logits, targets, sigmas[s], 0);
            float *want = run_recon(ctx.ref, false, rows, bins, logits, targets, sigmas[s], 0);
            test_compare(what, got, want, (size_t)rows, NMSE_F32);
            free(got), free(want);
            got = run_recon(ctx.vk, true, rows, bins, logits, targets, sigmas[s], 0.25f);
            want = run_recon(ctx.ref, true, rows, bins, logits, targets, sigmas[s], 0.25f);
            test_compare(what, got, want, (size_t)(rows * bins), NMSE_F32);
            free(got), free(want);
        }
        free(logits), free(targets);
    }
    test_close_pair(ctx);
}
