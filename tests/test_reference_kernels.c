/* The CPU reference's blocked matmul kernels (ops/ref/dot_block.c) against plain loops written here, bit for bit:
 * the blocks only regroup work, so every sum must add the same terms in the same order as a one-at-a-time loop
 * (four interleaved partial sums for a dot product, rows in order for a weight gradient). Each case runs with the
 * widest kernels the CPU has, with the AVX2 ones at most and with the portable loops. */
#include "ops/ref/grad_ref.h"
#include "ops/ref/parallel.h"
#include "ops/ref/ref_ops.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

/* mg_ref_dot's order, written out: partial sum p takes the terms i = p (mod 4) below the last whole block of 4,
 * the rest go into partial sum 0, and the partials add as (s0 + s1) + (s2 + s3). */
static double plain_dot(const float *a, const float *b, size_t n)
{
    double s[4] = {0, 0, 0, 0};
    const size_t whole = n / 4 * 4;
    for (size_t i = 0; i < whole; i++)
        s[i % 4] += (double)a[i] * (double)b[i];
    for (size_t i = whole; i < n; i++)
        s[0] += (double)a[i] * (double)b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float *random_values(size_t count, uint32_t seed)
{
    float *v = malloc((count ? count : 1) * sizeof *v);
    cr_assert_not_null(v);
    test_fill_uniform(v, count, seed, -2.0f, 2.0f);
    return v;
}

static void for_each_kernel_set(void (*check)(void))
{
    for (int limit = MG_REF_KERNELS_BEST; limit <= MG_REF_KERNELS_PORTABLE; limit++) {
        mg_ref_kernels_limit((mg_ref_kernel_set)limit);
        check();
    }
    mg_ref_kernels_limit(MG_REF_KERNELS_BEST);
}

static void check_dot4x2(void)
{
    static const size_t lengths[] = {0, 1, 3, 4, 5, 8, 17, 64, 131};
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const size_t n = lengths[li];
        float *a = random_values(5 * n, 11 + (uint32_t)n), *b = random_values(2 * n, 23 + (uint32_t)n);
        /* Four distinct rows, then a short group that repeats a row, and one column (b_stride 0). */
        const float *rows[2][4] = {{a, a + n, a + 2 * n, a + 4 * n}, {a + 3 * n, a + n, a + n, a + n}};
        for (size_t g = 0; g < 2; g++)
            for (size_t stride_case = 0; stride_case < 2; stride_case++) {
                const size_t b_stride = stride_case ? n : 0;
                double out[8];
                mg_ref_dot4x2(rows[g], b, b_stride, n, out);
                for (size_t r = 0; r < 4; r++)
                    for (size_t c = 0; c < 2; c++) {
                        const double want = plain_dot(rows[g][r], b + c * b_stride, n);
                        cr_expect(memcmp(&out[r * 2 + c], &want, sizeof want) == 0,
                                  "n %zu row %zu column %zu: %.17g, want %.17g", n, r, c, out[r * 2 + c], want);
                    }
            }
        free(a);
        free(b);
    }
}

Test(reference_kernels, dot4x2_equals_one_dot_at_a_time)
{
    for_each_kernel_set(check_dot4x2);
}

static void check_packed(void)
{
    static const size_t lengths[] = {0, 3, 4, 5, 8, 19, 64, 130};
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const size_t k = lengths[li], n = 5; /* five columns: two pairs and an odd one paired with itself */
        float *a = random_values(4 * k, 31 + (uint32_t)k), *columns = random_values(n * k, 37 + (uint32_t)k);
        double *pairs = malloc((mg_ref_packed_pairs_size(n, k) + 1) * sizeof *pairs);
        double *rows_packed = malloc((k / 4 * 16 + 1) * sizeof *rows_packed);
        cr_assert(pairs && rows_packed);
        const float *rows[4] = {a + 3 * k, a, a + 2 * k, a + k};
        mg_ref_pack_pairs(columns, n, k, pairs);
        mg_ref_pack_rows4(rows, k, rows_packed);
        const size_t pair_doubles = k / 4 * 8;
        /* Pairs (0, 1) and (2, 3), then (4, 4) with itself. */
        const double *pair_sets[2][2] = {{pairs, pairs + pair_doubles}, {pairs + 2 * pair_doubles, pairs + 2 * pair_doubles}};
        const float *column_sets[2][4] = {{columns, columns + k, columns + 2 * k, columns + 3 * k},
                                          {columns + 4 * k, columns + 4 * k, columns + 4 * k, columns + 4 * k}};
        for (size_t set = 0; set < 2; set++) {
            double out[16];
            mg_ref_dot_packed4x4(rows_packed, pair_sets[set], rows, column_sets[set], k, out);
            for (size_t r = 0; r < 4; r++)
                for (size_t c = 0; c < 4; c++) {
                    const double want = plain_dot(rows[r], column_sets[set][c], k);
                    cr_expect(memcmp(&out[r * 4 + c], &want, sizeof want) == 0,
                              "k %zu set %zu row %zu column %zu: %.17g, want %.17g", k, set, r, c, out[r * 4 + c], want);
                }
        }
        free(a), free(columns), free(pairs), free(rows_packed);
    }
}

Test(reference_kernels, packed_dot_equals_one_dot_at_a_time)
{
    for_each_kernel_set(check_packed);
}

static void check_rank1(void)
{
    static const size_t widths[] = {1, 7, 8, 9, 23};
    static const size_t row_counts[] = {1, 5, 64};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (size_t ri = 0; ri < sizeof row_counts / sizeof row_counts[0]; ri++) {
            const size_t n = widths[wi], rows = row_counts[ri], a_stride = 6, dst_stride = n + 3;
            float *a = random_values(rows * a_stride, 5), *g = random_values(rows * n, 7);
            double *dst = malloc(4 * dst_stride * sizeof *dst), *want = malloc(4 * dst_stride * sizeof *want);
            cr_assert(dst && want);
            for (size_t i = 0; i < 4 * dst_stride; i++)
                dst[i] = want[i] = 0.25 * (double)i; /* it adds to what is there */
            mg_ref_rank1_accumulate4(dst, dst_stride, n, a + 1, a_stride, g, n, rows);
            for (size_t t = 0; t < 4; t++)
                for (size_t j = 0; j < n; j++)
                    for (size_t r = 0; r < rows; r++)
                        want[t * dst_stride + j] += (double)a[r * a_stride + 1 + t] * (double)g[r * n + j];
            cr_expect(memcmp(dst, want, 4 * dst_stride * sizeof *dst) == 0, "width %zu, %zu rows", n, rows);
            free(a), free(g), free(dst), free(want);
        }
}

Test(reference_kernels, rank1_accumulate_adds_rows_in_order)
{
    for_each_kernel_set(check_rank1);
}

#define F32(ptr) ((mg_ref_param){(ptr), false})

/* Shapes around the blocks' edges: rows 1 to 13 (groups of 4 and the remainders; from 8 rows the columns are
 * packed), widths around pairs, fours and the 64-column block, lengths with and without a tail, and two batches
 * with their own B. Forward and backward against plain loops. */
static void check_matmul(void)
{
    static const size_t ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 13}, ns[] = {1, 2, 3, 5, 6, 67}, ks[] = {1, 3, 4, 7, 33, 64};
    const size_t batch = 2;
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                const size_t m = ms[mi], n = ns[ni], k = ks[ki];
                float *a = random_values(batch * m * k, 1), *b = random_values(batch * n * k, 2);
                float *bias = random_values(n, 3), *d_out = random_values(batch * m * n, 4);
                float *out = malloc(batch * m * n * sizeof *out), *d_a = calloc(batch * m * k, sizeof *d_a);
                float *d_b = calloc(batch * n * k, sizeof *d_b);
                float *column = malloc(n * sizeof *column);
                cr_assert(out && d_a && d_b && column);
                /* b in PyTorch's Linear layout [n, k] per batch, not shared. */
                mg_ref_matmul(batch, m, n, k, a, F32(b), true, false, F32(bias), out);
                cr_assert(mg_ref_matmul_backward(batch, m, n, k, a, F32(b), true, false, d_out, d_a, d_b, NULL));
                for (size_t bi = 0; bi < batch; bi++)
                    for (size_t i = 0; i < m; i++)
                        for (size_t j = 0; j < n; j++) {
                            const float *row = a + (bi * m + i) * k, *w = b + (bi * n + j) * k;
                            const float want = (float)(plain_dot(row, w, k) + (double)bias[j]);
                            cr_expect(memcmp(&out[(bi * m + i) * n + j], &want, sizeof want) == 0,
                                      "forward m %zu n %zu k %zu at (%zu, %zu, %zu)", m, n, k, bi, i, j);
                        }
                for (size_t bi = 0; bi < batch; bi++)
                    for (size_t i = 0; i < m; i++)
                        for (size_t kk = 0; kk < k; kk++) {
                            /* d_a[i, kk] = d_out[i, :] . B[kk, :], B[kk, j] = b[j, kk] */
                            for (size_t j = 0; j < n; j++)
                                column[j] = b[(bi * n + j) * k + kk];
                            const float want = (float)plain_dot(d_out + (bi * m + i) * n, column, n);
                            cr_expect(memcmp(&d_a[(bi * m + i) * k + kk], &want, sizeof want) == 0,
                                      "d_a m %zu n %zu k %zu at (%zu, %zu, %zu)", m, n, k, bi, i, kk);
                        }
                for (size_t bi = 0; bi < batch; bi++)
                    for (size_t j = 0; j < n; j++)
                        for (size_t kk = 0; kk < k; kk++) {
                            double sum = 0.0; /* rows in order */
                            for (size_t i = 0; i < m; i++)
                                sum += (double)a[(bi * m + i) * k + kk] * (double)d_out[(bi * m + i) * n + j];
                            const float want = (float)sum; /* d_b started at 0 */
                            cr_expect(memcmp(&d_b[(bi * n + j) * k + kk], &want, sizeof want) == 0,
                                      "d_b m %zu n %zu k %zu at (%zu, %zu, %zu)", m, n, k, bi, j, kk);
                        }
                free(a), free(b), free(bias), free(d_out), free(out), free(d_a), free(d_b), free(column);
            }
}

Test(reference_kernels, matmul_and_backward_equal_plain_loops)
{
    for_each_kernel_set(check_matmul);
}
