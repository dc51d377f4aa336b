/*
 * Unicode helpers of the BERT tokenizer: strict UTF-8 decoding and the
 * character facts of Python's unicodedata that Hugging Face's BertTokenizer
 * relies on (from the generated tables in unicode_tables.c).
 */
#ifndef MG_TEXT_UNICODE_H
#define MG_TEXT_UNICODE_H

#include "text/unicode_tables.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Marks a dropped Mn of combining class 0 in a decomposition (see mg_uc_strip_accents). */
#define MG_UC_RUN_BREAK 0x110000u
/* The most code points one character turns into when lower-cased or accent-stripped. */
#define MG_UC_MAX_EXPANSION 4

/*
 * Decodes UTF-8 into code points (out has room for `size` entries). Refuses
 * what Python's strict decoder refuses: stray continuation bytes, truncated
 * sequences, overlong forms, surrogates and values above U+10FFFF. On failure
 * returns false and sets *bad_offset to the offset of the first bad byte.
 */
bool mg_utf8_decode(const uint8_t *bytes, size_t size, uint32_t *out, size_t *count, size_t *bad_offset);
/* Appends the UTF-8 encoding of cp (<= U+10FFFF) to out and returns the byte count (1..4). */
size_t mg_utf8_encode(uint32_t cp, uint8_t *out);

/* The MG_UC_* flags of a code point. */
unsigned mg_uc_flags(uint32_t cp);
/* str.lower() of one code point: writes 1..3 code points and returns how many. */
size_t mg_uc_lower(uint32_t cp, uint32_t out[MG_UC_MAX_EXPANSION]);
/* NFD of a non-Mn code point without its Mn marks (itself when it has no decomposition; Hangul syllables
 * become their conjoining jamo); MG_UC_RUN_BREAK entries stand for dropped marks of class 0. Returns the count. */
size_t mg_uc_strip_accents(uint32_t cp, uint32_t out[MG_UC_MAX_EXPANSION]);
/* Canonical combining class of a code point that survives accent stripping (0 for nearly all). */
unsigned mg_uc_kept_combining_class(uint32_t cp);
/* BERT's "Chinese character" ranges (CJK ideographs; not kana or Hangul). */
bool mg_uc_is_cjk(uint32_t cp);

#endif
