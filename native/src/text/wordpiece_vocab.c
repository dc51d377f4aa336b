/* vocab.txt: loading and the token -> id hash map. */
#include "text/unicode.h"
#include "text/wordpiece_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mg_wordpiece_special_tokens[MG_WORDPIECE_SPECIAL_COUNT] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]",
                                                                              "[MASK]"};

static uint64_t hash_bytes(const char *bytes, size_t length)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < length; i++) {
        h ^= (uint8_t)bytes[i];
        h *= 1099511628211ull;
    }
    return h;
}

int32_t mg_wordpiece_lookup(const mg_wordpiece_vocab *vocab, const char *token, size_t length)
{
    if (!vocab || (!token && length) || length > vocab->max_token_bytes)
        return -1;
    for (size_t slot = hash_bytes(token, length) & vocab->slot_mask;; slot = (slot + 1) & vocab->slot_mask) {
        int32_t id = vocab->slots[slot];
        if (id < 0)
            return -1;
        if (vocab->lengths[id] == length && memcmp(vocab->tokens[id], token, length) == 0)
            return id;
    }
}

/* Inserts id; a token already present takes the later id (Python's dict assignment in load_vocab). */
static void insert(mg_wordpiece_vocab *vocab, int32_t id)
{
    const char *token = vocab->tokens[id];
    size_t length = vocab->lengths[id];
    for (size_t slot = hash_bytes(token, length) & vocab->slot_mask;; slot = (slot + 1) & vocab->slot_mask) {
        int32_t other = vocab->slots[slot];
        if (other < 0 || (vocab->lengths[other] == length && memcmp(vocab->tokens[other], token, length) == 0)) {
            vocab->slots[slot] = id;
            return;
        }
    }
}

void mg_wordpiece_free(mg_wordpiece_vocab *vocab)
{
    if (!vocab)
        return;
    free(vocab->text);
    free(vocab->tokens);
    free(vocab->lengths);
    free(vocab->slots);
    free(vocab);
}

mg_status mg_wordpiece_parse(const void *bytes, size_t size, const char *source, mg_wordpiece_vocab **out,
                             mg_diag *diag)
{
    if (!out || (!bytes && size))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_parse: bytes and out are required");
    *out = NULL;
    if (!source)
        source = "vocabulary";
    if (size > (size_t)INT32_MAX)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: %zu bytes is too large for a vocabulary", source, size);
    mg_wordpiece_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", source);
    v->text = malloc(size + 1);
    if (!v->text) {
        mg_wordpiece_free(v);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", source);
    }
    if (size)
        memcpy(v->text, bytes, size);
    v->text[size] = '\0';

    /* Lines end at \n, \r\n or \r (Python's universal newlines); a last line without an end still counts. */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) {
        if (v->text[i] == '\n' || (v->text[i] == '\r' && (i + 1 == size || v->text[i + 1] != '\n')))
            lines++;
    }
    if (size && v->text[size - 1] != '\n' && v->text[size - 1] != '\r')
        lines++;
    if (lines == 0) {
        mg_wordpiece_free(v);
        return mg_fail(diag, MG_ERR_FORMAT, "%s is empty: a vocab.txt lists one token per line", source);
    }
    size_t slots = 16;
    while (slots < 2 * lines)
        slots *= 2;
    v->tokens = malloc(lines * sizeof *v->tokens);
    v->lengths = malloc(lines * sizeof *v->lengths);
    v->slots = malloc(slots * sizeof *v->slots);
    uint32_t *scratch = malloc((size + 1) * sizeof *scratch);
    if (!v->tokens || !v->lengths || !v->slots || !scratch) {
        free(scratch);
        mg_wordpiece_free(v);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory loading %s", source);
    }
    memset(v->slots, 0xFF, slots * sizeof *v->slots);
    v->slot_mask = slots - 1;

    size_t start = 0;
    for (size_t i = 0; i <= size && v->count < lines; i++) {
        if (i < size && v->text[i] != '\n' && v->text[i] != '\r')
            continue;
        size_t length = i - start, bad = 0, decoded = 0;
        if (!mg_utf8_decode((const uint8_t *)v->text + start, length, scratch, &decoded, &bad)) {
            free(scratch);
            size_t line = v->count + 1;
            mg_wordpiece_free(v);
            return mg_fail(diag, MG_ERR_FORMAT, "%s: line %zu is not valid UTF-8 (byte offset %zu)", source, line,
                           start + bad);
        }
        char line_end = i < size ? v->text[i] : '\0';
        v->text[i] = '\0';
        v->tokens[v->count] = v->text + start;
        v->lengths[v->count] = (uint32_t)length;
        if (length > v->max_token_bytes)
            v->max_token_bytes = length;
        insert(v, (int32_t)v->count);
        v->count++;
        if (line_end == '\r' && i + 1 < size && v->text[i + 1] == '\n')
            i++; /* \r\n is one line end */
        start = i + 1;
    }
    free(scratch);

    v->unk_id = mg_wordpiece_lookup(v, "[UNK]", 5);
    v->cls_id = mg_wordpiece_lookup(v, "[CLS]", 5);
    v->sep_id = mg_wordpiece_lookup(v, "[SEP]", 5);
    v->pad_id = mg_wordpiece_lookup(v, "[PAD]", 5);
    if (v->unk_id < 0 || v->cls_id < 0 || v->sep_id < 0) {
        mg_wordpiece_free(v);
        return mg_fail(diag, MG_ERR_FORMAT, "%s lacks [UNK], [CLS] or [SEP]: it is not a BERT WordPiece vocabulary "
                       "(vocab.txt of an uncased BERT model is needed)", source);
    }
    if (v->pad_id < 0)
        v->pad_id = 0;
    for (int s = 0; s < MG_WORDPIECE_SPECIAL_COUNT; s++) {
        int32_t id = mg_wordpiece_lookup(v, mg_wordpiece_special_tokens[s], strlen(mg_wordpiece_special_tokens[s]));
        v->special_ids[s] = id >= 0 ? id : v->unk_id; /* convert_tokens_to_ids of a missing token */
    }
    *out = v;
    return MG_OK;
}

mg_status mg_wordpiece_load(const char *path, mg_wordpiece_vocab **out, mg_diag *diag)
{
    if (!path || !out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_wordpiece_load: path and out are required");
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (!file)
        return mg_fail(diag, MG_ERR_IO, "cannot open the vocabulary %s: %s", path, strerror(errno));
    char *bytes = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size == capacity) {
            capacity = capacity ? capacity * 2 : 256 * 1024;
            char *grown = realloc(bytes, capacity);
            if (!grown) {
                free(bytes);
                fclose(file);
                return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
            }
            bytes = grown;
        }
        size_t got = fread(bytes + size, 1, capacity - size, file);
        size += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        free(bytes);
        return mg_fail(diag, MG_ERR_IO, "cannot read the vocabulary %s", path);
    }
    mg_status status = mg_wordpiece_parse(bytes, size, path, out, diag);
    free(bytes);
    return status;
}

size_t mg_wordpiece_vocab_size(const mg_wordpiece_vocab *vocab)
{
    return vocab ? vocab->count : 0;
}

const char *mg_wordpiece_token(const mg_wordpiece_vocab *vocab, int32_t id)
{
    if (!vocab || id < 0 || (size_t)id >= vocab->count)
        return NULL;
    return vocab->tokens[id];
}

int32_t mg_wordpiece_pad_id(const mg_wordpiece_vocab *vocab)
{
    return vocab ? vocab->pad_id : 0;
}
