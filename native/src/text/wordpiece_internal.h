/* The vocabulary object shared by wordpiece_vocab.c (loading, lookup) and wordpiece.c (tokenization). */
#ifndef MG_TEXT_WORDPIECE_INTERNAL_H
#define MG_TEXT_WORDPIECE_INTERNAL_H

#include "text/wordpiece.h"

#include <stdbool.h>

/* The special tokens BertTokenizer finds in the text, in its order. */
#define MG_WORDPIECE_SPECIAL_COUNT 5
extern const char *const mg_wordpiece_special_tokens[MG_WORDPIECE_SPECIAL_COUNT];

struct mg_wordpiece_vocab {
    char *text;             /* the file's bytes, each token NUL-terminated in place */
    char **tokens;          /* id -> token */
    uint32_t *lengths;      /* id -> token bytes */
    size_t count;
    int32_t *slots;         /* open addressing: id, or -1 for an empty slot */
    size_t slot_mask;       /* slot count - 1 (a power of two) */
    size_t max_token_bytes; /* longer strings cannot be tokens: WordPiece skips them */
    int32_t unk_id, cls_id, sep_id, pad_id;
    int32_t special_ids[MG_WORDPIECE_SPECIAL_COUNT]; /* [UNK] when the vocabulary lacks one */
};

#endif
