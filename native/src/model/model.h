/* The mg_model object behind the public handle. */
#ifndef MG_MODEL_MODEL_H
#define MG_MODEL_MODEL_H

#include "model/autoencoder.h"
#include "model/model_file.h"
#include "model/transformer.h"

struct mg_model {
    mg_context *ctx;
    mg_model_file_info info;
    mg_weights weights;
    mg_autoencoder autoencoder;
    bool has_transformer;
    mg_transformer transformer;
    mg_text_encoder *text_encoder; /* the file's built-in text encoder, or NULL */
};

#endif
