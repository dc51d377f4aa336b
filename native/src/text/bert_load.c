/* BERT from a Hugging Face folder: config.json and model.safetensors (names as BertModel or under "bert."). */
#include "io/safetensors.h"
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

static mg_status config_size(mg_diag *diag, const cJSON *root, const char *path, const char *key, size_t limit,
                             size_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || item->valuedouble < 1 || item->valuedouble > (double)limit ||
        item->valuedouble != (double)(size_t)item->valuedouble)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: \"%s\" must be a whole number from 1 to %zu", path, key, limit);
    *out = (size_t)item->valuedouble;
    return MG_OK;
}

static mg_status parse_config(mg_diag *diag, const char *path, const char *text, mg_bert_config *c)
{
    cJSON *root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(diag, MG_ERR_FORMAT, "%s is not a JSON object", path);
    }
    mg_status status;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "bert") != 0) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not BERT; BERT-family encoders "
                         "(model_type \"bert\", e.g. BAAI/bge-base-en-v1.5) are supported", path, type->valuestring);
    } else if ((status = config_size(diag, root, path, "hidden_size", 1u << 16, &c->hidden)) != MG_OK ||
               (status = config_size(diag, root, path, "num_hidden_layers", 1024, &c->layers)) != MG_OK ||
               (status = config_size(diag, root, path, "num_attention_heads", 1024, &c->heads)) != MG_OK ||
               (status = config_size(diag, root, path, "intermediate_size", 1u << 18, &c->intermediate)) != MG_OK ||
               (status = config_size(diag, root, path, "vocab_size", 1u << 24, &c->vocab)) != MG_OK ||
               (status = config_size(diag, root, path, "max_position_embeddings", 1u << 16, &c->max_positions)) !=
                   MG_OK ||
               (status = config_size(diag, root, path, "type_vocab_size", 1u << 16, &c->type_vocab)) != MG_OK) {
        /* reported */
    } else if (c->hidden % c->heads) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: hidden_size %zu is not a multiple of num_attention_heads %zu", path,
                         c->hidden, c->heads);
    } else if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1)) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: layer_norm_eps must be a small positive number", path);
    } else if (act && (!cJSON_IsString(act) ||
                       (strcmp(act->valuestring, "gelu") != 0 && strcmp(act->valuestring, "relu") != 0))) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: hidden_act %s%s%s is not supported; BERT encoders with "
                         "\"gelu\" (exact erf GELU, what BERT and BGE use) or \"relu\" are", path,
                         cJSON_IsString(act) ? "\"" : "", cJSON_IsString(act) ? act->valuestring : "(not a string)",
                         cJSON_IsString(act) ? "\"" : "");
    } else if (pos && (!cJSON_IsString(pos) || strcmp(pos->valuestring, "absolute") != 0)) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: position_embedding_type must be \"absolute\" (relative "
                         "position embeddings are not supported)", path);
    } else {
        c->layer_norm_eps = eps ? (float)eps->valuedouble : 1e-12f;
        c->activation = act && strcmp(act->valuestring, "relu") == 0 ? MG_UNARY_RELU : MG_UNARY_GELU;
    }
    cJSON_Delete(root);
    return status;
}

/* The tensor of a BertModel name: as is, under "bert.", and with LayerNorm.gamma/beta for weight/bias. */
static const mg_st_tensor *find_weight(const mg_safetensors *file, const char *name)
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

static mg_status upload(mg_context *ctx, const mg_safetensors *file, const char *path, const char *name, int ndim,
                        int64_t d0, int64_t d1, mg_tensor **out)
{
    const mg_st_tensor *t = find_weight(file, name);
    if (!t)
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "%s has no tensor \"%s\" (also looked for \"bert.%s\" and the "
                       "LayerNorm gamma/beta names): is this a BERT model that matches its config.json?", path, name,
                       name);
    int64_t want[2] = {d0, d1};
    bool shape_ok = t->ndim == ndim;
    for (int i = 0; shape_ok && i < ndim; i++)
        shape_ok = t->shape[i] == want[i];
    if (!shape_ok) {
        char got[96] = "", expected[64];
        for (int i = 0; i < t->ndim && i < 4; i++)
            mg_format(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 1)
            mg_format(expected, sizeof expected, "%lld", (long long)d0);
        else
            mg_format(expected, sizeof expected, "%lld, %lld", (long long)d0, (long long)d1);
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "%s: tensor \"%s\" has shape [%s], config.json implies [%s]", path,
                       t->name, got, expected);
    }
    if (t->dtype != MG_ST_F32 && t->dtype != MG_ST_F16 && t->dtype != MG_ST_BF16 && t->dtype != MG_ST_F64)
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "%s: tensor \"%s\" is %s; weights must be F32, F16, BF16 or F64",
                       path, t->name, mg_st_dtype_name(t->dtype));
    return mg_weight_upload_float(ctx, t, ndim, want, out);
}

/* Rows [first, first + rows) of a 2-D weight (or elements of a bias) as a view. */
static mg_status rows_view(mg_tensor *parent, size_t first, size_t rows, mg_tensor **out)
{
    size_t row_elements = parent->ndim == 2 ? (size_t)parent->shape[1] : 1;
    int64_t shape[2] = {(int64_t)rows, (int64_t)row_elements};
    return mg_tensor_view(parent, first * row_elements * mg_dtype_size(parent->dtype), parent->dtype, parent->ndim,
                          shape, out);
}

static mg_status load_layer(mg_bert *bert, const mg_safetensors *file, const char *path, size_t index)
{
    mg_context *ctx = bert->ctx;
    const mg_bert_config *c = &bert->config;
    mg_bert_layer *layer = &bert->layers[index];
    int64_t h = (int64_t)c->hidden, inter = (int64_t)c->intermediate;
    struct {
        const char *name;
        mg_tensor **dst;
        int ndim;
        int64_t d0, d1;
    } specs[] = {
        {"attention.self.query.weight", &layer->query_w, 2, h, h},
        {"attention.self.query.bias", &layer->query_b, 1, h, 0},
        {"attention.self.key.weight", &layer->key_w, 2, h, h},
        {"attention.self.key.bias", &layer->key_b, 1, h, 0},
        {"attention.self.value.weight", &layer->value_w, 2, h, h},
        {"attention.self.value.bias", &layer->value_b, 1, h, 0},
        {"attention.output.dense.weight", &layer->attn_out_w, 2, h, h},
        {"attention.output.dense.bias", &layer->attn_out_b, 1, h, 0},
        {"attention.output.LayerNorm.weight", &layer->attn_norm_w, 1, h, 0},
        {"attention.output.LayerNorm.bias", &layer->attn_norm_b, 1, h, 0},
        {"intermediate.dense.weight", &layer->inter_w, 2, inter, h},
        {"intermediate.dense.bias", &layer->inter_b, 1, inter, 0},
        {"output.dense.weight", &layer->out_w, 2, h, inter},
        {"output.dense.bias", &layer->out_b, 1, h, 0},
        {"output.LayerNorm.weight", &layer->out_norm_w, 1, h, 0},
        {"output.LayerNorm.bias", &layer->out_norm_b, 1, h, 0},
    };
    mg_status status;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char name[160];
        mg_format(name, sizeof name, "encoder.layer.%zu.%s", index, specs[i].name);
        if ((status = upload(ctx, file, path, name, specs[i].ndim, specs[i].d0, specs[i].d1, specs[i].dst)) != MG_OK)
            return status;
    }
    layer->heads = calloc(c->heads, sizeof *layer->heads);
    if (!layer->heads)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    size_t d = c->hidden / c->heads;
    for (size_t k = 0; k < c->heads; k++) {
        mg_bert_head *head = &layer->heads[k];
        if ((status = rows_view(layer->query_w, k * d, d, &head->query_w)) != MG_OK ||
            (status = rows_view(layer->query_b, k * d, d, &head->query_b)) != MG_OK ||
            (status = rows_view(layer->key_w, k * d, d, &head->key_w)) != MG_OK ||
            (status = rows_view(layer->key_b, k * d, d, &head->key_b)) != MG_OK ||
            (status = rows_view(layer->value_w, k * d, d, &head->value_w)) != MG_OK ||
            (status = rows_view(layer->value_b, k * d, d, &head->value_b)) != MG_OK)
            return status;
    }
    return MG_OK;
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
            mg_tensor *all[] = {l->query_w,     l->query_b,     l->key_w,       l->key_b,    l->value_w,
                                l->value_b,     l->attn_out_w,  l->attn_out_b,  l->attn_norm_w, l->attn_norm_b,
                                l->inter_w,     l->inter_b,     l->out_w,       l->out_b,    l->out_norm_w,
                                l->out_norm_b};
            for (size_t t = 0; t < sizeof all / sizeof all[0]; t++)
                mg_tensor_free(all[t]);
        }
        free(bert->layers);
    }
    mg_tensor_free(bert->word);
    mg_tensor_free(bert->position);
    mg_tensor_free(bert->token_type0);
    mg_tensor_free(bert->token_type);
    mg_tensor_free(bert->embed_norm_w);
    mg_tensor_free(bert->embed_norm_b);
    if (bert->ctx)
        mg_context_release(bert->ctx);
    free(bert);
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
    mg_bert *bert = calloc(1, sizeof *bert);
    if (!bert) {
        free(text);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", folder);
    }
    mg_context_retain(ctx);
    bert->ctx = ctx;
    status = parse_config(&ctx->diag, path, text, &bert->config);
    free(text);
    if (status != MG_OK) {
        mg_bert_free(bert);
        return status;
    }
    const mg_bert_config *c = &bert->config;
    mg_safetensors file;
    memset(&file, 0, sizeof file);
    mg_format(path, sizeof path, "%s/model.safetensors", folder);
    if ((status = mg_safetensors_open(path, &file, &ctx->diag)) != MG_OK) {
        mg_bert_free(bert);
        return status;
    }
    int64_t h = (int64_t)c->hidden;
    bert->layers = calloc(c->layers, sizeof *bert->layers);
    if (!bert->layers)
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    if (status == MG_OK &&
        (status = upload(ctx, &file, path, "embeddings.word_embeddings.weight", 2, (int64_t)c->vocab, h,
                         &bert->word)) == MG_OK &&
        (status = upload(ctx, &file, path, "embeddings.position_embeddings.weight", 2, (int64_t)c->max_positions, h,
                         &bert->position)) == MG_OK &&
        (status = upload(ctx, &file, path, "embeddings.token_type_embeddings.weight", 2, (int64_t)c->type_vocab, h,
                         &bert->token_type)) == MG_OK &&
        (status = upload(ctx, &file, path, "embeddings.LayerNorm.weight", 1, h, 0, &bert->embed_norm_w)) == MG_OK &&
        (status = upload(ctx, &file, path, "embeddings.LayerNorm.bias", 1, h, 0, &bert->embed_norm_b)) == MG_OK) {
        int64_t row[1] = {h};
        status = mg_tensor_view(bert->token_type, 0, bert->token_type->dtype, 1, row, &bert->token_type0);
    }
    for (size_t i = 0; status == MG_OK && i < c->layers; i++)
        status = load_layer(bert, &file, path, i);
    mg_safetensors_close(&file);
    if (status != MG_OK) {
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
