/*
 * The CPU reference of the generic backward ops (ops_grad.h) against central
 * finite differences of the CPU FORWARD reference: L = sum(w * forward(inputs))
 * in double with random w, so dL/dinput is the backward of d_out = w.
 *
 * Step: h = 1e-3 (the step actually taken is (x + h) - (x - h) after rounding
 * to f32). Tolerance: |numeric - analytic| <= 2e-3 * max|analytic| + 1e-5 for
 * every element (the forward outputs are f32: their rounding, divided by the
 * step, bounds the numeric derivative's error near 1e-4 relative; the smooth
 * ops' truncation error is O(h^2) = 1e-6).
 * Shapes are odd (nothing a multiple of 4) and small enough to check every element.
 */
#include "test_util.h"

#include "ops/ops_grad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_STEP 1e-3
#define FD_REL 2e-3
#define FD_ABS 1e-5

typedef double (*loss_fn)(void *state);

static double weighted_sum(const float *w, const float *out, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)w[i] * (double)out[i];
    return s;
}

/* Checks grad (the analytic dL/dx) against central differences of loss() in every element of x. */
static void fd_check(const char *what, float *x, size_t n, const float *grad, loss_fn loss, void *state)
{
    double max_grad = 0.0;
    for (size_t i = 0; i < n; i++)
        max_grad = fmax(max_grad, fabs(grad[i]));
    double tol = FD_REL * max_grad + FD_ABS;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float plus = (float)(v + FD_STEP), minus = (float)(v - FD_STEP);
        x[i] = plus;
        double lp = loss(state);
        x[i] = minus;
        double lm = loss(state);
        x[i] = v;
        double numeric = (lp - lm) / ((double)plus - (double)minus);
        cr_assert(fabs(numeric - grad[i]) <= tol, "%s: element %zu: analytic %.8g, finite difference %.8g (tol %.3g)",
                  what, i, grad[i], numeric, tol);
    }
}

static float *uniform(size_t n, uint32_t seed, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    test_fill_uniform(v, n, seed, lo, hi);
    return v;
}

/* ---- matmul ---- */

typedef struct matmul_state {
    size_t batch, m, n, k;
    bool transposed, broadcast;
    float *a, *b, *bias, *w, *out;
} matmul_state;

static double matmul_loss(void *p)
{
    matmul_state *s = p;
    mg_ref_param b = {s->b, false}, bias = {s->bias, false};
    mg_ref_matmul(s->batch, s->m, s->n, s->k, s->a, b, s->transposed, s->broadcast, bias, s->out);
    return weighted_sum(s->w, s->out, s->batch * s->m * s->n);
}

Test(grad_core_ref, matmul_matches_finite_differences)
{
    static const size_t shapes[][4] = {{1, 3, 5, 7}, {2, 3, 5, 7}, {3, 1, 2, 9}, {1, 1, 1, 1}};
    for (size_t si = 0; si < 4; si++)
        for (int transposed = 0; transposed < 2; transposed++)
            for (int broadcast = 0; broadcast < 2; broadcast++) {
                matmul_state s = {shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], transposed, broadcast,
                                  NULL, NULL, NULL, NULL, NULL};
                size_t a_n = s.batch * s.m * s.k, b_n = (broadcast ? 1 : s.batch) * s.k * s.n,
                       o_n = s.batch * s.m * s.n;
                uint32_t seed = (uint32_t)(si * 8 + transposed * 2 + broadcast);
                s.a = uniform(a_n, seed, -1, 1);
                s.b = uniform(b_n, seed + 100, -1, 1);
                s.bias = uniform(s.n, seed + 200, -1, 1);
                s.w = uniform(o_n, seed + 300, -1, 1);
                s.out = malloc(o_n * 4);
                /* Parameter gradients accumulate: start from known values and subtract them. */
                float *d_a = malloc(a_n * 4), *d_b = uniform(b_n, 7, -1, 1), *d_bias = uniform(s.n, 8, -1, 1);
                float *d_b0 = malloc(b_n * 4), *d_bias0 = malloc(s.n * 4);
                memcpy(d_b0, d_b, b_n * 4);
                memcpy(d_bias0, d_bias, s.n * 4);
                mg_ref_param b = {s.b, false};
                cr_assert(mg_ref_matmul_backward(s.batch, s.m, s.n, s.k, s.a, b, transposed, broadcast, s.w, d_a, d_b,
                                                 d_bias));
                for (size_t i = 0; i < b_n; i++)
                    d_b[i] -= d_b0[i];
                for (size_t i = 0; i < s.n; i++)
                    d_bias[i] -= d_bias0[i];
                char what[96];
                snprintf(what, sizeof what, "matmul %zux[%zu,%zu,%zu]%s%s", s.batch, s.m, s.n, s.k,
                         transposed ? " transposed" : "", broadcast ? " shared b" : "");
                fd_check(what, s.a, a_n, d_a, matmul_loss, &s);
                fd_check(what, s.b, b_n, d_b, matmul_loss, &s);
                fd_check(what, s.bias, s.n, d_bias, matmul_loss, &s);
                free(s.a), free(s.b), free(s.bias), free(s.w), free(s.out);
                free(d_a), free(d_b), free(d_bias), free(d_b0), free(d_bias0);
            }
}

/* ---- embedding ---- */

typedef struct embedding_state {
    size_t n_ids, dim, vocab;
    const int32_t *ids;
    float *table, *w, *out;
} embedding_state;

static double embedding_loss(void *p)
{
    embedding_state *s = p;
    mg_ref_param t = {s->table, false};
    mg_ref_embedding(s->n_ids, s->dim, s->vocab, s->ids, t, s->out);
    return weighted_sum(s->w, s->out, s->n_ids * s->dim);
}

Test(grad_core_ref, embedding_matches_finite_differences_and_skips_pads)
{
    mg_context *ctx = test_cpu_context();
    static const int32_t ids[] = {3, -1, 0, 3, 6, 3, 7, 0, -100, 2, 3};
    embedding_state s = {11, 5, 7, ids, NULL, NULL, NULL};
    s.table = uniform(s.vocab * s.dim, 1, -1, 1);
    s.w = uniform(s.n_ids * s.dim, 2, -1, 1);
    s.out = malloc(s.n_ids * s.dim * 4);
    mg_embedding_grad_index index;
    cr_assert_eq(mg_embedding_grad_index_build(ctx, ids, s.n_ids, s.vocab, &index), MG_OK);
    /* ids 0, 2, 3, 6 appear (7 is outside a 7-row table, -1 and -100 are pads). */
    cr_assert_eq(index.unique, 4);
    cr_assert_eq(index.nnz, 8);
    cr_assert_eq(index.max_count, 4);
    static const int32_t want_rows[] = {0, 2, 3, 6}, want_offsets[] = {0, 2, 3, 7, 8},
                         want_positions[] = {2, 7, 9, 0, 3, 5, 10, 4};
    cr_assert_arr_eq(index.rows, want_rows, sizeof want_rows);
    cr_assert_arr_eq(index.offsets, want_offsets, sizeof want_offsets);
    cr_assert_arr_eq(index.positions, want_positions, sizeof want_positions);
    float *d_table = calloc(s.vocab * s.dim, 4);
    mg_ref_embedding_backward(s.dim, index.unique, index.rows, index.offsets, index.positions, s.w, d_table);
    fd_check("embedding", s.table, s.vocab * s.dim, d_table, embedding_loss, &s);
    mg_embedding_grad_index_free(&index);
    free(s.table), free(s.w), free(s.out), free(d_table);
    test_close(ctx);
}

/* ---- unary ---- */

typedef struct unary_state {
    mg_unary_op op;
    size_t n;
    float alpha, *x, *w, *out;
} unary_state;

static double unary_loss(void *p)
{
    unary_state *s = p;
    mg_ref_unary(s->op, s->n, s->x, s->alpha, 0.25f, s->out);
    return weighted_sum(s->w, s->out, s->n);
}

Test(grad_core_ref, unary_matches_finite_differences)
{
    static const char *names[] = {"scale", "silu", "gelu", "sigmoid", "tanh", "relu"};
    for (int op = MG_UNARY_SCALE; op <= MG_UNARY_RELU; op++) {
        unary_state s = {(mg_unary_op)op, 37, op == MG_UNARY_SCALE ? -1.5f : 1.0f, NULL, NULL, NULL};
        s.x = uniform(s.n, (uint32_t)op, -4, 4);
        for (size_t i = 0; i < s.n; i++)
            if (fabsf(s.x[i]) < 0.01f)
                s.x[i] = 0.5f; /* relu's kink: no finite difference there */
        s.w = uniform(s.n, (uint32_t)op + 10, -1, 1);
        s.out = malloc(s.n * 4);
        float *d_x = malloc(s.n * 4);
        mg_ref_unary_backward(s.op, s.n, s.x, s.alpha, s.w, d_x);
        fd_check(names[op], s.x, s.n, d_x, unary_loss, &s);
        free(s.x), free(s.w), free(s.out), free(d_x);
    }
}

/* ---- normalisations ---- */

typedef struct norm_state {
    mg_norm_params p;
    size_t rows, dim;
    float *x, *gamma, *beta, *w, *out;
} norm_state;

static double norm_loss(void *p)
{
    norm_state *s = p;
    mg_ref_param g = {s->gamma, false}, b = {s->beta, false};
    mg_ref_norm(&s->p, s->rows, s->dim, s->x, g, b, s->out);
    return weighted_sum(s->w, s->out, s->rows * s->dim);
}

static void check_norm(const char *what, mg_norm_params p, bool with_gamma, bool with_beta, float x_scale)
{
    norm_state s = {p, 5, 13, NULL, NULL, NULL, NULL, NULL};
    size_t n = s.rows * s.dim;
    s.x = uniform(n, 1, -2, 2);
    for (size_t i = 0; i < n; i++)
        s.x[i] = s.x[i] * x_scale + (p.mode == MG_NORM_LAYER ? 0.7f * x_scale : 0.0f);
    s.gamma = with_gamma ? uniform(s.dim, 2, -0.5f, 0.5f) : NULL;
    s.beta = with_beta ? uniform(s.dim, 3, -1, 1) : NULL;
    s.w = uniform(n, 4, -1, 1);
    s.out = malloc(n * 4);
    float *d_x = malloc(n * 4), *d_gamma = calloc(s.dim, 4), *d_beta = calloc(s.dim, 4);
    mg_ref_param g = {s.gamma, false};
    cr_assert(mg_ref_norm_backward(&s.p, s.rows, s.dim, s.x, g, s.w, d_x, with_gamma ? d_gamma : NULL,
                                   with_beta ? d_beta : NULL));
    fd_check(what, s.x, n, d_x, norm_loss, &s);
    if (with_gamma)
        fd_check(what, s.gamma, s.dim, d_gamma, norm_loss, &s);
    if (with_beta)
        fd_check(what, s.beta, s.dim, d_beta, norm_loss, &s);
    free(s.x), free(s.gamma), free(s.beta), free(s.w), free(s.out), free(d_x), free(d_gamma), free(d_beta);
}

Test(grad_core_ref, norms_match_finite_differences)
{
    check_norm("layer_norm gamma+1 beta", (mg_norm_params){MG_NORM_LAYER, 1e-5f, 1.0f, 1.0f}, true, true, 1.0f);
    check_norm("layer_norm plain", (mg_norm_params){MG_NORM_LAYER, 1e-5f, 0.0f, 1.0f}, false, false, 1.0f);
    check_norm("layer_norm gamma only", (mg_norm_params){MG_NORM_LAYER, 1e-5f, 0.0f, 1.0f}, true, false, 1.0f);
    check_norm("rms_norm", (mg_norm_params){MG_NORM_RMS, 1e-6f, 1.0f, 1.0f}, true, false, 1.0f);
    check_norm("l2_normalize", (mg_norm_params){MG_NORM_L2, 1e-12f, 1.0f, 3.6f}, true, false, 1.0f);
    check_norm("l2_normalize no gamma", (mg_norm_params){MG_NORM_L2, 1e-12f, 0.0f, 2.0f}, false, false, 1.0f);
    /* Norms below eps: the divisor is eps, a constant (x / eps * scale). */
    check_norm("l2_normalize below eps", (mg_norm_params){MG_NORM_L2, 10.0f, 1.0f, 1.0f}, true, false, 0.1f);
}

/* ---- GEGLU ---- */

typedef struct geglu_state {
    size_t rows, n;
    float *x, *w, *out;
} geglu_state;

static double geglu_loss(void *p)
{
    geglu_state *s = p;
    mg_ref_geglu(s->rows, s->n, s->x, s->out);
    return weighted_sum(s->w, s->out, s->rows * s->n);
}

Test(grad_core_ref, geglu_matches_finite_differences)
{
    geglu_state s = {3, 7, NULL, NULL, NULL};
    s.x = uniform(s.rows * 2 * s.n, 1, -3, 3);
    s.w = uniform(s.rows * s.n, 2, -1, 1);
    s.out = malloc(s.rows * s.n * 4);
    float *d_x = malloc(s.rows * 2 * s.n * 4);
    mg_ref_geglu_backward(s.rows, s.n, s.x, s.w, d_x);
    fd_check("geglu", s.x, s.rows * 2 * s.n, d_x, geglu_loss, &s);
    free(s.x), free(s.w), free(s.out), free(d_x);
}

/* ---- softmax ---- */

typedef struct softmax_state {
    mg_softmax_params p;
    size_t rows, n;
    float *x, *w, *out;
} softmax_state;

static double softmax_loss(void *p)
{
    softmax_state *s = p;
    mg_ref_softmax(&s->p, s->rows, s->n, s->x, s->out);
    return weighted_sum(s->w, s->out, s->rows * s->n);
}

Test(grad_core_ref, softmax_matches_finite_differences_with_mask_and_causal)
{
    static const int32_t mask[] = {1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    for (int variant = 0; variant < 3; variant++) {
        softmax_state s = {{0.7f, NULL, 1, false, 1, 0}, 8, 6, NULL, NULL, NULL};
        if (variant >= 1) {
            s.p.mask = mask; /* 4 mask rows of 6, each shared by 2 rows; the third hides everything */
            s.p.mask_row_divisor = 2;
        }
        if (variant == 2) {
            s.p.causal = true;
            s.p.causal_queries = 4;
            s.p.causal_offset = 1;
        }
        size_t count = s.rows * s.n;
        s.x = uniform(count, (uint32_t)variant, -3, 3);
        s.w = uniform(count, (uint32_t)variant + 5, -1, 1);
        s.out = malloc(count * 4);
        float *y = malloc(count * 4), *d_x = malloc(count * 4);
        mg_ref_softmax(&s.p, s.rows, s.n, s.x, y);
        mg_ref_softmax_backward(&s.p, s.rows, s.n, y, s.w, d_x);
        fd_check(variant == 0 ? "softmax" : variant == 1 ? "softmax masked" : "softmax masked causal", s.x, count,
                 d_x, softmax_loss, &s);
        /* In place gives the same. */
        float *in_place = malloc(count * 4);
        memcpy(in_place, s.w, count * 4);
        mg_ref_softmax_backward(&s.p, s.rows, s.n, y, in_place, in_place);
        cr_assert_arr_eq(in_place, d_x, count * 4);
        free(s.x), free(s.w), free(s.out), free(y), free(d_x), free(in_place);
    }
}

/* ---- column sum ---- */

Test(grad_core_ref, column_sum_by_hand)
{
    /* x [2 groups, 3 rows, 2 columns] */
    static const float x[] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, 10};
    static const float w[] = {1, 0, 2, 1, 0.5f, 1, 1, 1, 1, 1, 1, 0.5f};
    float out[4] = {100, 100, 100, 100};
    mg_ref_column_sum(2, 3, 2, x, NULL, false, out);
    static const double plain[] = {9, 12, -9, 4};
    test_assert_close(out, plain, 4, 0);
    mg_ref_column_sum(2, 3, 2, x, w, true, out);
    static const double weighted[] = {9 + 1 + 6 + 2.5, 12 + 0 + 4 + 6, -9 - 9, 4 - 2 - 4 + 5};
    test_assert_close(out, weighted, 4, 1e-6);
}

/* ---- cross-entropy ---- */

typedef struct ce_state {
    size_t rows, v;
    const int32_t *targets;
    const float *weights;
    float scale, *x, *loss;
} ce_state;

static double ce_loss(void *p)
{
    ce_state *s = p;
    mg_ref_cross_entropy(s->rows, s->v, s->x, s->targets, s->weights, s->scale, s->loss, NULL);
    double total = 0.0;
    for (size_t r = 0; r < s->rows; r++)
        total += (double)s->scale * s->loss[r];
    return total;
}

Test(grad_core_ref, cross_entropy_matches_finite_differences_and_hand_values)
{
    static const int32_t targets[] = {0, -100, 4, 2, -1, 6};
    static const float weights[] = {1.0f, 2.0f, 0.5f, 1.5f, 1.0f, 3.0f};
    for (int weighted = 0; weighted < 2; weighted++) {
        ce_state s = {6, 7, targets, weighted ? weights : NULL, 1.0f / 4.0f, NULL, NULL};
        s.x = uniform(s.rows * s.v, (uint32_t)weighted, -4, 4);
        s.loss = malloc(s.rows * 4);
        float *d = malloc(s.rows * s.v * 4);
        mg_ref_cross_entropy(s.rows, s.v, s.x, targets, s.weights, s.scale, s.loss, d);
        fd_check(weighted ? "cross_entropy weighted" : "cross_entropy", s.x, s.rows * s.v, d, ce_loss, &s);
        for (size_t j = 0; j < s.v; j++) {
            cr_assert_eq(d[1 * s.v + j], 0.0f, "ignored row 1 has a gradient");
            cr_assert_eq(d[4 * s.v + j], 0.0f, "ignored row 4 has a gradient");
        }
        free(s.x), free(s.loss), free(d);
    }
    /* By hand: logits (0, ln 3) and target 1: p = (1/4, 3/4), loss = ln(4/3); a huge shift changes nothing
     * (the max is subtracted). */
    float x[4] = {1000.0f, 1000.0f + (float)log(3.0), 0.0f, (float)log(3.0)};
    int32_t t[2] = {1, 1};
    float loss[2], d[4];
    mg_ref_cross_entropy(2, 2, x, t, NULL, 0.5f, loss, d);
    static const double want_loss[] = {0.28768207245178085, 0.28768207245178085};
    static const double want_d[] = {0.125, -0.125, 0.125, -0.125};
    test_assert_close(loss, want_loss, 2, 1e-4); /* 1000 + ln 3 in f32 is off by ~3e-5 */
    test_assert_close(d, want_d, 4, 1e-5);
}

/* ---- argument checks (through the op entries, CPU backend) ---- */

Test(grad_core_ref, bad_arguments_are_refused_with_a_message)
{
    mg_context *ctx = test_cpu_context();
    int64_t shape[2] = {3, 4}, dim_shape[1] = {4}, wrong_shape[1] = {5}, out_shape[2] = {3, 5};
    float values[20] = {0};
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 2, shape, values), *g = test_tensor(ctx, MG_DTYPE_F32, 2, shape, values);
    mg_tensor *dx = test_empty(ctx, MG_DTYPE_F32, 2, shape), *gamma = test_tensor(ctx, MG_DTYPE_F16, 1, dim_shape, values);
    mg_tensor *d_gamma = test_empty(ctx, MG_DTYPE_F32, 1, dim_shape), *d_wrong = test_empty(ctx, MG_DTYPE_F32, 1, wrong_shape);
    mg_tensor *d_f16 = test_tensor(ctx, MG_DTYPE_F16, 1, dim_shape, values), *out = test_empty(ctx, MG_DTYPE_F32, 2, out_shape);
    /* d_gamma needs gamma; gradients of parameters are f32 of the parameter's size; d_x overlaps no input. */
    cr_assert_eq(mg_op_rms_norm_backward(ctx, x, NULL, 1e-6f, 0.0f, g, dx, d_gamma), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_rms_norm_backward(ctx, x, gamma, 1e-6f, 0.0f, g, dx, d_wrong), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_rms_norm_backward(ctx, x, gamma, 1e-6f, 0.0f, g, dx, d_f16), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_layer_norm_backward(ctx, x, gamma, 1e-6f, 0.0f, g, g, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "overlaps") != NULL, "%s", mg_context_last_error(ctx));
    /* A matmul gradient that matches no forward matmul. */
    cr_assert_eq(mg_op_matmul_backward(ctx, x, x, false, g, NULL, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    /* Shapes that differ from what they are the gradient of. */
    cr_assert_eq(mg_op_unary_backward(ctx, MG_UNARY_GELU, x, 1.0f, g, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_softmax_backward(ctx, x, g, NULL, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_column_sum(ctx, x, NULL, 1, false, d_wrong), MG_ERR_INVALID_ARGUMENT);
    /* All outputs NULL: nothing to do, and nothing wrong. */
    cr_assert_eq(mg_op_layer_norm_backward(ctx, x, gamma, 1e-6f, 0.0f, g, NULL, NULL, NULL), MG_OK);
    cr_assert_eq(mg_op_cross_entropy(ctx, x, d_gamma, NULL, 1.0f, NULL, NULL), MG_ERR_INVALID_ARGUMENT,
                 "targets must be i32");
    mg_tensor *tensors[] = {x, g, dx, gamma, d_gamma, d_wrong, d_f16, out};
    for (size_t i = 0; i < 8; i++)
        mg_tensor_free(tensors[i]);
    test_close(ctx);
}
