/*
 * The reference matmul's inner loops (see parallel.h), which are most of the time of a training step on the
 * CPU. mg_ref_dot4x2: eight dot products of four rows a[r] with two rows of b, each bit-identical to mg_ref_dot's.
 * mg_ref_rank1_accumulate4: the weight gradient's sums of outer products, each element adding its terms in
 * the order of the rows.
 *
 * Why a hand-written AVX2 copy: mg_ref_dot4's compiled loop converts five float vectors to double for four
 * multiply-adds and keeps four dependency chains, so it waits on conversions and on the adder's latency. Here
 * each converted vector of a serves two columns and each of b four rows, and eight independent sums are in
 * flight: about twice the speed (`meshgpt bench ops --filter matmul`). The order of every sum is unchanged:
 * lane p of an accumulator is mg_ref_dot's partial sum s_p (terms i = p mod 4 in increasing i), a
 * float x float product is exact in double so a fused multiply-add rounds as the separate multiply and add do,
 * and the lanes are added as (s0 + s1) + (s2 + s3).
 */
#include "ops/ref/parallel.h"

#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MG_HAVE_AVX2_KERNEL 1
#include <immintrin.h>
#else
#define MG_HAVE_AVX2_KERNEL 0
#endif

static atomic_bool portable_only; /* tests: the portable loops on any CPU */

void mg_ref_kernels_portable_only(bool portable)
{
    atomic_store(&portable_only, portable);
}

static bool use_avx2(void)
{
#if MG_HAVE_AVX2_KERNEL
    return !atomic_load_explicit(&portable_only, memory_order_relaxed) && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* The tail (n not a multiple of 4) goes into partial sum 0, after the vector part, as in mg_ref_dot. */
static void finish(double s[4][2][4], const float *const a[4], const float *b, size_t b_stride, size_t i, size_t n,
                   double out[8])
{
    for (; i < n; i++)
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 2; c++)
                s[r][c][0] += (double)a[r][i] * (double)b[c * b_stride + i];
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 2; c++)
            out[r * 2 + c] = (s[r][c][0] + s[r][c][1]) + (s[r][c][2] + s[r][c][3]);
}

static void dot4x2_portable(const float *const a[4], const float *b, size_t b_stride, size_t n, double out[8])
{
    double s[4][2][4] = {{{0.0}}};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 2; c++)
                for (size_t p = 0; p < 4; p++)
                    s[r][c][p] += (double)a[r][i + p] * (double)b[c * b_stride + i + p];
    finish(s, a, b, b_stride, i, n, out);
}

#if MG_HAVE_AVX2_KERNEL
__attribute__((target("avx2,fma"))) static void dot4x2_avx2(const float *const a[4], const float *b,
                                                             size_t b_stride, size_t n, double out[8])
{
    __m256d acc[4][2];
    for (size_t r = 0; r < 4; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d b0 = _mm256_cvtps_pd(_mm_loadu_ps(b + i));
        const __m256d b1 = _mm256_cvtps_pd(_mm_loadu_ps(b + b_stride + i));
        for (size_t r = 0; r < 4; r++) {
            const __m256d av = _mm256_cvtps_pd(_mm_loadu_ps(a[r] + i));
            acc[r][0] = _mm256_fmadd_pd(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_pd(av, b1, acc[r][1]);
        }
    }
    if (i < n) { /* a tail: added to lane 0 before the lanes are summed */
        double s[4][2][4];
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 2; c++)
                _mm256_storeu_pd(s[r][c], acc[r][c]);
        finish(s, a, b, b_stride, i, n, out);
        return;
    }
    /* hadd(x, y) = (x0 + x1, y0 + y1, x2 + x3, y2 + y3); its two halves added give (s0 + s1) + (s2 + s3) of
     * both columns, in mg_ref_dot's order. */
    for (size_t r = 0; r < 4; r++) {
        const __m256d pairs = _mm256_hadd_pd(acc[r][0], acc[r][1]);
        _mm_storeu_pd(out + r * 2, _mm_add_pd(_mm256_castpd256_pd128(pairs), _mm256_extractf128_pd(pairs, 1)));
    }
}
#endif

void mg_ref_dot4x2(const float *const a[4], const float *b, size_t b_stride, size_t n, double out[8])
{
#if MG_HAVE_AVX2_KERNEL
    if (use_avx2()) {
        dot4x2_avx2(a, b, b_stride, n, out);
        return;
    }
#endif
    dot4x2_portable(a, b, b_stride, n, out);
}

/* The portable loop keeps dst rows in memory (a load and a store per multiply-add); the compiler vectorizes it
 * over j, which does not change any element's order of terms. */
static void rank1_portable(double *dst, size_t dst_stride, size_t n, const float *a, size_t a_stride, const float *g,
                           size_t g_stride, size_t rows)
{
    for (size_t r = 0; r < rows; r++) {
        const float *a_row = a + r * a_stride, *g_row = g + r * g_stride;
        for (size_t t = 0; t < 4; t++) {
            const double av = a_row[t];
            double *d = dst + t * dst_stride;
            for (size_t j = 0; j < n; j++)
                d[j] += av * (double)g_row[j];
        }
    }
}

#if MG_HAVE_AVX2_KERNEL
/* A 4 x 8 tile of dst stays in registers for all the rows: one load and one store of it per call instead of
 * one per row. The columns past the last whole tile go through the portable loop. */
__attribute__((target("avx2,fma"))) static void rank1_avx2(double *dst, size_t dst_stride, size_t n, const float *a,
                                                            size_t a_stride, const float *g, size_t g_stride,
                                                            size_t rows)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256d acc[4][2];
        for (size_t t = 0; t < 4; t++) {
            acc[t][0] = _mm256_loadu_pd(dst + t * dst_stride + j);
            acc[t][1] = _mm256_loadu_pd(dst + t * dst_stride + j + 4);
        }
        for (size_t r = 0; r < rows; r++) {
            const float *g_row = g + r * g_stride + j, *a_row = a + r * a_stride;
            const __m256d g0 = _mm256_cvtps_pd(_mm_loadu_ps(g_row));
            const __m256d g1 = _mm256_cvtps_pd(_mm_loadu_ps(g_row + 4));
            for (size_t t = 0; t < 4; t++) {
                const __m256d av = _mm256_set1_pd((double)a_row[t]);
                acc[t][0] = _mm256_fmadd_pd(av, g0, acc[t][0]);
                acc[t][1] = _mm256_fmadd_pd(av, g1, acc[t][1]);
            }
        }
        for (size_t t = 0; t < 4; t++) {
            _mm256_storeu_pd(dst + t * dst_stride + j, acc[t][0]);
            _mm256_storeu_pd(dst + t * dst_stride + j + 4, acc[t][1]);
        }
    }
    if (j < n)
        rank1_portable(dst + j, dst_stride, n - j, a, a_stride, g + j, g_stride, rows);
}
#endif

void mg_ref_rank1_accumulate4(double *dst, size_t dst_stride, size_t n, const float *a, size_t a_stride,
                              const float *g, size_t g_stride, size_t rows)
{
#if MG_HAVE_AVX2_KERNEL
    if (use_avx2()) {
        rank1_avx2(dst, dst_stride, n, a, a_stride, g, g_stride, rows);
        return;
    }
#endif
    rank1_portable(dst, dst_stride, n, a, a_stride, g, g_stride, rows);
}
