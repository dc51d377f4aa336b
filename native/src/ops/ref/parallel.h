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

/* Tests: true makes mg_ref_dot4x2 and mg_ref_rank1_accumulate4 take their portable loops even where the AVX2
 * ones could run (their results are the same bits either way; this is how that is checked). */
#include <stdbool.h>
void mg_ref_kernels_portable_only(bool portable);

/* A conv1d weight [co, ci, kernel] (PyTorch's layout, f32 or f16) as f32 [co, kernel, ci], so that each tap's
 * input weights are contiguous; malloc'ed, NULL when out of memory. */
#include "ops/ref/ref_ops.h"
float *mg_ref_conv_taps(mg_ref_param weight, size_t ci, size_t co, size_t kernel);

#endif
