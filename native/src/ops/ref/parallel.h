/*
 * The CPU reference's only parallelism: a range of independent items split
 * over a few threads. Each item is computed by the same code whatever the
 * thread count, so results never depend on it (the reference stays a
 * deterministic oracle). MESHGPT_CPU_THREADS caps the threads (1: none).
 */
#ifndef MG_OPS_REF_PARALLEL_H
#define MG_OPS_REF_PARALLEL_H

#include <stddef.h>

/* The hot loops of the CPU reference (dot products, the matmul and conv1d gradients) get a second copy built
 * for AVX2, picked when the library loads on an x86-64 CPU that has it (function multi-versioning, an ifunc).
 * Their sums add float x float products, which are exact in double, in a fixed order, so the AVX2 copy gives
 * the same bits as the baseline SSE2 one; it only adds 4 doubles per instruction instead of 2. GCC only: Clang
 * names the clones differently and wants the attribute on every declaration, so for it (the fuzz build) the
 * loops stay as they are. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MG_REF_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef MG_REF_VECTOR_CLONES
#define MG_REF_VECTOR_CLONES
#endif

typedef void (*mg_ref_range_fn)(size_t begin, size_t end, void *context);

/* Runs fn over [0, count) in contiguous chunks; `cost` estimates the work of the whole range in multiply-adds,
 * and small ranges run on the calling thread. */
void mg_ref_parallel_for(size_t count, double cost, mg_ref_range_fn fn, void *context);

/* sum a[i] * b[i] for i < n, accumulated in double over four interleaved partial sums (summed in a fixed
 * order at the end): the dot product of every reference matmul. */
double mg_ref_dot(const float *a, const float *b, size_t n);

/* The dot products of four rows of a (a, a + a_stride, a + 2 a_stride, a + 3 a_stride) with one b, each
 * bit-identical to mg_ref_dot's: b is loaded once for the four, which is what makes a matmul's inner loop
 * compute-bound instead of waiting on the cache. */
void mg_ref_dot4(const float *a, size_t a_stride, const float *b, size_t n, double out[4]);

/* The dot products of four rows a[0..3] with two rows of b (b, b + b_stride): out[r * 2 + c] =
 * mg_ref_dot(a[r], b + c b_stride, n), bit for bit, about twice as fast as two mg_ref_dot4 calls on a CPU with
 * AVX2 (dot_block.c). A block with fewer rows repeats one (a row pointer twice), fewer columns b_stride 0. */
void mg_ref_dot4x2(const float *const a[4], const float *b, size_t b_stride, size_t n, double out[8]);

/* For t < 4 and j < n: dst[t * dst_stride + j] += a[r * a_stride + t] * g[r * g_stride + j] summed over
 * r = 0 .. rows-1 in that order (each product in double): four rows of a weight gradient, A^T G. */
void mg_ref_rank1_accumulate4(double *dst, size_t dst_stride, size_t n, const float *a, size_t a_stride,
                              const float *g, size_t g_stride, size_t rows);

/* Packed operands (dot_block.c), for products that reuse each side many times: both sides converted to double
 * once, in whole blocks of 4 along the dot product's length k.
 * mg_ref_pack_pairs: n columns (rows of B^T, length k, contiguous) as (n + 1) / 2 pairs of
 * mg_ref_packed_pairs_size(n, k) / ((n + 1) / 2) doubles, pair q = columns 2q and 2q + 1 (an odd last column
 * with itself). mg_ref_pack_rows4: four rows a[r] (length k) for one call's a_packed, (k / 4) * 16 doubles.
 * mg_ref_dot_packed4x4: out[r * 4 + c] = mg_ref_dot(a[r], b[c], k), bit for bit, where pairs[0] holds the
 * columns b[0], b[1] and pairs[1] b[2], b[3] (the float rows give the tail). */
size_t mg_ref_packed_pairs_size(size_t n, size_t k);
void mg_ref_pack_pairs(const float *columns, size_t n, size_t k, double *dst);
void mg_ref_pack_rows4(const float *const a[4], size_t k, double *dst);
void mg_ref_dot_packed4x4(const double *a_packed, const double *const pairs[2], const float *const a[4],
                          const float *const b[4], size_t k, double out[16]);

/* Tests: the widest instructions the kernels of dot_block.c may use (default: the best the CPU has). Their
 * results are the same bits whichever runs; this is how that is checked. */
typedef enum mg_ref_kernel_set { MG_REF_KERNELS_BEST, MG_REF_KERNELS_AVX2, MG_REF_KERNELS_PORTABLE } mg_ref_kernel_set;
void mg_ref_kernels_limit(mg_ref_kernel_set limit);

/* A conv1d weight [co, ci, kernel] (PyTorch's layout, f32 or f16) as f32 [co, kernel, ci], so that each tap's
 * input weights are contiguous; malloc'ed, NULL when out of memory. */
#include "ops/ref/ref_ops.h"
float *mg_ref_conv_taps(mg_ref_param weight, size_t ci, size_t co, size_t kernel);

#endif
