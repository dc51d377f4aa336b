/* Caption files of a training folder (see train/dataset.h): JSON object or CSV rows, file -> text. */
#ifndef MG_TRAIN_CAPTIONS_H
#define MG_TRAIN_CAPTIONS_H

#include "core/diag.h"

#include <stddef.h>

typedef struct mg_caption {
    char *file;
    char *text;
} mg_caption;

typedef struct mg_caption_list {
    mg_caption *entries;
    size_t count;
} mg_caption_list;

/* Parses `captions.json` text: {"file": "text", ...} or {"file": ["text", "another text"], ...} (an entry per
 * text, in order). `source` names the file in errors. */
mg_status mg_captions_parse_json(const char *text, size_t size, const char *source, mg_caption_list *out,
                                 mg_diag *diag);
/* Parses CSV rows `file,text` (RFC 4180 quotes; a first row "file,text" is a header; blank lines skipped); a
 * file may have several rows, one per caption. */
mg_status mg_captions_parse_csv(const char *text, size_t size, const char *source, mg_caption_list *out,
                                mg_diag *diag);
/* Reads a captions file, JSON or CSV by its extension (.json / .csv). */
mg_status mg_captions_read(const char *path, mg_caption_list *out, mg_diag *diag);
void mg_caption_list_free(mg_caption_list *list);

#endif
