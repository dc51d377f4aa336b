/* The text encoder behind the public mg_text_encoder handle (used by generate.c). */
#ifndef MG_API_TEXT_ENCODER_H
#define MG_API_TEXT_ENCODER_H

#include "core/diag.h"
#include "text/bert.h"
#include "text/wordpiece.h"
#include "model/weights.h"

struct mg_text_encoder {
    mg_context *ctx;
    mg_bert *bert;
    mg_wordpiece_vocab *vocab;
    size_t max_length;      /* [CLS] + word pieces + [SEP]: the encoder's position table, at most 512 */
};

/*
 * A model file's built-in encoder: BERT over the model's uploaded tensors under `prefix` (shared, not copied)
 * and the vocabulary text (vocab.txt's content). `source` names the model in messages.
 */
mg_status mg_text_encoder_create_builtin(mg_context *ctx, const mg_bert_config *config, const mg_weights *weights,
                                         const char *prefix, const char *vocab_text, const char *source,
                                         mg_text_encoder **out);

/*
 * The encoder's token states for one prompt ([CLS], the word pieces, [SEP];
 * no padding) as a new malloc'ed host array [*out_tokens, width]. The prompt
 * is tokenized first, so invalid UTF-8 is reported before anything else;
 * then the encoder's width must equal expected_width. Errors go to `diag`.
 */
mg_status mg_text_encoder_states(mg_text_encoder *encoder, const char *prompt, size_t expected_width,
                                 const char *width_name, mg_diag *diag, float **out_states, size_t *out_tokens);

#endif
