/*
 * Model configuration as JSON.
 *
 * The autoencoder part is meshgpt-pytorch's MeshAutoencoder constructor
 * arguments under their upstream names (so a config.json written by
 * meshgpt-pytorch's tooling reads as is); keys that only matter for training
 * (dropouts, pad_id, flash_attn, rq_kwargs, ...) are accepted and ignored, an
 * unknown key is logged as a warning and ignored, a wrong type or value is
 * MG_ERR_FORMAT naming the key, and a value this implementation cannot run
 * (e.g. sageconv_kwargs.project = false) is MG_ERR_UNSUPPORTED.
 *
 * rlfq_kwargs.soft_clamp_input_value = null (no soft clamp) is stored as
 * lfq_soft_clamp = 0.
 *
 * The model document (safetensors metadata key "meshgpt"):
 *   {"format": "meshgpt-model", "version": 1,
 *    "autoencoder": {kwargs}, "preprocess": {...}, "max_faces": N,
 *    "transformer": {kwargs},            (transformer optional, kept as JSON)
 *    "text_encoder": {BERT config.json},  (optional: a built-in text encoder whose tensors are in the file under
 *                                         "text_encoder." and whose vocab.txt is the metadata key
 *                                         "meshgpt.text_vocab")
 *    "sampling": {"temperature": 0.5}}   (optional: the sampling the model recommends, sampling_config.h)
 * Preprocess object: {"normalize": bool, "normalize_scale": number,
 *   "merge_vertices": bool, "drop_degenerate": bool,
 *   "vertex_order": "zyx" | "yzx" | "none", "face_rotation": "cyclic" | "sorted",
 *   "sort_faces": bool}; every key optional (defaults: mg_ae_config_defaults).
 */
#ifndef MG_MODEL_CONFIG_JSON_H
#define MG_MODEL_CONFIG_JSON_H

#include "model/ae_config.h"
#include "model/sampling_config.h"
#include "text/bert.h"

#include <cjson/cJSON.h>

#define MG_MODEL_FORMAT_NAME "meshgpt-model"
#define MG_MODEL_FORMAT_VERSION 1
#define MG_MODEL_METADATA_KEY "meshgpt"
#define MG_MODEL_TEXT_VOCAB_KEY "meshgpt.text_vocab"
#define MG_MODEL_TEXT_ENCODER_PREFIX "text_encoder."

/* Applies the MeshAutoencoder kwargs in `kwargs` on top of *config (start from
 * mg_ae_config_defaults), then validates. */
mg_status mg_ae_config_from_kwargs(const cJSON *kwargs, mg_ae_config *config, mg_diag *diag);
/* Ranges and combinations; messages name the upstream key. */
mg_status mg_ae_config_validate(const mg_ae_config *config, mg_diag *diag);
/* The kwargs object (upstream names) that reproduces `config`; NULL when out of memory. */
cJSON *mg_ae_config_to_kwargs(const mg_ae_config *config);

mg_status mg_preprocess_config_from_json(const cJSON *object, mg_preprocess_config *preprocess, mg_diag *diag);
cJSON *mg_preprocess_config_to_json(const mg_preprocess_config *preprocess);

typedef struct mg_model_config {
    mg_ae_config autoencoder;
    bool has_transformer;
    char *transformer_json;  /* the transformer kwargs (compact JSON, malloc'ed), NULL when absent */
    bool has_text_encoder;   /* a built-in BERT-architecture text encoder */
    mg_bert_config text_encoder;
    char *text_vocab;        /* its vocab.txt (malloc'ed, NUL-terminated); read from the file's metadata */
    mg_sampling_config sampling; /* the recommended sampling settings (none present: the library's defaults) */
} mg_model_config;

/* The "meshgpt" metadata document. */
mg_status mg_model_config_parse(const char *text, size_t length, mg_model_config *out, mg_diag *diag);
/* A config.json beside the weights: {"autoencoder_kwargs": {..}, "transformer_kwargs": {..}} (other top-level
 * keys ignored; "preprocess", "max_faces" and "sampling" read when present) or a bare kwargs object. `source` names the file. */
mg_status mg_model_config_parse_kwargs_file(const char *text, size_t length, const char *source,
                                            mg_model_config *out, mg_diag *diag);
/* The model document for `config`, malloc'ed (free()); NULL when out of memory. */
char *mg_model_config_to_json(const mg_model_config *config, bool pretty);
void mg_model_config_free(mg_model_config *config);

#endif
