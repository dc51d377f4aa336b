/*
 * A toy mg_trainable for the training-loop tests: linear regression of a
 * fixed linear function of each vertex's coordinates,
 *     pred(v) = w . v + b,   target(v) = 0.5 x - 0.3 y + 0.2 z + 0.1 + noise * (u_mesh - 0.5),
 * with u_mesh drawn from the step's RNG (so the loop's RNG handling shows in
 * the losses). A batch's loss is the mean over its meshes of the mean squared
 * error over each mesh's vertices, so gradients are known by hand:
 *     dL/dw = mean_i (2 / N_i) sum_v e_v v,   dL/db = mean_i (2 / N_i) sum_v e_v.
 * The forward and backward run on the host in double; parameters and gradients
 * live on the context's backend (so Adam, clipping and EMA run there).
 */
#ifndef TEST_TRAIN_LOOP_TOY_H
#define TEST_TRAIN_LOOP_TOY_H

#include "test_util.h"
#include "train/train_loop.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double TOY_TRUE[4] = {0.5, -0.3, 0.2, 0.1};

typedef struct toy {
    mg_trainable base;
    mg_train_param params[2];
    mg_tensor *grads[2];
    uint64_t calls;        /* step() calls with backward */
    uint64_t poison_at;    /* 0: never; else that backward call returns a NaN loss */
    double noise;
    int saved_models;
} toy;

static inline void toy_target_and_error(const toy *t, const float *w, float b, const mg_mesh *mesh, double u,
                                        double gw[3], double *gb, double *loss)
{
    double sum = 0, dw[3] = {0, 0, 0}, db = 0;
    size_t n = mesh->num_vertices;
    for (size_t v = 0; v < n; v++) {
        const float *p = mesh->vertices + v * 3;
        double target = TOY_TRUE[0] * p[0] + TOY_TRUE[1] * p[1] + TOY_TRUE[2] * p[2] + TOY_TRUE[3] +
                        t->noise * (u - 0.5);
        double e = (double)w[0] * p[0] + (double)w[1] * p[1] + (double)w[2] * p[2] + (double)b - target;
        sum += e * e;
        for (int a = 0; a < 3; a++)
            dw[a] += 2.0 * e * p[a];
        db += 2.0 * e;
    }
    *loss = sum / (double)n;
    for (int a = 0; a < 3; a++)
        gw[a] = dw[a] / (double)n;
    *gb = db / (double)n;
}

/* f32 of a double, saturating to infinity (a plain conversion out of range is undefined). */
static inline float toy_f32(double x)
{
    return x > 3.4028234663852886e38 ? INFINITY : x < -3.4028234663852886e38 ? -INFINITY : (float)x;
}

static inline mg_status toy_step(mg_trainable *self, const mg_train_batch *batch, bool backward, float grad_scale,
                          mg_rng *rng, mg_train_losses *losses)
{
    toy *t = (toy *)self;
    float w[3], b;
    mg_status status = mg_tensor_read_f32(t->params[0].value, w, 3);
    if (status == MG_OK)
        status = mg_tensor_read_f32(t->params[1].value, &b, 1);
    if (status != MG_OK)
        return status;
    double loss = 0, gw[3] = {0, 0, 0}, gb = 0;
    for (size_t i = 0; i < batch->count; i++) {
        double u = mg_rng_uniform(rng), l, mw[3], mb;
        toy_target_and_error(t, w, b, &batch->meshes[i], u, mw, &mb, &l);
        loss += l / (double)batch->count;
        for (int a = 0; a < 3; a++)
            gw[a] += mw[a] / (double)batch->count;
        gb += mb / (double)batch->count;
    }
    if (backward) {
        t->calls++;
        if (t->poison_at && t->calls == t->poison_at)
            loss = NAN;
        float g[4];
        if ((status = mg_tensor_read_f32(t->grads[0], g, 3)) != MG_OK ||
            (status = mg_tensor_read_f32(t->grads[1], g + 3, 1)) != MG_OK)
            return status;
        for (int a = 0; a < 3; a++)
            g[a] += grad_scale * toy_f32(gw[a]);
        g[3] += grad_scale * toy_f32(gb);
        if ((status = mg_tensor_write_f32(t->grads[0], g, 3)) != MG_OK ||
            (status = mg_tensor_write_f32(t->grads[1], g + 3, 1)) != MG_OK)
            return status;
    }
    losses->total = loss;
    losses->terms = 2;
    losses->names[0] = "mse";
    losses->values[0] = loss;
    losses->names[1] = "bias";
    losses->values[1] = b;
    return MG_OK;
}

static inline mg_status toy_save_model(mg_trainable *self, const char *path, bool use_ema)
{
    toy *t = (toy *)self;
    (void)use_ema;
    FILE *f = fopen(path, "wb");
    if (!f)
        return MG_ERR_IO;
    fputs("toy\n", f);
    fclose(f);
    t->saved_models++;
    return MG_OK;
}

static inline void toy_destroy(mg_trainable *self)
{
    toy *t = (toy *)self;
    for (int i = 0; i < 2; i++) {
        mg_tensor_free(t->params[i].value);
        mg_tensor_free(t->params[i].adam_m);
        mg_tensor_free(t->params[i].adam_v);
        mg_tensor_free(t->params[i].ema);
        mg_tensor_free(t->grads[i]);
    }
    free(t);
}

static inline mg_tensor *toy_tensor(mg_context *ctx, int ndim, const int64_t *shape, const float *values)
{
    mg_tensor *x = test_empty(ctx, MG_DTYPE_F32, ndim, shape);
    size_t n = (size_t)shape[0] * (ndim > 1 ? (size_t)shape[1] : 1);
    if (values)
        cr_assert_eq(mg_tensor_write_f32(x, values, n), MG_OK);
    else
        cr_assert_eq(mg_tensor_fill_u32(x, 0u), MG_OK);
    return x;
}

/* w = (w0, w0, w0), b = w0: the start of every run. */
static inline toy *toy_create(mg_context *ctx, float w0)
{
    toy *t = calloc(1, sizeof *t);
    cr_assert_not_null(t);
    int64_t ws[2] = {1, 3}, bs[1] = {1};
    float w[3] = {w0, w0, w0}, b = w0;
    t->params[0] = (mg_train_param){"toy.weight", toy_tensor(ctx, 2, ws, w), toy_tensor(ctx, 2, ws, NULL),
                                    toy_tensor(ctx, 2, ws, NULL), NULL};
    t->params[1] = (mg_train_param){"toy.bias", toy_tensor(ctx, 1, bs, &b), toy_tensor(ctx, 1, bs, NULL),
                                    toy_tensor(ctx, 1, bs, NULL), NULL};
    t->grads[0] = toy_tensor(ctx, 2, ws, NULL);
    t->grads[1] = toy_tensor(ctx, 1, bs, NULL);
    t->base.ctx = ctx;
    t->base.kind = "toy";
    t->base.params = t->params;
    t->base.grads = t->grads;
    t->base.count = 2;
    mg_ae_config_defaults(&t->base.config.autoencoder);
    t->base.step = toy_step;
    t->base.save_model = toy_save_model;
    t->base.destroy = toy_destroy;
    t->base.impl = t;
    return t;
}

/* w0 w1 w2 b */
static inline void toy_weights(const toy *t, float out[4])
{
    cr_assert_eq(mg_tensor_read_f32(t->params[0].value, out, 3), MG_OK);
    cr_assert_eq(mg_tensor_read_f32(t->params[1].value, out + 3, 1), MG_OK);
}

static inline void toy_ema(const toy *t, float out[4])
{
    cr_assert_not_null(t->params[0].ema);
    cr_assert_eq(mg_tensor_read_f32(t->params[0].ema, out, 3), MG_OK);
    cr_assert_eq(mg_tensor_read_f32(t->params[1].ema, out + 3, 1), MG_OK);
}

/* ---- data ---- */

static inline char *toy_folder(void)
{
    char *dir = strdup("/tmp/mg-test-train-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static inline void toy_write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static inline void toy_remove_folder(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

/* `count` tetrahedra with different apexes (normalisation keeps them different). */
static inline void toy_write_meshes(const char *dir, int count)
{
    for (int i = 0; i < count; i++) {
        char name[32], text[256];
        snprintf(name, sizeof name, "mesh%02d.obj", i);
        snprintf(text, sizeof text, "v 0 0 0\nv 1 0 %g\nv 0 1 0\nv %g %g 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n",
                 0.1 * (i % 3), 0.15 * i, 0.3 * ((i * 7) % 5));
        toy_write_file(dir, name, text);
    }
}

static inline mg_train_dataset toy_dataset(const char *dir, mg_diag *diag)
{
    mg_ae_config config;
    mg_ae_config_defaults(&config);
    mg_train_dataset_params p = mg_train_dataset_default_params(&config);
    p.folder = dir;
    mg_train_dataset ds;
    cr_assert_eq(mg_train_dataset_load(&p, &ds, diag), MG_OK, "%s", diag->last_error);
    return ds;
}

/* The tests' loop settings: plain Adam at lr 0.05, no warm-up, no augmentation, no EMA, 25% held out,
 * no validation or checkpoints unless a test asks. */
static inline mg_train_loop_config toy_config(uint64_t steps)
{
    mg_train_loop_config c = mg_train_loop_default_config();
    c.steps = steps;
    c.batch_size = 2;
    c.adam.lr = 0.05;
    c.warmup_steps = 0;
    c.augment = false;
    c.val_fraction = 0.25;
    c.val_every = 0;
    c.save_every = 0;
    c.seed = 7;
    return c;
}

/* Per-step records gathered by the progress callback. */
#define TOY_MAX_STEPS 512
typedef struct toy_log {
    double loss[TOY_MAX_STEPS + 1];
    double lr[TOY_MAX_STEPS + 1];
    double norm[TOY_MAX_STEPS + 1];
    double val[TOY_MAX_STEPS + 1];
    bool has_val[TOY_MAX_STEPS + 1];
    uint64_t stop_after;        /* return false after this step (0: never) */
    bool stop_at_start;
    int saves, starts;
    uint64_t saved_step[16];
    void (*on_save)(struct toy_log *log, const mg_train_loop_report *r);
    void *extra;
} toy_log;

static inline bool toy_progress(const mg_train_loop_report *r, void *user)
{
    toy_log *log = user;
    if (r->event == MG_TRAIN_EVENT_START) {
        log->starts++;
        return !log->stop_at_start;
    }
    if (r->event == MG_TRAIN_EVENT_SAVED) {
        if (log->saves < 16)
            log->saved_step[log->saves] = r->step;
        log->saves++;
        if (log->on_save)
            log->on_save(log, r);
        return true;
    }
    if (r->step <= TOY_MAX_STEPS) {
        log->loss[r->step] = r->losses.total;
        log->lr[r->step] = r->learning_rate;
        log->norm[r->step] = r->grad_norm;
        log->has_val[r->step] = r->has_validation;
        log->val[r->step] = r->validation_loss;
    }
    return !(log->stop_after && r->step == log->stop_after);
}


/* ---- checks run on every backend ---- */

/* The toy model learns its function: the training loss falls by orders of magnitude and the validation loss
 * (held-out meshes, never trained on) follows. */
static inline void toy_check_converges(mg_context *ctx)
{
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    toy *t = toy_create(ctx, 0.0f);
    mg_train_loop_config c = toy_config(300);
    c.val_every = 50;
    static toy_log log;
    memset(&log, 0, sizeof log);
    mg_train_loop_report last;
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, &last, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(last.step, 300);
    cr_assert_eq(last.train_items, 6);
    cr_assert_eq(last.validation_items, 2);
    cr_assert_eq(log.starts, 1);
    cr_assert(log.loss[1] > 0.01, "first loss %g", log.loss[1]);
    cr_assert(log.loss[300] < 1e-3 * log.loss[1], "loss %g -> %g", log.loss[1], log.loss[300]);
    cr_assert(log.has_val[50] && log.has_val[300] && !log.has_val[51]);
    cr_assert(log.val[300] < 1e-2 * log.val[50], "validation %g -> %g", log.val[50], log.val[300]);
    float w[4];
    toy_weights(t, w);
    for (int k = 0; k < 4; k++)
        cr_assert(fabs(w[k] - TOY_TRUE[k]) < 0.05, "weight %d: %g, want %g", k, w[k], TOY_TRUE[k]);
    mg_trainable_free(&t->base);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    toy_remove_folder(dir);
}

/* The hand gradient of the toy loss over `count` dataset items (no augmentation, no noise), at weights w. */
static inline void toy_hand_gradient(const mg_train_dataset *ds, const size_t *items, size_t count, const float w[4],
                                     double g[4])
{
    toy ref;
    memset(&ref, 0, sizeof ref);
    memset(g, 0, 4 * sizeof *g);
    for (size_t i = 0; i < count; i++) {
        double mw[3], mb, l;
        toy_target_and_error(&ref, w, w[3], &ds->items[items[i]].mesh, 0.5, mw, &mb, &l);
        for (int a = 0; a < 3; a++)
            g[a] += mw[a] / (double)count;
        g[3] += mb / (double)count;
    }
}

/*
 * One step against the formulas: the items are those mg_train_microbatch_items names; the gradient norm is the
 * hand gradient's; the gradients left after the step are clipped by min(1, max_norm / (norm + 1e-6)); the
 * update is Adam's first step, -lr_0 * g / (|g| + eps), with lr_0 = lr * min(1, 1 / warmup); later steps
 * report lr * min(1, (k + 1) / warmup).
 */
static inline void toy_check_formulas(mg_context *ctx)
{
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);

    mg_train_loop_config c = toy_config(1);
    c.batch_size = 3;
    c.warmup_steps = 10;
    c.adam.lr = 0.01;
    /* The items of the first micro-batch. */
    mg_rng base;
    mg_rng_seed(&base, c.seed);
    size_t *train, *val, nt, nv, items[3];
    cr_assert_eq(mg_train_split(ds.count, &base, c.val_fraction, c.val_max_items, &train, &nt, &val, &nv, &diag),
                 MG_OK);
    cr_assert_eq(mg_train_microbatch_items(train, nt, 3, NULL, &base, 0, items, NULL, &diag), MG_OK);
    float w0[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    double g[4], norm = 0;
    toy_hand_gradient(&ds, items, 3, w0, g);
    for (int k = 0; k < 4; k++)
        norm += g[k] * g[k];
    norm = sqrt(norm);

    for (int clip = 0; clip < 2; clip++) {
        c.max_grad_norm = clip ? 0.3 * norm : 0.0;
        toy *t = toy_create(ctx, 0.25f);
        static toy_log log;
        memset(&log, 0, sizeof log);
        cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_OK, "%s",
                     diag.last_error);
        cr_assert(fabs(log.norm[1] - norm) <= 1e-5 * norm, "grad norm %.9g, by hand %.9g", log.norm[1], norm);
        cr_assert(fabs(log.lr[1] - 0.01 * 0.1) < 1e-15, "lr of step 1: %g", log.lr[1]);
        double coefficient = clip ? 0.3 * norm / (norm + 1e-6) : 1.0;
        float got[4], w[4];
        cr_assert_eq(mg_tensor_read_f32(t->grads[0], got, 3), MG_OK);
        cr_assert_eq(mg_tensor_read_f32(t->grads[1], got + 3, 1), MG_OK);
        toy_weights(t, w);
        for (int k = 0; k < 4; k++) {
            double want = g[k] * coefficient;
            cr_assert(fabs(got[k] - want) <= 1e-5 * fabs(want) + 1e-7, "clip %d grad %d: %.9g, want %.9g", clip, k,
                      got[k], want);
            /* Adam's first step does not depend on the gradient's scale (only through eps). */
            double step = -0.001 * want / (fabs(want) + 1e-8);
            cr_assert(fabs((w[k] - w0[k]) - step) <= 3e-8, "clip %d weight %d moved %.9g, want %.9g", clip, k,
                      w[k] - w0[k], step);
        }
        mg_trainable_free(&t->base);
    }

    /* The warm-up over several steps. */
    c.steps = 12;
    c.max_grad_norm = 0;
    toy *t = toy_create(ctx, 0.25f);
    static toy_log log;
    memset(&log, 0, sizeof log);
    cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log, NULL, &diag), MG_OK, "%s", diag.last_error);
    for (int k = 0; k < 12; k++) {
        double want = 0.01 * fmin(1.0, (k + 1) / 10.0);
        cr_assert(fabs(log.lr[k + 1] - want) < 1e-15, "lr of step %d: %g, want %g", k + 1, log.lr[k + 1], want);
    }
    mg_trainable_free(&t->base);
    free(train);
    free(val);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    toy_remove_folder(dir);
}

/* Accumulating 4 micro-batches of 1 equals one batch of 4 (the loss is a mean): same losses, same weights. */
static inline void toy_check_accumulation(mg_context *ctx)
{
    char *dir = toy_folder();
    toy_write_meshes(dir, 8);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds = toy_dataset(dir, &diag);
    float w[2][4];
    static toy_log log[2];
    for (int run = 0; run < 2; run++) {
        mg_train_loop_config c = toy_config(5);
        c.val_fraction = 0; /* 8 training items: both runs' epochs line up */
        c.batch_size = run ? 1 : 4;
        c.accum = run ? 4 : 1;
        toy *t = toy_create(ctx, 0.0f);
        memset(&log[run], 0, sizeof log[run]);
        cr_assert_eq(mg_train_loop_run(&t->base, &ds, &c, toy_progress, &log[run], NULL, &diag), MG_OK, "%s",
                     diag.last_error);
        toy_weights(t, w[run]);
        mg_trainable_free(&t->base);
    }
    for (int s = 1; s <= 5; s++)
        cr_assert(fabs(log[0].loss[s] - log[1].loss[s]) <= 1e-6 * log[0].loss[s], "step %d: %.9g vs %.9g", s,
                  log[0].loss[s], log[1].loss[s]);
    for (int k = 0; k < 4; k++)
        cr_assert(fabs(w[0][k] - w[1][k]) <= 1e-6, "weight %d: %.9g vs %.9g", k, w[0][k], w[1][k]);
    /* Not trivially equal: the weights moved. */
    cr_assert(fabs(w[0][0]) > 0.01);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    toy_remove_folder(dir);
}

#endif
