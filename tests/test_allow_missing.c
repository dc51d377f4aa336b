/*
 * Loading with missing tensors: refused by default with their names, loaded
 * with allow_missing (the missing ones at the values missing_init.h
 * documents, named in a warning), mis-shaped or wrong-dtype tensors refused
 * either way; and `meshgpt info` naming where a checkpoint's configuration
 * came from. The files are the meshgpt-pytorch fixture with tensors removed,
 * so the expected buffers (rotary inv_freq, LFQ mask) are upstream's own.
 */
#include "test_util.h"

#include "io/safetensors.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model/model_write.h"
#include "test_npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE MG_FIXTURE_DIR "/meshgpt-pytorch-a/model.safetensors"
#define CONFORMANCE(name) MG_FIXTURE_DIR "/meshgpt-pytorch-a/" name

/* A tensor to remove, with the value it should come back as (NAN: compare with `reference`'s values). */
typedef struct removal {
    const char *name;
    float value;
} removal;

/* From the fixture (a MeshTransformer with an attention-free autoencoder). */
static const removal FIXTURE_REMOVED[] = {
    {"decoder.layers.0.0.0.gamma", 0.0f},                   /* x-transformers gamma, applied as gamma + 1 */
    {"decoder.final_norm.gamma", 0.0f},
    {"coarse_gateloop_block.gateloops.0.norm.gamma", 1.0f}, /* RMSNorm gain, applied as is */
    {"to_face_tokens.1.weight", 1.0f},                      /* nn.LayerNorm */
    {"to_face_tokens.1.bias", 0.0f},
    {"to_logits.weight", 0.0f},
    {"autoencoder.init_encoder_act_and_norm.1.weight", 1.0f},
    {"autoencoder.init_decoder_conv.3.bias", 0.0f},
    {"autoencoder.quantizer.layers.0.mask", NAN},           /* upstream's own mask, from the fixture */
};
#define FIXTURE_REMOVED_COUNT (sizeof FIXTURE_REMOVED / sizeof FIXTURE_REMOVED[0])

/* From a random autoencoder with attention blocks (local_attn_dim_head 32, as the ae_attention fixture). */
static const removal ATTENTION_REMOVED[] = {
    {"encoder_attn_blocks.0.0.norm.gamma", 1.0f}, /* Taylor linear attention's RMSNorm */
    {"encoder_attn_blocks.0.0.to_q.0.weight", 0.0f},
    {"encoder_attn_blocks.0.1.norm.weight", 1.0f}, /* LocalMHA's nn.LayerNorm */
    {"encoder_attn_blocks.0.1.norm.bias", 0.0f},
    {"encoder_attn_blocks.0.1.attn_fn.rel_pos.inv_freq", NAN}, /* upstream's, from the ae_attention fixture */
    {"decoder_attn_blocks.0.2.0.g", 1.0f},          /* the feed-forward's RMSNorm */
};
#define ATTENTION_REMOVED_COUNT (sizeof ATTENTION_REMOVED / sizeof ATTENTION_REMOVED[0])

#define UNEXPECTED "autoencoder.not_a_module.weight"
#define UNEXPECTED_AE "not_a_module.weight"

static char temp_dir[64];

static const char *temp_path(const char *name)
{
    if (!temp_dir[0]) {
        snprintf(temp_dir, sizeof temp_dir, "/tmp/mg-allow-missing-XXXXXX");
        cr_assert_not_null(mkdtemp(temp_dir));
    }
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 128, "%s/%s", temp_dir, name);
    return p;
}

static void cleanup_temp(void)
{
    if (!temp_dir[0])
        return;
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    cr_assert_eq(system(command), 0);
}

static bool listed(const removal *list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].name, name) == 0)
            return true;
    return false;
}

typedef enum edit { EDIT_DROP, EDIT_DROP_AND_RESHAPE, EDIT_DROP_AND_RETYPE } edit;

/* `source` written with its configuration in the metadata, without `removed`, plus UNEXPECTED (under the
 * autoencoder's prefix); for EDIT_DROP_AND_RESHAPE 'to_logits.bias' one shorter, for EDIT_DROP_AND_RETYPE
 * 'sos_token' stored as I32. */
static const char *write_without(const char *source, const removal *removed, size_t removed_count, const char *name,
                                 edit how)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_open(source, &file, &diag), MG_OK, "%s", diag.last_error);
    mg_model_config config;
    memset(&config, 0, sizeof config);
    cr_assert_eq(mg_model_file_read_config(&file, source, &config, NULL, &diag), MG_OK, "%s", diag.last_error);
    char *json = mg_model_config_to_json(&config, false);
    cr_assert_not_null(json);
    mg_st_write_tensor *tensors = calloc(file.count + 1, sizeof *tensors);
    size_t count = 0;
    for (size_t i = 0; i < file.count; i++) {
        const mg_st_tensor *t = &file.tensors[i];
        if (listed(removed, removed_count, t->name))
            continue;
        mg_st_write_tensor *w = &tensors[count++];
        *w = (mg_st_write_tensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(w->shape, t->shape, sizeof w->shape);
        if (how == EDIT_DROP_AND_RESHAPE && strcmp(t->name, "to_logits.bias") == 0)
            w->shape[0]--;
        if (how == EDIT_DROP_AND_RETYPE && strcmp(t->name, "sos_token") == 0)
            w->dtype = MG_ST_I32; /* same element size as the stored F32 */
    }
    static const float extra[3] = {1, 2, 3};
    tensors[count++] = (mg_st_write_tensor){.name = config.has_transformer ? UNEXPECTED : UNEXPECTED_AE, .dtype = MG_ST_F32, .ndim = 1, .shape = {3},
                                            .data = extra};
    mg_st_metadata metadata = {MG_MODEL_METADATA_KEY, json};
    const char *path = temp_path(name);
    cr_assert_eq(mg_safetensors_write(path, tensors, count, &metadata, 1, &diag), MG_OK, "%s", diag.last_error);
    free(tensors);
    free(json);
    mg_model_config_free(&config);
    mg_safetensors_close(&file);
    mg_diag_destroy(&diag);
    return path;
}

static const char *write_edited(const char *name, edit how)
{
    return write_without(FIXTURE, FIXTURE_REMOVED, FIXTURE_REMOVED_COUNT, name, how);
}

/* Warnings of a context, kept for the assertions. */
static char warnings[8192];

static void keep_warnings(mg_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    if (level == MG_LOG_WARN && strlen(warnings) + strlen(message) + 2 < sizeof warnings) {
        strcat(warnings, message);
        strcat(warnings, "\n");
    }
}

static mg_context *cpu_context_keeping_warnings(void)
{
    warnings[0] = '\0';
    mg_context_params params = mg_context_default_params();
    params.device = "cpu";
    params.log_callback = keep_warnings;
    params.log_level = MG_LOG_WARN;
    mg_context *ctx = NULL;
    char error[256];
    cr_assert_eq(mg_context_create(&params, &ctx, error, sizeof error), MG_OK, "%s", error);
    return ctx;
}

/* The values `path` holds for `name`, as floats. */
static float *file_values(const char *path, const char *name, size_t *count)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_open(path, &file, &diag), MG_OK);
    const mg_st_tensor *t = mg_safetensors_find(&file, name);
    cr_assert_not_null(t, "the fixture has '%s'", name);
    float *values = malloc(t->count * sizeof *values);
    for (uint64_t i = 0; i < t->count; i++) {
        if (t->dtype == MG_ST_I64) {
            int64_t v;
            memcpy(&v, t->data + 8 * i, 8);
            values[i] = (float)v;
        } else {
            cr_assert_eq(t->dtype, MG_ST_F32, "'%s' is stored F32 in the fixture", name);
            memcpy(&values[i], t->data + 4 * i, 4);
        }
    }
    *count = (size_t)t->count;
    mg_safetensors_close(&file);
    mg_diag_destroy(&diag);
    return values;
}

/* The reference values of a removal marked NAN: upstream's own, from the fixtures. */
static float *reference_values(const char *name, size_t *count)
{
    if (strstr(name, ".inv_freq")) {
        test_npy npy = test_npy_load("../../ae_attention/weight.1.attn_fn.rel_pos.inv_freq");
        float *values = malloc(npy.count * sizeof *values);
        memcpy(values, npy.f32, npy.count * sizeof *values);
        *count = npy.count;
        test_npy_free(&npy);
        return values;
    }
    return file_values(FIXTURE, name, count);
}

/* Every removed tensor in `weights` holds its documented value. */
static void expect_initialised(const mg_weights *weights, const removal *removed, size_t removed_count)
{
    for (size_t i = 0; i < removed_count; i++) {
        const mg_weight *w = mg_weights_find(weights, removed[i].name);
        cr_assert_not_null(w, "'%s' is initialised", removed[i].name);
        size_t n = w->count;
        float *got = malloc(n * sizeof *got);
        if (w->ints) {
            for (size_t j = 0; j < n; j++)
                got[j] = (float)w->ints[j];
        } else {
            cr_assert_eq(mg_tensor_read_f32(w->tensor, got, n), MG_OK);
        }
        if (isnan(removed[i].value)) {
            size_t want_count = 0;
            float *want = reference_values(removed[i].name, &want_count);
            cr_assert_eq(n, want_count, "'%s': %zu values, the fixture has %zu", removed[i].name, n, want_count);
            for (size_t j = 0; j < n; j++)
                cr_assert_float_eq(got[j], want[j], 1e-6f * (1.0f + want[j]), "'%s'[%zu] = %g, upstream saved %g",
                                   removed[i].name, j, (double)got[j], (double)want[j]);
            free(want);
        } else {
            for (size_t j = 0; j < n; j++)
                cr_assert_eq(got[j], removed[i].value, "'%s'[%zu] = %g, expected %g", removed[i].name, j,
                             (double)got[j], (double)removed[i].value);
        }
        free(got);
    }
}

TestSuite(allow_missing, .fini = cleanup_temp);

Test(allow_missing, strict_by_default_naming_what_is_missing)
{
    const char *path = write_edited("missing.safetensors", EDIT_DROP);
    mg_context *ctx = cpu_context_keeping_warnings();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_ERR_FORMAT);
    cr_assert_null(model);
    const char *error = mg_context_last_error(ctx);
    char count[64];
    snprintf(count, sizeof count, "(%zu problems)", FIXTURE_REMOVED_COUNT + 1);
    cr_assert(strstr(error, count), "%s", error);
    /* The message lists what fits; the first names certainly. */
    cr_assert(strstr(error, "missing 'autoencoder.init_encoder_act_and_norm.1.weight' [32]"), "%s", error);
    cr_assert(strstr(error, "missing 'coarse_gateloop_block.gateloops.0.norm.gamma' [128]"), "%s", error);
    cr_assert(strstr(error, "unexpected '" UNEXPECTED "' [3]"), "%s", error);

    /* The default params are the strict load too. */
    mg_model_load_params params = mg_model_load_default_params();
    cr_assert_not(params.allow_missing);
    cr_assert_eq(mg_model_load_with(ctx, path, &params, &model), MG_ERR_FORMAT);
    cr_assert_null(model);
    mg_context_destroy(ctx);
}

Test(allow_missing, loads_with_the_documented_values_and_a_warning)
{
    const char *path = write_edited("missing.safetensors", EDIT_DROP);
    mg_context *ctx = cpu_context_keeping_warnings();
    mg_model_file_info info;
    mg_weights weights;
    cr_assert_eq(mg_model_file_load_with(ctx, path, true, &info, &weights), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert(info.has_transformer);
    char count[64];
    snprintf(count, sizeof count, "%zu tensors missing, initialised", FIXTURE_REMOVED_COUNT);
    cr_assert(strstr(warnings, count), "%s", warnings);
    for (size_t i = 0; i < FIXTURE_REMOVED_COUNT; i++)
        cr_assert(strstr(warnings, FIXTURE_REMOVED[i].name), "the warning names '%s': %s", FIXTURE_REMOVED[i].name,
                  warnings);
    cr_assert(strstr(warnings, "1 unexpected tensor ignored: '" UNEXPECTED "'"), "%s", warnings);
    cr_assert_null(mg_weights_find(&weights, UNEXPECTED));
    expect_initialised(&weights, FIXTURE_REMOVED, FIXTURE_REMOVED_COUNT);
    /* Nothing else changed: a tensor the file has is the file's. */
    size_t n = 0;
    float *want = file_values(FIXTURE, "to_logits.bias", &n);
    float *got = test_read(mg_weights_tensor(&weights, "to_logits.bias"));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i]);
    free(got);
    free(want);
    mg_weights_free(&weights);
    mg_model_file_info_free(&info);

    /* The public entry point builds the whole model (autoencoder and transformer) from it. */
    mg_model_load_params params = mg_model_load_default_params();
    params.allow_missing = true;
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load_with(ctx, path, &params, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_not_null(model);
    cr_assert(model->has_transformer);
    expect_initialised(&model->weights, FIXTURE_REMOVED, FIXTURE_REMOVED_COUNT);
    mg_model_free(model);
    mg_context_destroy(ctx);
}

/* A small autoencoder with both kinds of attention block, written with random weights. */
static const char *write_attention_model(void)
{
    mg_model_config config = {0};
    mg_ae_config *c = &config.autoencoder;
    mg_ae_config_defaults(c);
    c->dim_coor_embed = 8;
    c->dim_area_embed = 4;
    c->dim_normal_embed = 4;
    c->dim_angle_embed = 4;
    c->encoder_depth = 1;
    c->encoder_dims[0] = 32;
    c->decoder_depth = 1;
    c->decoder_dims[0] = 32;
    c->dim_codebook = 16;
    c->codebook_size = 64;
    c->attn_encoder_depth = 1;
    c->attn_decoder_depth = 1;
    c->use_linear_attn = true;
    c->local_attn_dim_head = 32;
    c->local_attn_heads = 1;
    c->linear_attn_dim_head = 4;
    c->linear_attn_heads = 2;
    const char *path = temp_path("attention.safetensors");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_model_write_random(path, &config, 3, 0.5f, MG_ST_F32, &diag), MG_OK, "%s", diag.last_error);
    mg_diag_destroy(&diag);
    return path;
}

Test(allow_missing, attention_blocks_get_neutral_norms_and_upstream_rotary_frequencies)
{
    const char *full = write_attention_model();
    const char *path = write_without(full, ATTENTION_REMOVED, ATTENTION_REMOVED_COUNT, "attention-missing.safetensors",
                                     EDIT_DROP);
    mg_context *ctx = cpu_context_keeping_warnings();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_ERR_FORMAT);
    for (size_t i = 0; i < ATTENTION_REMOVED_COUNT; i++)
        cr_assert(strstr(mg_context_last_error(ctx), ATTENTION_REMOVED[i].name), "the error names '%s': %s",
                  ATTENTION_REMOVED[i].name, mg_context_last_error(ctx));
    mg_model_load_params params = mg_model_load_default_params();
    params.allow_missing = true;
    cr_assert_eq(mg_model_load_with(ctx, path, &params, &model), MG_OK, "%s", mg_context_last_error(ctx));
    for (size_t i = 0; i < ATTENTION_REMOVED_COUNT; i++)
        cr_assert(strstr(warnings, ATTENTION_REMOVED[i].name), "the warning names '%s': %s",
                  ATTENTION_REMOVED[i].name, warnings);
    expect_initialised(&model->weights, ATTENTION_REMOVED, ATTENTION_REMOVED_COUNT);
    mg_model_free(model);
    mg_context_destroy(ctx);
}

Test(allow_missing, mis_shaped_or_mistyped_tensors_stay_errors)
{
    mg_context *ctx = cpu_context_keeping_warnings();
    mg_model_load_params params = mg_model_load_default_params();
    params.allow_missing = true;
    mg_model *model = NULL;
    const char *reshaped = write_edited("reshaped.safetensors", EDIT_DROP_AND_RESHAPE);
    cr_assert_eq(mg_model_load_with(ctx, reshaped, &params, &model), MG_ERR_FORMAT);
    cr_assert_null(model);
    const char *error = mg_context_last_error(ctx);
    cr_assert(strstr(error, "(1 problem)"), "only the shape is a problem: %s", error);
    cr_assert(strstr(error, "'to_logits.bias' has shape"), "%s", error);

    const char *retyped = write_edited("retyped.safetensors", EDIT_DROP_AND_RETYPE);
    cr_assert_eq(mg_model_load_with(ctx, retyped, &params, &model), MG_ERR_FORMAT);
    cr_assert_null(model);
    error = mg_context_last_error(ctx);
    cr_assert(strstr(error, "(1 problem)"), "only the dtype is a problem: %s", error);
    cr_assert(strstr(error, "'sos_token' is I32"), "%s", error);
    mg_context_destroy(ctx);
}

Test(allow_missing, convert_writes_the_initialised_tensors)
{
    const char *path = write_edited("missing.safetensors", EDIT_DROP);
    const char *out = temp_path("completed.safetensors");
    char error[1024];
    mg_convert_params params = {0};
    cr_assert_eq(mg_model_convert(path, out, &params, error, sizeof error), MG_ERR_FORMAT, "strict by default");
    cr_assert(strstr(error, "missing 'autoencoder.init_encoder_act_and_norm.1.weight'"), "%s", error);
    params.allow_missing = true;
    cr_assert_eq(mg_model_convert(path, out, &params, error, sizeof error), MG_OK, "%s", error);

    /* The written file is complete: it loads strictly, with the same values a lenient load gives. */
    mg_context *ctx = cpu_context_keeping_warnings();
    mg_model_file_info info;
    mg_weights weights;
    cr_assert_eq(mg_model_file_load(ctx, out, &info, &weights), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_null(mg_weights_find(&weights, UNEXPECTED), "the unexpected tensor is dropped");
    expect_initialised(&weights, FIXTURE_REMOVED, FIXTURE_REMOVED_COUNT);
    mg_weights_free(&weights);
    mg_model_file_info_free(&info);
    mg_context_destroy(ctx);
}

/* ---- meshgpt info: where the configuration came from ---- */

static char *inspect(const char *path, bool allow_missing)
{
    mg_model_load_params params = mg_model_load_default_params();
    params.allow_missing = allow_missing;
    char *report = NULL;
    char error[1024];
    cr_assert_eq(mg_model_inspect_with(path, &params, &report, error, sizeof error), MG_OK, "%s: %s", path, error);
    return report;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "copy %s -> %s", from, to);
    char buffer[1 << 16];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        cr_assert_eq(fwrite(buffer, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static const char *config_line(const char *report, char *line, size_t size)
{
    const char *at = strstr(report, "\nconfig:");
    cr_assert_not_null(at, "%s", report);
    at += 1;
    size_t n = strcspn(at, "\n");
    snprintf(line, size, "%.*s", (int)n, at);
    return line;
}

Test(allow_missing, info_names_the_source_of_a_checkpoint_config)
{
    char line[2048];
    /* config.json beside the upstream model.save() file. */
    char *report = inspect(CONFORMANCE("transformer.pt"), false);
    config_line(report, line, sizeof line);
    cr_assert(strstr(line, "config.json beside the file (" MG_FIXTURE_DIR "/meshgpt-pytorch-a/config.json)"), "%s",
              line);
    cr_assert_null(strstr(line, "metadata"), "%s", line);
    mg_string_free(report);

    /* The same file alone: everything read off the shapes, with the defaulted fields named. */
    const char *lone = temp_path("transformer.pt");
    copy_file(CONFORMANCE("transformer.pt"), lone);
    report = inspect(lone, false);
    config_line(report, line, sizeof line);
    cr_assert(strstr(line, "inferred from tensor shapes"), "%s", line);
    cr_assert(strstr(line, "coor_continuous_range"), "%s", line);
    cr_assert(strstr(line, "text_condition_model_types"), "%s", line);
    mg_string_free(report);

    /* A project file: its metadata. */
    report = inspect(write_edited("missing.safetensors", EDIT_DROP), false);
    config_line(report, line, sizeof line);
    cr_assert(strstr(line, "from the \"meshgpt\" metadata entry"), "%s", line);
    mg_string_free(report);
}

Test(allow_missing, info_says_what_allow_missing_would_initialise)
{
    const char *path = write_edited("missing.safetensors", EDIT_DROP);
    char *strict = inspect(path, false);
    cr_assert(strstr(strict, "check: FAILED"), "%s", strict);
    mg_string_free(strict);
    char *lenient = inspect(path, true);
    cr_assert(strstr(lenient, "check: OK only with allow_missing"), "%s", lenient);
    /* info checks the autoencoder: its 3 removed tensors, and the unexpected one. */
    cr_assert(strstr(lenient, "3 tensors missing, initialised"), "%s", lenient);
    cr_assert(strstr(lenient, "autoencoder.quantizer.layers.0.mask"), "%s", lenient);
    cr_assert(strstr(lenient, "1 unexpected tensor ignored"), "%s", lenient);
    mg_string_free(lenient);
}
