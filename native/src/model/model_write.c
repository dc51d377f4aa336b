#include "model/model_write.h"

#include "core/half.h"
#include "model/model_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

mg_status mg_model_write(const char *path, const mg_model_config *config, const mg_st_write_tensor *tensors,
                         size_t count, mg_diag *diag)
{
    if (!path || !config || (!tensors && count))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_write: NULL argument");
    mg_status status = mg_ae_config_validate(&config->autoencoder, diag);
    if (status != MG_OK)
        return status;
    const char *prefix = config->has_transformer ? "autoencoder." : "";
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    status = mg_model_weight_specs(config, prefix, &specs, &spec_count, NULL, diag);
    if (status != MG_OK)
        return status;
    mg_tensor_desc *descs = malloc((count ? count : 1) * sizeof *descs);
    char *json = NULL;
    if (!descs) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        descs[i] = (mg_tensor_desc){tensors[i].name ? tensors[i].name : "", tensors[i].dtype, tensors[i].ndim,
                                    tensors[i].shape};
    status = mg_model_check_tensors(descs, count, specs, spec_count, config->has_transformer ? "" : prefix, path,
                                    diag);
    if (status != MG_OK)
        goto done;
    json = mg_model_config_to_json(config, false);
    if (!json) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
        goto done;
    }
    /* "format": "pt" is what PyTorch's safetensors writer records; other tools look for it. */
    mg_st_metadata metadata[3] = {{"format", "pt"}, {MG_MODEL_METADATA_KEY, json}, {MG_MODEL_TEXT_VOCAB_KEY, ""}};
    size_t metadata_count = 2;
    if (config->has_text_encoder) {
        if (!config->text_vocab) {
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_write: the text encoder has no vocabulary");
            goto done;
        }
        metadata[metadata_count++].value = config->text_vocab;
    }
    status = mg_safetensors_write(path, tensors, count, metadata, metadata_count, diag);
done:
    free(json);
    free(descs);
    free(specs);
    return status;
}

/* ---- random models ---- */

static uint32_t hash_name(const char *text)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *text; text++)
        h = (h ^ (uint8_t)*text) * 16777619u;
    return h;
}

static float next_uniform(uint32_t *state)
{
    uint32_t x = *state; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

static uint16_t float_to_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((bits >> 16) | 0x40); /* keep NaN a NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);   /* round to nearest even */
    return (uint16_t)(bits >> 16);
}

static void fill_values(const mg_weight_spec *spec, const mg_ae_config *c, uint32_t seed, float scale, float *out,
                        size_t count)
{
    if (ends_with(spec->name, ".inv_freq")) {
        /* local-attention's SinusoidalEmbeddings: 1 / 10000^(2i / dim_head) */
        for (size_t i = 0; i < count; i++)
            out[i] = (float)(1.0 / pow(10000.0, (double)(2 * i) / (double)c->local_attn_dim_head));
        return;
    }
    if (ends_with(spec->name, "._codebook.initted") || ends_with(spec->name, "._codebook.cluster_size")) {
        for (size_t i = 0; i < count; i++)
            out[i] = 1.0f;
        return;
    }
    /* The shared VQ codebook is one module: the same values under every level (and embed_avg = embed * 1). */
    uint32_t state = seed ^ (strstr(spec->name, "._codebook.embed") ? hash_name("shared codebook")
                                                                    : hash_name(spec->name));
    if (state == 0)
        state = 0x9e3779b9u;
    for (size_t i = 0; i < count; i++)
        out[i] = (2.0f * next_uniform(&state) - 1.0f) * scale;
}

mg_status mg_model_write_random(const char *path, const mg_model_config *config, uint32_t seed, float scale,
                                mg_st_dtype float_dtype, mg_diag *diag)
{
    if (!path || !config)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_write_random: NULL argument");
    if (float_dtype != MG_ST_F32 && float_dtype != MG_ST_F16 && float_dtype != MG_ST_BF16)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_write_random: float_dtype must be F32, F16 or BF16");
    mg_status status = mg_ae_config_validate(&config->autoencoder, diag);
    if (status != MG_OK)
        return status;
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    status = mg_model_weight_specs(config, config->has_transformer ? "autoencoder." : "", &specs, &count, NULL,
                                diag);
    if (status != MG_OK)
        return status;
    mg_st_write_tensor *tensors = calloc(count ? count : 1, sizeof *tensors);
    void **buffers = calloc(count ? count : 1, sizeof *buffers);
    float *values = NULL;
    if (!tensors || !buffers)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory making random weights");
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        const mg_weight_spec *s = &specs[i];
        size_t n = 1;
        for (int d = 0; d < s->ndim; d++)
            n *= (size_t)s->shape[d];
        mg_st_write_tensor *t = &tensors[i];
        t->name = s->name;
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, (size_t)s->ndim * sizeof *s->shape);
        if (s->kind == MG_WEIGHT_INT) {
            /* LFQ mask: 2^(bits-1), ..., 2, 1 (the first sign bit is the most significant) */
            int64_t *ints = malloc(n * sizeof *ints);
            buffers[i] = ints;
            if (!ints)
                break;
            for (size_t k = 0; k < n; k++)
                ints[k] = (int64_t)1 << (n - 1 - k);
            t->dtype = MG_ST_I64;
            t->data = ints;
            continue;
        }
        float *grown = realloc(values, n * sizeof *values);
        size_t elem = mg_st_dtype_size(float_dtype);
        buffers[i] = malloc(n * elem);
        if (!grown || !buffers[i]) {
            if (grown)
                values = grown;
            break;
        }
        values = grown;
        fill_values(s, &config->autoencoder, seed, scale, values, n);
        if (float_dtype == MG_ST_F32) {
            memcpy(buffers[i], values, n * sizeof *values);
        } else if (float_dtype == MG_ST_F16) {
            mg_float_to_half_array(values, buffers[i], n);
        } else {
            uint16_t *bf = buffers[i];
            for (size_t k = 0; k < n; k++)
                bf[k] = float_to_bf16(values[k]);
        }
        t->dtype = float_dtype;
        t->data = buffers[i];
    }
    for (size_t i = 0; i < count && status == MG_OK; i++)
        if (!buffers[i])
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory making random weights");
    if (status == MG_OK)
        status = mg_model_write(path, config, tensors, count, diag);
    for (size_t i = 0; buffers && i < count; i++)
        free(buffers[i]);
    free(buffers);
    free(values);
    free(tensors);
    free(specs);
    return status;
}
