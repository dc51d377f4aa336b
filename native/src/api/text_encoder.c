/* Public text encoder: a BERT folder (config.json, vocab.txt, model.safetensors), or a model file's built-in
 * encoder, turned into token states. */
#include "api/text_encoder.h"

#include "core/context.h"
#include "text/bert_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mg_status finish(mg_context *ctx, mg_text_encoder *encoder, const char *source, mg_text_encoder **out);

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
    char source[4200];
    mg_format(source, sizeof source, "%s/config.json", folder);
    return finish(context, encoder, source, out_encoder);
}

/* Shared by both loaders: the encoder's longest input, and the handle's reference on its context. */
static mg_status finish(mg_context *ctx, mg_text_encoder *encoder, const char *source, mg_text_encoder **out)
{
    const mg_bert_config *config = mg_bert_get_config(encoder->bert);
    encoder->max_length = config->max_positions < MG_WORDPIECE_DEFAULT_MAX_LENGTH ? config->max_positions
                                                                                 : MG_WORDPIECE_DEFAULT_MAX_LENGTH;
    size_t words = mg_wordpiece_vocab_size(encoder->vocab);
    mg_status status = MG_OK;
    if (encoder->max_length < 2)
        status = mg_fail(&ctx->diag, MG_ERR_FORMAT,
                         "%s: max_position_embeddings must be at least 2 ([CLS] and [SEP])", source);
    else if (words > config->vocab)
        status = mg_fail(&ctx->diag, MG_ERR_FORMAT,
                         "%s: the vocabulary has %zu entries but the encoder's vocab_size is %zu: they do not belong "
                         "together", source, words, config->vocab);
    if (status != MG_OK) {
        mg_bert_free(encoder->bert);
        mg_wordpiece_free(encoder->vocab);
        free(encoder);
        return status;
    }
    encoder->ctx = ctx;
    mg_context_retain(ctx);
    *out = encoder;
    return MG_OK;
}

mg_status mg_text_encoder_create_builtin(mg_context *ctx, const mg_bert_config *config, const mg_weights *weights,
                                         const char *prefix, const char *vocab_text, const char *source,
                                         mg_text_encoder **out)
{
    *out = NULL;
    mg_text_encoder *encoder = calloc(1, sizeof *encoder);
    if (!encoder)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text encoder");
    char what[512];
    mg_format(what, sizeof what, "%s (built-in text encoder vocabulary)", source);
    mg_status status = mg_wordpiece_parse(vocab_text, strlen(vocab_text), what, &encoder->vocab, &ctx->diag);
    if (status == MG_OK)
        status = mg_bert_from_weights(ctx, config, weights, prefix, &encoder->bert);
    if (status != MG_OK) {
        mg_wordpiece_free(encoder->vocab);
        free(encoder);
        return status;
    }
    return finish(ctx, encoder, source, out);
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
