/*
 * Model files: a .safetensors with meshgpt-pytorch state-dict names and the
 * configuration as JSON in its __metadata__ (key "meshgpt"), or with
 * meshgpt-pytorch's constructor arguments in a config.json beside it (keys
 * "autoencoder_kwargs" / "transformer_kwargs", or a bare kwargs object).
 */
#ifndef MG_MODEL_MODEL_FILE_H
#define MG_MODEL_MODEL_FILE_H

#include "model/ae_config.h"
#include "model/sampling_config.h"
#include "model/tf_config.h"
#include "model/weights.h"
#include "text/bert.h"

typedef struct mg_model_file_info {
    bool has_autoencoder;
    mg_ae_config autoencoder;
    const char *autoencoder_prefix; /* "autoencoder." when the file holds a MeshTransformer, else "" */
    bool has_transformer;
    mg_tf_config transformer;       /* when has_transformer */
    char *config_json;              /* the whole configuration, as this project writes it (malloc'ed) */
    bool has_text_encoder;          /* a built-in text encoder: tensors under "text_encoder." */
    mg_bert_config text_encoder;
    char *text_vocab;               /* its vocab.txt (malloc'ed) */
    mg_sampling_config sampling;    /* the sampling settings the file recommends */
} mg_model_file_info;

/* Reads the config, checks every expected tensor and uploads the weights to ctx's backend. */
mg_status mg_model_file_load(mg_context *ctx, const char *path, mg_model_file_info *info, mg_weights *weights);
/* The same; with allow_missing, tensors the file lacks are initialised as missing_init.h says and unexpected ones
 * ignored, both listed in a warning (mis-shaped or wrong-dtype tensors stay errors). */
mg_status mg_model_file_load_with(mg_context *ctx, const char *path, bool allow_missing, mg_model_file_info *info,
                                  mg_weights *weights);
void mg_model_file_info_free(mg_model_file_info *info);

/* ---- the steps of mg_model_file_load, for `meshgpt info` and the writer ---- */

#include "io/safetensors.h"
#include "model/config_json.h"

/* Opens a model file: a .safetensors, or a PyTorch checkpoint (zip magic) read by model_torch.h into the same
 * shape (its configuration in the "meshgpt" metadata). */
mg_status mg_model_file_open(const char *path, mg_safetensors *file, mg_diag *diag);

/* The configuration of an opened file: its "meshgpt" metadata, else config.json beside `path`.
 * *from_metadata (may be NULL) tells which. */
mg_status mg_model_file_read_config(const mg_safetensors *file, const char *path, mg_model_config *config,
                                    bool *from_metadata, mg_diag *diag);
/* "autoencoder." when the file holds a MeshTransformer (a transformer config, or tensor names say so), else "". */
const char *mg_model_file_ae_prefix(const mg_safetensors *file, const mg_model_config *config);

/* Every tensor `config` implies: the autoencoder's under `prefix`, then the transformer's (when the config has
 * one, whose parsed config goes to *transformer if not NULL). *specs is malloc'ed. */
mg_status mg_model_weight_specs(const mg_model_config *config, const char *prefix, mg_weight_spec **specs,
                                size_t *count, mg_tf_config *transformer, mg_diag *diag);

/* A float tensor of a safetensors file (F32, F16, BF16 or F64; checked by the caller) on ctx's backend with
 * `shape`: F16 stays f16, the others become f32. */
mg_status mg_weight_upload_float(mg_context *ctx, const mg_st_tensor *t, int ndim, const int64_t *shape,
                                 mg_tensor **out);

/* A tensor as a header describes it (reader or writer side). */
typedef struct mg_tensor_desc {
    const char *name;
    mg_st_dtype dtype;
    int ndim;
    const int64_t *shape;
} mg_tensor_desc;

/* Every expected tensor present with its shape and a dtype of its kind, nothing unexpected under `prefix`
 * (tensors outside it are left alone). All problems go into one MG_ERR_FORMAT message; `source` names the file. */
mg_status mg_model_check_tensors(const mg_tensor_desc *tensors, size_t count, const mg_weight_spec *specs,
                                 size_t spec_count, const char *prefix, const char *source, mg_diag *diag);

/* The same; with allow_missing, missing and unexpected tensors are not problems but logged in one warning each,
 * and *missing_count (may be NULL) says how many expected tensors the file lacks. */
mg_status mg_model_check_tensors_allowing(const mg_tensor_desc *tensors, size_t count, const mg_weight_spec *specs,
                                          size_t spec_count, const char *prefix, const char *source,
                                          bool allow_missing, size_t *missing_count, mg_diag *diag);

#endif
