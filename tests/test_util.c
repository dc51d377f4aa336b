#include "test_util.h"

#include "core/half.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint error_logs;

static void count_errors(mg_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    if (level >= MG_LOG_WARN) {
        fprintf(stderr, "[libmeshgpt] %s\n", message);
        if (level >= MG_LOG_ERROR)
            atomic_fetch_add(&error_logs, 1);
    }
}

unsigned test_error_log_count(void)
{
    return atomic_load(&error_logs);
}

mg_context *test_vulkan_context_with(mg_context_params params)
{
    const char *device = getenv("MESHGPT_TEST_DEVICE");
    if (!params.device)
        params.device = device && *device ? device : "auto";
    params.enable_validation = true;
    if (!params.log_callback) {
        params.log_callback = count_errors;
        params.log_level = MG_LOG_WARN;
    }
    mg_context *ctx = NULL;
    char error[1024];
    mg_status status = mg_context_create(&params, &ctx, error, sizeof error);
    cr_assert_eq(status, MG_OK, "creating a Vulkan context with validation failed: %s", error);
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    cr_assert_neq(info.type, MG_DEVICE_CPU_REFERENCE, "expected a Vulkan device (lavapipe at least)");
    return ctx;
}

mg_context *test_vulkan_context(void)
{
    return test_vulkan_context_with(mg_context_default_params());
}

mg_context *test_cpu_context(void)
{
    mg_context_params params = mg_context_default_params();
    params.device = "cpu";
    params.log_callback = count_errors;
    mg_context *ctx = NULL;
    char error[256];
    cr_assert_eq(mg_context_create(&params, &ctx, error, sizeof error), MG_OK, "%s", error);
    return ctx;
}

void test_close(mg_context *ctx)
{
    mg_context_stats stats;
    cr_assert_eq(mg_context_synchronize(ctx), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_context_get_stats(ctx, &stats), MG_OK);
    mg_context_destroy(ctx);
    cr_assert_eq(stats.validation_messages, 0, "the validation layer reported %llu message(s) (see stderr)",
                 (unsigned long long)stats.validation_messages);
}

void test_fill_uniform(float *values, size_t count, uint32_t seed, float lo, float hi)
{
    uint64_t state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed * 0xbf58476d1ce4e5b9ull);
    for (size_t i = 0; i < count; i++) {
        state ^= state >> 30;
        state *= 0xbf58476d1ce4e5b9ull;
        state ^= state >> 27;
        state *= 0x94d049bb133111ebull;
        state ^= state >> 31;
        double unit = (double)(state >> 11) / 9007199254740992.0;
        values[i] = (float)(lo + (hi - lo) * unit);
    }
}

mg_tensor *test_empty(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape)
{
    mg_tensor *t = NULL;
    cr_assert_eq(mg_tensor_create(ctx, dtype, ndim, shape, &t), MG_OK, "%s", mg_context_last_error(ctx));
    return t;
}

mg_tensor *test_tensor(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, const float *values)
{
    mg_tensor *t = test_empty(ctx, dtype, ndim, shape);
    cr_assert_eq(mg_tensor_write_f32(t, values, t->count), MG_OK, "%s", mg_context_last_error(ctx));
    return t;
}

mg_tensor *test_tensor_i32(mg_context *ctx, int ndim, const int64_t *shape, const int32_t *values)
{
    mg_tensor *t = test_empty(ctx, MG_DTYPE_I32, ndim, shape);
    cr_assert_eq(mg_tensor_write(t, values, t->nbytes), MG_OK, "%s", mg_context_last_error(ctx));
    return t;
}

float *test_read(const mg_tensor *t)
{
    float *values = malloc(t->count * sizeof *values);
    cr_assert_not_null(values);
    cr_assert_eq(mg_tensor_read_f32(t, values, t->count), MG_OK, "%s", mg_context_last_error(t->ctx));
    return values;
}

double test_nmse(const float *a, const float *reference, size_t count)
{
    double error = 0.0, energy = 0.0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)a[i] - (double)reference[i];
        error += d * d;
        energy += (double)reference[i] * (double)reference[i];
    }
    if (energy == 0.0)
        return error == 0.0 ? 0.0 : INFINITY;
    return error / energy;
}

void test_assert_finite_like(const float *values, const float *reference, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cr_assert(!isnan(values[i]) || isnan(reference[i]), "NaN at %zu (reference %g)", i, (double)reference[i]);
        if (isinf(reference[i]))
            cr_assert_eq(values[i], reference[i], "infinity mismatch at %zu", i);
        else
            cr_assert(!isinf(values[i]), "infinity at %zu (reference %g)", i, (double)reference[i]);
    }
}

void test_round_to_f16(float *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        values[i] = mg_half_to_float(mg_float_to_half(values[i]));
}

void test_assert_close(const float *got, const double *want, size_t count, double tolerance)
{
    for (size_t i = 0; i < count; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= tolerance, "element %zu: got %.9g, want %.9g", i, (double)got[i],
                  want[i]);
}

void test_compare(const char *what, const float *got, const float *want, size_t count, double bound)
{
    test_assert_finite_like(got, want, count);
    double nmse = test_nmse(got, want, count);
    cr_assert(nmse <= bound, "%s: normalized MSE %.3g exceeds %.1g", what, nmse, bound);
}

static size_t shape_count(int ndim, const int64_t *shape)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    return count;
}

test_guarded test_guarded_output(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape)
{
    cr_assert_eq(mg_dtype_size(dtype), 4, "guarded outputs are 32-bit");
    int64_t parent_shape[1] = {(int64_t)(TEST_GUARD_BEFORE + shape_count(ndim, shape) + TEST_GUARD_AFTER)};
    test_guarded g;
    g.parent = test_empty(ctx, MG_DTYPE_I32, 1, parent_shape);
    cr_assert_eq(mg_tensor_fill_u32(g.parent, TEST_GUARD_PATTERN), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_tensor_view(g.parent, TEST_GUARD_BEFORE * 4, dtype, ndim, shape, &g.view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    return g;
}

/* Reads the parent's words, asserts the guards, frees both tensors and
 * returns the words (the caller frees them). */
static uint32_t *read_and_check_guards(test_guarded *g, const char *what)
{
    size_t words = g->parent->count, payload = g->view->count;
    uint32_t *all = malloc(words * 4);
    cr_assert_not_null(all);
    cr_assert_eq(mg_tensor_read(g->parent, all, words * 4), MG_OK, "%s", mg_context_last_error(g->parent->ctx));
    for (size_t i = 0; i < TEST_GUARD_BEFORE; i++)
        cr_assert_eq(all[i], TEST_GUARD_PATTERN, "%s: guard word %zu before the output was overwritten", what, i);
    for (size_t i = TEST_GUARD_BEFORE + payload; i < words; i++)
        cr_assert_eq(all[i], TEST_GUARD_PATTERN, "%s: guard word %zu after the output was overwritten", what,
                     i - TEST_GUARD_BEFORE - payload);
    mg_tensor_free(g->view);
    mg_tensor_free(g->parent);
    g->view = g->parent = NULL;
    return all;
}

void test_guard_check(test_guarded *g, const char *what)
{
    free(read_and_check_guards(g, what));
}

void *test_guarded_take(test_guarded *g, const char *what)
{
    size_t payload = g->view->count;
    uint32_t *all = read_and_check_guards(g, what);
    void *result = malloc(payload * 4);
    cr_assert_not_null(result);
    memcpy(result, all + TEST_GUARD_BEFORE, payload * 4);
    free(all);
    return result;
}

mg_tensor *test_offset_input(mg_context *ctx, mg_dtype dtype, int ndim, const int64_t *shape, const float *values,
                             size_t lead)
{
    size_t count = shape_count(ndim, shape);
    int64_t parent_shape[1] = {(int64_t)(lead + count + 3)};
    mg_tensor *parent = test_empty(ctx, dtype, 1, parent_shape);
    mg_tensor *view = NULL;
    cr_assert_eq(mg_tensor_view(parent, lead * mg_dtype_size(dtype), dtype, ndim, shape, &view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    mg_tensor_free(parent); /* the view keeps the storage alive */
    cr_assert_eq(mg_tensor_write_f32(view, values, count), MG_OK, "%s", mg_context_last_error(ctx));
    return view;
}

mg_tensor *test_offset_ids(mg_context *ctx, int ndim, const int64_t *shape, const int32_t *ids, size_t lead)
{
    size_t count = shape_count(ndim, shape);
    int64_t parent_shape[1] = {(int64_t)(lead + count)};
    mg_tensor *parent = test_empty(ctx, MG_DTYPE_I32, 1, parent_shape);
    mg_tensor *view = NULL;
    cr_assert_eq(mg_tensor_view(parent, lead * 4, MG_DTYPE_I32, ndim, shape, &view), MG_OK, "%s",
                 mg_context_last_error(ctx));
    mg_tensor_free(parent);
    cr_assert_eq(mg_tensor_write(view, ids, count * 4), MG_OK, "%s", mg_context_last_error(ctx));
    return view;
}

mg_context *test_vulkan_context_with_slack(void)
{
    setenv("MESHGPT_BINDING_SLACK", "256", 1);
    mg_context *ctx = test_vulkan_context();
    unsetenv("MESHGPT_BINDING_SLACK");
    return ctx;
}

test_pair test_open_pair(void)
{
    test_pair pair = {test_vulkan_context_with_slack(), test_cpu_context()};
    return pair;
}

void test_close_pair(test_pair pair)
{
    test_close(pair.vk);
    mg_context_destroy(pair.ref);
}
