/* The training loop (train/train_loop.h). */
#include "train/train_loop.h"

#include "core/context.h"
#include "train/loss_curve.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Streams of the base RNG (epoch e's order uses stream e). */
#define AUGMENT_STREAM 0x4000000000000000ull
#define VALIDATION_STREAM 0x5000000000000000ull
#define MODEL_STREAM 0x6000000000000000ull

mg_train_loop_config mg_train_loop_default_config(void)
{
    mg_train_loop_config c;
    memset(&c, 0, sizeof c);
    c.batch_size = 4;
    c.accum = 1;
    c.adam = mg_adam_default_config();
    c.warmup_steps = 1000;
    c.ema_config = mg_ema_default_config();
    c.augment = true;
    c.augment_params = mg_augment_default_params();
    c.val_fraction = 0.05;
    c.val_max_items = 64;
    c.val_every = 100;
    c.save_every = 1000;
    return c;
}

typedef struct loop {
    mg_trainable *model;
    const mg_train_dataset *data;
    const mg_train_loop_config *cfg;
    mg_train_loop_progress_fn progress;
    void *user;
    mg_diag *diag;
    mg_context *ctx;
    mg_tensor **grads;          /* the non-NULL gradients */
    size_t grad_count;
    mg_tensor **ema;            /* EMA copies and their weights, for trained parameters */
    const mg_tensor **ema_values;
    size_t ema_count;
    bool *ema_owned;            /* [model->count]: params[i].ema allocated here (freed and reset at the end) */
    size_t *train, train_count, *val, val_count;
    size_t *indices;            /* [batch_size] */
    size_t *lengths;            /* [data->count] face counts when batches are grouped by length, else NULL */
    mg_train_state state;
    mg_loss_curve curve;
    uint64_t last_saved;        /* step of the last checkpoint written by this run (UINT64_MAX: none) */
    uint64_t start_step;
    struct timespec started;
    mg_train_loop_report report;
} loop;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static mg_status check_config(const loop *L)
{
    const mg_train_loop_config *c = L->cfg;
    const mg_trainable *m = L->model;
    if (!m->params || !m->grads || !m->count || !m->step || !m->ctx)
        return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: the model has no parameters or no step");
    if (c->batch_size == 0 || c->accum == 0)
        return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: batch size and gradient accumulation must be "
                       "at least 1");
    if (!(c->adam.lr > 0) || !isfinite(c->adam.lr) || !(c->adam.beta1 >= 0 && c->adam.beta1 < 1) ||
        !(c->adam.beta2 >= 0 && c->adam.beta2 < 1) || !(c->adam.eps > 0) || !(c->adam.weight_decay >= 0))
        return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: the learning rate must be a positive number, "
                       "betas in [0, 1), eps > 0 and weight decay >= 0 (got lr %g)", c->adam.lr);
    if (c->resume && !c->checkpoint_path)
        return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: resuming needs the checkpoint's path");
    for (size_t i = 0; i < m->count; i++) {
        const mg_train_param *p = &m->params[i];
        if (!p->value || (p->adam_m && !m->grads[i]))
            return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: parameter %zu ('%s') is trained but has "
                           "no gradient", i, p->name ? p->name : "?");
    }
    return MG_OK;
}

/* The lists the optimizer ops take, and EMA copies (starting as copies of the weights, like ema-pytorch's
 * deepcopy) for trained parameters that have none. */
static mg_status prepare_tensors(loop *L)
{
    mg_trainable *m = L->model;
    L->grads = calloc(m->count, sizeof *L->grads);
    L->ema = calloc(m->count, sizeof *L->ema);
    L->ema_values = calloc(m->count, sizeof *L->ema_values);
    L->ema_owned = calloc(m->count, sizeof *L->ema_owned);
    L->indices = calloc(L->cfg->batch_size, sizeof *L->indices);
    if (!L->grads || !L->ema || !L->ema_values || !L->ema_owned || !L->indices)
        return mg_fail(L->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory preparing training");
    for (size_t i = 0; i < m->count; i++) {
        mg_train_param *p = &m->params[i];
        if (m->grads[i] && p->adam_m)
            L->grads[L->grad_count++] = m->grads[i];
        if (!L->cfg->ema || !p->adam_m)
            continue;
        if (!p->ema) {
            mg_status status = mg_tensor_create(L->ctx, MG_DTYPE_F32, p->value->ndim, p->value->shape, &p->ema);
            if (status != MG_OK)
                return status;
            L->ema_owned[i] = true;
            /* lerp with weight 1 is an exact copy (param - (param - ema) * 0). */
            if ((status = mg_tensor_fill_u32(p->ema, 0u)) != MG_OK ||
                (status = mg_op_ema_lerp(L->ctx, p->ema, p->value, 1.0f)) != MG_OK)
                return status;
        }
        L->ema[L->ema_count] = p->ema;
        L->ema_values[L->ema_count++] = p->value;
    }
    return MG_OK;
}

static void release_tensors(loop *L)
{
    mg_trainable *m = L->model;
    for (size_t i = 0; L->ema_owned && i < m->count; i++)
        if (L->ema_owned[i]) {
            mg_tensor_free(m->params[i].ema);
            m->params[i].ema = NULL;
        }
    free(L->grads);
    free(L->ema);
    free(L->ema_values);
    free(L->ema_owned);
    free(L->indices);
    free(L->lengths);
    free(L->train);
    free(L->val);
    mg_train_state_free(&L->state);
    mg_loss_curve_free(&L->curve);
}

/* ---- the settings stored with a checkpoint ---- */

static char *trainer_json(const loop *L)
{
    const mg_train_loop_config *c = L->cfg;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = cJSON_AddStringToObject(root, "kind", L->model->kind ? L->model->kind : "") != NULL;
    ok = ok && cJSON_AddNumberToObject(root, "steps", (double)c->steps);
    ok = ok && cJSON_AddNumberToObject(root, "batch_size", (double)c->batch_size);
    ok = ok && cJSON_AddNumberToObject(root, "grad_accum_every", (double)c->accum);
    ok = ok && cJSON_AddNumberToObject(root, "learning_rate", c->adam.lr);
    ok = ok && cJSON_AddNumberToObject(root, "weight_decay", c->adam.weight_decay);
    ok = ok && cJSON_AddNumberToObject(root, "warmup_steps", (double)c->warmup_steps);
    ok = ok && cJSON_AddStringToObject(root, "lr_schedule", c->cosine_decay ? "cosine" : "constant");
    ok = ok && (!c->cosine_decay || cJSON_AddNumberToObject(root, "final_lr_fraction", c->final_lr_fraction));
    ok = ok && cJSON_AddNumberToObject(root, "max_grad_norm", c->max_grad_norm);
    ok = ok && cJSON_AddBoolToObject(root, "ema", c->ema);
    ok = ok && cJSON_AddBoolToObject(root, "augment", c->augment);
    ok = ok && cJSON_AddBoolToObject(root, "group_by_length", c->group_by_length);
    ok = ok && cJSON_AddNumberToObject(root, "train_items", (double)L->train_count);
    ok = ok && cJSON_AddNumberToObject(root, "validation_items", (double)L->val_count);
    if (ok && c->trainer_json) {
        cJSON *settings = cJSON_Parse(c->trainer_json);
        ok = settings && cJSON_AddItemToObject(root, "settings", settings);
        if (!ok)
            cJSON_Delete(settings);
    }
    if (ok) {
        cJSON *curve = mg_loss_curve_to_json(&L->curve);
        ok = curve && cJSON_AddItemToObject(root, "loss_curve", curve);
        if (!ok)
            cJSON_Delete(curve);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static void warn_if_changed(loop *L, const cJSON *saved, const char *key, double now, const char *what)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(saved, key);
    if (cJSON_IsNumber(v) && v->valuedouble != now)
        mg_log(L->diag, MG_LOG_WARN, "resuming with %s %g where the checkpoint was trained with %g: the batches "
               "after the resume differ from an unbroken run's", what, now, v->valuedouble);
}

/* Reads what a resumed run needs from the checkpoint's settings: the model kind (must match), the loss
 * history, and warnings where the data order will differ. */
static mg_status apply_saved_settings(loop *L)
{
    if (!L->state.trainer_json)
        return MG_OK;
    cJSON *root = cJSON_Parse(L->state.trainer_json);
    if (!root) {
        mg_log(L->diag, MG_LOG_WARN, "the checkpoint's trainer settings are not JSON; the loss curve starts anew");
        return MG_OK;
    }
    mg_status status = MG_OK;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (cJSON_IsString(kind) && L->model->kind && strcmp(kind->valuestring, L->model->kind) != 0)
        status = mg_fail(L->diag, MG_ERR_FORMAT, "'%s' is a checkpoint of %s training, not of %s training: resume "
                         "with the matching command", L->cfg->checkpoint_path, kind->valuestring, L->model->kind);
    if (status == MG_OK) {
        warn_if_changed(L, root, "batch_size", (double)L->cfg->batch_size, "batch size");
        warn_if_changed(L, root, "grad_accum_every", (double)L->cfg->accum, "gradient accumulation");
        warn_if_changed(L, root, "train_items", (double)L->train_count, "a training split of");
        const cJSON *grouped = cJSON_GetObjectItemCaseSensitive(root, "group_by_length");
        /* Checkpoints from before the setting existed were trained with random batches. */
        bool saved_grouped = cJSON_IsBool(grouped) && cJSON_IsTrue(grouped);
        if (saved_grouped != L->cfg->group_by_length)
            mg_log(L->diag, MG_LOG_WARN, "resuming with %s where the checkpoint was trained with %s: the batches "
                   "after the resume differ from an unbroken run's", L->cfg->group_by_length ? "batches grouped by "
                   "length" : "random batches", saved_grouped ? "batches grouped by length" : "random batches");
        const cJSON *curve = cJSON_GetObjectItemCaseSensitive(root, "loss_curve");
        if (curve && mg_loss_curve_from_json(&L->curve, curve, L->state.step, L->diag) != MG_OK)
            mg_log(L->diag, MG_LOG_WARN, "%s; the loss curve starts anew", L->diag->last_error);
    }
    cJSON_Delete(root);
    return status;
}

/* ---- checkpoints ---- */

static void report_event(loop *L, mg_train_loop_event event, const char *saved_path)
{
    if (!L->progress)
        return;
    mg_train_loop_report r = L->report;
    r.event = event;
    r.saved_path = saved_path;
    (void)L->progress(&r, L->user);
}

static mg_status write_curve(loop *L)
{
    if (!L->cfg->curve_path)
        return MG_OK;
    char title[128];
    mg_format(title, sizeof title, "%s training loss", L->model->kind ? L->model->kind : "model");
    mg_status status = mg_loss_curve_write_svg(&L->curve, L->cfg->curve_path, title, L->diag);
    if (status != MG_OK)
        mg_log(L->diag, MG_LOG_WARN, "%s (training goes on)", L->diag->last_error);
    return MG_OK;
}

static mg_status save_checkpoint(loop *L)
{
    if (!L->cfg->checkpoint_path || L->last_saved == L->state.step)
        return MG_OK;
    free(L->state.trainer_json); /* a resumed run's loaded settings */
    L->state.trainer_json = trainer_json(L);
    if (!L->state.trainer_json)
        return mg_fail(L->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory writing the trainer's settings");
    mg_status status = mg_train_checkpoint_save(L->cfg->checkpoint_path, &L->model->config, L->model->params,
                                                L->model->count, &L->state, L->diag);
    free(L->state.trainer_json);
    L->state.trainer_json = NULL;
    if (status != MG_OK)
        return status;
    L->last_saved = L->state.step;
    write_curve(L);
    report_event(L, MG_TRAIN_EVENT_SAVED, L->cfg->checkpoint_path);
    return MG_OK;
}

/* ---- one step ---- */

static void add_losses(mg_train_losses *sum, const mg_train_losses *part, double weight)
{
    sum->total += weight * part->total;
    size_t terms = part->terms < MG_TRAIN_MAX_LOSS_TERMS ? part->terms : MG_TRAIN_MAX_LOSS_TERMS;
    if (sum->terms < terms)
        sum->terms = terms;
    for (size_t k = 0; k < terms; k++) {
        sum->names[k] = part->names[k];
        sum->values[k] += weight * part->values[k];
    }
}

static mg_status not_finite(loop *L, const char *what, double value, uint64_t step)
{
    char kept[600];
    if (L->cfg->checkpoint_path && L->last_saved != UINT64_MAX)
        mg_format(kept, sizeof kept, "the last good checkpoint '%s' (step %" PRIu64 ") is kept",
                  L->cfg->checkpoint_path, L->last_saved);
    else
        mg_format(kept, sizeof kept, "no checkpoint had been written yet");
    return mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training stopped at step %" PRIu64 ": the %s is %s. The "
                   "weights were not updated and nothing was saved: %s. Lower the learning rate, clip gradients "
                   "(max grad norm) or check the data, then resume or start again", step + 1, what,
                   isnan(value) ? "NaN" : "infinite", kept);
}

static mg_status run_batch(loop *L, const size_t *indices, size_t count, bool augment, mg_rng augment_rng,
                           bool backward, float grad_scale, mg_rng model_rng, mg_train_losses *out)
{
    mg_train_batch batch;
    /* Without the RNG (validation), every mesh is seen with its first caption, so the loss stays comparable. */
    mg_status status = mg_train_batch_make(L->data, indices, count, augment ? &L->cfg->augment_params : NULL,
                                           augment || backward ? &augment_rng : NULL, &batch, L->diag);
    if (status != MG_OK)
        return status;
    memset(out, 0, sizeof *out);
    status = L->model->step(L->model, &batch, backward, grad_scale, &model_rng, out);
    mg_train_batch_free(&batch);
    return status;
}

static mg_status train_step(loop *L, uint64_t k)
{
    const mg_train_loop_config *c = L->cfg;
    mg_status status = mg_train_zero_grads(L->ctx, L->grads, L->grad_count);
    mg_train_losses sum;
    memset(&sum, 0, sizeof sum);
    uint64_t epoch = 0;
    for (size_t j = 0; j < c->accum && status == MG_OK; j++) {
        uint64_t m = k * c->accum + j;
        status = mg_train_microbatch_items(L->train, L->train_count, c->batch_size, L->lengths, &L->state.rng, m,
                                           L->indices, &epoch, L->diag);
        mg_train_losses losses = {0};
        if (status == MG_OK)
            status = run_batch(L, L->indices, c->batch_size, c->augment, mg_rng_fork(&L->state.rng,
                               AUGMENT_STREAM + m), true, (float)(1.0 / (double)c->accum),
                               mg_rng_fork(&L->state.rng, MODEL_STREAM + m), &losses);
        if (status == MG_OK && !isfinite(losses.total))
            return not_finite(L, "loss", losses.total, k);
        if (status == MG_OK)
            add_losses(&sum, &losses, 1.0 / (double)c->accum);
    }
    double norm = 0.0;
    if (status == MG_OK)
        status = mg_train_clip_grad_norm(L->ctx, L->grads, L->grad_count, c->max_grad_norm, &norm);
    if (status == MG_OK && !isfinite(norm))
        return not_finite(L, "gradient norm", norm, k);
    mg_adam_config adam = c->adam;
    adam.lr *= mg_lr_decay_factor(k, c->warmup_steps, c->steps, c->cosine_decay, c->final_lr_fraction);
    for (size_t i = 0; i < L->model->count && status == MG_OK; i++) {
        mg_train_param *p = &L->model->params[i];
        if (!p->adam_m)
            continue;
        mg_adam_step s = mg_adam_step_for(&adam, k + 1, c->warmup_steps, p->value->ndim);
        status = mg_op_adam_step(L->ctx, &s, p->value, L->model->grads[i], p->adam_m, p->adam_v);
    }
    if (status != MG_OK)
        return status;
    L->state.step = k + 1;
    if (c->ema && L->ema_count)
        status = mg_train_ema_update(L->ctx, &c->ema_config, &L->state.ema, L->ema, L->ema_values, L->ema_count,
                                     NULL);
    if (status == MG_OK)
        status = mg_loss_curve_add_train(&L->curve, k + 1, sum.total, L->diag);
    mg_train_loop_report *r = &L->report;
    r->event = MG_TRAIN_EVENT_STEP;
    r->step = k + 1;
    r->epoch = epoch;
    r->losses = sum;
    r->learning_rate = adam.lr * mg_lr_warmup_factor(k, c->warmup_steps);
    r->grad_norm = norm;
    r->has_validation = false;
    double elapsed = seconds_since(&L->started);
    double done = (double)(k + 1 - L->start_step);
    r->steps_per_second = elapsed > 0 ? done / elapsed : 0.0;
    r->samples_per_second = r->steps_per_second * (double)(c->batch_size * c->accum);
    return status;
}

/* ---- validation ---- */

/* Swaps the weights with their EMA copies through `backup` (lerp with weight 1 copies exactly), so that
 * validation runs on the EMA weights as upstream's autoencoder trainer does; called again to swap back. */
static mg_status swap_in_ema(loop *L, mg_tensor **backup, bool restore)
{
    mg_status status = MG_OK;
    for (size_t i = 0; i < L->ema_count && status == MG_OK; i++) {
        mg_tensor *value = (mg_tensor *)L->ema_values[i];
        if (!restore) {
            status = mg_tensor_create(L->ctx, MG_DTYPE_F32, value->ndim, value->shape, &backup[i]);
            if (status == MG_OK)
                status = mg_tensor_fill_u32(backup[i], 0u);
            if (status == MG_OK)
                status = mg_op_ema_lerp(L->ctx, backup[i], value, 1.0f);
            if (status == MG_OK)
                status = mg_op_ema_lerp(L->ctx, value, L->ema[i], 1.0f);
        } else if (backup[i]) {
            status = mg_op_ema_lerp(L->ctx, value, backup[i], 1.0f);
        }
    }
    return status;
}

static mg_status validate(loop *L, double *out_loss)
{
    const mg_train_loop_config *c = L->cfg;
    mg_tensor **backup = NULL;
    mg_status status = MG_OK;
    if (c->ema && L->ema_count) {
        backup = calloc(L->ema_count, sizeof *backup);
        if (!backup)
            return mg_fail(L->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for validation");
        status = swap_in_ema(L, backup, false);
    }
    double total = 0.0;
    for (size_t first = 0, chunk = 0; first < L->val_count && status == MG_OK; first += c->batch_size, chunk++) {
        size_t n = L->val_count - first < c->batch_size ? L->val_count - first : c->batch_size;
        mg_train_losses losses = {0};
        mg_rng none = L->state.rng;
        status = run_batch(L, L->val + first, n, false, none, false, 0.0f,
                           mg_rng_fork(&L->state.rng, VALIDATION_STREAM + chunk), &losses);
        if (status == MG_OK)
            total += losses.total * (double)n;
    }
    if (backup) {
        mg_status restored = swap_in_ema(L, backup, true);
        if (status == MG_OK)
            status = restored;
        for (size_t i = 0; i < L->ema_count; i++)
            mg_tensor_free(backup[i]);
        free(backup);
    }
    *out_loss = total / (double)L->val_count;
    return status;
}

/* ---- the run ---- */

static mg_status start(loop *L)
{
    const mg_train_loop_config *c = L->cfg;
    mg_status status = check_config(L);
    if (status == MG_OK)
        status = prepare_tensors(L);
    if (status != MG_OK)
        return status;
    if (c->resume) {
        status = mg_train_checkpoint_load(c->checkpoint_path, L->model->params, L->model->count, &L->state, L->diag);
        if (status != MG_OK)
            return status;
        L->start_step = L->last_saved = L->state.step;
    } else {
        mg_rng_seed(&L->state.rng, c->seed);
    }
    status = mg_train_split(L->data->count, &L->state.rng, c->val_fraction, c->val_max_items, &L->train,
                            &L->train_count, &L->val, &L->val_count, L->diag);
    if (status == MG_OK && c->batch_size > L->train_count)
        status = mg_fail(L->diag, MG_ERR_INVALID_ARGUMENT, "training: a batch of %zu meshes needs at least that "
                         "many training meshes; there are %zu (%zu of %zu held out for validation): lower the batch "
                         "size or add meshes", c->batch_size, L->train_count, L->val_count, L->data->count);
    if (status == MG_OK && c->group_by_length) {
        L->lengths = malloc((L->data->count ? L->data->count : 1) * sizeof *L->lengths);
        if (!L->lengths)
            status = mg_fail(L->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory preparing training");
        for (size_t i = 0; status == MG_OK && i < L->data->count; i++)
            L->lengths[i] = L->data->items[i].mesh.num_faces;
    }
    if (status == MG_OK && c->resume)
        status = apply_saved_settings(L);
    if (status == MG_OK && c->resume && L->state.step >= c->steps)
        mg_log(L->diag, MG_LOG_WARN, "the checkpoint '%s' has already done %" PRIu64 " of the %" PRIu64 " steps: "
               "nothing to train (ask for more steps to go on)", c->checkpoint_path, L->state.step, c->steps);
    return status;
}

static mg_status finish(loop *L)
{
    mg_status status = save_checkpoint(L);
    if (status == MG_OK && L->cfg->model_path) {
        if (!L->model->save_model)
            return mg_fail(L->diag, MG_ERR_UNSUPPORTED, "training: this model cannot write a model file");
        status = L->model->save_model(L->model, L->cfg->model_path, L->cfg->ema && L->ema_count);
    }
    if (status == MG_OK && !L->cfg->checkpoint_path)
        write_curve(L);
    return status;
}

mg_status mg_train_loop_run(mg_trainable *model, const mg_train_dataset *data, const mg_train_loop_config *config,
                            mg_train_loop_progress_fn progress, void *user_data, mg_train_loop_report *out_last,
                            mg_diag *diag)
{
    if (out_last)
        memset(out_last, 0, sizeof *out_last);
    if (!model || !data || !config || !diag)
        return diag ? mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_loop_run: NULL argument")
                    : MG_ERR_INVALID_ARGUMENT;
    loop L;
    memset(&L, 0, sizeof L);
    L.model = model;
    L.data = data;
    L.cfg = config;
    L.progress = progress;
    L.user = user_data;
    L.diag = diag;
    L.ctx = model->ctx;
    L.last_saved = UINT64_MAX;
    mg_loss_curve_init(&L.curve);
    mg_status status = start(&L);
    bool cancelled = false;
    if (status == MG_OK) {
        L.report.total_steps = config->steps;
        L.report.step = L.state.step;
        L.report.train_items = L.train_count;
        L.report.validation_items = L.val_count;
        L.report.event = MG_TRAIN_EVENT_START;
        /* The latest validation loss so far (a resumed run's from its history), NaN before the first. */
        L.report.validation_loss = L.curve.validation.count ? L.curve.validation.loss[L.curve.validation.count - 1]
                                                            : NAN;
        if (progress && !progress(&L.report, user_data))
            cancelled = true;
        clock_gettime(CLOCK_MONOTONIC, &L.started);
    }
    for (uint64_t k = L.state.step; status == MG_OK && !cancelled && k < config->steps; k++) {
        status = train_step(&L, k);
        bool last = k + 1 == config->steps;
        if (status == MG_OK && config->val_every && L.val_count && ((k + 1) % config->val_every == 0 || last)) {
            status = validate(&L, &L.report.validation_loss);
            L.report.has_validation = status == MG_OK;
            if (status == MG_OK)
                status = mg_loss_curve_add_validation(&L.curve, k + 1, L.report.validation_loss, diag);
        }
        if (status == MG_OK && progress && !progress(&L.report, user_data))
            cancelled = true;
        if (status == MG_OK && !last && !cancelled && config->save_every && (k + 1) % config->save_every == 0)
            status = save_checkpoint(&L);
    }
    /* Stopped before any step: nothing to save. */
    if (status == MG_OK && !(cancelled && L.state.step == L.start_step))
        status = finish(&L);
    if (out_last)
        *out_last = L.report;
    release_tensors(&L);
    if (status == MG_OK && cancelled && L.report.event == MG_TRAIN_EVENT_START)
        status = mg_fail(diag, MG_ERR_CANCELLED, "training stopped on request before its first step");
    else if (status == MG_OK && cancelled)
        status = mg_fail(diag, MG_ERR_CANCELLED, "training stopped on request after step %" PRIu64 "%s",
                         L.report.step, config->checkpoint_path ? " (checkpoint saved)" : "");
    return status;
}
