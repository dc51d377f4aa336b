/*
 * Training checkpoints: one .safetensors in the project's model format (the
 * weights under their state-dict names and the model configuration under the
 * "meshgpt" metadata key, so the file is also a model file) plus the trainer's
 * state:
 *  - tensors "train.adam_m.<name>" and "train.adam_v.<name>" (Adam's moments)
 *    and "train.ema.<name>" (the EMA weights), all F32; every extra tensor
 *    carries the one prefix "train." so a model loader can leave them out;
 *  - metadata "meshgpt_train": {"format": "meshgpt-train-state", "version": 1,
 *    "step": N, "rng": ["<16 hex digits>" x 4], "ema": {"step": N, "initted":
 *    bool}, "trainer": <the trainer's settings, any JSON value>}.
 *
 * Saving is atomic and durable: the file is written beside the target as
 * "<path>.partial", read back and checked, flushed to disk (fsync), then
 * renamed over the target and the folder flushed. A failure at any point (disk
 * full, no permission, a crash) leaves the previous checkpoint as it was.
 */
#ifndef MG_TRAIN_CHECKPOINT_H
#define MG_TRAIN_CHECKPOINT_H

#include "model/config_json.h"
#include "ops/tensor.h"
#include "train/optim.h"
#include "train/rng.h"

#define MG_TRAIN_METADATA_KEY "meshgpt_train"
#define MG_TRAIN_TENSOR_PREFIX "train."

/* One trained parameter and its optimizer state. All present tensors are f32 of the same shape. */
typedef struct mg_train_param {
    const char *name;    /* state-dict name, e.g. "encoders.0.lin_l.weight" */
    mg_tensor *value;    /* the f32 master weight */
    mg_tensor *adam_m;   /* NULL: not trained (frozen) and not saved */
    mg_tensor *adam_v;   /* NULL together with adam_m */
    mg_tensor *ema;      /* NULL: no EMA copy */
} mg_train_param;

typedef struct mg_train_state {
    uint64_t step;       /* optimizer steps done (Adam's step of the next update is step + 1) */
    mg_rng rng;
    mg_ema_state ema;
    char *trainer_json;  /* the trainer's settings as JSON (saving: the caller's, NULL for null; loading:
                            malloc'ed, free with mg_train_state_free) */
} mg_train_state;

void mg_train_state_free(mg_train_state *state);

/*
 * Writes a checkpoint of `params` (values, moments and EMA copies, read from their backend) and `state`.
 * model_config (may be NULL) is stored under "meshgpt" so the weights load as a model. Names must be unique.
 */
mg_status mg_train_checkpoint_save(const char *path, const mg_model_config *model_config,
                                   const mg_train_param *params, size_t count, const mg_train_state *state,
                                   mg_diag *diag);

/*
 * Restores a checkpoint into `params` (every present tensor of every entry must be in the file with its
 * shape: the error names the first one that is not and counts the others) and overwrites *state (its
 * trainer_json malloc'ed; a previous one is not freed). Tensors are written only after the whole file has
 * been checked, so a refused file changes nothing.
 */
mg_status mg_train_checkpoint_load(const char *path, const mg_train_param *params, size_t count,
                                   mg_train_state *state, mg_diag *diag);

#endif
