/*
 * Writing model files in this project's format: a .safetensors whose
 * "__metadata__" holds the configuration under "meshgpt" (see config_json.h).
 * Used by the tests to make random-weight models and, later, by training.
 */
#ifndef MG_MODEL_MODEL_WRITE_H
#define MG_MODEL_MODEL_WRITE_H

#include "io/safetensors.h"
#include "model/config_json.h"

/*
 * Writes `config` and `tensors` (state-dict names; the autoencoder's under
 * "autoencoder." when config->has_transformer). The tensors are checked
 * against the config first, as the loader will, so a writer bug cannot make
 * a file that does not load.
 */
mg_status mg_model_write(const char *path, const mg_model_config *config, const mg_st_write_tensor *tensors,
                         size_t count, mg_diag *diag);

/*
 * Writes a model with every tensor `config` expects: float weights uniform in
 * [-scale, scale) from `seed`, stored as `float_dtype` (F32, F16 or BF16);
 * buffers hold what upstream puts there (LFQ bit masks, rotary frequencies;
 * the shared VQ codebook random and identical at every level, initted 1).
 */
mg_status mg_model_write_random(const char *path, const mg_model_config *config, uint32_t seed, float scale,
                                mg_st_dtype float_dtype, mg_diag *diag);

#endif
