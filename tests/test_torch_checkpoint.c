/*
 * PyTorch checkpoints (torch.save zip archives) read in C. The references are
 * PyTorch's own: the checkpoints in tests/fixtures/torch come with the tensors torch held,
 * written contiguously as .safetensors by scripts/make_torch_fixtures.py, and
 * the real meshgpt-pytorch model.save() files of the conformance bundle come
 * with the bundle's model.safetensors and token outputs.
 */
#include "io/safetensors.h"
#include "io/torch_zip.h"
#include "model/model_file.h"
#include "model/model_torch.h"
#include "test_npy.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TORCH(name) MG_FIXTURE_DIR "/torch/" name
#define CONFORMANCE(name) MG_FIXTURE_DIR "/meshgpt-pytorch-a/" name

static mg_diag quiet(void)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    return diag;
}

/* The tensors of a checkpoint as mg_torch_read_tensors gives them (no configuration). */
static mg_status read_checkpoint(const char *path, mg_torch_weights weights, mg_safetensors *out, mg_diag *diag)
{
    mg_zip zip;
    mg_status status = mg_zip_open(path, &zip, diag);
    if (status != MG_OK)
        return status;
    mg_torch_options options = {.weights = weights};
    status = mg_torch_read_tensors(&zip, &options, out, diag);
    mg_zip_close(&zip);
    return status;
}

/* Every tensor of `expected` (names after `prefix`), and no other, with the same dtype, shape and bytes. */
static void assert_same_tensors(const mg_safetensors *got, const mg_safetensors *expected, const char *prefix,
                                const char *what)
{
    size_t n = strlen(prefix), matched = 0;
    for (size_t i = 0; i < expected->count; i++) {
        const mg_st_tensor *e = &expected->tensors[i];
        if (strncmp(e->name, prefix, n) != 0)
            continue;
        matched++;
        const mg_st_tensor *g = mg_safetensors_find(got, e->name + n);
        cr_assert_not_null(g, "%s: '%s' is missing", what, e->name + n);
        cr_assert_eq(g->dtype, e->dtype, "%s: '%s' is %s, PyTorch saved %s", what, g->name, mg_st_dtype_name(g->dtype),
                     mg_st_dtype_name(e->dtype));
        cr_assert_eq(g->ndim, e->ndim, "%s: '%s' rank", what, g->name);
        for (int d = 0; d < e->ndim; d++)
            cr_assert_eq(g->shape[d], e->shape[d], "%s: '%s' dim %d", what, g->name, d);
        cr_assert_eq(g->end - g->begin, e->end - e->begin, "%s: '%s' size", what, g->name);
        cr_assert(memcmp(g->data, e->data, (size_t)(e->end - e->begin)) == 0, "%s: '%s' differs from PyTorch's values",
                  what, g->name);
    }
    cr_assert_eq(got->count, matched, "%s: %zu tensors read, PyTorch saved %zu", what, got->count, matched);
}

static void assert_checkpoint_matches(const char *checkpoint, mg_torch_weights weights, const char *expected_path)
{
    mg_diag diag = quiet();
    mg_safetensors got, expected;
    cr_assert_eq(read_checkpoint(checkpoint, weights, &got, &diag), MG_OK, "%s: %s", checkpoint, diag.last_error);
    cr_assert_eq(mg_safetensors_open(expected_path, &expected, &diag), MG_OK, "%s", diag.last_error);
    assert_same_tensors(&got, &expected, "", checkpoint);
    mg_safetensors_close(&got);
    mg_safetensors_close(&expected);
    mg_diag_destroy(&diag);
}

static void assert_fails(const char *path, mg_status want, const char *needle)
{
    mg_diag diag = quiet();
    mg_safetensors got;
    mg_status status = read_checkpoint(path, MG_TORCH_WEIGHTS_AUTO, &got, &diag);
    cr_assert_eq(status, want, "%s: status %d, expected %d (%s)", path, status, want, diag.last_error);
    cr_assert(strstr(diag.last_error, needle), "%s: message \"%s\" does not say \"%s\"", path, diag.last_error,
              needle);
    mg_diag_destroy(&diag);
}

/* ---- PyTorch's values, bit for bit ---- */

Test(torch_checkpoint, state_dict_of_every_dtype_stride_and_sharing)
{
    /* f32/f16/bf16/f64/int64/int32/bool, 0-d, empty, transposed, strided, two views of one storage,
     * an nn.Parameter. */
    assert_checkpoint_matches(TORCH("state_dict.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("state_dict.safetensors"));
}

Test(torch_checkpoint, deflated_entries_inflate_to_the_same_tensors)
{
    assert_checkpoint_matches(TORCH("deflated.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("state_dict.safetensors"));
}

Test(torch_checkpoint, model_save_layout_skips_the_pickled_config)
{
    assert_checkpoint_matches(TORCH("model_save.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("model_save.safetensors"));
}

Test(torch_checkpoint, trainer_checkpoint_prefers_ema_and_lets_you_choose)
{
    assert_checkpoint_matches(TORCH("trainer.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("trainer_ema.safetensors"));
    assert_checkpoint_matches(TORCH("trainer.pt"), MG_TORCH_WEIGHTS_EMA, TORCH("trainer_ema.safetensors"));
    assert_checkpoint_matches(TORCH("trainer.pt"), MG_TORCH_WEIGHTS_MODEL, TORCH("trainer_model.safetensors"));
    mg_diag diag = quiet();
    mg_safetensors got;
    cr_assert_eq(read_checkpoint(TORCH("model_save.pt"), MG_TORCH_WEIGHTS_EMA, &got, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "no EMA weights"), "%s", diag.last_error);
    mg_diag_destroy(&diag);
}

Test(torch_checkpoint, both_layernorm_eras_give_gamma)
{
    /* x-transformers < 1.31 'weight' becomes gamma = weight - 1; >= 1.31.3 'gamma' passes; look-alikes stay. */
    assert_checkpoint_matches(TORCH("layernorm_old.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("layernorm.safetensors"));
    assert_checkpoint_matches(TORCH("layernorm_new.pt"), MG_TORCH_WEIGHTS_AUTO, TORCH("layernorm.safetensors"));
}

/* ---- the real meshgpt-pytorch model.save() files ---- */

Test(torch_checkpoint, upstream_model_save_files_match_the_bundle)
{
    mg_diag diag = quiet();
    mg_safetensors bundle, ae, transformer;
    cr_assert_eq(mg_safetensors_open(CONFORMANCE("model.safetensors"), &bundle, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(read_checkpoint(CONFORMANCE("autoencoder.pt"), MG_TORCH_WEIGHTS_AUTO, &ae, &diag), MG_OK, "%s",
                 diag.last_error);
    assert_same_tensors(&ae, &bundle, "autoencoder.", "autoencoder.pt");
    cr_assert_eq(read_checkpoint(CONFORMANCE("transformer.pt"), MG_TORCH_WEIGHTS_AUTO, &transformer, &diag), MG_OK,
                 "%s", diag.last_error);
    assert_same_tensors(&transformer, &bundle, "", "transformer.pt");
    mg_safetensors_close(&bundle);
    mg_safetensors_close(&ae);
    mg_safetensors_close(&transformer);
    mg_diag_destroy(&diag);
}

static cJSON *config_of(const char *path)
{
    mg_diag diag = quiet();
    mg_safetensors file;
    cr_assert_eq(mg_model_file_open(path, &file, &diag), MG_OK, "%s: %s", path, diag.last_error);
    const char *json = mg_safetensors_metadata(&file, "meshgpt");
    cr_assert_not_null(json, "%s: no configuration", path);
    cJSON *config = cJSON_Parse(json);
    cr_assert_not_null(config);
    mg_safetensors_close(&file);
    mg_diag_destroy(&diag);
    return config;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "copying %s to %s", from, to);
    char buffer[65536];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
        cr_assert_eq(fwrite(buffer, 1, n, out), n);
    fclose(in);
    fclose(out);
}

Test(torch_checkpoint, config_inferred_from_shapes_matches_config_json)
{
    /* Without config.json beside it, the shapes alone must give the configuration config.json gives. */
    char folder[] = "/tmp/mg-torch-XXXXXX";
    cr_assert_not_null(mkdtemp(folder));
    char lone[512];
    snprintf(lone, sizeof lone, "%s/transformer.pt", folder);
    copy_file(CONFORMANCE("transformer.pt"), lone);
    cJSON *inferred = config_of(lone);
    cJSON *given = config_of(CONFORMANCE("transformer.pt"));
    cr_assert(cJSON_Compare(cJSON_GetObjectItem(inferred, "autoencoder"), cJSON_GetObjectItem(given, "autoencoder"),
                            true), "the inferred autoencoder config differs from config.json's");
    static const char *const keys[] = {"dim", "max_seq_len", "attn_depth", "attn_heads", "attn_dim_head",
                                       "fine_attn_depth", "coarse_pre_gateloop_depth", "fine_pre_gateloop_depth",
                                       "condition_on_text", "fine_cross_attend_text", "num_sos_tokens",
                                       "cross_attn_num_mem_kv", "text_cond_with_film"};
    const cJSON *ti = cJSON_GetObjectItem(inferred, "transformer"), *tg = cJSON_GetObjectItem(given, "transformer");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert(cJSON_Compare(cJSON_GetObjectItem(ti, keys[i]), cJSON_GetObjectItem(tg, keys[i]), true),
                  "transformer kwarg '%s' inferred differently from config.json", keys[i]);
    /* meshgpt 1.7.2 (the bundle) has value-residual mixers: the inference must notice them. */
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(ti, "attn_kwargs"), "add_value_residual")));
    /* config.json's transformer_kwargs leave it to 1.7.2's default (on), which the tensors confirm: untouched. */
    cr_assert_null(cJSON_GetObjectItem(tg, "attn_kwargs"));
    cJSON_Delete(inferred);
    cJSON_Delete(given);
    unlink(lone);
    rmdir(folder);
}

static void tokenize_like_pytorch(const char *model_path)
{
    static const char *const meshes[] = {"cube", "tetra", "cone16"};
    mg_context *ctx = test_cpu_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, model_path, &model), MG_OK, "%s: %s", model_path, mg_context_last_error(ctx));
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = MG_PREPROCESS_NONE;
    for (size_t m = 0; m < 3; m++) {
        char name[64];
        snprintf(name, sizeof name, "mesh_%s_vertices", meshes[m]);
        test_npy vertices = test_npy_load(name);
        snprintf(name, sizeof name, "mesh_%s_faces", meshes[m]);
        test_npy faces = test_npy_load(name);
        int32_t *face_ids = malloc(faces.count * sizeof *face_ids);
        for (size_t i = 0; i < faces.count; i++)
            face_ids[i] = (int32_t)faces.i64[i];
        mg_mesh mesh = {.vertices = vertices.f32, .num_vertices = (size_t)vertices.shape[0], .faces = face_ids,
                        .num_faces = (size_t)faces.shape[0], .face_size = 3};
        mg_tokens tokens;
        cr_assert_eq(mg_tokenize(model, &mesh, 1, &params, &tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
        snprintf(name, sizeof name, "ae_tokenize_%s", meshes[m]);
        test_npy expected = test_npy_load(name);
        cr_assert_eq(tokens.num_faces * tokens.face_size * tokens.levels, expected.count, "%s: %s", model_path,
                     meshes[m]);
        for (size_t i = 0; i < expected.count; i++)
            cr_assert_eq(tokens.tokens[i], expected.i64[i], "%s: %s token %zu", model_path, meshes[m], i);
        mg_tokens_free(&tokens);
        test_npy_free(&expected);
        test_npy_free(&vertices);
        test_npy_free(&faces);
        free(face_ids);
    }
    mg_model_free(model);
    test_close(ctx);
}

Test(torch_checkpoint, models_loaded_from_pt_tokenize_like_pytorch)
{
    tokenize_like_pytorch(CONFORMANCE("autoencoder.pt"));
    tokenize_like_pytorch(CONFORMANCE("transformer.pt"));
}

Test(torch_checkpoint, converted_model_is_the_same_model)
{
    char out[] = "/tmp/mg-torch-convert-XXXXXX";
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    char error[1024];
    cr_assert_eq(mg_model_convert(CONFORMANCE("transformer.pt"), out, NULL, error, sizeof error), MG_OK, "%s", error);
    mg_diag diag = quiet();
    mg_safetensors converted, bundle;
    cr_assert_eq(mg_safetensors_open(out, &converted, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(mg_safetensors_open(CONFORMANCE("model.safetensors"), &bundle, &diag), MG_OK);
    assert_same_tensors(&converted, &bundle, "", "converted transformer.pt");
    cr_assert_not_null(mg_safetensors_metadata(&converted, "meshgpt"), "the configuration travels in the metadata");
    mg_safetensors_close(&converted);
    tokenize_like_pytorch(out);

    /* --dtype f16: every float tensor F16, the integer masks untouched. */
    mg_convert_params params = {.dtype = "f16"};
    cr_assert_eq(mg_model_convert(CONFORMANCE("autoencoder.pt"), out, &params, error, sizeof error), MG_OK, "%s",
                 error);
    cr_assert_eq(mg_safetensors_open(out, &converted, &diag), MG_OK, "%s", diag.last_error);
    for (size_t i = 0; i < converted.count; i++) {
        const mg_st_tensor *t = &converted.tensors[i];
        bool mask = strstr(t->name, ".mask") != NULL;
        cr_assert_eq(t->dtype, mask ? MG_ST_I64 : MG_ST_F16, "'%s' is %s", t->name, mg_st_dtype_name(t->dtype));
    }
    mg_safetensors_close(&converted);
    mg_safetensors_close(&bundle);
    mg_diag_destroy(&diag);
    unlink(out);
}

/* ---- bad input ---- */

Test(torch_checkpoint, a_pickle_calling_os_system_is_refused_not_run)
{
    const char *witness = "/tmp/meshgpt-torch-fixture-pwned";
    unlink(witness);
    assert_fails(TORCH("evil_global.pt"), MG_ERR_UNSUPPORTED, "'posix.system'");
    assert_fails(TORCH("evil_global.pt"), MG_ERR_UNSUPPORTED, "nothing was executed");
    struct stat st;
    cr_assert_neq(stat(witness, &st), 0, "the checkpoint's command ran");
}

Test(torch_checkpoint, a_tensor_past_its_storage_is_refused)
{
    assert_fails(TORCH("oob_storage.pt"), MG_ERR_FORMAT, "'f32' reaches past the end of its storage");
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)n);
    cr_assert_eq(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

Test(torch_checkpoint, truncated_archives_are_refused_with_a_reason)
{
    size_t size;
    uint8_t *bytes = slurp(TORCH("state_dict.pt"), &size);
    size_t cuts[] = {0, 3, 30, 100, size / 2, size - 23, size - 22, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mg_diag diag = quiet();
        mg_zip zip;
        mg_status status = mg_zip_parse(bytes, cuts[i], "cut", &zip, &diag);
        cr_assert_eq(status, MG_ERR_FORMAT, "cut at %zu of %zu bytes: status %d", cuts[i], size, status);
        cr_assert(strstr(diag.last_error, "truncated"), "cut at %zu: \"%s\"", cuts[i], diag.last_error);
        mg_diag_destroy(&diag);
    }
    /* Through the model loader too: the file names the problem. */
    char path[] = "/tmp/mg-torch-cut-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, bytes, size - 1), (ssize_t)(size - 1));
    close(fd);
    mg_context *ctx = test_cpu_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_ERR_FORMAT);
    cr_assert(strstr(mg_context_last_error(ctx), "truncated"), "%s", mg_context_last_error(ctx));
    test_close(ctx);
    unlink(path);
    free(bytes);
}

Test(torch_checkpoint, the_legacy_format_is_refused_with_advice)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, TORCH("legacy.pt"), &model), MG_ERR_UNSUPPORTED, "%s", mg_context_last_error(ctx));
    cr_assert(strstr(mg_context_last_error(ctx), "legacy format"), "%s", mg_context_last_error(ctx));
    test_close(ctx);
}

Test(torch_checkpoint, a_checkpoint_of_another_model_says_so)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, TORCH("state_dict.pt"), &model), MG_ERR_FORMAT);
    cr_assert(strstr(mg_context_last_error(ctx), "not a meshgpt-pytorch MeshAutoencoder"), "%s",
              mg_context_last_error(ctx));
    test_close(ctx);
}

Test(torch_checkpoint, corrupt_bytes_never_crash_and_always_explain)
{
    /* Every single-byte change of a small checkpoint: accepted or refused with a message, never a crash. */
    size_t size;
    uint8_t *bytes = slurp(TORCH("model_save.pt"), &size);
    uint8_t *copy = malloc(size);
    for (size_t i = 0; i < size; i++) {
        memcpy(copy, bytes, size);
        copy[i] ^= 0x5A;
        mg_diag diag = quiet();
        mg_zip zip;
        mg_status status = mg_zip_parse(copy, size, "flipped", &zip, &diag);
        mg_safetensors out;
        if (status == MG_OK) {
            status = mg_torch_read_tensors(&zip, NULL, &out, &diag);
            if (status == MG_OK)
                mg_safetensors_close(&out);
            mg_zip_close(&zip);
        }
        cr_assert(status == MG_OK || diag.last_error[0], "byte %zu: failure without a message", i);
        mg_diag_destroy(&diag);
    }
    free(copy);
    free(bytes);
}
