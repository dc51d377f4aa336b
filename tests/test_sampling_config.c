/*
 * Sampling settings a model file recommends (model/sampling_config.h): `mg_model_convert` stores them
 * ("temperature=0.25,cond_scale=2"), a load reads them back, mg_model_generate_params lays exactly those over
 * the library's defaults, "none" drops them, and a wrong key, value or range is refused with a message naming
 * it. The file is the meshgpt-pytorch fixture model.
 */
#include "core/diag.h"
#include "model/config_json.h"
#include "model/sampling_config.h"
#include "test_npy.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char temp_dir[64];

static void make_temp(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/mg-sampling-XXXXXX");
    cr_assert_not_null(mkdtemp(temp_dir));
}

static void remove_temp(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    cr_assert_eq(system(command), 0);
}

/* Converts the fixture with `sampling` into temp_dir/name; returns the status and the message. */
static mg_status convert(const char *input, const char *name, const char *sampling, char *path, char *error)
{
    snprintf(path, 256, "%s/%s", temp_dir, name);
    mg_convert_params params = {.sampling = sampling};
    return mg_model_convert(input, path, &params, error, 512);
}

static mg_generate_params params_of(mg_context *ctx, const char *path)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    mg_generate_params p = mg_model_generate_params(model);
    mg_model_free(model);
    return p;
}

Test(sampling_config, a_converted_file_recommends_what_it_was_given, .init = make_temp, .fini = remove_temp)
{
    mg_context *ctx = test_cpu_context();
    const char *fixture = test_fixture_path("meshgpt-pytorch-a/model.safetensors");
    char path[256], again[256], cleared[256], error[512];
    const mg_generate_params defaults = mg_generate_default_params();
    mg_generate_params p = params_of(ctx, fixture);
    cr_expect_eq(memcmp(&p, &defaults, sizeof p), 0, "a file without recommendations gives the defaults");

    cr_assert_eq(convert(fixture, "a.safetensors", "temperature=0.25,cond_scale=2,top_k_fraction=0.05", path, error),
                 MG_OK, "%s", error);
    p = params_of(ctx, path);
    cr_expect_float_eq(p.temperature, 0.25f, 1e-7f);
    cr_expect_float_eq(p.cond_scale, 2.0f, 1e-7f);
    cr_expect_float_eq(p.top_k_fraction, 0.05f, 1e-7f);
    cr_expect_eq(p.top_k, 0);
    mg_generate_params rest = p;
    rest.temperature = defaults.temperature;
    rest.cond_scale = defaults.cond_scale;
    rest.top_k_fraction = defaults.top_k_fraction;
    cr_expect_eq(memcmp(&rest, &defaults, sizeof rest), 0, "settings not named keep the defaults");

    /* Converting again keeps them; another key is added to them; "none" drops them all. */
    cr_assert_eq(convert(path, "b.safetensors", "vertex_reuse=3", again, error), MG_OK, "%s", error);
    p = params_of(ctx, again);
    cr_expect_float_eq(p.temperature, 0.25f, 1e-7f);
    cr_expect_float_eq(p.vertex_reuse, 3.0f, 1e-7f);
    cr_assert_eq(convert(again, "c.safetensors", "none", cleared, error), MG_OK, "%s", error);
    p = params_of(ctx, cleared);
    cr_expect_eq(memcmp(&p, &defaults, sizeof p), 0, "\"none\" drops the recommendations");
    p = mg_model_generate_params(NULL);
    cr_expect_eq(memcmp(&p, &defaults, sizeof p), 0, "no model: the defaults");
    test_close(ctx);
}

Test(sampling_config, wrong_settings_are_refused_with_their_name, .init = make_temp, .fini = remove_temp)
{
    const char *fixture = test_fixture_path("meshgpt-pytorch-a/model.safetensors");
    char path[256], error[512];
    const struct {
        const char *text, *message;
    } cases[] = {
        {"temperature=-1", "\"temperature\" must be 0 (greedy) or more, not -1"},
        {"top_p=2", "\"top_p\" must be in [0, 1], not 2"},
        {"vertex_reuse=0.5", "\"vertex_reuse\" must be 0 or 1 (off) or up to 1e6, not 0.5"},
        {"heat=1", "unknown sampling setting \"heat\""},
        {"temperature", "\"temperature\" is not key=number"},
        {"temperature=warm", "\"temperature=warm\" is not key=number"},
        {"temperature=0.5,,top_p=1", "give key=value pairs separated by commas"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        error[0] = '\0';
        cr_expect_neq(convert(fixture, "x.safetensors", cases[i].text, path, error), MG_OK, "%s is refused",
                      cases[i].text);
        cr_expect(strstr(error, cases[i].message), "%s: the message \"%s\" should say \"%s\"", cases[i].text, error,
                  cases[i].message);
    }
    /* The parser of the file's own "sampling" object refuses what is not a number. */
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_sampling_config config;
    memset(&config, 0, sizeof config);
    cJSON *object = cJSON_Parse("{\"temperature\": \"hot\"}");
    cr_assert_not_null(object);
    cr_expect_eq(mg_sampling_config_from_json(object, &config, &diag), MG_ERR_FORMAT);
    cr_expect(!config.has[MG_SAMPLING_TEMPERATURE]);
    cr_expect(strstr(diag.last_error, "\"temperature\" must be a number"), "%s", diag.last_error);
    cJSON_Delete(object);
    mg_diag_destroy(&diag);
}

Test(sampling_config, a_config_json_may_recommend_sampling)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    const char *text = "{\"autoencoder_kwargs\": {}, \"sampling\": {\"temperature\": 0.3, \"min_p\": 0.1}}";
    mg_model_config config;
    cr_assert_eq(mg_model_config_parse_kwargs_file(text, strlen(text), "config.json", &config, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_expect(config.sampling.has[MG_SAMPLING_TEMPERATURE] && config.sampling.has[MG_SAMPLING_MIN_P]);
    cr_expect_float_eq(config.sampling.value[MG_SAMPLING_TEMPERATURE], 0.3f, 1e-7f);
    cr_expect(!config.sampling.has[MG_SAMPLING_COND_SCALE]);
    /* Written into the model document and read back. */
    char *json = mg_model_config_to_json(&config, false);
    cr_assert_not_null(json);
    cr_expect(strstr(json, "\"sampling\":{\"temperature\":0.3"), "%s", json);
    mg_model_config back;
    cr_assert_eq(mg_model_config_parse(json, strlen(json), &back, &diag), MG_OK, "%s", diag.last_error);
    cr_expect_eq(memcmp(&back.sampling, &config.sampling, sizeof back.sampling), 0);
    free(json);
    mg_model_config_free(&back);
    mg_model_config_free(&config);
    const char *bad = "{\"autoencoder_kwargs\": {}, \"sampling\": {\"temprature\": 0.3}}";
    cr_expect_eq(mg_model_config_parse_kwargs_file(bad, strlen(bad), "config.json", &config, &diag), MG_ERR_FORMAT);
    cr_expect(strstr(diag.last_error, "unknown sampling setting \"temprature\""), "%s", diag.last_error);
    mg_diag_destroy(&diag);
}
