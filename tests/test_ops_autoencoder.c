/*
 * The autoencoder ops on Vulkan against the CPU reference, under the
 * validation layer, in the style of test_ops_vulkan.c: inputs are views at odd
 * element offsets, outputs views inside a larger tensor whose guard words must
 * survive, bindings widened (MESHGPT_BINDING_SLACK) so that an overflowing
 * shader hits the guards instead of being silently clipped by lavapipe.
 *
 * Bounds: normalized MSE 1e-7 for f32 results (f16 weights are compared with
 * the reference on the same f16 weights, and with the f32 weights at 1e-5);
 * integer results and pure copies exactly.
 */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_F32 1e-7
#define NMSE_F16_VS_F32 1e-5

/* A mask with zeros: every 5th row, and a whole run when the sequence is long enough. */
static int32_t *make_mask(size_t rows, uint32_t seed)
{
    int32_t *mask = malloc(rows * 4);
    for (size_t i = 0; i < rows; i++)
        mask[i] = ((i + seed) % 5 == 2 || (i >= 11 && i < 17)) ? 0 : (int32_t)(1 + i % 3);
    return mask;
}

/* ------------------------------------------------------------------------ */

typedef struct conv_case {
    int64_t batch, n, ci, co, kernel;
    bool three_d, mask, bias;
} conv_case;

static float *run_conv(mg_context *ctx, const conv_case *c, const float *x, const float *w, const float *bias,
                       const int32_t *mask, mg_dtype wt, const char *what)
{
    int64_t x_shape[3] = {c->batch, c->n, c->ci}, out_shape[3] = {c->batch, c->n, c->co};
    int64_t w_shape[3] = {c->co, c->ci, c->kernel}, b_shape[1] = {c->co};
    int nd = c->three_d ? 3 : 2;
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, nd, c->three_d ? x_shape : x_shape + 1, x, 5);
    mg_tensor *tw = test_offset_input(ctx, wt, 3, w_shape, w, 3);
    mg_tensor *tb = c->bias ? test_offset_input(ctx, wt, 1, b_shape, bias, 1) : NULL;
    mg_tensor *tm = c->mask ? test_offset_ids(ctx, nd - 1, c->three_d ? x_shape : x_shape + 1, mask, 3) : NULL;
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, nd, c->three_d ? out_shape : out_shape + 1);
    cr_assert_eq(mg_op_conv1d(ctx, tx, tw, tb, tm, out.view), MG_OK, "%s: %s", what, mg_context_last_error(ctx));
    float *result = test_guarded_take(&out, what);
    mg_tensor_free(tx);
    mg_tensor_free(tw);
    mg_tensor_free(tb);
    mg_tensor_free(tm);
    return result;
}

Test(ops_autoencoder, conv1d_odd_shapes_kernels_masks_f16)
{
    static const conv_case cases[] = {
        {1, 1, 1, 1, 1, false, false, true},   {1, 5, 3, 2, 3, true, true, true},
        {3, 37, 13, 70, 3, true, true, false}, {1, 100, 67, 33, 7, false, true, true},
        {3, 65, 129, 130, 1, true, false, true}, {1, 90, 576, 128, 7, true, true, true},
        {2, 130, 192, 256, 3, true, true, true}, {3, 4, 5, 6, 7, true, true, true}, /* N < K */
        {1, 40, 3, 5, 33, false, false, true}, /* K > 32: one input channel per step */
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const conv_case *c = &cases[ci];
        size_t x_count = (size_t)(c->batch * c->n * c->ci), w_count = (size_t)(c->co * c->ci * c->kernel);
        size_t out_count = (size_t)(c->batch * c->n * c->co);
        float *x = malloc(x_count * 4), *w = malloc(w_count * 4), *bias = malloc((size_t)c->co * 4);
        test_fill_uniform(x, x_count, (uint32_t)ci * 3 + 1, -1, 1);
        test_fill_uniform(w, w_count, (uint32_t)ci * 3 + 2, -0.5f, 0.5f);
        test_fill_uniform(bias, (size_t)c->co, (uint32_t)ci * 3 + 3, -1, 1);
        int32_t *mask = make_mask((size_t)(c->batch * c->n), (uint32_t)ci);
        for (int f16 = 0; f16 < 2; f16++) {
            mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
            char what[128];
            snprintf(what, sizeof what, "conv1d B=%lld N=%lld %lld->%lld K=%lld%s%s %s", (long long)c->batch,
                     (long long)c->n, (long long)c->ci, (long long)c->co, (long long)c->kernel,
                     c->mask ? " mask" : "", c->bias ? " bias" : "", f16 ? "f16" : "f32");
            float *got = run_conv(ctx.vk, c, x, w, bias, mask, wt, what);
            float *want = run_conv(ctx.ref, c, x, w, bias, mask, wt, what);
            test_compare(what, got, want, out_count, NMSE_F32);
            if (f16) {
                float *exact = run_conv(ctx.ref, c, x, w, bias, mask, MG_DTYPE_F32, what);
                test_compare(what, got, exact, out_count, NMSE_F16_VS_F32);
                free(exact);
            }
            if (c->mask) {
                /* masked rows of x must not matter: scramble them and expect the same result */
                float *scrambled = malloc(x_count * 4);
                memcpy(scrambled, x, x_count * 4);
                for (size_t r = 0; r < (size_t)(c->batch * c->n); r++)
                    if (mask[r] == 0)
                        for (size_t i = 0; i < (size_t)c->ci; i++)
                            scrambled[r * (size_t)c->ci + i] = 1e6f;
                float *again = run_conv(ctx.vk, c, scrambled, w, bias, mask, wt, what);
                cr_assert_arr_eq(again, got, out_count * 4, "%s: masked rows leak into the result", what);
                free(again);
                free(scrambled);
            }
            free(got);
            free(want);
        }
        free(x);
        free(w);
        free(bias);
        free(mask);
    }
    test_close_pair(ctx);
}

Test(ops_autoencoder, conv1d_refuses_bad_arguments)
{
    mg_context *ctx = test_cpu_context();
    int64_t x_shape[3] = {1, 4, 3}, w_even[3] = {2, 3, 2}, w_ok[3] = {2, 3, 3}, out_shape[3] = {1, 4, 2};
    mg_tensor *x = test_empty(ctx, MG_DTYPE_F32, 3, x_shape), *we = test_empty(ctx, MG_DTYPE_F32, 3, w_even);
    mg_tensor *w = test_empty(ctx, MG_DTYPE_F32, 3, w_ok), *out = test_empty(ctx, MG_DTYPE_F32, 3, out_shape);
    cr_assert_eq(mg_op_conv1d(ctx, x, we, NULL, NULL, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "odd K") != NULL, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_op_conv1d(ctx, x, w, NULL, NULL, x), MG_ERR_INVALID_ARGUMENT); /* wrong shape */
    mg_tensor *view = NULL;
    int64_t alias_shape[3] = {1, 4, 2};
    cr_assert_eq(mg_tensor_view(x, 0, MG_DTYPE_F32, 3, alias_shape, &view), MG_OK);
    cr_assert_eq(mg_op_conv1d(ctx, x, w, NULL, NULL, view), MG_ERR_INVALID_ARGUMENT); /* in place */
    cr_assert_eq(mg_op_conv1d(ctx, x, w, NULL, NULL, out), MG_OK);
    mg_tensor_free(view);
    mg_tensor_free(x);
    mg_tensor_free(we);
    mg_tensor_free(w);
    mg_tensor_free(out);
    mg_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_masked_mean(mg_context *ctx, const int64_t *shape, const float *x, const int32_t *mask)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 3, shape, x, 3);
    mg_tensor *tm = mask ? test_offset_ids(ctx, 2, shape, mask, 1) : NULL;
    int64_t out_shape[2] = {shape[0], shape[2]};
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, 2, out_shape);
    cr_assert_eq(mg_op_masked_mean(ctx, tx, tm, 1e-5f, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_guarded_take(&out, "masked_mean");
    mg_tensor_free(tx);
    mg_tensor_free(tm);
    return result;
}

Test(ops_autoencoder, masked_mean_with_and_without_mask)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 37, 70}, {2, 800, 384}, {1, 5, 200}, {3, 20, 33}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t *shape = shapes[si];
        size_t count = (size_t)(shape[0] * shape[1] * shape[2]), rows = (size_t)(shape[0] * shape[1]);
        float *x = malloc(count * 4);
        test_fill_uniform(x, count, (uint32_t)si + 80, -2, 3);
        int32_t *mask = make_mask(rows, (uint32_t)si);
        if (shape[0] == 3) /* batch 1 has no valid row at all */
            for (size_t t = 0; t < (size_t)shape[1]; t++)
                mask[(size_t)shape[1] + t] = 0;
        for (int with_mask = 0; with_mask < 2; with_mask++) {
            float *got = run_masked_mean(ctx.vk, shape, x, with_mask ? mask : NULL);
            float *want = run_masked_mean(ctx.ref, shape, x, with_mask ? mask : NULL);
            char what[96];
            snprintf(what, sizeof what, "masked_mean [%lld, %lld, %lld]%s", (long long)shape[0], (long long)shape[1],
                     (long long)shape[2], with_mask ? " masked" : "");
            test_compare(what, got, want, (size_t)(shape[0] * shape[2]), NMSE_F32);
            free(got);
            free(want);
        }
        free(x);
        free(mask);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_scale_rows(mg_context *ctx, bool gate_mode, const int64_t *shape, const float *x, const float *gate,
                             const int32_t *mask, bool in_place)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 3, shape, x, 1);
    int64_t gate_shape[2] = {shape[0], shape[2]};
    mg_tensor *tg = gate_mode ? test_offset_input(ctx, MG_DTYPE_F32, 2, gate_shape, gate, 2) : NULL;
    mg_tensor *tm = gate_mode ? NULL : test_offset_ids(ctx, 2, shape, mask, 3);
    test_guarded out = {NULL, NULL};
    mg_tensor *target = in_place ? tx : NULL;
    if (!in_place) {
        out = test_guarded_output(ctx, MG_DTYPE_F32, 3, shape);
        target = out.view;
    }
    mg_status st = gate_mode ? mg_op_scale_channels(ctx, tx, tg, target) : mg_op_mask_rows(ctx, tx, tm, target);
    cr_assert_eq(st, MG_OK, "%s", mg_context_last_error(ctx));
    float *result = in_place ? test_read(tx) : test_guarded_take(&out, gate_mode ? "scale_channels" : "mask_rows");
    mg_tensor_free(tx);
    mg_tensor_free(tg);
    mg_tensor_free(tm);
    return result;
}

Test(ops_autoencoder, scale_channels_and_mask_rows_exact_in_place_or_not)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 37, 70}, {2, 129, 384}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < 3; si++) {
        const int64_t *shape = shapes[si];
        size_t count = (size_t)(shape[0] * shape[1] * shape[2]);
        float *x = malloc(count * 4), *gate = malloc((size_t)(shape[0] * shape[2]) * 4);
        test_fill_uniform(x, count, (uint32_t)si + 90, -2, 2);
        test_fill_uniform(gate, (size_t)(shape[0] * shape[2]), (uint32_t)si + 91, 0, 1);
        int32_t *mask = make_mask((size_t)(shape[0] * shape[1]), (uint32_t)si);
        for (int mode = 0; mode < 2; mode++) {
            for (int in_place = 0; in_place < 2; in_place++) {
                float *got = run_scale_rows(ctx.vk, mode == 0, shape, x, gate, mask, in_place);
                float *want = run_scale_rows(ctx.ref, mode == 0, shape, x, gate, mask, in_place);
                cr_assert_arr_eq(got, want, count * 4, "%s [%lld, %lld, %lld]%s differs",
                                 mode == 0 ? "scale_channels" : "mask_rows", (long long)shape[0],
                                 (long long)shape[1], (long long)shape[2], in_place ? " in place" : "");
                free(got);
                free(want);
            }
        }
        free(x);
        free(gate);
        free(mask);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_gather_mean(mg_context *ctx, int64_t rows, int64_t d, const float *src, const int32_t *offsets,
                              int64_t m, const int32_t *indices, int64_t nnz)
{
    int64_t src_shape[2] = {rows, d}, off_shape[1] = {m + 1}, idx_shape[1] = {nnz}, out_shape[2] = {m, d};
    mg_tensor *ts = test_offset_input(ctx, MG_DTYPE_F32, 2, src_shape, src, 3);
    mg_tensor *to = test_offset_ids(ctx, 1, off_shape, offsets, 1);
    mg_tensor *ti = test_offset_ids(ctx, 1, idx_shape, indices, 2);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, 2, out_shape);
    mg_status st = mg_op_gather_mean(ctx, ts, to, ti, out.view);
    float *result = NULL;
    if (st == MG_OK)
        result = test_guarded_take(&out, "gather_mean");
    else {
        mg_tensor_free(out.view);
        mg_tensor_free(out.parent);
    }
    mg_tensor_free(ts);
    mg_tensor_free(to);
    mg_tensor_free(ti);
    return result;
}

Test(ops_autoencoder, gather_mean_csr_with_empty_rows)
{
    static const int64_t dims[] = {1, 33, 192, 576};
    test_pair ctx = test_open_pair();
    const int64_t m = 57, rows = 40;
    int32_t offsets[58];
    int32_t indices[57 * 7];
    int64_t nnz = 0;
    offsets[0] = 0;
    for (int64_t r = 0; r < m; r++) {
        int64_t len = (r * 5 + 3) % 7; /* 0..6, with empty rows */
        for (int64_t j = 0; j < len; j++)
            indices[nnz++] = (int32_t)((r * 13 + j * 7) % rows);
        offsets[r + 1] = (int32_t)nnz;
    }
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int64_t d = dims[di];
        float *src = malloc((size_t)(rows * d) * 4);
        test_fill_uniform(src, (size_t)(rows * d), (uint32_t)di + 100, -3, 3);
        float *got = run_gather_mean(ctx.vk, rows, d, src, offsets, m, indices, nnz);
        float *want = run_gather_mean(ctx.ref, rows, d, src, offsets, m, indices, nnz);
        char what[64];
        snprintf(what, sizeof what, "gather_mean D=%lld", (long long)d);
        test_compare(what, got, want, (size_t)(m * d), NMSE_F32);
        for (int64_t r = 0; r < m; r++)
            if (offsets[r + 1] == offsets[r])
                for (int64_t c = 0; c < d; c++)
                    cr_assert_eq(got[r * d + c], 0.0f, "%s: empty row %lld is not zero", what, (long long)r);
        free(got);
        free(want);
        free(src);
    }
    test_close_pair(ctx);
}

Test(ops_autoencoder, gather_mean_malformed_lists_refused_on_cpu_clamped_on_vulkan)
{
    test_pair ctx = test_open_pair();
    const int64_t rows = 4, d = 3, m = 4, nnz = 5;
    float src[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    int32_t offsets[5] = {-3, 2, 1, 9, 4}; /* negative, decreasing, past nnz */
    int32_t indices[5] = {0, 7, 1, -1, 3}; /* 7 and -1 out of range */
    cr_assert_null(run_gather_mean(ctx.ref, rows, d, src, offsets, m, indices, nnz));
    cr_assert(strstr(mg_context_last_error(ctx.ref), "offsets") != NULL, "%s", mg_context_last_error(ctx.ref));
    int32_t good_offsets[5] = {0, 1, 2, 4, 5};
    cr_assert_null(run_gather_mean(ctx.ref, rows, d, src, good_offsets, m, indices, nnz));
    cr_assert(strstr(mg_context_last_error(ctx.ref), "indices[1] = 7") != NULL, "%s", mg_context_last_error(ctx.ref));
    /* Vulkan: ranges clamped to [0, nnz] with end >= begin, bad indices skipped:
     * row 0: [0, 2) -> {0, skip 7} = src 0; row 1: [2, 2) -> empty; row 2: [1, 5) -> {skip 7, 1, skip -1, 3}
     * = mean(src 1, src 3); row 3: [5, 5) -> empty. */
    float *got = run_gather_mean(ctx.vk, rows, d, src, offsets, m, indices, nnz);
    cr_assert_not_null(got);
    float want[12] = {1, 2, 3, 0, 0, 0, 7, 8, 9, 0, 0, 0};
    cr_assert_arr_eq(got, want, sizeof want, "clamped gather_mean differs");
    free(got);
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

Test(ops_autoencoder, copy_columns_writes_only_its_columns)
{
    test_pair ctx = test_open_pair();
    static const int64_t cases[][3] = {{1, 1, 1}, {37, 13, 50}, {129, 192, 576}}; /* rows, w, W */
    for (size_t ci = 0; ci < 3; ci++) {
        int64_t rows = cases[ci][0], w = cases[ci][1], width = cases[ci][2];
        size_t offset = (size_t)(width - w) / 2;
        float *src = malloc((size_t)(rows * w) * 4), *base = malloc((size_t)(rows * width) * 4);
        test_fill_uniform(src, (size_t)(rows * w), (uint32_t)ci + 110, -1, 1);
        test_fill_uniform(base, (size_t)(rows * width), (uint32_t)ci + 111, 5, 6);
        float *results[2];
        mg_context *both[2] = {ctx.vk, ctx.ref};
        for (int b = 0; b < 2; b++) {
            int64_t src_shape[2] = {rows, w}, dst_shape[2] = {rows, width};
            mg_tensor *ts = test_offset_input(both[b], MG_DTYPE_F32, 2, src_shape, src, 1);
            test_guarded dst = test_guarded_output(both[b], MG_DTYPE_F32, 2, dst_shape);
            cr_assert_eq(mg_tensor_write_f32(dst.view, base, (size_t)(rows * width)), MG_OK);
            cr_assert_eq(mg_op_copy_columns(both[b], ts, dst.view, offset), MG_OK, "%s",
                         mg_context_last_error(both[b]));
            results[b] = test_guarded_take(&dst, "copy_columns");
            mg_tensor_free(ts);
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < width; c++) {
                bool inside = (size_t)c >= offset && (size_t)c < offset + (size_t)w;
                float expect = inside ? src[r * w + (c - (int64_t)offset)] : base[r * width + c];
                cr_assert_eq(results[0][r * width + c], expect, "copy_columns [%lld, %lld]", (long long)r,
                             (long long)c);
            }
        cr_assert_arr_eq(results[0], results[1], (size_t)(rows * width) * 4);
        free(results[0]);
        free(results[1]);
        free(src);
        free(base);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static void run_lfq(mg_context *ctx, int64_t n, int64_t d, int levels, float soft_clamp, const float *x,
                    float **values, int32_t **indices)
{
    int64_t shape[2] = {n, d}, idx_shape[2] = {n, levels};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 3);
    test_guarded v = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
    test_guarded i = test_guarded_output(ctx, MG_DTYPE_I32, 2, idx_shape);
    cr_assert_eq(mg_op_lfq_quantize(ctx, tx, levels, soft_clamp, v.view, i.view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    *values = test_guarded_take(&v, "lfq values");
    *indices = test_guarded_take(&i, "lfq indices");
    mg_tensor_free(tx);
}

static float *run_lfq_dequantize(mg_context *ctx, int64_t n, int64_t d, int levels, const int32_t *indices)
{
    int64_t shape[2] = {n, d}, idx_shape[2] = {n, levels};
    mg_tensor *ti = test_offset_ids(ctx, 2, idx_shape, indices, 1);
    test_guarded v = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
    cr_assert_eq(mg_op_lfq_dequantize(ctx, ti, v.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_guarded_take(&v, "lfq_dequantize");
    mg_tensor_free(ti);
    return result;
}

Test(ops_autoencoder, lfq_quantize_and_dequantize_exact)
{
    static const int64_t dims[] = {8, 14, 30, 1};
    test_pair ctx = test_open_pair();
    const int64_t n = 1031;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int64_t d = dims[di];
        size_t count = (size_t)(n * d);
        float *x = malloc(count * 4);
        test_fill_uniform(x, count, (uint32_t)di + 120, -2, 2);
        for (size_t i = 0; i < count; i += 7) /* values near and at 0, and near level boundaries */
            x[i] = (float)((int)(i % 5) - 2) * 1e-6f;
        for (size_t i = 3; i < count; i += 11)
            x[i] = i % 2 ? 1.0f : -0.5f; /* residual exactly 0 at the next level */
        x[1] = -0.0f;
        for (int levels = 1; levels <= 3; levels++) {
            for (int clamp = 0; clamp < 2; clamp++) {
                float soft_clamp = clamp ? 10.0f : 0.0f;
                float *gv, *wv;
                int32_t *gi, *wi;
                run_lfq(ctx.vk, n, d, levels, soft_clamp, x, &gv, &gi);
                run_lfq(ctx.ref, n, d, levels, soft_clamp, x, &wv, &wi);
                cr_assert_arr_eq(gi, wi, (size_t)(n * levels) * 4, "lfq d=%lld levels=%d clamp=%g: indices differ",
                                 (long long)d, levels, (double)soft_clamp);
                cr_assert_arr_eq(gv, wv, count * 4, "lfq d=%lld levels=%d: values differ", (long long)d, levels);
                /* dequantizing the codes gives the values back; pad ids give nothing */
                for (int64_t r = 0; r < n; r += 9)
                    wi[r * levels + (r / 9) % levels] = r % 2 ? -1 : (int32_t)(1u << d);
                float *back_vk = run_lfq_dequantize(ctx.vk, n, d, levels, gi);
                cr_assert_arr_eq(back_vk, gv, count * 4, "lfq_dequantize d=%lld levels=%d differs from quantize",
                                 (long long)d, levels);
                float *pads_vk = run_lfq_dequantize(ctx.vk, n, d, levels, wi);
                float *pads_ref = run_lfq_dequantize(ctx.ref, n, d, levels, wi);
                cr_assert_arr_eq(pads_vk, pads_ref, count * 4, "lfq_dequantize with pad ids differs");
                free(back_vk);
                free(pads_vk);
                free(pads_ref);
                free(gv);
                free(wv);
                free(gi);
                free(wi);
            }
        }
        free(x);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static int32_t *run_vq(mg_context *ctx, int64_t n, int64_t d, int64_t k, const float *x, const float *codebook,
                       mg_dtype wt)
{
    int64_t x_shape[2] = {n, d}, cb_shape[2] = {k, d}, out_shape[1] = {n};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, x_shape, x, 1);
    mg_tensor *tc = test_offset_input(ctx, wt, 2, cb_shape, codebook, 3);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_I32, 1, out_shape);
    cr_assert_eq(mg_op_vq_nearest(ctx, tx, tc, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    int32_t *result = test_guarded_take(&out, "vq_nearest");
    mg_tensor_free(tx);
    mg_tensor_free(tc);
    return result;
}

/* Squared distance of row r of x to codebook row e, in double. */
static double vq_distance(const float *x, const float *cb, int64_t d, int64_t r, int64_t e)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
        double diff = (double)x[r * d + j] - (double)cb[e * d + j];
        s += diff * diff;
    }
    return s;
}

Test(ops_autoencoder, vq_nearest_exact_with_duplicate_rows_f32_f16)
{
    /* {3, 192, 16384}: meshgpt-pytorch's default ResidualVQ size, long enough per invocation to meet
     * lavapipe's 65,535-loop-iteration guard if the workgroup is too small */
    static const int64_t cases[][3] = {{1, 1, 1}, {77, 19, 300}, {64, 192, 1000}, {5, 3, 2}, {3, 192, 16384}}; /* n, d, k */
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t n = cases[ci][0], d = cases[ci][1], k = cases[ci][2];
        float *x = malloc((size_t)(n * d) * 4), *cb = malloc((size_t)(k * d) * 4);
        test_fill_uniform(x, (size_t)(n * d), (uint32_t)ci + 130, -1, 1);
        test_fill_uniform(cb, (size_t)(k * d), (uint32_t)ci + 131, -1, 1);
        test_round_to_f16(cb, (size_t)(k * d)); /* the same codebook in f16 and f32 */
        /* duplicates: row k-1 repeats row k/2, and some x are codebook rows exactly */
        if (k > 2)
            memcpy(cb + (k - 1) * d, cb + (k / 2) * d, (size_t)d * 4);
        for (int64_t r = 0; r < n; r += 4)
            memcpy(x + r * d, cb + ((r * 7) % k) * d, (size_t)d * 4);
        if (n > 1 && k > 2)
            memcpy(x + d, cb + (k / 2) * d, (size_t)d * 4); /* tie between k/2 and k-1: k/2 must win */
        for (int f16 = 0; f16 < 2; f16++) {
            mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
            int32_t *got = run_vq(ctx.vk, n, d, k, x, cb, wt);
            int32_t *want = run_vq(ctx.ref, n, d, k, x, cb, wt);
            int close_calls = 0;
            for (int64_t r = 0; r < n; r++) {
                if (got[r] == want[r])
                    continue;
                /* f32 sums on the device against double in the reference: only a near tie may differ */
                double chosen = vq_distance(x, cb, d, r, got[r]), best = vq_distance(x, cb, d, r, want[r]);
                double margin = (chosen - best) / (best + 1e-30);
                cr_assert(margin < 1e-5, "vq_nearest n=%lld d=%lld k=%lld %s row %lld: %d vs %d (margin %.3g)",
                          (long long)n, (long long)d, (long long)k, f16 ? "f16" : "f32", (long long)r, got[r],
                          want[r], margin);
                close_calls++;
            }
            cr_assert(close_calls <= 1, "vq_nearest: %d rows differ on near ties", close_calls);
            if (n > 1 && k > 2)
                cr_assert_eq(got[1], (int32_t)(k / 2), "vq_nearest: the tie must go to the lower index");
            free(got);
            free(want);
        }
        free(x);
        free(cb);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

Test(ops_autoencoder, argument_checks_say_what_is_wrong)
{
    mg_context *ctx = test_cpu_context();
    int64_t x_shape[3] = {2, 4, 3}, bad_out[2] = {2, 4}, out_shape[2] = {2, 3}, rows[2] = {4, 3};
    mg_tensor *x = test_empty(ctx, MG_DTYPE_F32, 3, x_shape), *o = test_empty(ctx, MG_DTYPE_F32, 2, bad_out);
    mg_tensor *ok = test_empty(ctx, MG_DTYPE_F32, 2, out_shape);
    cr_assert_eq(mg_op_masked_mean(ctx, x, NULL, 1e-5f, o), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "[B, C]") != NULL, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_op_masked_mean(ctx, x, NULL, 1e-5f, ok), MG_OK);
    cr_assert_eq(mg_op_masked_mean(ctx, x, NULL, -1.0f, ok), MG_ERR_INVALID_ARGUMENT);
    /* copy_columns past the end of dst */
    mg_tensor *src = test_empty(ctx, MG_DTYPE_F32, 2, rows), *dst = test_empty(ctx, MG_DTYPE_F32, 2, rows);
    cr_assert_eq(mg_op_copy_columns(ctx, src, dst, 1), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_copy_columns(ctx, src, dst, 0), MG_OK);
    /* lfq: levels out of range, d above 30, indices of the wrong shape */
    int64_t lx[2] = {4, 3}, li[2] = {4, 2}, wide[2] = {4, 31}, wide_i[2] = {4, 1};
    mg_tensor *lfq_x = test_empty(ctx, MG_DTYPE_F32, 2, lx), *lfq_v = test_empty(ctx, MG_DTYPE_F32, 2, lx);
    mg_tensor *lfq_i = test_empty(ctx, MG_DTYPE_I32, 2, li);
    cr_assert_eq(mg_op_lfq_quantize(ctx, lfq_x, 0, 10.0f, lfq_v, lfq_i), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_lfq_quantize(ctx, lfq_x, 3, 10.0f, lfq_v, lfq_i), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_lfq_quantize(ctx, lfq_x, 2, 10.0f, lfq_v, lfq_i), MG_OK);
    mg_tensor *wx = test_empty(ctx, MG_DTYPE_F32, 2, wide), *wv = test_empty(ctx, MG_DTYPE_F32, 2, wide);
    mg_tensor *wi = test_empty(ctx, MG_DTYPE_I32, 2, wide_i);
    cr_assert_eq(mg_op_lfq_quantize(ctx, wx, 1, 10.0f, wv, wi), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "d <= 30") != NULL, "%s", mg_context_last_error(ctx));
    /* vq: codebook width differs */
    int64_t cb_shape[2] = {5, 2}, idx_shape[1] = {4};
    mg_tensor *cb = test_empty(ctx, MG_DTYPE_F32, 2, cb_shape), *idx = test_empty(ctx, MG_DTYPE_I32, 1, idx_shape);
    cr_assert_eq(mg_op_vq_nearest(ctx, lfq_x, cb, idx), MG_ERR_INVALID_ARGUMENT);
    mg_tensor *all[] = {x, o, ok, src, dst, lfq_x, lfq_v, lfq_i, wx, wv, wi, cb, idx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
    mg_context_destroy(ctx);
}
