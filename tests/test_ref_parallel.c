/*
 * The CPU reference's threaded matmuls: results equal a plain double-precision loop written here, and are
 * bit-identical whatever the thread count (MESHGPT_CPU_THREADS), for shapes large enough to be split.
 */
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
