/*
 * Training a transformer with FiLM text conditioning (text_cond_with_film):
 * the training forward gives the inference forward's loss (mg_tf_loss on the
 * saved model), the backward matches central finite differences of the loss on
 * the CPU reference (FiLM's own tensors, the layers around it, and the text
 * conditioner the pooled text's gradient reaches), Vulkan's gradients equal
 * the CPU's, and a tiny FiLM transformer overfits two captioned sequences.
 *
 * FiLM's multipliers are 0 at initialisation (identity, and no gradient for its
 * projections): the tests set them to non-zero values first.
 */
#include "model/model.h"
#include "test_tf_train_util.h"
#include "train/optim.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILM_JSON                                                                                                  \
    "{\"dim\": 16, \"max_seq_len\": 120, \"attn_depth\": 1, \"attn_dim_head\": 8, \"attn_heads\": 2, "            \
    "\"fine_attn_depth\": 1, \"coarse_pre_gateloop_depth\": 1, \"fine_pre_gateloop_depth\": 1, "                   \
    "\"num_sos_tokens\": 2, \"cross_attn_num_mem_kv\": 2, \"attn_kwargs\": {\"attn_num_mem_kv\": 2, "              \
    "\"ff_glu\": true}, \"condition_on_text\": true, \"text_condition_model_types\": [\"clip\"], "                \
    "\"text_cond_with_film\": true, \"text_condition_cond_drop_prob\": 0.0}"

static mg_tensor *param_named(mg_trainable *tr, const char *name)
{
    for (size_t i = 0; i < tr->count; i++)
        if (strcmp(tr->params[i].name, name) == 0)
            return tr->params[i].value;
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

static void set_scalar(mg_trainable *tr, const char *name, float value)
{
    cr_assert_eq(mg_tensor_write_f32(param_named(tr, name), &value, 1), MG_OK);
}

/* Non-zero FiLM multipliers, so that every FiLM tensor matters. */
static void wake_film(mg_trainable *tr)
{
    set_scalar(tr, "text_coarse_film_cond.gamma_mult", 0.7f);
    set_scalar(tr, "text_coarse_film_cond.beta_mult", -0.6f);
    set_scalar(tr, "text_fine_film_cond.gamma_mult", 0.5f);
    set_scalar(tr, "text_fine_film_cond.beta_mult", 0.8f);
}

static void zero_grads(mg_trainable *tr)
{
    for (size_t i = 0; i < tr->count; i++)
        if (tr->grads[i])
            cr_assert_eq(mg_tensor_fill_u32(tr->grads[i], 0), MG_OK);
}

static bool has_prefix(const char *name, const char *const *prefixes)
{
    for (size_t p = 0; prefixes[p]; p++)
        if (strncmp(name, prefixes[p], strlen(prefixes[p])) == 0)
            return true;
    return false;
}

/* Central differences for the largest and one pseudo-random element of every tensor named by `prefixes`;
 * returns how many tensors had a non-zero gradient. */
static size_t check_gradients(mg_context *ctx, mg_trainable *tr, const tiny_batch *batch, bool captions,
                              const char *const *prefixes)
{
    const float eps = 1e-2f;
    zero_grads(tr);
    double loss = 0.0;
    cr_assert_eq(tiny_step(tr, batch, captions, true, &loss), MG_OK, "%s", mg_context_last_error(ctx));
    size_t kinds = 0, checked = 0;
    for (size_t i = 0; i < tr->count; i++) {
        if (!tr->grads[i] || !has_prefix(tr->params[i].name, prefixes))
            continue;
        mg_tensor *value = tr->params[i].value;
        float *grad = test_read(tr->grads[i]), *values = test_read(value);
        size_t largest = 0;
        for (size_t k = 1; k < value->count; k++)
            largest = fabsf(grad[k]) > fabsf(grad[largest]) ? k : largest;
        kinds += grad[largest] != 0.0f;
        size_t picks[2] = {largest, (i * 7919u + 13u) % value->count};
        for (int pi = 0; pi < 2; pi++) {
            const size_t k = picks[pi];
            const float saved = values[k];
            double plus = 0.0, minus = 0.0;
            values[k] = saved + eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            cr_assert_eq(tiny_step(tr, batch, captions, false, &plus), MG_OK);
            values[k] = saved - eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            cr_assert_eq(tiny_step(tr, batch, captions, false, &minus), MG_OK);
            values[k] = saved;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            const double fd = (plus - minus) / (2.0 * eps), an = grad[k];
            cr_expect_leq(fabs(fd - an), 3e-4 + 3e-2 * fabs(an), "%s[%zu]: analytic %.6g, finite difference %.6g",
                          tr->params[i].name, k, an, fd);
            checked++;
        }
        free(grad);
        free(values);
    }
    cr_log_info("loss %.6f: %zu gradients checked, %zu tensors with a non-zero gradient", loss, checked, kinds);
    return kinds;
}

Test(train_variants_film, training_forward_equals_inference_loss, .timeout = 120)
{
    mg_context *ctx = test_cpu_context();
    mg_trainable *tr = tiny_trainable(ctx, FILM_JSON, NULL, 3);
    wake_film(tr);
    tiny_batch batch = tiny_batch_make(true, 21);
    double loss = 0.0;
    cr_assert_eq(tiny_step(tr, &batch, false, false, &loss), MG_OK, "%s", mg_context_last_error(ctx));

    char path[] = "/tmp/test_train_film_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(tr->save_model(tr, path, false), MG_OK, "%s", mg_context_last_error(ctx));
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert(model->transformer.config.text_cond_with_film);
    mg_tf_text text = {.embeds = batch.embeds, .tokens = TINY_TOKENS};
    double reference = 0.0;
    cr_assert_eq(mg_tf_loss(&model->transformer, batch.codes, TINY_BATCH, TINY_LENGTH, &text, &reference), MG_OK,
                 "%s", mg_context_last_error(ctx));
    cr_log_info("training forward %.9f, mg_tf_loss %.9f", loss, reference);
    cr_expect_leq(fabs(loss - reference), 1e-5, "training %.9f vs inference %.9f", loss, reference);

    /* FiLM matters: with the multipliers back at 0 the loss changes. */
    set_scalar(tr, "text_coarse_film_cond.gamma_mult", 0.0f);
    set_scalar(tr, "text_coarse_film_cond.beta_mult", 0.0f);
    set_scalar(tr, "text_fine_film_cond.gamma_mult", 0.0f);
    set_scalar(tr, "text_fine_film_cond.beta_mult", 0.0f);
    double identity = 0.0;
    cr_assert_eq(tiny_step(tr, &batch, false, false, &identity), MG_OK);
    cr_expect_gt(fabs(identity - loss), 1e-4, "FiLM changed nothing (%.6f vs %.6f)", identity, loss);
    mg_model_free(model);
    remove(path);
    tiny_batch_free(&batch);
    tr->destroy(tr);
    test_close(ctx);
}

Test(train_variants_film, gradients_match_finite_differences, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    mg_trainable *tr = tiny_trainable(ctx, FILM_JSON, NULL, 7);
    wake_film(tr);
    tiny_batch batch = tiny_batch_make(true, 11);
    const char *prefixes[] = {"text_coarse_film_cond.", "text_fine_film_cond.", "coarse_gateloop_block.",
                              "fine_gateloop_block.", "sos_token", "to_face_tokens.0.weight", NULL};
    size_t kinds = check_gradients(ctx, tr, &batch, false, prefixes);
    cr_expect_geq(kinds, 14u, "only %zu of the checked tensors have a gradient", kinds);
    tiny_batch_free(&batch);
    tr->destroy(tr);
    test_close(ctx);
}

/* Captions through the built-in encoder: the pooled text's gradient (FiLM) reaches to_latent_dims. */
Test(train_variants_film, gradients_reach_the_text_conditioner, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    tiny_text_encoder encoder = {.layers = 0};
    mg_trainable *tr = tiny_trainable(ctx, FILM_JSON, &encoder, 8);
    wake_film(tr);
    tiny_batch batch = tiny_batch_make(false, 12);
    const char *prefixes[] = {"conditioner.", "text_coarse_film_cond.to_gamma", "text_fine_film_cond.to_beta", NULL};
    size_t kinds = check_gradients(ctx, tr, &batch, true, prefixes);
    cr_expect_geq(kinds, 3u);
    tiny_batch_free(&batch);
    tr->destroy(tr);
    test_close(ctx);
}

Test(train_variants_film, vulkan_gradients_match_cpu, .timeout = 300)
{
    mg_context *cpu = test_cpu_context(), *gpu = test_vulkan_context();
    mg_trainable *a = tiny_trainable(cpu, FILM_JSON, NULL, 5);
    mg_trainable *b = tiny_trainable(gpu, FILM_JSON, NULL, 5);
    wake_film(a);
    wake_film(b);
    tiny_batch batch = tiny_batch_make(true, 3);
    zero_grads(a);
    zero_grads(b);
    double la = 0.0, lb = 0.0;
    cr_assert_eq(tiny_step(a, &batch, false, true, &la), MG_OK, "%s", mg_context_last_error(cpu));
    cr_assert_eq(tiny_step(b, &batch, false, true, &lb), MG_OK, "%s", mg_context_last_error(gpu));
    cr_expect_leq(fabs(la - lb), 1e-5 * fabs(la), "loss: cpu %.7f vulkan %.7f", la, lb);
    size_t film = 0;
    size_t compared = compare_nonzero_grads(a, b, 1e-6, "_film_cond.", &film);
    cr_log_info("%zu gradients compared, %zu of FiLM", compared, film);
    cr_expect_eq(film, 10u);
    tiny_batch_free(&batch);
    a->destroy(a);
    b->destroy(b);
    test_close(cpu);
    test_close(gpu);
}

/* Two sequences that differ only by their text: the model must read the text (through FiLM and
 * cross-attention) to tell them apart. */
Test(train_variants_film, overfits_two_captioned_sequences, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    mg_trainable *tr = tiny_trainable(ctx, FILM_JSON, NULL, 9);
    tiny_batch batch = tiny_batch_make(true, 31);
    for (size_t i = 0; i < TINY_LENGTH; i++) /* same length, different tokens */
        batch.codes[TINY_LENGTH + i] = (batch.codes[i] + 17) % 256;
    mg_adam_config adam = mg_adam_default_config();
    adam.lr = 1e-2;
    double first = 0.0, last = 0.0;
    enum { STEPS = 60 };
    for (uint64_t step = 1; step <= STEPS; step++) {
        zero_grads(tr);
        double loss = 0.0;
        cr_assert_eq(tiny_step(tr, &batch, false, true, &loss), MG_OK, "%s", mg_context_last_error(ctx));
        if (step == 1)
            first = loss;
        last = loss;
        for (size_t i = 0; i < tr->count; i++) {
            if (!tr->grads[i])
                continue;
            mg_adam_step s = mg_adam_step_for(&adam, step, 0, tr->params[i].value->ndim);
            cr_assert_eq(mg_op_adam_step(ctx, &s, tr->params[i].value, tr->grads[i], tr->params[i].adam_m,
                                         tr->params[i].adam_v),
                         MG_OK);
        }
    }
    float gamma_mult = 0.0f;
    cr_assert_eq(mg_tensor_read_f32(param_named(tr, "text_coarse_film_cond.gamma_mult"), &gamma_mult, 1), MG_OK);
    cr_log_info("loss %.4f -> %.4f after %d Adam steps; coarse gamma_mult %.4f", first, last, STEPS, gamma_mult);
    cr_expect_lt(last, 0.1 * first, "the loss fell only from %.4f to %.4f", first, last);
    cr_expect_neq(gamma_mult, 0.0f, "FiLM's multiplier never moved");
    tiny_batch_free(&batch);
    tr->destroy(tr);
    test_close(ctx);
}
