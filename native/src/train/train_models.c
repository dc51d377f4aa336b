/*
 * The models' trainables for the public entry points (train/train_models.h): ae_train.c
 * (mg_ae_trainable_create) and tf_train.c (mg_tf_trainable_create).
 */
#include "train/train_models.h"

#include <stdlib.h>
#include <string.h>

#include "train/ae_train.h"
#include "train/tf_train.h"

#include <cjson/cJSON.h>

void mg_trainable_free(mg_trainable *trainable)
{
    if (trainable && trainable->destroy)
        trainable->destroy(trainable);
}

mg_status mg_train_create_autoencoder(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
    (void)diag;
    mg_ae_train_params p = mg_ae_train_default_params();
    mg_model *model = NULL;
    if (source->from) {
        mg_status status = mg_model_load(ctx, source->from, &model);
        if (status != MG_OK)
            return status;
    }
    p.model = model;
    p.config = source->config;
    p.seed = source->seed;
    p.embedding_init = source->embedding_init;
    p.autoencoder_start = source->autoencoder_start;
    mg_status status = mg_ae_trainable_create(ctx, &p, out);
    mg_model_free(model);
    return status;
}

/* Width of the text states a new transformer's kwargs ask for: "dim_text", else its text model's (t5 and bge:
 * 768, clip: 512); 0 when it is not conditioned on text. */
static size_t new_text_width(const char *kwargs)
{
    cJSON *root = kwargs ? cJSON_Parse(kwargs) : NULL;
    size_t width = 0;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "condition_on_text"))) {
        const cJSON *dim = cJSON_GetObjectItemCaseSensitive(root, "dim_text");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "text_condition_model_types");
        const cJSON *first = cJSON_IsArray(types) ? cJSON_GetArrayItem(types, 0) : types;
        width = 768;
        if (cJSON_IsNumber(dim) && dim->valuedouble >= 1)
            width = (size_t)dim->valuedouble;
        else if (cJSON_IsString(first) && strcmp(first->valuestring, "clip") == 0)
            width = 512;
    }
    cJSON_Delete(root);
    return width;
}

mg_status mg_train_create_transformer(mg_context *ctx, const mg_train_model_source *source, mg_trainable **out,
                                      mg_diag *diag)
{
    *out = NULL;
    if (source->from && source->autoencoder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "fine-tuning '%s': the model file holds its autoencoder "
                       "already; leave out the autoencoder ('%s')", source->from, source->autoencoder);
    if (!source->from && !source->autoencoder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a new transformer needs the trained autoencoder's model "
                       "file");
    mg_tf_train_params p = mg_tf_train_default_params();
    p.model_path = source->from ? source->from : source->autoencoder;
    /* A new transformer: the config's kwargs, else meshgpt-pytorch's defaults. */
    if (!source->from)
        p.transformer_json = source->config && source->config->transformer_json ? source->config->transformer_json
                                                                                 : "{}";
    p.init_seed = source->seed;
    p.code_bits_start = source->transformer_start == MG_TRANSFORMER_START_CODE_BITS;
    p.text_encoder_folder = source->text_encoder;
    /* A new text-conditioned transformer without an encoder folder gets a built-in encoder (no layers) whose
     * vocabulary is the data set's caption words, trained with it. */
    mg_bert_config encoder;
    char *vocab = NULL;
    const size_t width = source->from || source->text_encoder ? 0 : new_text_width(p.transformer_json);
    if (width) {
        if (!source->captions || source->caption_count == 0)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a text-conditioned transformer needs captions "
                           "(captions.json in the data folder) to make its text encoder's vocabulary");
        mg_status status = mg_tf_text_encoder_from_captions(source->captions, source->caption_count, width, 0,
                                                             &encoder, &vocab, diag);
        if (status != MG_OK)
            return status;
        p.new_text_encoder = &encoder;
        p.new_text_vocab = vocab;
    }
    mg_status status = mg_tf_trainable_create(ctx, &p, out);
    free(vocab);
    return status;
}
