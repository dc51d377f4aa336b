/*
 * The training loop (train/train_loop.h) on the CPU reference, with a toy
 * trainable whose gradients are known by hand (test_train_loop_toy.h):
 * convergence, warm-up/clipping/Adam against their formulas, accumulation
 * equal to one large batch, resume equal to an unbroken run, NaN losses,
 * a full disk while saving, cancellation, the held-out split and epochs, and
 * the loss-curve SVG.
 */
#include "test_train_loop_toy.h"

#include "train/loss_curve.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

Test(train_loop, toy_model_converges)
{
    mg_context *ctx = test_cpu_context();
    toy_check_converges(ctx);
    mg_context_destroy(ctx);
}

Test(train_loop, warmup_clipping_and_adam_follow_their_formulas)
{
    mg_context *ctx = test_cpu_context();
    toy_check_formulas(ctx);
    mg_context_destroy(ctx);
}

Test(train_loop, accumulating_four_micro_batches_equals_one_batch_of_four)
{
    mg_context *ctx = test_cpu_context();
    toy_check_accumulation(ctx);
    mg_context_destroy(ctx);
}

/* ---- split and epochs ---- */

Test(train_loop, split_and_epochs_are_seeded_partitions)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_rng base;
    mg_rng_seed(&base, 3);
    size_t *train, *val, nt, nv;
    cr_assert_eq(mg_train_split(20, &base, 0.1, 0, &train, &nt, &val, &nv, &diag), MG_OK);
    cr_assert_eq(nv, 2);
    cr_assert_eq(nt, 18);
    bool seen[20] = {false};
    for (size_t i = 0; i < nt; i++)
        seen[train[i]] = true;
    for (size_t i = 0; i < nv; i++) {
        cr_assert(!seen[val[i]], "item %zu is in both splits", val[i]);
        seen[val[i]] = true;
    }
    for (int i = 0; i < 20; i++)
        cr_assert(seen[i]);
    /* Each epoch (18 items, batches of 4: 4 batches, 2 items dropped) draws distinct training items, and two
     * epochs differ in order. */
    size_t first[16], second[16];
    for (uint64_t m = 0; m < 8; m++) {
        uint64_t epoch;
        cr_assert_eq(mg_train_microbatch_items(train, nt, 4, NULL, &base, m, (m < 4 ? first : second) + (m % 4) * 4,
                                               &epoch, &diag), MG_OK);
        cr_assert_eq(epoch, m / 4);
    }
    for (int i = 0; i < 16; i++)
        for (int j = i + 1; j < 16; j++)
            cr_assert_neq(first[i], first[j], "an item twice in one epoch");
    cr_assert(memcmp(first, second, sizeof first) != 0, "two epochs in the same order");
    /* Held out: none when asked for none or with a single item; at most val_max; never every item. */
    free(train);
    free(val);
    cr_assert_eq(mg_train_split(1, &base, 0.5, 0, &train, &nt, &val, &nv, &diag), MG_OK);
    cr_assert(nt == 1 && nv == 0);
    free(train);
    free(val);
    cr_assert_eq(mg_train_split(100, &base, 0.5, 8, &train, &nt, &val, &nv, &diag), MG_OK);
    cr_assert(nt == 92 && nv == 8);
    free(train);
    free(val);
    cr_assert_eq(mg_train_split(0, &base, 0.5, 8, &train, &nt, &val, &nv, &diag), MG_ERR_INVALID_ARGUMENT);
    mg_diag_destroy(&diag);
}

static int compare_size_values(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Grouped by length: an epoch holds the same items as the plain random epoch of the same seed (only the
 * batches differ); within one chunk of MG_TRAIN_LENGTH_GROUP_BATCHES batches, each batch is a run of
 * consecutive lengths of the chunk sorted (so its padding is minimal), and the batches come in shuffled, not
 * sorted, order. */
Test(train_loop, batches_grouped_by_length_hold_neighbouring_lengths_and_keep_each_epochs_items)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_rng base;
    mg_rng_seed(&base, 11);
    enum { BATCH = 4, BATCHES = MG_TRAIN_LENGTH_GROUP_BATCHES, ITEMS = BATCHES * BATCH + 3 /* 3 dropped */ };
    size_t train[ITEMS], lengths[ITEMS + 5];
    for (size_t i = 0; i < ITEMS; i++)
        train[i] = i + 5; /* dataset items 5.. (the split's indices need not start at 0) */
    for (size_t i = 0; i < ITEMS + 5; i++)
        lengths[i] = 1000 + (i * 37) % 211; /* distinct */
    size_t grouped[BATCHES][BATCH], plain[BATCHES * BATCH], again[BATCH];
    for (uint64_t m = 0; m < BATCHES; m++) {
        cr_assert_eq(mg_train_microbatch_items(train, ITEMS, BATCH, lengths, &base, m, grouped[m], NULL, &diag),
                     MG_OK);
        cr_assert_eq(mg_train_microbatch_items(train, ITEMS, BATCH, NULL, &base, m, plain + m * BATCH, NULL, &diag),
                     MG_OK);
    }
    cr_assert_eq(mg_train_microbatch_items(train, ITEMS, BATCH, lengths, &base, 5, again, NULL, &diag), MG_OK);
    cr_assert(memcmp(again, grouped[5], sizeof again) == 0, "the same micro-batch twice differs");
    size_t grouped_items[BATCHES * BATCH];
    memcpy(grouped_items, grouped, sizeof grouped_items);
    qsort(grouped_items, BATCHES * BATCH, sizeof(size_t), compare_size_values);
    qsort(plain, BATCHES * BATCH, sizeof(size_t), compare_size_values);
    cr_assert(memcmp(grouped_items, plain, sizeof plain) == 0, "grouping changed which items the epoch holds");
    /* The epoch's lengths sorted, cut into runs of BATCH: each batch must be exactly one run. */
    size_t sorted[BATCHES * BATCH];
    for (size_t i = 0; i < BATCHES * BATCH; i++)
        sorted[i] = lengths[grouped_items[i]];
    qsort(sorted, BATCHES * BATCH, sizeof(size_t), compare_size_values);
    bool run_used[BATCHES] = {false};
    size_t ascending = 0, previous_min = 0;
    for (size_t b = 0; b < BATCHES; b++) {
        size_t mine[BATCH];
        for (size_t j = 0; j < BATCH; j++)
            mine[j] = lengths[grouped[b][j]];
        qsort(mine, BATCH, sizeof(size_t), compare_size_values);
        size_t run = BATCHES;
        for (size_t r = 0; r < BATCHES; r++)
            if (memcmp(mine, sorted + r * BATCH, sizeof mine) == 0)
                run = r;
        cr_assert_lt(run, BATCHES, "batch %zu (lengths %zu..%zu) is not a run of neighbouring lengths", b, mine[0],
                     mine[BATCH - 1]);
        cr_assert(!run_used[run], "two batches hold the same lengths");
        run_used[run] = true;
        ascending += b > 0 && mine[0] > previous_min;
        previous_min = mine[0];
    }
    cr_assert_lt(ascending, BATCHES - 4, "the batches came in sorted order (%zu rises in %d)", ascending,
                 BATCHES - 1);
}

Test(train_loop, a_batch_larger_than_the_training_split_is_a_clear_error)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    toy_write_meshes(dir, 3);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    mg_train_loop_config c = toy_config(2);
    c.batch_size = 3;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "a batch of 3 meshes") && strstr(diag.last_error, "there are 2") &&
              strstr(diag.last_error, "lower the batch size"), "%s", diag.last_error);
    c.batch_size = 1;
    c.steps = 1;
    c.resume = true;
    c.checkpoint_path = "/nonexistent/meshgpt/ckpt.safetensors";
    cr_assert_neq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_OK);
    cr_assert(strstr(diag.last_error, "/nonexistent/meshgpt/ckpt.safetensors"), "%s", diag.last_error);
    mg_trainable_free(&t->base);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    toy_remove_folder(dir);
    mg_context_destroy(ctx);
}

/* ---- checkpoints: resume, NaN, full disk, cancel ---- */

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return data;
}

/* Restores the toy weights (and EMA) from a checkpoint into a fresh toy; returns the step. */
static uint64_t load_toy(mg_context *ctx, const char *path, bool ema, float w[4], float e[4])
{
    toy *t = toy_create(ctx, 9.0f);
    int64_t ws[2] = {1, 3}, bs[1] = {1};
    if (ema) {
        t->params[0].ema = toy_tensor(ctx, 2, ws, NULL);
        t->params[1].ema = toy_tensor(ctx, 1, bs, NULL);
    }
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_state state;
    memset(&state, 0, sizeof state);
    cr_assert_eq(mg_train_checkpoint_load(path, t->params, 2, &state, &diag), MG_OK, "%s", diag.last_error);
    toy_weights(t, w);
    if (ema)
        toy_ema(t, e);
    uint64_t step = state.step;
    mg_train_state_free(&state);
    mg_diag_destroy(&diag);
    mg_trainable_free(&t->base);
    return step;
}

/* The loop with everything that draws random numbers or keeps state on: augmentation, the model's own RNG,
 * EMA (updating every step after step 2), validation, accumulation and warm-up. */
static mg_train_loop_config resume_config(const char *checkpoint)
{
    mg_train_loop_config c = toy_config(10);
    c.augment = true;
    c.accum = 2;
    c.warmup_steps = 3;
    c.ema = true;
    c.ema_config.update_after_step = 2;
    c.ema_config.update_every = 1;
    c.ema_config.beta = 0.9;
    c.val_every = 2;
    c.save_every = 4;
    c.checkpoint_path = checkpoint;
    return c;
}

Test(train_loop, resume_after_an_interruption_continues_like_an_unbroken_run)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    char *data = path_in(dir, "data");
    mkdir(data, 0700);
    toy_write_meshes(data, 8);
    char *whole = path_in(dir, "whole.safetensors"), *broken = path_in(dir, "broken.safetensors");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(data, &diag);

    /* Unbroken. */
    static toy_log a, b, c2;
    memset(&a, 0, sizeof a);
    toy *t = toy_create(ctx, 0.0f);
    t->noise = 0.2;
    mg_train_loop_config c = resume_config(whole);
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &a, NULL, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_null(t->params[0].ema, "the loop's EMA copies are released");
    mg_trainable_free(&t->base);
    cr_assert_eq(a.saves, 3, "saves at 4, 8 and the end");

    /* Interrupted after step 6 (the callback stops it: saved at 6), then resumed by a new process's model. */
    memset(&b, 0, sizeof b);
    b.stop_after = 6;
    t = toy_create(ctx, 0.0f);
    t->noise = 0.2;
    c = resume_config(broken);
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &b, NULL, &diag), MG_ERR_CANCELLED);
    cr_assert(strstr(diag.last_error, "after step 6") && strstr(diag.last_error, "checkpoint saved"), "%s",
              diag.last_error);
    mg_trainable_free(&t->base);
    float w[4], e[4];
    cr_assert_eq(load_toy(ctx, broken, true, w, e), 6);

    memset(&c2, 0, sizeof c2);
    t = toy_create(ctx, 5.0f); /* other starting weights: the checkpoint replaces them */
    t->noise = 0.2;
    c.resume = true;
    c.seed = 12345;            /* ignored: the checkpoint's RNG goes on */
    mg_train_loop_report last;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &c2, &last, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(last.step, 10);
    for (int s = 1; s <= 6; s++)
        cr_assert_eq(a.loss[s], b.loss[s], "step %d before the interruption", s);
    for (int s = 7; s <= 10; s++) {
        cr_assert_eq(c2.loss[s], a.loss[s], "step %d: resumed %.17g, unbroken %.17g", s, c2.loss[s], a.loss[s]);
        cr_assert_eq(c2.has_val[s], a.has_val[s]);
        if (a.has_val[s])
            cr_assert_eq(c2.val[s], a.val[s], "validation at step %d", s);
    }
    mg_trainable_free(&t->base);
    float wa[4], ea[4], wc[4], ec[4];
    cr_assert_eq(load_toy(ctx, whole, true, wa, ea), 10);
    cr_assert_eq(load_toy(ctx, broken, true, wc, ec), 10);
    cr_assert(memcmp(wa, wc, sizeof wa) == 0, "final weights differ");
    cr_assert(memcmp(ea, ec, sizeof ea) == 0, "final EMA weights differ");
    cr_assert(memcmp(wa, ea, sizeof wa) != 0, "the EMA should lag behind the weights");

    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    free(whole);
    free(broken);
    free(data);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
    mg_context_destroy(ctx);
}

Test(train_loop, nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    char *ckpt = path_in(dir, "model.ckpt");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    t->poison_at = 7; /* the 7th step's loss is NaN */
    mg_train_loop_config c = toy_config(20);
    c.save_every = 3;
    c.checkpoint_path = ckpt;
    c.curve_path = NULL;
    static toy_log log;
    memset(&log, 0, sizeof log);
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "stopped at step 7") && strstr(diag.last_error, "loss is NaN") &&
              strstr(diag.last_error, "last good checkpoint") && strstr(diag.last_error, "(step 6)") &&
              strstr(diag.last_error, "learning rate"), "%s", diag.last_error);
    cr_assert_eq(log.saves, 2);
    float before[4], w[4], e[4];
    toy_weights(t, before);
    cr_assert_eq(load_toy(ctx, ckpt, false, w, e), 6);
    cr_assert(memcmp(before, w, sizeof w) == 0, "the weights changed at the NaN step");
    mg_trainable_free(&t->base);

    /* An infinite gradient (a huge bias) stops the same way, before the update. */
    t = toy_create(ctx, 3e38f);
    c.checkpoint_path = NULL;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "stopped at step 1") && strstr(diag.last_error, "is infinite") &&
              strstr(diag.last_error, "no checkpoint had been written"), "%s", diag.last_error);
    toy_weights(t, w);
    cr_assert_eq(w[3], 3e38f);
    mg_trainable_free(&t->base);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    free(ckpt);
    toy_remove_folder(dir);
    mg_context_destroy(ctx);
}

/* At the first save, limit file sizes to less than a checkpoint: the next save fails like a full disk. */
static void fill_the_disk(toy_log *log, const mg_train_loop_report *r)
{
    (void)log;
    size_t size;
    free(read_all(r->saved_path, &size));
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &limit), 0);
    struct rlimit small = {(rlim_t)size / 2, limit.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
}

Test(train_loop, a_full_disk_while_saving_keeps_the_previous_checkpoint)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    char *ckpt = path_in(dir, "model.safetensors");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    mg_train_loop_config c = toy_config(6);
    c.save_every = 3;
    c.checkpoint_path = ckpt;
    static toy_log log;
    memset(&log, 0, sizeof log);
    log.on_save = fill_the_disk;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_ERR_IO);
    cr_assert(strstr(diag.last_error, "previous one is kept"), "%s", diag.last_error);
    cr_assert_eq(log.saves, 1);
    float w[4], e[4];
    cr_assert_eq(load_toy(ctx, ckpt, false, w, e), 3, "the checkpoint of step 3 is intact");
    mg_trainable_free(&t->base);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    free(ckpt);
    toy_remove_folder(dir);
    mg_context_destroy(ctx);
}

Test(train_loop, cancel_saves_then_stops_and_a_finished_run_writes_the_model)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    char *ckpt = path_in(dir, "model.safetensors"), *model = path_in(dir, "plain.bin");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    mg_train_loop_config c = toy_config(50);
    c.checkpoint_path = ckpt;
    c.model_path = model;
    static toy_log log;
    memset(&log, 0, sizeof log);
    /* Stopped before the first step: nothing is written. */
    log.stop_at_start = true;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_ERR_CANCELLED);
    cr_assert(strstr(diag.last_error, "before its first step"), "%s", diag.last_error);
    cr_assert_eq(access(ckpt, F_OK), -1);
    cr_assert_eq(t->saved_models, 0);
    memset(&log, 0, sizeof log);
    log.stop_after = 3;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_ERR_CANCELLED);
    cr_assert_eq(log.saves, 1);
    cr_assert_eq(log.saved_step[0], 3);
    float w[4], e[4], now[4];
    cr_assert_eq(load_toy(ctx, ckpt, false, w, e), 3);
    toy_weights(t, now);
    cr_assert(memcmp(w, now, sizeof w) == 0);
    /* Resuming a finished run trains nothing more; a finished run writes the model file once. */
    c.steps = 3;
    c.resume = true;
    cr_assert_eq(t->saved_models, 1);
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(t->saved_models, 2);
    mg_trainable_free(&t->base);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    free(ckpt);
    free(model);
    toy_remove_folder(dir);
    mg_context_destroy(ctx);
}

/* ---- the loss curve ---- */

/* A small XML well-formedness check: balanced, properly nested tags, quoted attributes, no stray '<' or '&'. */
static void assert_well_formed_xml(const char *text)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = text;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        cr_assert_not_null(p);
        p += 2;
    }
    while (*p) {
        if (*p == '&') {
            cr_assert(strncmp(p, "&lt;", 4) == 0 || strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&amp;", 5) == 0 ||
                      strncmp(p, "&quot;", 6) == 0, "stray '&'");
            p++;
            continue;
        }
        if (*p != '<') {
            cr_assert(*p != '>', "stray '>'");
            p++;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:");
        cr_assert(n > 0 && n < 32, "a tag without a name");
        const char *q = name + n;
        bool self_closing = false;
        /* Attributes: name="value" ... */
        while (*q && *q != '>') {
            if (*q == '"') {
                const char *end = strchr(q + 1, '"');
                cr_assert_not_null(end, "unterminated attribute");
                cr_assert_null(memchr(q + 1, '<', (size_t)(end - q - 1)), "'<' inside an attribute");
                q = end + 1;
                continue;
            }
            if (*q == '/' && q[1] == '>')
                self_closing = true;
            cr_assert(*q != '<', "'<' inside a tag");
            q++;
        }
        cr_assert_eq(*q, '>', "unterminated tag");
        if (closing) {
            cr_assert(depth > 0, "closing tag without an opening one");
            depth--;
            cr_assert(strlen(stack[depth]) == n && strncmp(stack[depth], name, n) == 0, "mismatched </%.*s>", (int)n,
                      name);
        } else if (!self_closing) {
            cr_assert(depth < 64);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], name, n);
            stack[depth][n] = 0;
            depth++;
        }
        p = q + 1;
    }
    cr_assert_eq(depth, 0, "unclosed tags");
    cr_assert_eq(roots, 1);
}

static size_t polyline_points(const char *svg, const char *cls)
{
    char key[64];
    snprintf(key, sizeof key, "<polyline class=\"%s\"", cls);
    const char *p = strstr(svg, key);
    cr_assert_not_null(p, "no %s polyline", cls);
    p = strstr(p, "points=\"");
    cr_assert_not_null(p);
    p += 8;
    size_t count = 0;
    while (*p && *p != '"') {
        double x, y;
        int used = 0;
        cr_assert_eq(sscanf(p, "%lf,%lf %n", &x, &y, &used), 2, "bad point near '%.20s'", p);
        cr_assert(x >= 0 && x <= 800 && y >= 0 && y <= 480, "point %g,%g outside the picture", x, y);
        count++;
        p += used;
    }
    return count;
}

Test(train_loop, loss_curve_svg_is_well_formed_with_both_curves_and_labelled_axes)
{
    mg_context *ctx = test_cpu_context();
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    char *ckpt = path_in(dir, "AE.safetensors");
    char *svg_path = mg_loss_curve_path_for(ckpt);
    char *want = path_in(dir, "AE.loss.svg");
    cr_assert_str_eq(svg_path, want);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    mg_train_loop_config c = toy_config(60);
    c.val_every = 10;
    c.checkpoint_path = ckpt;
    c.curve_path = svg_path;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_OK, "%s", diag.last_error);
    size_t size;
    char *svg = read_all(svg_path, &size);
    assert_well_formed_xml(svg);
    cr_assert(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    cr_assert_eq(polyline_points(svg, "train"), 60);
    cr_assert_eq(polyline_points(svg, "validation"), 6);
    cr_assert(strstr(svg, ">step</text>") && strstr(svg, ">loss"), "axis labels");
    cr_assert(strstr(svg, ">train</text>") && strstr(svg, ">validation</text>"), "legend");
    cr_assert(strstr(svg, "toy training loss"), "title");
    free(svg);

    /* The history travels in the checkpoint: a resumed run draws the whole curve. */
    c.steps = 80;
    c.resume = true;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, NULL, NULL, NULL, &diag), MG_OK, "%s", diag.last_error);
    svg = read_all(svg_path, &size);
    assert_well_formed_xml(svg);
    cr_assert_eq(polyline_points(svg, "train"), 80);
    cr_assert_eq(polyline_points(svg, "validation"), 8);
    free(svg);
    mg_trainable_free(&t->base);

    /* Long runs are thinned; titles are escaped. */
    mg_loss_curve curve;
    mg_loss_curve_init(&curve);
    for (uint64_t s = 1; s <= 5000; s++)
        cr_assert_eq(mg_loss_curve_add_train(&curve, s, 10.0 / (double)s, &diag), MG_OK);
    cr_assert(curve.train.count < MG_LOSS_CURVE_MAX_POINTS && curve.train.count > MG_LOSS_CURVE_MAX_POINTS / 4);
    cr_assert_eq(mg_loss_curve_write_svg(&curve, svg_path, "a <b> & \"c\"", &diag), MG_OK);
    svg = read_all(svg_path, &size);
    assert_well_formed_xml(svg);
    cr_assert(strstr(svg, "(log scale)"), "losses over 3 decades use a log axis");
    free(svg);
    mg_loss_curve_free(&curve);
    cr_assert_eq(mg_loss_curve_write_svg(&curve, "/nonexistent/dir/x.svg", "t", &diag), MG_ERR_IO);
    cr_assert(strstr(diag.last_error, "/nonexistent/dir/x.svg"), "%s", diag.last_error);

    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    free(ckpt);
    free(svg_path);
    free(want);
    toy_remove_folder(dir);
    mg_context_destroy(ctx);
}
