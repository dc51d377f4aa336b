/*
 * The Unicode facts BERT's tokenizer needs, generated from Python's unicodedata
 * by scripts/make_unicode_tables.py (unicode_tables.c; do not edit it by hand)
 * and looked up by unicode.c. Only what the Hugging Face BertTokenizer asks of
 * unicodedata is stored, so the tables stay small.
 */
#ifndef MG_TEXT_UNICODE_TABLES_H
#define MG_TEXT_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Flags of a class range; mg_uc_class_ranges[i] = first code point << 8 | flags, sorted, the first starting at 0. */
enum {
    MG_UC_CONTROL = 1,  /* general category C*: removed by BERT's text cleaning (except \t \n \r) */
    MG_UC_ZS = 2,       /* category Zs: a space */
    MG_UC_PUNCT = 4,    /* category P* or a non-alphanumeric ASCII symbol: a token of its own */
    MG_UC_MN = 8,       /* category Mn: dropped when accents are stripped */
    MG_UC_CCC = 16,     /* canonical combining class != 0: reordered by NFD */
    MG_UC_PYSPACE = 32  /* Python's str.isspace(): str.split() splits there */
};
extern const uint32_t mg_uc_class_ranges[];
extern const size_t mg_uc_class_range_count;

/* str.lower() of one code point: cp in [first, last] with (cp - first) % stride == 0 maps to cp + delta. */
typedef struct mg_uc_lower_range {
    uint32_t first, last;
    uint8_t stride;
    int32_t delta;
} mg_uc_lower_range;
extern const mg_uc_lower_range mg_uc_lower_ranges[];
extern const size_t mg_uc_lower_range_count;

/* The few code points whose lower case is several code points (U+0130 -> i U+0307). */
typedef struct mg_uc_lower_multi {
    uint32_t code_point;
    uint8_t length;
    uint32_t lower[3];
} mg_uc_lower_multi;
extern const mg_uc_lower_multi mg_uc_lower_multis[];
extern const size_t mg_uc_lower_multi_count;

/* NFD of a code point without its Mn marks: pool[offset .. offset + length). Sorted by code point; Hangul
 * syllables and Mn characters are not listed (algorithmic, and dropped). */
typedef struct mg_uc_decomposition {
    uint32_t code_point;
    uint16_t offset;
    uint8_t length;
} mg_uc_decomposition;
extern const mg_uc_decomposition mg_uc_decompositions[];
extern const size_t mg_uc_decomposition_count;
extern const uint32_t mg_uc_decomposition_pool[];

/* Canonical combining classes of the non-Mn code points whose class is not 0 (they survive accent stripping). */
typedef struct mg_uc_combining_class {
    uint32_t code_point;
    uint8_t combining_class;
} mg_uc_combining_class;
extern const mg_uc_combining_class mg_uc_kept_combining_classes[];
extern const size_t mg_uc_kept_combining_class_count;

#endif
