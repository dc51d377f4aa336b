/*
 * The public training entry points (meshgpt.h: mg_train_default_params,
 * mg_train_autoencoder, mg_train_transformer, mg_bench_train): defaults as
 * meshgpt-pytorch's trainers, refused parameters, and bad data folders (empty,
 * only unreadable meshes, unreadable meshes skipped with a warning and
 * counted), each with a message that says what to do; a resumed run takes its
 * checkpoint's configuration. Where this build has
 * the model's training, a one-step run and the benchmark also run.
 */
#include "test_npy.h"
#include "test_util.h"
#include "train/train_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct log_capture {
    char text[8192];
} log_capture;

static void capture(mg_log_level level, const char *message, void *user)
{
    log_capture *c = user;
    if (level != MG_LOG_WARN)
        return;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s\n", message);
}

static mg_context *cpu_context(log_capture *log)
{
    mg_context_params params = mg_context_default_params();
    params.device = "cpu";
    params.log_callback = capture;
    params.log_user_data = log;
    params.log_level = MG_LOG_WARN;
    mg_context *ctx = NULL;
    cr_assert_eq(mg_context_create(&params, &ctx, NULL, 0), MG_OK);
    return ctx;
}

static char *folder(void)
{
    char *dir = strdup("/tmp/mg-test-train-api-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_folder(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

Test(train_api, defaults_follow_the_reference_trainers)
{
    mg_train_params ae = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    cr_assert_eq(ae.learning_rate, 1e-4);
    cr_assert_eq(ae.warmup_steps, 1000);
    cr_assert_eq(ae.max_grad_norm, 0.0);
    cr_assert(ae.ema && ae.augment);
    cr_assert_eq(ae.weight_decay, 0.0);
    cr_assert_eq(ae.save_every, 1000);
    cr_assert_eq(ae.val_every, 100);
    mg_train_params tf = mg_train_default_params(MG_TRAIN_TRANSFORMER);
    cr_assert_eq(tf.learning_rate, 2e-4);
    cr_assert_eq(tf.max_grad_norm, 0.5);
    cr_assert(!tf.ema && !tf.augment);
    cr_assert(!ae.group_by_length && !tf.group_by_length, "random batches, as upstream's DataLoader");
    cr_assert(ae.embedding_init == MG_EMBEDDING_INIT_NORMAL && tf.embedding_init == MG_EMBEDDING_INIT_NORMAL,
              "torch's N(0, 1) embeddings, as upstream");
    cr_assert_null(tf.output);
}

/* Training with p is refused as an invalid argument, with a message that holds `text`. */
static void expect_refused(mg_context *ctx, mg_train_kind kind, const mg_train_params *p, const char *text)
{
    mg_status status = kind == MG_TRAIN_TRANSFORMER ? mg_train_transformer(ctx, p, NULL, NULL)
                                                    : mg_train_autoencoder(ctx, p, NULL, NULL);
    cr_assert_eq(status, MG_ERR_INVALID_ARGUMENT, "expected a refusal naming \"%s\"", text);
    cr_assert(strstr(mg_context_last_error(ctx), text), "%s", mg_context_last_error(ctx));
}

Test(train_api, refused_parameters_say_what_is_missing)
{
    log_capture log = {""};
    mg_context *ctx = cpu_context(&log);
    mg_train_params p = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    cr_assert_eq(mg_train_autoencoder(ctx, NULL, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "--data DIR");
    p.data = "/tmp";
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "-o FILE");
    p.output = "/tmp/x.safetensors";
    p.learning_rate = -1;
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "learning rate");
    mg_train_params t = mg_train_default_params(MG_TRAIN_TRANSFORMER);
    t.data = "/tmp";
    t.output = "/tmp/x.safetensors";
    expect_refused(ctx, MG_TRAIN_TRANSFORMER, &t, "--autoencoder");
    /* The embedding start is the autoencoder's; a transformer refuses it, and an unknown value is named. */
    t.autoencoder = "/tmp/ae.safetensors";
    t.embedding_init = MG_EMBEDDING_INIT_SINUSOID;
    expect_refused(ctx, MG_TRAIN_TRANSFORMER, &t, "embedding initialisation is an autoencoder setting");
    p.learning_rate = 1e-4;
    p.embedding_init = (mg_embedding_init)7;
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "unknown embedding initialisation 7");
    /* The coordinate-code start: the autoencoder's alone, not with the sinusoid tables, no unknown values. */
    p.embedding_init = MG_EMBEDDING_INIT_NORMAL;
    p.autoencoder_start = (mg_autoencoder_start)9;
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "unknown autoencoder start 9");
    p.autoencoder_start = MG_AUTOENCODER_START_COORDINATE_CODE;
    p.embedding_init = MG_EMBEDDING_INIT_SINUSOID;
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "sets the embedding tables itself");
    p.embedding_init = MG_EMBEDDING_INIT_NORMAL;
    t.embedding_init = MG_EMBEDDING_INIT_NORMAL;
    t.autoencoder_start = MG_AUTOENCODER_START_COORDINATE_CODE;
    expect_refused(ctx, MG_TRAIN_TRANSFORMER, &t, "a transformer starts random");
    p = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    p.data = "/tmp";
    p.output = "/tmp/x.safetensors";
    p.resume = true;
    p.from = "/tmp/y.safetensors";
    expect_refused(ctx, MG_TRAIN_AUTOENCODER, &p, "resume");
    mg_context_destroy(ctx);
}

Test(train_api, empty_folders_and_unreadable_meshes_give_clear_messages)
{
    log_capture log = {""};
    mg_context *ctx = cpu_context(&log);
    char *dir = folder();
    char out[600];
    snprintf(out, sizeof out, "%s/AE.safetensors", dir);
    mg_train_params p = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    p.data = dir;
    p.output = out;
    cr_assert_eq(mg_train_autoencoder(ctx, &p, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "has no mesh files"), "%s", mg_context_last_error(ctx));
    write_file(dir, "broken.obj", "not a mesh\n");
    cr_assert_eq(mg_train_autoencoder(ctx, &p, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "none of the 1 mesh files"), "%s", mg_context_last_error(ctx));
    p.data = "/nonexistent/meshgpt/data";
    cr_assert_eq(mg_train_autoencoder(ctx, &p, NULL, NULL), MG_ERR_IO);
    cr_assert(strstr(mg_context_last_error(ctx), "/nonexistent/meshgpt/data"), "%s", mg_context_last_error(ctx));
    /* A transformer's autoencoder that does not exist is named. */
    mg_train_params t = mg_train_default_params(MG_TRAIN_TRANSFORMER);
    t.data = dir;
    t.output = out;
    t.autoencoder = "/nonexistent/ae.safetensors";
    cr_assert_neq(mg_train_transformer(ctx, &t, NULL, NULL), MG_OK);
    cr_assert(strstr(mg_context_last_error(ctx), "/nonexistent/ae.safetensors"), "%s", mg_context_last_error(ctx));
    cr_assert_eq(access(out, F_OK), -1, "nothing is written");
    mg_context_destroy(ctx);
    remove_folder(dir);
}

typedef struct started {
    int starts, steps;
    size_t skipped, train, validation;
} started;

static bool on_progress(const mg_train_progress *p, void *user)
{
    started *s = user;
    if (p->event == MG_TRAIN_STARTED) {
        s->starts++;
        s->skipped = p->skipped_meshes;
        s->train = p->train_meshes;
        s->validation = p->validation_meshes;
    } else if (p->event == MG_TRAIN_STEPPED) {
        s->steps++;
        cr_assert(isfinite(p->loss));
    }
    return true;
}

Test(train_api, unreadable_meshes_are_skipped_warned_and_counted)
{
    log_capture log = {""};
    mg_context *ctx = cpu_context(&log);
    char *dir = folder();
    write_file(dir, "a.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n");
    write_file(dir, "b.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0.3 0.2 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n");
    write_file(dir, "c.obj", "v 0 0 0\nv 2 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n");
    write_file(dir, "broken.ply", "ply\nnonsense\n");
    char out[600];
    snprintf(out, sizeof out, "%s/AE.safetensors", dir);
    mg_train_params p = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    p.data = dir;
    p.output = out;
    p.steps = 1;
    p.batch_size = 2;
    p.val_fraction = 0;
    p.config = test_fixture_path("meshgpt-pytorch-a/config.json");
    started s = {0};
    mg_status status = mg_train_autoencoder(ctx, &p, on_progress, &s);
    cr_assert(strstr(log.text, "broken.ply"), "the skipped file is named in a warning: %s", log.text);
    cr_assert(strstr(log.text, "using 3 of 4 mesh files"), "%s", log.text);
    {
        cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_eq(s.starts, 1);
        cr_assert_eq(s.steps, 1);
        cr_assert_eq(s.skipped, 1);
        cr_assert_eq(s.train, 3);
        cr_assert_eq(access(out, F_OK), 0);
        char svg[640];
        snprintf(svg, sizeof svg, "%s/AE.loss.svg", dir);
        cr_assert_eq(access(svg, F_OK), 0, "the loss curve is written beside the checkpoint");
        /* The checkpoint loads as a model. */
        mg_model *model = NULL;
        cr_assert_eq(mg_model_load(ctx, out, &model), MG_OK, "%s", mg_context_last_error(ctx));
        mg_model_free(model);
        /* --resume without --config: the checkpoint's own (non-default) configuration is used. */
        p.config = NULL;
        p.resume = true;
        p.steps = 2;
        started again = {0};
        cr_assert_eq(mg_train_autoencoder(ctx, &p, on_progress, &again), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_eq(again.steps, 1, "the resumed run does the one step left");
        cr_assert_null(strstr(log.text, "grouped by length"), "%s", log.text);
        /* Switching to batches grouped by length on resume is allowed, with a warning that the batches differ
         * from an unbroken run's; the setting is stored, so a further resume with it does not warn. */
        p.group_by_length = true;
        p.steps = 3;
        cr_assert_eq(mg_train_autoencoder(ctx, &p, on_progress, &again), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert(strstr(log.text, "resuming with batches grouped by length where the checkpoint was trained with "
                                   "random batches"), "%s", log.text);
        log.text[0] = '\0';
        p.steps = 4;
        cr_assert_eq(mg_train_autoencoder(ctx, &p, on_progress, &again), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_null(strstr(log.text, "grouped by length"), "%s", log.text);
    }
    mg_context_destroy(ctx);
    remove_folder(dir);
}

Test(train_api, bench_train_runs)
{
    log_capture log = {""};
    mg_context *ctx = cpu_context(&log);
    mg_bench_train_params p = mg_bench_train_default_params();
    p.faces = 20;
    p.batch_size = 2;
    p.steps = 1;
    mg_bench_train_result r;
    mg_status status = mg_bench_train(ctx, &p, &r);
    {
        cr_assert_eq(status, MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert(r.steps_per_second > 0 && r.samples_per_second == 2 * r.steps_per_second && r.parameters > 0);
    }
    p.size = "huge";
    cr_assert_eq(mg_bench_train(ctx, &p, &r), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "\"small\" or \"default\""), "%s", mg_context_last_error(ctx));
    mg_context_destroy(ctx);
}
