/*
 * Training checkpoints (train/checkpoint.h) and the trainer's RNG
 * (train/rng.h): a save/load round trip restores weights, moments, EMA
 * copies, step, RNG and trainer settings bit for bit; a save that fails
 * half-way (the file-size limit makes the disk "full") keeps the previous
 * checkpoint; mismatched files change nothing.
 */
#include "test_util.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "model/missing_init.h"
#include "model/model_file.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- RNG ---- */

Test(train_rng, seeded_streams_are_reproducible_and_distinct)
{
    mg_rng a, b, c;
    mg_rng_seed(&a, 42);
    mg_rng_seed(&b, 42);
    mg_rng_seed(&c, 43);
    int same_as_other_seed = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = mg_rng_next_u64(&a), y = mg_rng_next_u64(&b), z = mg_rng_next_u64(&c);
        cr_assert_eq(x, y);
        same_as_other_seed += x == z;
    }
    cr_assert_eq(same_as_other_seed, 0);
    /* Seed 0 works (splitmix64 seeding never gives the all-zero xoshiro state). */
    mg_rng zero;
    mg_rng_seed(&zero, 0);
    cr_assert(zero.s[0] | zero.s[1] | zero.s[2] | zero.s[3]);
    /* Uniforms stay in range and look uniform; below() never reaches its bound. */
    double sum = 0;
    size_t counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        double u = mg_rng_uniform(&a);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
        counts[mg_rng_below(&a, 7)]++;
    }
    cr_assert(sum / 70000 > 0.49 && sum / 70000 < 0.51, "mean %g", sum / 70000);
    for (int k = 0; k < 7; k++)
        cr_assert(counts[k] > 9500 && counts[k] < 10500, "bucket %d: %zu", k, counts[k]);
    /* A fork does not advance its parent and differs from it. */
    mg_rng before = a;
    mg_rng f1 = mg_rng_fork(&a, 1), f2 = mg_rng_fork(&a, 2);
    cr_assert(memcmp(&before, &a, sizeof a) == 0);
    cr_assert_neq(mg_rng_next_u64(&f1), mg_rng_next_u64(&f2));
}

Test(train_rng, shuffle_is_a_seeded_permutation)
{
    enum { N = 100 };
    size_t x[N], y[N];
    for (size_t i = 0; i < N; i++)
        x[i] = y[i] = i;
    mg_rng a, b;
    mg_rng_seed(&a, 5);
    mg_rng_seed(&b, 5);
    mg_rng_shuffle_sizes(&a, x, N);
    mg_rng_shuffle_sizes(&b, y, N);
    cr_assert(memcmp(x, y, sizeof x) == 0);
    bool seen[N] = {false};
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) {
        cr_assert(x[i] < N && !seen[x[i]]);
        seen[x[i]] = true;
        fixed += x[i] == i;
    }
    cr_assert(fixed < 10, "%zu of 100 elements did not move", fixed);
}

/* ---- checkpoints ---- */

typedef struct fixture {
    mg_context *ctx;
    mg_tensor *w, *w_m, *w_v, *w_ema, *b, *frozen;
    mg_train_param params[3];
} fixture;

static void fill(mg_tensor *t, uint32_t seed)
{
    float *values = malloc(t->count * sizeof *values);
    test_fill_uniform(values, t->count, seed, -1, 1);
    cr_assert_eq(mg_tensor_write_f32(t, values, t->count), MG_OK);
    free(values);
}

/* Parameters of two kinds: a trained matrix with an EMA copy, a trained bias, a frozen table. */
static fixture make_fixture(mg_context *ctx, uint32_t seed)
{
    fixture f;
    memset(&f, 0, sizeof f);
    f.ctx = ctx;
    int64_t ws[2] = {5, 3}, bs[1] = {3}, fs[2] = {4, 2};
    f.w = test_empty(ctx, MG_DTYPE_F32, 2, ws);
    f.w_m = test_empty(ctx, MG_DTYPE_F32, 2, ws);
    f.w_v = test_empty(ctx, MG_DTYPE_F32, 2, ws);
    f.w_ema = test_empty(ctx, MG_DTYPE_F32, 2, ws);
    f.b = test_empty(ctx, MG_DTYPE_F32, 1, bs);
    f.frozen = test_empty(ctx, MG_DTYPE_F32, 2, fs);
    mg_tensor *all[6] = {f.w, f.w_m, f.w_v, f.w_ema, f.b, f.frozen};
    for (int i = 0; i < 6; i++)
        fill(all[i], seed * 16 + (uint32_t)i);
    f.params[0] = (mg_train_param){"encoder.weight", f.w, f.w_m, f.w_v, f.w_ema};
    f.params[1] = (mg_train_param){"encoder.bias", f.b, NULL, NULL, NULL};
    f.params[2] = (mg_train_param){"frozen.table", f.frozen, NULL, NULL, NULL};
    return f;
}

static void free_fixture(fixture *f)
{
    mg_tensor *all[6] = {f->w, f->w_m, f->w_v, f->w_ema, f->b, f->frozen};
    for (int i = 0; i < 6; i++)
        mg_tensor_free(all[i]);
}

static void assert_same_tensor(const mg_tensor *a, const mg_tensor *b, const char *what)
{
    float *x = test_read(a), *y = test_read(b);
    cr_assert(memcmp(x, y, a->count * sizeof *x) == 0, "%s differs", what);
    free(x);
    free(y);
}

static void assert_fixtures_equal(const fixture *a, const fixture *b)
{
    assert_same_tensor(a->w, b->w, "weight");
    assert_same_tensor(a->w_m, b->w_m, "adam m");
    assert_same_tensor(a->w_v, b->w_v, "adam v");
    assert_same_tensor(a->w_ema, b->w_ema, "ema");
    assert_same_tensor(a->b, b->b, "bias");
    assert_same_tensor(a->frozen, b->frozen, "frozen");
}

static char *temp_folder(void)
{
    char *dir = strdup("/tmp/mg-test-ckpt-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static size_t files_in(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void remove_folder(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = path_in(dir, e->d_name);
        remove(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static void roundtrip(mg_context *ctx)
{
    char *dir = temp_folder();
    char *path = path_in(dir, "run.ckpt.safetensors");
    fixture saved = make_fixture(ctx, 1), restored = make_fixture(ctx, 2);
    mg_train_state state;
    memset(&state, 0, sizeof state);
    state.step = 1234;
    mg_rng_seed(&state.rng, 77);
    for (int i = 0; i < 5; i++)
        mg_rng_next_u64(&state.rng);
    state.ema = (mg_ema_state){1234, true};
    char trainer[] = "{\"lr\":0.001,\"batch_size\":16,\"data\":\"meshes/\"}";
    state.trainer_json = trainer;
    mg_model_config config;
    memset(&config, 0, sizeof config);
    mg_ae_config_defaults(&config.autoencoder);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_train_checkpoint_save(path, &config, saved.params, 3, &state, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(files_in(dir), 1, "temporary files left behind");

    mg_train_state loaded;
    memset(&loaded, 0, sizeof loaded);
    cr_assert_eq(mg_train_checkpoint_load(path, restored.params, 3, &loaded, &diag), MG_OK, "%s", diag.last_error);
    assert_fixtures_equal(&saved, &restored);
    cr_assert_eq(loaded.step, 1234);
    cr_assert_eq(loaded.ema.step, 1234);
    cr_assert(loaded.ema.initted);
    cr_assert(memcmp(&loaded.rng, &state.rng, sizeof state.rng) == 0);
    cr_assert_eq(mg_rng_next_u64(&loaded.rng), mg_rng_next_u64(&state.rng), "the RNG continues identically");
    cr_assert_str_eq(loaded.trainer_json, trainer);
    mg_train_state_free(&loaded);

    /* The file is a model file too: weights under their names, the model config, extras under "train.". */
    mg_safetensors file;
    cr_assert_eq(mg_safetensors_open(path, &file, &diag), MG_OK);
    cr_assert_not_null(mg_safetensors_find(&file, "encoder.weight"));
    cr_assert_not_null(mg_safetensors_find(&file, "train.adam_m.encoder.weight"));
    cr_assert_not_null(mg_safetensors_find(&file, "train.adam_v.encoder.weight"));
    cr_assert_not_null(mg_safetensors_find(&file, "train.ema.encoder.weight"));
    cr_assert_null(mg_safetensors_find(&file, "train.adam_m.encoder.bias"));
    /* ... plus the model's registered buffers (LFQ masks: not trained, but a model file needs them), at the
     * values the model loader would compute. */
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0, buffers = 0;
    cr_assert_eq(mg_model_weight_specs(&config, "", &specs, &spec_count, NULL, &diag), MG_OK);
    for (size_t i = 0; i < spec_count; i++) {
        if (!specs[i].buffer)
            continue;
        buffers++;
        const mg_st_tensor *t = mg_safetensors_find(&file, specs[i].name);
        cr_assert_not_null(t, "buffer %s is in the checkpoint", specs[i].name);
        if (specs[i].kind == MG_WEIGHT_INT) {
            int64_t want[64];
            cr_assert_leq(t->count, 64);
            mg_missing_init_ints(&specs[i], want);
            cr_assert_eq(memcmp(t->data, want, t->count * sizeof(int64_t)), 0, "%s", specs[i].name);
        }
    }
    free(specs);
    cr_assert_gt(buffers, 0);
    cr_assert_eq(file.count, 6 + buffers);
    const char *model_json = mg_safetensors_metadata(&file, MG_MODEL_METADATA_KEY);
    cr_assert_not_null(model_json);
    mg_model_config parsed;
    cr_assert_eq(mg_model_config_parse(model_json, strlen(model_json), &parsed, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(parsed.autoencoder.num_discrete_coors, config.autoencoder.num_discrete_coors);
    mg_model_config_free(&parsed);
    mg_safetensors_close(&file);

    free_fixture(&saved);
    free_fixture(&restored);
    mg_diag_destroy(&diag);
    free(path);
    remove_folder(dir);
}

Test(train_checkpoint, roundtrip_restores_everything_cpu)
{
    mg_context *ctx = test_cpu_context();
    roundtrip(ctx);
    mg_context_destroy(ctx);
}

Test(train_checkpoint, roundtrip_restores_everything_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    roundtrip(ctx);
    test_close(ctx);
}

Test(train_checkpoint, failed_save_keeps_the_previous_checkpoint)
{
    mg_context *ctx = test_cpu_context();
    char *dir = temp_folder();
    char *path = path_in(dir, "ae.ckpt.safetensors");
    fixture first = make_fixture(ctx, 1), second = make_fixture(ctx, 2), restored = make_fixture(ctx, 3);
    mg_train_state state;
    memset(&state, 0, sizeof state);
    state.step = 100;
    mg_rng_seed(&state.rng, 1);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_train_checkpoint_save(path, NULL, first.params, 3, &state, &diag), MG_OK, "%s", diag.last_error);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);

    /* A full disk: writes past half the checkpoint's size fail (EFBIG; SIGXFSZ ignored). Criterion runs each
     * test in its own process, so the limit ends with this test. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &limit), 0);
    struct rlimit small = {(rlim_t)size / 2, limit.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    state.step = 200;
    mg_status status = mg_train_checkpoint_save(path, NULL, second.params, 3, &state, &diag);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_assert_eq(status, MG_ERR_IO, "the save should fail: %s", diag.last_error);
    cr_assert(strstr(diag.last_error, "previous one is kept"), "%s", diag.last_error);
    cr_assert_eq(files_in(dir), 1, "the partial file was left behind");

    /* A folder that does not exist fails the same way, without touching anything. */
    char *missing = path_in(dir, "no/such/folder/ckpt.safetensors");
    cr_assert_eq(mg_train_checkpoint_save(missing, NULL, second.params, 3, &state, &diag), MG_ERR_IO);
    free(missing);

    mg_train_state loaded;
    memset(&loaded, 0, sizeof loaded);
    cr_assert_eq(mg_train_checkpoint_load(path, restored.params, 3, &loaded, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(loaded.step, 100);
    assert_fixtures_equal(&first, &restored);
    mg_train_state_free(&loaded);

    free_fixture(&first);
    free_fixture(&second);
    free_fixture(&restored);
    mg_diag_destroy(&diag);
    free(path);
    remove_folder(dir);
    mg_context_destroy(ctx);
}

Test(train_checkpoint, mismatched_or_plain_files_change_nothing)
{
    mg_context *ctx = test_cpu_context();
    char *dir = temp_folder();
    char *path = path_in(dir, "ckpt.safetensors");
    fixture saved = make_fixture(ctx, 1);
    mg_train_state state;
    memset(&state, 0, sizeof state);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_train_checkpoint_save(path, NULL, saved.params, 3, &state, &diag), MG_OK, "%s", diag.last_error);

    /* Another model: the bias has 4 entries and the EMA copy is asked for but was saved. */
    int64_t bs[1] = {4};
    fixture other = make_fixture(ctx, 5), untouched = make_fixture(ctx, 5);
    mg_tensor *bias4 = test_empty(ctx, MG_DTYPE_F32, 1, bs);
    fill(bias4, 9);
    other.params[1].value = bias4;
    mg_tensor *bias4_copy = test_empty(ctx, MG_DTYPE_F32, 1, bs);
    fill(bias4_copy, 9);
    mg_train_state loaded = {.step = 7};
    cr_assert_eq(mg_train_checkpoint_load(path, other.params, 3, &loaded, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "'encoder.bias' has another shape"), "%s", diag.last_error);
    cr_assert_eq(loaded.step, 7, "state changed by a refused file");
    assert_same_tensor(other.w, untouched.w, "weight changed by a refused file");
    assert_same_tensor(bias4, bias4_copy, "bias changed by a refused file");

    /* Moments asked for that the file does not have. */
    other.params[1] = (mg_train_param){"encoder.bias", saved.b, saved.w_m, saved.w_v, NULL};
    cr_assert_eq(mg_train_checkpoint_load(path, other.params, 3, &loaded, &diag), MG_ERR_INVALID_ARGUMENT,
                 "moments of another shape than their parameter");

    /* A plain safetensors without training state. */
    char *plain = path_in(dir, "plain.safetensors");
    float one = 1.0f;
    mg_st_write_tensor t = {.name = "encoder.bias", .dtype = MG_ST_F32, .ndim = 1, .shape = {1}, .data = &one};
    cr_assert_eq(mg_safetensors_write(plain, &t, 1, NULL, 0, &diag), MG_OK);
    cr_assert_eq(mg_train_checkpoint_load(plain, saved.params, 3, &loaded, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "not a training checkpoint"), "%s", diag.last_error);
    free(plain);

    mg_tensor_free(bias4);
    mg_tensor_free(bias4_copy);
    other.params[1].value = NULL;
    free_fixture(&saved);
    free_fixture(&other);
    free_fixture(&untouched);
    mg_diag_destroy(&diag);
    free(path);
    remove_folder(dir);
    mg_context_destroy(ctx);
}
