/* Public text encoder: a BERT folder (config.json, vocab.txt, model.safetensors) turned into token states. */
#include "api/text_encoder.h"

#include "core/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_status mg_text_encoder_load(mg_context *context, const char *folder, mg_text_encoder **out_encoder)
{
    mg_status status = mg_context_check(context, "mg_text_encoder_load");
    if (status != MG_OK)
        return status;
    if (!folder || !out_encoder)
        return mg_fail(&context->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_text_encoder_load: folder and out_encoder must not be NULL");
    *out_encoder = NULL;
    mg_text_encoder *encoder = calloc(1, sizeof *encoder);
    if (!encoder)
        return mg_fail(&context->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text encoder");
    char vocab_path[4096];
    mg_format(vocab_path, sizeof vocab_path, "%s/vocab.txt", folder);
    status = mg_wordpiece_load(vocab_path, &encoder->vocab, &context->diag);
    if (status == MG_OK)
        status = mg_bert_load(context, folder, &encoder->bert);
    if (status != MG_OK) {
        mg_wordpiece_free(encoder->vocab);
        free(encoder);
        return status;
    }
    const mg_bert_config *config = mg_bert_get_config(encoder->bert);
    encoder->max_length = config->max_positions < MG_WORDPIECE_DEFAULT_MAX_LENGTH ? config->max_positions
                                                                                 : MG_WORDPIECE_DEFAULT_MAX_LENGTH;
    if (encoder->max_length < 2) {
        mg_bert_free(encoder->bert);
        mg_wordpiece_free(encoder->vocab);
        free(encoder);
        return mg_fail(&context->diag, MG_ERR_FORMAT,
                       "%s/config.json: max_position_embeddings must be at least 2 ([CLS] and [SEP])", folder);
    }
    encoder->ctx = context;
    mg_context_retain(context);
    *out_encoder = encoder;
    return MG_OK;
}

void mg_text_encoder_free(mg_text_encoder *encoder)
{
    if (!encoder)
        return;
    mg_context *ctx = encoder->ctx;
    mg_bert_free(encoder->bert);
    mg_wordpiece_free(encoder->vocab);
    free(encoder);
    mg_context_release(ctx);
}

size_t mg_text_encoder_width(const mg_text_encoder *encoder)
{
    return encoder ? mg_bert_get_config(encoder->bert)->hidden : 0;
}

/* Errors of the encoder's own context are repeated on `diag` when that is another context's. */
static mg_status forward_error(mg_text_encoder *encoder, mg_diag *diag, mg_status status)
{
    if (status == MG_OK || diag == &encoder->ctx->diag)
        return status;
    char message[MG_ERROR_MESSAGE_MAX];
    mg_diag_copy_error(&encoder->ctx->diag, message, sizeof message);
    return mg_fail(diag, status, "text encoder: %s", message);
}

mg_status mg_text_encoder_states(mg_text_encoder *encoder, const char *prompt, size_t expected_width,
                                 const char *width_name, mg_diag *diag, float **out_states, size_t *out_tokens)
{
    *out_states = NULL;
    *out_tokens = 0;
    mg_status status = mg_context_check(encoder->ctx, "the text encoder");
    if (status != MG_OK)
        return forward_error(encoder, diag, status);
    int32_t *ids = malloc(encoder->max_length * sizeof *ids);
    if (!ids)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the prompt's tokens");
    size_t count = 0, untruncated = 0;
    status = mg_wordpiece_encode(encoder->vocab, prompt, strlen(prompt), encoder->max_length, ids, &count,
                                 &untruncated, diag);
    if (status != MG_OK) {
        free(ids);
        return status;
    }
    const size_t width = mg_bert_get_config(encoder->bert)->hidden;
    if (width != expected_width) {
        free(ids);
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the text encoder's token states are %zu wide but the model's %s is %zu: use the encoder the "
                       "model was trained with",
                       width, width_name, expected_width);
    }
    if (untruncated + 2 > count)
        mg_log(diag, MG_LOG_WARN, "the prompt has %zu word pieces; only the first %zu are used", untruncated,
               count - 2);
    /* One prompt: no padding, so every position is real (no pad value to place). */
    mg_tensor *encodings = NULL;
    status = mg_bert_text_encodings(encoder->bert, ids, NULL, 1, count, -1.0f, &encodings);
    free(ids);
    if (status != MG_OK)
        return forward_error(encoder, diag, status);
    float *states = malloc(count * width * sizeof *states);
    if (!states) {
        mg_tensor_free(encodings);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text encodings");
    }
    status = mg_tensor_read_f32(encodings, states, count * width);
    mg_tensor_free(encodings);
    if (status != MG_OK) {
        free(states);
        return forward_error(encoder, diag, status);
    }
    *out_states = states;
    *out_tokens = count;
    return MG_OK;
}
