/*
 * BERT's tokenizer: the basic tokenizer and WordPiece exactly as Hugging
 * Face's slow BertTokenizer does them (transformers 4.30.2) for the uncased
 * BERT vocabularies (bert-base-uncased, BAAI/bge-*-en): do_lower_case,
 * accents stripped, CJK characters split, the special tokens [UNK] [SEP]
 * [PAD] [CLS] [MASK] recognised in the text, [CLS] ... [SEP] around the
 * result, truncation to max_len.
 *
 * Steps, on Unicode code points (the text must be valid UTF-8):
 *  1. the exact, case-sensitive special-token strings are cut out of the text
 *     and become their own ids; everything else is lower-cased code point by
 *     code point (Python's str.lower() of one character: U+0130 -> i U+0307,
 *     capital sigma -> U+03C3 always);
 *  2. cleaning: U+0000, U+FFFD and category C* are removed (\t \n \r become
 *     spaces, as every Zs does); CJK ideographs are cut out as words of their
 *     own; words are split at spaces (and at U+2028/U+2029, where Python's
 *     str.split() splits);
 *  3. each word: NFD with every Mn mark removed, then split so that every
 *     punctuation character (category P*, or an ASCII symbol) is a word;
 *  4. WordPiece: a word of more than 100 code points is [UNK]; otherwise the
 *     longest vocabulary prefix, then repeatedly the longest "##" + rest
 *     prefix; a word that cannot be covered is one [UNK].
 */
#ifndef MG_TEXT_WORDPIECE_H
#define MG_TEXT_WORDPIECE_H

#include "core/diag.h"

#include <stddef.h>
#include <stdint.h>

/* Words longer than this (code points) become [UNK], as in BertTokenizer. */
#define MG_WORDPIECE_MAX_WORD_CHARS 100
/* BertTokenizer's model_max_length for BERT-base: [CLS] + 510 pieces + [SEP]. */
#define MG_WORDPIECE_DEFAULT_MAX_LENGTH 512

typedef struct mg_wordpiece_vocab mg_wordpiece_vocab;

/* Loads vocab.txt: one token per line (\n, \r\n or \r line ends, as Python's text mode reads them), id =
 * 0-based line; a token listed twice gets its last line's id. Needs [UNK], [CLS] and [SEP]. */
mg_status mg_wordpiece_load(const char *path, mg_wordpiece_vocab **out, mg_diag *diag);
/* The same from bytes in memory; `source` names them in messages. */
mg_status mg_wordpiece_parse(const void *bytes, size_t size, const char *source, mg_wordpiece_vocab **out,
                             mg_diag *diag);
void mg_wordpiece_free(mg_wordpiece_vocab *vocab);

/* Number of ids (lines). */
size_t mg_wordpiece_vocab_size(const mg_wordpiece_vocab *vocab);
/* The id of a token (its UTF-8 bytes), -1 when absent. */
int32_t mg_wordpiece_lookup(const mg_wordpiece_vocab *vocab, const char *token, size_t length);
/* The token of an id (NUL-terminated), NULL when out of range. */
const char *mg_wordpiece_token(const mg_wordpiece_vocab *vocab, int32_t id);
/* The id padded positions get: [PAD]'s, or 0 when the vocabulary has none. */
int32_t mg_wordpiece_pad_id(const mg_wordpiece_vocab *vocab);

/*
 * Tokenizes `length` bytes of UTF-8 `text` (embedded NULs allowed; they are
 * removed like other control characters) into ids[0 .. *count): [CLS], the
 * first max_len - 2 word pieces, [SEP]. ids has room for max_len entries
 * (max_len >= 2). *untruncated (NULL: not wanted) receives the number of word
 * pieces before truncation. Invalid UTF-8 -> MG_ERR_INVALID_ARGUMENT naming the
 * byte offset.
 */
mg_status mg_wordpiece_encode(const mg_wordpiece_vocab *vocab, const char *text, size_t length, size_t max_len,
                              int32_t *ids, size_t *count, size_t *untruncated, mg_diag *diag);

/*
 * A padded batch as BertTokenizer(texts, padding=True, truncation=True)
 * makes it: every NUL-terminated text encoded with max_len, right-padded with
 * the pad id to the longest row. *ids and *mask (1 for real tokens, 0 for
 * pad) are new malloc'ed [batch, *tokens] arrays for the caller to free.
 */
mg_status mg_wordpiece_encode_batch(const mg_wordpiece_vocab *vocab, const char *const *texts, size_t batch,
                                    size_t max_len, int32_t **ids, int32_t **mask, size_t *tokens, mg_diag *diag);

#endif
