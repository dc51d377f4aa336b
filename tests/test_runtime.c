/* The Vulkan runtime: device choice, barriers on hazards only, batching,
 * memory limits and the allocator, the on-disk pipeline cache, staging. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- log capture ---- */
static char captured[16384];

static void capture_log(mg_log_level level, const char *message, void *user_data)
{
    (void)level;
    (void)user_data;
    size_t used = strlen(captured);
    snprintf(captured + used, sizeof captured - used, "%s\n", message);
}

static mg_context_stats stats_of(mg_context *ctx)
{
    mg_context_stats s;
    cr_assert_eq(mg_context_get_stats(ctx, &s), MG_OK);
    return s;
}

Test(runtime, device_list_has_vulkan_devices_then_the_cpu_reference)
{
    mg_device_info *devices = NULL;
    size_t count = 0;
    char error[256];
    cr_assert_eq(mg_devices_list(&devices, &count, error, sizeof error), MG_OK, "%s", error);
    cr_assert_geq(count, 2, "expected lavapipe (or a GPU) and the CPU reference");
    cr_assert_eq(devices[count - 1].type, MG_DEVICE_CPU_REFERENCE);
    cr_assert_eq(devices[count - 1].index, -1);
    int preferred = 0;
    for (size_t i = 0; i < count; i++) {
        preferred += devices[i].preferred;
        if (devices[i].type != MG_DEVICE_CPU_REFERENCE) {
            cr_assert_eq(devices[i].index, (int)i);
            cr_assert_gt(strlen(devices[i].name), 0);
            cr_assert_gt(devices[i].subgroup_size, 0);
            cr_assert_geq(devices[i].max_shared_memory_bytes, 16384, "Vulkan guarantees 16 KiB");
            cr_assert_geq(devices[i].max_storage_buffer_range, 1u << 27);
        }
    }
    cr_assert_eq(preferred, 1, "exactly one device is the automatic choice");
    mg_devices_free(devices);
}

Test(runtime, automatic_choice_is_a_vulkan_device_here)
{
    mg_context *ctx = test_vulkan_context();
    mg_device_info info;
    cr_assert_eq(mg_context_device_info(ctx, &info), MG_OK);
    cr_assert_geq(info.index, 0);
    test_close(ctx);
}

Test(runtime, environment_variable_chooses_the_device)
{
    setenv("MESHGPT_DEVICE", "cpu", 1);
    mg_context *ctx = NULL;
    cr_assert_eq(mg_context_create(NULL, &ctx, NULL, 0), MG_OK);
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    cr_assert_eq(info.type, MG_DEVICE_CPU_REFERENCE);
    mg_context_destroy(ctx);

    /* an explicit device in the parameters wins over the variable */
    mg_context_params params = mg_context_default_params();
    params.device = "0";
    cr_assert_eq(mg_context_create(&params, &ctx, NULL, 0), MG_OK);
    mg_context_device_info(ctx, &info);
    cr_assert_eq(info.index, 0);
    mg_context_destroy(ctx);

    setenv("MESHGPT_DEVICE", "42", 1);
    char error[512];
    params = mg_context_default_params();
    params.log_level = MG_LOG_NONE;
    cr_assert_eq(mg_context_create(&params, &ctx, error, sizeof error), MG_ERR_NO_DEVICE);
    cr_assert_null(ctx);
    cr_assert(strstr(error, "no Vulkan device 42"), "%s", error);
    unsetenv("MESHGPT_DEVICE");
}

Test(runtime, log_callback_receives_the_chosen_device)
{
    captured[0] = '\0';
    mg_context_params params = mg_context_default_params();
    params.log_callback = capture_log;
    params.log_level = MG_LOG_INFO;
    mg_context *ctx = test_vulkan_context_with(params);
    cr_assert(strstr(captured, "using Vulkan device 0"), "log was: %s", captured);
    test_close(ctx);
}

Test(runtime, barriers_only_where_a_later_op_touches_what_an_earlier_one_wrote)
{
    mg_context *ctx = test_vulkan_context();
    int64_t shape[1] = {1000};
    float values[1000];
    test_fill_uniform(values, 1000, 5, -1, 1);
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 1, shape, values);
    mg_tensor *y = test_empty(ctx, MG_DTYPE_F32, 1, shape), *z = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    mg_tensor *w = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    mg_context_stats before = stats_of(ctx);
    /* two ops reading x into different outputs: independent (read after read) */
    cr_assert_eq(mg_op_scale(ctx, x, 2.0f, 0.0f, y), MG_OK);
    cr_assert_eq(mg_op_scale(ctx, x, 3.0f, 0.0f, z), MG_OK);
    mg_context_stats after_independent = stats_of(ctx);
    cr_assert_eq(after_independent.barriers - before.barriers, 0, "independent ops need no barrier");
    /* reading y and z, written above: one barrier (read after write) */
    cr_assert_eq(mg_op_add(ctx, y, z, w), MG_OK);
    mg_context_stats after_raw = stats_of(ctx);
    cr_assert_eq(after_raw.barriers - after_independent.barriers, 1);
    /* writing x, which the first two read, in a new interval: no hazard left (the
     * barrier above ordered those reads); writing y, read by the add: one barrier */
    cr_assert_eq(mg_op_scale(ctx, w, 1.0f, 1.0f, y), MG_OK);
    mg_context_stats after_war = stats_of(ctx);
    cr_assert_eq(after_war.barriers - after_raw.barriers, 1, "write after read needs a barrier");
    cr_assert_eq(after_war.dispatches - before.dispatches, 4);

    float *result = test_read(y);
    for (int i = 0; i < 1000; i++)
        cr_assert_float_eq(result[i], 5.0f * values[i] + 1.0f, 1e-5f, "element %d", i);
    free(result);
    mg_tensor_free(x);
    mg_tensor_free(y);
    mg_tensor_free(z);
    mg_tensor_free(w);
    test_close(ctx); /* synchronization validation must have nothing to say */
}

Test(runtime, long_dependent_chain_spans_several_batches)
{
    mg_context *vk = test_vulkan_context(), *cpu = test_cpu_context();
    int64_t shape[1] = {4097};
    float values[4097];
    test_fill_uniform(values, 4097, 6, -1, 1);
    mg_tensor *a = test_tensor(vk, MG_DTYPE_F32, 1, shape, values), *b = test_empty(vk, MG_DTYPE_F32, 1, shape);
    mg_tensor *ra = test_tensor(cpu, MG_DTYPE_F32, 1, shape, values), *rb = test_empty(cpu, MG_DTYPE_F32, 1, shape);
    mg_context_stats before = stats_of(vk);
    for (int i = 0; i < 300; i++) {
        mg_tensor *from = i % 2 ? b : a, *to = i % 2 ? a : b;
        mg_tensor *rfrom = i % 2 ? rb : ra, *rto = i % 2 ? ra : rb;
        cr_assert_eq(mg_op_scale(vk, from, 1.001f, 0.001f, to), MG_OK);
        cr_assert_eq(mg_op_unary(vk, MG_UNARY_TANH, to, to), MG_OK);
        cr_assert_eq(mg_op_scale(cpu, rfrom, 1.001f, 0.001f, rto), MG_OK);
        cr_assert_eq(mg_op_unary(cpu, MG_UNARY_TANH, rto, rto), MG_OK);
    }
    mg_context_stats after = stats_of(vk);
    uint64_t batches_closed = after.submits - before.submits;
    cr_assert_geq(batches_closed, 5, "600 dispatches should have been submitted in batches");
    /* Each op depends on the one before: a barrier, except for the first op of a
     * new command buffer, which starts with a full barrier of its own. */
    cr_assert_eq(after.barriers - before.barriers, 599 - batches_closed);
    float *got = test_read(a), *want = test_read(ra);
    double nmse = test_nmse(got, want, 4097);
    cr_assert(nmse < 1e-7, "normalized MSE %.3g after 600 dependent ops", nmse);
    free(got);
    free(want);
    mg_tensor_free(a);
    mg_tensor_free(b);
    mg_tensor_free(ra);
    mg_tensor_free(rb);
    test_close(vk);
    mg_context_destroy(cpu);
}

Test(runtime, memory_limit_gives_a_clear_out_of_memory_and_recovers)
{
    mg_context_params params = mg_context_default_params();
    params.device_memory_limit = 1u << 20;
    mg_context *ctx = test_vulkan_context_with(params);
    mg_context_stats baseline = stats_of(ctx);
    int64_t big[1] = {(1 << 20) / 4 + 1024}; /* just over 1 MiB */
    mg_tensor *t = NULL;
    cr_assert_eq(mg_tensor_create(ctx, MG_DTYPE_F32, 1, big, &t), MG_ERR_DEVICE_OUT_OF_MEMORY);
    cr_assert_null(t);
    cr_assert(strstr(mg_context_last_error(ctx), "device memory limit"), "%s", mg_context_last_error(ctx));
    int64_t small[1] = {4096};
    mg_tensor *a = test_empty(ctx, MG_DTYPE_F32, 1, small), *b = test_empty(ctx, MG_DTYPE_F32, 1, small);
    cr_assert_eq(mg_op_scale(ctx, a, 1.0f, 2.0f, b), MG_OK);
    mg_tensor_free(a);
    mg_tensor_free(b);
    cr_assert_eq(stats_of(ctx).device_bytes_in_use, baseline.device_bytes_in_use, "freed tensors return memory");
    test_close(ctx);
}

Test(runtime, allocator_never_overlaps_live_tensors)
{
    mg_context *ctx = test_vulkan_context();
    mg_context_stats baseline = stats_of(ctx);
    enum { N = 160 };
    mg_tensor *tensors[N] = {0};
    uint32_t state = 12345;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            state = state * 1664525u + 1013904223u;
            if (tensors[i] && (state >> 16) % 2) {
                mg_tensor_free(tensors[i]);
                tensors[i] = NULL;
            }
            if (!tensors[i]) {
                int64_t shape[1] = {1 + (int64_t)((state >> 8) % 20000)};
                if (i % 17 == 0)
                    shape[0] = 9 << 20; /* 36 MiB: more than half a block, a dedicated block */
                tensors[i] = test_empty(ctx, MG_DTYPE_I32, 1, shape);
            }
            cr_assert_eq(mg_tensor_fill_u32(tensors[i], 0xa5000000u + (uint32_t)i), MG_OK);
        }
        for (int i = 0; i < N; i++) {
            uint32_t *words = malloc(tensors[i]->nbytes);
            cr_assert_eq(mg_tensor_read(tensors[i], words, tensors[i]->nbytes), MG_OK);
            for (size_t w = 0; w < tensors[i]->count; w++)
                cr_assert_eq(words[w], 0xa5000000u + (uint32_t)i, "tensor %d word %zu was overwritten by another", i, w);
            free(words);
        }
    }
    for (int i = 0; i < N; i++)
        mg_tensor_free(tensors[i]);
    mg_context_stats end = stats_of(ctx);
    cr_assert_eq(end.device_bytes_in_use, baseline.device_bytes_in_use);
    cr_assert_leq(end.device_bytes_allocated, baseline.device_bytes_allocated + (128u << 20),
                  "dedicated blocks go back to the driver when empty");
    test_close(ctx);
}

Test(runtime, staging_path_moves_large_tensors_exactly)
{
    setenv("MESHGPT_FORCE_STAGING", "1", 1);
    mg_context *ctx = test_vulkan_context();
    unsetenv("MESHGPT_FORCE_STAGING");
    int64_t shape[1] = {(40 << 20) / 4 + 7}; /* 40 MiB: more than one 32 MiB staging chunk */
    size_t count = (size_t)shape[0];
    float *values = malloc(count * 4), *back = malloc(count * 4);
    test_fill_uniform(values, count, 8, -100, 100);
    mg_tensor *t = test_tensor(ctx, MG_DTYPE_F32, 1, shape, values);
    mg_tensor *u = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    cr_assert_eq(mg_op_scale(ctx, t, 2.0f, 0.0f, u), MG_OK);
    cr_assert_eq(mg_tensor_read(t, back, count * 4), MG_OK);
    cr_assert_arr_eq(back, values, count * 4, "the round trip through staging changed the data");
    cr_assert_eq(mg_tensor_read(u, back, count * 4), MG_OK);
    for (size_t i = 0; i < count; i += 4099)
        cr_assert_eq(back[i], 2.0f * values[i]);
    cr_assert_eq(back[count - 1], 2.0f * values[count - 1]);
    free(values);
    free(back);
    mg_tensor_free(t);
    mg_tensor_free(u);
    test_close(ctx);
}

Test(runtime, tensor_larger_than_the_bindable_range_is_refused_by_ops)
{
    mg_context *ctx = test_vulkan_context();
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    int64_t shape[1] = {(int64_t)(info.max_storage_buffer_range / 4) + 1024};
    mg_tensor *big = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    cr_assert_eq(mg_op_scale(ctx, big, 1.0f, 0.0f, big), MG_ERR_UNSUPPORTED);
    cr_assert(strstr(mg_context_last_error(ctx), "maxStorageBufferRange"), "%s", mg_context_last_error(ctx));
    mg_tensor_free(big);
    test_close(ctx);
}

/* ---- pipeline cache ---- */

static char cache_dir[256];

static void make_cache_dir(void)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/meshgpt-test-cache-%d", (int)getpid());
}

static mg_context *cached_context(void)
{
    captured[0] = '\0';
    mg_context_params params = mg_context_default_params();
    params.pipeline_cache_dir = cache_dir;
    params.log_callback = capture_log;
    params.log_level = MG_LOG_DEBUG;
    mg_context *ctx = test_vulkan_context_with(params);
    /* run one op so that a pipeline exists */
    int64_t shape[1] = {33};
    float values[33];
    test_fill_uniform(values, 33, 9, -1, 1);
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 1, shape, values), *y = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    cr_assert_eq(mg_op_unary(ctx, MG_UNARY_GELU, x, y), MG_OK);
    float *r = test_read(y);
    cr_assert(fabsf(r[3] - (float)(0.5 * values[3] * (1 + erf(values[3] / sqrt(2.0))))) < 1e-6f);
    free(r);
    mg_tensor_free(x);
    mg_tensor_free(y);
    return ctx;
}

static char *cache_file(void)
{
    static char path[512];
    char command[400];
    snprintf(command, sizeof command, "ls %s/pipelines-*.bin 2>/dev/null", cache_dir);
    FILE *p = popen(command, "r");
    path[0] = '\0';
    if (p) {
        if (!fgets(path, sizeof path, p))
            path[0] = '\0';
        pclose(p);
    }
    path[strcspn(path, "\n")] = '\0';
    return path;
}

static void damage(const char *path, const char *how)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    if (strcmp(how, "flip") == 0) {
        fseek(f, st.st_size - 1, SEEK_SET);
        int c = fgetc(f);
        fseek(f, st.st_size - 1, SEEK_SET);
        fputc(c ^ 0x5a, f);
        fclose(f);
    } else if (strcmp(how, "truncate") == 0) {
        fclose(f);
        cr_assert_eq(truncate(path, st.st_size - 10), 0);
    } else {
        fwrite("GARBAGE!", 1, 8, f);
        fclose(f);
    }
}

Test(runtime, pipeline_cache_is_saved_reloaded_and_validated)
{
    make_cache_dir();
    mg_context *ctx = cached_context();
    test_close(ctx);
    cr_assert(strstr(captured, "saved"), "log: %s", captured);
    const char *path = cache_file();
    cr_assert(path[0], "no cache file in %s", cache_dir);

    ctx = cached_context();
    cr_assert(strstr(captured, "loaded"), "a valid cache is used; log: %s", captured);
    test_close(ctx);

    static const char *damages[] = {"flip", "truncate", "magic"};
    static const char *reasons[] = {"checksum", "truncated", "not a libmeshgpt pipeline cache"};
    for (int i = 0; i < 3; i++) {
        damage(cache_file(), damages[i]);
        ctx = cached_context(); /* still works */
        cr_assert(strstr(captured, reasons[i]), "damage '%s' should be reported as '%s'; log: %s", damages[i],
                  reasons[i], captured);
        cr_assert(!strstr(captured, "loaded"), "a damaged cache must not reach the driver");
        test_close(ctx); /* and a good cache is written again */
        cr_assert(strstr(captured, "saved"), "log: %s", captured);
    }
    char command[300];
    snprintf(command, sizeof command, "rm -rf %s", cache_dir);
    cr_assert_eq(system(command), 0);
}

Test(runtime, pipeline_cache_can_be_disabled)
{
    make_cache_dir();
    mg_context_params params = mg_context_default_params();
    params.pipeline_cache_dir = cache_dir;
    params.disable_pipeline_cache = true;
    mg_context *ctx = test_vulkan_context_with(params);
    int64_t shape[1] = {3};
    float v[3] = {1, 2, 3};
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 1, shape, v);
    cr_assert_eq(mg_op_unary(ctx, MG_UNARY_RELU, x, x), MG_OK);
    mg_tensor_free(x);
    test_close(ctx);
    struct stat st;
    cr_assert_neq(stat(cache_dir, &st), 0, "nothing may be written when the cache is off");
}
