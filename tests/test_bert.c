/*
 * The BERT encoder against Hugging Face's BertModel (transformers 4.30.2) on
 * the bert-tiny fixture: a 2-layer, 2-head BERT with random weights and the
 * real bert-base-uncased vocabulary. last_hidden_state of every tokenizer case
 * run alone, of the padded batches (pad positions included: BertModel computes
 * them too), and the BGE text encodings meshgpt-pytorch consumes (pad
 * positions set to the pad value), on the CPU reference and on Vulkan.
 *
 * Tolerance: max |difference| <= 1e-5 on the CPU reference and on Vulkan (measured: 1.3e-6 and 1.4e-6)
 * (the values are O(1); the reference's own batched vs unbatched runs differ
 * by 4.9e-7, an independent float64 forward by 1.2e-6).
 */
#include "test_npy.h"
#include "test_util.h"

#include "io/safetensors.h"
#include "text/bert.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BERT_DIR MG_FIXTURE_DIR "/bert-tiny"
#define CPU_TOLERANCE 1e-5
#define VULKAN_TOLERANCE 1e-5

/* test_npy_load reads from meshgpt-pytorch-a/cases: step over to the BERT bundle. */
static test_npy bert_npy(const char *name)
{
    char relative[256];
    snprintf(relative, sizeof relative, "../../bert-tiny/cases/%s", name);
    return test_npy_load(relative);
}

static int32_t *to_i32(const test_npy *a)
{
    int32_t *out = malloc(a->count * sizeof *out);
    for (size_t i = 0; i < a->count; i++)
        out[i] = (int32_t)a->i64[i];
    return out;
}

static double max_abs_diff(const float *got, const float *want, size_t count)
{
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) /* NaN counts as worst */
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

static mg_bert *load_bert(mg_context *ctx)
{
    mg_bert *bert = NULL;
    mg_status status = mg_bert_load(ctx, BERT_DIR, &bert);
    cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
    const mg_bert_config *c = mg_bert_get_config(bert);
    cr_assert_eq(c->hidden, 32);
    cr_assert_eq(c->layers, 2);
    cr_assert_eq(c->heads, 2);
    cr_assert_eq(c->intermediate, 64);
    cr_assert_eq(c->vocab, 30522);
    cr_assert_eq(c->max_positions, 512);
    return bert;
}

static const char *const CASES[] = {
    "empty", "a_chair", "a_chair_caps_bang", "cafe_creme", "naive_resume", "combining_accent", "accents_upper",
    "turkish_dotted_i", "greek_sigma", "cjk", "japanese_kana", "korean_hangul", "cyrillic", "emoji", "numbers",
    "hyphenated", "apostrophe", "rare_word", "wordpieces", "too_long_word", "whitespace", "control_chars",
    "mixed_case", "punct_runs", "ascii_symbols", "unicode_punct", "fullwidth", "special_token_text",
    "long_truncated"};

static void single_strings(mg_context *ctx, double tolerance)
{
    mg_bert *bert = load_bert(ctx);
    double worst = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "tok_%s_input_ids", CASES[i]);
        test_npy ids = bert_npy(name);
        snprintf(name, sizeof name, "tok_%s_last_hidden_state", CASES[i]);
        test_npy want = bert_npy(name);
        int32_t *ids32 = to_i32(&ids);
        mg_tensor *out = NULL;
        cr_assert_eq(mg_bert_encode(bert, ids32, NULL, 1, ids.count, &out), MG_OK, "%s", CASES[i]);
        cr_assert_eq(out->ndim, 3);
        cr_assert_eq((size_t)out->shape[1], ids.count);
        cr_assert_eq(out->count, want.count);
        float *got = test_read(out);
        double diff = max_abs_diff(got, want.f32, want.count);
        cr_assert_leq(diff, tolerance, "%s: max |difference| %.3g > %.3g", CASES[i], diff, tolerance);
        worst = fmax(worst, diff);
        free(got);
        free(ids32);
        mg_tensor_free(out);
        test_npy_free(&ids);
        test_npy_free(&want);
    }
    cr_log_info("%s: %zu single strings, max |difference| %.3g", ctx->gpu ? "Vulkan" : "CPU",
                sizeof CASES / sizeof CASES[0], worst);
    mg_bert_free(bert);
}

/* A padded batch: last_hidden_state everywhere (pad rows too), then the BGE encodings with pad -1 and 0. */
static void padded_batch(mg_context *ctx, const char *batch_name, double tolerance)
{
    mg_bert *bert = load_bert(ctx);
    char name[128];
    snprintf(name, sizeof name, "%s_input_ids", batch_name);
    test_npy ids = bert_npy(name);
    snprintf(name, sizeof name, "%s_attention_mask", batch_name);
    test_npy mask = bert_npy(name);
    snprintf(name, sizeof name, "%s_last_hidden_state", batch_name);
    test_npy want = bert_npy(name);
    size_t batch = (size_t)ids.shape[0], tokens = (size_t)ids.shape[1];
    int32_t *ids32 = to_i32(&ids), *mask32 = to_i32(&mask);

    mg_tensor *out = NULL;
    cr_assert_eq(mg_bert_encode(bert, ids32, mask32, batch, tokens, &out), MG_OK);
    float *hidden = test_read(out);
    double diff = max_abs_diff(hidden, want.f32, want.count);
    cr_assert_leq(diff, tolerance, "%s last_hidden_state: max |difference| %.3g > %.3g", batch_name, diff, tolerance);
    cr_log_info("%s %s: last_hidden_state max |difference| %.3g", ctx->gpu ? "Vulkan" : "CPU", batch_name, diff);
    mg_tensor_free(out);

    const char *suffixes[] = {"padm1", "pad0"};
    const float pads[] = {-1.0f, 0.0f};
    for (int v = 0; v < 2; v++) {
        snprintf(name, sizeof name, "%s_bge_text_encodings_%s", batch_name, suffixes[v]);
        if (strcmp(batch_name, "batch2_long") == 0 && v == 1)
            break; /* only the -1 variant of the long batch is in the fixtures */
        test_npy encodings = bert_npy(name);
        cr_assert_eq(mg_bert_text_encodings(bert, ids32, mask32, batch, tokens, pads[v], &out), MG_OK);
        float *got = test_read(out);
        diff = max_abs_diff(got, encodings.f32, encodings.count);
        cr_assert_leq(diff, tolerance, "%s: max |difference| %.3g > %.3g", name, diff, tolerance);
        /* Exactly the pad value at pad positions, exactly last_hidden_state elsewhere. */
        for (size_t r = 0; r < batch * tokens; r++) {
            for (size_t f = 0; f < 32; f++) {
                float expected = mask32[r] ? hidden[r * 32 + f] : pads[v];
                cr_assert(memcmp(&got[r * 32 + f], &expected, sizeof expected) == 0, "%s: row %zu feature %zu",
                          name, r, f);
            }
        }
        free(got);
        mg_tensor_free(out);
        test_npy_free(&encodings);
    }
    free(hidden);
    free(ids32);
    free(mask32);
    test_npy_free(&ids);
    test_npy_free(&mask);
    test_npy_free(&want);
    mg_bert_free(bert);
}

Test(bert, single_strings_on_the_cpu_reference)
{
    mg_context *ctx = test_cpu_context();
    single_strings(ctx, CPU_TOLERANCE);
    mg_context_destroy(ctx);
}

Test(bert, padded_batches_on_the_cpu_reference)
{
    mg_context *ctx = test_cpu_context();
    padded_batch(ctx, "batch3", CPU_TOLERANCE);
    padded_batch(ctx, "batch2_long", CPU_TOLERANCE);
    mg_context_destroy(ctx);
}

Test(bert, single_strings_on_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    single_strings(ctx, VULKAN_TOLERANCE);
    test_close(ctx);
}

Test(bert, padded_batches_on_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    padded_batch(ctx, "batch3", VULKAN_TOLERANCE);
    padded_batch(ctx, "batch2_long", VULKAN_TOLERANCE);
    test_close(ctx);
}

/* ---- other checkpoint layouts and bad input ---- */

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    cr_assert(in && out, "cannot copy %s to %s", from, to);
    char buffer[65536];
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, in)) > 0)
        cr_assert_eq(fwrite(buffer, 1, got, out), got);
    fclose(in);
    fclose(out);
}

/* The fixture rewritten as a task model would save it: every name under "bert.", LayerNorm weight/bias as
 * gamma/beta, a cls.* head added, position_ids dropped. */
static void write_task_model_folder(const char *dir)
{
    mkdir(dir, 0755);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    copy_file(BERT_DIR "/config.json", path);
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_open(BERT_DIR "/model.safetensors", &file, NULL), MG_OK);
    mg_st_write_tensor *tensors = calloc(file.count + 1, sizeof *tensors);
    char (*names)[200] = calloc(file.count + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < file.count; i++) {
        const mg_st_tensor *t = &file.tensors[i];
        if (strcmp(t->name, "embeddings.position_ids") == 0)
            continue;
        char renamed[160];
        snprintf(renamed, sizeof renamed, "%s", t->name);
        char *ln = strstr(renamed, "LayerNorm.");
        if (ln)
            strcpy(ln + 10, strcmp(ln + 10, "weight") == 0 ? "gamma" : "beta");
        snprintf(names[n], sizeof names[n], "bert.%s", renamed);
        tensors[n].name = names[n];
        tensors[n].dtype = t->dtype;
        tensors[n].ndim = t->ndim;
        memcpy(tensors[n].shape, t->shape, sizeof t->shape);
        tensors[n].data = t->data;
        n++;
    }
    static const float head[4] = {1, 2, 3, 4};
    tensors[n].name = "cls.predictions.bias";
    tensors[n].dtype = MG_ST_F32;
    tensors[n].ndim = 1;
    tensors[n].shape[0] = 4;
    tensors[n].data = head;
    n++;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(mg_safetensors_write(path, tensors, n, NULL, 0, NULL), MG_OK);
    free(tensors);
    free(names);
    mg_safetensors_close(&file);
}

Test(bert, task_model_names_load_to_the_same_encoder)
{
    char dir[] = "/tmp/mg-bert-task-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    write_task_model_folder(dir);
    mg_context *ctx = test_cpu_context();
    mg_bert *plain = load_bert(ctx), *task = NULL;
    cr_assert_eq(mg_bert_load(ctx, dir, &task), MG_OK);
    const int32_t ids[5] = {101, 1037, 3242, 999, 102};
    mg_tensor *a = NULL, *b = NULL;
    cr_assert_eq(mg_bert_encode(plain, ids, NULL, 1, 5, &a), MG_OK);
    cr_assert_eq(mg_bert_encode(task, ids, NULL, 1, 5, &b), MG_OK);
    float *va = test_read(a), *vb = test_read(b);
    cr_assert(memcmp(va, vb, 5 * 32 * sizeof(float)) == 0, "same weights under other names give other states");
    free(va);
    free(vb);
    mg_tensor_free(a);
    mg_tensor_free(b);
    mg_bert_free(plain);
    mg_bert_free(task);
    mg_context_destroy(ctx);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

static void expect_error(mg_context *ctx, mg_status got, mg_status want, const char *needle)
{
    const char *message = mg_context_last_error(ctx);
    cr_assert_eq(got, want, "status %d, want %d: %s", got, want, message);
    cr_assert(strstr(message, needle), "message \"%s\" should mention \"%s\"", message, needle);
}

Test(bert, bad_folders_and_inputs)
{
    mg_context *ctx = test_cpu_context();
    mg_bert *bert = NULL;
    expect_error(ctx, mg_bert_load(ctx, BERT_DIR "/no-such-folder", &bert), MG_ERR_IO, "no-such-folder/config.json");
    cr_assert_null(bert);

    /* A config that does not match the weights: the tensor and both shapes are named. */
    char dir[] = "/tmp/mg-bert-bad-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[512], model[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"bert\", \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
          "\"intermediate_size\": 48, \"vocab_size\": 30522, \"max_position_embeddings\": 512, "
          "\"type_vocab_size\": 2, \"hidden_act\": \"gelu\"}", f);
    fclose(f);
    copy_file(BERT_DIR "/model.safetensors", model);
    expect_error(ctx, mg_bert_load(ctx, dir, &bert), MG_ERR_FORMAT, "encoder.layer.0.intermediate.dense.weight");
    f = fopen(path, "w");
    fputs("{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 64, "
          "\"vocab_size\": 30522, \"max_position_embeddings\": 512, \"type_vocab_size\": 2}", f);
    fclose(f);
    expect_error(ctx, mg_bert_load(ctx, dir, &bert), MG_ERR_FORMAT, "not a multiple of num_attention_heads");
    f = fopen(path, "w");
    fputs("{\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 64, "
          "\"vocab_size\": 30522, \"max_position_embeddings\": 512, \"type_vocab_size\": 2, "
          "\"hidden_act\": \"gelu_new\"}", f);
    fclose(f);
    expect_error(ctx, mg_bert_load(ctx, dir, &bert), MG_ERR_UNSUPPORTED, "gelu_new");
    f = fopen(path, "w");
    fputs("{\"model_type\": \"t5\"}", f);
    fclose(f);
    expect_error(ctx, mg_bert_load(ctx, dir, &bert), MG_ERR_UNSUPPORTED, "t5");
    unlink(path);
    unlink(model);
    rmdir(dir);
    cr_assert_null(bert);

    bert = load_bert(ctx);
    mg_tensor *out = NULL;
    int32_t ids[4] = {101, 30522, 3242, 102};
    expect_error(ctx, mg_bert_encode(bert, ids, NULL, 1, 4, &out), MG_ERR_INVALID_ARGUMENT, "30522");
    ids[1] = 1037;
    int32_t mask[4] = {0, 0, 0, 0};
    expect_error(ctx, mg_bert_encode(bert, ids, mask, 1, 4, &out), MG_ERR_INVALID_ARGUMENT, "no real token");
    int32_t *many = calloc(513, sizeof *many);
    expect_error(ctx, mg_bert_encode(bert, many, NULL, 1, 513, &out), MG_ERR_INVALID_ARGUMENT,
                 "max_position_embeddings");
    free(many);
    cr_assert_null(out);
    mg_bert_free(bert);
    mg_context_destroy(ctx);
}
