/*
 * Loading BERT: from a Hugging Face folder (config.json and model.safetensors, names as BertModel or under
 * "bert."), or from tensors a model file already uploaded (its built-in text encoder). Both go through one list
 * of the tensors a config implies (bert_tensors.c), so they cannot disagree.
 */
#include "io/safetensors.h"
#include "text/bert_config.h"
#include "text/bert_internal.h"

#include "model/model_file.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_BYTES 4096

static char *read_small_file(mg_diag *diag, const char *path, mg_status *status)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *status = mg_fail(diag, MG_ERR_IO, "cannot open %s: %s (a BERT folder holds config.json, vocab.txt and "
                          "model.safetensors)", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (size + got > (1u << 20)) {
            free(text);
            fclose(f);
            *status = mg_fail(diag, MG_ERR_FORMAT, "%s is larger than 1 MiB: not a config.json", path);
            return NULL;
        }
        char *grown = realloc(text, size + got + 1);
        if (!grown) {
            free(text);
            fclose(f);
            *status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
            return NULL;
        }
        text = grown;
        memcpy(text + size, chunk, got);
        size += got;
    }
    fclose(f);
    if (!text) {
        *status = mg_fail(diag, MG_ERR_FORMAT, "%s is empty", path);
        return NULL;
    }
    text[size] = '\0';
    *status = MG_OK;
    return text;
}

/* The tensor of a BertModel name: as is, under "bert.", and with LayerNorm.gamma/beta for weight/bias. */
const mg_st_tensor *mg_bert_find_tensor(const mg_safetensors *file, const char *name)
{
    char alias[256];
    const char *suffixes[2][2] = {{"LayerNorm.weight", "LayerNorm.gamma"}, {"LayerNorm.bias", "LayerNorm.beta"}};
    for (int variant = 0; variant < 2; variant++) {
        const char *prefix = variant ? "bert." : "";
        mg_format(alias, sizeof alias, "%s%s", prefix, name);
        const mg_st_tensor *t = mg_safetensors_find(file, alias);
        if (t)
            return t;
        size_t length = strlen(name);
        for (int s = 0; s < 2; s++) {
            size_t suffix = strlen(suffixes[s][0]);
            if (length >= suffix && strcmp(name + length - suffix, suffixes[s][0]) == 0) {
                mg_format(alias, sizeof alias, "%s%.*s%s", prefix, (int)(length - suffix), name, suffixes[s][1]);
                if ((t = mg_safetensors_find(file, alias)) != NULL)
                    return t;
            }
        }
    }
    return NULL;
}

mg_status mg_bert_check_tensor(const mg_st_tensor *t, const mg_bert_tensor *want, const char *path, mg_diag *diag)
{
    if (!t)
        return mg_fail(diag, MG_ERR_FORMAT, "%s has no tensor \"%s\" (also looked for \"bert.%s\" and the "
                       "LayerNorm gamma/beta names): is this a BERT model that matches its config.json?", path,
                       want->name, want->name);
    bool shape_ok = t->ndim == want->ndim;
    for (int i = 0; shape_ok && i < want->ndim; i++)
        shape_ok = t->shape[i] == want->shape[i];
    if (!shape_ok) {
        char got[96] = "", expected[64];
        for (int i = 0; i < t->ndim && i < 4; i++)
            mg_format(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (want->ndim == 1)
            mg_format(expected, sizeof expected, "%lld", (long long)want->shape[0]);
        else
            mg_format(expected, sizeof expected, "%lld, %lld", (long long)want->shape[0], (long long)want->shape[1]);
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor \"%s\" has shape [%s], config.json implies [%s]", path,
                       t->name, got, expected);
    }
    if (t->dtype != MG_ST_F32 && t->dtype != MG_ST_F16 && t->dtype != MG_ST_BF16 && t->dtype != MG_ST_F64)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor \"%s\" is %s; weights must be F32, F16, BF16 or F64",
                       path, t->name, mg_st_dtype_name(t->dtype));
    return MG_OK;
}

/* Rows [first, first + rows) of a 2-D weight (or elements of a bias) as a view. */
static mg_status rows_view(mg_tensor *parent, size_t first, size_t rows, mg_tensor **out)
{
    size_t row_elements = parent->ndim == 2 ? (size_t)parent->shape[1] : 1;
    int64_t shape[2] = {(int64_t)rows, (int64_t)row_elements};
    return mg_tensor_view(parent, first * row_elements * mg_dtype_size(parent->dtype), parent->dtype, parent->ndim,
                          shape, out);
}

/* The per-head views of a layer's query, key and value projections. */
static mg_status make_heads(mg_bert *bert, mg_bert_layer *layer)
{
    const mg_bert_config *c = &bert->config;
    layer->heads = calloc(c->heads, sizeof *layer->heads);
    if (!layer->heads)
        return mg_fail(&bert->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading the text encoder");
    size_t d = c->hidden / c->heads;
    mg_status status = MG_OK;
    for (size_t k = 0; k < c->heads && status == MG_OK; k++) {
        mg_bert_head *head = &layer->heads[k];
        if ((status = rows_view(layer->query_w, k * d, d, &head->query_w)) != MG_OK ||
            (status = rows_view(layer->query_b, k * d, d, &head->query_b)) != MG_OK ||
            (status = rows_view(layer->key_w, k * d, d, &head->key_w)) != MG_OK ||
            (status = rows_view(layer->key_b, k * d, d, &head->key_b)) != MG_OK ||
            (status = rows_view(layer->value_w, k * d, d, &head->value_w)) != MG_OK ||
            (status = rows_view(layer->value_b, k * d, d, &head->value_b)) != MG_OK)
            break;
    }
    return status;
}

void mg_bert_free(mg_bert *bert)
{
    if (!bert)
        return;
    if (bert->layers) {
        for (size_t i = 0; i < bert->config.layers; i++) {
            mg_bert_layer *l = &bert->layers[i];
            if (l->heads) {
                for (size_t k = 0; k < bert->config.heads; k++) {
                    mg_bert_head *h = &l->heads[k];
                    mg_tensor *views[] = {h->query_w, h->query_b, h->key_w, h->key_b, h->value_w, h->value_b};
                    for (size_t v = 0; v < 6; v++)
                        mg_tensor_free(views[v]);
                }
                free(l->heads);
            }
        }
    }
    size_t count = mg_bert_tensor_count(&bert->config);
    for (size_t i = 0; bert->layers && i < count; i++) {
        mg_bert_tensor t;
        mg_bert_tensor_at(&bert->config, bert, i, &t);
        mg_tensor_free(*t.slot);
    }
    if (!bert->layers) { /* the embeddings alone were allocated */
        mg_tensor *embeddings[] = {bert->word, bert->position, bert->token_type, bert->embed_norm_w,
                                   bert->embed_norm_b};
        for (size_t i = 0; i < 5; i++)
            mg_tensor_free(embeddings[i]);
    }
    free(bert->layers);
    if (bert->ctx)
        mg_context_release(bert->ctx);
    free(bert);
}

/* Fills every tensor of the list through `fetch`, then the views the forward pass uses. */
static mg_status bind(mg_bert *bert, mg_bert_fetch_fn fetch, void *source)
{
    const mg_bert_config *c = &bert->config;
    /* calloc(0) may return NULL: keep one slot so "no layers" is not mistaken for "out of memory". */
    bert->layers = calloc(c->layers ? c->layers : 1, sizeof *bert->layers);
    if (!bert->layers)
        return mg_fail(&bert->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading the text encoder");
    size_t count = mg_bert_tensor_count(c);
    mg_status status = MG_OK;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        mg_bert_tensor t;
        mg_bert_tensor_at(c, bert, i, &t);
        status = fetch(source, &t, t.slot);
    }
    for (size_t i = 0; i < c->layers && status == MG_OK; i++)
        status = make_heads(bert, &bert->layers[i]);
    return status;
}

static mg_status create(mg_context *ctx, const mg_bert_config *config, mg_bert **out)
{
    mg_bert *bert = calloc(1, sizeof *bert);
    if (!bert)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading the text encoder");
    mg_context_retain(ctx);
    bert->ctx = ctx;
    bert->config = *config;
    *out = bert;
    return MG_OK;
}

typedef struct folder_source {
    mg_context *ctx;
    const mg_safetensors *file;
    const char *path;
} folder_source;

static mg_status fetch_from_file(void *opaque, const mg_bert_tensor *want, mg_tensor **out)
{
    folder_source *source = opaque;
    const mg_st_tensor *t = mg_bert_find_tensor(source->file, want->name);
    mg_status status = mg_bert_check_tensor(t, want, source->path, &source->ctx->diag);
    if (status != MG_OK)
        return status;
    return mg_weight_upload_float(source->ctx, t, want->ndim, want->shape, out);
}

mg_status mg_bert_load(mg_context *ctx, const char *folder, mg_bert **out)
{
    mg_status status = mg_context_check(ctx, "mg_bert_load");
    if (status != MG_OK)
        return status;
    if (!folder || !out)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_load: folder and out are required");
    *out = NULL;
    char path[PATH_MAX_BYTES];
    mg_format(path, sizeof path, "%s/config.json", folder);
    char *text = read_small_file(&ctx->diag, path, &status);
    if (!text)
        return status;
    mg_bert_config config;
    status = mg_bert_config_parse(text, path, &config, &ctx->diag);
    free(text);
    if (status != MG_OK)
        return status;
    mg_bert *bert = NULL;
    if ((status = create(ctx, &config, &bert)) != MG_OK)
        return status;
    mg_safetensors file;
    memset(&file, 0, sizeof file);
    mg_format(path, sizeof path, "%s/model.safetensors", folder);
    if ((status = mg_safetensors_open(path, &file, &ctx->diag)) != MG_OK) {
        mg_bert_free(bert);
        return status;
    }
    folder_source source = {ctx, &file, path};
    status = bind(bert, fetch_from_file, &source);
    mg_safetensors_close(&file);
    if (status != MG_OK) {
        mg_bert_free(bert);
        return status;
    }
    *out = bert;
    return MG_OK;
}

typedef struct weights_source {
    mg_context *ctx;
    const mg_weights *weights;
    const char *prefix;
} weights_source;

/* A view of the whole uploaded weight: the encoder and the model share the storage. */
static mg_status fetch_from_weights(void *opaque, const mg_bert_tensor *want, mg_tensor **out)
{
    weights_source *source = opaque;
    char name[MG_WEIGHT_NAME_MAX + 64];
    mg_format(name, sizeof name, "%s%s", source->prefix, want->name);
    mg_tensor *t = mg_weights_tensor(source->weights, name);
    if (!t)
        return mg_fail(&source->ctx->diag, MG_ERR_FORMAT, "the model's text encoder has no tensor \"%s\"", name);
    return mg_tensor_view(t, 0, t->dtype, t->ndim, t->shape, out);
}

mg_status mg_bert_from_weights(mg_context *ctx, const mg_bert_config *config, const mg_weights *weights,
                               const char *prefix, mg_bert **out)
{
    *out = NULL;
    mg_bert *bert = NULL;
    mg_status status = create(ctx, config, &bert);
    if (status != MG_OK)
        return status;
    weights_source source = {ctx, weights, prefix};
    if ((status = bind(bert, fetch_from_weights, &source)) != MG_OK) {
        mg_bert_free(bert);
        return status;
    }
    *out = bert;
    return MG_OK;
}

const mg_bert_config *mg_bert_get_config(const mg_bert *bert)
{
    return bert ? &bert->config : NULL;
}
