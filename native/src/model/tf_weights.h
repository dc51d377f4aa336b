/* The tensors a MeshTransformer with a given config has (outside its autoencoder). */
#ifndef MG_MODEL_TF_WEIGHTS_H
#define MG_MODEL_TF_WEIGHTS_H

#include "model/tf_config.h"
#include "model/weights.h"

/* *out is malloc'ed; names are the state-dict names (no prefix). */
mg_status mg_tf_weight_specs(const mg_tf_config *config, mg_weight_spec **out, size_t *count, mg_diag *diag);

#endif
