/*
 * The CPU reference's threaded matmuls: results equal a plain double-precision loop written here, and are
 * bit-identical whatever the thread count (MESHGPT_CPU_THREADS), for shapes large enough to be split.
 */
#include "ops/ref/grad_ae_ref.h"
#include "ops/ref/grad_ref.h"
#include "ops/ref/parallel.h"
#include "ops/ref/ref_ops.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 2, M = 37, N = 300, K = 129 };

static void naive(const float *a, const float *b, bool transposed, float *out)
{
    for (size_t bi = 0; bi < BATCH; bi++)
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double sum = 0.0;
                for (size_t p = 0; p < K; p++)
                    sum += (double)a[(bi * M + i) * K + p] * (double)b[transposed ? j * K + p : p * N + j];
                out[(bi * M + i) * N + j] = (float)sum;
            }
}

Test(ref_parallel, matmul_equals_a_plain_loop_and_ignores_the_thread_count)
{
    float *a = malloc(BATCH * M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
    float *want = malloc(BATCH * M * N * sizeof *want), *one = malloc(BATCH * M * N * sizeof *one);
    float *many = malloc(BATCH * M * N * sizeof *many);
    test_fill_uniform(a, BATCH * M * K, 1, -1, 1);
    test_fill_uniform(b, K * N, 2, -1, 1);
    for (int transposed = 0; transposed < 2; transposed++) {
        naive(a, b, transposed, want);
        mg_ref_param p = {b, false}, none = {NULL, false};
        setenv("MESHGPT_CPU_THREADS", "1", 1);
        mg_ref_matmul(BATCH, M, N, K, a, p, transposed, true, none, one);
        setenv("MESHGPT_CPU_THREADS", "4", 1);
        mg_ref_matmul(BATCH, M, N, K, a, p, transposed, true, none, many);
        cr_expect_eq(memcmp(one, many, BATCH * M * N * sizeof *one), 0, "thread count changed the result");
        cr_expect_lt(test_nmse(many, want, BATCH * M * N), 1e-13, "transposed %d", transposed);
    }
    /* The backward: d_a and d_b with 1 and 4 threads. */
    float *d_out = want;
    float *d_a1 = calloc(BATCH * M * K, sizeof(float)), *d_a4 = calloc(BATCH * M * K, sizeof(float));
    float *d_b1 = calloc(K * N, sizeof(float)), *d_b4 = calloc(K * N, sizeof(float));
    mg_ref_param p = {b, false};
    setenv("MESHGPT_CPU_THREADS", "1", 1);
    cr_assert(mg_ref_matmul_backward(BATCH, M, N, K, a, p, true, true, d_out, d_a1, d_b1, NULL));
    setenv("MESHGPT_CPU_THREADS", "4", 1);
    cr_assert(mg_ref_matmul_backward(BATCH, M, N, K, a, p, true, true, d_out, d_a4, d_b4, NULL));
    cr_expect_eq(memcmp(d_a1, d_a4, BATCH * M * K * sizeof(float)), 0);
    cr_expect_eq(memcmp(d_b1, d_b4, K * N * sizeof(float)), 0);
    /* d_b (in b's [n, k] layout) by hand for one element: sum over rows of a[r, p] * d_out[r, j]. */
    double sum = 0.0;
    for (size_t r = 0; r < BATCH * M; r++)
        sum += (double)a[r * K + 5] * (double)d_out[r * N + 7];
    cr_expect(fabs(d_b4[7 * K + 5] - sum) <= 1e-4 * fabs(sum) + 1e-6, "%g vs %g", d_b4[7 * K + 5], sum);
    unsetenv("MESHGPT_CPU_THREADS");
    free(a), free(b), free(want), free(one), free(many), free(d_a1), free(d_a4), free(d_b1), free(d_b4);
}

Test(ref_parallel, four_row_dot_is_bit_identical_to_the_plain_dot)
{
    /* Lengths with and without a tail past the last multiple of 4. */
    enum { STRIDE = 40 };
    float a[4 * STRIDE], b[STRIDE];
    test_fill_uniform(a, 4 * STRIDE, 3, -2, 2);
    test_fill_uniform(b, STRIDE, 4, -2, 2);
    const size_t lengths[] = {0, 1, 3, 4, 5, 17, 39, 40};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        double four[4];
        mg_ref_dot4(a, STRIDE, b, lengths[l], four);
        for (size_t r = 0; r < 4; r++) {
            double one = mg_ref_dot(a + r * STRIDE, b, lengths[l]);
            cr_expect_eq(memcmp(&four[r], &one, sizeof one), 0, "n %zu row %zu: %.17g vs %.17g", lengths[l], r,
                         four[r], one);
        }
    }
}

/* A b per batch (not broadcast) and m not a multiple of the 4-row groups: each batch uses its own b. */
Test(ref_parallel, matmul_with_a_b_per_batch_uses_each_batchs_own_b)
{
    float *a = malloc(BATCH * M * K * sizeof *a), *b = malloc(BATCH * K * N * sizeof *b);
    float *out = malloc(BATCH * M * N * sizeof *out), *d_out = malloc(BATCH * M * N * sizeof *d_out);
    float *d_a = calloc(BATCH * M * K, sizeof(float)), *d_b = calloc(BATCH * K * N, sizeof(float));
    test_fill_uniform(a, BATCH * M * K, 5, -1, 1);
    test_fill_uniform(b, BATCH * K * N, 6, -1, 1);
    test_fill_uniform(d_out, BATCH * M * N, 7, -1, 1);
    mg_ref_param p = {b, false}, none = {NULL, false};
    mg_ref_matmul(BATCH, M, N, K, a, p, false, false, none, out);
    cr_assert(mg_ref_matmul_backward(BATCH, M, N, K, a, p, false, false, d_out, d_a, d_b, NULL));
    /* A few elements of each result by hand, rows on both sides of a group boundary and the last row. */
    const size_t rows[] = {0, 3, 4, M - 1};
    for (size_t bi = 0; bi < BATCH; bi++)
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
            size_t i = rows[ri], j = (i * 7 + bi) % N, p_ = (i * 5 + bi) % K;
            double want = 0.0, want_d_a = 0.0;
            for (size_t q = 0; q < K; q++)
                want += (double)a[(bi * M + i) * K + q] * (double)b[(bi * K + q) * N + j];
            for (size_t q = 0; q < N; q++)
                want_d_a += (double)d_out[(bi * M + i) * N + q] * (double)b[(bi * K + p_) * N + q];
            float got = out[(bi * M + i) * N + j], got_d_a = d_a[(bi * M + i) * K + p_];
            cr_expect(fabs(got - want) <= 1e-5 * (fabs(want) + 1), "out b%zu r%zu: %g vs %g", bi, i, got, want);
            cr_expect(fabs(got_d_a - want_d_a) <= 1e-5 * (fabs(want_d_a) + 1), "d_a b%zu r%zu: %g vs %g", bi, i,
                      got_d_a, want_d_a);
        }
    for (size_t bi = 0; bi < BATCH; bi++) {
        /* d_b of batch bi sums over that batch's rows only. */
        size_t q = 3 + bi, j = 11 + bi;
        double want = 0.0;
        for (size_t i = 0; i < M; i++)
            want += (double)a[(bi * M + i) * K + q] * (double)d_out[(bi * M + i) * N + j];
        float got = d_b[(bi * K + q) * N + j];
        cr_expect(fabs(got - want) <= 1e-5 * (fabs(want) + 1), "d_b b%zu: %g vs %g", bi, got, want);
    }
    free(a), free(b), free(out), free(d_out), free(d_a), free(d_b);
}

Test(ref_parallel, dot_sums_in_double)
{
    /* 1 + 1e-8 repeated: a float accumulator would lose the small parts, double keeps them. */
    enum { L = 1001 };
    float x[L], y[L];
    for (int i = 0; i < L; i++) {
        x[i] = i == 0 ? 1.0f : 1e-8f;
        y[i] = 1.0f;
    }
    double want = 1.0 + 1000.0 * (double)1e-8f;
    cr_expect(fabs(mg_ref_dot(x, y, L) - want) < 1e-15, "%.17g vs %.17g", mg_ref_dot(x, y, L), want);
}

/* conv1d and its backward: the same bits with 1 and 4 threads, and one output against a plain loop. */
Test(ref_parallel, conv1d_ignores_the_thread_count)
{
    enum { B = 2, T = 70, CI = 33, CO = 40, KER = 3 };
    float *x = malloc(B * T * CI * sizeof *x), *w = malloc(CO * CI * KER * sizeof *w);
    float *y1 = malloc(B * T * CO * sizeof *y1), *y4 = malloc(B * T * CO * sizeof *y4);
    float *dx1 = malloc(B * T * CI * sizeof *dx1), *dx4 = malloc(B * T * CI * sizeof *dx4);
    float *dw1 = calloc(CO * CI * KER, sizeof *dw1), *dw4 = calloc(CO * CI * KER, sizeof *dw4);
    int32_t mask[B * T];
    for (int i = 0; i < B * T; i++)
        mask[i] = i % 11 != 3;
    test_fill_uniform(x, B * T * CI, 3, -1, 1);
    test_fill_uniform(w, CO * CI * KER, 4, -1, 1);
    mg_ref_param wp = {w, false}, none = {NULL, false};
    setenv("MESHGPT_CPU_THREADS", "1", 1);
    mg_ref_conv1d(B, T, CI, CO, KER, x, wp, none, mask, y1);
    mg_ref_conv1d_backward(B, T, CI, CO, KER, x, wp, mask, y1, dx1, dw1, NULL);
    setenv("MESHGPT_CPU_THREADS", "4", 1);
    mg_ref_conv1d(B, T, CI, CO, KER, x, wp, none, mask, y4);
    mg_ref_conv1d_backward(B, T, CI, CO, KER, x, wp, mask, y4, dx4, dw4, NULL);
    unsetenv("MESHGPT_CPU_THREADS");
    cr_expect_eq(memcmp(y1, y4, B * T * CO * sizeof *y1), 0);
    cr_expect_eq(memcmp(dx1, dx4, B * T * CI * sizeof *dx1), 0);
    cr_expect_eq(memcmp(dw1, dw4, CO * CI * KER * sizeof *dw1), 0);
    /* out[b=1, t=5, o=7] by hand: taps k read rows t + k - 1 (all unmasked here but row 1*70+3 = 73? t=5 reads
     * rows 74..76 of the flat list: 74 % 11 = 8, 75 % 11 = 9, 76 % 11 = 10: all real). */
    double want = 0.0;
    for (int k = 0; k < KER; k++)
        for (int i = 0; i < CI; i++)
            want += (double)w[(7 * CI + i) * KER + k] * (double)x[(1 * T + 5 + k - 1) * CI + i];
    cr_expect(fabs(y4[(1 * T + 5) * CO + 7] - want) < 1e-5, "%g vs %g", y4[(1 * T + 5) * CO + 7], want);
    free(x), free(w), free(y1), free(y4), free(dx1), free(dx4), free(dw1), free(dw4);
}
