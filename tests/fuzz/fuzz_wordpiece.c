/* libFuzzer harness: BERT's WordPiece tokenizer (scripts/fuzz.sh runs it over tests/fuzz/corpus/wordpiece).
 * An input whose first byte is odd is a vocabulary (parsed, then used on a fixed text); otherwise the rest is
 * text tokenized with a small built-in vocabulary (multi-byte tokens, "##" pieces, the special tokens). Besides
 * crashes and sanitizer reports it checks what callers rely on: [CLS] first and [SEP] last, every id inside the
 * vocabulary, truncation keeps a prefix of the untruncated ids, and invalid UTF-8 is the only way to fail, with a
 * message naming the byte offset. */
#include "text/wordpiece.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SMALL_VOCAB[] = "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nchair\n##s\n##ir\nch\n##a\n"
                                  "!\n,\n-\n.\n\xe5\xad\x90\n##\xe3\x83\x86\n\xe3\x81\xae\ncafe\n##\xcc\x81\n"
                                  "\xe1\x84\x8b\n##\xe1\x85\xa1\n##\xe1\x86\xab\n\xef\xac\x81\n##ne\ne\n##e\n";

static void check_ids(const mg_wordpiece_vocab *vocab, const int32_t *ids, size_t count, size_t max_len)
{
    size_t n = mg_wordpiece_vocab_size(vocab);
    if (count < 2 || count > max_len || ids[0] != mg_wordpiece_lookup(vocab, "[CLS]", 5) ||
        ids[count - 1] != mg_wordpiece_lookup(vocab, "[SEP]", 5))
        abort();
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= n)
            abort();
    }
}

static void tokenize(const mg_wordpiece_vocab *vocab, const char *text, size_t length)
{
    enum { LONG = 4096, SHORT = 7 };
    int32_t *ids = malloc(LONG * sizeof *ids);
    int32_t short_ids[SHORT];
    size_t count = 0, untruncated = 0, short_count = 0;
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_status status = mg_wordpiece_encode(vocab, text, length, LONG, ids, &count, &untruncated, &diag);
    if (status == MG_OK) {
        check_ids(vocab, ids, count, LONG);
        if (count - 2 != (untruncated < LONG - 2 ? untruncated : LONG - 2))
            abort();
        /* A shorter limit keeps a prefix of the same pieces. */
        if (mg_wordpiece_encode(vocab, text, length, SHORT, short_ids, &short_count, NULL, NULL) != MG_OK)
            abort();
        check_ids(vocab, short_ids, short_count, SHORT);
        if (memcmp(short_ids, ids, (short_count - 1) * sizeof *ids) != 0)
            abort();
    } else if (status != MG_ERR_INVALID_ARGUMENT || count != 0 || !strstr(diag.last_error, "byte offset")) {
        abort();
    }
    mg_diag_destroy(&diag);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    mg_wordpiece_vocab *vocab = NULL;
    if (data[0] & 1) {
        mg_status status = mg_wordpiece_parse(data + 1, size - 1, "fuzz vocab", &vocab, NULL);
        if (status != MG_OK) {
            if ((status != MG_ERR_FORMAT && status != MG_ERR_OUT_OF_MEMORY) || vocab)
                abort();
            return 0;
        }
        static const char text[] = "A high-backed Caf\xc3\xa9 chair [MASK] \xe6\xa4\x85\xe5\xad\x90 ##s";
        tokenize(vocab, text, sizeof text - 1);
    } else {
        if (mg_wordpiece_parse(SMALL_VOCAB, sizeof SMALL_VOCAB - 1, "small vocab", &vocab, NULL) != MG_OK)
            abort();
        tokenize(vocab, (const char *)data + 1, size - 1);
    }
    mg_wordpiece_free(vocab);
    return 0;
}
