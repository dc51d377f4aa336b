/*
 * A model under training, as the training loop (train_loop.c) sees it: its
 * parameters (f32 master weights with Adam moments and an optional EMA copy,
 * as checkpoint.h stores them), one f32 gradient per parameter, and a step
 * that runs the forward and backward passes on a batch. The loop owns
 * everything else: batches, the optimizer, clipping, accumulation, EMA,
 * validation, checkpoints and progress.
 *
 * Implementations: the autoencoder (ae_train.c: reconstruction + quantizer
 * losses) and the transformer (tf_train.c: token cross-entropy, text condition
 * dropped for classifier-free guidance, optionally a built-in text encoder
 * trained with it).
 */
#ifndef MG_TRAIN_TRAINABLE_H
#define MG_TRAIN_TRAINABLE_H

#include "model/config_json.h"
#include "train/checkpoint.h"
#include "train/dataset.h"

#define MG_TRAIN_MAX_LOSS_TERMS 4

/* The loss of one batch: the total the gradients belong to, and its named parts (e.g. "recon", "commit"). */
typedef struct mg_train_losses {
    double total;
    size_t terms;
    const char *names[MG_TRAIN_MAX_LOSS_TERMS];   /* static strings */
    double values[MG_TRAIN_MAX_LOSS_TERMS];
} mg_train_losses;

typedef struct mg_trainable mg_trainable;

struct mg_trainable {
    mg_context *ctx;
    const char *kind;            /* "autoencoder" or "transformer" */
    mg_train_param *params;      /* [count]: value (f32), adam_m/adam_v (f32, zeroed at creation; NULL for frozen
                                    parameters), ema (NULL unless the loop asks for EMA) */
    mg_tensor **grads;           /* [count]: f32 like value, NULL for frozen parameters; step() adds to them */
    size_t count;
    mg_model_config config;      /* what a checkpoint stores so that it loads as a model */
    /*
     * Forward and backward on one batch (rng: the trainable's own draws, e.g. which captions are dropped for
     * classifier-free guidance; deterministic given its state): adds grad_scale * d(total)/d(param) to every
     * gradient and fills *losses (the unscaled loss of this batch). With `backward` false only the losses
     * are computed (validation) and the gradients are untouched.
     */
    mg_status (*step)(mg_trainable *self, const mg_train_batch *batch, bool backward, float grad_scale, mg_rng *rng,
                      mg_train_losses *losses);
    /* Writes the model file (config + current values, or the EMA copies when use_ema and present). */
    mg_status (*save_model)(mg_trainable *self, const char *path, bool use_ema);
    void (*destroy)(mg_trainable *self);
    void *impl;
};

/* Frees a trainable through its destroy function; NULL is ignored. */
void mg_trainable_free(mg_trainable *trainable);

#endif
