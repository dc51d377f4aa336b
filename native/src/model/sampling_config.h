/*
 * Sampling settings a model file recommends: the "sampling" object of its configuration, e.g.
 * {"temperature": 0.5}. Each key is optional; mg_model_generate_params() lays the present ones over
 * mg_generate_default_params(), and the CLI and the add-on start from that, so a model trained to be sampled
 * a certain way is, unless the user says otherwise.
 */
#ifndef MG_MODEL_SAMPLING_CONFIG_H
#define MG_MODEL_SAMPLING_CONFIG_H

#include "core/diag.h"
#include "meshgpt.h"

#include <cjson/cJSON.h>

typedef enum mg_sampling_field {
    MG_SAMPLING_TEMPERATURE,
    MG_SAMPLING_TOP_K_FRACTION,
    MG_SAMPLING_TOP_P,
    MG_SAMPLING_MIN_P,
    MG_SAMPLING_COND_SCALE,
    MG_SAMPLING_VERTEX_REUSE,
    MG_SAMPLING_FIELDS
} mg_sampling_field;

typedef struct mg_sampling_config {
    bool has[MG_SAMPLING_FIELDS];
    float value[MG_SAMPLING_FIELDS];
} mg_sampling_config;

/* The JSON key of a field ("temperature", "top_k_fraction", "top_p", "min_p", "cond_scale", "vertex_reuse"). */
const char *mg_sampling_key(mg_sampling_field field);

/* Sets one setting by its key, checking its range; the message names the key and the range. */
mg_status mg_sampling_config_set(mg_sampling_config *config, const char *key, double value, mg_diag *diag);
/* Reads a "sampling" object; unknown keys are refused (a misspelt setting would silently do nothing). */
mg_status mg_sampling_config_from_json(const cJSON *object, mg_sampling_config *config, mg_diag *diag);
/* The object of the present settings (NULL when out of memory); empty when none is. */
cJSON *mg_sampling_config_to_json(const mg_sampling_config *config);
bool mg_sampling_config_any(const mg_sampling_config *config);
/* Writes the present settings into params. */
void mg_sampling_config_apply(const mg_sampling_config *config, mg_generate_params *params);

#endif
