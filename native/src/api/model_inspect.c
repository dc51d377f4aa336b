/*
 * mg_model_inspect (`meshgpt info`): reads a model file's header and
 * configuration and describes them. Nothing is uploaded, so it works without
 * a device and on files too large for one.
 */
#include "meshgpt.h"

#include "core/diag.h"
#include "model/model_file.h"
#include "model/model_torch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_buffer {
    char *data;
    size_t used, capacity;
    bool failed;
} text_buffer;

static void append(text_buffer *t, const char *fmt, ...) MG_PRINTF(2, 3);

static void append(text_buffer *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        size_t room = t->capacity - t->used;
        va_list args;
        va_start(args, fmt);
        int n = room ? vsnprintf(t->data + t->used, room, fmt, args) : -1;
        va_end(args);
        if (n >= 0 && (size_t)n < room) {
            t->used += (size_t)n;
            return;
        }
        size_t need = t->capacity ? t->capacity * 2 : 4096;
        while (n >= 0 && need < t->used + (size_t)n + 1)
            need *= 2;
        char *grown = realloc(t->data, need);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->capacity = need;
    }
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t value, char *out, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

typedef struct module_count {
    char name[64];
    uint64_t parameters, buffers;
} module_count;

static module_count *module_slot(module_count *modules, size_t *count, size_t capacity, const char *name,
                                 size_t name_len)
{
    if (name_len >= sizeof modules[0].name)
        name_len = sizeof modules[0].name - 1;
    for (size_t i = 0; i < *count; i++)
        if (strlen(modules[i].name) == name_len && strncmp(modules[i].name, name, name_len) == 0)
            return &modules[i];
    if (*count == capacity)
        return &modules[capacity - 1]; /* "other" collects the rest */
    module_count *m = &modules[(*count)++];
    memcpy(m->name, name, name_len);
    m->name[name_len] = '\0';
    return m;
}

static const mg_weight_spec *find_spec(const mg_weight_spec *specs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

/* The warnings of an allow_missing check, for the report. */
static void capture_warning(mg_log_level level, const char *message, void *user_data)
{
    if (level >= MG_LOG_WARN)
        append(user_data, "\n  %s", message);
}

static void describe(text_buffer *out, const char *path, const mg_safetensors *file, const mg_model_config *config,
                     bool from_metadata, const char *config_source, const mg_weight_spec *specs, size_t spec_count,
                     const char *prefix, mg_status check, const char *check_message, const char *allowed)
{
    char a[32], b[32];
    size_t prefix_len = strlen(prefix);
    append(out, "file:        %s\n", path);
    append(out, "size:        %s bytes of tensor data, %zu tensors\n", grouped(file->data_size, a, sizeof a),
           file->count);
    if (config_source)
        append(out, "config:      %s\n", config_source);
    else if (from_metadata)
        append(out, "config:      from the \"%s\" metadata entry\n", MG_MODEL_METADATA_KEY);
    else
        append(out, "config:      from config.json beside the file (meshgpt-pytorch constructor arguments)\n");
    append(out, "autoencoder: state-dict names under \"%s\"\n", prefix);

    size_t dtype_counts[MG_ST_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < file->count; i++)
        dtype_counts[file->tensors[i].dtype]++;
    append(out, "dtypes:     ");
    for (int d = 0; d < MG_ST_DTYPE_COUNT; d++)
        if (dtype_counts[d])
            append(out, " %s (%zu tensor%s)", mg_st_dtype_name((mg_st_dtype)d), dtype_counts[d],
                   dtype_counts[d] == 1 ? "" : "s");
    append(out, "\n\nconfiguration:\n");
    char *json = mg_model_config_to_json(config, true);
    if (json)
        append(out, "%s\n", json);
    else
        out->failed = true;
    free(json);

    /* Modules in the order the config lists them, then any the file adds. */
    enum { MAX_MODULES = 48 };
    module_count modules[MAX_MODULES];
    memset(modules, 0, sizeof modules);
    size_t module_total = 0;
    for (size_t i = 0; i < spec_count; i++) {
        const char *rest = specs[i].name + prefix_len;
        module_slot(modules, &module_total, MAX_MODULES, rest, strcspn(rest, "."));
    }
    uint64_t ae_parameters = 0, ae_buffers = 0, outside = 0, text_encoder = 0, training = 0;
    size_t outside_tensors = 0, text_encoder_tensors = 0, training_tensors = 0;
    const size_t text_prefix_len = strlen(MG_MODEL_TEXT_ENCODER_PREFIX);
    for (size_t i = 0; i < file->count; i++) {
        const mg_st_tensor *t = &file->tensors[i];
        if (strncmp(t->name, "train.", 6) == 0) { /* a training checkpoint's optimizer state */
            training += t->count;
            training_tensors++;
            continue;
        }
        if (config->has_text_encoder && strncmp(t->name, MG_MODEL_TEXT_ENCODER_PREFIX, text_prefix_len) == 0) {
            text_encoder += t->count;
            text_encoder_tensors++;
            continue;
        }
        if (strncmp(t->name, prefix, prefix_len) != 0) {
            outside += t->count;
            outside_tensors++;
            continue;
        }
        const char *rest = t->name + prefix_len;
        module_count *m = module_slot(modules, &module_total, MAX_MODULES, rest, strcspn(rest, "."));
        const mg_weight_spec *spec = find_spec(specs, spec_count, t->name);
        if (spec && spec->buffer) {
            m->buffers += t->count;
            ae_buffers += t->count;
        } else {
            m->parameters += t->count;
            ae_parameters += t->count;
        }
    }
    append(out, "\nparameters per module:\n");
    for (size_t i = 0; i < module_total; i++) {
        append(out, "  %-28s %14s", modules[i].name, grouped(modules[i].parameters, a, sizeof a));
        if (modules[i].buffers)
            append(out, "  (+ %s buffer values)", grouped(modules[i].buffers, b, sizeof b));
        append(out, "\n");
    }
    append(out, "  autoencoder total: %s parameters (+ %s buffer values)\n", grouped(ae_parameters, a, sizeof a),
           grouped(ae_buffers, b, sizeof b));
    if (outside_tensors)
        append(out, "  %s total: %s values in %zu tensors (%s)\n", config->has_transformer ? "transformer" : "other",
               grouped(outside, a, sizeof a), outside_tensors,
               config->has_transformer ? "not used by the tokenizer" : "ignored: the config has no transformer");
    if (text_encoder_tensors)
        append(out, "  text encoder total: %s parameters in %zu tensors (built-in BERT: %zu layers, width %zu, "
               "vocabulary of %zu)\n", grouped(text_encoder, a, sizeof a), text_encoder_tensors,
               config->text_encoder.layers, config->text_encoder.hidden, config->text_encoder.vocab);
    if (training_tensors)
        append(out, "  training state: %s values in %zu tensors (a training checkpoint: Adam moments, EMA)\n",
               grouped(training, a, sizeof a), training_tensors);
    if (check == MG_OK && allowed && allowed[0])
        append(out, "\ncheck: OK only with allow_missing:%s\n", allowed);
    else if (check == MG_OK)
        append(out, "\ncheck: OK, all %zu autoencoder tensors the config expects are present with their shapes and "
               "dtypes\n", spec_count);
    else
        append(out, "\ncheck: FAILED: %s\n", check_message);
}

mg_status mg_model_inspect(const char *path, char **out_text, char *error, size_t error_size)
{
    return mg_model_inspect_with(path, NULL, out_text, error, error_size);
}

mg_status mg_model_inspect_with(const char *path, const mg_model_load_params *params, char **out_text, char *error,
                                size_t error_size)
{
    bool allow_missing = params && params->allow_missing;
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_WARN);
    if (error && error_size)
        error[0] = '\0';
    mg_status status = MG_OK;
    if (!path || !out_text) {
        status = mg_fail(&diag, MG_ERR_INVALID_ARGUMENT, "mg_model_inspect: path and out_text must not be NULL");
        mg_diag_copy_error(&diag, error, error_size);
        mg_diag_destroy(&diag);
        return status;
    }
    *out_text = NULL;
    mg_safetensors file;
    mg_model_config config;
    memset(&config, 0, sizeof config);
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    mg_tensor_desc *descs = NULL;
    bool from_metadata = false;
    status = mg_model_file_open(path, &file, &diag);
    if (status == MG_OK)
        status = mg_model_file_read_config(&file, path, &config, &from_metadata, &diag);
    const char *prefix = status == MG_OK ? mg_model_file_ae_prefix(&file, &config) : "";
    if (status == MG_OK)
        status = mg_ae_weight_specs(&config.autoencoder, prefix, &specs, &spec_count, &diag);
    if (status == MG_OK && !(descs = malloc((file.count ? file.count : 1) * sizeof *descs)))
        status = mg_fail(&diag, MG_ERR_OUT_OF_MEMORY, "out of memory inspecting %s", path);
    if (status == MG_OK) {
        for (size_t i = 0; i < file.count; i++)
            descs[i] = (mg_tensor_desc){file.tensors[i].name, file.tensors[i].dtype, file.tensors[i].ndim,
                                        file.tensors[i].shape};
        /* A mismatch is part of the report, not a failure of the report. With allow_missing, what the loader
         * would initialise or ignore (its warnings) is reported too. */
        text_buffer allowed = {0};
        mg_diag check_diag;
        mg_diag_init(&check_diag, capture_warning, &allowed, allow_missing ? MG_LOG_WARN : MG_LOG_NONE);
        mg_status check = mg_model_check_tensors_allowing(descs, file.count, specs, spec_count, prefix, path,
                                                          allow_missing, NULL, &check_diag);
        char check_message[MG_ERROR_MESSAGE_MAX] = "";
        if (check != MG_OK)
            mg_diag_copy_error(&check_diag, check_message, sizeof check_message);
        mg_diag_destroy(&check_diag);
        /* The words of a checkpoint's configuration source (only a checkpoint's reader writes them). */
        const char *config_source = mg_torch_is_checkpoint_file(path)
                                        ? mg_safetensors_metadata(&file, MG_TORCH_CONFIG_SOURCE_KEY)
                                        : NULL;
        text_buffer report = {0};
        describe(&report, path, &file, &config, from_metadata, config_source, specs, spec_count, prefix, check,
                 check_message, allowed.data);
        if (allowed.failed)
            report.failed = true;
        free(allowed.data);
        if (report.failed) {
            free(report.data);
            status = mg_fail(&diag, MG_ERR_OUT_OF_MEMORY, "out of memory writing the report on %s", path);
        } else {
            *out_text = report.data;
        }
    }
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    free(descs);
    free(specs);
    mg_model_config_free(&config);
    mg_safetensors_close(&file); /* zeroed when opening failed */
    mg_diag_destroy(&diag);
    return status;
}

void mg_string_free(char *text)
{
    free(text);
}
