/*
 * Model files: meshgpt-pytorch's own state dict (the conformance fixture)
 * loads with its config.json, models written here read back identical, and
 * every kind of broken file gets a specific status and a message that says
 * what is wrong. The header facts the tests compare against are read here
 * independently, with cJSON, from the file's bytes.
 */
#include "test_util.h"

#include "io/safetensors.h"
#include "model/model_file.h"
#include "model/model_write.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE MG_FIXTURE_DIR "/meshgpt-pytorch-a/model.safetensors"

/* ---- helpers ---- */

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)n + 1);
    cr_assert_eq(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* The header of a safetensors file, parsed by the test itself. */
typedef struct raw_header {
    uint8_t *bytes;
    size_t size;
    uint64_t header_size;
    cJSON *json;
} raw_header;

static raw_header raw_read(const char *path)
{
    raw_header h;
    h.bytes = read_file(path, &h.size);
    h.header_size = 0;
    for (int i = 7; i >= 0; i--)
        h.header_size = (h.header_size << 8) | h.bytes[i];
    h.json = cJSON_ParseWithLength((const char *)h.bytes + 8, (size_t)h.header_size);
    cr_assert_not_null(h.json);
    return h;
}

static void raw_free(raw_header *h)
{
    cJSON_Delete(h->json);
    free(h->bytes);
}

static uint64_t raw_count(const cJSON *entry)
{
    uint64_t n = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(entry, "shape")) n *= (uint64_t)d->valuedouble;
    return n;
}

static const uint8_t *raw_data(const raw_header *h, const cJSON *entry)
{
    return h->bytes + 8 + h->header_size + (uint64_t)cJSON_GetArrayItem(cJSON_GetObjectItem(entry, "data_offsets"), 0)
                                               ->valuedouble;
}

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

static char temp_dir[64];

static const char *temp_path(const char *name)
{
    if (!temp_dir[0]) {
        snprintf(temp_dir, sizeof temp_dir, "/tmp/mg-model-test-XXXXXX");
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

/* A small autoencoder, quick to write and load. */
static mg_model_config small_config(void)
{
    mg_model_config config = {0};
    mg_ae_config *c = &config.autoencoder;
    mg_ae_config_defaults(c);
    c->dim_coor_embed = 8;
    c->dim_area_embed = 4;
    c->dim_normal_embed = 4;
    c->dim_angle_embed = 4;
    c->encoder_depth = 2;
    c->encoder_dims[0] = 16;
    c->encoder_dims[1] = 24;
    c->decoder_depth = 3;
    c->decoder_dims[0] = 16;
    c->decoder_dims[1] = 16;
    c->decoder_dims[2] = 32;
    c->dim_codebook = 16;
    c->codebook_size = 64;
    c->local_attn_dim_head = 8;
    c->local_attn_heads = 2;
    c->linear_attn_dim_head = 4;
    c->linear_attn_heads = 2;
    return config;
}

static void expect_load(mg_context *ctx, const char *path, mg_status want, const char *fragment)
{
    mg_model_file_info info;
    mg_weights weights;
    mg_status got = mg_model_file_load(ctx, path, &info, &weights);
    cr_assert_eq(got, want, "%s: status %s (%s), expected %s", path, mg_status_string(got),
                 mg_context_last_error(ctx), mg_status_string(want));
    if (fragment)
        cr_assert(strstr(mg_context_last_error(ctx), fragment), "message \"%s\" should mention \"%s\"",
                  mg_context_last_error(ctx), fragment);
    if (got == MG_OK) {
        mg_weights_free(&weights);
        mg_model_file_info_free(&info);
    } else {
        cr_assert_eq(weights.count, 0);
        cr_assert_null(info.config_json);
    }
}

/* ---- meshgpt-pytorch's state dict ---- */

Test(model_file, loads_the_meshgpt_pytorch_fixture)
{
    mg_context *ctx = test_cpu_context();
    mg_model_file_info info;
    mg_weights weights;
    cr_assert_eq(mg_model_file_load(ctx, FIXTURE, &info, &weights), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert(info.has_autoencoder);
    cr_assert(info.has_transformer);
    cr_assert_str_eq(info.autoencoder_prefix, "autoencoder.");
    cr_assert_eq(info.autoencoder.dim_coor_embed, 16);
    cr_assert_eq(info.autoencoder.encoder_dims[1], 64);
    cr_assert_eq(info.autoencoder.decoder_dims[2], 128);
    cr_assert_eq(info.autoencoder.codebook_size, 256);
    cr_assert(strstr(info.config_json, "\"format\":\"meshgpt-model\""), "%s", info.config_json);

    raw_header h = raw_read(FIXTURE);
    size_t ae_tensors = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, h.json)
    {
        if (!starts_with(entry->string, "autoencoder."))
            continue;
        ae_tensors++;
        const mg_weight *w = mg_weights_find(&weights, entry->string);
        cr_assert_not_null(w, "%s not loaded", entry->string);
        cr_assert_eq(w->count, raw_count(entry), "%s", entry->string);
        if (w->tensor) {
            const cJSON *shape = cJSON_GetObjectItem(entry, "shape");
            cr_assert_eq(w->tensor->ndim, cJSON_GetArraySize(shape), "%s", entry->string);
            for (int d = 0; d < w->tensor->ndim; d++)
                cr_assert_eq(w->tensor->shape[d], (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, "%s",
                             entry->string);
            cr_assert_eq(w->tensor->dtype, MG_DTYPE_F32);
        }
    }
    cr_assert_eq(ae_tensors, 50);
    cr_assert_eq(weights.count, 128, "the autoencoder's 50 tensors and the transformer's 78");
    cr_assert_not_null(mg_weights_find(&weights, "token_embed.weight"), "transformer tensors are loaded too");

    /* value spot check: the bytes at the file offset */
    const char *names[] = {"autoencoder.project_in.weight", "autoencoder.to_coor_logits.0.bias",
                           "autoencoder.decoders.1.residual_conv.weight"};
    for (size_t k = 0; k < 3; k++) {
        entry = cJSON_GetObjectItem(h.json, names[k]);
        size_t n = (size_t)raw_count(entry);
        float *expected = malloc(n * sizeof *expected);
        memcpy(expected, raw_data(&h, entry), n * sizeof *expected);
        float *got = test_read(mg_weights_tensor(&weights, names[k]));
        cr_assert_arr_eq(got, expected, n * sizeof *got, "%s", names[k]);
        free(got);
        free(expected);
    }
    const mg_weight *mask = mg_weights_find(&weights, "autoencoder.quantizer.layers.1.mask");
    cr_assert_not_null(mask);
    cr_assert_null(mask->tensor);
    int64_t want_mask[8] = {128, 64, 32, 16, 8, 4, 2, 1};
    cr_assert_arr_eq(mask->ints, want_mask, sizeof want_mask);
    raw_free(&h);
    mg_weights_free(&weights);
    mg_model_file_info_free(&info);
    test_close(ctx);
}

static void grouped(uint64_t value, char *out)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

Test(model_file, inspect_counts_parameters_from_the_header)
{
    raw_header h = raw_read(FIXTURE);
    uint64_t parameters = 0, buffers = 0, transformer = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, h.json)
    {
        if (strcmp(entry->string, "__metadata__") == 0)
            continue;
        if (!starts_with(entry->string, "autoencoder."))
            transformer += raw_count(entry);
        else if (ends_with(entry->string, ".mask")) /* LFQ's only buffer */
            buffers += raw_count(entry);
        else
            parameters += raw_count(entry);
    }
    raw_free(&h);
    char text[256], p[32], b[32], t[32];
    grouped(parameters, p);
    grouped(buffers, b);
    grouped(transformer, t);

    char *report = NULL;
    char error[256];
    cr_assert_eq(mg_model_inspect(FIXTURE, &report, error, sizeof error), MG_OK, "%s", error);
    snprintf(text, sizeof text, "autoencoder total: %s parameters (+ %s buffer values)", p, b);
    cr_assert(strstr(report, text), "report lacks \"%s\":\n%s", text, report);
    snprintf(text, sizeof text, "transformer total: %s values in 78 tensors", t);
    cr_assert(strstr(report, text), "report lacks \"%s\":\n%s", text, report);
    cr_assert(strstr(report, "F32 (126 tensors) I64 (2 tensors)"), "%s", report);
    cr_assert(strstr(report, "check: OK"), "%s", report);
    cr_assert(strstr(report, "\"dim_codebook\":\t64"), "%s", report);
    /* 128 coordinate bins x 16 dims, by hand */
    cr_assert(strstr(report, "coor_embed                            2,048"), "%s", report);
    mg_string_free(report);

    cr_assert_eq(mg_model_inspect("/nonexistent/model.safetensors", &report, error, sizeof error), MG_ERR_IO);
    cr_assert(strstr(error, "/nonexistent/model.safetensors"), "%s", error);
    cr_assert_null(report);
}

/* ---- written here, read back ---- */

static void round_trip(mg_context *ctx, mg_model_config config, mg_st_dtype dtype, const char *name)
{
    const char *path = temp_path(name);
    mg_diag *diag = &ctx->diag;
    cr_assert_eq(mg_model_write_random(path, &config, 7, 0.5f, dtype, diag), MG_OK, "%s", diag->last_error);

    mg_model_file_info info;
    mg_weights weights;
    cr_assert_eq(mg_model_file_load(ctx, path, &info, &weights), MG_OK, "%s: %s", name, mg_context_last_error(ctx));
    cr_assert_eq(info.has_transformer, config.has_transformer);
    cr_assert_eq(info.autoencoder.quads, config.autoencoder.quads);
    cr_assert_eq(info.autoencoder.use_residual_lfq, config.autoencoder.use_residual_lfq);
    cr_assert_eq(info.autoencoder.attn_decoder_depth, config.autoencoder.attn_decoder_depth);
    cr_assert_eq(info.autoencoder.preprocess.order, config.autoencoder.preprocess.order);
    cr_assert_eq(memcmp(&info.autoencoder.preprocess, &config.autoencoder.preprocess, sizeof(mg_preprocess_config)),
                 0);

    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    cr_assert_eq(mg_model_weight_specs(&config, info.autoencoder_prefix, &specs, &spec_count, NULL, diag), MG_OK);
    cr_assert_eq(weights.count, spec_count);

    raw_header h = raw_read(path);
    cr_assert_eq(cJSON_GetArraySize(h.json), (int)spec_count + 1, "every spec plus __metadata__");
    cr_assert_eq((8 + h.header_size) % 8, 0, "data starts 8-byte aligned");
    const cJSON *entry;
    cJSON_ArrayForEach(entry, h.json)
    {
        if (strcmp(entry->string, "__metadata__") == 0) {
            cr_assert_not_null(cJSON_GetObjectItem(entry, "meshgpt"));
            continue;
        }
        const mg_weight *w = mg_weights_find(&weights, entry->string);
        cr_assert_not_null(w, "%s", entry->string);
        size_t n = (size_t)raw_count(entry);
        const uint8_t *data = raw_data(&h, entry);
        const char *stored = cJSON_GetObjectItem(entry, "dtype")->valuestring;
        if (!w->tensor) {
            cr_assert_str_eq(stored, "I64");
            cr_assert_arr_eq(w->ints, data, n * 8, "%s", entry->string);
            cr_assert_eq(w->ints[n - 1], 1, "LFQ masks end with bit 1");
            continue;
        }
        if (strcmp(stored, "F16") == 0) {
            cr_assert_eq(w->tensor->dtype, MG_DTYPE_F16, "F16 stays f16 on the device");
            uint16_t *halves = malloc(n * 2);
            cr_assert_eq(mg_tensor_read(w->tensor, halves, n * 2), MG_OK);
            cr_assert_arr_eq(halves, data, n * 2, "%s", entry->string);
            free(halves);
            continue;
        }
        cr_assert_eq(w->tensor->dtype, MG_DTYPE_F32);
        float *got = test_read(w->tensor);
        for (size_t i = 0; i < n; i++) {
            float want;
            if (strcmp(stored, "BF16") == 0) {
                uint32_t bits = (uint32_t)(data[2 * i] | data[2 * i + 1] << 8) << 16;
                memcpy(&want, &bits, 4);
            } else {
                cr_assert_str_eq(stored, "F32");
                memcpy(&want, data + 4 * i, 4);
            }
            cr_assert_eq(got[i], want, "%s[%zu]", entry->string, i);
        }
        if (ends_with(entry->string, "inv_freq"))
            cr_assert_float_eq(got[1], 1.0f / 10.0f, 5e-4f, "10000^(-2/8) for dim_head 8 (bf16 may round)");
        free(got);
    }
    raw_free(&h);
    free(specs);
    mg_weights_free(&weights);
    mg_model_file_info_free(&info);
}

Test(model_file, written_models_read_back_identical, .fini = cleanup_temp)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config lfq = small_config();
    round_trip(ctx, lfq, MG_ST_F32, "lfq.safetensors");

    mg_model_config attention = small_config();
    attention.autoencoder.attn_encoder_depth = 1;
    attention.autoencoder.attn_decoder_depth = 2;
    attention.has_transformer = true;
    attention.transformer_json =
        (char *)"{\"dim\":32,\"max_seq_len\":60,\"attn_depth\":1,\"attn_heads\":2,\"attn_dim_head\":8,"
                "\"fine_attn_depth\":1,\"coarse_pre_gateloop_depth\":1,\"fine_pre_gateloop_depth\":1}";
    round_trip(ctx, attention, MG_ST_F16, "attention.safetensors");

    mg_model_config local_only = attention;
    local_only.autoencoder.use_linear_attn = false;
    local_only.has_transformer = false;
    round_trip(ctx, local_only, MG_ST_BF16, "local-only.safetensors");

    mg_model_config vq = small_config();
    vq.autoencoder.use_residual_lfq = false;
    vq.autoencoder.codebook_size = 50;
    vq.autoencoder.num_quantizers = 3;
    round_trip(ctx, vq, MG_ST_F32, "vq.safetensors");

    mg_model_config quads = small_config();
    quads.autoencoder.quads = true;
    quads.autoencoder.attn_encoder_depth = 1;
    quads.autoencoder.preprocess.order = MG_ORDER_YZX;
    round_trip(ctx, quads, MG_ST_F32, "quads.safetensors");

    mg_model_config no_projection = small_config();
    no_projection.autoencoder.dim_codebook = 6; /* = log2(64): ResidualLFQ has no projections */
    round_trip(ctx, no_projection, MG_ST_F32, "no-projection.safetensors");
    test_close(ctx);
}

Test(model_file, specs_follow_upstream_shapes)
{
    mg_model_config config = small_config();
    mg_ae_config *c = &config.autoencoder;
    c->quads = true;
    c->attn_encoder_depth = 1;
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    cr_assert_eq(mg_ae_weight_specs(c, "", &specs, &count, NULL), MG_OK);
    const struct {
        const char *name;
        int ndim;
        int64_t shape[3];
    } want[] = {
        /* quads: 12 coordinates x 8 + 4 angles x 4 + 3 normal components x 4 + area 4 = 128 */
        {"project_in.weight", 2, {16, 128}},
        {"project_dim_codebook.weight", 2, {64, 24}},
        {"init_decoder_conv.0.weight", 3, {16, 64, 7}},
        {"to_coor_logits.0.weight", 2, {128 * 12, 32}},
        {"quantizer.project_in.weight", 2, {6, 16}},
        {"quantizer.layers.1.mask", 1, {6}},
        {"encoder_attn_blocks.0.0.to_kv.0.weight", 2, {16, 24}},
        {"encoder_attn_blocks.0.1.to_qkv.weight", 2, {48, 24}},
        {"encoder_attn_blocks.0.1.attn_fn.rel_pos.inv_freq", 1, {4}},
        {"encoder_attn_blocks.0.2.1.ff.0.proj.weight", 2, {192, 24}},
        {"encoder_attn_blocks.0.2.1.ff.2.weight", 2, {24, 96}},
        {"decoders.1.excite.net.0.weight", 2, {16, 32}}, /* max(32 / 4, 16) */
        {"decoders.1.residual_conv.weight", 3, {32, 16, 1}},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const mg_weight_spec *s = NULL;
        for (size_t i = 0; i < count; i++)
            if (strcmp(specs[i].name, want[k].name) == 0)
                s = &specs[i];
        cr_assert_not_null(s, "%s missing", want[k].name);
        cr_assert_eq(s->ndim, want[k].ndim, "%s", want[k].name);
        for (int d = 0; d < s->ndim; d++)
            cr_assert_eq(s->shape[d], want[k].shape[d], "%s dim %d", want[k].name, d);
    }
    for (size_t i = 0; i < count; i++) {
        cr_assert(!strstr(specs[i].name, "decoders.0.residual_conv"), "16 -> 16 has no residual conv");
        cr_assert_eq(specs[i].kind == MG_WEIGHT_INT, ends_with(specs[i].name, ".mask"), "%s", specs[i].name);
        cr_assert_eq(specs[i].buffer, ends_with(specs[i].name, ".mask") || ends_with(specs[i].name, "inv_freq"),
                     "%s", specs[i].name);
    }
    free(specs);

    /* use_linear_attn = False: the block's slot 0 is None, later slots keep their indices */
    c->use_linear_attn = false;
    cr_assert_eq(mg_ae_weight_specs(c, "autoencoder.", &specs, &count, NULL), MG_OK);
    bool has_local = false;
    for (size_t i = 0; i < count; i++) {
        cr_assert(!starts_with(specs[i].name, "autoencoder.encoder_attn_blocks.0.0."), "%s", specs[i].name);
        has_local |= strcmp(specs[i].name, "autoencoder.encoder_attn_blocks.0.1.to_qkv.weight") == 0;
    }
    cr_assert(has_local);
    free(specs);

    /* ResidualVQ with a shared codebook: the same buffers under every level, no projections */
    c->use_residual_lfq = false;
    c->codebook_size = 100;
    cr_assert_eq(mg_ae_weight_specs(c, "", &specs, &count, NULL), MG_OK);
    int codebook_entries = 0;
    for (size_t i = 0; i < count; i++) {
        cr_assert(!starts_with(specs[i].name, "quantizer.project_"), "%s", specs[i].name);
        if (strcmp(specs[i].name, "quantizer.layers.1._codebook.embed") == 0) {
            cr_assert_eq(specs[i].ndim, 3);
            cr_assert_eq(specs[i].shape[1], 100);
            cr_assert_eq(specs[i].shape[2], 16);
        }
        codebook_entries += strstr(specs[i].name, "._codebook.") != NULL;
    }
    cr_assert_eq(codebook_entries, 4 * 2);
    free(specs);
}

/* ---- broken files ---- */

/* Writes `header` (JSON) and `data_size` zero bytes as a safetensors file. */
static const char *raw_file(const char *name, const char *header, size_t data_size)
{
    size_t n = strlen(header);
    uint8_t *bytes = calloc(1, 8 + n + data_size);
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(bytes + 8, header, n);
    const char *path = temp_path(name);
    write_file(path, bytes, 8 + n + data_size);
    free(bytes);
    return path;
}

Test(model_file, broken_safetensors_files, .fini = cleanup_temp)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config = small_config();
    const char *good = temp_path("good.safetensors");
    cr_assert_eq(mg_model_write_random(good, &config, 1, 0.1f, MG_ST_F32, &ctx->diag), MG_OK, "%s",
                 ctx->diag.last_error);
    expect_load(ctx, good, MG_OK, NULL);
    size_t size;
    uint8_t *bytes = read_file(good, &size);

    const char *truncated = temp_path("truncated.safetensors");
    write_file(truncated, bytes, size - 100);
    expect_load(ctx, truncated, MG_ERR_FORMAT, "the file is truncated or its header lies");

    const char *tiny = temp_path("tiny.safetensors");
    write_file(tiny, bytes, 5);
    expect_load(ctx, tiny, MG_ERR_FORMAT, "too short");

    uint8_t *lying = malloc(size);
    memcpy(lying, bytes, size);
    uint64_t beyond = size + 10;
    for (int i = 0; i < 8; i++)
        lying[i] = (uint8_t)(beyond >> (8 * i));
    const char *long_header = temp_path("long-header.safetensors");
    write_file(long_header, lying, size);
    expect_load(ctx, long_header, MG_ERR_FORMAT, "goes past the end of the file");
    lying[7] = 0x7f;
    write_file(long_header, lying, size);
    expect_load(ctx, long_header, MG_ERR_FORMAT, "100 MB limit");
    free(lying);
    free(bytes);

    expect_load(ctx, raw_file("not-json.safetensors", "{\"a\": {\"dtype\": ", 0), MG_ERR_FORMAT, "not valid JSON");
    expect_load(ctx, raw_file("array.safetensors", "[1, 2]", 0), MG_ERR_FORMAT, "does not start with '{'");
    expect_load(ctx,
                raw_file("past-end.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                         4),
                MG_ERR_FORMAT, "tensor 'x': data_offsets [0, 8] go past the end of the file (4 bytes of data)");
    expect_load(ctx,
                raw_file("overlap.safetensors",
                         "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                         12),
                MG_ERR_FORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    expect_load(ctx,
                raw_file("mismatch.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
                         8),
                MG_ERR_FORMAT, "tensor 'x': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
    expect_load(ctx,
                raw_file("dtype.safetensors", "{\"x\": {\"dtype\": \"F8_E4M3\", \"shape\": [8], \"data_offsets\": [0, 8]}}",
                         8),
                MG_ERR_FORMAT, "tensor 'x': unknown dtype \"F8_E4M3\"");
    expect_load(ctx,
                raw_file("negative.safetensors", "{\"x\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
                         8),
                MG_ERR_FORMAT, "shape entry 0 is not a non-negative integer");
    expect_load(ctx,
                raw_file("twice.safetensors",
                         "{\"x\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
                         " \"x\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
                         2),
                MG_ERR_FORMAT, "'x' appears twice");
    expect_load(ctx,
                raw_file("metadata.safetensors", "{\"__metadata__\": {\"meshgpt\": 3}}", 0), MG_ERR_FORMAT,
                "metadata entry \"meshgpt\" is not a string");
    /* a valid file without any configuration (and no config.json in the temporary folder) */
    expect_load(ctx,
                raw_file("no-config.safetensors", "{\"x\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}",
                         1),
                MG_ERR_FORMAT, "has no configuration");
    expect_load(ctx, temp_path("missing.safetensors"), MG_ERR_IO, "missing.safetensors");
    test_close(ctx);
}

/* Copies `source` to `target`, changing its tensor list with `edit`, keeping the metadata. */
typedef void (*edit_fn)(mg_st_write_tensor *tensors, size_t *count);

static void rewrite(mg_context *ctx, const char *source, const char *target, edit_fn edit)
{
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_open(source, &file, &ctx->diag), MG_OK);
    mg_st_write_tensor *tensors = calloc(file.count + 1, sizeof *tensors);
    for (size_t i = 0; i < file.count; i++) {
        tensors[i].name = file.tensors[i].name;
        tensors[i].dtype = file.tensors[i].dtype;
        tensors[i].ndim = file.tensors[i].ndim;
        memcpy(tensors[i].shape, file.tensors[i].shape, sizeof tensors[i].shape);
        tensors[i].data = file.tensors[i].data;
    }
    size_t count = file.count;
    edit(tensors, &count);
    cr_assert_eq(mg_safetensors_write(target, tensors, count, file.metadata, file.metadata_count, &ctx->diag), MG_OK,
                 "%s", ctx->diag.last_error);
    free(tensors);
    mg_safetensors_close(&file);
}

static mg_st_write_tensor *named(mg_st_write_tensor *tensors, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tensors[i].name, name) == 0)
            return &tensors[i];
    cr_assert_fail("no tensor %s", name);
    return NULL;
}

static void make_int(mg_st_write_tensor *t, size_t *count)
{
    named(t, *count, "project_in.bias")->dtype = MG_ST_I32; /* same size: the file stays consistent */
}

static void drop_one(mg_st_write_tensor *t, size_t *count)
{
    mg_st_write_tensor *victim = named(t, *count, "to_coor_logits.0.bias");
    *count -= 1;
    *victim = t[*count];
}

static void transpose(mg_st_write_tensor *t, size_t *count)
{
    mg_st_write_tensor *w = named(t, *count, "project_in.weight");
    int64_t d = w->shape[0];
    w->shape[0] = w->shape[1];
    w->shape[1] = d;
}

static void add_extra(mg_st_write_tensor *t, size_t *count)
{
    t[*count] = *named(t, *count, "decoders.1.block1.proj.weight");
    t[*count].name = "decoders.9.block1.proj.weight";
    ++*count;
}

static void drop_thirty(mg_st_write_tensor *t, size_t *count)
{
    (void)t;
    *count -= 30;
}

static void float_mask(mg_st_write_tensor *t, size_t *count)
{
    named(t, *count, "quantizer.layers.0.mask")->dtype = MG_ST_F64;
}

Test(model_file, tensors_that_do_not_match_the_config, .fini = cleanup_temp)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config = small_config();
    const char *good = temp_path("good.safetensors");
    cr_assert_eq(mg_model_write_random(good, &config, 1, 0.1f, MG_ST_F32, &ctx->diag), MG_OK);
    const char *bad = temp_path("bad.safetensors");

    rewrite(ctx, good, bad, make_int);
    expect_load(ctx, bad, MG_ERR_FORMAT, "'project_in.bias' is I32, expected a float dtype");
    rewrite(ctx, good, bad, float_mask);
    expect_load(ctx, bad, MG_ERR_FORMAT, "'quantizer.layers.0.mask' is F64, expected an integer dtype");
    rewrite(ctx, good, bad, drop_one);
    expect_load(ctx, bad, MG_ERR_FORMAT, "(1 problem): missing 'to_coor_logits.0.bias' [1152]");
    rewrite(ctx, good, bad, transpose);
    expect_load(ctx, bad, MG_ERR_FORMAT, "'project_in.weight' has shape [100, 16], expected [16, 100]");
    rewrite(ctx, good, bad, add_extra);
    expect_load(ctx, bad, MG_ERR_FORMAT, "unexpected 'decoders.9.block1.proj.weight' [32, 16, 3]");
    rewrite(ctx, good, bad, drop_thirty);
    expect_load(ctx, bad, MG_ERR_FORMAT, "(30 problems)");
    expect_load(ctx, bad, MG_ERR_FORMAT, "more");

    /* The writer refuses what the loader would. */
    mg_st_write_tensor none[1];
    cr_assert_eq(mg_model_write(bad, &config, none, 0, &ctx->diag), MG_ERR_FORMAT);
    cr_assert(strstr(ctx->diag.last_error, "missing 'coor_embed.weight' [128, 8]"), "%s", ctx->diag.last_error);

    /* inspect reports the mismatch instead of failing */
    rewrite(ctx, good, bad, transpose);
    char *report = NULL;
    char error[256];
    cr_assert_eq(mg_model_inspect(bad, &report, error, sizeof error), MG_OK, "%s", error);
    cr_assert(strstr(report, "check: FAILED"), "%s", report);
    cr_assert(strstr(report, "has shape [100, 16]"), "%s", report);
    mg_string_free(report);
    test_close(ctx);
}

Test(model_file, parse_from_memory_borrows_the_bytes)
{
    size_t size;
    uint8_t *bytes = read_file(FIXTURE, &size);
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_parse(bytes, size, &file, NULL), MG_OK);
    cr_assert_eq(file.count, 128);
    const mg_st_tensor *t = mg_safetensors_find(&file, "autoencoder.quantizer.layers.0.mask");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, MG_ST_I64);
    cr_assert_eq(t->data, file.data + t->begin);
    cr_assert(t->data > bytes && t->data + 64 <= bytes + size);
    cr_assert_str_eq(mg_safetensors_metadata(&file, "format"), "pt");
    cr_assert_null(mg_safetensors_find(&file, "autoencoder.nothing"));
    mg_safetensors_close(&file);
    for (size_t cut = 0; cut < 64; cut += 7) {
        mg_diag diag;
        mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
        cr_assert_eq(mg_safetensors_parse(bytes, cut, &file, &diag), MG_ERR_FORMAT);
        mg_diag_destroy(&diag);
    }
    free(bytes);
}
