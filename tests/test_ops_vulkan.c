/*
 * Every op on Vulkan against the CPU reference, under the validation layer.
 *
 * Inputs are views at offsets that are not multiples of the device's binding
 * alignment (odd element counts, odd half counts for f16), so the shaders'
 * element offsets are exercised. Outputs are views inside a larger tensor whose
 * guard words (a NaN pattern) must be untouched afterwards.
 *
 * Bounds (normalized MSE = sum (vk - ref)^2 / sum ref^2):
 *  - f32, and f16 weights against the reference on the same f16 weights: 1e-7;
 *  - f16 weights against the reference on the original f32 weights: 1e-5 (the
 *    rounding of weights to 11 significant bits, about 2^-12 relative each).
 */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_F32 1e-7
#define NMSE_F16_VS_F32 1e-5

typedef struct matmul_case {
    int64_t batch, m, n, k;
    bool broadcast;
} matmul_case;

static float *run_matmul(mg_context *ctx, const matmul_case *c, const float *a, const float *b, const float *bias,
                         bool transposed, mg_dtype wtype, bool guard, const char *what)
{
    int nd = c->batch > 1 ? 3 : 2;
    int64_t a_shape[3] = {c->batch, c->m, c->k}, out_shape[3] = {c->batch, c->m, c->n};
    int64_t b_shape[3] = {c->batch, transposed ? c->n : c->k, transposed ? c->k : c->n};
    const int64_t *as = nd == 3 ? a_shape : a_shape + 1, *os = nd == 3 ? out_shape : out_shape + 1;
    bool b3 = nd == 3 && !c->broadcast;
    mg_tensor *ta = test_offset_input(ctx, MG_DTYPE_F32, nd, as, a, 5);
    mg_tensor *tb = test_offset_input(ctx, wtype, b3 ? 3 : 2, b3 ? b_shape : b_shape + 1, b, 3);
    int64_t bias_shape[1] = {c->n};
    mg_tensor *tbias = bias ? test_offset_input(ctx, wtype, 1, bias_shape, bias, 1) : NULL;
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, nd, os);
    cr_assert_eq(mg_op_matmul(ctx, ta, tb, tbias, transposed, out.view), MG_OK, "%s: %s", what,
                 mg_context_last_error(ctx));
    float *result = test_read(out.view);
    if (guard)
        test_guard_check(&out, what);
    else {
        mg_tensor_free(out.view);
        mg_tensor_free(out.parent);
    }
    mg_tensor_free(ta);
    mg_tensor_free(tb);
    mg_tensor_free(tbias);
    return result;
}

Test(ops_vulkan, matmul_odd_shapes_f32_f16_transposed_bias)
{
    static const matmul_case cases[] = {
        {1, 1, 1, 1, true},      {1, 1, 7, 33, true},    {1, 3, 1000, 769, true}, {1, 4, 33, 2049, true},
        {1, 5, 33, 7, true},     {1, 7, 33, 100, true},  {1, 33, 7, 129, true},   {1, 1031, 65, 33, true},
        {1, 70, 130, 1, true},   {3, 17, 9, 13, true},   {3, 17, 9, 13, false},   {2, 1, 37, 50, false},
        {5, 65, 66, 67, false},
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const matmul_case *c = &cases[ci];
        size_t a_count = (size_t)(c->batch * c->m * c->k);
        size_t b_count = (size_t)((c->broadcast ? 1 : c->batch) * c->k * c->n);
        float *a = malloc(a_count * 4), *b = malloc(b_count * 4), *bias = malloc((size_t)c->n * 4);
        test_fill_uniform(a, a_count, (uint32_t)ci * 3 + 1, -1, 1);
        test_fill_uniform(b, b_count, (uint32_t)ci * 3 + 2, -1, 1);
        test_fill_uniform(bias, (size_t)c->n, (uint32_t)ci * 3 + 3, -2, 2);
        size_t out_count = (size_t)(c->batch * c->m * c->n);
        for (int transposed = 0; transposed < 2; transposed++) {
            for (int f16 = 0; f16 < 2; f16++) {
                const float *use_bias = (ci + (size_t)transposed) % 2 ? bias : NULL;
                mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
                char what[128];
                snprintf(what, sizeof what, "matmul %lldx[%lld,%lld,%lld]%s %s%s%s", (long long)c->batch,
                         (long long)c->m, (long long)c->n, (long long)c->k, c->broadcast ? " shared B" : "",
                         f16 ? "f16" : "f32", transposed ? " transposed" : "", use_bias ? " bias" : "");
                float *got = run_matmul(ctx.vk, c, a, b, use_bias, transposed, wt, true, what);
                float *want = run_matmul(ctx.ref, c, a, b, use_bias, transposed, wt, false, what);
                test_compare(what, got, want, out_count, NMSE_F32);
                if (f16) {
                    float *exact = run_matmul(ctx.ref, c, a, b, use_bias, transposed, MG_DTYPE_F32, false, what);
                    test_compare(what, got, exact, out_count, NMSE_F16_VS_F32);
                    free(exact);
                }
                free(got);
                free(want);
            }
        }
        free(a);
        free(b);
        free(bias);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_embedding(mg_context *ctx, mg_dtype wt, int64_t vocab, int64_t dim, const float *table,
                            const int32_t *ids, int64_t n_ids)
{
    int64_t table_shape[2] = {vocab, dim}, ids_shape[1] = {n_ids}, out_shape[2] = {n_ids, dim};
    mg_tensor *tt = test_offset_input(ctx, wt, 2, table_shape, table, 3);
    mg_tensor *ti = test_offset_ids(ctx, 1, ids_shape, ids, 1);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, 2, out_shape);
    cr_assert_eq(mg_op_embedding(ctx, tt, ti, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_read(out.view);
    test_guard_check(&out, "embedding");
    mg_tensor_free(tt);
    mg_tensor_free(ti);
    return result;
}

Test(ops_vulkan, embedding_gathers_exactly_with_pad_and_out_of_range_ids)
{
    test_pair ctx = test_open_pair();
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {1000, 7, 1031}, {257, 128, 64}};
    for (size_t si = 0; si < 4; si++) {
        int64_t vocab = shapes[si][0], dim = shapes[si][1], n = shapes[si][2];
        float *table = malloc((size_t)(vocab * dim) * 4);
        int32_t *ids = malloc((size_t)n * 4);
        test_fill_uniform(table, (size_t)(vocab * dim), (uint32_t)si, -3, 3);
        for (int64_t i = 0; i < n; i++)
            ids[i] = i % 11 == 5 ? -1 : i % 13 == 7 ? (int32_t)vocab : (int32_t)((i * 7919) % vocab);
        for (int f16 = 0; f16 < 2; f16++) {
            mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
            float *got = run_embedding(ctx.vk, wt, vocab, dim, table, ids, n);
            float *want = run_embedding(ctx.ref, wt, vocab, dim, table, ids, n);
            cr_assert_arr_eq(got, want, (size_t)(n * dim) * 4, "embedding %lldx%lld, %lld ids, %s differ",
                             (long long)vocab, (long long)dim, (long long)n, f16 ? "f16" : "f32");
            free(got);
            free(want);
        }
        free(table);
        free(ids);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static const int64_t row_shapes[][2] = {{1, 1}, {1, 7}, {7, 33}, {33, 100}, {3, 513}, {1031, 7}, {2, 1025}, {5, 4099}};
#define ROW_SHAPES (sizeof row_shapes / sizeof row_shapes[0])

typedef enum elementwise_kind { EW_UNARY, EW_SCALE, EW_BINARY, EW_BINARY_BROADCAST, EW_GEGLU } elementwise_kind;

static float *run_elementwise(mg_context *ctx, elementwise_kind kind, int op, const int64_t *shape, const float *x,
                              const float *y, bool in_place)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 1);
    mg_tensor *ty = NULL;
    int64_t out_shape[2] = {shape[0], kind == EW_GEGLU ? shape[1] / 2 : shape[1]};
    if (kind == EW_BINARY)
        ty = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, y, 2);
    else if (kind == EW_BINARY_BROADCAST)
        ty = test_offset_input(ctx, MG_DTYPE_F32, 1, shape + 1, y, 2);
    test_guarded out = {NULL, NULL};
    mg_tensor *target = tx;
    if (!in_place) {
        out = test_guarded_output(ctx, MG_DTYPE_F32, 2, out_shape);
        target = out.view;
    }
    mg_status status;
    switch (kind) {
    case EW_UNARY: status = mg_op_unary(ctx, (mg_unary_op)op, tx, target); break;
    case EW_SCALE: status = mg_op_scale(ctx, tx, -1.5f, 0.25f, target); break;
    case EW_GEGLU: status = mg_op_geglu(ctx, tx, target); break;
    default: status = mg_op_binary(ctx, (mg_binary_op)op, tx, ty, target); break;
    }
    cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_read(target);
    if (!in_place)
        test_guard_check(&out, "elementwise");
    mg_tensor_free(tx);
    mg_tensor_free(ty);
    return result;
}

static void check_elementwise(test_pair ctx, elementwise_kind kind, int op, const char *name, float lo, float hi)
{
    for (size_t si = 0; si < ROW_SHAPES; si++) {
        int64_t shape[2] = {row_shapes[si][0], row_shapes[si][1] * (kind == EW_GEGLU ? 2 : 1)};
        size_t count = (size_t)(shape[0] * shape[1]);
        float *x = malloc(count * 4), *y = malloc(count * 4);
        test_fill_uniform(x, count, (uint32_t)si + 10, lo, hi);
        test_fill_uniform(y, count, (uint32_t)si + 20, lo, hi);
        size_t out_count = kind == EW_GEGLU ? count / 2 : count;
        for (int in_place = 0; in_place < (kind == EW_GEGLU ? 1 : 2); in_place++) {
            char what[96];
            snprintf(what, sizeof what, "%s [%lld, %lld]%s", name, (long long)shape[0], (long long)shape[1],
                     in_place ? " in place" : "");
            float *got = run_elementwise(ctx.vk, kind, op, shape, x, y, in_place);
            float *want = run_elementwise(ctx.ref, kind, op, shape, x, y, in_place);
            test_compare(what, got, want, out_count, NMSE_F32);
            free(got);
            free(want);
        }
        free(x);
        free(y);
    }
}

Test(ops_vulkan, activations)
{
    test_pair ctx = test_open_pair();
    check_elementwise(ctx, EW_UNARY, MG_UNARY_SILU, "silu", -8, 8);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_GELU, "gelu", -8, 8);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_GELU, "gelu near zero", -0.6f, 0.6f);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_SIGMOID, "sigmoid", -30, 30);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_TANH, "tanh", -4, 4);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_TANH, "tanh near zero", -0.2f, 0.2f);
    check_elementwise(ctx, EW_UNARY, MG_UNARY_RELU, "relu", -1, 1);
    check_elementwise(ctx, EW_SCALE, 0, "scale", -1, 1);
    check_elementwise(ctx, EW_GEGLU, 0, "geglu", -5, 5);
    test_close_pair(ctx);
}

Test(ops_vulkan, activations_at_extremes_stay_finite)
{
    test_pair ctx = test_open_pair();
    float x[12] = {-1e30f, -1000.0f, -100.0f, -88.5f, -20.0f, -1e-30f, 0.0f, 1e-30f, 20.0f, 88.5f, 1000.0f, 1e30f};
    int64_t shape[2] = {1, 12};
    for (int op = MG_UNARY_SILU; op <= MG_UNARY_RELU; op++) {
        float *got = run_elementwise(ctx.vk, EW_UNARY, op, shape, x, x, false);
        float *want = run_elementwise(ctx.ref, EW_UNARY, op, shape, x, x, false);
        for (int i = 0; i < 12; i++) {
            cr_assert(isfinite(got[i]) || !isfinite(want[i]), "op %d at %g gives %g (reference %g)", op, (double)x[i],
                      (double)got[i], (double)want[i]);
            double tolerance = 1e-6 * fmax(1.0, fabs(want[i]));
            cr_assert(fabs((double)got[i] - (double)want[i]) <= tolerance, "op %d at %g: %.9g vs %.9g", op,
                      (double)x[i], (double)got[i], (double)want[i]);
        }
        free(got);
        free(want);
    }
    test_close_pair(ctx);
}

Test(ops_vulkan, binary_same_shape_and_broadcast)
{
    test_pair ctx = test_open_pair();
    check_elementwise(ctx, EW_BINARY, MG_BINARY_ADD, "add", -1, 1);
    check_elementwise(ctx, EW_BINARY, MG_BINARY_SUB, "sub", -1, 1);
    check_elementwise(ctx, EW_BINARY, MG_BINARY_MUL, "mul", -1, 1);
    check_elementwise(ctx, EW_BINARY_BROADCAST, MG_BINARY_ADD, "add broadcast", -1, 1);
    check_elementwise(ctx, EW_BINARY_BROADCAST, MG_BINARY_MUL, "mul broadcast", -1, 1);
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

typedef enum norm_kind { NORM_LAYER, NORM_LAYER_PLAIN, NORM_RMS, NORM_L2 } norm_kind;

static float *run_norm(mg_context *ctx, norm_kind kind, const int64_t *shape, const float *x, const float *gamma,
                       const float *beta, mg_dtype wt, bool in_place)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 3);
    mg_tensor *tg = test_offset_input(ctx, wt, 1, shape + 1, gamma, 1);
    mg_tensor *tb = test_offset_input(ctx, wt, 1, shape + 1, beta, 5);
    test_guarded out = {NULL, NULL};
    mg_tensor *target = tx;
    if (!in_place) {
        out = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
        target = out.view;
    }
    mg_status status;
    switch (kind) {
    case NORM_LAYER: status = mg_op_layer_norm(ctx, tx, tg, tb, 1e-5f, 0.0f, target); break;
    case NORM_LAYER_PLAIN: status = mg_op_layer_norm(ctx, tx, NULL, NULL, 1e-5f, 0.0f, target); break;
    case NORM_RMS: status = mg_op_rms_norm(ctx, tx, tg, 1e-6f, 1.0f, target); break;
    default: status = mg_op_l2_normalize(ctx, tx, tg, 1e-12f, sqrtf((float)shape[1]), 0.0f, target); break;
    }
    cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_read(target);
    if (!in_place)
        test_guard_check(&out, "norm");
    mg_tensor_free(tx);
    mg_tensor_free(tg);
    mg_tensor_free(tb);
    return result;
}

Test(ops_vulkan, normalisations)
{
    static const char *names[] = {"layer_norm", "layer_norm without affine", "rms_norm", "l2_normalize"};
    test_pair ctx = test_open_pair();
    for (int kind = NORM_LAYER; kind <= NORM_L2; kind++) {
        for (size_t si = 0; si < ROW_SHAPES; si++) {
            const int64_t *shape = row_shapes[si];
            size_t count = (size_t)(shape[0] * shape[1]);
            float *x = malloc(count * 4), *g = malloc((size_t)shape[1] * 4), *b = malloc((size_t)shape[1] * 4);
            /* an offset mean makes the two-pass variance matter */
            test_fill_uniform(x, count, (uint32_t)si + 30, 2.0f, 6.0f);
            test_fill_uniform(g, (size_t)shape[1], (uint32_t)si + 40, 0.5f, 1.5f);
            test_fill_uniform(b, (size_t)shape[1], (uint32_t)si + 50, -1.0f, 1.0f);
            for (int f16 = 0; f16 < 2; f16++) {
                for (int in_place = 0; in_place < 2; in_place++) {
                    mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
                    char what[128];
                    snprintf(what, sizeof what, "%s [%lld, %lld] %s%s", names[kind], (long long)shape[0],
                             (long long)shape[1], f16 ? "f16" : "f32", in_place ? " in place" : "");
                    float *got = run_norm(ctx.vk, (norm_kind)kind, shape, x, g, b, wt, in_place);
                    float *want = run_norm(ctx.ref, (norm_kind)kind, shape, x, g, b, wt, in_place);
                    /* a single element normalises to exactly 0 (LayerNorm): compare absolutely */
                    if (shape[1] == 1 && kind <= NORM_LAYER_PLAIN) {
                        for (size_t i = 0; i < count; i++)
                            cr_assert(fabsf(got[i] - want[i]) < 1e-5f, "%s: %g vs %g", what, (double)got[i],
                                      (double)want[i]);
                    } else {
                        test_compare(what, got, want, count, NMSE_F32);
                    }
                    if (f16) {
                        float *exact = run_norm(ctx.ref, (norm_kind)kind, shape, x, g, b, MG_DTYPE_F32, in_place);
                        if (!(shape[1] == 1 && kind <= NORM_LAYER_PLAIN))
                            test_compare(what, got, exact, count, NMSE_F16_VS_F32);
                        free(exact);
                    }
                    free(got);
                    free(want);
                }
            }
            free(x);
            free(g);
            free(b);
        }
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static float *run_softmax(mg_context *ctx, const int64_t *shape, const float *x, const int32_t *mask,
                          int64_t mask_rows, const mg_softmax_options *base, bool in_place)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 1);
    int64_t mask_shape[2] = {mask_rows, shape[1]};
    mg_tensor *tm = mask ? test_offset_ids(ctx, 2, mask_shape, mask, 3) : NULL;
    mg_softmax_options o = *base;
    o.mask = tm;
    test_guarded out = {NULL, NULL};
    mg_tensor *target = tx;
    if (!in_place) {
        out = test_guarded_output(ctx, MG_DTYPE_F32, 2, shape);
        target = out.view;
    }
    cr_assert_eq(mg_op_softmax(ctx, tx, &o, target), MG_OK, "%s", mg_context_last_error(ctx));
    float *result = test_read(target);
    if (!in_place)
        test_guard_check(&out, "softmax");
    mg_tensor_free(tx);
    mg_tensor_free(tm);
    return result;
}

Test(ops_vulkan, softmax_scaled_masked_causal)
{
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < ROW_SHAPES; si++) {
        const int64_t *shape = row_shapes[si];
        size_t count = (size_t)(shape[0] * shape[1]);
        float *x = malloc(count * 4);
        /* large logits: the max subtraction must keep exp finite */
        test_fill_uniform(x, count, (uint32_t)si + 60, -60.0f, 60.0f);
        int64_t heads = shape[0] % 2 ? 1 : 2;
        int64_t mask_rows = shape[0] / heads;
        int32_t *mask = malloc((size_t)(mask_rows * shape[1]) * 4);
        for (int64_t i = 0; i < mask_rows * shape[1]; i++)
            mask[i] = (i * 37) % 5 != 0; /* some rows lose everything when n is small */
        for (int variant = 0; variant < 4; variant++) {
            mg_softmax_options o = mg_softmax_default_options();
            o.scale = 0.125f;
            const int32_t *use_mask = NULL;
            if (variant == 1 || variant == 3) {
                use_mask = mask;
                o.mask_row_divisor = (size_t)heads;
            }
            if (variant >= 2) {
                o.causal = true;
                o.causal_queries = (size_t)(shape[0] > 3 ? 3 : shape[0]);
                o.causal_offset = variant == 2 ? 0 : -1; /* -1 hides everything from the first query */
            }
            for (int in_place = 0; in_place < 2; in_place++) {
                char what[96];
                snprintf(what, sizeof what, "softmax [%lld, %lld] variant %d%s", (long long)shape[0],
                         (long long)shape[1], variant, in_place ? " in place" : "");
                float *got = run_softmax(ctx.vk, shape, x, use_mask, mask_rows, &o, in_place);
                float *want = run_softmax(ctx.ref, shape, x, use_mask, mask_rows, &o, in_place);
                test_assert_finite_like(got, want, count);
                double nmse = test_nmse(got, want, count);
                cr_assert(nmse <= NMSE_F32, "%s: normalized MSE %.3g", what, nmse);
                for (size_t i = 0; i < count; i++)
                    if (want[i] == 0.0f)
                        cr_assert_eq(got[i], 0.0f, "%s: masked element %zu is %g", what, i, (double)got[i]);
                free(got);
                free(want);
            }
        }
        free(x);
        free(mask);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

static int32_t *run_argmax(mg_context *ctx, const int64_t *shape, const float *x)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 1);
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_I32, 1, shape);
    cr_assert_eq(mg_op_argmax(ctx, tx, out.view), MG_OK, "%s", mg_context_last_error(ctx));
    int32_t *result = malloc((size_t)shape[0] * 4);
    cr_assert_eq(mg_tensor_read(out.view, result, (size_t)shape[0] * 4), MG_OK);
    test_guard_check(&out, "argmax");
    mg_tensor_free(tx);
    return result;
}

Test(ops_vulkan, argmax_matches_exactly_with_ties_and_nan)
{
    test_pair ctx = test_open_pair();
    static const int64_t shapes[][2] = {{1, 1}, {7, 33}, {33, 1000}, {1031, 7}, {3, 16385}};
    for (size_t si = 0; si < 5; si++) {
        const int64_t *shape = shapes[si];
        size_t count = (size_t)(shape[0] * shape[1]);
        float *x = malloc(count * 4);
        test_fill_uniform(x, count, (uint32_t)si + 70, -4, 4);
        for (size_t i = 0; i < count; i++)
            x[i] = roundf(x[i] * 2.0f) / 2.0f; /* only 17 distinct values: many ties */
        if (shape[0] > 2) {
            x[(size_t)shape[1] + (size_t)shape[1] / 2] = NAN;            /* row 1: one NaN */
            x[2 * (size_t)shape[1] + (size_t)shape[1] - 1] = NAN;        /* row 2: NaN last ... */
            x[2 * (size_t)shape[1]] = -INFINITY;
        }
        int32_t *got = run_argmax(ctx.vk, shape, x);
        int32_t *want = run_argmax(ctx.ref, shape, x);
        cr_assert_arr_eq(got, want, (size_t)shape[0] * 4, "argmax [%lld, %lld] differs", (long long)shape[0],
                         (long long)shape[1]);
        free(got);
        free(want);
        free(x);
    }
    test_close_pair(ctx);
}
