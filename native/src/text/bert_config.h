/* BERT hyper-parameters as Hugging Face's config.json names them (see bert.h for mg_bert_config). */
#ifndef MG_TEXT_BERT_CONFIG_H
#define MG_TEXT_BERT_CONFIG_H

#include "text/bert.h"

#include <cjson/cJSON.h>

/* Reads and checks a config object; `source` names it in messages. Unknown keys are ignored, as transformers
 * ignores them. */
mg_status mg_bert_config_from_json(const cJSON *root, const char *source, mg_bert_config *c, mg_diag *diag);
/* The same from JSON text. */
mg_status mg_bert_config_parse(const char *text, const char *source, mg_bert_config *c, mg_diag *diag);
/* The config object that reads back as *c; NULL when out of memory. */
cJSON *mg_bert_config_to_json(const mg_bert_config *c);

#endif
