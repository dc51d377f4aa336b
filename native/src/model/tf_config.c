#include "model/tf_config.h"

#include <cjson/cJSON.h>
#include <string.h>

static void defaults(mg_tf_config *c, const mg_ae_config *ae)
{
    memset(c, 0, sizeof *c);
    c->dim = 512;
    c->dim_fine = 512;
    c->max_seq_len = 8192;
    c->attn_depth = 12;
    c->attn_dim_head = 64;
    c->attn_heads = 16;
    c->attn_num_mem_kv = 4;
    c->cross_attn_num_mem_kv = 4;
    c->ff_glu = true;
    c->add_value_residual = true;
    c->learned_value_residual_mix = true;
    c->coarse_pre_gateloop_depth = 2;
    c->fine_pre_gateloop_depth = 2;
    c->fine_attn_depth = 2;
    c->num_sos_tokens = 0; /* decided after parsing: depends on condition_on_text */
    c->dim_text = 768;
    c->text_embed_pad_value = -1.0f;
    c->cond_drop_prob = 0.25f;
    c->norm_gain_offset = 1.0f;
    c->codebook_size = ae->codebook_size;
    c->num_quantizers = ae->num_quantizers;
    c->face_size = mg_ae_config_face_size(ae);
}

static mg_status get_int(const cJSON *item, const char *key, int lo, int hi, int *out, mg_diag *diag)
{
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int)item->valuedouble || item->valuedouble < lo ||
        item->valuedouble > hi)
        return mg_fail(diag, MG_ERR_FORMAT, "transformer config: \"%s\" must be an integer from %d to %d", key, lo,
                       hi);
    *out = (int)item->valuedouble;
    return MG_OK;
}

static mg_status get_bool(const cJSON *item, const char *key, bool *out, mg_diag *diag)
{
    if (!cJSON_IsBool(item))
        return mg_fail(diag, MG_ERR_FORMAT, "transformer config: \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(item);
    return MG_OK;
}

static mg_status text_models(const cJSON *item, mg_tf_config *c, mg_diag *diag)
{
    const cJSON *first = cJSON_IsArray(item) ? cJSON_GetArrayItem(item, 0) : item;
    if (!cJSON_IsString(first))
        return mg_fail(diag, MG_ERR_FORMAT, "transformer config: \"text_condition_model_types\" must name t5, bge "
                                            "or clip");
    if (cJSON_IsArray(item) && cJSON_GetArraySize(item) != 1)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "transformer config: only one text model is supported");
    if (strcmp(first->valuestring, "t5") == 0 || strcmp(first->valuestring, "bge") == 0)
        c->dim_text = 768;
    else if (strcmp(first->valuestring, "clip") == 0)
        c->dim_text = 512;
    else
        return mg_fail(diag, MG_ERR_FORMAT, "transformer config: unknown text model \"%s\" (t5, bge or clip)",
                       first->valuestring);
    return MG_OK;
}

static mg_status attn_kwargs(const cJSON *object, mg_tf_config *c, mg_diag *diag)
{
    if (!cJSON_IsObject(object))
        return mg_fail(diag, MG_ERR_FORMAT, "transformer config: \"attn_kwargs\" must be an object");
    /* Passing attn_kwargs replaces upstream's whole default dict. */
    c->ff_glu = false;
    c->attn_num_mem_kv = 0;
    c->add_value_residual = false;
    c->learned_value_residual_mix = false;
    mg_status status = MG_OK;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, object)
    {
        const char *k = item->string;
        if (strcmp(k, "ff_glu") == 0)
            status = get_bool(item, k, &c->ff_glu, diag);
        else if (strcmp(k, "attn_num_mem_kv") == 0)
            status = get_int(item, k, 0, 1024, &c->attn_num_mem_kv, diag);
        else if (strcmp(k, "add_value_residual") == 0)
            status = get_bool(item, k, &c->add_value_residual, diag);
        else if (strcmp(k, "learned_value_residual_mix") == 0)
            status = get_bool(item, k, &c->learned_value_residual_mix, diag);
        else
            mg_log(diag, MG_LOG_WARN, "transformer config: attn_kwargs \"%s\" is not supported and is ignored", k);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

mg_status mg_tf_config_parse(const char *kwargs_json, const mg_ae_config *autoencoder, mg_tf_config *out,
                             mg_diag *diag)
{
    defaults(out, autoencoder);
    cJSON *root = kwargs_json ? cJSON_Parse(kwargs_json) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(diag, MG_ERR_FORMAT, "the transformer configuration is not a JSON object");
    }
    mg_status status = MG_OK;
    bool has_sos = false;
    int dim_text = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, root)
    {
        const char *k = item->string;
        if (strcmp(k, "dim") == 0) {
            if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2) {
                status = get_int(cJSON_GetArrayItem(item, 0), k, 1, 65536, &out->dim, diag);
                if (status == MG_OK)
                    status = get_int(cJSON_GetArrayItem(item, 1), k, 1, 65536, &out->dim_fine, diag);
            } else {
                status = get_int(item, k, 1, 65536, &out->dim, diag);
                out->dim_fine = out->dim;
            }
        } else if (strcmp(k, "max_seq_len") == 0) {
            status = get_int(item, k, 1, 1 << 24, &out->max_seq_len, diag);
        } else if (strcmp(k, "attn_depth") == 0) {
            status = get_int(item, k, 0, 1024, &out->attn_depth, diag);
        } else if (strcmp(k, "attn_dim_head") == 0) {
            status = get_int(item, k, 1, 4096, &out->attn_dim_head, diag);
        } else if (strcmp(k, "attn_heads") == 0) {
            status = get_int(item, k, 1, 1024, &out->attn_heads, diag);
        } else if (strcmp(k, "cross_attn_num_mem_kv") == 0) {
            status = get_int(item, k, 0, 1024, &out->cross_attn_num_mem_kv, diag);
        } else if (strcmp(k, "attn_kwargs") == 0) {
            status = attn_kwargs(item, out, diag);
        } else if (strcmp(k, "coarse_pre_gateloop_depth") == 0) {
            status = get_int(item, k, 0, 1024, &out->coarse_pre_gateloop_depth, diag);
        } else if (strcmp(k, "coarse_post_gateloop_depth") == 0) {
            status = get_int(item, k, 0, 1024, &out->coarse_post_gateloop_depth, diag);
        } else if (strcmp(k, "fine_pre_gateloop_depth") == 0) {
            status = get_int(item, k, 0, 1024, &out->fine_pre_gateloop_depth, diag);
        } else if (strcmp(k, "fine_attn_depth") == 0) {
            status = get_int(item, k, 0, 1024, &out->fine_attn_depth, diag);
        } else if (strcmp(k, "condition_on_text") == 0) {
            status = get_bool(item, k, &out->condition_on_text, diag);
        } else if (strcmp(k, "text_cond_with_film") == 0) {
            status = get_bool(item, k, &out->text_cond_with_film, diag);
        } else if (strcmp(k, "fine_cross_attend_text") == 0) {
            status = get_bool(item, k, &out->fine_cross_attend_text, diag);
        } else if (strcmp(k, "coarse_adaptive_rmsnorm") == 0) {
            status = get_bool(item, k, &out->coarse_adaptive_rmsnorm, diag);
        } else if (strcmp(k, "num_sos_tokens") == 0) {
            if (!cJSON_IsNull(item)) {
                status = get_int(item, k, 1, 1024, &out->num_sos_tokens, diag);
                has_sos = true;
            }
        } else if (strcmp(k, "text_condition_model_types") == 0) {
            status = text_models(item, out, diag);
        } else if (strcmp(k, "dim_text") == 0) {
            /* This project's key: the width of a built-in text encoder's states (upstream derives it from the
             * text model's name); it wins over text_condition_model_types whatever the key order. */
            status = get_int(item, k, 1, 65536, &dim_text, diag);
        } else if (strcmp(k, "text_condition_cond_drop_prob") == 0) {
            if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 1)
                status = mg_fail(diag, MG_ERR_FORMAT, "transformer config: \"%s\" must be within [0, 1]", k);
            else
                out->cond_drop_prob = (float)item->valuedouble;
        } else if (strcmp(k, "quads") == 0) {
            bool quads = false;
            status = get_bool(item, k, &quads, diag);
            if (status == MG_OK && (quads ? 4 : 3) != out->face_size)
                status = mg_fail(diag, MG_ERR_FORMAT,
                                 "the transformer and its autoencoder disagree on quads (meshgpt-pytorch refuses "
                                 "this model too)");
        } else if (strcmp(k, "flash_attn") == 0 || strcmp(k, "dropout") == 0 || strcmp(k, "pad_id") == 0 ||
                   strcmp(k, "gateloop_use_heinsen") == 0 || strcmp(k, "fine_attn_dim_head") == 0 ||
                   strcmp(k, "fine_attn_heads") == 0 || strcmp(k, "text_condition_model_kwargs") == 0) {
            /* Training-only, numerically equivalent here, or ignored by upstream itself. */
        } else {
            mg_log(diag, MG_LOG_WARN, "transformer config: \"%s\" is not known and is ignored", k);
        }
        if (status != MG_OK)
            break;
    }
    cJSON_Delete(root);
    if (status != MG_OK)
        return status;
    if (!has_sos)
        out->num_sos_tokens = out->condition_on_text ? 4 : 1;
    if (dim_text)
        out->dim_text = dim_text;
    /* Upstream builds the coarse decoder with AdaptiveRMSNorm but only passes it a condition when there is
     * text: without, its forward asserts. */
    if (out->coarse_adaptive_rmsnorm && !out->condition_on_text)
        return mg_fail(diag, MG_ERR_FORMAT,
                       "transformer config: coarse_adaptive_rmsnorm needs condition_on_text (its condition is the "
                       "pooled text; meshgpt-pytorch cannot run this model either)");
    if (!out->ff_glu)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "transformer config: only the GLU feed-forward is supported yet");
    /* max_seq_len need not be a multiple of the tokens per face: upstream's default, 8192, is not; generation
     * keeps whole faces within it. */
    return MG_OK;
}

int mg_tf_config_tokens_per_face(const mg_tf_config *config)
{
    return config->face_size * config->num_quantizers;
}
