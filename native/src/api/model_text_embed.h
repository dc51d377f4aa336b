/*
 * A Hugging Face BERT folder (config.json, vocab.txt, model.safetensors) as the tensors and config entries of a
 * model file's built-in text encoder: what `meshgpt convert --text-encoder DIR` writes, so that a model file
 * carries everything a prompt needs.
 */
#ifndef MG_API_MODEL_TEXT_EMBED_H
#define MG_API_MODEL_TEXT_EMBED_H

#include "io/safetensors.h"
#include "model/config_json.h"

typedef struct mg_text_embed {
    mg_safetensors file;          /* the folder's model.safetensors, open while the tensors are written */
    mg_bert_config config;
    char *vocab;                  /* vocab.txt's content, NUL-terminated */
    size_t count;
    const mg_st_tensor **sources; /* [count] the folder's tensors, in mg_bert_tensor_at order */
    char (*names)[160];           /* [count] their names in the model file ("text_encoder." + BertModel name) */
} mg_text_embed;

/* Reads and checks the folder (every tensor present with its shape, the vocabulary valid and not larger than
 * vocab_size). */
mg_status mg_text_embed_open(const char *folder, mg_text_embed *out, mg_diag *diag);
void mg_text_embed_close(mg_text_embed *embed);

/* Makes `config` carry the encoder (its config and a copy of the vocabulary); a transformer conditioned on text
 * must have dim_text equal to the encoder's width. */
mg_status mg_text_embed_apply(const mg_text_embed *embed, const char *folder, mg_model_config *config,
                              mg_diag *diag);

#endif
