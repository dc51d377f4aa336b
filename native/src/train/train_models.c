/*
 * The models' trainables for the public entry points (train/train_models.h).
 *
 * The implementations are ae_train.c (mg_ae_trainable_create) and tf_train.c
 * (mg_tf_trainable_create). They are used when their headers are part of the
 * build; a build without them answers MG_ERR_UNSUPPORTED with a message, so
 * the loop, the API and the CLI build and test on their own.
 */
#include "train/train_models.h"

#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("train/ae_train.h")
#include "train/ae_train.h"
#define MG_HAVE_AE_TRAIN 1
#endif
#if __has_include("train/tf_train.h")
#include "train/tf_train.h"
#define MG_HAVE_TF_TRAIN 1
#endif
#endif

/* Weak: the models' code may define it too. */
__attribute__((weak)) void mg_trainable_free(mg_trainable *trainable)
{
    if (trainable && trainable->destroy)
        trainable->destroy(trainable);
}

bool mg_train_have_autoencoder(void)
{
#ifdef MG_HAVE_AE_TRAIN
    return true;
#else
    return false;
#endif
}

bool mg_train_have_transformer(void)
{
#ifdef MG_HAVE_TF_TRAIN
    return true;
#else
    return false;
#endif
}

mg_status mg_train_create_autoencoder(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
#ifdef MG_HAVE_AE_TRAIN
    (void)diag;
    mg_ae_train_params p = mg_ae_train_default_params();
    mg_model *model = NULL;
    if (source->from) {
        mg_status status = mg_model_load(ctx, source->from, &model);
        if (status != MG_OK)
            return status;
    }
    p.model = model;
    p.config = source->config;
    p.seed = source->seed;
    mg_status status = mg_ae_trainable_create(ctx, &p, out);
    mg_model_free(model);
    return status;
#else
    (void)ctx;
    (void)source;
    return mg_fail(diag, MG_ERR_UNSUPPORTED, "this build of libmeshgpt has no autoencoder training (the "
                   "autoencoder's backward pass is not compiled in)");
#endif
}

mg_status mg_train_create_transformer(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
#ifdef MG_HAVE_TF_TRAIN
    if (source->from && source->autoencoder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "fine-tuning '%s': the model file holds its autoencoder "
                       "already; leave out the autoencoder ('%s')", source->from, source->autoencoder);
    if (!source->from && !source->autoencoder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a new transformer needs the trained autoencoder's model "
                       "file");
    mg_tf_train_params p = mg_tf_train_default_params();
    p.model_path = source->from ? source->from : source->autoencoder;
    /* A new transformer: the config's kwargs, else meshgpt-pytorch's defaults. */
    if (!source->from)
        p.transformer_json = source->config && source->config->transformer_json ? source->config->transformer_json
                                                                                 : "{}";
    p.init_seed = source->seed;
    p.text_encoder_folder = source->text_encoder;
    /* source->captions is there for a new built-in encoder (mg_tf_text_encoder_from_captions) when the new
     * transformer is text-conditioned and no folder is given: wired with the transformer's trainer. */
    return mg_tf_trainable_create(ctx, &p, out);
#else
    (void)ctx;
    (void)source;
    return mg_fail(diag, MG_ERR_UNSUPPORTED, "this build of libmeshgpt has no transformer training (the "
                   "transformer's backward pass is not compiled in)");
#endif
}
