#include "model/sampling_config.h"

#include <math.h>
#include <string.h>

typedef struct field_rule {
    const char *key;
    double lo, hi;
    const char *range; /* as the message says it */
} field_rule;

static const field_rule rules[MG_SAMPLING_FIELDS] = {
    [MG_SAMPLING_TEMPERATURE] = {"temperature", 0.0, 1e6, "0 (greedy) or more"},
    [MG_SAMPLING_TOP_K_FRACTION] = {"top_k_fraction", 0.0, 1.0, "in [0, 1]"},
    [MG_SAMPLING_TOP_P] = {"top_p", 0.0, 1.0, "in [0, 1]"},
    [MG_SAMPLING_MIN_P] = {"min_p", 0.0, 1.0, "in [0, 1]"},
    [MG_SAMPLING_COND_SCALE] = {"cond_scale", -1e6, 1e6, "a finite number"},
    [MG_SAMPLING_VERTEX_REUSE] = {"vertex_reuse", 0.0, 1e6, "0 or 1 (off) or up to 1e6"},
};

const char *mg_sampling_key(mg_sampling_field field)
{
    return field >= 0 && field < MG_SAMPLING_FIELDS ? rules[field].key : "";
}

mg_status mg_sampling_config_set(mg_sampling_config *config, const char *key, double value, mg_diag *diag)
{
    for (int f = 0; f < MG_SAMPLING_FIELDS; f++) {
        if (strcmp(key, rules[f].key) != 0)
            continue;
        const bool reuse_gap = f == MG_SAMPLING_VERTEX_REUSE && value > 0.0 && value < 1.0;
        if (!isfinite(value) || value < rules[f].lo || value > rules[f].hi || reuse_gap)
            return mg_fail(diag, MG_ERR_FORMAT, "sampling setting \"%s\" must be %s, not %g", key, rules[f].range,
                           value);
        config->has[f] = true;
        config->value[f] = (float)value;
        return MG_OK;
    }
    return mg_fail(diag, MG_ERR_FORMAT, "unknown sampling setting \"%s\" (known: temperature, top_k_fraction, top_p, "
                   "min_p, cond_scale, vertex_reuse)", key);
}

mg_status mg_sampling_config_from_json(const cJSON *object, mg_sampling_config *config, mg_diag *diag)
{
    if (!cJSON_IsObject(object))
        return mg_fail(diag, MG_ERR_FORMAT, "model config: \"sampling\" must be an object such as "
                       "{\"temperature\": 0.5}");
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (!cJSON_IsNumber(item))
            return mg_fail(diag, MG_ERR_FORMAT, "model config: sampling setting \"%s\" must be a number",
                           item->string);
        mg_status status = mg_sampling_config_set(config, item->string, item->valuedouble, diag);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

bool mg_sampling_config_any(const mg_sampling_config *config)
{
    for (int f = 0; f < MG_SAMPLING_FIELDS; f++)
        if (config->has[f])
            return true;
    return false;
}

cJSON *mg_sampling_config_to_json(const mg_sampling_config *config)
{
    cJSON *object = cJSON_CreateObject();
    for (int f = 0; object && f < MG_SAMPLING_FIELDS; f++)
        if (config->has[f] && !cJSON_AddNumberToObject(object, rules[f].key, (double)config->value[f])) {
            cJSON_Delete(object);
            return NULL;
        }
    return object;
}

void mg_sampling_config_apply(const mg_sampling_config *config, mg_generate_params *params)
{
    float *targets[MG_SAMPLING_FIELDS] = {
        [MG_SAMPLING_TEMPERATURE] = &params->temperature, [MG_SAMPLING_TOP_K_FRACTION] = &params->top_k_fraction,
        [MG_SAMPLING_TOP_P] = &params->top_p,             [MG_SAMPLING_MIN_P] = &params->min_p,
        [MG_SAMPLING_COND_SCALE] = &params->cond_scale,   [MG_SAMPLING_VERTEX_REUSE] = &params->vertex_reuse,
    };
    for (int f = 0; f < MG_SAMPLING_FIELDS; f++)
        if (config->has[f])
            *targets[f] = config->value[f];
    if (config->has[MG_SAMPLING_TOP_K_FRACTION])
        params->top_k = 0; /* the fraction applies only without a count */
}
