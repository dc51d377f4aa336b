/* Bad input: every mistake gets a status and a message saying what is wrong;
 * nothing aborts, nothing leaks (the sanitizer build checks the latter). Runs
 * on the CPU reference and on Vulkan: argument checks are shared. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void expect(mg_context *ctx, mg_status got, mg_status want, const char *fragment)
{
    cr_assert_eq(got, want, "status %s (%s), expected %s", mg_status_string(got), mg_context_last_error(ctx),
                 mg_status_string(want));
    cr_assert(strstr(mg_context_last_error(ctx), fragment), "message \"%s\" should mention \"%s\"",
              mg_context_last_error(ctx), fragment);
}

static void shape_and_dtype_mistakes(mg_context *ctx)
{
    mg_tensor *t = NULL;
    int64_t zero[2] = {3, 0};
    expect(ctx, mg_tensor_create(ctx, MG_DTYPE_F32, 2, zero, &t), MG_ERR_INVALID_ARGUMENT, "at least 1");
    cr_assert_null(t);
    int64_t shape5[5] = {1, 1, 1, 1, 1};
    expect(ctx, mg_tensor_create(ctx, MG_DTYPE_F32, 5, shape5, &t), MG_ERR_INVALID_ARGUMENT, "1 to 4 dimensions");
    expect(ctx, mg_tensor_create(ctx, (mg_dtype)9, 1, shape5, &t), MG_ERR_INVALID_ARGUMENT, "dtype");

    int64_t a_shape[2] = {4, 5}, b_shape[2] = {6, 7}, o_shape[2] = {4, 7};
    mg_tensor *a = test_empty(ctx, MG_DTYPE_F32, 2, a_shape), *b = test_empty(ctx, MG_DTYPE_F32, 2, b_shape);
    mg_tensor *out = test_empty(ctx, MG_DTYPE_F32, 2, o_shape);
    expect(ctx, mg_op_matmul(ctx, a, b, NULL, false, out), MG_ERR_INVALID_ARGUMENT, "k = 5");
    expect(ctx, mg_op_matmul(ctx, a, NULL, NULL, false, out), MG_ERR_INVALID_ARGUMENT, "b is NULL");
    expect(ctx, mg_op_matmul(ctx, a, a, NULL, true, a), MG_ERR_INVALID_ARGUMENT, "out has shape");
    int64_t sq[2] = {5, 5};
    mg_tensor *square = test_empty(ctx, MG_DTYPE_F32, 2, sq);
    mg_tensor *a_out = test_empty(ctx, MG_DTYPE_F32, 2, a_shape);
    mg_tensor *bias = test_empty(ctx, MG_DTYPE_F32, 1, sq);
    int64_t wrong_bias_shape[1] = {4};
    mg_tensor *wrong_bias = test_empty(ctx, MG_DTYPE_F32, 1, wrong_bias_shape);
    cr_assert_eq(mg_op_matmul(ctx, a, square, bias, false, a_out), MG_OK, "%s", mg_context_last_error(ctx));
    expect(ctx, mg_op_matmul(ctx, a, square, wrong_bias, false, a_out), MG_ERR_INVALID_ARGUMENT, "bias");
    expect(ctx, mg_op_matmul(ctx, a, square, NULL, false, a), MG_ERR_INVALID_ARGUMENT, "cannot run in place");
    mg_tensor *ids = test_empty(ctx, MG_DTYPE_I32, 2, a_shape);
    expect(ctx, mg_op_matmul(ctx, ids, square, NULL, false, a_out), MG_ERR_INVALID_ARGUMENT, "a is i32");
    mg_tensor *f16_b = test_empty(ctx, MG_DTYPE_F16, 2, sq);
    expect(ctx, mg_op_matmul(ctx, a, f16_b, bias, false, a_out), MG_ERR_INVALID_ARGUMENT, "bias is f32 but must be f16");

    expect(ctx, mg_op_add(ctx, a, b, a), MG_ERR_INVALID_ARGUMENT, "trailing dimensions");
    expect(ctx, mg_op_unary(ctx, (mg_unary_op)42, a, a), MG_ERR_INVALID_ARGUMENT, "unknown op");
    expect(ctx, mg_op_unary(ctx, MG_UNARY_GELU, a, out), MG_ERR_INVALID_ARGUMENT, "out has shape [4, 7]");
    expect(ctx, mg_op_layer_norm(ctx, a, wrong_bias, NULL, 1e-5f, 0.0f, a), MG_ERR_INVALID_ARGUMENT, "gamma");
    expect(ctx, mg_op_layer_norm(ctx, a, NULL, NULL, NAN, 0.0f, a), MG_ERR_INVALID_ARGUMENT, "eps");
    expect(ctx, mg_op_geglu(ctx, a, a_out), MG_ERR_INVALID_ARGUMENT, "even last dimension");
    expect(ctx, mg_op_argmax(ctx, a, a_out), MG_ERR_INVALID_ARGUMENT, "out is f32 but must be i32");
    int64_t mask_shape[2] = {1, 3};
    mg_tensor *mask = test_empty(ctx, MG_DTYPE_I32, 2, mask_shape);
    mg_softmax_options o = mg_softmax_default_options();
    o.mask = mask;
    expect(ctx, mg_op_softmax(ctx, a, &o, a), MG_ERR_INVALID_ARGUMENT, "mask");
    int64_t table_shape[2] = {10, 3}, emb_out_shape[3] = {4, 5, 2};
    mg_tensor *table = test_empty(ctx, MG_DTYPE_F32, 2, table_shape);
    mg_tensor *emb_out = test_empty(ctx, MG_DTYPE_F32, 3, emb_out_shape);
    expect(ctx, mg_op_embedding(ctx, table, ids, emb_out), MG_ERR_INVALID_ARGUMENT, "ids [4, 5] need [..., 3]");

    /* views and transfers */
    mg_tensor *view = NULL;
    expect(ctx, mg_tensor_view(a, 4 * 18, MG_DTYPE_F32, 1, wrong_bias_shape, &view), MG_ERR_INVALID_ARGUMENT,
           "does not fit");
    expect(ctx, mg_tensor_view(a, 2, MG_DTYPE_F32, 1, wrong_bias_shape, &view), MG_ERR_INVALID_ARGUMENT, "misaligned");
    float small[3];
    expect(ctx, mg_tensor_write(a, small, sizeof small), MG_ERR_INVALID_ARGUMENT, "12 bytes given");
    expect(ctx, mg_tensor_read(a, NULL, a->nbytes), MG_ERR_INVALID_ARGUMENT, "data is NULL");

    mg_tensor *all[] = {a, b, out, square, a_out, bias, wrong_bias, ids, f16_b, mask, table, emb_out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
}

Test(bad_input, shapes_dtypes_and_aliasing_on_the_cpu_reference)
{
    mg_context *ctx = test_cpu_context();
    shape_and_dtype_mistakes(ctx);
    mg_context_destroy(ctx);
}

Test(bad_input, shapes_dtypes_and_aliasing_on_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    shape_and_dtype_mistakes(ctx);
    test_close(ctx);
}

Test(bad_input, tensors_of_another_context)
{
    mg_context *one = test_cpu_context(), *two = test_cpu_context();
    int64_t shape[1] = {4};
    mg_tensor *x = test_empty(one, MG_DTYPE_F32, 1, shape), *y = test_empty(two, MG_DTYPE_F32, 1, shape);
    expect(two, mg_op_scale(two, x, 1.0f, 0.0f, y), MG_ERR_INVALID_ARGUMENT, "another context");
    mg_tensor_free(x);
    mg_tensor_free(y);
    mg_context_destroy(one);
    mg_context_destroy(two);
}

static void use_after_destroy(mg_context *ctx)
{
    int64_t shape[1] = {16};
    mg_tensor *x = test_empty(ctx, MG_DTYPE_F32, 1, shape), *y = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    mg_context_destroy(ctx);
    /* the context's memory lives on while tensors refer to it */
    expect(ctx, mg_op_scale(ctx, x, 1.0f, 0.0f, y), MG_ERR_CONTEXT_DESTROYED, "destroyed");
    float values[16];
    expect(ctx, mg_tensor_read(x, values, sizeof values), MG_ERR_CONTEXT_DESTROYED, "destroyed");
    mg_tensor *t = NULL;
    expect(ctx, mg_tensor_create(ctx, MG_DTYPE_F32, 1, shape, &t), MG_ERR_CONTEXT_DESTROYED, "destroyed");
    mg_context_stats stats;
    cr_assert_eq(mg_context_get_stats(ctx, &stats), MG_ERR_CONTEXT_DESTROYED);
    mg_context_destroy(ctx); /* twice is harmless */
    mg_tensor_free(x);
    mg_tensor_free(y); /* the last reference frees the context */
}

Test(bad_input, ops_after_the_context_is_destroyed)
{
    use_after_destroy(test_cpu_context());
    use_after_destroy(test_vulkan_context());
}

Test(bad_input, api_misuse_without_a_context)
{
    char error[256];
    cr_assert_eq(mg_context_create(NULL, NULL, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(error, "out_context is NULL"), "%s", error);
    cr_assert_eq(mg_devices_list(NULL, NULL, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(error, "must not be NULL"), "%s", error);
    cr_assert_not_null(mg_context_last_error(NULL));
    mg_context_destroy(NULL);
    cr_assert_str_eq(mg_status_string(MG_ERR_CONTEXT_DESTROYED), "context destroyed");
    cr_assert_str_eq(mg_status_string((mg_status)999), "unknown status");

    mg_context *ctx = test_cpu_context();
    cr_assert_eq(mg_bench_ops(ctx, NULL, NULL, NULL, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_context_device_info(ctx, NULL), MG_ERR_INVALID_ARGUMENT);
    mg_context_destroy(ctx);
}

Test(bad_input, unknown_device_strings)
{
    mg_context_params params = mg_context_default_params();
    params.log_level = MG_LOG_NONE;
    char error[512];
    mg_context *ctx = (mg_context *)0x1;
    params.device = "99";
    cr_assert_eq(mg_context_create(&params, &ctx, error, sizeof error), MG_ERR_NO_DEVICE);
    cr_assert_null(ctx);
    cr_assert(strstr(error, "meshgpt devices"), "the message says how to list devices: %s", error);
    params.device = "no such gpu";
    cr_assert_eq(mg_context_create(&params, &ctx, error, sizeof error), MG_ERR_NO_DEVICE);
    cr_assert(strstr(error, "no such gpu"), "%s", error);
}
