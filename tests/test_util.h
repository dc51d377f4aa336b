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

#endif
