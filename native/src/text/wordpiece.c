/* BertTokenizer's tokenization (see wordpiece.h for the steps and why each is done the way it is). */
#include "text/unicode.h"
#include "text/wordpiece_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct tokenizer {
    const mg_wordpiece_vocab *vocab;
    int32_t *pieces;            /* word-piece ids of the whole text */
    size_t count, capacity;
    uint32_t *word;             /* the current word: lower-cased, cleaned code points */
    size_t word_length;
    uint32_t *stripped;         /* the word after NFD without Mn, canonically ordered */
    uint8_t *classes;           /* combining class of each stripped code point */
    bool out_of_memory;
} tokenizer;

static void emit(tokenizer *t, int32_t id)
{
    if (t->count == t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 64;
        int32_t *grown = realloc(t->pieces, capacity * sizeof *grown);
        if (!grown) {
            t->out_of_memory = true;
            return;
        }
        t->pieces = grown;
        t->capacity = capacity;
    }
    t->pieces[t->count++] = id;
}

/* Greedy longest-match-first WordPiece of one punctuation-free piece (or one punctuation character). */
static void wordpiece(tokenizer *t, const uint32_t *cps, size_t n)
{
    const mg_wordpiece_vocab *v = t->vocab;
    if (n > MG_WORDPIECE_MAX_WORD_CHARS) {
        emit(t, v->unk_id);
        return;
    }
    uint8_t utf8[4 * MG_WORDPIECE_MAX_WORD_CHARS];
    size_t offsets[MG_WORDPIECE_MAX_WORD_CHARS + 1];
    offsets[0] = 0;
    for (size_t i = 0; i < n; i++)
        offsets[i + 1] = offsets[i] + mg_utf8_encode(cps[i], utf8 + offsets[i]);
    char query[2 + sizeof utf8];
    query[0] = query[1] = '#';
    size_t first = t->count;
    for (size_t start = 0; start < n;) {
        size_t prefix = start > 0 ? 2 : 0, end = n;
        int32_t id = -1;
        for (; end > start; end--) {
            size_t bytes = offsets[end] - offsets[start];
            if (prefix + bytes > v->max_token_bytes)
                continue; /* longer than every token: cannot match */
            memcpy(query + 2, utf8 + offsets[start], bytes);
            id = mg_wordpiece_lookup(v, query + 2 - prefix, prefix + bytes);
            if (id >= 0)
                break;
        }
        if (id < 0) {
            t->count = first; /* the whole word becomes one [UNK] */
            emit(t, v->unk_id);
            return;
        }
        emit(t, id);
        start = end;
    }
}

/* Accents stripped (NFD, Mn removed), then split at punctuation, then WordPiece. */
static void finish_word(tokenizer *t)
{
    size_t n = 0, run_start = 0;
    for (size_t i = 0; i < t->word_length; i++) {
        uint32_t cp = t->word[i];
        unsigned flags = mg_uc_flags(cp);
        if (flags & MG_UC_MN) {
            if (!(flags & MG_UC_CCC))
                run_start = n; /* a mark of class 0 ends the reordering run even though it is dropped */
            continue;
        }
        uint32_t parts[MG_UC_MAX_EXPANSION];
        size_t count = mg_uc_strip_accents(cp, parts);
        for (size_t k = 0; k < count; k++) {
            uint32_t d = parts[k];
            if (d == MG_UC_RUN_BREAK) {
                run_start = n;
                continue;
            }
            unsigned ccc = (mg_uc_flags(d) & MG_UC_CCC) ? mg_uc_kept_combining_class(d) : 0;
            if (ccc == 0) {
                t->stripped[n] = d;
                t->classes[n++] = 0;
                run_start = n;
                continue;
            }
            /* Canonical ordering: a non-starter moves before kept non-starters of a higher class. */
            size_t pos = n;
            while (pos > run_start && t->classes[pos - 1] > ccc) {
                t->stripped[pos] = t->stripped[pos - 1];
                t->classes[pos] = t->classes[pos - 1];
                pos--;
            }
            t->stripped[pos] = d;
            t->classes[pos] = (uint8_t)ccc;
            n++;
        }
    }
    t->word_length = 0;
    size_t piece = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(mg_uc_flags(t->stripped[i]) & MG_UC_PUNCT))
            continue;
        if (i > piece)
            wordpiece(t, t->stripped + piece, i - piece);
        wordpiece(t, t->stripped + i, 1);
        piece = i + 1;
    }
    if (n > piece)
        wordpiece(t, t->stripped + piece, n - piece);
}

/* Text between special tokens: lower-cased, cleaned, cut into words (CJK ideographs alone). */
static void tokenize_chunk(tokenizer *t, const uint32_t *cps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t lower[MG_UC_MAX_EXPANSION];
        size_t count = mg_uc_lower(cps[i], lower);
        for (size_t k = 0; k < count; k++) {
            uint32_t cp = lower[k];
            if (cp == 0 || cp == 0xFFFD)
                continue;
            unsigned flags = mg_uc_flags(cp);
            if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
                finish_word(t);
            } else if (flags & MG_UC_CONTROL) {
                continue; /* removed, so "a\x1cb" stays one word although Python calls \x1c a space */
            } else if (flags & (MG_UC_ZS | MG_UC_PYSPACE)) {
                finish_word(t);
            } else if (mg_uc_is_cjk(cp)) {
                finish_word(t);
                t->word[t->word_length++] = cp;
                finish_word(t);
            } else {
                t->word[t->word_length++] = cp;
            }
        }
    }
    finish_word(t);
}

/* The special token starting at cps[i], or -1. */
static int special_at(const uint32_t *cps, size_t n, size_t i, size_t *length)
{
    if (cps[i] != '[')
        return -1;
    for (int s = 0; s < MG_WORDPIECE_SPECIAL_COUNT; s++) {
        const char *token = mg_wordpiece_special_tokens[s];
        size_t len = strlen(token), k = 0;
        while (k < len && i + k < n && cps[i + k] == (uint32_t)(uint8_t)token[k])
            k++;
        if (k == len) {
            *length = len;
            return s;
        }
    }
    return -1;
}

mg_status mg_wordpiece_encode(const mg_wordpiece_vocab *vocab, const char *text, size_t length, size_t max_len,
                              int32_t *ids, size_t *count, size_t *untruncated, mg_diag *diag)
{
    if (!vocab || (!text && length) || !ids || !count)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode: vocab, text, ids and count are required");
    *count = 0;
    if (max_len < 2)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode: max_len %zu leaves no room for [CLS] and "
                       "[SEP]; use at least 2 (BERT models take %d)", max_len, MG_WORDPIECE_DEFAULT_MAX_LENGTH);
    if (length > SIZE_MAX / (4 * MG_UC_MAX_EXPANSION * sizeof(uint32_t)) - 1)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode: the text is too long (%zu bytes)", length);
    tokenizer t;
    memset(&t, 0, sizeof t);
    t.vocab = vocab;
    /* Each code point lower-cases to at most 2 and strips to at most MG_UC_MAX_EXPANSION per lowered one. */
    uint32_t *cps = malloc((length + 1) * sizeof *cps);
    t.word = malloc((2 * length + 1) * sizeof *t.word);
    t.stripped = malloc((2 * MG_UC_MAX_EXPANSION * length + 1) * sizeof *t.stripped);
    t.classes = malloc(2 * MG_UC_MAX_EXPANSION * length + 1);
    mg_status status = MG_OK;
    size_t n = 0, bad = 0;
    if (!cps || !t.word || !t.stripped || !t.classes) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu bytes of text", length);
    } else if (!mg_utf8_decode((const uint8_t *)text, length, cps, &n, &bad)) {
        status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the text is not valid UTF-8: byte 0x%02x at byte offset %zu "
                         "starts no valid character; pass UTF-8 text", (uint8_t)text[bad], bad);
    } else {
        size_t chunk = 0;
        for (size_t i = 0; i < n;) {
            size_t special_length = 0;
            int s = special_at(cps, n, i, &special_length);
            if (s < 0) {
                i++;
                continue;
            }
            tokenize_chunk(&t, cps + chunk, i - chunk);
            emit(&t, vocab->special_ids[s]);
            i += special_length;
            chunk = i;
        }
        tokenize_chunk(&t, cps + chunk, n - chunk);
        if (t.out_of_memory)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu bytes of text", length);
    }
    if (status == MG_OK) {
        size_t kept = t.count < max_len - 2 ? t.count : max_len - 2;
        ids[0] = vocab->cls_id;
        if (kept)
            memcpy(ids + 1, t.pieces, kept * sizeof *ids);
        ids[kept + 1] = vocab->sep_id;
        *count = kept + 2;
        if (untruncated)
            *untruncated = t.count;
    }
    free(cps);
    free(t.word);
    free(t.stripped);
    free(t.classes);
    free(t.pieces);
    return status;
}

mg_status mg_wordpiece_encode_batch(const mg_wordpiece_vocab *vocab, const char *const *texts, size_t batch,
                                    size_t max_len, int32_t **ids, int32_t **mask, size_t *tokens, mg_diag *diag)
{
    if (!vocab || !texts || batch == 0 || !ids || !mask || !tokens)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode_batch: vocab, at least one text, ids, mask "
                       "and tokens are required");
    *ids = *mask = NULL;
    *tokens = 0;
    if (max_len < 2 || batch > SIZE_MAX / max_len / sizeof(int32_t))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode_batch: max_len %zu is not usable for %zu "
                       "texts", max_len, batch);
    int32_t *rows = malloc(batch * max_len * sizeof *rows);
    size_t *counts = malloc(batch * sizeof *counts);
    if (!rows || !counts) {
        free(rows);
        free(counts);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu texts", batch);
    }
    mg_status status = MG_OK;
    size_t longest = 0;
    for (size_t b = 0; b < batch && status == MG_OK; b++) {
        if (!texts[b]) {
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_encode_batch: text %zu is NULL", b);
            break;
        }
        status = mg_wordpiece_encode(vocab, texts[b], strlen(texts[b]), max_len, rows + b * max_len, &counts[b],
                                     NULL, diag);
        if (status == MG_OK && counts[b] > longest)
            longest = counts[b];
    }
    if (status == MG_OK) {
        *ids = malloc(batch * longest * sizeof **ids);
        *mask = malloc(batch * longest * sizeof **mask);
        if (!*ids || !*mask) {
            free(*ids);
            free(*mask);
            *ids = *mask = NULL;
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu texts", batch);
        }
    }
    if (status == MG_OK) {
        for (size_t b = 0; b < batch; b++) {
            for (size_t i = 0; i < longest; i++) {
                bool real = i < counts[b];
                (*ids)[b * longest + i] = real ? rows[b * max_len + i] : vocab->pad_id;
                (*mask)[b * longest + i] = real ? 1 : 0;
            }
        }
        *tokens = longest;
    }
    free(rows);
    free(counts);
    return status;
}
