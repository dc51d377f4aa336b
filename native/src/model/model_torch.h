/*
 * meshgpt-pytorch checkpoints written by torch.save, read without Python:
 * model.save() files ({'model': state_dict, 'config': pickled bytes,
 * 'version': str}), trainer checkpoints ({'model', 'ema_model', 'optimizer',
 * 'step', ...}) and bare state dicts.
 *
 * The result has the shape of a project model file (an mg_safetensors): the
 * state dict's tensors under their names, dense and little-endian (stored
 * tensors point into the memory-mapped checkpoint, strided ones are copied),
 * and the configuration as the "meshgpt" metadata document, so the rest of
 * the loader cannot tell the formats apart.
 *
 * Conversions: x-transformers < 1.31 LayerNorm `weight` of the transformer's
 * norms becomes `gamma` = weight - 1 (newer x-transformers stores gamma and
 * adds 1); the autoencoder's nn.LayerNorms stay as they are.
 */
#ifndef MG_MODEL_MODEL_TORCH_H
#define MG_MODEL_MODEL_TORCH_H

#include "io/safetensors.h"
#include "io/torch_zip.h"

typedef enum mg_torch_weights {
    MG_TORCH_WEIGHTS_AUTO = 0, /* the EMA weights of a trainer checkpoint when present, else the model's */
    MG_TORCH_WEIGHTS_MODEL,    /* the online model's ('model') */
    MG_TORCH_WEIGHTS_EMA       /* the EMA model's ('ema_model'); an error when absent */
} mg_torch_weights;

typedef struct mg_torch_options {
    const char *config_path;   /* meshgpt-pytorch kwargs JSON; NULL: config.json beside the file, else inferred */
    mg_torch_weights weights;
} mg_torch_options;

/* True when the bytes look like a torch.save zip archive (or an empty zip). */
bool mg_torch_has_magic(const void *bytes, size_t size);
/* True when the file at `path` starts like one (false when it cannot be read). */
bool mg_torch_is_checkpoint_file(const char *path);

/* The state dict's tensors of an opened archive, no configuration (out->metadata is empty). When the archive
 * is memory-mapped, the mapping moves into `out` (zip keeps its directory). `options` may be NULL. */
mg_status mg_torch_read_tensors(mg_zip *zip, const mg_torch_options *options, mg_safetensors *out, mg_diag *diag);

/* The metadata entry of an opened checkpoint that says, in words, where its configuration came from (config.json
 * beside it, --config, or inferred from tensor shapes with the defaulted fields named). */
#define MG_TORCH_CONFIG_SOURCE_KEY "meshgpt.config_source"

/* A checkpoint as a model file: tensors plus the "meshgpt" configuration (from options->config_path, else
 * config.json beside `path`, else inferred from the tensor shapes with defaults for the rest, logged). */
mg_status mg_torch_checkpoint_open(const char *path, const mg_torch_options *options, mg_safetensors *out,
                                   mg_diag *diag);

#endif
