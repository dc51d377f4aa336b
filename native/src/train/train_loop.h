/*
 * The training loop over any mg_trainable (train/trainable.h), as
 * meshgpt-pytorch's trainers run it (section 4 of the reference notes):
 *
 *   for each optimizer step:
 *     zero the gradients;
 *     for each of `accum` micro-batches: forward + backward with grad_scale 1/accum
 *       (the loss is a mean per batch, so accumulating k micro-batches of n equals one batch of k*n);
 *     clip the global gradient norm (max_grad_norm > 0), Adam/AdamW with linear warm-up, EMA update;
 *     every val_every steps: the mean loss over the held-out split (no gradients);
 *     every save_every steps and at the end: an atomic checkpoint (train/checkpoint.h).
 *
 * Every random choice is a pure function of the run's base RNG (seeded once, saved in the checkpoint) and the
 * micro-batch's global index: epoch e's order is a shuffle with fork(base, e), micro-batch m's augmentation
 * draws from fork(base, AUGMENT + m) and the trainable's own draws from fork(base, MODEL + m). A resumed run
 * therefore sees exactly the batches an unbroken run sees, and gives the same losses and weights.
 *
 * A NaN or infinite loss or gradient norm stops the run before the weights change, with a message; nothing is
 * saved, so the last good checkpoint stays as it was. A progress callback that returns false stops the run
 * after saving a checkpoint of the steps done (MG_ERR_CANCELLED).
 */
#ifndef MG_TRAIN_TRAIN_LOOP_H
#define MG_TRAIN_TRAIN_LOOP_H

#include "train/trainable.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mg_train_loop_config {
    uint64_t steps;              /* optimizer steps in all (a resumed run continues up to this many) */
    size_t batch_size;           /* meshes per micro-batch */
    size_t accum;                /* micro-batches per optimizer step (>= 1) */
    mg_adam_config adam;
    uint64_t warmup_steps;       /* linear warm-up (0: none) */
    bool cosine_decay;           /* after the warm-up, a cosine from adam.lr down to final_lr_fraction of it */
    double final_lr_fraction;
    double max_grad_norm;        /* <= 0: no clipping */
    bool ema;                    /* keep an EMA of the weights (the autoencoder trainer's default) */
    mg_ema_config ema_config;
    bool augment;                /* augment training batches (validation batches never are) */
    bool group_by_length;        /* batches of meshes with similar face counts (mg_train_microbatch_items) */
    mg_augment_params augment_params;
    uint64_t seed;               /* for a fresh run (a resumed run continues the checkpoint's RNG) */
    double val_fraction;         /* share of the items held out for validation (at least 1 when > 0 and
                                    there are at least 2 items; none when 0) */
    size_t val_max_items;        /* at most this many held out (0: no limit) */
    uint64_t val_every;          /* 0: never (besides never when there is no split) */
    uint64_t save_every;         /* 0: only at the end (and when stopped) */
    const char *checkpoint_path; /* NULL: no checkpoints at all */
    bool resume;                 /* continue from checkpoint_path (which must exist) */
    const char *curve_path;      /* NULL: no loss-curve SVG; else written with every checkpoint and at the end */
    const char *model_path;      /* NULL: none; else a plain model file (EMA weights when kept) at the end */
    const char *trainer_json;    /* extra settings stored in the checkpoint under "settings" (JSON, may be NULL) */
} mg_train_loop_config;

/* Defaults shared by both models: batch 4, accum 1, Adam lr 1e-4 (0.9, 0.99, 1e-8), warm-up 1000, no clipping,
 * no EMA (the default EMA schedule filled in), augmentation with the paper's parameters, seed 0, 5% held out
 * (at most 64), validation every 100 steps, checkpoints every 1000 steps. `steps` is 0: the caller sets it. */
mg_train_loop_config mg_train_loop_default_config(void);

typedef enum mg_train_loop_event {
    MG_TRAIN_EVENT_START = 0,  /* before the first step: data sizes, step to start from */
    MG_TRAIN_EVENT_STEP = 1,   /* after each optimizer step */
    MG_TRAIN_EVENT_SAVED = 2   /* after a checkpoint was written */
} mg_train_loop_event;

/* What the loop reports (the public mg_train_progress is filled from it). */
typedef struct mg_train_loop_report {
    mg_train_loop_event event;
    uint64_t step;               /* optimizer steps done */
    uint64_t total_steps;
    uint64_t epoch;              /* of the last micro-batch (from 0) */
    mg_train_losses losses;      /* this step's mean over its micro-batches */
    double learning_rate;        /* used by this step (warm-up applied) */
    double grad_norm;            /* before clipping */
    double steps_per_second;     /* since this run (or resume) began */
    double samples_per_second;
    bool has_validation;         /* validation_loss is this step's */
    double validation_loss;      /* the latest validation loss (NaN before the first) */
    size_t train_items, validation_items;
    const char *saved_path;      /* MG_TRAIN_EVENT_SAVED: the checkpoint just written */
} mg_train_loop_report;

/* Return false to stop (the loop saves a checkpoint first). */
typedef bool (*mg_train_loop_progress_fn)(const mg_train_loop_report *report, void *user_data);

/*
 * Trains `model` on `data` as `config` says. Errors are recorded on `diag` (every one says what to do); a
 * stop asked for by the callback returns MG_ERR_CANCELLED after the checkpoint is saved. *out_last (may be
 * NULL) receives the last step's report.
 */
mg_status mg_train_loop_run(mg_trainable *model, const mg_train_dataset *data, const mg_train_loop_config *config,
                            mg_train_loop_progress_fn progress, void *user_data, mg_train_loop_report *out_last,
                            mg_diag *diag);

/* ---- pieces exposed for the tests ---- */

/* The held-out split: the items of `count` in a seeded order (fork of `base` for the split), the first
 * *out_val of them for validation, the rest (*out_train) for training. Both lists malloc'ed, sorted. */
mg_status mg_train_split(size_t count, const mg_rng *base, double val_fraction, size_t val_max, size_t **out_train,
                         size_t *out_train_count, size_t **out_val, size_t *out_val_count, mg_diag *diag);

/* Batches per chunk sorted by length when batches are grouped by length: large enough that the batches of a
 * chunk hold meshes of nearly one length, small enough that each chunk mixes classes and sizes at random. */
#define MG_TRAIN_LENGTH_GROUP_BATCHES 32

/* The training items (indices into the dataset) of micro-batch `m` (global, from 0): epoch m / per_epoch
 * (per_epoch = train_count / batch, leftovers dropped as upstream's drop_last), shuffled with
 * fork(base, epoch). With `lengths` (per dataset item, e.g. face counts; NULL: plain random batches), each
 * chunk of MG_TRAIN_LENGTH_GROUP_BATCHES batches of the shuffled epoch is sorted by length before it is cut
 * into batches, and the epoch's batches are then shuffled (same RNG): every item is still seen once per
 * epoch, but a batch pads its meshes to a similar length. Writes `batch` indices; *out_epoch (may be NULL)
 * is the epoch. */
mg_status mg_train_microbatch_items(const size_t *train, size_t train_count, size_t batch, const size_t *lengths,
                                    const mg_rng *base, uint64_t m, size_t *out_indices, uint64_t *out_epoch,
                                    mg_diag *diag);

#endif
