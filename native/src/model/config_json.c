/*
 * Model configuration <-> JSON. Reading is strict about types and values
 * (every message names the key) and lenient about keys that do not change
 * inference, so configs written for meshgpt-pytorch load unchanged.
 */
#include "model/config_json.h"
#include "text/bert_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE "autoencoder config"
#define MAX_DIM 65536            /* a width beyond this is a typo, and keeps products of widths in range */
#define MAX_DISCRETE 65536
#define MAX_LFQ_BITS 24
#define MAX_VQ_CODEBOOK (1 << 20)
#define MAX_FACES_LIMIT (1 << 24)

static const char *type_name(const cJSON *item)
{
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsArray(item))
        return "an array";
    if (cJSON_IsObject(item))
        return "an object";
    return "invalid";
}

static mg_status get_int(const cJSON *item, const char *key, int min, int max, int *out, mg_diag *diag)
{
    if (!cJSON_IsNumber(item))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be an integer, not %s", key, type_name(item));
    double v = item->valuedouble;
    if (!(v >= (double)min && v <= (double)max) || v != floor(v))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be an integer from %d to %d (got %g)", key, min, max,
                       v);
    *out = (int)v;
    return MG_OK;
}

static mg_status get_float(const cJSON *item, const char *key, float *out, mg_diag *diag)
{
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || fabs(item->valuedouble) > 3.0e38)
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be a finite number, not %s", key, type_name(item));
    *out = (float)item->valuedouble;
    return MG_OK;
}

static mg_status get_bool(const cJSON *item, const char *key, bool *out, mg_diag *diag)
{
    if (!cJSON_IsBool(item))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be true or false, not %s", key, type_name(item));
    *out = cJSON_IsTrue(item);
    return MG_OK;
}

static mg_status get_dims(const cJSON *item, const char *key, int *dims, int *depth, mg_diag *diag)
{
    if (!cJSON_IsArray(item))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be an array of integers, not %s", key,
                       type_name(item));
    int n = cJSON_GetArraySize(item);
    if (n < 1 || n > MG_AE_MAX_DEPTH)
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" has %d entries (1 to %d are supported)", key, n,
                       MG_AE_MAX_DEPTH);
    char entry_key[96];
    for (int i = 0; i < n; i++) {
        mg_format(entry_key, sizeof entry_key, "%s[%d]", key, i);
        mg_status s = get_int(cJSON_GetArrayItem(item, i), entry_key, 1, MAX_DIM, &dims[i], diag);
        if (s != MG_OK)
            return s;
    }
    *depth = n;
    return MG_OK;
}

static bool is_one_of(const char *key, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(key, *names) == 0)
            return true;
    return false;
}

static void warn_unknown(mg_diag *diag, const char *parent, const char *key)
{
    mg_log(diag, MG_LOG_WARN, WHERE ": unknown key \"%s%s%s\" ignored (not a meshgpt-pytorch 1.7.2 argument)",
           parent ? parent : "", parent ? "." : "", key);
}

static mg_status need_object(const cJSON *item, const char *key, mg_diag *diag)
{
    if (!cJSON_IsObject(item))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" must be an object, not %s", key, type_name(item));
    return MG_OK;
}

/* {dim_head, heads} of local_attn_kwargs / linear_attn_kwargs. */
static mg_status read_attn_kwargs(const cJSON *object, const char *key, int *dim_head, int *heads, mg_diag *diag)
{
    mg_status s = need_object(object, key, diag);
    const cJSON *item;
    char sub[96];
    cJSON_ArrayForEach(item, object)
    {
        if (s != MG_OK)
            break;
        mg_format(sub, sizeof sub, "%s.%s", key, item->string);
        if (strcmp(item->string, "dim_head") == 0)
            s = get_int(item, sub, 1, MAX_DIM, dim_head, diag);
        else if (strcmp(item->string, "heads") == 0)
            s = get_int(item, sub, 1, MAX_DIM, heads, diag);
        else if (strcmp(item->string, "dropout") != 0)
            warn_unknown(diag, key, item->string);
    }
    return s;
}

static mg_status read_rlfq_kwargs(const cJSON *object, mg_ae_config *config, mg_diag *diag)
{
    static const char *const training_only[] = {"frac_per_sample_entropy", "experimental_softplus_entropy_loss",
                                                "entropy_loss_weight", "commitment_loss_weight", "diversity_gamma",
                                                "entropy_loss_offset", "force_quantization_f32", NULL};
    mg_status s = need_object(object, "rlfq_kwargs", diag);
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (s != MG_OK)
            break;
        if (strcmp(item->string, "soft_clamp_input_value") == 0) {
            if (cJSON_IsNull(item))
                config->lfq_soft_clamp = 0.0f;
            else
                s = get_float(item, "rlfq_kwargs.soft_clamp_input_value", &config->lfq_soft_clamp, diag);
        } else if (strcmp(item->string, "num_codebooks") == 0) {
            int n = 0;
            s = get_int(item, "rlfq_kwargs.num_codebooks", 1, 1, &n, diag);
        } else if (!is_one_of(item->string, training_only)) {
            warn_unknown(diag, "rlfq_kwargs", item->string);
        }
    }
    return s;
}

static mg_status read_rvq_kwargs(const cJSON *object, const mg_ae_config *config, mg_diag *diag)
{
    /* Everything else in rvq_kwargs tunes VQ training (kmeans, EMA decay, dead codes). */
    mg_status s = need_object(object, "rvq_kwargs", diag);
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (s != MG_OK)
            break;
        const char *k = item->string;
        if (strcmp(k, "codebook_dim") == 0 && !cJSON_IsNull(item) &&
            !(cJSON_IsNumber(item) && item->valuedouble == (double)config->dim_codebook))
            s = mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": \"rvq_kwargs.codebook_dim\" other than dim_codebook (a "
                        "projected residual VQ) is not supported");
        else if ((strcmp(k, "use_cosine_sim") == 0 || strcmp(k, "affine_param") == 0) && cJSON_IsTrue(item))
            s = mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": \"rvq_kwargs.%s\" = true is not supported", k);
        else if (strcmp(k, "heads") == 0 && !(cJSON_IsNumber(item) && item->valuedouble == 1.0))
            s = mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": \"rvq_kwargs.heads\" must be 1 (residual VQ has one head)");
    }
    return s;
}

static mg_status read_sageconv_kwargs(const cJSON *object, mg_diag *diag)
{
    /* The encoder is built for SAGEConv(normalize=True, project=True) with mean aggregation. */
    mg_status s = need_object(object, "sageconv_kwargs", diag);
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (s != MG_OK)
            break;
        const char *k = item->string;
        if (strcmp(k, "normalize") == 0 || strcmp(k, "project") == 0 || strcmp(k, "root_weight") == 0 ||
            strcmp(k, "bias") == 0) {
            if (!cJSON_IsTrue(item))
                s = mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": \"sageconv_kwargs.%s\" must be true (the only "
                            "setting this implementation runs)", k);
        } else if (strcmp(k, "aggr") == 0) {
            if (!cJSON_IsString(item) || strcmp(item->valuestring, "mean") != 0)
                s = mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": \"sageconv_kwargs.aggr\" must be \"mean\"");
        } else {
            warn_unknown(diag, "sageconv_kwargs", k);
        }
    }
    return s;
}

static mg_status read_kwarg(const cJSON *item, mg_ae_config *c, mg_diag *diag)
{
    static const char *const ignored[] = {"pad_id", "flash_attn", "attn_dropout", "ff_dropout", "resnet_dropout",
                                          "checkpoint_quantizer", "rq_kwargs", "rvq_stochastic_sample_codes", NULL};
    const char *k = item->string;
    if (strcmp(k, "num_discrete_coors") == 0)
        return get_int(item, k, 1, MAX_DISCRETE, &c->num_discrete_coors, diag);
    if (strcmp(k, "coor_continuous_range") == 0) {
        if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2)
            return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"coor_continuous_range\" must be [low, high]");
        mg_status s = get_float(cJSON_GetArrayItem(item, 0), "coor_continuous_range[0]", &c->coor_range[0], diag);
        return s != MG_OK ? s : get_float(cJSON_GetArrayItem(item, 1), "coor_continuous_range[1]", &c->coor_range[1],
                                          diag);
    }
    if (strcmp(k, "dim_coor_embed") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->dim_coor_embed, diag);
    if (strcmp(k, "num_discrete_area") == 0)
        return get_int(item, k, 1, MAX_DISCRETE, &c->num_discrete_area, diag);
    if (strcmp(k, "dim_area_embed") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->dim_area_embed, diag);
    if (strcmp(k, "num_discrete_normals") == 0)
        return get_int(item, k, 1, MAX_DISCRETE, &c->num_discrete_normals, diag);
    if (strcmp(k, "dim_normal_embed") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->dim_normal_embed, diag);
    if (strcmp(k, "num_discrete_angle") == 0)
        return get_int(item, k, 1, MAX_DISCRETE, &c->num_discrete_angle, diag);
    if (strcmp(k, "dim_angle_embed") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->dim_angle_embed, diag);
    if (strcmp(k, "encoder_dims_through_depth") == 0)
        return get_dims(item, k, c->encoder_dims, &c->encoder_depth, diag);
    if (strcmp(k, "decoder_dims_through_depth") == 0)
        return get_dims(item, k, c->decoder_dims, &c->decoder_depth, diag);
    if (strcmp(k, "init_decoder_conv_kernel") == 0)
        return get_int(item, k, 1, 255, &c->init_decoder_conv_kernel, diag);
    if (strcmp(k, "dim_codebook") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->dim_codebook, diag);
    if (strcmp(k, "num_quantizers") == 0)
        return get_int(item, k, 1, MG_AE_MAX_QUANTIZERS, &c->num_quantizers, diag);
    if (strcmp(k, "codebook_size") == 0)
        return get_int(item, k, 2, MAX_VQ_CODEBOOK > (1 << MAX_LFQ_BITS) ? MAX_VQ_CODEBOOK : (1 << MAX_LFQ_BITS),
                       &c->codebook_size, diag);
    if (strcmp(k, "use_residual_lfq") == 0)
        return get_bool(item, k, &c->use_residual_lfq, diag);
    if (strcmp(k, "rlfq_kwargs") == 0)
        return read_rlfq_kwargs(item, c, diag);
    if (strcmp(k, "rvq_kwargs") == 0)
        return MG_OK; /* read after every other key: it depends on dim_codebook */
    if (strcmp(k, "sageconv_kwargs") == 0)
        return read_sageconv_kwargs(item, diag);
    if (strcmp(k, "commit_loss_weight") == 0)
        return get_float(item, k, &c->commit_loss_weight, diag);
    if (strcmp(k, "bin_smooth_blur_sigma") == 0)
        return get_float(item, k, &c->bin_smooth_blur_sigma, diag);
    if (strcmp(k, "attn_encoder_depth") == 0)
        return get_int(item, k, 0, MG_AE_MAX_DEPTH, &c->attn_encoder_depth, diag);
    if (strcmp(k, "attn_decoder_depth") == 0)
        return get_int(item, k, 0, MG_AE_MAX_DEPTH, &c->attn_decoder_depth, diag);
    if (strcmp(k, "local_attn_kwargs") == 0)
        return read_attn_kwargs(item, k, &c->local_attn_dim_head, &c->local_attn_heads, diag);
    if (strcmp(k, "local_attn_window_size") == 0)
        return get_int(item, k, 1, MAX_DIM, &c->local_attn_window_size, diag);
    if (strcmp(k, "linear_attn_kwargs") == 0)
        return read_attn_kwargs(item, k, &c->linear_attn_dim_head, &c->linear_attn_heads, diag);
    if (strcmp(k, "use_linear_attn") == 0)
        return get_bool(item, k, &c->use_linear_attn, diag);
    if (strcmp(k, "quads") == 0)
        return get_bool(item, k, &c->quads, diag);
    if (!is_one_of(k, ignored))
        warn_unknown(diag, NULL, k);
    return MG_OK;
}

mg_status mg_ae_config_validate(const mg_ae_config *c, mg_diag *diag)
{
    if (!c)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_ae_config_validate: config is NULL");
    const struct {
        const char *key;
        int value, min, max;
    } ints[] = {
        {"num_discrete_coors", c->num_discrete_coors, 1, MAX_DISCRETE},
        {"dim_coor_embed", c->dim_coor_embed, 1, MAX_DIM},
        {"num_discrete_area", c->num_discrete_area, 1, MAX_DISCRETE},
        {"dim_area_embed", c->dim_area_embed, 1, MAX_DIM},
        {"num_discrete_normals", c->num_discrete_normals, 1, MAX_DISCRETE},
        {"dim_normal_embed", c->dim_normal_embed, 1, MAX_DIM},
        {"num_discrete_angle", c->num_discrete_angle, 1, MAX_DISCRETE},
        {"dim_angle_embed", c->dim_angle_embed, 1, MAX_DIM},
        {"len(encoder_dims_through_depth)", c->encoder_depth, 1, MG_AE_MAX_DEPTH},
        {"len(decoder_dims_through_depth)", c->decoder_depth, 1, MG_AE_MAX_DEPTH},
        {"init_decoder_conv_kernel", c->init_decoder_conv_kernel, 1, 255},
        {"dim_codebook", c->dim_codebook, 1, MAX_DIM},
        {"num_quantizers", c->num_quantizers, 1, MG_AE_MAX_QUANTIZERS},
        {"codebook_size", c->codebook_size, 2, c->use_residual_lfq ? (1 << MAX_LFQ_BITS) : MAX_VQ_CODEBOOK},
        {"attn_encoder_depth", c->attn_encoder_depth, 0, MG_AE_MAX_DEPTH},
        {"attn_decoder_depth", c->attn_decoder_depth, 0, MG_AE_MAX_DEPTH},
        {"local_attn_kwargs.dim_head", c->local_attn_dim_head, 1, MAX_DIM},
        {"local_attn_kwargs.heads", c->local_attn_heads, 1, MAX_DIM},
        {"local_attn_window_size", c->local_attn_window_size, 1, MAX_DIM},
        {"linear_attn_kwargs.dim_head", c->linear_attn_dim_head, 1, MAX_DIM},
        {"linear_attn_kwargs.heads", c->linear_attn_heads, 1, MAX_DIM},
        {"max_faces", c->max_faces, 1, MAX_FACES_LIMIT},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].value < ints[i].min || ints[i].value > ints[i].max)
            return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"%s\" is %d but must be from %d to %d", ints[i].key,
                           ints[i].value, ints[i].min, ints[i].max);
    for (int i = 0; i < c->encoder_depth; i++)
        if (c->encoder_dims[i] < 1 || c->encoder_dims[i] > MAX_DIM)
            return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"encoder_dims_through_depth[%d]\" is %d but must be from 1 "
                           "to %d", i, c->encoder_dims[i], MAX_DIM);
    for (int i = 0; i < c->decoder_depth; i++)
        if (c->decoder_dims[i] < 1 || c->decoder_dims[i] > MAX_DIM)
            return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"decoder_dims_through_depth[%d]\" is %d but must be from 1 "
                           "to %d", i, c->decoder_dims[i], MAX_DIM);
    if (c->init_decoder_conv_kernel % 2 == 0)
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"init_decoder_conv_kernel\" is %d but must be odd (upstream "
                       "asserts it)", c->init_decoder_conv_kernel);
    if (c->use_residual_lfq && (c->codebook_size & (c->codebook_size - 1)) != 0)
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"codebook_size\" is %d but lookup-free quantization needs a "
                       "power of two (each code is log2(codebook_size) sign bits)", c->codebook_size);
    if (!(isfinite(c->coor_range[0]) && isfinite(c->coor_range[1]) && c->coor_range[1] > c->coor_range[0]))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"coor_continuous_range\" [%g, %g] must be finite with low < "
                       "high", (double)c->coor_range[0], (double)c->coor_range[1]);
    if (!isfinite(c->lfq_soft_clamp) || c->lfq_soft_clamp < 0.0f || (c->lfq_soft_clamp > 0.0f && c->lfq_soft_clamp < 1.0f))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"rlfq_kwargs.soft_clamp_input_value\" is %g but must be null "
                       "or at least 1 (the first level's code scale)", (double)c->lfq_soft_clamp);
    if (!isfinite(c->bin_smooth_blur_sigma) || !isfinite(c->commit_loss_weight))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"bin_smooth_blur_sigma\" and \"commit_loss_weight\" must be "
                       "finite");
    if ((c->attn_encoder_depth > 0 || c->attn_decoder_depth > 0) && c->local_attn_dim_head % 2 != 0)
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": \"local_attn_kwargs.dim_head\" is %d but must be even (rotary "
                       "positions rotate pairs of channels)", c->local_attn_dim_head);
    if (c->quads && c->attn_decoder_depth > 0)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, WHERE ": quads with attn_decoder_depth > 0 cannot run: "
                       "meshgpt-pytorch builds the decoder attention at 3 * dim_codebook while quad faces carry "
                       "4 * dim_codebook");
    const mg_preprocess_config *p = &c->preprocess;
    if (!(p->normalize_scale > 0.0f && p->normalize_scale <= 1.0f))
        return mg_fail(diag, MG_ERR_FORMAT, "preprocess config: \"normalize_scale\" is %g but must be in (0, 1]",
                       (double)p->normalize_scale);
    if ((unsigned)p->order > MG_ORDER_YZX || (unsigned)p->rotation > MG_FACE_SORT_INDICES)
        return mg_fail(diag, MG_ERR_FORMAT, "preprocess config: unknown vertex order or face rotation");
    return MG_OK;
}

mg_status mg_ae_config_from_kwargs(const cJSON *kwargs, mg_ae_config *config, mg_diag *diag)
{
    if (!config)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_ae_config_from_kwargs: config is NULL");
    if (!cJSON_IsObject(kwargs))
        return mg_fail(diag, MG_ERR_FORMAT, WHERE ": the autoencoder kwargs must be a JSON object, not %s",
                       type_name(kwargs));
    const cJSON *item;
    cJSON_ArrayForEach(item, kwargs)
    {
        mg_status s = read_kwarg(item, config, diag);
        if (s != MG_OK)
            return s;
    }
    const cJSON *rvq = cJSON_GetObjectItemCaseSensitive(kwargs, "rvq_kwargs");
    if (rvq) {
        mg_status s = read_rvq_kwargs(rvq, config, diag);
        if (s != MG_OK)
            return s;
    }
    return mg_ae_config_validate(config, diag);
}

/* ---- writing ---- */

/* The shortest decimal that reads back as the same float, so 0.4f is written 0.4. */
static cJSON *float_number(float value)
{
    char text[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)value);
        double parsed = strtod(text, NULL);
        if ((float)parsed == value)
            return cJSON_CreateNumber(parsed);
    }
    return cJSON_CreateNumber((double)value);
}

static bool add(cJSON *object, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObject(object, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *attn_kwargs(int dim_head, int heads)
{
    cJSON *o = cJSON_CreateObject();
    if (o && (!add(o, "dim_head", cJSON_CreateNumber(dim_head)) || !add(o, "heads", cJSON_CreateNumber(heads)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool add_to_array(cJSON *array, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *mg_ae_config_to_kwargs(const mg_ae_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add(o, "num_discrete_coors", cJSON_CreateNumber(c->num_discrete_coors));
    cJSON *range = ok ? cJSON_CreateArray() : NULL; /* attached at once, or freed by add() */
    ok = ok && add(o, "coor_continuous_range", range) && add_to_array(range, float_number(c->coor_range[0])) &&
              add_to_array(range, float_number(c->coor_range[1])) &&
              add(o, "dim_coor_embed", cJSON_CreateNumber(c->dim_coor_embed)) &&
              add(o, "num_discrete_area", cJSON_CreateNumber(c->num_discrete_area)) &&
              add(o, "dim_area_embed", cJSON_CreateNumber(c->dim_area_embed)) &&
              add(o, "num_discrete_normals", cJSON_CreateNumber(c->num_discrete_normals)) &&
              add(o, "dim_normal_embed", cJSON_CreateNumber(c->dim_normal_embed)) &&
              add(o, "num_discrete_angle", cJSON_CreateNumber(c->num_discrete_angle)) &&
              add(o, "dim_angle_embed", cJSON_CreateNumber(c->dim_angle_embed)) &&
              add(o, "encoder_dims_through_depth", cJSON_CreateIntArray(c->encoder_dims, c->encoder_depth)) &&
              add(o, "init_decoder_conv_kernel", cJSON_CreateNumber(c->init_decoder_conv_kernel)) &&
              add(o, "decoder_dims_through_depth", cJSON_CreateIntArray(c->decoder_dims, c->decoder_depth)) &&
              add(o, "dim_codebook", cJSON_CreateNumber(c->dim_codebook)) &&
              add(o, "num_quantizers", cJSON_CreateNumber(c->num_quantizers)) &&
              add(o, "codebook_size", cJSON_CreateNumber(c->codebook_size)) &&
              add(o, "use_residual_lfq", cJSON_CreateBool(c->use_residual_lfq));
    cJSON *rlfq = ok ? cJSON_CreateObject() : NULL;
    ok = ok && add(o, "rlfq_kwargs", rlfq) &&
         add(rlfq, "soft_clamp_input_value",
             c->lfq_soft_clamp > 0.0f ? float_number(c->lfq_soft_clamp) : cJSON_CreateNull()) &&
         add(o, "commit_loss_weight", float_number(c->commit_loss_weight)) &&
         add(o, "bin_smooth_blur_sigma", float_number(c->bin_smooth_blur_sigma)) &&
         add(o, "attn_encoder_depth", cJSON_CreateNumber(c->attn_encoder_depth)) &&
         add(o, "attn_decoder_depth", cJSON_CreateNumber(c->attn_decoder_depth)) &&
         add(o, "local_attn_kwargs", attn_kwargs(c->local_attn_dim_head, c->local_attn_heads)) &&
         add(o, "local_attn_window_size", cJSON_CreateNumber(c->local_attn_window_size)) &&
         add(o, "linear_attn_kwargs", attn_kwargs(c->linear_attn_dim_head, c->linear_attn_heads)) &&
         add(o, "use_linear_attn", cJSON_CreateBool(c->use_linear_attn)) &&
         add(o, "quads", cJSON_CreateBool(c->quads));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- preprocessing ---- */

static const char *const order_names[] = {[MG_ORDER_NONE] = "none", [MG_ORDER_ZYX] = "zyx", [MG_ORDER_YZX] = "yzx"};
static const char *const rotation_names[] = {[MG_FACE_ROTATE_CYCLIC] = "cyclic", [MG_FACE_SORT_INDICES] = "sorted"};

static mg_status pre_bool(const cJSON *item, const char *key, bool *out, mg_diag *diag)
{
    if (!cJSON_IsBool(item))
        return mg_fail(diag, MG_ERR_FORMAT, "preprocess config: \"%s\" must be true or false, not %s", key,
                       type_name(item));
    *out = cJSON_IsTrue(item);
    return MG_OK;
}

static mg_status pre_choice(const cJSON *item, const char *key, const char *const *names, int count, int *out,
                            mg_diag *diag)
{
    if (cJSON_IsString(item))
        for (int i = 0; i < count; i++)
            if (strcmp(item->valuestring, names[i]) == 0) {
                *out = i;
                return MG_OK;
            }
    char choices[96] = "";
    for (int i = 0; i < count; i++) {
        size_t used = strlen(choices);
        mg_format(choices + used, sizeof choices - used, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    return mg_fail(diag, MG_ERR_FORMAT, "preprocess config: \"%s\" must be one of %s", key, choices);
}

mg_status mg_preprocess_config_from_json(const cJSON *object, mg_preprocess_config *p, mg_diag *diag)
{
    if (!cJSON_IsObject(object))
        return mg_fail(diag, MG_ERR_FORMAT, "preprocess config: must be a JSON object, not %s", type_name(object));
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        const char *k = item->string;
        mg_status s = MG_OK;
        int choice = 0;
        if (strcmp(k, "normalize") == 0) {
            s = pre_bool(item, k, &p->normalize, diag);
        } else if (strcmp(k, "normalize_scale") == 0) {
            if (!cJSON_IsNumber(item) || !(item->valuedouble > 0.0 && item->valuedouble <= 1.0))
                s = mg_fail(diag, MG_ERR_FORMAT, "preprocess config: \"normalize_scale\" must be a number in (0, 1]");
            else
                p->normalize_scale = (float)item->valuedouble;
        } else if (strcmp(k, "merge_vertices") == 0) {
            s = pre_bool(item, k, &p->merge_vertices, diag);
        } else if (strcmp(k, "drop_degenerate") == 0) {
            s = pre_bool(item, k, &p->drop_degenerate, diag);
        } else if (strcmp(k, "sort_faces") == 0) {
            s = pre_bool(item, k, &p->sort_faces, diag);
        } else if (strcmp(k, "vertex_order") == 0) {
            s = pre_choice(item, k, order_names, 3, &choice, diag);
            p->order = (mg_vertex_order)choice;
        } else if (strcmp(k, "face_rotation") == 0) {
            s = pre_choice(item, k, rotation_names, 2, &choice, diag);
            p->rotation = (mg_face_rotation)choice;
        } else {
            mg_log(diag, MG_LOG_WARN, "preprocess config: unknown key \"%s\" ignored", k);
        }
        if (s != MG_OK)
            return s;
    }
    return MG_OK;
}

cJSON *mg_preprocess_config_to_json(const mg_preprocess_config *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add(o, "normalize", cJSON_CreateBool(p->normalize)) &&
              add(o, "normalize_scale", float_number(p->normalize_scale)) &&
              add(o, "merge_vertices", cJSON_CreateBool(p->merge_vertices)) &&
              add(o, "drop_degenerate", cJSON_CreateBool(p->drop_degenerate)) &&
              add(o, "vertex_order", cJSON_CreateString(order_names[(unsigned)p->order <= MG_ORDER_YZX ? p->order : 0])) &&
              add(o, "face_rotation",
                  cJSON_CreateString(rotation_names[(unsigned)p->rotation <= MG_FACE_SORT_INDICES ? p->rotation : 0])) &&
              add(o, "sort_faces", cJSON_CreateBool(p->sort_faces));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- the model document ---- */

void mg_model_config_free(mg_model_config *config)
{
    if (!config)
        return;
    free(config->transformer_json);
    config->transformer_json = NULL;
    config->has_transformer = false;
    free(config->text_vocab);
    config->text_vocab = NULL;
    config->has_text_encoder = false;
}

static mg_status keep_transformer(const cJSON *kwargs, const char *key, mg_model_config *out, mg_diag *diag)
{
    if (!cJSON_IsObject(kwargs))
        return mg_fail(diag, MG_ERR_FORMAT, "model config: \"%s\" must be an object of MeshTransformer arguments, "
                       "not %s", key, type_name(kwargs));
    if (out->transformer_json) /* a duplicate key: which one was meant is unknowable */
        return mg_fail(diag, MG_ERR_FORMAT, "model config: \"%s\" appears twice", key);
    char *text = cJSON_PrintUnformatted(kwargs);
    if (!text)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "model config: out of memory");
    size_t n = strlen(text) + 1;
    out->transformer_json = malloc(n);
    if (out->transformer_json)
        memcpy(out->transformer_json, text, n);
    cJSON_free(text);
    if (!out->transformer_json)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "model config: out of memory");
    out->has_transformer = true;
    return MG_OK;
}

static mg_status read_max_faces(const cJSON *item, mg_ae_config *c, mg_diag *diag)
{
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) || item->valuedouble < 1 ||
        item->valuedouble > MAX_FACES_LIMIT)
        return mg_fail(diag, MG_ERR_FORMAT, "model config: \"max_faces\" must be an integer from 1 to %d",
                       MAX_FACES_LIMIT);
    c->max_faces = (int)item->valuedouble;
    return MG_OK;
}

static cJSON *parse_text(const char *text, size_t length, const char *source, mg_status *status, mg_diag *diag)
{
    if (!text) {
        *status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: no text", source);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, length, &end, false);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        *status = mg_fail(diag, MG_ERR_FORMAT, "%s is not valid JSON (error near byte %zu)", source, at);
        return NULL;
    }
    const char *stop = text + length;
    while (end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r' || *end == '\0'))
        end++;
    if (end != stop) {
        cJSON_Delete(root);
        *status = mg_fail(diag, MG_ERR_FORMAT, "%s has stray bytes after its JSON value", source);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *status = mg_fail(diag, MG_ERR_FORMAT, "%s must be a JSON object", source);
        return NULL;
    }
    *status = MG_OK;
    return root;
}

mg_status mg_model_config_parse(const char *text, size_t length, mg_model_config *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_config_parse: out is NULL");
    memset(out, 0, sizeof *out);
    mg_ae_config_defaults(&out->autoencoder);
    mg_status status;
    cJSON *root = parse_text(text, length, "the \"meshgpt\" model config", &status, diag);
    if (!root)
        return status;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(root, "autoencoder");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, MG_MODEL_FORMAT_NAME) != 0)
        status = mg_fail(diag, MG_ERR_FORMAT, "model config: \"format\" must be \"%s\"", MG_MODEL_FORMAT_NAME);
    else if (!cJSON_IsNumber(version) || version->valuedouble != floor(version->valuedouble) || version->valuedouble < 1)
        status = mg_fail(diag, MG_ERR_FORMAT, "model config: \"version\" must be a positive integer");
    else if (version->valuedouble > MG_MODEL_FORMAT_VERSION)
        status = mg_fail(diag, MG_ERR_UNSUPPORTED, "model config: version %g is newer than this library reads (%d): "
                         "update libmeshgpt", version->valuedouble, MG_MODEL_FORMAT_VERSION);
    else if (!ae)
        status = mg_fail(diag, MG_ERR_FORMAT, "model config: no \"autoencoder\" entry");
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (status != MG_OK)
            break;
        const char *k = item->string;
        if (strcmp(k, "preprocess") == 0)
            status = mg_preprocess_config_from_json(item, &out->autoencoder.preprocess, diag);
        else if (strcmp(k, "max_faces") == 0)
            status = read_max_faces(item, &out->autoencoder, diag);
        else if (strcmp(k, "transformer") == 0)
            status = keep_transformer(item, k, out, diag);
        else if (strcmp(k, "sampling") == 0)
            status = mg_sampling_config_from_json(item, &out->sampling, diag);
        else if (strcmp(k, "text_encoder") == 0) {
            status = mg_bert_config_from_json(item, "model config: \"text_encoder\"", &out->text_encoder, diag);
            out->has_text_encoder = status == MG_OK;
        } else if (strcmp(k, "format") != 0 && strcmp(k, "version") != 0 && strcmp(k, "autoencoder") != 0)
            mg_log(diag, MG_LOG_WARN, "model config: unknown key \"%s\" ignored", k);
    }
    /* The autoencoder last: its validation covers preprocess and max_faces too. */
    if (status == MG_OK)
        status = mg_ae_config_from_kwargs(ae, &out->autoencoder, diag);
    cJSON_Delete(root);
    if (status != MG_OK)
        mg_model_config_free(out);
    return status;
}

mg_status mg_model_config_parse_kwargs_file(const char *text, size_t length, const char *source,
                                            mg_model_config *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_model_config_parse_kwargs_file: out is NULL");
    memset(out, 0, sizeof *out);
    mg_ae_config_defaults(&out->autoencoder);
    mg_status status;
    cJSON *root = parse_text(text, length, source ? source : "config.json", &status, diag);
    if (!root)
        return status;
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(root, "autoencoder_kwargs");
    const cJSON *tf = cJSON_GetObjectItemCaseSensitive(root, "transformer_kwargs");
    if (ae || tf) {
        /* The wrapped form: other top-level keys are notes (defaults, provenance) and are ignored. */
        if (!ae)
            status = mg_fail(diag, MG_ERR_FORMAT, "%s has \"transformer_kwargs\" but no \"autoencoder_kwargs\"",
                             source ? source : "config.json");
        if (status == MG_OK && tf)
            status = keep_transformer(tf, "transformer_kwargs", out, diag);
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
        if (status == MG_OK && pre)
            status = mg_preprocess_config_from_json(pre, &out->autoencoder.preprocess, diag);
        const cJSON *faces = cJSON_GetObjectItemCaseSensitive(root, "max_faces");
        if (status == MG_OK && faces)
            status = read_max_faces(faces, &out->autoencoder, diag);
        const cJSON *sampling = cJSON_GetObjectItemCaseSensitive(root, "sampling");
        if (status == MG_OK && sampling)
            status = mg_sampling_config_from_json(sampling, &out->sampling, diag);
        if (status == MG_OK)
            status = mg_ae_config_from_kwargs(ae, &out->autoencoder, diag);
    } else {
        status = mg_ae_config_from_kwargs(root, &out->autoencoder, diag);
    }
    cJSON_Delete(root);
    if (status != MG_OK)
        mg_model_config_free(out);
    return status;
}

char *mg_model_config_to_json(const mg_model_config *config, bool pretty)
{
    if (!config)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *transformer = NULL;
    if (config->has_transformer && config->transformer_json) {
        transformer = cJSON_Parse(config->transformer_json);
        if (!transformer) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    bool ok = root && add(root, "format", cJSON_CreateString(MG_MODEL_FORMAT_NAME)) &&
              add(root, "version", cJSON_CreateNumber(MG_MODEL_FORMAT_VERSION)) &&
              add(root, "autoencoder", mg_ae_config_to_kwargs(&config->autoencoder)) &&
              add(root, "preprocess", mg_preprocess_config_to_json(&config->autoencoder.preprocess)) &&
              add(root, "max_faces", cJSON_CreateNumber(config->autoencoder.max_faces));
    if (ok && transformer) {
        ok = add(root, "transformer", transformer);
        transformer = NULL;
    }
    if (ok && config->has_text_encoder)
        ok = add(root, "text_encoder", mg_bert_config_to_json(&config->text_encoder));
    if (ok && mg_sampling_config_any(&config->sampling))
        ok = add(root, "sampling", mg_sampling_config_to_json(&config->sampling));
    cJSON_Delete(transformer);
    char *printed = ok ? (pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root)) : NULL;
    cJSON_Delete(root);
    if (!printed)
        return NULL;
    size_t n = strlen(printed) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, printed, n);
    cJSON_free(printed);
    return copy;
}
