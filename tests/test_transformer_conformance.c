/*
 * The MeshTransformer against meshgpt-pytorch 1.7.2 itself
 * (tests/fixtures/meshgpt-pytorch-a): teacher-forced logits without and with
 * classifier-free guidance, for one sequence and for a padded batch, and the
 * losses, on the CPU reference and on Vulkan. Logits must agree within
 * LOGIT_TOLERANCE (absolute; logits are of order 1).
 */
#include "model/model.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOLERANCE 1e-3

static mg_model *load_model(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_assert(model->has_transformer);
    return model;
}

static int32_t *to_i32(const test_npy *a)
{
    int32_t *out = malloc(a->count * sizeof *out);
    for (size_t i = 0; i < a->count; i++)
        out[i] = (int32_t)a->i64[i];
    return out;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        cr_assert(!isnan(d), "NaN at %zu", i);
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* Logits of `codes` under the text, guided when cond_scale != 1 (as classifier-free-guidance-pytorch). */
static float *guided_logits(mg_model *model, const int32_t *codes, size_t batch, size_t length, const float *text,
                            size_t tokens, float cond_scale)
{
    const size_t n = batch * (length + 1) * 257;
    float *cond = malloc(n * sizeof(float));
    mg_tf_text t = {.embeds = text, .tokens = tokens, .drop = false};
    cr_assert_eq(mg_tf_logits(&model->transformer, codes, batch, length, &t, cond), MG_OK, "%s",
                 mg_context_last_error(model->ctx));
    if (cond_scale == 1.0f)
        return cond;
    float *uncond = malloc(n * sizeof(float));
    t.drop = true;
    cr_assert_eq(mg_tf_logits(&model->transformer, codes, batch, length, &t, uncond), MG_OK, "%s",
                 mg_context_last_error(model->ctx));
    for (size_t i = 0; i < n; i++)
        cond[i] = cond[i] + (cond[i] - uncond[i]) * (cond_scale - 1.0f);
    free(uncond);
    return cond;
}

static void check_single(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    test_npy codes64 = test_npy_load("tf_codes");
    test_npy text = test_npy_load("text_embeds");
    int32_t *codes = to_i32(&codes64);
    const float scales[2] = {1.0f, 3.0f};
    const char *names[2] = {"tf_logits_cs1", "tf_logits_cs3"};
    for (int s = 0; s < 2; s++) {
        test_npy expected = test_npy_load(names[s]);
        float *logits = guided_logits(model, codes, 1, 72, text.f32, 10, scales[s]);
        double d = max_diff(logits, expected.f32, expected.count);
        cr_log_info("%s: largest difference %.3g", names[s], d);
        cr_expect_leq(d, LOGIT_TOLERANCE, "%s differs by %g", names[s], d);
        if (s == 0) {
            double loss = 0.0;
            mg_tf_text t = {.embeds = text.f32, .tokens = 10};
            cr_assert_eq(mg_tf_loss(&model->transformer, codes, 1, 72, &t, &loss), MG_OK);
            cr_log_info("loss %.9f (meshgpt-pytorch 5.750859260559082)", loss);
            cr_expect_leq(fabs(loss - 5.750859260559082), 2e-6, "loss %.9f", loss);
        }
        free(logits);
        test_npy_free(&expected);
    }
    free(codes);
    test_npy_free(&codes64);
    test_npy_free(&text);
    mg_model_free(model);
}

static void check_batch(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    test_npy codes64 = test_npy_load("ae_tokenize_batch"); /* [3, 96, 2] -> [3, 192] */
    test_npy text = test_npy_load("text_embeds_batch");
    test_npy expected = test_npy_load("tf_logits_batch");
    int32_t *codes = to_i32(&codes64);
    float *logits = guided_logits(model, codes, 3, 192, text.f32, 10, 1.0f);
    /* Rows past each sequence's end predict from pads: compare them all, as the fixture has them. */
    double d = max_diff(logits, expected.f32, expected.count);
    cr_log_info("tf_logits_batch: largest difference %.3g", d);
    cr_expect_leq(d, LOGIT_TOLERANCE, "tf_logits_batch differs by %g", d);
    double loss = 0.0;
    mg_tf_text t = {.embeds = text.f32, .tokens = 10};
    cr_assert_eq(mg_tf_loss(&model->transformer, codes, 3, 192, &t, &loss), MG_OK);
    cr_log_info("batch loss %.9f (meshgpt-pytorch 5.602908134460449)", loss);
    cr_expect_leq(fabs(loss - 5.602908134460449), 2e-6, "batch loss %.9f", loss);
    free(logits);
    free(codes);
    test_npy_free(&codes64);
    test_npy_free(&text);
    test_npy_free(&expected);
    mg_model_free(model);
}

Test(transformer_conformance, logits_cpu) { mg_context *ctx = test_cpu_context(); check_single(ctx); test_close(ctx); }
Test(transformer_conformance, logits_vulkan) { mg_context *ctx = test_vulkan_context(); check_single(ctx); test_close(ctx); }
Test(transformer_conformance, batch_cpu) { mg_context *ctx = test_cpu_context(); check_batch(ctx); test_close(ctx); }
Test(transformer_conformance, batch_vulkan) { mg_context *ctx = test_vulkan_context(); check_batch(ctx); test_close(ctx); }
