/*
 * CPU references of the autoencoder's backward ops and losses:
 *  - against central finite differences of the CPU FORWARD reference, with the
 *    loss L = sum(d_out * forward(x)) in double, step 1e-3; the forward ops
 *    return f32, so the differences carry ~1e-7 / 1e-3 relative noise: the
 *    tolerance is 2e-3 of the largest gradient plus 2e-3 relative;
 *  - against hand-computed values for the reconstruction loss;
 *  - accumulation (+=) of parameter gradients and skipped NULL outputs.
 */
#include "ops/ops_grad_ae.h"
#include "model/autoencoder.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEP 1e-3
#define REL_TOL 2e-3

typedef double (*loss_fn)(void *state);

/* Compares analytic gradients of every element of `values` with central differences of `loss`. */
static void check_fd(const char *what, loss_fn loss, void *state, float *values, size_t count, const float *analytic)
{
    double largest = 0.0;
    for (size_t i = 0; i < count; i++)
        largest = fmax(largest, fabs(analytic[i]));
    for (size_t i = 0; i < count; i++) {
        float saved = values[i];
        values[i] = (float)(saved + STEP);
        double up = loss(state);
        values[i] = (float)(saved - STEP);
        double down = loss(state);
        values[i] = saved;
        /* the step actually taken, after rounding to f32 */
        double h = ((double)(float)(saved + STEP) - (double)(float)(saved - STEP));
        double numeric = (up - down) / h;
        double tolerance = REL_TOL * largest + REL_TOL * fabs(numeric) + 1e-6;
        cr_assert(fabs(numeric - analytic[i]) <= tolerance, "%s: element %zu: analytic %.7g, finite difference %.7g",
                  what, i, analytic[i], numeric);
    }
}

static double dot(const float *a, const float *b, size_t count)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++)
        sum += (double)a[i] * (double)b[i];
    return sum;
}

static mg_ref_param f32_param(const float *p)
{
    mg_ref_param r = {p, false};
    return r;
}

/* ------------------------------------------------------------------------ */

typedef struct conv_state {
    size_t batch, n, ci, co, k;
    float *x, *w, *bias, *d_out, *out;
    int32_t *mask;
} conv_state;

static double conv_loss(void *p)
{
    conv_state *s = p;
    mg_ref_conv1d(s->batch, s->n, s->ci, s->co, s->k, s->x, f32_param(s->w), f32_param(s->bias), s->mask, s->out);
    return dot(s->d_out, s->out, s->batch * s->n * s->co);
}

Test(grad_ae_ref, conv1d_backward_matches_finite_differences_with_mask)
{
    static const size_t shapes[][5] = {{2, 5, 3, 4, 3}, {1, 7, 2, 3, 7}, {3, 1, 2, 2, 3}, {1, 4, 1, 1, 1}};
    for (size_t si = 0; si < 4; si++) {
        conv_state s = {shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3], shapes[si][4],
                        NULL, NULL, NULL, NULL, NULL, NULL};
        size_t nx = s.batch * s.n * s.ci, nw = s.co * s.ci * s.k, ny = s.batch * s.n * s.co;
        s.x = malloc(nx * 4);
        s.w = malloc(nw * 4);
        s.bias = malloc(s.co * 4);
        s.d_out = malloc(ny * 4);
        s.out = malloc(ny * 4);
        s.mask = malloc(s.batch * s.n * 4);
        test_fill_uniform(s.x, nx, 11 + (uint32_t)si, -1, 1);
        test_fill_uniform(s.w, nw, 21 + (uint32_t)si, -1, 1);
        test_fill_uniform(s.bias, s.co, 31 + (uint32_t)si, -1, 1);
        test_fill_uniform(s.d_out, ny, 41 + (uint32_t)si, -1, 1);
        for (size_t r = 0; r < s.batch * s.n; r++)
            s.mask[r] = r % 3 != 1; /* every third row is a pad row */
        float *d_x = malloc(nx * 4), *d_w = calloc(nw, 4), *d_b = calloc(s.co, 4);
        mg_ref_conv1d_backward(s.batch, s.n, s.ci, s.co, s.k, s.x, f32_param(s.w), s.mask, s.d_out, d_x, d_w, d_b);
        check_fd("conv1d d_x", conv_loss, &s, s.x, nx, d_x);
        check_fd("conv1d d_weight", conv_loss, &s, s.w, nw, d_w);
        check_fd("conv1d d_bias", conv_loss, &s, s.bias, s.co, d_b);
        for (size_t r = 0; r < s.batch * s.n; r++)
            for (size_t i = 0; i < s.ci && !s.mask[r]; i++)
                cr_assert_eq(d_x[r * s.ci + i], 0.0f, "a masked row gets no gradient");
        /* without a mask too */
        int32_t *mask = s.mask;
        s.mask = NULL;
        memset(d_w, 0, nw * 4);
        mg_ref_conv1d_backward(s.batch, s.n, s.ci, s.co, s.k, s.x, f32_param(s.w), NULL, s.d_out, d_x, d_w, NULL);
        check_fd("conv1d d_x (no mask)", conv_loss, &s, s.x, nx, d_x);
        check_fd("conv1d d_weight (no mask)", conv_loss, &s, s.w, nw, d_w);
        free(mask);
        free(s.x), free(s.w), free(s.bias), free(s.d_out), free(s.out), free(d_x), free(d_w), free(d_b);
    }
}

Test(grad_ae_ref, conv1d_backward_accumulates_parameter_gradients_and_skips_null)
{
    const size_t n = 4, ci = 2, co = 3, k = 3;
    float x[8], w[18], dy[12], dw1[18] = {0}, db1[3] = {0}, dw2[18] = {0}, db2[3] = {0};
    test_fill_uniform(x, 8, 1, -1, 1);
    test_fill_uniform(w, 18, 2, -1, 1);
    test_fill_uniform(dy, 12, 3, -1, 1);
    mg_ref_conv1d_backward(1, n, ci, co, k, x, f32_param(w), NULL, dy, NULL, dw1, db1);
    mg_ref_conv1d_backward(1, n, ci, co, k, x, f32_param(w), NULL, dy, NULL, dw2, db2);
    mg_ref_conv1d_backward(1, n, ci, co, k, x, f32_param(w), NULL, dy, NULL, dw2, db2);
    for (size_t i = 0; i < 18; i++)
        cr_assert_float_eq(dw2[i], 2.0f * dw1[i], 1e-6f, "d_weight accumulates");
    for (size_t i = 0; i < 3; i++)
        cr_assert_float_eq(db2[i], 2.0f * db1[i], 1e-6f, "d_bias accumulates");
    /* hand-computed: d_bias = column sums of dy */
    for (size_t o = 0; o < co; o++)
        cr_assert_float_eq(db1[o], dy[o] + dy[3 + o] + dy[6 + o] + dy[9 + o], 1e-6f);
}

/* ------------------------------------------------------------------------ */

typedef struct rows_state {
    size_t batch, n, c;
    float *x, *gate, *d_out, *out;
    int32_t *mask;
    float eps;
} rows_state;

static double masked_mean_loss(void *p)
{
    rows_state *s = p;
    mg_ref_masked_mean(s->batch, s->n, s->c, s->x, s->mask, s->eps, s->out);
    return dot(s->d_out, s->out, s->batch * s->c);
}

static double scale_channels_loss(void *p)
{
    rows_state *s = p;
    mg_ref_scale_channels(s->batch, s->n, s->c, s->x, s->gate, s->out);
    return dot(s->d_out, s->out, s->batch * s->n * s->c);
}

Test(grad_ae_ref, masked_mean_and_scale_channels_match_finite_differences)
{
    rows_state s = {3, 5, 4, NULL, NULL, NULL, NULL, NULL, 1e-5f};
    size_t nx = s.batch * s.n * s.c;
    s.x = malloc(nx * 4);
    s.gate = malloc(s.batch * s.c * 4);
    s.d_out = malloc(nx * 4);
    s.out = malloc(nx * 4);
    s.mask = malloc(s.batch * s.n * 4);
    test_fill_uniform(s.x, nx, 5, -2, 2);
    test_fill_uniform(s.gate, s.batch * s.c, 6, -1, 1);
    test_fill_uniform(s.d_out, nx, 7, -1, 1);
    for (size_t r = 0; r < s.batch * s.n; r++)
        s.mask[r] = r < s.n ? 0 : (r % 4 != 2) * 7; /* batch 0 all pad (count 0 -> eps), any non-zero counts */
    float *d_x = malloc(nx * 4), *d_gate = malloc(s.batch * s.c * 4);
    mg_ref_masked_mean_backward(s.batch, s.n, s.c, s.mask, s.eps, s.d_out, d_x);
    check_fd("masked_mean d_x", masked_mean_loss, &s, s.x, nx, d_x);
    int32_t *mask = s.mask;
    s.mask = NULL;
    mg_ref_masked_mean_backward(s.batch, s.n, s.c, NULL, s.eps, s.d_out, d_x);
    check_fd("masked_mean d_x (no mask)", masked_mean_loss, &s, s.x, nx, d_x);
    /* hand value: no mask, d_x = d_out / n */
    cr_assert_float_eq(d_x[(2 * s.n + 3) * s.c + 1], s.d_out[2 * s.c + 1] / 5.0f, 1e-7f);
    mg_ref_scale_channels_backward(s.batch, s.n, s.c, s.x, s.gate, s.d_out, d_x, d_gate);
    check_fd("scale_channels d_x", scale_channels_loss, &s, s.x, nx, d_x);
    check_fd("scale_channels d_gate", scale_channels_loss, &s, s.gate, s.batch * s.c, d_gate);
    free(mask);
    free(s.x), free(s.gate), free(s.d_out), free(s.out), free(d_x), free(d_gate);
}

/* ------------------------------------------------------------------------ */

typedef struct gather_state {
    size_t m, d;
    float *src, *d_out, *out;
    const int32_t *offsets, *indices;
} gather_state;

static double gather_loss(void *p)
{
    gather_state *s = p;
    mg_ref_gather_mean(s->m, s->d, s->src, s->offsets, s->indices, s->out);
    return dot(s->d_out, s->out, s->m * s->d);
}

Test(grad_ae_ref, gather_mean_backward_over_the_transposed_list)
{
    /* 4 outputs over 5 source rows; output 2 is empty, row 4 is never read, row 1 twice by output 3 */
    static const int32_t offsets[] = {0, 3, 4, 4, 7};
    static const int32_t indices[] = {0, 1, 2, 2, 1, 1, 3};
    const size_t rows = 5, d = 3;
    mg_context *ctx = test_cpu_context();
    int32_t t_offsets[6], t_sources[7];
    cr_assert_eq(mg_gather_mean_transpose(ctx, offsets, 4, indices, rows, t_offsets, t_sources), MG_OK);
    static const int32_t want_offsets[] = {0, 1, 4, 6, 7, 7};
    static const int32_t want_sources[] = {0, 0, 3, 3, 0, 1, 3};
    cr_assert_arr_eq(t_offsets, want_offsets, sizeof want_offsets);
    cr_assert_arr_eq(t_sources, want_sources, sizeof want_sources);
    gather_state s = {4, d, NULL, NULL, NULL, offsets, indices};
    s.src = malloc(rows * d * 4);
    s.d_out = malloc(4 * d * 4);
    s.out = malloc(4 * d * 4);
    test_fill_uniform(s.src, rows * d, 9, -1, 1);
    test_fill_uniform(s.d_out, 4 * d, 10, -1, 1);
    float *d_src = malloc(rows * d * 4);
    mg_ref_gather_mean_backward(rows, d, offsets, t_offsets, t_sources, s.d_out, d_src);
    check_fd("gather_mean d_src", gather_loss, &s, s.src, rows * d, d_src);
    /* hand value: row 1 = d_out[0] / 3 + 2 d_out[3] / 3 */
    cr_assert_float_eq(d_src[1 * d + 2], s.d_out[2] / 3.0f + 2.0f * s.d_out[3 * d + 2] / 3.0f, 1e-6f);
    /* malformed lists are refused */
    static const int32_t bad_indices[] = {0, 1, 5, 2, 1, 1, 3};
    cr_assert_eq(mg_gather_mean_transpose(ctx, offsets, 4, bad_indices, rows, t_offsets, t_sources),
                 MG_ERR_INVALID_ARGUMENT);
    static const int32_t bad_offsets[] = {0, 3, 2, 4, 7};
    cr_assert_eq(mg_gather_mean_transpose(ctx, bad_offsets, 4, indices, rows, t_offsets, t_sources),
                 MG_ERR_INVALID_ARGUMENT);
    free(s.src), free(s.d_out), free(s.out), free(d_src);
    mg_context_destroy(ctx);
}

Test(grad_ae_ref, copy_columns_backward_is_the_column_slice)
{
    float d_dst[2 * 5] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, d_src[2 * 2];
    mg_ref_copy_columns_backward(2, 2, 5, 3, d_dst, d_src);
    const double want[] = {3, 4, 8, 9};
    test_assert_close(d_src, want, 4, 0.0);
}

/* ------------------------------------------------------------------------ */

typedef struct recon_state {
    size_t rows, bins;
    float *logits, *out;
    const int32_t *targets;
    float sigma;
} recon_state;

static double recon_loss_sum(void *p)
{
    recon_state *s = p;
    mg_ref_recon_loss(s->rows, s->bins, s->logits, s->targets, s->sigma, s->out);
    double sum = 0.0;
    for (size_t r = 0; r < s->rows; r++)
        sum += s->out[r];
    return sum;
}

Test(grad_ae_ref, recon_loss_hand_values)
{
    /* sigma 0.4: width ceil(2.0) = 2 -> 3, kernel [0.0403879, 0.9192242, 0.0403879] (reference section 2.5) */
    double kernel[63];
    cr_assert_eq(mg_ref_recon_blur_kernel(0.4f, kernel), 3);
    const double want_kernel[] = {0.0403879, 0.9192242, 0.0403879};
    for (int i = 0; i < 3; i++)
        cr_assert(fabs(kernel[i] - want_kernel[i]) < 1e-7, "tap %d: %.8f", i, kernel[i]);
    cr_assert_eq(mg_recon_blur_width(0.4f), 3);
    cr_assert_eq(mg_recon_blur_width(0.0f), 1);
    cr_assert_eq(mg_recon_blur_width(1.0f), 5);
    /* uniform logits over 4 bins: log_softmax = -log 4 everywhere. Target 1: loss = (sum of kernel) log 4
     * = log 4; target 0: the left tap falls off, loss = (1 - 0.0403879) log 4. Target -1: pad, 0. */
    float logits[3 * 4] = {0};
    const int32_t targets[3] = {1, 0, -1};
    float loss[3];
    mg_ref_recon_loss(3, 4, logits, targets, 0.4f, loss);
    const double want[] = {log(4.0), (1.0 - kernel[0]) * log(4.0), 0.0};
    test_assert_close(loss, want, 3, 1e-6);
    /* gradient: softmax * mass - target, scaled */
    float grad[12];
    mg_ref_recon_loss_backward(3, 4, logits, targets, 0.4f, 0.5f, grad);
    const double want_grad[] = {0.5 * (0.25 - kernel[0]), 0.5 * (0.25 - kernel[1]), 0.5 * (0.25 - kernel[2]),
                                0.5 * 0.25,
                                0.5 * (0.25 * (1 - kernel[0]) - kernel[1]), 0.5 * (0.25 * (1 - kernel[0]) - kernel[2]),
                                0.5 * 0.25 * (1 - kernel[0]), 0.5 * 0.25 * (1 - kernel[0]),
                                0, 0, 0, 0};
    test_assert_close(grad, want_grad, 12, 1e-7);
}

Test(grad_ae_ref, recon_loss_backward_matches_finite_differences)
{
    static const int32_t targets[] = {0, 5, 9, 3, -1, 8, 1};
    const float sigmas[] = {0.4f, 0.0f, 1.3f};
    for (size_t si = 0; si < 3; si++) {
        recon_state s = {7, 10, NULL, NULL, targets, sigmas[si]};
        s.logits = malloc(70 * 4);
        s.out = malloc(7 * 4);
        test_fill_uniform(s.logits, 70, 17 + (uint32_t)si, -3, 3);
        float grad[70];
        mg_ref_recon_loss_backward(7, 10, s.logits, targets, s.sigma, 1.0f, grad);
        check_fd("recon_loss d_logits", recon_loss_sum, &s, s.logits, 70, grad);
        free(s.logits), free(s.out);
    }
}

Test(grad_ae_ref, recon_loss_agrees_with_the_eval_loss)
{
    /* mg_ae_recon_loss (model/ae_loss.c, used by evaluation) over faces with a mask must equal the
     * mean of the op's per-coordinate losses with pad faces' targets set to -1. */
    mg_ae_config config;
    mg_ae_config_defaults(&config);
    config.num_discrete_coors = 16;
    const size_t per_face = (size_t)mg_ae_config_face_size(&config) * 3, faces = 3, bins = 16;
    const size_t rows = faces * per_face;
    float *logits = malloc(rows * bins * 4), *loss = malloc(rows * 4);
    int32_t *targets = malloc(rows * 4), *op_targets = malloc(rows * 4);
    const uint8_t face_mask[3] = {1, 0, 1};
    test_fill_uniform(logits, rows * bins, 3, -4, 4);
    for (size_t r = 0; r < rows; r++) {
        targets[r] = (int32_t)((r * 7) % bins);
        op_targets[r] = face_mask[r / per_face] ? targets[r] : -1;
    }
    double eval = mg_ae_recon_loss(&config, logits, targets, face_mask, faces);
    mg_ref_recon_loss(rows, bins, logits, op_targets, config.bin_smooth_blur_sigma, loss);
    double sum = 0.0;
    for (size_t r = 0; r < rows; r++)
        sum += loss[r];
    double mean = sum / (double)(2 * per_face);
    cr_assert(fabs(mean - eval) < 1e-6 * fabs(eval), "op mean %.9g, eval loss %.9g", mean, eval);
    free(logits), free(loss), free(targets), free(op_targets);
}

/* ------------------------------------------------------------------------ */

static mg_lfq_loss_params lfq_params(int levels, float soft_clamp, float inv_temperature)
{
    mg_lfq_loss_params p = {levels, soft_clamp, 1.0f, 0.1f, 1.0f, inv_temperature, true, 5.0f};
    return p;
}

Test(grad_ae_ref, lfq_loss_hand_values_and_mask)
{
    /* one valid row, d = 1, one level, no clamp, x = 0.5: xq = 0.5, v = +1, commit = 0.25.
     * Two codes, p(+) = sigmoid(4 T s xq) = sigmoid(2) for T = 1; one row: the batch distribution
     * is the row's, so E = H - H = 0 and the entropy term is softplus(0 + 5). */
    mg_lfq_loss_params p = lfq_params(1, 0.0f, 1.0f);
    const float x[2] = {0.5f, -3.0f};
    const int32_t mask[2] = {1, 0};
    float losses[MG_LFQ_LOSS_COLUMNS], avg[2];
    mg_ref_lfq_loss(2, 1, x, mask, &p, losses, avg);
    double pp = 1.0 / (1.0 + exp(-2.0)), h = -pp * log(pp) - (1 - pp) * log(1 - pp);
    double softplus5 = log1p(exp(5.0));
    const double want[] = {0.1 * softplus5 + 0.25, 0.25, h, h, 1.0};
    test_assert_close(losses, want, 5, 1e-6);
    const double want_avg[] = {1 - pp, pp}; /* code 0 is the negative sign */
    test_assert_close(avg, want_avg, 2, 1e-7);
    /* two valid rows of opposite signs: the batch distribution is uniform, H(avg) = log 2 */
    const float x2[2] = {0.5f, -0.5f};
    mg_ref_lfq_loss(2, 1, x2, NULL, &p, losses, avg);
    const double want2[] = {0.1 * log1p(exp(h - log(2.0) + 5.0)) + 0.25, 0.25, h, log(2.0), 2.0};
    test_assert_close(losses, want2, 5, 1e-6);
}

typedef struct lfq_state {
    size_t n, d;
    float *x;
    const int32_t *mask;
    mg_lfq_loss_params p;
} lfq_state;

static double lfq_aux_sum(void *state)
{
    lfq_state *s = state;
    float losses[16 * MG_LFQ_LOSS_COLUMNS];
    mg_ref_lfq_loss(s->n, s->d, s->x, s->mask, &s->p, losses, NULL);
    double sum = 0.0;
    for (int q = 0; q < s->p.levels; q++)
        sum += losses[q * MG_LFQ_LOSS_COLUMNS];
    return sum;
}

Test(grad_ae_ref, lfq_aux_loss_gradient_matches_finite_differences)
{
    /* Inputs kept away from the sign flips of every level (|x| and |x -+ 1| > 0.05), where the
     * quantized values jump. Small temperatures keep the code distributions smooth enough for a step of
     * 1e-3 (at the default T = 100 they change over 1 / 400); T = 5 puts most code probabilities
     * below entropy()'s 1e-5 floor. */
    const int32_t mask[7] = {1, 1, 0, 1, 1, 1, 0};
    const struct {
        int levels;
        float clamp, temperature;
        bool softplus;
    } cases[] = {{1, 0.0f, 1.0f, true}, {2, 10.0f, 1.5f, true}, {3, 2.0f, 0.7f, false}, {2, 10.0f, 5.0f, true}};
    for (size_t ci = 0; ci < 4; ci++) {
        lfq_state s = {7, 4, malloc(28 * 4), mask, lfq_params(cases[ci].levels, cases[ci].clamp, cases[ci].temperature)};
        s.p.softplus_entropy = cases[ci].softplus;
        test_fill_uniform(s.x, 28, 40 + (uint32_t)ci, -1.8f, 1.8f);
        for (size_t i = 0; i < 28; i++) {
            float a = fabsf(s.x[i]);
            if (a < 0.05f || fabsf(a - 1.0f) < 0.05f || fabsf(a - 1.5f) < 0.05f)
                s.x[i] += 0.12f;
        }
        float d_x[28];
        mg_ref_lfq_backward(7, 4, s.x, mask, &s.p, NULL, 1.0f, d_x);
        check_fd("lfq aux d_x", lfq_aux_sum, &s, s.x, 28, d_x);
        free(s.x);
    }
}

Test(grad_ae_ref, lfq_straight_through_gradient)
{
    /* no clamp: every level passes d_values through, so d_x = levels * d_values (aux_scale 0) */
    const float x[6] = {0.3f, -1.2f, 2.5f, 0.0f, -0.7f, 4.0f};
    const float dv[6] = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f, -1.0f};
    mg_lfq_loss_params p = lfq_params(3, 0.0f, 100.0f);
    float d_x[6];
    mg_ref_lfq_backward(2, 3, x, NULL, &p, dv, 0.0f, d_x);
    const double want[] = {3, -6, 1.5, 9, 0.75, -3};
    test_assert_close(d_x, want, 6, 1e-6);
    /* soft clamp 10, two levels: level 0 scales by 1 - tanh^2(x / 10), level 1 by 1 - tanh^2(r1 / 5)
     * with r1 = x - sign(x) (the quantized value of level 0 is +-1) */
    p = lfq_params(2, 10.0f, 100.0f);
    mg_ref_lfq_backward(2, 3, x, NULL, &p, dv, 0.0f, d_x);
    double hand[6];
    for (int i = 0; i < 6; i++) {
        double t0 = tanh(x[i] / 10.0), r1 = x[i] - (10.0 * t0 > 0 ? 1.0 : -1.0), t1 = tanh(r1 / 5.0);
        hand[i] = dv[i] * ((1 - t0 * t0) + (1 - t1 * t1));
    }
    test_assert_close(d_x, hand, 6, 1e-6);
}

Test(grad_ae_ref, lfq_entries_run_the_reference_and_check_arguments)
{
    mg_context *ctx = test_cpu_context();
    mg_lfq_loss_params p = mg_lfq_loss_default_params();
    const int64_t xs[2] = {3, 14}, ls[2] = {2, MG_LFQ_LOSS_COLUMNS}, as[2] = {2, 1 << 14}, ms[1] = {3};
    float x[42];
    test_fill_uniform(x, 42, 3, -0.02f, 0.02f);
    const int32_t mask[3] = {1, 1, 0};
    mg_tensor *tx = test_tensor(ctx, MG_DTYPE_F32, 2, xs, x), *tm = test_tensor_i32(ctx, 1, ms, mask);
    mg_tensor *tl = test_empty(ctx, MG_DTYPE_F32, 2, ls), *ta = test_empty(ctx, MG_DTYPE_F32, 2, as);
    mg_tensor *dx = test_empty(ctx, MG_DTYPE_F32, 2, xs);
    cr_assert_eq(mg_op_lfq_loss(ctx, tx, tm, &p, tl, ta), MG_OK, "%s", mg_context_last_error(ctx));
    float *losses = test_read(tl), want[2 * MG_LFQ_LOSS_COLUMNS];
    mg_ref_lfq_loss(3, 14, x, mask, &p, want, NULL);
    cr_assert_arr_eq(losses, want, sizeof want);
    cr_assert_eq(losses[4], 2.0f, "two valid rows");
    cr_assert_eq(mg_op_lfq_backward(ctx, tx, tm, &p, NULL, 0.1f, dx), MG_OK, "%s", mg_context_last_error(ctx));
    /* the avg tensor of the wrong size, and d > 16, are refused */
    cr_assert_eq(mg_op_lfq_loss(ctx, tx, tm, &p, tl, tl), MG_ERR_INVALID_ARGUMENT);
    const int64_t big[2] = {3, 17};
    mg_tensor *tb = test_empty(ctx, MG_DTYPE_F32, 2, big);
    cr_assert_eq(mg_op_lfq_loss(ctx, tb, NULL, &p, tl, NULL), MG_ERR_INVALID_ARGUMENT);
    free(losses);
    mg_tensor_free(tx), mg_tensor_free(tm), mg_tensor_free(tl), mg_tensor_free(ta), mg_tensor_free(dx),
        mg_tensor_free(tb);
    mg_context_destroy(ctx);
}
