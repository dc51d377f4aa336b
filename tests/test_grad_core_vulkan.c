/*
 * The generic backward ops (ops_grad.h) on Vulkan against the CPU reference,
 * under the validation layer, plus the conventions every backward op keeps on
 * both backends: parameter gradients accumulate (a second call doubles them),
 * NULL outputs are skipped, results are identical run to run.
 *
 * As test_ops_vulkan.c: inputs are views at odd element offsets, outputs sit
 * between guard words. Overwritten gradients start as the guard NaN pattern (a
 * missed element shows as NaN); accumulated ones start from random values.
 * Bound: normalized MSE <= 1e-7 (f32 sums against the reference's double sums;
 * parameters in f16 are read the same way by both backends).
 */
#include "test_util.h"

#include "ops/ops_grad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE 1e-7

static float *uniform(size_t n, uint32_t seed, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    test_fill_uniform(v, n, seed, lo, hi);
    return v;
}

/* A guarded gradient output; `init` (accumulated gradients) is written into the view, else it keeps the NaN pattern. */
static test_guarded grad_out(mg_context *ctx, int ndim, const int64_t *shape, const float *init)
{
    test_guarded g = test_guarded_output(ctx, MG_DTYPE_F32, ndim, shape);
    if (init)
        cr_assert_eq(mg_tensor_write_f32(g.view, init, g.view->count), MG_OK, "%s", mg_context_last_error(ctx));
    return g;
}

static float *take(test_guarded *g, const char *what)
{
    return g->view ? test_guarded_take(g, what) : NULL;
}

/* ---- matmul ---- */

typedef struct mm_case {
    int64_t batch, m, n, k;
    bool broadcast;
} mm_case;

typedef struct mm_result {
    float *d_a, *d_b, *d_bias;
} mm_result;

static mm_result run_matmul_backward(mg_context *ctx, const mm_case *c, const float *a, const float *b,
                                     const float *g, const float *d_b0, const float *d_bias0, bool transposed,
                                     mg_dtype wt, bool want_a, bool want_b, bool want_bias, int calls)
{
    int nd = c->batch > 1 ? 3 : 2;
    int64_t a_shape[3] = {c->batch, c->m, c->k}, o_shape[3] = {c->batch, c->m, c->n};
    int64_t b_shape[3] = {c->batch, transposed ? c->n : c->k, transposed ? c->k : c->n};
    bool b3 = nd == 3 && !c->broadcast;
    const int64_t *as = a_shape + 3 - nd, *os = o_shape + 3 - nd, *bs = b3 ? b_shape : b_shape + 1;
    int bnd = b3 ? 3 : 2;
    mg_tensor *ta = test_offset_input(ctx, MG_DTYPE_F32, nd, as, a, 5);
    mg_tensor *tb = test_offset_input(ctx, wt, bnd, bs, b, 3);
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, nd, os, g, 1);
    int64_t bias_shape[1] = {c->n};
    test_guarded da = {0}, db = {0}, dbias = {0};
    if (want_a)
        da = grad_out(ctx, nd, as, NULL);
    if (want_b)
        db = grad_out(ctx, bnd, bs, d_b0);
    if (want_bias)
        dbias = grad_out(ctx, 1, bias_shape, d_bias0);
    for (int i = 0; i < calls; i++)
        cr_assert_eq(mg_op_matmul_backward(ctx, ta, tb, transposed, tg, da.view, db.view, dbias.view), MG_OK, "%s",
                     mg_context_last_error(ctx));
    mm_result r = {take(&da, "d_a"), take(&db, "d_b"), take(&dbias, "d_bias")};
    mg_tensor_free(ta);
    mg_tensor_free(tb);
    mg_tensor_free(tg);
    return r;
}

static void free_mm(mm_result r)
{
    free(r.d_a);
    free(r.d_b);
    free(r.d_bias);
}

Test(grad_core_vulkan, matmul_backward_matches_reference)
{
    /* The 40000-row product spans two row chunks of the weight gradient on CPU devices. */
    static const mm_case cases[] = {
        {1, 1, 1, 1, true},   {1, 5, 33, 7, true},    {3, 17, 9, 13, true},   {3, 17, 9, 13, false},
        {2, 1, 37, 50, false}, {1, 70, 130, 65, true}, {5, 65, 66, 67, false}, {1, 40000, 3, 5, true},
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const mm_case *c = &cases[ci];
        size_t a_n = (size_t)(c->batch * c->m * c->k), b_n = (size_t)((c->broadcast ? 1 : c->batch) * c->k * c->n),
               o_n = (size_t)(c->batch * c->m * c->n);
        float *a = uniform(a_n, (uint32_t)ci, -1, 1), *b = uniform(b_n, (uint32_t)ci + 50, -1, 1);
        float *g = uniform(o_n, (uint32_t)ci + 100, -1, 1);
        float *d_b0 = uniform(b_n, (uint32_t)ci + 150, -1, 1), *d_bias0 = uniform((size_t)c->n, (uint32_t)ci + 7, -1, 1);
        for (int transposed = 0; transposed < 2; transposed++)
            for (int f16 = 0; f16 < 2; f16++) {
                mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
                char what[128];
                snprintf(what, sizeof what, "matmul_backward %lldx[%lld,%lld,%lld]%s %s%s", (long long)c->batch,
                         (long long)c->m, (long long)c->n, (long long)c->k, c->broadcast ? " shared b" : "",
                         f16 ? "f16" : "f32", transposed ? " transposed" : "");
                mm_result got = run_matmul_backward(ctx.vk, c, a, b, g, d_b0, d_bias0, transposed, wt, true, true,
                                                    true, 1);
                mm_result want = run_matmul_backward(ctx.ref, c, a, b, g, d_b0, d_bias0, transposed, wt, true, true,
                                                     true, 1);
                test_compare(what, got.d_a, want.d_a, a_n, NMSE);
                test_compare(what, got.d_b, want.d_b, b_n, NMSE);
                test_compare(what, got.d_bias, want.d_bias, (size_t)c->n, NMSE);
                free_mm(got);
                free_mm(want);
            }
        free(a), free(b), free(g), free(d_b0), free(d_bias0);
    }
    test_close_pair(ctx);
}

Test(grad_core_vulkan, matmul_backward_accumulates_skips_null_and_repeats_exactly)
{
    static const mm_case c = {3, 19, 11, 21, true};
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.vk, pair.ref};
    size_t a_n = 3 * 19 * 21, b_n = 21 * 11, o_n = 3 * 19 * 11;
    float *a = uniform(a_n, 1, -1, 1), *b = uniform(b_n, 2, -1, 1), *g = uniform(o_n, 3, -1, 1);
    float *zeros = calloc(b_n, 4);
    for (int i = 0; i < 2; i++) {
        mm_result once = run_matmul_backward(ctxs[i], &c, a, b, g, zeros, zeros, false, MG_DTYPE_F32, true, true,
                                             true, 1);
        mm_result twice = run_matmul_backward(ctxs[i], &c, a, b, g, zeros, zeros, false, MG_DTYPE_F32, true, true,
                                              true, 2);
        /* From zero, s + s = 2s exactly; the activation gradient is overwritten. */
        for (size_t j = 0; j < b_n; j++)
            cr_assert_eq(twice.d_b[j], 2.0f * once.d_b[j], "%s: d_b[%zu] not doubled", i ? "cpu" : "vulkan", j);
        for (size_t j = 0; j < 11; j++)
            cr_assert_eq(twice.d_bias[j], 2.0f * once.d_bias[j], "%s: d_bias not doubled", i ? "cpu" : "vulkan");
        cr_assert_arr_eq(twice.d_a, once.d_a, a_n * 4, "d_a must be overwritten, not accumulated");
        /* Each output alone (the others NULL) gives the same bits. */
        mm_result only_b = run_matmul_backward(ctxs[i], &c, a, b, g, zeros, zeros, false, MG_DTYPE_F32, false, true,
                                               false, 1);
        mm_result only_a = run_matmul_backward(ctxs[i], &c, a, b, g, zeros, zeros, false, MG_DTYPE_F32, true, false,
                                               false, 1);
        mm_result only_bias = run_matmul_backward(ctxs[i], &c, a, b, g, zeros, zeros, false, MG_DTYPE_F32, false,
                                                  false, true, 1);
        cr_assert_arr_eq(only_b.d_b, once.d_b, b_n * 4);
        cr_assert_arr_eq(only_a.d_a, once.d_a, a_n * 4);
        cr_assert_arr_eq(only_bias.d_bias, once.d_bias, 11 * 4);
        free_mm(once), free_mm(twice), free_mm(only_a), free_mm(only_b), free_mm(only_bias);
    }
    free(a), free(b), free(g), free(zeros);
    test_close_pair(pair);
}

/* ---- embedding ---- */

static float *run_embedding_backward(mg_context *ctx, int64_t vocab, int64_t dim, const int32_t *ids, int64_t n,
                                     const float *g, const float *init, bool through_ids)
{
    int64_t g_shape[2] = {n, dim}, t_shape[2] = {vocab, dim};
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 2, g_shape, g, 1);
    test_guarded dt = grad_out(ctx, 2, t_shape, init);
    if (through_ids) {
        cr_assert_eq(mg_op_embedding_backward_ids(ctx, tg, ids, (size_t)n, dt.view), MG_OK, "%s",
                     mg_context_last_error(ctx));
    } else {
        mg_embedding_grad_index index;
        cr_assert_eq(mg_embedding_grad_index_build(ctx, ids, (size_t)n, (size_t)vocab, &index), MG_OK);
        int64_t u_shape[1] = {(int64_t)index.unique}, o_shape[1] = {(int64_t)index.unique + 1},
                p_shape[1] = {(int64_t)index.nnz};
        mg_tensor *rows = test_offset_ids(ctx, 1, u_shape, index.rows, 3);
        mg_tensor *offsets = test_offset_ids(ctx, 1, o_shape, index.offsets, 1);
        mg_tensor *positions = test_offset_ids(ctx, 1, p_shape, index.positions, 5);
        cr_assert_eq(mg_op_embedding_backward(ctx, tg, rows, offsets, positions, index.max_count, dt.view), MG_OK,
                     "%s", mg_context_last_error(ctx));
        mg_tensor_free(rows), mg_tensor_free(offsets), mg_tensor_free(positions);
        mg_embedding_grad_index_free(&index);
    }
    mg_tensor_free(tg);
    return take(&dt, "d_table");
}

Test(grad_core_vulkan, embedding_backward_matches_reference_and_independent_sum)
{
    /* The last shape repeats one id 70000 times: several chunks of its list on CPU devices. */
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {1000, 7, 1031}, {257, 128, 64}, {5, 3, 70000}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < 5; si++) {
        int64_t vocab = shapes[si][0], dim = shapes[si][1], n = shapes[si][2];
        size_t t_n = (size_t)(vocab * dim);
        int32_t *ids = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            ids[i] = i % 11 == 5 ? -1 : i % 13 == 7 ? (int32_t)vocab : si == 4 ? 2 : (int32_t)((i * 7919) % vocab);
        float *g = uniform((size_t)(n * dim), (uint32_t)si, -1, 1), *init = uniform(t_n, (uint32_t)si + 9, -1, 1);
        /* Independent: the scatter-add by id, in double. */
        double *sum = calloc(t_n, sizeof *sum);
        for (int64_t i = 0; i < n; i++)
            if (ids[i] >= 0 && ids[i] < vocab)
                for (int64_t c = 0; c < dim; c++)
                    sum[ids[i] * dim + c] += g[i * dim + c];
        float *want = malloc(t_n * 4);
        for (size_t i = 0; i < t_n; i++)
            want[i] = (float)(init[i] + sum[i]);
        for (int via_ids = 0; via_ids < 2; via_ids++) {
            char what[96];
            snprintf(what, sizeof what, "embedding_backward %lldx%lld, %lld ids%s", (long long)vocab, (long long)dim,
                     (long long)n, via_ids ? " (from host ids)" : "");
            float *got = run_embedding_backward(ctx.vk, vocab, dim, ids, n, g, init, via_ids);
            float *ref = run_embedding_backward(ctx.ref, vocab, dim, ids, n, g, init, via_ids);
            test_compare(what, got, want, t_n, NMSE);
            test_compare(what, ref, want, t_n, 1e-12);
            free(got), free(ref);
        }
        free(ids), free(g), free(init), free(sum), free(want);
    }
    test_close_pair(ctx);
}

Test(grad_core_vulkan, embedding_backward_refuses_bad_lists_on_the_cpu_and_stays_in_bounds_on_vulkan)
{
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.vk, pair.ref};
    static const int32_t rows[] = {1, 9, 0}, offsets[] = {0, 2, 3, 9}, positions[] = {0, 7, 1, 2};
    for (int i = 0; i < 2; i++) {
        mg_context *ctx = ctxs[i];
        int64_t g_shape[2] = {3, 2}, t_shape[2] = {4, 2}, r_shape[1] = {3}, o_shape[1] = {4}, p_shape[1] = {4};
        float g[6] = {1, 2, 3, 4, 5, 6}, init[8] = {0};
        mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 2, g_shape, g, 1);
        mg_tensor *tr = test_offset_ids(ctx, 1, r_shape, rows, 1), *to = test_offset_ids(ctx, 1, o_shape, offsets, 1),
                  *tp = test_offset_ids(ctx, 1, p_shape, positions, 1);
        test_guarded dt = grad_out(ctx, 2, t_shape, init);
        mg_status status = mg_op_embedding_backward(ctx, tg, tr, to, tp, 0, dt.view);
        float *got = take(&dt, "d_table");
        if (i == 1) {
            cr_assert_eq(status, MG_ERR_INVALID_ARGUMENT, "the CPU backend must refuse row 9 of a 4-row table");
        } else {
            /* Row 9 skipped, position 7 skipped, the last range clamped to nnz = 4. */
            cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
            static const double want[] = {5, 6, 1, 2, 0, 0, 0, 0};
            test_assert_close(got, want, 8, 0);
        }
        free(got);
        mg_tensor_free(tg), mg_tensor_free(tr), mg_tensor_free(to), mg_tensor_free(tp);
    }
    test_close_pair(pair);
}

/* ---- unary, GEGLU ---- */

static float *run_unary_backward(mg_context *ctx, mg_unary_op op, const int64_t *shape, const float *x,
                                 const float *g, bool in_place)
{
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 1);
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, g, 2);
    test_guarded out = {0};
    mg_tensor *target = tg;
    if (!in_place) {
        out = grad_out(ctx, 2, shape, NULL);
        target = out.view;
    }
    cr_assert_eq(mg_op_unary_backward(ctx, op, op == MG_UNARY_SCALE ? NULL : tx, -1.5f, tg, target), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float *r = in_place ? test_read(tg) : take(&out, "unary_backward");
    mg_tensor_free(tx), mg_tensor_free(tg);
    return r;
}

static const int64_t row_shapes[][2] = {{1, 1}, {1, 7}, {7, 33}, {33, 100}, {3, 513}, {1031, 7}, {2, 1025}};
#define ROW_SHAPES (sizeof row_shapes / sizeof row_shapes[0])

Test(grad_core_vulkan, unary_and_geglu_backward_match_reference)
{
    static const char *names[] = {"scale", "silu", "gelu", "sigmoid", "tanh", "relu"};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < ROW_SHAPES; si++) {
        const int64_t *shape = row_shapes[si];
        size_t n = (size_t)(shape[0] * shape[1]);
        float *x = uniform(n, (uint32_t)si, -6, 6), *g = uniform(n, (uint32_t)si + 20, -1, 1);
        for (int op = MG_UNARY_SCALE; op <= MG_UNARY_RELU; op++)
            for (int in_place = 0; in_place < 2; in_place++) {
                char what[96];
                snprintf(what, sizeof what, "%s_backward [%lld, %lld]%s", names[op], (long long)shape[0],
                         (long long)shape[1], in_place ? " in place" : "");
                float *got = run_unary_backward(ctx.vk, (mg_unary_op)op, shape, x, g, in_place);
                float *want = run_unary_backward(ctx.ref, (mg_unary_op)op, shape, x, g, in_place);
                test_compare(what, got, want, n, NMSE);
                free(got), free(want);
            }
        /* GEGLU: x [rows, 2w] */
        int64_t x_shape[2] = {shape[0], 2 * shape[1]};
        float *x2 = uniform(2 * n, (uint32_t)si + 40, -5, 5);
        float *results[2];
        for (int b = 0; b < 2; b++) {
            mg_context *c = b ? ctx.ref : ctx.vk;
            mg_tensor *tx = test_offset_input(c, MG_DTYPE_F32, 2, x_shape, x2, 3);
            mg_tensor *tg = test_offset_input(c, MG_DTYPE_F32, 2, shape, g, 1);
            test_guarded dx = grad_out(c, 2, x_shape, NULL);
            cr_assert_eq(mg_op_geglu_backward(c, tx, tg, dx.view), MG_OK, "%s", mg_context_last_error(c));
            results[b] = take(&dx, "geglu_backward");
            mg_tensor_free(tx), mg_tensor_free(tg);
        }
        test_compare("geglu_backward", results[0], results[1], 2 * n, NMSE);
        free(results[0]), free(results[1]), free(x2), free(x), free(g);
    }
    test_close_pair(ctx);
}

/* ---- normalisations ---- */

typedef struct norm_result {
    float *d_x, *d_gamma, *d_beta;
} norm_result;

static norm_result run_norm_backward(mg_context *ctx, mg_norm_mode mode, const int64_t *shape, const float *x,
                                     const float *gamma, const float *g, const float *init, mg_dtype wt,
                                     bool want_x, bool want_gamma, bool want_beta, int calls)
{
    int64_t dim_shape[1] = {shape[1]};
    mg_tensor *tx = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, x, 1);
    mg_tensor *tg = test_offset_input(ctx, MG_DTYPE_F32, 2, shape, g, 2);
    mg_tensor *tgamma = gamma ? test_offset_input(ctx, wt, 1, dim_shape, gamma, 3) : NULL;
    test_guarded dx = {0}, dgamma = {0}, dbeta = {0};
    if (want_x)
        dx = grad_out(ctx, 2, shape, NULL);
    if (want_gamma)
        dgamma = grad_out(ctx, 1, dim_shape, init);
    if (want_beta)
        dbeta = grad_out(ctx, 1, dim_shape, init);
    for (int i = 0; i < calls; i++) {
        mg_status status;
        if (mode == MG_NORM_LAYER)
            status = mg_op_layer_norm_backward(ctx, tx, tgamma, 1e-5f, 1.0f, tg, dx.view, dgamma.view, dbeta.view);
        else if (mode == MG_NORM_RMS)
            status = mg_op_rms_norm_backward(ctx, tx, tgamma, 1e-6f, 1.0f, tg, dx.view, dgamma.view);
        else
            status = mg_op_l2_normalize_backward(ctx, tx, tgamma, 1e-12f, 4.0f, 1.0f, tg, dx.view, dgamma.view);
        cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
    }
    norm_result r = {take(&dx, "d_x"), take(&dgamma, "d_gamma"), take(&dbeta, "d_beta")};
    mg_tensor_free(tx), mg_tensor_free(tg), mg_tensor_free(tgamma);
    return r;
}

static void free_norm(norm_result r)
{
    free(r.d_x), free(r.d_gamma), free(r.d_beta);
}

Test(grad_core_vulkan, norm_backward_matches_reference_f32_and_f16_gains)
{
    static const char *names[] = {"layer_norm", "rms_norm", "l2_normalize"};
    /* 70000 rows of 3: the gain gradients span two row chunks on CPU devices. */
    static const int64_t shapes[][2] = {{1, 1}, {7, 33}, {33, 100}, {3, 513}, {1031, 7}, {2, 1025}, {70000, 3}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < 7; si++) {
        const int64_t *shape = shapes[si];
        size_t n = (size_t)(shape[0] * shape[1]), dim = (size_t)shape[1];
        float *x = uniform(n, (uint32_t)si, -2, 3), *g = uniform(n, (uint32_t)si + 10, -1, 1);
        float *gamma = uniform(dim, (uint32_t)si + 20, -0.5f, 0.5f), *init = uniform(dim, (uint32_t)si + 30, -1, 1);
        for (int mode = 0; mode < 3; mode++)
            for (int f16 = 0; f16 < 2; f16++) {
                /* A single element: RMS and L2 give x / |x| (times gains), whose true derivative is
                 * ~eps / |x|^3, far below the f32 resolution of the terms it cancels from. */
                if (dim == 1 && mode != MG_NORM_LAYER)
                    continue;
                mg_dtype wt = f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
                bool beta = mode == MG_NORM_LAYER;
                char what[96];
                snprintf(what, sizeof what, "%s_backward [%lld, %lld] %s gamma", names[mode], (long long)shape[0],
                         (long long)shape[1], f16 ? "f16" : "f32");
                norm_result got = run_norm_backward(ctx.vk, (mg_norm_mode)mode, shape, x, gamma, g, init, wt, true,
                                                    true, beta, 1);
                norm_result want = run_norm_backward(ctx.ref, (mg_norm_mode)mode, shape, x, gamma, g, init, wt, true,
                                                     true, beta, 1);
                test_compare(what, got.d_x, want.d_x, n, NMSE);
                test_compare(what, got.d_gamma, want.d_gamma, dim, NMSE);
                if (beta)
                    test_compare(what, got.d_beta, want.d_beta, dim, NMSE);
                free_norm(got), free_norm(want);
            }
        /* No gain at all. */
        norm_result got = run_norm_backward(ctx.vk, MG_NORM_LAYER, shape, x, NULL, g, init, MG_DTYPE_F32, true, false,
                                            true, 1);
        norm_result want = run_norm_backward(ctx.ref, MG_NORM_LAYER, shape, x, NULL, g, init, MG_DTYPE_F32, true,
                                             false, true, 1);
        test_compare("layer_norm_backward without gamma", got.d_x, want.d_x, n, NMSE);
        test_compare("layer_norm_backward without gamma", got.d_beta, want.d_beta, dim, NMSE);
        free_norm(got), free_norm(want);
        free(x), free(g), free(gamma), free(init);
    }
    test_close_pair(ctx);
}

Test(grad_core_vulkan, norm_backward_accumulates_and_skips_null)
{
    test_pair pair = test_open_pair();
    mg_context *ctxs[2] = {pair.vk, pair.ref};
    int64_t shape[2] = {9, 37};
    size_t n = 9 * 37;
    float *x = uniform(n, 1, -2, 2), *g = uniform(n, 2, -1, 1), *gamma = uniform(37, 3, -1, 1);
    float *zeros = calloc(37, 4);
    for (int i = 0; i < 2; i++) {
        norm_result once = run_norm_backward(ctxs[i], MG_NORM_LAYER, shape, x, gamma, g, zeros, MG_DTYPE_F16, true,
                                             true, true, 1);
        norm_result twice = run_norm_backward(ctxs[i], MG_NORM_LAYER, shape, x, gamma, g, zeros, MG_DTYPE_F16, true,
                                              true, true, 2);
        for (size_t j = 0; j < 37; j++) {
            cr_assert_eq(twice.d_gamma[j], 2.0f * once.d_gamma[j], "d_gamma not doubled");
            cr_assert_eq(twice.d_beta[j], 2.0f * once.d_beta[j], "d_beta not doubled");
        }
        cr_assert_arr_eq(twice.d_x, once.d_x, n * 4);
        norm_result only_gamma = run_norm_backward(ctxs[i], MG_NORM_LAYER, shape, x, gamma, g, zeros, MG_DTYPE_F16,
                                                   false, true, false, 1);
        norm_result only_x = run_norm_backward(ctxs[i], MG_NORM_LAYER, shape, x, gamma, g, zeros, MG_DTYPE_F16, true,
                                               false, false, 1);
        cr_assert_arr_eq(only_gamma.d_gamma, once.d_gamma, 37 * 4);
        cr_assert_arr_eq(only_x.d_x, once.d_x, n * 4);
        free_norm(once), free_norm(twice), free_norm(only_gamma), free_norm(only_x);
    }
    free(x), free(g), free(gamma), free(zeros);
    test_close_pair(pair);
}

/* ---- softmax ---- */

Test(grad_core_vulkan, softmax_backward_matches_reference_with_mask_causal_in_place)
{
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < ROW_SHAPES; si++) {
        int64_t rows = row_shapes[si][0], n = row_shapes[si][1];
        size_t count = (size_t)(rows * n);
        float *x = uniform(count, (uint32_t)si, -4, 4), *g = uniform(count, (uint32_t)si + 3, -1, 1);
        int64_t mask_rows = (rows + 1) / 2, mask_shape[2] = {mask_rows, n}, shape[2] = {rows, n};
        int32_t *mask = malloc((size_t)(mask_rows * n) * 4);
        for (int64_t i = 0; i < mask_rows * n; i++)
            mask[i] = (i * 7) % 5 != 0;
        for (int variant = 0; variant < 3; variant++)
            for (int in_place = 0; in_place < 2; in_place++) {
                float *results[2];
                for (int b = 0; b < 2; b++) {
                    mg_context *c = b ? ctx.ref : ctx.vk;
                    mg_softmax_options o = mg_softmax_default_options();
                    o.scale = 0.3f;
                    mg_tensor *tm = test_offset_ids(c, 2, mask_shape, mask, 1);
                    if (variant >= 1) {
                        o.mask = tm;
                        o.mask_row_divisor = 2;
                    }
                    if (variant == 2) {
                        o.causal = true;
                        o.causal_queries = 5;
                        o.causal_offset = 2;
                    }
                    mg_tensor *tx = test_offset_input(c, MG_DTYPE_F32, 2, shape, x, 1);
                    test_guarded y = grad_out(c, 2, shape, NULL);
                    cr_assert_eq(mg_op_softmax(c, tx, &o, y.view), MG_OK, "%s", mg_context_last_error(c));
                    mg_tensor *tg = test_offset_input(c, MG_DTYPE_F32, 2, shape, g, 2);
                    test_guarded dx = {0};
                    if (!in_place)
                        dx = grad_out(c, 2, shape, NULL);
                    cr_assert_eq(mg_op_softmax_backward(c, y.view, tg, &o, in_place ? tg : dx.view), MG_OK, "%s",
                                 mg_context_last_error(c));
                    results[b] = in_place ? test_read(tg) : take(&dx, "softmax_backward");
                    test_guard_check(&y, "softmax");
                    mg_tensor_free(tx), mg_tensor_free(tg), mg_tensor_free(tm);
                }
                char what[96];
                snprintf(what, sizeof what, "softmax_backward [%lld, %lld] variant %d%s", (long long)rows,
                         (long long)n, variant, in_place ? " in place" : "");
                test_compare(what, results[0], results[1], count, NMSE);
                free(results[0]), free(results[1]);
            }
        free(x), free(g), free(mask);
    }
    test_close_pair(ctx);
}

/* ---- column sum ---- */

Test(grad_core_vulkan, column_sum_matches_reference)
{
    /* {groups, rows, columns}; 70000 rows span two chunks on CPU devices. */
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 33, 7}, {3, 17, 100}, {5, 1, 9}, {1, 70000, 3}, {2, 9, 1031}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < 6; si++) {
        int64_t gr = shapes[si][0], r = shapes[si][1], c = shapes[si][2];
        size_t n = (size_t)(gr * r * c), out_n = (size_t)(gr * c);
        float *x = uniform(n, (uint32_t)si, -1, 1), *w = uniform(n, (uint32_t)si + 1, -2, 2);
        float *init = uniform(out_n, (uint32_t)si + 2, -1, 1);
        int64_t x_shape[3] = {gr, r, c}, out_shape[2] = {gr, c};
        for (int variant = 0; variant < 4; variant++) {
            bool weighted = variant & 1, accumulate = variant & 2;
            float *results[2];
            for (int b = 0; b < 2; b++) {
                mg_context *cx = b ? ctx.ref : ctx.vk;
                mg_tensor *tx = test_offset_input(cx, MG_DTYPE_F32, 3, x_shape, x, 1);
                mg_tensor *tw = weighted ? test_offset_input(cx, MG_DTYPE_F32, 3, x_shape, w, 2) : NULL;
                test_guarded out = grad_out(cx, 2, out_shape, accumulate ? init : NULL);
                cr_assert_eq(mg_op_column_sum(cx, tx, tw, (size_t)gr, accumulate, out.view), MG_OK, "%s",
                             mg_context_last_error(cx));
                results[b] = take(&out, "column_sum");
                mg_tensor_free(tx), mg_tensor_free(tw);
            }
            char what[96];
            snprintf(what, sizeof what, "column_sum [%lld, %lld, %lld]%s%s", (long long)gr, (long long)r,
                     (long long)c, weighted ? " weighted" : "", accumulate ? " accumulate" : "");
            test_compare(what, results[0], results[1], out_n, NMSE);
            free(results[0]), free(results[1]);
        }
        free(x), free(w), free(init);
    }
    test_close_pair(ctx);
}

/* ---- cross-entropy ---- */

Test(grad_core_vulkan, cross_entropy_matches_reference_with_ignore_weights_in_place)
{
    /* {rows, classes}: the transformer's vocabulary is 16385 (codebook + EOS). */
    static const int64_t shapes[][2] = {{1, 1}, {7, 5}, {33, 130}, {5, 16385}, {1031, 7}};
    test_pair ctx = test_open_pair();
    for (size_t si = 0; si < 5; si++) {
        int64_t rows = shapes[si][0], v = shapes[si][1], shape[2] = {rows, v}, row_shape[1] = {rows};
        size_t count = (size_t)(rows * v);
        float *x = uniform(count, (uint32_t)si, -8, 8), *weights = uniform((size_t)rows, (uint32_t)si + 1, 0, 2);
        int32_t *targets = malloc((size_t)rows * 4);
        for (int64_t r = 0; r < rows; r++)
            targets[r] = r % 5 == 3 ? -100 : r % 7 == 6 ? -1 : (int32_t)((r * 31) % v);
        for (int variant = 0; variant < 4; variant++) {
            bool weighted = variant & 1, in_place = variant & 2;
            float *loss[2], *grad[2];
            for (int b = 0; b < 2; b++) {
                mg_context *c = b ? ctx.ref : ctx.vk;
                mg_tensor *tx = test_offset_input(c, MG_DTYPE_F32, 2, shape, x, 1);
                mg_tensor *tt = test_offset_ids(c, 1, row_shape, targets, 3);
                mg_tensor *tw = weighted ? test_offset_input(c, MG_DTYPE_F32, 1, row_shape, weights, 2) : NULL;
                test_guarded tl = grad_out(c, 1, row_shape, NULL), td = {0};
                if (!in_place)
                    td = grad_out(c, 2, shape, NULL);
                cr_assert_eq(mg_op_cross_entropy(c, tx, tt, tw, 0.125f, tl.view, in_place ? tx : td.view), MG_OK, "%s",
                             mg_context_last_error(c));
                loss[b] = take(&tl, "loss");
                grad[b] = in_place ? test_read(tx) : take(&td, "d_logits");
                mg_tensor_free(tx), mg_tensor_free(tt), mg_tensor_free(tw);
            }
            char what[96];
            snprintf(what, sizeof what, "cross_entropy [%lld, %lld]%s%s", (long long)rows, (long long)v,
                     weighted ? " weighted" : "", in_place ? " in place" : "");
            test_compare(what, loss[0], loss[1], (size_t)rows, NMSE);
            test_compare(what, grad[0], grad[1], count, NMSE);
            for (int64_t r = 0; r < rows; r++)
                if (targets[r] < 0)
                    cr_assert_eq(loss[0][r], 0.0f, "%s: ignored row %lld has a loss", what, (long long)r);
            free(loss[0]), free(loss[1]), free(grad[0]), free(grad[1]);
        }
        free(x), free(weights), free(targets);
    }
    test_close_pair(ctx);
}

Test(grad_core_vulkan, cross_entropy_target_out_of_range)
{
    test_pair pair = test_open_pair();
    int64_t shape[2] = {2, 3}, row_shape[1] = {2};
    float x[6] = {1, 2, 3, 4, 5, 6};
    int32_t targets[2] = {3, 1};
    for (int b = 0; b < 2; b++) {
        mg_context *c = b ? pair.ref : pair.vk;
        mg_tensor *tx = test_offset_input(c, MG_DTYPE_F32, 2, shape, x, 1);
        mg_tensor *tt = test_offset_ids(c, 1, row_shape, targets, 1);
        test_guarded tl = grad_out(c, 1, row_shape, NULL);
        mg_status status = mg_op_cross_entropy(c, tx, tt, NULL, 1.0f, tl.view, NULL);
        float *loss = take(&tl, "loss");
        if (b) {
            cr_assert_eq(status, MG_ERR_INVALID_ARGUMENT, "the CPU backend must refuse target 3 of 3 classes");
        } else {
            cr_assert_eq(status, MG_OK);
            cr_assert_eq(loss[0], 0.0f, "Vulkan ignores a row whose target is out of range");
            cr_assert_float_eq(loss[1], (float)(5.0 + log(1.0 + exp(-1.0) + exp(1.0)) - 5.0) , 1e-5);
        }
        free(loss);
        mg_tensor_free(tx), mg_tensor_free(tt);
    }
    test_close_pair(pair);
}
