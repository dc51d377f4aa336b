/*
 * Model files: a .safetensors with meshgpt-pytorch state-dict names and the
 * configuration as JSON in its __metadata__ (key "meshgpt"), or with
 * meshgpt-pytorch's constructor arguments in a config.json beside it (keys
 * "autoencoder_kwargs" / "transformer_kwargs", or a bare kwargs object).
 */
#ifndef MG_MODEL_MODEL_FILE_H
#define MG_MODEL_MODEL_FILE_H

#include "model/ae_config.h"
#include "model/weights.h"

typedef struct mg_model_file_info {
    bool has_autoencoder;
    mg_ae_config autoencoder;
    const char *autoencoder_prefix; /* "autoencoder." when the file holds a MeshTransformer, else "" */
    bool has_transformer;
    char *config_json;              /* the whole configuration, as this project writes it (malloc'ed) */
} mg_model_file_info;

/* Reads the config, checks every expected tensor and uploads the weights to ctx's backend. */
mg_status mg_model_file_load(mg_context *ctx, const char *path, mg_model_file_info *info, mg_weights *weights);
void mg_model_file_info_free(mg_model_file_info *info);

#endif
