/* Public model handle: load, free, config and limits. */
#include "core/context.h"
#include "api/text_encoder.h"
#include "model/model.h"

#include <stdlib.h>

mg_model_load_params mg_model_load_default_params(void)
{
    mg_model_load_params params = {.allow_missing = false};
    return params;
}

mg_status mg_model_load(mg_context *ctx, const char *path, mg_model **out_model)
{
    return mg_model_load_with(ctx, path, NULL, out_model);
}

/* The file's own text encoder; its width must be the transformer's dim_text (when it is conditioned on text). */
static mg_status load_text_encoder(mg_context *ctx, mg_model *model, const char *path)
{
    const mg_bert_config *config = &model->info.text_encoder;
    if (model->has_transformer && model->transformer.config.condition_on_text &&
        (size_t)model->transformer.config.dim_text != config->hidden)
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "%s: the built-in text encoder is %zu wide but the transformer's "
                       "dim_text is %d: they do not belong together", path, config->hidden,
                       model->transformer.config.dim_text);
    return mg_text_encoder_create_builtin(ctx, config, &model->weights, MG_MODEL_TEXT_ENCODER_PREFIX,
                                          model->info.text_vocab, path, &model->text_encoder);
}

mg_status mg_model_load_with(mg_context *ctx, const char *path, const mg_model_load_params *params,
                             mg_model **out_model)
{
    mg_status status = mg_context_check(ctx, "mg_model_load");
    if (status != MG_OK)
        return status;
    if (!path || !out_model)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_model_load: path and out_model must not be NULL");
    *out_model = NULL;
    mg_model *model = calloc(1, sizeof *model);
    if (!model)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the model");
    model->ctx = ctx;
    status = mg_model_file_load_with(ctx, path, params && params->allow_missing, &model->info, &model->weights);
    if (status == MG_OK && !model->info.has_autoencoder)
        status = mg_fail(&ctx->diag, MG_ERR_FORMAT, "%s holds no MeshAutoencoder configuration", path);
    if (status == MG_OK)
        status = mg_autoencoder_init(&model->autoencoder, ctx, &model->info.autoencoder, &model->weights,
                                     model->info.autoencoder_prefix);
    if (status == MG_OK && model->info.has_transformer) {
        model->has_transformer = true;
        status = mg_transformer_init(&model->transformer, ctx, &model->info.transformer, &model->weights);
    }
    if (status == MG_OK && model->info.has_text_encoder)
        status = load_text_encoder(ctx, model, path);
    if (status != MG_OK) {
        mg_text_encoder_free(model->text_encoder);
        mg_weights_free(&model->weights);
        mg_model_file_info_free(&model->info);
        free(model);
        return status;
    }
    mg_context_retain(ctx);
    *out_model = model;
    return MG_OK;
}

void mg_model_free(mg_model *model)
{
    if (!model)
        return;
    mg_context *ctx = model->ctx;
    mg_text_encoder_free(model->text_encoder);
    mg_weights_free(&model->weights);
    mg_model_file_info_free(&model->info);
    free(model);
    mg_context_release(ctx);
}

const char *mg_model_config_json(const mg_model *model)
{
    return model ? model->info.config_json : NULL;
}

size_t mg_model_max_faces(const mg_model *model)
{
    return model ? (size_t)model->info.autoencoder.max_faces : 0;
}

uint32_t mg_model_face_size(const mg_model *model)
{
    return model ? (uint32_t)mg_ae_config_face_size(&model->info.autoencoder) : 0;
}

mg_status mg_model_coordinate_grid(const mg_model *model, float *out_lo, float *out_hi, int *out_bins)
{
    if (!model || !out_lo || !out_hi || !out_bins)
        return MG_ERR_INVALID_ARGUMENT;
    const mg_ae_config *config = &model->info.autoencoder;
    *out_lo = config->coor_range[0];
    *out_hi = config->coor_range[1];
    *out_bins = config->num_discrete_coors;
    return MG_OK;
}

bool mg_model_has_text_encoder(const mg_model *model)
{
    return model && model->text_encoder;
}
