/*
 * BERT hyper-parameters <-> JSON, in Hugging Face config.json names: read from
 * a BERT folder's config.json, and from (and into) the "text_encoder" entry of
 * a model file that carries its own encoder.
 */
#include "text/bert_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mg_status config_size(mg_diag *diag, const cJSON *root, const char *source, const char *key, size_t min,
                             size_t limit, size_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || item->valuedouble < (double)min || item->valuedouble > (double)limit ||
        item->valuedouble != (double)(size_t)item->valuedouble)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: \"%s\" must be a whole number from %zu to %zu", source, key, min,
                       limit);
    *out = (size_t)item->valuedouble;
    return MG_OK;
}

mg_status mg_bert_config_from_json(const cJSON *root, const char *source, mg_bert_config *c, mg_diag *diag)
{
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(root))
        return mg_fail(diag, MG_ERR_FORMAT, "%s is not a JSON object", source);
    mg_status status;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "bert") != 0) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not BERT; BERT-family encoders "
                         "(model_type \"bert\", e.g. BAAI/bge-base-en-v1.5) are supported", source, type->valuestring);
    } else if ((status = config_size(diag, root, source, "hidden_size", 1, 1u << 16, &c->hidden)) != MG_OK ||
               /* 0 layers is a valid BertModel: embeddings and their LayerNorm only (a small built-in encoder) */
               (status = config_size(diag, root, source, "num_hidden_layers", 0, 1024, &c->layers)) != MG_OK ||
               (status = config_size(diag, root, source, "num_attention_heads", 1, 1024, &c->heads)) != MG_OK ||
               (status = config_size(diag, root, source, "intermediate_size", 1, 1u << 18, &c->intermediate)) !=
                   MG_OK ||
               (status = config_size(diag, root, source, "vocab_size", 1, 1u << 24, &c->vocab)) != MG_OK ||
               (status = config_size(diag, root, source, "max_position_embeddings", 1, 1u << 16,
                                     &c->max_positions)) != MG_OK ||
               (status = config_size(diag, root, source, "type_vocab_size", 1, 1u << 16, &c->type_vocab)) != MG_OK) {
        /* reported */
    } else if (c->hidden % c->heads) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: hidden_size %zu is not a multiple of num_attention_heads %zu",
                         source, c->hidden, c->heads);
    } else if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1)) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: layer_norm_eps must be a small positive number", source);
    } else if (act && (!cJSON_IsString(act) ||
                       (strcmp(act->valuestring, "gelu") != 0 && strcmp(act->valuestring, "relu") != 0))) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: hidden_act %s%s%s is not supported; BERT encoders with "
                         "\"gelu\" (exact erf GELU, what BERT and BGE use) or \"relu\" are", source,
                         cJSON_IsString(act) ? "\"" : "", cJSON_IsString(act) ? act->valuestring : "(not a string)",
                         cJSON_IsString(act) ? "\"" : "");
    } else if (pos && (!cJSON_IsString(pos) || strcmp(pos->valuestring, "absolute") != 0)) {
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: position_embedding_type must be \"absolute\" (relative "
                         "position embeddings are not supported)", source);
    } else {
        c->layer_norm_eps = eps ? (float)eps->valuedouble : 1e-12f;
        c->activation = act && strcmp(act->valuestring, "relu") == 0 ? MG_UNARY_RELU : MG_UNARY_GELU;
    }
    return status;
}

mg_status mg_bert_config_parse(const char *text, const char *source, mg_bert_config *c, mg_diag *diag)
{
    cJSON *root = cJSON_Parse(text);
    mg_status status = mg_bert_config_from_json(root, source, c, diag);
    cJSON_Delete(root);
    return status;
}

static bool add_number(cJSON *root, const char *key, double value)
{
    return cJSON_AddNumberToObject(root, key, value) != NULL;
}

/* The shortest decimal that reads back as the same float (1e-12, not 9.99999996004197e-13). */
static double shortest_decimal(float value)
{
    char text[32];
    for (int digits = 1; digits < 10; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)value);
        if (strtof(text, NULL) == value)
            break;
    }
    return strtod(text, NULL);
}

cJSON *mg_bert_config_to_json(const mg_bert_config *c)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root && cJSON_AddStringToObject(root, "model_type", "bert") &&
              add_number(root, "hidden_size", (double)c->hidden) &&
              add_number(root, "num_hidden_layers", (double)c->layers) &&
              add_number(root, "num_attention_heads", (double)c->heads) &&
              add_number(root, "intermediate_size", (double)c->intermediate) &&
              add_number(root, "vocab_size", (double)c->vocab) &&
              add_number(root, "max_position_embeddings", (double)c->max_positions) &&
              add_number(root, "type_vocab_size", (double)c->type_vocab) &&
              add_number(root, "layer_norm_eps", shortest_decimal(c->layer_norm_eps)) &&
              cJSON_AddStringToObject(root, "hidden_act", c->activation == MG_UNARY_RELU ? "relu" : "gelu");
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
