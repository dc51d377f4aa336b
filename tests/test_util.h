/* Helpers shared by the Criterion tests. */
#ifndef MG_TEST_UTIL_H
#define MG_TEST_UTIL_H

#include "ops/ops.h"

#include <criterion/criterion.h>

/* A Vulkan context on MESHGPT_TEST_DEVICE (default: auto) with the Khronos
 * validation layer on; every validation message is counted and fails the test
 * in test_close(). */
mg_context *test_vulkan_context(void);
mg_context *test_vulkan_context_with(mg_context_params params);
mg_context *test_cpu_context(void);
/* Asserts that the validation layer said nothing, then destroys the context. */
void test_close(mg_context *ctx);
/* Number of error-level log messages seen on contexts made by these helpers. */
unsigned test_error_log_count(void);

/* Deterministic pseudo-random values in [lo, hi). */
void test_fill_uniform(float *values, size_t count, uint32_t seed, float lo, float hi);

/* A tensor of `dtype` on ctx holding `values` (converted to f16 if asked). */
mg_tensor *test_tensor(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, const float *values);
mg_tensor *test_tensor_i32(mg_context *ctx, int ndim, const int64_t *shape, const int32_t *values);
mg_tensor *test_empty(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape);
/* Reads an f32 tensor into a new malloc'ed array. */
float *test_read(const mg_tensor *t);

/* sum (a - b)^2 / sum b^2 (b is the reference); 0 when both are all zero. */
double test_nmse(const float *a, const float *reference, size_t count);
/* Asserts no NaN and no infinity where the reference has none. */
void test_assert_finite_like(const float *values, const float *reference, size_t count);

/* f16 rounding of an array, in place: what the device sees of f16 weights. */
void test_round_to_f16(float *values, size_t count);

/* Tolerance check against hand-computed values: |got[i] - want[i]| <= tolerance
 * for every element (the CPU reference tests' oracle comparison). */
void test_assert_close(const float *got, const double *want, size_t count, double tolerance);
/* The Vulkan-vs-reference comparison of the op tests: no NaN or infinity where
 * the reference has none (test_assert_finite_like), then test_nmse <= bound. */
void test_compare(const char *what, const float *got, const float *want, size_t count, double bound);

/* An op's output placed between guard words: `view` (dtype, shape) starts
 * TEST_GUARD_BEFORE 32-bit words into `parent`, which is filled with
 * TEST_GUARD_PATTERN (a NaN) and has TEST_GUARD_AFTER more words after the
 * view. A shader that writes outside its output changes a guard word.
 * The dtype must be 32-bit (f32 or i32). */
#define TEST_GUARD_BEFORE 7 /* 28 bytes: not a multiple of any binding alignment */
#define TEST_GUARD_AFTER 33
#define TEST_GUARD_PATTERN 0x7fbadbadu
typedef struct test_guarded {
    mg_tensor *parent;
    mg_tensor *view;
} test_guarded;
test_guarded test_guarded_output(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape);
/* Asserts that every guard word is untouched, then frees view and parent. */
void test_guard_check(test_guarded *g, const char *what);
/* test_guard_check, returning first a new malloc'ed copy of the view's 32-bit
 * words (float or int32_t values, as the view's dtype). */
void *test_guarded_take(test_guarded *g, const char *what);

/* Input tensors that are views `lead` elements into a larger tensor, so that
 * shaders see element offsets that are not multiples of the binding alignment.
 * test_offset_input converts `values` to dtype (f32 or f16) and leaves 3 spare
 * elements after the view; test_offset_ids holds int32 values (ids, masks,
 * offsets) and ends with the view. The caller frees the view only: it keeps
 * the storage alive. */
mg_tensor *test_offset_input(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, const float *values,
                             size_t lead);
mg_tensor *test_offset_ids(mg_context *ctx, int ndim, const int64_t *shape, const int32_t *ids, size_t lead);

/* test_vulkan_context with MESHGPT_BINDING_SLACK=256: bindings widened past
 * the guard words, because lavapipe drops writes outside a binding, which
 * would hide an overflowing shader from the guards. */
mg_context *test_vulkan_context_with_slack(void);
/* A Vulkan context (test_vulkan_context_with_slack) and a CPU reference
 * context to run the same op on. */
typedef struct test_pair {
    mg_context *vk;
    mg_context *ref;
} test_pair;
test_pair test_open_pair(void);
/* test_close on the Vulkan context (fails on validation messages), destroys the CPU one. */
void test_close_pair(test_pair pair);

#endif
