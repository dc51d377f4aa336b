/*
 * The models' trainables for the public entry points (train/train_models.h).
 *
 * The implementations live in ae_train.c and tf_train.c. They are referenced
 * as weak symbols, so a build without them links and answers
 * MG_ERR_UNSUPPORTED; wiring at merge means replacing the two prototypes below
 * by the headers (ae_train.h, tf_train.h) and adapting the two calls to their
 * parameters. Until then the prototypes are this file's assumption.
 */
#include "train/train_models.h"

#include <stdlib.h>

/* ASSUMED signatures (see above). */
mg_status mg_ae_trainable_create(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                 mg_diag *diag) __attribute__((weak));
mg_status mg_tf_trainable_create(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                 mg_diag *diag) __attribute__((weak));

/* Weak too: a model's implementation may define it. */
__attribute__((weak)) void mg_trainable_free(mg_trainable *trainable)
{
    if (trainable && trainable->destroy)
        trainable->destroy(trainable);
}

bool mg_train_have_autoencoder(void)
{
    return mg_ae_trainable_create != NULL;
}

bool mg_train_have_transformer(void)
{
    return mg_tf_trainable_create != NULL;
}

mg_status mg_train_create_autoencoder(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
    if (!mg_ae_trainable_create)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "this build of libmeshgpt has no autoencoder training (the "
                       "autoencoder's backward pass is not compiled in)");
    return mg_ae_trainable_create(ctx, source, out, diag);
}

mg_status mg_train_create_transformer(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
    if (!mg_tf_trainable_create)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "this build of libmeshgpt has no transformer training (the "
                       "transformer's backward pass is not compiled in)");
    return mg_tf_trainable_create(ctx, source, out, diag);
}
