/*
 * A model file's built-in text encoder (`meshgpt convert --text-encoder DIR`): the file carries the BERT weights
 * and vocabulary, and a prompt then needs no encoder folder. The oracle is the same encoder loaded from its
 * folder: scores and generations must be identical, on the CPU reference and on Vulkan.
 */
#include "api/text_encoder.h"
#include "text/bert_internal.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/model_write.h"
#include "test_synthetic_bert.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char temp_dir[64];

static void make_temp(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/mg-builtin-text-XXXXXX");
    cr_assert_not_null(mkdtemp(temp_dir));
}

static void remove_temp(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    cr_assert_eq(system(command), 0);
}

static const char *temp_path(const char *name)
{
    static char paths[8][256];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 256, "%s/%s", temp_dir, name);
    return path;
}

static const char *bert_folder(const char *name, size_t hidden, size_t layers)
{
    const char *folder = temp_path(name);
    char command[320];
    snprintf(command, sizeof command, "mkdir -p '%s'", folder);
    cr_assert_eq(system(command), 0);
    test_write_synthetic_bert(folder, hidden, layers);
    return folder;
}

/* The clip-conditioned test model with `folder` stored in it. */
static const char *model_with_encoder(const char *folder, const char *dtype)
{
    const char *plain = temp_path("plain.safetensors"), *with = temp_path("with-encoder.safetensors");
    test_write_clip_conditioned_model(plain, 5, 0.5f);
    mg_convert_params params = {.text_encoder = folder, .dtype = dtype};
    char error[512];
    cr_assert_eq(mg_model_convert(plain, with, &params, error, sizeof error), MG_OK, "%s", error);
    return with;
}

static const int32_t codes[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* Scores the same tokens with the built-in encoder and with the folder's: identical logits. */
static void expect_same_as_folder(mg_context *ctx, const char *model_path, const char *folder)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, model_path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert(mg_model_has_text_encoder(model));
    mg_text_encoder *encoder = NULL;
    cr_assert_eq(mg_text_encoder_load(ctx, folder, &encoder), MG_OK, "%s", mg_context_last_error(ctx));
    mg_tokens tokens = {.tokens = (int32_t *)codes, .num_faces = 2, .face_size = 3, .levels = 2};
    const size_t n = 13 * mg_model_vocabulary_size(model);
    float *builtin = malloc(n * sizeof(float)), *by_folder = malloc(n * sizeof(float));
    mg_text_condition own = {.prompt = "A Chair"};
    mg_text_condition given = {.prompt = "A Chair", .encoder = encoder};
    cr_assert_eq(mg_score(model, &tokens, &own, NULL, builtin), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_score(model, &tokens, &given, NULL, by_folder), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_eq(memcmp(builtin, by_folder, n * sizeof(float)), 0, "built-in and folder encoders differ");

    /* A different prompt changes the result: the encoder is really used. */
    mg_text_condition other = {.prompt = "a table"};
    cr_assert_eq(mg_score(model, &tokens, &other, NULL, by_folder), MG_OK);
    cr_expect_neq(memcmp(builtin, by_folder, n * sizeof(float)), 0, "the prompt did not change the logits");

    /* Generation with a seed: the same tokens either way. */
    mg_generate_params p = mg_generate_default_params();
    p.seed = 7;
    p.max_faces = 6;
    p.text = own;
    mg_tokens a, b;
    cr_assert_eq(mg_generate(model, &p, NULL, &a), MG_OK, "%s", mg_context_last_error(ctx));
    p.text = given;
    cr_assert_eq(mg_generate(model, &p, NULL, &b), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_eq(a.num_faces, b.num_faces);
    cr_expect_eq(memcmp(a.tokens, b.tokens, a.num_faces * 6 * sizeof(int32_t)), 0);
    mg_tokens_free(&a);
    mg_tokens_free(&b);
    free(builtin);
    free(by_folder);
    mg_text_encoder_free(encoder);
    mg_model_free(model);
}

Test(builtin_text_encoder, equals_the_folder_encoder_on_the_cpu, .init = make_temp, .fini = remove_temp)
{
    mg_context *ctx = test_cpu_context();
    const char *folder = bert_folder("bert", 512, 1);
    expect_same_as_folder(ctx, model_with_encoder(folder, NULL), folder);
    mg_context_destroy(ctx);
}

Test(builtin_text_encoder, equals_the_folder_encoder_on_vulkan, .init = make_temp, .fini = remove_temp)
{
    mg_context *ctx = test_vulkan_context();
    const char *folder = bert_folder("bert", 512, 2);
    expect_same_as_folder(ctx, model_with_encoder(folder, NULL), folder);
    test_close(ctx);
}

/* No layers: embeddings and their LayerNorm only, the smallest encoder a model can carry. */
Test(builtin_text_encoder, an_encoder_without_layers_works, .init = make_temp, .fini = remove_temp)
{
    mg_context *ctx = test_cpu_context();
    const char *folder = bert_folder("bert0", 512, 0);
    expect_same_as_folder(ctx, model_with_encoder(folder, NULL), folder);
    mg_context_destroy(ctx);
}

/* Converting again keeps the encoder; f16 storage loads and runs. */
Test(builtin_text_encoder, survives_conversion_and_f16, .init = make_temp, .fini = remove_temp)
{
    mg_context *ctx = test_cpu_context();
    const char *folder = bert_folder("bert", 512, 1);
    const char *with = model_with_encoder(folder, NULL);
    const char *again = temp_path("again.safetensors"), *half = temp_path("half.safetensors");
    char error[512];
    cr_assert_eq(mg_model_convert(with, again, NULL, error, sizeof error), MG_OK, "%s", error);
    mg_convert_params params = {.dtype = "f16"};
    cr_assert_eq(mg_model_convert(with, half, &params, error, sizeof error), MG_OK, "%s", error);
    char *text = NULL;
    cr_assert_eq(mg_model_inspect(again, &text, error, sizeof error), MG_OK, "%s", error);
    cr_expect(strstr(text, "text encoder total: ") && strstr(text, "1 layers, width 512, vocabulary of 8"), "%s",
              text);
    cr_expect(strstr(text, "check: OK"), "%s", text);
    mg_string_free(text);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, again, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(mg_model_has_text_encoder(model));
    cr_expect(strstr(mg_model_config_json(model), "\"text_encoder\""), "config: %s", mg_model_config_json(model));
    mg_model_free(model);
    cr_assert_eq(mg_model_load(ctx, half, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_eq(model->text_encoder->bert->word->dtype, MG_DTYPE_F16);
    mg_tokens tokens = {.tokens = (int32_t *)codes, .num_faces = 2, .face_size = 3, .levels = 2};
    mg_text_condition own = {.prompt = "a chair"};
    double loss = 0;
    cr_expect_eq(mg_score(model, &tokens, &own, &loss, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(loss > 0 && loss < 100, "loss %g", loss);
    mg_model_free(model);
    mg_context_destroy(ctx);
}

Test(builtin_text_encoder, bad_input_is_explained, .init = make_temp, .fini = remove_temp)
{
    char error[512];
    /* An encoder of the wrong width. */
    const char *narrow = bert_folder("narrow", 64, 1);
    const char *plain = temp_path("plain.safetensors");
    test_write_clip_conditioned_model(plain, 5, 0.5f);
    mg_convert_params params = {.text_encoder = narrow};
    cr_expect_eq(mg_model_convert(plain, temp_path("x.safetensors"), &params, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "64 wide") && strstr(error, "dim_text is 512"), "%s", error);
    /* A missing folder. */
    params.text_encoder = temp_path("no-such-folder");
    cr_expect_neq(mg_model_convert(plain, temp_path("x.safetensors"), &params, error, sizeof error), MG_OK);
    cr_expect(strstr(error, "no-such-folder/config.json"), "%s", error);
    /* A model without one, asked for a prompt without an encoder. */
    mg_context *ctx = test_cpu_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, plain, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_not(mg_model_has_text_encoder(model));
    mg_tokens tokens = {.tokens = (int32_t *)codes, .num_faces = 2, .face_size = 3, .levels = 2};
    mg_text_condition own = {.prompt = "a chair"};
    double loss = 0;
    cr_expect_eq(mg_score(model, &tokens, &own, &loss, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "no built-in one"), "%s", mg_context_last_error(ctx));
    mg_model_free(model);

    /* A file whose vocabulary entry is gone: rewrite the tensors and the config without it. */
    const char *with = model_with_encoder(bert_folder("bert", 512, 0), NULL);
    mg_safetensors file;
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_safetensors_open(with, &file, &diag), MG_OK);
    mg_st_write_tensor *tensors = calloc(file.count, sizeof *tensors);
    for (size_t i = 0; i < file.count; i++) {
        tensors[i].name = file.tensors[i].name;
        tensors[i].dtype = file.tensors[i].dtype;
        tensors[i].ndim = file.tensors[i].ndim;
        memcpy(tensors[i].shape, file.tensors[i].shape, sizeof tensors[i].shape);
        tensors[i].data = file.tensors[i].data;
    }
    mg_st_metadata metadata[1] = {{(char *)"meshgpt", (char *)mg_safetensors_metadata(&file, "meshgpt")}};
    const char *damaged = temp_path("damaged.safetensors");
    cr_assert_eq(mg_safetensors_write(damaged, tensors, file.count, metadata, 1, &diag), MG_OK);
    free(tensors);
    mg_safetensors_close(&file);
    mg_diag_destroy(&diag);
    cr_expect_eq(mg_model_load(ctx, damaged, &model), MG_ERR_FORMAT);
    cr_expect(strstr(mg_context_last_error(ctx), "no vocabulary"), "%s", mg_context_last_error(ctx));
    cr_expect_null(model);
    mg_context_destroy(ctx);
}
