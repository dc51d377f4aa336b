/*
 * Loading a model file: configuration (metadata or config.json), a check of
 * every tensor against the configuration that reports all problems at once,
 * then one upload of the weights to the context's backend.
 */
#include "model/model_file.h"

#include "model/tf_weights.h"

#include "core/context.h"
#include "core/half.h"
#include "model/missing_init.h"
#include "model/model_torch.h"
#include "text/bert_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AE_PREFIX "autoencoder."
#define MAX_CONFIG_FILE_BYTES (16u << 20)
#define MAX_LISTED_PROBLEMS 20
#define PROBLEM_TEXT_BUDGET 760  /* of the 1024-byte error message, leaving room for the sentence around it */

/* ---- configuration ---- */

/* *missing: the file could not be opened (nothing recorded: the caller explains what was looked for). */
static mg_status read_text_file(const char *path, char **out, size_t *size, bool *missing, int *open_errno,
                                mg_diag *diag)
{
    *out = NULL;
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = true;
        *open_errno = errno;
        return MG_ERR_IO;
    }
    char *text = malloc(MAX_CONFIG_FILE_BYTES + 1);
    if (!text) {
        fclose(f);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    size_t n = fread(text, 1, MAX_CONFIG_FILE_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(text);
        return mg_fail(diag, MG_ERR_IO, "cannot read %s", path);
    }
    if (n > MAX_CONFIG_FILE_BYTES) {
        free(text);
        return mg_fail(diag, MG_ERR_FORMAT, "%s is larger than 16 MiB: not a model config", path);
    }
    text[n] = '\0';
    *out = text;
    *size = n;
    return MG_OK;
}

/* The built-in text encoder's vocab.txt, which lives in its own metadata entry (it is large; the config stays
 * readable). */
static mg_status read_text_vocab(const mg_safetensors *file, const char *path, mg_model_config *config,
                                 mg_diag *diag)
{
    const char *vocab = mg_safetensors_metadata(file, MG_MODEL_TEXT_VOCAB_KEY);
    if (!vocab) {
        mg_model_config_free(config);
        return mg_fail(diag, MG_ERR_FORMAT, "%s has a built-in text encoder but no vocabulary (metadata \"%s\"): "
                       "the file is damaged; convert it again with --text-encoder", path, MG_MODEL_TEXT_VOCAB_KEY);
    }
    size_t n = strlen(vocab) + 1;
    config->text_vocab = malloc(n);
    if (!config->text_vocab) {
        mg_model_config_free(config);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    memcpy(config->text_vocab, vocab, n);
    return MG_OK;
}

mg_status mg_model_file_read_config(const mg_safetensors *file, const char *path, mg_model_config *config,
                                    bool *from_metadata, mg_diag *diag)
{
    const char *metadata = mg_safetensors_metadata(file, MG_MODEL_METADATA_KEY);
    if (from_metadata)
        *from_metadata = metadata != NULL;
    if (metadata) {
        mg_status status = mg_model_config_parse(metadata, strlen(metadata), config, diag);
        if (status == MG_OK && config->has_text_encoder)
            status = read_text_vocab(file, path, config, diag);
        return status;
    }

    /* config.json in the same folder, as meshgpt-pytorch checkpoints come. */
    size_t folder = 0;
    for (size_t i = 0; path[i]; i++)
        if (path[i] == '/' || path[i] == '\\')
            folder = i + 1;
    size_t need = folder + sizeof "config.json";
    char *config_path = malloc(need);
    if (!config_path)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    memcpy(config_path, path, folder);
    memcpy(config_path + folder, "config.json", sizeof "config.json");
    char *text = NULL;
    size_t size = 0;
    bool missing = false;
    int open_errno = 0;
    mg_status status = read_text_file(config_path, &text, &size, &missing, &open_errno, diag);
    if (missing && open_errno == ENOENT)
        status = mg_fail(diag, MG_ERR_FORMAT, "%s has no configuration: no \"%s\" entry in its metadata and no %s "
                         "beside it (meshgpt-pytorch's constructor arguments as JSON)", path, MG_MODEL_METADATA_KEY,
                         config_path);
    else if (missing)
        status = mg_fail(diag, MG_ERR_IO, "cannot open %s: %s", config_path, strerror(open_errno));
    if (status == MG_OK)
        status = mg_model_config_parse_kwargs_file(text, size, config_path, config, diag);
    free(text);
    free(config_path);
    return status;
}

const char *mg_model_file_ae_prefix(const mg_safetensors *file, const mg_model_config *config)
{
    if (config && config->has_transformer)
        return AE_PREFIX;
    for (size_t i = 0; file && i < file->count; i++)
        if (strncmp(file->tensors[i].name, AE_PREFIX, sizeof AE_PREFIX - 1) == 0)
            return AE_PREFIX;
    return "";
}

/* ---- opening ---- */

mg_status mg_model_file_open(const char *path, mg_safetensors *file, mg_diag *diag)
{
    /* torch.save checkpoints (.pt/.bin/.ckpt) are zip archives: recognised by content, not by name. */
    if (path && mg_torch_is_checkpoint_file(path)) {
        /* Trainer checkpoints: EMA weights unless MESHGPT_TORCH_WEIGHTS says "model". */
        const char *choice = getenv("MESHGPT_TORCH_WEIGHTS");
        mg_torch_options options = {.weights = !choice || !choice[0] || strcmp(choice, "auto") == 0
                                                   ? MG_TORCH_WEIGHTS_AUTO
                                               : strcmp(choice, "ema") == 0 ? MG_TORCH_WEIGHTS_EMA
                                                                            : MG_TORCH_WEIGHTS_MODEL};
        if (choice && choice[0] && strcmp(choice, "auto") && strcmp(choice, "ema") && strcmp(choice, "model"))
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "MESHGPT_TORCH_WEIGHTS=\"%.40s\": use auto, model or ema",
                           choice);
        return mg_torch_checkpoint_open(path, &options, file, diag);
    }
    return mg_safetensors_open(path, file, diag);
}

/* ---- checking ---- */

typedef struct problem_list {
    char text[PROBLEM_TEXT_BUDGET];
    size_t used;
    size_t total, listed;
    mg_diag *diag;
} problem_list;

static void format_shape(char *out, size_t size, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size)
        snprintf(out + used, size - used, "]");
}

static void problem(problem_list *p, const char *fmt, ...) MG_PRINTF(2, 3);

static void problem(problem_list *p, const char *fmt, ...)
{
    char line[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    p->total++;
    /* Everything goes to the log; the error message lists what fits. */
    mg_log(p->diag, MG_LOG_INFO, "model check: %s", line);
    size_t len = strlen(line);
    if (p->listed < MAX_LISTED_PROBLEMS && p->used + len + 3 < sizeof p->text) {
        p->used += (size_t)snprintf(p->text + p->used, sizeof p->text - p->used, "%s%s", p->listed ? "; " : "", line);
        p->listed++;
    }
}

static int compare_spec_pointers(const void *a, const void *b)
{
    return strcmp((*(const mg_weight_spec *const *)a)->name, (*(const mg_weight_spec *const *)b)->name);
}

static int compare_desc_names(const void *a, const void *b)
{
    return strcmp(((const mg_tensor_desc *)a)->name, ((const mg_tensor_desc *)b)->name);
}

static bool dtype_fits(mg_weight_kind kind, mg_st_dtype dtype)
{
    if (kind == MG_WEIGHT_INT)
        return dtype == MG_ST_I64 || dtype == MG_ST_I32;
    return dtype == MG_ST_F32 || dtype == MG_ST_F16 || dtype == MG_ST_BF16 || dtype == MG_ST_F64;
}

mg_status mg_model_check_tensors(const mg_tensor_desc *tensors, size_t count, const mg_weight_spec *specs,
                                 size_t spec_count, const char *prefix, const char *source, mg_diag *diag)
{
    return mg_model_check_tensors_allowing(tensors, count, specs, spec_count, prefix, source, false, NULL, diag);
}

/* The warning that lists what allow_missing let through (the error message's budget and format). */
static void warn_allowed(const problem_list *missing, const problem_list *unexpected, const char *source,
                         mg_diag *diag)
{
    char more[48] = "";
    if (missing->total) {
        if (missing->total > missing->listed)
            mg_format(more, sizeof more, "; and %zu more", missing->total - missing->listed);
        mg_log(diag, MG_LOG_WARN, "%s: %zu tensor%s missing, initialised (norm gains neutral, rotary frequencies "
               "and LFQ masks as upstream computes them, everything else 0): %s%s", source, missing->total,
               missing->total == 1 ? "" : "s", missing->text, more);
    }
    if (unexpected->total) {
        more[0] = '\0';
        if (unexpected->total > unexpected->listed)
            mg_format(more, sizeof more, "; and %zu more", unexpected->total - unexpected->listed);
        mg_log(diag, MG_LOG_WARN, "%s: %zu unexpected tensor%s ignored: %s%s", source, unexpected->total,
               unexpected->total == 1 ? "" : "s", unexpected->text, more);
    }
}

mg_status mg_model_check_tensors_allowing(const mg_tensor_desc *tensors, size_t count, const mg_weight_spec *specs,
                                          size_t spec_count, const char *prefix, const char *source,
                                          bool allow_missing, size_t *missing_count, mg_diag *diag)
{
    if (missing_count)
        *missing_count = 0;
    problem_list *p = calloc(3, sizeof *p);
    mg_tensor_desc *sorted = malloc((count ? count : 1) * sizeof *sorted);
    const mg_weight_spec **by_name = malloc((spec_count ? spec_count : 1) * sizeof *by_name);
    if (!p || !sorted || !by_name) {
        free(p);
        free(sorted);
        free(by_name);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory checking %s", source);
    }
    problem_list *missing = allow_missing ? &p[1] : p, *unexpected = allow_missing ? &p[2] : p;
    p[0].diag = p[1].diag = p[2].diag = diag;
    memcpy(sorted, tensors, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, compare_desc_names);
    for (size_t i = 0; i < spec_count; i++)
        by_name[i] = &specs[i];
    qsort(by_name, spec_count, sizeof *by_name, compare_spec_pointers);

    char have[96], want[96];
    for (size_t i = 0; i < spec_count; i++) {
        const mg_weight_spec *s = &specs[i];
        mg_tensor_desc key = {.name = s->name};
        const mg_tensor_desc *t = bsearch(&key, sorted, count, sizeof key, compare_desc_names);
        format_shape(want, sizeof want, s->ndim, s->shape);
        if (!t) {
            if (!s->optional)
                problem(missing, allow_missing ? "'%s' %s" : "missing '%s' %s", s->name, want);
            continue;
        }
        bool same = t->ndim == s->ndim;
        for (int d = 0; same && d < s->ndim; d++)
            same = t->shape[d] == s->shape[d];
        if (!same) {
            format_shape(have, sizeof have, t->ndim, t->shape);
            problem(p, "'%s' has shape %s, expected %s", s->name, have, want);
        }
        if (!dtype_fits(s->kind, t->dtype))
            problem(p, "'%s' is %s, expected %s", s->name, mg_st_dtype_name(t->dtype),
                    s->kind == MG_WEIGHT_INT ? "an integer dtype (I64 or I32)" : "a float dtype (F32, F16, BF16 or F64)");
    }
    size_t prefix_len = strlen(prefix);
    for (size_t i = 0; i < count; i++) {
        if (strncmp(sorted[i].name, prefix, prefix_len) != 0)
            continue;
        /* A training checkpoint (train/checkpoint.h) is a model file plus optimizer state under "train.". */
        if (strncmp(sorted[i].name, "train.", 6) == 0)
            continue;
        mg_weight_spec key_spec;
        snprintf(key_spec.name, sizeof key_spec.name, "%s", sorted[i].name);
        const mg_weight_spec *key = &key_spec;
        if (strlen(sorted[i].name) >= sizeof key_spec.name ||
            !bsearch(&key, by_name, spec_count, sizeof *by_name, compare_spec_pointers)) {
            format_shape(have, sizeof have, sorted[i].ndim, sorted[i].shape);
            problem(unexpected, allow_missing ? "'%s' %s" : "unexpected '%s' %s", sorted[i].name, have);
        }
    }
    mg_status status = MG_OK;
    if (p->total > 0) {
        char more[48] = "";
        if (p->total > p->listed)
            mg_format(more, sizeof more, "; and %zu more", p->total - p->listed);
        status = mg_fail(diag, MG_ERR_FORMAT, "%s does not match its autoencoder config (%zu problem%s): %s%s. Check "
                         "that the config belongs to these weights", source, p->total, p->total == 1 ? "" : "s",
                         p->text, more);
    } else if (allow_missing) {
        warn_allowed(missing, unexpected, source, diag);
        if (missing_count)
            *missing_count = missing->total;
    }
    free(p);
    free(sorted);
    free(by_name);
    return status;
}

/* ---- loading ---- */

mg_status mg_weight_upload_float(mg_context *ctx, const mg_st_tensor *t, int ndim, const int64_t *shape, mg_tensor **out)
{
    mg_dtype dtype = t->dtype == MG_ST_F16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    mg_status status = mg_tensor_create(ctx, dtype, ndim, shape, out);
    if (status != MG_OK)
        return status;
    if (t->dtype == MG_ST_F32 || t->dtype == MG_ST_F16)
        return mg_tensor_write(*out, t->data, (size_t)(t->end - t->begin));
    float *values = malloc((size_t)t->count * sizeof *values);
    if (!values)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting '%s'", t->name);
    for (uint64_t i = 0; i < t->count; i++) {
        if (t->dtype == MG_ST_BF16) {
            uint16_t bits;
            memcpy(&bits, t->data + 2 * i, 2);
            uint32_t wide = (uint32_t)bits << 16; /* bfloat16 is the top half of a float */
            memcpy(&values[i], &wide, 4);
        } else {
            double v;
            memcpy(&v, t->data + 8 * i, 8);
            values[i] = (float)v;
        }
    }
    status = mg_tensor_write_f32(*out, values, (size_t)t->count);
    free(values);
    return status;
}

static mg_status copy_ints(mg_context *ctx, const mg_st_tensor *t, mg_weight *w)
{
    w->ints = malloc((size_t)(t->count ? t->count : 1) * sizeof *w->ints);
    if (!w->ints)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", t->name);
    for (uint64_t i = 0; i < t->count; i++) {
        if (t->dtype == MG_ST_I64) {
            memcpy(&w->ints[i], t->data + 8 * i, 8);
        } else {
            int32_t v;
            memcpy(&v, t->data + 4 * i, 4);
            w->ints[i] = v;
        }
    }
    return MG_OK;
}

/* A MeshTransformer file: its own tensors are expected and loaded beside the autoencoder's. */
static mg_status add_transformer_specs(const mg_model_config *config, mg_tf_config *transformer,
                                       mg_weight_spec **specs, size_t *spec_count, mg_diag *diag)
{
    if (!config->has_transformer)
        return MG_OK;
    mg_status status = mg_tf_config_parse(config->transformer_json, &config->autoencoder, transformer, diag);
    mg_weight_spec *more = NULL;
    size_t more_count = 0;
    if (status == MG_OK)
        status = mg_tf_weight_specs(transformer, &more, &more_count, diag);
    if (status != MG_OK)
        return status;
    mg_weight_spec *all = realloc(*specs, (*spec_count + more_count) * sizeof *all);
    if (!all) {
        free(more);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory listing the transformer's tensors");
    }
    memcpy(all + *spec_count, more, more_count * sizeof *more);
    free(more);
    *specs = all;
    *spec_count += more_count;
    return MG_OK;
}

mg_status mg_model_weight_specs(const mg_model_config *config, const char *prefix, mg_weight_spec **specs,
                                size_t *count, mg_tf_config *transformer, mg_diag *diag)
{
    mg_tf_config local;
    if (!transformer)
        transformer = &local;
    memset(transformer, 0, sizeof *transformer);
    mg_status status = mg_ae_weight_specs(&config->autoencoder, prefix, specs, count, diag);
    if (status == MG_OK)
        status = add_transformer_specs(config, transformer, specs, count, diag);
    if (status == MG_OK && config->has_text_encoder)
        status = mg_bert_weight_specs(&config->text_encoder, MG_MODEL_TEXT_ENCODER_PREFIX, specs, count, diag);
    if (status != MG_OK) {
        free(*specs);
        *specs = NULL;
        *count = 0;
    }
    return status;
}

/* A tensor the file lacks, with the value missing_init.h documents (allow_missing only). */
static mg_status upload_initialised(mg_context *ctx, const mg_weight_spec *spec, mg_weight *w)
{
    size_t n = mg_spec_element_count(spec);
    w->count = n;
    if (spec->kind == MG_WEIGHT_INT) {
        w->ints = malloc((n ? n : 1) * sizeof *w->ints);
        if (!w->ints)
            return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory initialising '%s'", spec->name);
        mg_missing_init_ints(spec, w->ints);
        return MG_OK;
    }
    float *values = malloc((n ? n : 1) * sizeof *values);
    if (!values)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory initialising '%s'", spec->name);
    mg_missing_init_floats(spec, values);
    mg_status status = mg_tensor_create(ctx, MG_DTYPE_F32, spec->ndim, spec->shape, &w->tensor);
    if (status == MG_OK)
        status = mg_tensor_write_f32(w->tensor, values, n);
    free(values);
    return status;
}

static mg_status upload(mg_context *ctx, const mg_safetensors *file, const mg_weight_spec *specs, size_t spec_count,
                        bool allow_missing, mg_weights *weights)
{
    weights->items = calloc(spec_count ? spec_count : 1, sizeof *weights->items);
    if (!weights->items)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading the weights");
    for (size_t i = 0; i < spec_count; i++) {
        const mg_st_tensor *t = mg_safetensors_find(file, specs[i].name);
        if (!t && (specs[i].optional || !allow_missing))
            continue; /* optional and absent: the check passed */
        mg_weight *w = &weights->items[weights->count++];
        snprintf(w->name, sizeof w->name, "%s", specs[i].name);
        if (!t) {
            mg_status status = upload_initialised(ctx, &specs[i], w);
            if (status != MG_OK)
                return status;
            continue;
        }
        w->count = (size_t)t->count;
        mg_status status = specs[i].kind == MG_WEIGHT_INT ? copy_ints(ctx, t, w)
                                                          : mg_weight_upload_float(ctx, t, specs[i].ndim, specs[i].shape, &w->tensor);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

static mg_tensor_desc *describe(const mg_safetensors *file)
{
    mg_tensor_desc *d = malloc((file->count ? file->count : 1) * sizeof *d);
    for (size_t i = 0; d && i < file->count; i++)
        d[i] = (mg_tensor_desc){file->tensors[i].name, file->tensors[i].dtype, file->tensors[i].ndim,
                                file->tensors[i].shape};
    return d;
}

void mg_model_file_info_free(mg_model_file_info *info)
{
    if (!info)
        return;
    free(info->config_json);
    free(info->text_vocab);
    memset(info, 0, sizeof *info);
}

mg_status mg_model_file_load(mg_context *ctx, const char *path, mg_model_file_info *info, mg_weights *weights)
{
    return mg_model_file_load_with(ctx, path, false, info, weights);
}

mg_status mg_model_file_load_with(mg_context *ctx, const char *path, bool allow_missing, mg_model_file_info *info,
                                  mg_weights *weights)
{
    mg_status status = mg_context_check(ctx, "mg_model_file_load");
    if (status != MG_OK)
        return status;
    if (!path || !info || !weights)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_model_file_load: NULL argument");
    memset(info, 0, sizeof *info);
    memset(weights, 0, sizeof *weights);
    mg_diag *diag = &ctx->diag;

    mg_safetensors file;
    status = mg_model_file_open(path, &file, diag);
    if (status != MG_OK)
        return status;
    mg_model_config config;
    memset(&config, 0, sizeof config);
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    mg_tensor_desc *descs = NULL;
    status = mg_model_file_read_config(&file, path, &config, NULL, diag);
    const char *prefix = mg_model_file_ae_prefix(&file, &config);
    mg_tf_config transformer;
    if (status == MG_OK)
        status = mg_model_weight_specs(&config, prefix, &specs, &spec_count, &transformer, diag);
    if (status == MG_OK && !(descs = describe(&file)))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory checking %s", path);
    if (status == MG_OK)
        status = mg_model_check_tensors_allowing(descs, file.count, specs, spec_count,
                                                 config.has_transformer ? "" : prefix, path, allow_missing, NULL, diag);
    if (status == MG_OK && prefix[0] && !config.has_transformer) {
        size_t outside = 0;
        for (size_t i = 0; i < file.count; i++)
            outside += strncmp(file.tensors[i].name, prefix, strlen(prefix)) != 0;
        if (outside)
            mg_log(diag, MG_LOG_WARN, "%s: %zu tensors outside '%s' are ignored: the config has no transformer",
                   path, outside, prefix);
    }
    if (status == MG_OK)
        status = upload(ctx, &file, specs, spec_count, allow_missing, weights);
    if (status == MG_OK) {
        info->config_json = mg_model_config_to_json(&config, false);
        if (!info->config_json)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (status == MG_OK) {
        info->has_autoencoder = true;
        info->autoencoder = config.autoencoder;
        info->autoencoder_prefix = prefix;
        info->has_transformer = config.has_transformer;
        info->transformer = transformer;
        info->has_text_encoder = config.has_text_encoder;
        info->text_encoder = config.text_encoder;
        info->text_vocab = config.text_vocab; /* moved */
        info->sampling = config.sampling;
        config.text_vocab = NULL;
    } else {
        mg_weights_free(weights);
        mg_model_file_info_free(info);
    }
    free(descs);
    free(specs);
    mg_model_config_free(&config);
    mg_safetensors_close(&file);
    return status;
}
