/* A BERT folder turned into a model file's built-in text encoder (see model_text_embed.h). */
#include "api/model_text_embed.h"

#include "io/file_read.h"
#include "model/tf_config.h"
#include "text/bert_config.h"
#include "text/bert_internal.h"
#include "text/wordpiece.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_VOCAB_BYTES (64u << 20)

void mg_text_embed_close(mg_text_embed *embed)
{
    if (!embed)
        return;
    mg_safetensors_close(&embed->file);
    free(embed->vocab);
    free(embed->sources);
    free(embed->names);
    memset(embed, 0, sizeof *embed);
}

/* A whole small file as a NUL-terminated string. */
static mg_status read_text(const char *path, size_t limit, char **out, mg_diag *diag)
{
    *out = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    mg_status status = mg_read_whole_file(path, &bytes, &size, diag);
    if (status != MG_OK)
        return status;
    if (size > limit) {
        free(bytes);
        return mg_fail(diag, MG_ERR_FORMAT, "%s is %zu bytes, more than a file of its kind can be (%zu)", path, size,
                       limit);
    }
    char *text = realloc(bytes, size + 1);
    if (!text) {
        free(bytes);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    }
    text[size] = '\0';
    *out = text;
    return MG_OK;
}

mg_status mg_text_embed_open(const char *folder, mg_text_embed *out, mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    char path[4200];
    mg_format(path, sizeof path, "%s/config.json", folder);
    char *config_text = NULL;
    mg_status status = read_text(path, MAX_CONFIG_BYTES, &config_text, diag);
    if (status == MG_OK)
        status = mg_bert_config_parse(config_text, path, &out->config, diag);
    free(config_text);
    if (status != MG_OK)
        return status;

    mg_format(path, sizeof path, "%s/vocab.txt", folder);
    if ((status = read_text(path, MAX_VOCAB_BYTES, &out->vocab, diag)) != MG_OK)
        return status;
    mg_wordpiece_vocab *vocab = NULL; /* parsed once to check it, as the loader will */
    if ((status = mg_wordpiece_parse(out->vocab, strlen(out->vocab), path, &vocab, diag)) != MG_OK) {
        mg_text_embed_close(out);
        return status;
    }
    size_t words = mg_wordpiece_vocab_size(vocab);
    mg_wordpiece_free(vocab);
    if (words > out->config.vocab) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s has %zu entries but config.json's vocab_size is %zu", path, words,
                         out->config.vocab);
        mg_text_embed_close(out);
        return status;
    }

    mg_format(path, sizeof path, "%s/model.safetensors", folder);
    if ((status = mg_safetensors_open(path, &out->file, diag)) != MG_OK) {
        mg_text_embed_close(out);
        return status;
    }
    out->count = mg_bert_tensor_count(&out->config);
    out->sources = calloc(out->count, sizeof *out->sources);
    out->names = calloc(out->count, sizeof *out->names);
    if (!out->sources || !out->names)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    for (size_t i = 0; status == MG_OK && i < out->count; i++) {
        mg_bert_tensor want;
        mg_bert_tensor_at(&out->config, NULL, i, &want);
        out->sources[i] = mg_bert_find_tensor(&out->file, want.name);
        status = mg_bert_check_tensor(out->sources[i], &want, path, diag);
        mg_format(out->names[i], sizeof out->names[i], "%s%s", MG_MODEL_TEXT_ENCODER_PREFIX, want.name);
    }
    if (status != MG_OK)
        mg_text_embed_close(out);
    return status;
}

mg_status mg_text_embed_apply(const mg_text_embed *embed, const char *folder, mg_model_config *config,
                              mg_diag *diag)
{
    if (config->has_transformer) {
        mg_tf_config tf;
        mg_status status = mg_tf_config_parse(config->transformer_json, &config->autoencoder, &tf, diag);
        if (status != MG_OK)
            return status;
        if (tf.condition_on_text && (size_t)tf.dim_text != embed->config.hidden)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the text encoder in %s is %zu wide but the transformer's "
                           "dim_text is %d: give the encoder the model was trained with", folder,
                           embed->config.hidden, tf.dim_text);
        if (!tf.condition_on_text)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "this model's transformer is not conditioned on text: "
                           "a text encoder would never be used");
    }
    size_t n = strlen(embed->vocab) + 1;
    char *vocab = malloc(n);
    if (!vocab)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory adding the text encoder");
    memcpy(vocab, embed->vocab, n);
    free(config->text_vocab);
    config->text_vocab = vocab;
    config->text_encoder = embed->config;
    config->has_text_encoder = true;
    return MG_OK;
}
