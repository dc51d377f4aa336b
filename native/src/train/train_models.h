/*
 * How the public training entry points (api/train.c) and `meshgpt bench
 * train` get the two models' trainables, without depending on how those are
 * built: one description of where the weights come from, and one creation
 * function per model. train_models.c forwards these to the models'
 * implementations (ae_train.h: mg_ae_trainable_create, tf_train.h:
 * mg_tf_trainable_create).
 */
#ifndef MG_TRAIN_TRAIN_MODELS_H
#define MG_TRAIN_TRAIN_MODELS_H

#include "train/trainable.h"

typedef struct mg_train_model_source {
    /* A model file to start from (fine-tuning): any loadable model, meshgpt-pytorch checkpoints and this
     * project's training checkpoints included. NULL: fresh weights for `config`. */
    const char *from;
    /* The configuration of fresh weights (NULL: meshgpt-pytorch's defaults). */
    const mg_model_config *config;
    /* Transformer only: the frozen autoencoder's model file (NULL: the one inside `from`; with `from` NULL too,
     * a fresh random autoencoder of config->autoencoder, as `meshgpt bench train` needs). */
    const char *autoencoder;
    /* Transformer only: a BERT folder used frozen as the text encoder (NULL: a built-in encoder, trained with
     * the transformer). */
    const char *text_encoder;
    /* The data set's captions ([caption_count], NULL entries for none): a new built-in text encoder's
     * vocabulary is made from them. */
    const char *const *captions;
    size_t caption_count;
    uint64_t seed;        /* initialisation of fresh weights */
    bool ema;             /* allocate EMA copies of the trained parameters (the loop makes them otherwise) */
    mg_embedding_init embedding_init; /* autoencoder: how fresh embedding tables start */
    mg_autoencoder_start autoencoder_start; /* autoencoder: random or the coordinate code */
    mg_transformer_start transformer_start; /* transformer: random or the code bits */
} mg_train_model_source;

mg_status mg_train_create_autoencoder(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag);
mg_status mg_train_create_transformer(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag);

#endif
