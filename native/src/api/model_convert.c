/*
 * mg_model_convert (`meshgpt convert`): any model file the loader reads
 * (PyTorch checkpoint or .safetensors) written once in this project's format,
 * optionally with the float tensors in another dtype.
 */
#include "meshgpt.h"

#include "api/model_text_embed.h"
#include "core/diag.h"
#include "core/half.h"
#include "model/missing_init.h"
#include "model/model_file.h"
#include "model/model_torch.h"
#include "model/model_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_FILE_BYTES (16u << 20)

static bool is_float(mg_st_dtype d)
{
    return d == MG_ST_F32 || d == MG_ST_F16 || d == MG_ST_BF16 || d == MG_ST_F64;
}

static float load_float(mg_st_dtype d, const uint8_t *p)
{
    float v;
    uint16_t h;
    switch (d) {
    case MG_ST_F16:
        memcpy(&h, p, 2);
        return mg_half_to_float(h);
    case MG_ST_BF16: {
        memcpy(&h, p, 2);
        uint32_t wide = (uint32_t)h << 16;
        memcpy(&v, &wide, 4);
        return v;
    }
    case MG_ST_F64: {
        double x;
        memcpy(&x, p, 8);
        return (float)x;
    }
    default:
        memcpy(&v, p, 4);
        return v;
    }
}

/* Round to nearest even; NaN stays NaN. */
static uint16_t float_to_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu))
        return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static void *convert_tensor(const mg_st_tensor *t, mg_st_dtype to)
{
    size_t out_elem = mg_st_dtype_size(to);
    uint8_t *out = malloc(t->count ? (size_t)t->count * out_elem : 1);
    if (!out)
        return NULL;
    size_t in_elem = mg_st_dtype_size(t->dtype);
    for (uint64_t i = 0; i < t->count; i++) {
        float v = load_float(t->dtype, t->data + i * in_elem);
        if (to == MG_ST_F32) {
            memcpy(out + 4 * i, &v, 4);
        } else {
            uint16_t h = to == MG_ST_F16 ? mg_float_to_half(v) : float_to_bf16(v);
            memcpy(out + 2 * i, &h, 2);
        }
    }
    return out;
}

static mg_status read_config_path(const char *path, mg_model_config *config, mg_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_fail(diag, MG_ERR_IO, "cannot open the config %s", path);
    char *text = malloc(MAX_CONFIG_FILE_BYTES + 1);
    size_t n = text ? fread(text, 1, MAX_CONFIG_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!text)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    mg_status status = n > MAX_CONFIG_FILE_BYTES
                           ? mg_fail(diag, MG_ERR_FORMAT, "%s is over 16 MiB: not a model config", path)
                           : mg_model_config_parse_kwargs_file(text, n, path, config, diag);
    free(text);
    return status;
}

static bool is_expected(const mg_weight_spec *specs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(specs[i].name, name) == 0)
            return true;
    return false;
}

/* Applies "key=value,key=value" (or "none": no recommendation) to the file's sampling settings. */
static mg_status set_sampling(const char *text, mg_sampling_config *sampling, mg_diag *diag)
{
    if (strcmp(text, "none") == 0) {
        memset(sampling, 0, sizeof *sampling);
        return MG_OK;
    }
    for (const char *p = text; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[128];
        if (len == 0 || len >= sizeof item)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "sampling: give key=value pairs separated by commas, "
                           "e.g. temperature=0.5,cond_scale=2 (or none), not \"%s\"", text);
        memcpy(item, p, len);
        item[len] = '\0';
        char *equals = strchr(item, '='), *end = NULL;
        double value = equals ? strtod(equals + 1, &end) : 0.0;
        if (!equals || end == equals + 1 || *end != '\0')
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "sampling: \"%s\" is not key=number (e.g. "
                           "temperature=0.5)", item);
        *equals = '\0';
        mg_status status = mg_sampling_config_set(sampling, item, value, diag);
        if (status != MG_OK)
            return status;
        p += len + (comma ? 1 : 0);
    }
    return MG_OK;
}

/* allow_missing: the tensors to write are the file's expected ones plus the missing ones initialised (missing_init.h);
 * unexpected ones are dropped. The check warns about both and still refuses mis-shaped or wrong-dtype tensors.
 * tensors[] has room for file->count + spec_count; new buffers go to buffers[] (same room). */
static mg_status complete_tensors(const mg_safetensors *file, const mg_model_config *config, const char *input,
                                  mg_st_write_tensor *tensors, void **buffers, size_t *count, mg_diag *diag)
{
    const char *prefix = mg_model_file_ae_prefix(file, config);
    const char *checked = config->has_transformer ? "" : prefix;
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    mg_tensor_desc *descs = malloc((file->count ? file->count : 1) * sizeof *descs);
    mg_status status = descs ? mg_model_weight_specs(config, prefix, &specs, &spec_count, NULL, diag)
                             : mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting %s", input);
    for (size_t i = 0; status == MG_OK && i < file->count; i++)
        descs[i] = (mg_tensor_desc){file->tensors[i].name, file->tensors[i].dtype, file->tensors[i].ndim,
                                    file->tensors[i].shape};
    if (status == MG_OK)
        status = mg_model_check_tensors_allowing(descs, file->count, specs, spec_count, checked, input, true, NULL,
                                                 diag);
    /* Drop the unexpected tensors under the checked prefix (the caller's list follows file->tensors' order). */
    size_t kept = 0;
    size_t checked_len = strlen(checked);
    for (size_t i = 0; status == MG_OK && i < *count; i++) {
        if (strncmp(tensors[i].name, checked, checked_len) == 0 && !is_expected(specs, spec_count, tensors[i].name)) {
            free(buffers[i]);
            buffers[i] = NULL;
            continue;
        }
        tensors[kept] = tensors[i];
        void *buffer = buffers[i];
        buffers[i] = NULL;
        buffers[kept++] = buffer;
    }
    if (status == MG_OK)
        *count = kept;
    for (size_t i = 0; status == MG_OK && i < spec_count; i++) {
        const mg_weight_spec *spec = &specs[i];
        if (spec->optional || mg_safetensors_find(file, spec->name))
            continue;
        size_t n = mg_spec_element_count(spec);
        bool ints = spec->kind == MG_WEIGHT_INT;
        void *values = malloc((n ? n : 1) * (ints ? sizeof(int64_t) : sizeof(float)));
        if (!values) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory initialising '%s'", spec->name);
            break;
        }
        if (ints)
            mg_missing_init_ints(spec, values);
        else
            mg_missing_init_floats(spec, values);
        mg_st_write_tensor *w = &tensors[*count];
        buffers[*count] = values;
        (*count)++;
        memset(w, 0, sizeof *w);
        w->name = spec->name;
        w->dtype = ints ? MG_ST_I64 : MG_ST_F32;
        w->ndim = spec->ndim;
        memcpy(w->shape, spec->shape, (size_t)spec->ndim * sizeof *spec->shape);
        w->data = values;
    }
    free(descs);
    if (status != MG_OK) {
        free(specs);
        return status;
    }
    /* The names of the added tensors live in specs: keep them until written (freed by the caller). */
    buffers[file->count + spec_count] = specs;
    return MG_OK;
}

static mg_status convert(const char *input, const char *output, const mg_convert_params *params, mg_diag *diag)
{
    mg_torch_options options = {.config_path = params ? params->config_path : NULL};
    const char *weights = params && params->weights ? params->weights : "auto";
    if (strcmp(weights, "auto") == 0)
        options.weights = MG_TORCH_WEIGHTS_AUTO;
    else if (strcmp(weights, "model") == 0)
        options.weights = MG_TORCH_WEIGHTS_MODEL;
    else if (strcmp(weights, "ema") == 0)
        options.weights = MG_TORCH_WEIGHTS_EMA;
    else
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "weights \"%s\": use auto, model or ema", weights);
    bool change = params && params->dtype;
    mg_st_dtype to = MG_ST_F32;
    if (change && strcmp(params->dtype, "f32") != 0 && strcmp(params->dtype, "f16") != 0 &&
        strcmp(params->dtype, "bf16") != 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "dtype \"%s\": use f32, f16 or bf16", params->dtype);
    if (change)
        to = strcmp(params->dtype, "f16") == 0 ? MG_ST_F16 : strcmp(params->dtype, "bf16") == 0 ? MG_ST_BF16 : MG_ST_F32;

    mg_safetensors file;
    bool torch = mg_torch_is_checkpoint_file(input);
    mg_status status = torch ? mg_torch_checkpoint_open(input, &options, &file, diag)
                             : mg_safetensors_open(input, &file, diag);
    if (status != MG_OK)
        return status;
    mg_model_config config;
    memset(&config, 0, sizeof config);
    if (!torch && options.config_path)
        status = read_config_path(options.config_path, &config, diag);
    else
        status = mg_model_file_read_config(&file, input, &config, NULL, diag);
    if (status == MG_OK && params && params->sampling)
        status = set_sampling(params->sampling, &config.sampling, diag);
    /* allow_missing may add up to one tensor per expected one: room for those, and one slot for their names. */
    size_t room = file.count;
    if (status == MG_OK && params && params->allow_missing) {
        mg_weight_spec *specs = NULL;
        size_t spec_count = 0;
        status = mg_model_weight_specs(&config, mg_model_file_ae_prefix(&file, &config), &specs, &spec_count, NULL,
                                       diag);
        free(specs);
        room += spec_count;
    }
    /* A text encoder from a folder replaces any the input carries. */
    mg_text_embed embed;
    memset(&embed, 0, sizeof embed);
    const char *text_folder = params ? params->text_encoder : NULL;
    if (status == MG_OK && text_folder)
        status = mg_text_embed_open(text_folder, &embed, diag);
    size_t count = 0;
    mg_st_write_tensor *tensors = calloc(room + 1, sizeof *tensors);
    void **buffers = calloc(room + 1, sizeof *buffers);
    if (status == MG_OK && (!tensors || !buffers))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting %s", input);
    for (size_t i = 0; status == MG_OK && i < file.count; i++) {
        const mg_st_tensor *t = &file.tensors[i];
        if (text_folder && strncmp(t->name, MG_MODEL_TEXT_ENCODER_PREFIX, strlen(MG_MODEL_TEXT_ENCODER_PREFIX)) == 0)
            continue;
        /* A training checkpoint's optimizer state (train/checkpoint.h): the converted file is the model only. */
        if (strncmp(t->name, "train.", 6) == 0)
            continue;
        mg_st_write_tensor *w = &tensors[count];
        size_t slot = count++;
        w->name = t->name;
        w->dtype = t->dtype;
        w->ndim = t->ndim;
        memcpy(w->shape, t->shape, sizeof w->shape);
        w->data = t->data;
        if (change && is_float(t->dtype) && t->dtype != to) {
            buffers[slot] = convert_tensor(t, to);
            if (!buffers[slot])
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting '%s'", t->name);
            w->dtype = to;
            w->data = buffers[slot];
        }
    }
    if (status == MG_OK && params && params->allow_missing)
        status = complete_tensors(&file, &config, input, tensors, buffers, &count, diag);
    /* The text encoder's tensors last: the completion above only knows the input's own tensors. */
    mg_st_write_tensor *all = NULL;
    void **embed_buffers = calloc(embed.count + 1, sizeof *embed_buffers);
    if (status == MG_OK && !embed_buffers)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting %s", input);
    if (status == MG_OK && text_folder) {
        status = mg_text_embed_apply(&embed, text_folder, &config, diag);
        if (status == MG_OK && !(all = calloc(count + embed.count, sizeof *all)))
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting %s", input);
        if (status == MG_OK)
            memcpy(all, tensors, count * sizeof *all);
        for (size_t i = 0; status == MG_OK && i < embed.count; i++) {
            const mg_st_tensor *t = embed.sources[i];
            mg_st_write_tensor *w = &all[count + i];
            w->name = embed.names[i];
            w->dtype = t->dtype;
            w->ndim = t->ndim;
            memcpy(w->shape, t->shape, sizeof w->shape);
            w->data = t->data;
            if (change && is_float(t->dtype) && t->dtype != to) {
                if (!(embed_buffers[i] = convert_tensor(t, to)))
                    status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory converting '%s'", t->name);
                w->dtype = to;
                w->data = embed_buffers[i];
            }
        }
    }
    if (status == MG_OK)
        status = mg_model_write(output, &config, all ? all : tensors, all ? count + embed.count : count, diag);
    for (size_t i = 0; embed_buffers && i < embed.count; i++)
        free(embed_buffers[i]);
    free(embed_buffers);
    free(all);
    for (size_t i = 0; buffers && i <= room; i++)
        free(buffers[i]);
    free(buffers);
    free(tensors);
    mg_text_embed_close(&embed);
    mg_model_config_free(&config);
    mg_safetensors_close(&file);
    return status;
}

mg_status mg_model_convert(const char *input, const char *output, const mg_convert_params *params, char *error,
                           size_t error_size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, params && params->verbose ? MG_LOG_INFO : MG_LOG_WARN);
    if (error && error_size)
        error[0] = '\0';
    mg_status status = !input || !output
                           ? mg_fail(&diag, MG_ERR_INVALID_ARGUMENT, "mg_model_convert: input and output must not "
                                     "be NULL")
                           : convert(input, output, params, &diag);
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    mg_diag_destroy(&diag);
    return status;
}
