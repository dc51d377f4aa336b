/*
 * Hyper-parameters of a checkpoint read off its tensor shapes, for torch.save
 * files that come without a config.json (meshgpt-pytorch pickles its
 * constructor arguments, which only Python can read). What the shapes do not
 * determine is taken from meshgpt-pytorch 1.7.2's defaults and logged at info
 * level by name.
 */
#ifndef MG_MODEL_MODEL_TORCH_INFER_H
#define MG_MODEL_MODEL_TORCH_INFER_H

#include "io/safetensors.h"
#include "model/ae_config.h"

/* MeshAutoencoder kwargs from the tensors under `prefix` ("" or "autoencoder."); *config starts from the
 * defaults. Not validated here (mg_ae_config_validate). `source` names the file in messages. */
mg_status mg_infer_ae_config(const mg_safetensors *file, const char *prefix, const char *source, mg_ae_config *config,
                             mg_diag *diag);

/* MeshTransformer kwargs (upstream names) as compact JSON (*json malloc'ed). */
mg_status mg_infer_transformer_kwargs(const mg_safetensors *file, const char *source, char **json, mg_diag *diag);

#endif
