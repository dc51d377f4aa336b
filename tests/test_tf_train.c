/*
 * The transformer trainable (train/tf_train.h): its training forward gives
 * meshgpt-pytorch's loss on the fixture model (and mg_tf_loss's), and its
 * backward pass matches central finite differences of the loss for a sample of
 * the parameters of every kind of layer, on a tiny random transformer on the
 * CPU reference: with and without text, with value residual, and with a
 * built-in text encoder trained jointly.
 */
#include "model/model.h"
#include "test_npy.h"
#include "test_tf_train_util.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(tf_train, fixture_loss_equals_reference)
{
    mg_context *ctx = test_cpu_context();
    mg_tf_train_params params = mg_tf_train_default_params();
    char *path = strdup(test_fixture_path("meshgpt-pytorch-a/model.safetensors")); /* the helper's buffer is reused */
    params.model_path = path;
    mg_trainable *tr = NULL;
    cr_assert_eq(mg_tf_trainable_create(ctx, &params, &tr), MG_OK, "%s", mg_context_last_error(ctx));
    test_npy codes64 = test_npy_load("tf_codes");
    test_npy text = test_npy_load("text_embeds");
    int32_t *codes = malloc(codes64.count * sizeof *codes);
    for (size_t i = 0; i < codes64.count; i++)
        codes[i] = (int32_t)codes64.i64[i];
    double loss = 0.0;
    mg_tf_train_text single = {.embeds = text.f32, .tokens = 10};
    cr_assert_eq(mg_tf_trainable_codes_step(tr, codes, 1, 72, &single, false, 1.0f, &loss), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_log_info("training forward loss %.9f (meshgpt-pytorch 5.750859260559082)", loss);
    cr_expect_leq(fabs(loss - 5.750859260559082), 1e-5, "loss %.9f", loss);

    /* The padded batch: upstream's EOS/pad label convention included. */
    test_npy batch64 = test_npy_load("ae_tokenize_batch");
    test_npy batch_text = test_npy_load("text_embeds_batch");
    int32_t *batch_codes = malloc(batch64.count * sizeof *batch_codes);
    for (size_t i = 0; i < batch64.count; i++)
        batch_codes[i] = (int32_t)batch64.i64[i];
    mg_tf_train_text padded = {.embeds = batch_text.f32, .tokens = 10};
    cr_assert_eq(mg_tf_trainable_codes_step(tr, batch_codes, 3, 192, &padded, true, 1.0f, &loss), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_log_info("training batch loss %.9f (meshgpt-pytorch 5.602908134460449)", loss);
    cr_expect_leq(fabs(loss - 5.602908134460449), 1e-5, "batch loss %.9f", loss);

    /* And the library's own forward, on the same model. */
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, params.model_path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    mg_tf_text t = {.embeds = batch_text.f32, .tokens = 10};
    double reference = 0.0;
    cr_assert_eq(mg_tf_loss(&model->transformer, batch_codes, 3, 192, &t, &reference), MG_OK);
    cr_expect_leq(fabs(loss - reference), 1e-5, "training %.9f vs mg_tf_loss %.9f", loss, reference);
    mg_model_free(model);
    free(codes);
    free(batch_codes);
    test_npy_free(&codes64);
    test_npy_free(&text);
    test_npy_free(&batch64);
    test_npy_free(&batch_text);
    tr->destroy(tr);
    free(path);
    test_close(ctx);
}

/* ---- gradient checks ---- */

/* only: check the tensors whose names start with it (NULL: all); the largest gradient of each, and with
 * `random_too` one pseudo-random element. */
static void gradient_check(const char *transformer_json, bool with_text, const tiny_text_encoder *encoder,
                           const char *only, const char *also, bool random_too)
{
    mg_context *ctx = test_cpu_context();
    mg_trainable *tr = tiny_trainable(ctx, transformer_json, encoder, 7);
    tiny_batch batch = tiny_batch_make(with_text && !encoder, 11);
    const float eps = 1e-2f;
    for (size_t i = 0; i < tr->count; i++)
        if (tr->grads[i])
            cr_assert_eq(mg_tensor_fill_u32(tr->grads[i], 0), MG_OK);
    double loss = 0.0;
    cr_assert_eq(tiny_step(tr, &batch, encoder != NULL, true, &loss), MG_OK, "%s", mg_context_last_error(ctx));
    cr_log_info("loss %.6f", loss);
    size_t checked = 0, kinds = 0;
    for (size_t i = 0; i < tr->count; i++) {
        if (!tr->grads[i])
            continue;
        if (only && strncmp(tr->params[i].name, only, strlen(only)) != 0 &&
            !(also && strncmp(tr->params[i].name, also, strlen(also)) == 0))
            continue;
        mg_tensor *value = tr->params[i].value;
        float *grad = test_read(tr->grads[i]);
        float *values = test_read(value);
        /* the element with the largest gradient, and a pseudo-random one */
        size_t largest = 0;
        for (size_t k = 1; k < value->count; k++)
            largest = fabsf(grad[k]) > fabsf(grad[largest]) ? k : largest;
        size_t picks[2] = {largest, (i * 7919u + 13u) % value->count};
        if (grad[largest] != 0.0f)
            kinds++;
        for (int pi = 0; pi < (random_too ? 2 : 1); pi++) {
            size_t k = picks[pi];
            float saved = values[k];
            double plus = 0.0, minus = 0.0;
            values[k] = saved + eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            cr_assert_eq(tiny_step(tr, &batch, encoder != NULL, false, &plus), MG_OK);
            values[k] = saved - eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            cr_assert_eq(tiny_step(tr, &batch, encoder != NULL, false, &minus), MG_OK);
            values[k] = saved;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            double fd = (plus - minus) / (2.0 * eps), an = grad[k];
            double err = fabs(fd - an), tol = 3e-4 + 3e-2 * fabs(an);
            cr_expect_leq(err, tol, "%s[%zu]: analytic %.6g, finite difference %.6g", tr->params[i].name, k, an, fd);
            checked++;
        }
        free(grad);
        free(values);
    }
    cr_log_info("%zu gradients checked over %zu tensors with a non-zero gradient", checked, kinds);
    cr_expect_gt(kinds, only ? 5u : 20u);
    tiny_batch_free(&batch);
    tr->destroy(tr);
    test_close(ctx);
}

Test(tf_train, gradients_without_text, .timeout = 300)
{
    gradient_check(TINY_TRANSFORMER_JSON(false), false, NULL, NULL, NULL, true);
}

Test(tf_train, gradients_with_text, .timeout = 300)
{
    gradient_check(TINY_TRANSFORMER_JSON(true), true, NULL, NULL, NULL, true);
}

Test(tf_train, gradients_with_builtin_text_encoder, .timeout = 300)
{
    tiny_text_encoder encoder = {.layers = 1};
    /* The transformer's own tensors are checked above: here the encoder (embeddings, LayerNorm, one layer) and
     * the conditioner's projection, through which its gradient arrives. */
    gradient_check(TINY_TRANSFORMER_JSON(true), true, &encoder, "text_encoder.", "conditioner.", false);
}
