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

static atomic_int kernel_limit; /* tests: mg_ref_kernels_limit */

void mg_ref_kernels_limit(mg_ref_kernel_set limit)
{
    atomic_store(&kernel_limit, (int)limit);
}

static bool use_avx2(void)
{
#if MG_HAVE_AVX2_KERNEL
    return atomic_load_explicit(&kernel_limit, memory_order_relaxed) < MG_REF_KERNELS_PORTABLE &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

static bool use_avx512(void)
{
#if MG_HAVE_AVX2_KERNEL
    return atomic_load_explicit(&kernel_limit, memory_order_relaxed) < MG_REF_KERNELS_AVX2 && use_avx2() &&
           __builtin_cpu_supports("avx512f");
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
    /* The rows written out (the compiler does not unroll a loop over them at -O2, and then keeps the sums in
     * memory). */
    __m256d s00 = _mm256_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d b0 = _mm256_cvtps_pd(_mm_loadu_ps(b + i));
        const __m256d b1 = _mm256_cvtps_pd(_mm_loadu_ps(b + b_stride + i));
        __m256d av = _mm256_cvtps_pd(_mm_loadu_ps(a0 + i));
        s00 = _mm256_fmadd_pd(av, b0, s00), s01 = _mm256_fmadd_pd(av, b1, s01);
        av = _mm256_cvtps_pd(_mm_loadu_ps(a1 + i));
        s10 = _mm256_fmadd_pd(av, b0, s10), s11 = _mm256_fmadd_pd(av, b1, s11);
        av = _mm256_cvtps_pd(_mm_loadu_ps(a2 + i));
        s20 = _mm256_fmadd_pd(av, b0, s20), s21 = _mm256_fmadd_pd(av, b1, s21);
        av = _mm256_cvtps_pd(_mm_loadu_ps(a3 + i));
        s30 = _mm256_fmadd_pd(av, b0, s30), s31 = _mm256_fmadd_pd(av, b1, s31);
    }
    const __m256d acc[4][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
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
        double *d0 = dst + j, *d1 = d0 + dst_stride, *d2 = d1 + dst_stride, *d3 = d2 + dst_stride;
        __m256d s00 = _mm256_loadu_pd(d0), s01 = _mm256_loadu_pd(d0 + 4), s10 = _mm256_loadu_pd(d1),
                s11 = _mm256_loadu_pd(d1 + 4), s20 = _mm256_loadu_pd(d2), s21 = _mm256_loadu_pd(d2 + 4),
                s30 = _mm256_loadu_pd(d3), s31 = _mm256_loadu_pd(d3 + 4);
        for (size_t r = 0; r < rows; r++) {
            const float *g_row = g + r * g_stride + j, *a_row = a + r * a_stride;
            const __m256d g0 = _mm256_cvtps_pd(_mm_loadu_ps(g_row));
            const __m256d g1 = _mm256_cvtps_pd(_mm_loadu_ps(g_row + 4));
            __m256d av = _mm256_set1_pd((double)a_row[0]);
            s00 = _mm256_fmadd_pd(av, g0, s00), s01 = _mm256_fmadd_pd(av, g1, s01);
            av = _mm256_set1_pd((double)a_row[1]);
            s10 = _mm256_fmadd_pd(av, g0, s10), s11 = _mm256_fmadd_pd(av, g1, s11);
            av = _mm256_set1_pd((double)a_row[2]);
            s20 = _mm256_fmadd_pd(av, g0, s20), s21 = _mm256_fmadd_pd(av, g1, s21);
            av = _mm256_set1_pd((double)a_row[3]);
            s30 = _mm256_fmadd_pd(av, g0, s30), s31 = _mm256_fmadd_pd(av, g1, s31);
        }
        _mm256_storeu_pd(d0, s00), _mm256_storeu_pd(d0 + 4, s01), _mm256_storeu_pd(d1, s10);
        _mm256_storeu_pd(d1 + 4, s11), _mm256_storeu_pd(d2, s20), _mm256_storeu_pd(d2 + 4, s21);
        _mm256_storeu_pd(d3, s30), _mm256_storeu_pd(d3 + 4, s31);
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

/* ---- Packed operands: the same dot products with both sides already in double ----
 *
 * Converting floats costs as much as the multiply-adds in the kernels above. A matmul that reuses each column
 * for many rows converts its columns once (mg_ref_pack_pairs) and each group of four rows once
 * (mg_ref_pack_rows4), and the kernel then only loads and multiply-adds. Only whole blocks of four are
 * packed: the tail is added from the floats into partial sum 0, after the blocks, as mg_ref_dot does. */

size_t mg_ref_packed_pairs_size(size_t n, size_t k)
{
    return (n + 1) / 2 * (k / 4) * 8;
}

void mg_ref_pack_pairs(const float *columns, size_t n, size_t k, double *dst)
{
    const size_t blocks = k / 4;
    for (size_t q = 0; q < (n + 1) / 2; q++) {
        const float *c0 = columns + 2 * q * k, *c1 = 2 * q + 1 < n ? c0 + k : c0;
        for (size_t t = 0; t < blocks; t++, dst += 8)
            for (size_t p = 0; p < 4; p++) {
                dst[p] = c0[4 * t + p];
                dst[4 + p] = c1[4 * t + p];
            }
    }
}

void mg_ref_pack_rows4(const float *const a[4], size_t k, double *dst)
{
    for (size_t t = 0; t < k / 4; t++, dst += 16)
        for (size_t r = 0; r < 4; r++)
            for (size_t p = 0; p < 4; p++)
                dst[r * 4 + p] = a[r][4 * t + p];
}

/* s[r][c][p] are the partial sums of row r, column c; the tail goes into p = 0, then the fixed-order sum. */
static void finish_packed(double s[4][4][4], const float *const a[4], const float *const b[4], size_t k,
                          double out[16])
{
    for (size_t i = k / 4 * 4; i < k; i++)
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 4; c++)
                s[r][c][0] += (double)a[r][i] * (double)b[c][i];
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 4; c++)
            out[r * 4 + c] = (s[r][c][0] + s[r][c][1]) + (s[r][c][2] + s[r][c][3]);
}

static void dot_packed_portable(const double *a_packed, const double *const pairs[2], const float *const a[4],
                                const float *const b[4], size_t k, double out[16])
{
    double s[4][4][4] = {{{0.0}}};
    for (size_t t = 0; t < k / 4; t++)
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 4; c++)
                for (size_t p = 0; p < 4; p++)
                    s[r][c][p] += a_packed[t * 16 + r * 4 + p] * pairs[c / 2][t * 8 + (c % 2) * 4 + p];
    finish_packed(s, a, b, k, out);
}

#if MG_HAVE_AVX2_KERNEL
/* One pair at a time: 4 rows x 2 columns of 4 lanes, eight sums in flight. */
__attribute__((target("avx2,fma"))) static void dot_packed_avx2(const double *a_packed, const double *const pairs[2],
                                                                 const float *const a[4], const float *const b[4],
                                                                 size_t k, double out[16])
{
    const size_t blocks = k / 4;
    double s[4][4][4];
    for (size_t q = 0; q < 2; q++) {
        __m256d s00 = _mm256_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00,
                s31 = s00;
        const double *pair = pairs[q];
        for (size_t t = 0; t < blocks; t++) {
            const __m256d b0 = _mm256_loadu_pd(pair + t * 8), b1 = _mm256_loadu_pd(pair + t * 8 + 4);
            const double *rows = a_packed + t * 16;
            __m256d av = _mm256_loadu_pd(rows);
            s00 = _mm256_fmadd_pd(av, b0, s00), s01 = _mm256_fmadd_pd(av, b1, s01);
            av = _mm256_loadu_pd(rows + 4);
            s10 = _mm256_fmadd_pd(av, b0, s10), s11 = _mm256_fmadd_pd(av, b1, s11);
            av = _mm256_loadu_pd(rows + 8);
            s20 = _mm256_fmadd_pd(av, b0, s20), s21 = _mm256_fmadd_pd(av, b1, s21);
            av = _mm256_loadu_pd(rows + 12);
            s30 = _mm256_fmadd_pd(av, b0, s30), s31 = _mm256_fmadd_pd(av, b1, s31);
        }
        const __m256d acc[4][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
        for (size_t r = 0; r < 4; r++) {
            if (k % 4 == 0) { /* no tail: the lanes summed in mg_ref_dot's order, as in dot4x2_avx2 */
                const __m256d sums = _mm256_hadd_pd(acc[r][0], acc[r][1]);
                _mm_storeu_pd(out + r * 4 + 2 * q,
                              _mm_add_pd(_mm256_castpd256_pd128(sums), _mm256_extractf128_pd(sums, 1)));
            } else {
                _mm256_storeu_pd(s[r][2 * q], acc[r][0]);
                _mm256_storeu_pd(s[r][2 * q + 1], acc[r][1]);
            }
        }
    }
    if (k % 4 != 0)
        finish_packed(s, a, b, k, out);
}

/* Both pairs at once: a zmm holds a pair's two columns (4 lanes each), a row's block is broadcast to both halves:
 * 4 rows x 4 columns in 8 registers, 64 multiply-adds per 6 loads. */
__attribute__((target("avx512f,avx2,fma"))) static void dot_packed_avx512(const double *a_packed,
                                                                           const double *const pairs[2],
                                                                           const float *const a[4],
                                                                           const float *const b[4], size_t k,
                                                                           double out[16])
{
    const size_t blocks = k / 4;
    __m512d s00 = _mm512_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    const double *pair0 = pairs[0], *pair1 = pairs[1];
    for (size_t t = 0; t < blocks; t++) {
        const __m512d b01 = _mm512_loadu_pd(pair0 + t * 8), b23 = _mm512_loadu_pd(pair1 + t * 8);
        const double *rows = a_packed + t * 16;
        __m512d av = _mm512_broadcast_f64x4(_mm256_loadu_pd(rows));
        s00 = _mm512_fmadd_pd(av, b01, s00), s01 = _mm512_fmadd_pd(av, b23, s01);
        av = _mm512_broadcast_f64x4(_mm256_loadu_pd(rows + 4));
        s10 = _mm512_fmadd_pd(av, b01, s10), s11 = _mm512_fmadd_pd(av, b23, s11);
        av = _mm512_broadcast_f64x4(_mm256_loadu_pd(rows + 8));
        s20 = _mm512_fmadd_pd(av, b01, s20), s21 = _mm512_fmadd_pd(av, b23, s21);
        av = _mm512_broadcast_f64x4(_mm256_loadu_pd(rows + 12));
        s30 = _mm512_fmadd_pd(av, b01, s30), s31 = _mm512_fmadd_pd(av, b23, s31);
    }
    const __m512d acc[4][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
    if (k % 4 == 0) { /* no tail: each half's lanes summed in mg_ref_dot's order */
        for (size_t r = 0; r < 4; r++)
            for (size_t q = 0; q < 2; q++) {
                const __m256d sums =
                    _mm256_hadd_pd(_mm512_castpd512_pd256(acc[r][q]), _mm512_extractf64x4_pd(acc[r][q], 1));
                _mm_storeu_pd(out + r * 4 + 2 * q,
                              _mm_add_pd(_mm256_castpd256_pd128(sums), _mm256_extractf128_pd(sums, 1)));
            }
        return;
    }
    double s[4][4][4];
    for (size_t r = 0; r < 4; r++)
        for (size_t q = 0; q < 2; q++) {
            _mm256_storeu_pd(s[r][2 * q], _mm512_castpd512_pd256(acc[r][q]));
            _mm256_storeu_pd(s[r][2 * q + 1], _mm512_extractf64x4_pd(acc[r][q], 1));
        }
    finish_packed(s, a, b, k, out);
}
#endif

void mg_ref_dot_packed4x4(const double *a_packed, const double *const pairs[2], const float *const a[4],
                          const float *const b[4], size_t k, double out[16])
{
#if MG_HAVE_AVX2_KERNEL
    if (use_avx512()) {
        dot_packed_avx512(a_packed, pairs, a, b, k, out);
        return;
    }
    if (use_avx2()) {
        dot_packed_avx2(a_packed, pairs, a, b, k, out);
        return;
    }
#endif
    dot_packed_portable(a_packed, pairs, a, b, k, out);
}
