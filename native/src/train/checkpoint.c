/* Training checkpoints (train/checkpoint.h): safetensors + "meshgpt_train" metadata, saved atomically. */
#include "train/checkpoint.h"

#include "io/safetensors.h"
#include "model/missing_init.h"
#include "model/model_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EXACT_STEP 9007199254740992.0 /* 2^53: JSON numbers are doubles */

typedef enum slot_kind { SLOT_VALUE, SLOT_ADAM_M, SLOT_ADAM_V, SLOT_EMA, SLOT_COUNT } slot_kind;
static const char *const slot_prefix[SLOT_COUNT] = {"", MG_TRAIN_TENSOR_PREFIX "adam_m.",
                                                     MG_TRAIN_TENSOR_PREFIX "adam_v.", MG_TRAIN_TENSOR_PREFIX "ema."};

static mg_tensor *slot_tensor(const mg_train_param *p, slot_kind kind)
{
    switch (kind) {
    case SLOT_VALUE: return p->value;
    case SLOT_ADAM_M: return p->adam_m;
    case SLOT_ADAM_V: return p->adam_v;
    default: return p->ema;
    }
}

void mg_train_state_free(mg_train_state *state)
{
    if (!state)
        return;
    free(state->trainer_json);
    state->trainer_json = NULL;
}

static char *join(const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name);
    char *out = malloc(a + b + 1);
    if (out) {
        memcpy(out, prefix, a);
        memcpy(out + a, name, b + 1);
    }
    return out;
}

static mg_status check_params(const mg_train_param *params, size_t count, mg_diag *diag)
{
    if (!params && count)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: the parameter list is NULL");
    for (size_t i = 0; i < count; i++) {
        const mg_train_param *p = &params[i];
        if (!p->name || !p->name[0] || !p->value)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: parameter %zu has no name or no value", i);
        if (strncmp(p->name, MG_TRAIN_TENSOR_PREFIX, strlen(MG_TRAIN_TENSOR_PREFIX)) == 0)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: parameter name '%s' uses the reserved "
                           "prefix '" MG_TRAIN_TENSOR_PREFIX "'", p->name);
        if (!p->adam_m != !p->adam_v)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: parameter '%s' has only one of Adam's two "
                           "moments", p->name);
        for (int k = 0; k < SLOT_COUNT; k++) {
            const mg_tensor *t = slot_tensor(p, (slot_kind)k);
            if (!t)
                continue;
            if (t->dtype != MG_DTYPE_F32)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: '%s%s' is %s; training state is f32",
                               slot_prefix[k], p->name, mg_dtype_name(t->dtype));
            bool same = t->ndim == p->value->ndim;
            for (int d = 0; same && d < t->ndim; d++)
                same = t->shape[d] == p->value->shape[d];
            if (!same)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: '%s%s' does not have the shape of its "
                               "parameter", slot_prefix[k], p->name);
        }
    }
    return MG_OK;
}

/* ---- the state document ---- */

static char *state_to_json(const mg_train_state *state, mg_diag *diag, mg_status *status)
{
    *status = MG_OK;
    if ((double)state->step > MAX_EXACT_STEP || (double)state->ema.step > MAX_EXACT_STEP) {
        *status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: step counts above 2^53 cannot be saved");
        return NULL;
    }
    cJSON *trainer = NULL;
    if (state->trainer_json) {
        trainer = cJSON_Parse(state->trainer_json);
        if (!trainer) {
            *status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "checkpoint: the trainer settings are not valid JSON");
            return NULL;
        }
    } else {
        trainer = cJSON_CreateNull();
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *rng = root ? cJSON_AddArrayToObject(root, "rng") : NULL;
    cJSON *ema = root ? cJSON_AddObjectToObject(root, "ema") : NULL;
    bool ok = trainer && root && rng && ema && cJSON_AddStringToObject(root, "format", "meshgpt-train-state") &&
              cJSON_AddNumberToObject(root, "version", 1) &&
              cJSON_AddNumberToObject(root, "step", (double)state->step) &&
              cJSON_AddNumberToObject(ema, "step", (double)state->ema.step) &&
              cJSON_AddBoolToObject(ema, "initted", state->ema.initted);
    for (int i = 0; ok && i < 4; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, state->rng.s[i]);
        cJSON *word = cJSON_CreateString(hex);
        ok = word && cJSON_AddItemToArray(rng, word);
    }
    if (ok) {
        ok = cJSON_AddItemToObject(root, "trainer", trainer);
        if (ok)
            trainer = NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(trainer);
    cJSON_Delete(root);
    if (!text)
        *status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    return text;
}

static bool read_count(const cJSON *object, const char *key, uint64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > MAX_EXACT_STEP ||
        item->valuedouble != (double)(uint64_t)item->valuedouble)
        return false;
    *out = (uint64_t)item->valuedouble;
    return true;
}

static mg_status state_from_json(const char *text, const char *path, mg_train_state *state, mg_diag *diag)
{
    cJSON *root = cJSON_Parse(text);
    mg_status status = MG_OK;
    const cJSON *format = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    const cJSON *version = root ? cJSON_GetObjectItemCaseSensitive(root, "version") : NULL;
    const cJSON *rng = root ? cJSON_GetObjectItemCaseSensitive(root, "rng") : NULL;
    const cJSON *ema = root ? cJSON_GetObjectItemCaseSensitive(root, "ema") : NULL;
    const cJSON *initted = ema ? cJSON_GetObjectItemCaseSensitive(ema, "initted") : NULL;
    bool ok = cJSON_IsObject(root) && cJSON_IsString(format) &&
              strcmp(format->valuestring, "meshgpt-train-state") == 0 && cJSON_IsNumber(version) &&
              read_count(root, "step", &state->step) && cJSON_IsArray(rng) && cJSON_GetArraySize(rng) == 4 &&
              cJSON_IsObject(ema) && read_count(ema, "step", &state->ema.step) && cJSON_IsBool(initted);
    if (ok && version->valuedouble != 1) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: training state version %g is newer than this library reads (1): "
                         "update libmeshgpt", path, version->valuedouble);
        goto done;
    }
    for (int i = 0; ok && i < 4; i++) {
        const cJSON *word = cJSON_GetArrayItem(rng, i);
        char *end = NULL;
        ok = cJSON_IsString(word) && strlen(word->valuestring) == 16;
        if (ok) {
            errno = 0;
            state->rng.s[i] = (uint64_t)strtoull(word->valuestring, &end, 16);
            ok = errno == 0 && end && *end == '\0';
        }
    }
    if (!ok) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the \"" MG_TRAIN_METADATA_KEY "\" metadata is malformed (it needs "
                         "format, version, step, rng as 4 hex words and ema {step, initted})", path);
        goto done;
    }
    state->ema.initted = cJSON_IsTrue(initted);
    const cJSON *trainer = cJSON_GetObjectItemCaseSensitive(root, "trainer");
    state->trainer_json = NULL;
    if (trainer && !cJSON_IsNull(trainer)) {
        state->trainer_json = cJSON_PrintUnformatted(trainer);
        if (!state->trainer_json)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    }
done:
    cJSON_Delete(root);
    return status;
}

/* ---- saving ---- */

/* fsync a file or a folder by path; folders may refuse (some file systems), which is not an error. */
static int sync_path(const char *path, bool folder)
{
    int fd = open(path, (folder ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return folder ? 0 : errno;
    int err = fsync(fd) == 0 || folder ? 0 : errno;
    close(fd);
    return err;
}

static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return join("", ".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, path, n);
        out[n] = '\0';
    }
    return out;
}

/* Moves the finished temporary file over `path` for good: checked, flushed, renamed, folder flushed. */
static mg_status commit(const char *temp, const char *path, size_t tensor_count, mg_diag *diag)
{
    mg_safetensors check;
    memset(&check, 0, sizeof check);
    mg_status status = mg_safetensors_open(temp, &check, diag);
    if (status == MG_OK && check.count != tensor_count)
        status = mg_fail(diag, MG_ERR_IO, "%s: read back %zu tensors instead of %zu", temp, check.count,
                         tensor_count);
    mg_safetensors_close(&check);
    if (status != MG_OK)
        return mg_fail(diag, MG_ERR_IO, "checkpoint '%s' was not saved (the previous one is kept): the written "
                       "file does not read back", path);
    int err = sync_path(temp, false);
    if (err)
        return mg_fail(diag, MG_ERR_IO, "checkpoint '%s' was not saved (the previous one is kept): cannot flush "
                       "%s: %s", path, temp, strerror(err));
    if (rename(temp, path) != 0)
        return mg_fail(diag, MG_ERR_IO, "checkpoint '%s' was not saved (the previous one is kept): cannot rename "
                       "%s: %s", path, temp, strerror(errno));
    char *folder = folder_of(path);
    if (folder)
        sync_path(folder, true);
    free(folder);
    return MG_OK;
}

/*
 * The model's registered buffers (LFQ masks, rotary frequencies, ...) that are not trained parameters, at the
 * values upstream computes for them, appended to tensors[*n] (room for `room`): so that the checkpoint loads as
 * a model file. Trained parameters missing from the list stay missing (the loader then says so).
 */
static mg_status add_buffers(const mg_model_config *config, mg_st_write_tensor *tensors, size_t *n, size_t room,
                             mg_diag *diag)
{
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    mg_status status = mg_model_weight_specs(config, config->has_transformer ? "autoencoder." : "", &specs,
                                             &spec_count, NULL, diag);
    for (size_t i = 0; status == MG_OK && i < spec_count; i++) {
        const mg_weight_spec *spec = &specs[i];
        if (!spec->buffer)
            continue;
        bool present = false;
        for (size_t j = 0; j < *n && !present; j++)
            present = strcmp(tensors[j].name, spec->name) == 0;
        if (present)
            continue;
        if (*n == room) {
            status = mg_fail(diag, MG_ERR_INTERNAL, "checkpoint: more model buffers than expected");
            break;
        }
        const size_t count = mg_spec_element_count(spec);
        const bool ints = spec->kind == MG_WEIGHT_INT;
        void *data = malloc((count ? count : 1) * (ints ? sizeof(int64_t) : sizeof(float)));
        char *name = join("", spec->name);
        mg_st_write_tensor *w = &tensors[(*n)++];
        memset(w, 0, sizeof *w);
        w->name = name;
        w->data = data;
        if (!data || !name) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
            break;
        }
        if (ints)
            mg_missing_init_ints(spec, data);
        else
            mg_missing_init_floats(spec, data);
        w->dtype = ints ? MG_ST_I64 : MG_ST_F32;
        w->ndim = spec->ndim;
        for (int d = 0; d < spec->ndim; d++)
            w->shape[d] = spec->shape[d];
    }
    free(specs);
    return status;
}

mg_status mg_train_checkpoint_save(const char *path, const mg_model_config *model_config,
                                   const mg_train_param *params, size_t count, const mg_train_state *state,
                                   mg_diag *diag)
{
    if (!path || !state)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_checkpoint_save: path and state must not be NULL");
    mg_status status = check_params(params, count, diag);
    if (status != MG_OK)
        return status;
    /* Room for the model's buffers too (a few per layer at most). */
    size_t max_tensors = count * SLOT_COUNT + (model_config ? 64 + count : 0);
    mg_st_write_tensor *tensors = calloc(max_tensors ? max_tensors : 1, sizeof *tensors);
    char *state_json = NULL, *model_json = NULL, *temp = NULL;
    size_t n = 0;
    if (!tensors) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        for (int k = 0; k < SLOT_COUNT && status == MG_OK; k++) {
            const mg_tensor *t = slot_tensor(&params[i], (slot_kind)k);
            if (!t)
                continue;
            mg_st_write_tensor *w = &tensors[n];
            float *data = malloc(t->count * sizeof *data);
            char *name = join(slot_prefix[k], params[i].name);
            w->name = name;
            w->data = data;
            n++;
            if (!data || !name) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory copying '%s'",
                                 params[i].name);
                break;
            }
            w->dtype = MG_ST_F32;
            w->ndim = t->ndim;
            for (int d = 0; d < t->ndim; d++)
                w->shape[d] = t->shape[d];
            status = mg_tensor_read_f32(t, data, t->count);
            if (status != MG_OK)
                mg_fail(diag, status, "checkpoint: cannot read '%s' from the device: %s", name,
                        mg_context_last_error(t->ctx));
        }
    }
    if (status == MG_OK && model_config)
        status = add_buffers(model_config, tensors, &n, max_tensors, diag);
    if (status != MG_OK)
        goto done;
    state_json = state_to_json(state, diag, &status);
    if (status != MG_OK)
        goto done;
    if (model_config && !(model_json = mg_model_config_to_json(model_config, false))) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        goto done;
    }
    /* A built-in text encoder's vocabulary is part of the model file. */
    mg_st_metadata metadata[4] = {{"format", "pt"}, {MG_TRAIN_METADATA_KEY, state_json},
                                  {MG_MODEL_METADATA_KEY, model_json}, {MG_MODEL_TEXT_VOCAB_KEY, ""}};
    size_t metadata_count = model_json ? 3 : 2;
    if (model_json && model_config->has_text_encoder && model_config->text_vocab)
        metadata[metadata_count++].value = model_config->text_vocab;
    temp = join(path, ".partial");
    if (!temp) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        goto done;
    }
    status = mg_safetensors_write(temp, tensors, n, metadata, metadata_count, diag);
    if (status != MG_OK) {
        char cause[MG_ERROR_MESSAGE_MAX];
        mg_diag_copy_error(diag, cause, sizeof cause);
        status = mg_fail(diag, status, "checkpoint '%s' was not saved (the previous one is kept): %s", path, cause);
    } else {
        status = commit(temp, path, n, diag);
    }
    if (status != MG_OK)
        remove(temp);
done:
    for (size_t i = 0; i < n; i++) {
        free((void *)tensors[i].name);
        free((void *)tensors[i].data);
    }
    free(tensors);
    free(state_json);
    free(model_json);
    free(temp);
    return status;
}

/* ---- loading ---- */

static bool shape_matches(const mg_st_tensor *st, const mg_tensor *t)
{
    if (st->ndim != t->ndim)
        return false;
    for (int d = 0; d < t->ndim; d++)
        if (st->shape[d] != t->shape[d])
            return false;
    return true;
}

mg_status mg_train_checkpoint_load(const char *path, const mg_train_param *params, size_t count,
                                   mg_train_state *state, mg_diag *diag)
{
    if (!path || !state)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_checkpoint_load: path and state must not be NULL");
    mg_status status = check_params(params, count, diag);
    if (status != MG_OK)
        return status;
    mg_safetensors file;
    memset(&file, 0, sizeof file);
    if ((status = mg_safetensors_open(path, &file, diag)) != MG_OK)
        return status;
    const mg_st_tensor **found = calloc(count * SLOT_COUNT + 1, sizeof *found);
    mg_train_state loaded;
    memset(&loaded, 0, sizeof loaded);
    float *staging = NULL;
    if (!found) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
        goto done;
    }
    const char *meta = mg_safetensors_metadata(&file, MG_TRAIN_METADATA_KEY);
    if (!meta) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: not a training checkpoint (no \"" MG_TRAIN_METADATA_KEY "\" "
                         "metadata); to start training from a model file, load it as a model instead", path);
        goto done;
    }
    if ((status = state_from_json(meta, path, &loaded, diag)) != MG_OK)
        goto done;
    /* Check everything before changing anything. */
    size_t problems = 0;
    char first[512] = "";
    for (size_t i = 0; i < count; i++) {
        for (int k = 0; k < SLOT_COUNT; k++) {
            const mg_tensor *t = slot_tensor(&params[i], (slot_kind)k);
            if (!t)
                continue;
            char *name = join(slot_prefix[k], params[i].name);
            if (!name) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
                goto done;
            }
            const mg_st_tensor *st = mg_safetensors_find(&file, name);
            const char *why = !st ? "is missing"
                              : st->dtype != MG_ST_F32 ? "is not F32"
                              : !shape_matches(st, t) ? "has another shape than the model's" : NULL;
            if (why) {
                if (problems++ == 0)
                    mg_format(first, sizeof first, "'%.200s' %s", name, why);
            }
            found[i * SLOT_COUNT + (size_t)k] = why ? NULL : st;
            free(name);
        }
    }
    if (problems) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the checkpoint does not fit this model: %s%s (%zu tensor%s in "
                         "all); resume with the same --config (and --autoencoder) as the run that wrote it", path,
                         first, problems > 1 ? " and more" : "", problems, problems == 1 ? "" : "s");
        goto done;
    }
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        for (int k = 0; k < SLOT_COUNT && status == MG_OK; k++) {
            mg_tensor *t = slot_tensor(&params[i], (slot_kind)k);
            const mg_st_tensor *st = found[i * SLOT_COUNT + (size_t)k];
            if (!t)
                continue;
            /* The data section has no alignment guarantee: copy through an aligned buffer. */
            float *copy = realloc(staging, t->count * sizeof *copy);
            if (!copy) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
                break;
            }
            staging = copy;
            memcpy(staging, st->data, t->count * sizeof *staging);
            status = mg_tensor_write_f32(t, staging, t->count);
        }
    }
    if (status == MG_OK) {
        *state = loaded;
        loaded.trainer_json = NULL;
    }
done:
    mg_train_state_free(&loaded);
    free(staging);
    free(found);
    mg_safetensors_close(&file);
    return status;
}
