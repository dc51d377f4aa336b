/*
 * BERT's WordPiece tokenizer against Hugging Face's slow BertTokenizer
 * (transformers 4.30.2) on the real bert-base-uncased vocabulary: every case
 * of tests/fixtures/bert-tiny/cases.json (accents, CJK, kana, Hangul, emoji,
 * punctuation runs, control characters, special-token text, unknown and
 * over-long words, truncation), the padded batches, and bad input. The
 * expected ids come from the fixture (written by the reference), never from
 * this code.
 */
#include "test_npy.h"
#include "test_util.h"

#include "text/unicode.h"
#include "text/wordpiece.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB MG_FIXTURE_DIR "/bert-tiny/vocab.txt"

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    text[n] = '\0';
    return text;
}

static cJSON *load_cases(void)
{
    char *text = read_text(MG_FIXTURE_DIR "/bert-tiny/cases.json");
    cJSON *root = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(root, "cases.json does not parse");
    return root;
}

/* test_npy_load reads from meshgpt-pytorch-a/cases: step over to the BERT bundle. */
static test_npy bert_npy(const char *name)
{
    char relative[256];
    snprintf(relative, sizeof relative, "../../bert-tiny/cases/%s", name);
    return test_npy_load(relative);
}

static mg_wordpiece_vocab *load_vocab(void)
{
    mg_wordpiece_vocab *vocab = NULL;
    cr_assert_eq(mg_wordpiece_load(VOCAB, &vocab, NULL), MG_OK);
    return vocab;
}

/* The case's text as UTF-8, built from its code points ("U+0061", ...) where listed, since the JSON string
 * may hold U+0000; long texts list none (null) and are plain. */
static uint8_t *utf8_of(const cJSON *c, size_t *length)
{
    const cJSON *codepoints = cJSON_GetObjectItemCaseSensitive(c, "text_codepoints");
    if (!cJSON_IsArray(codepoints)) {
        const char *plain = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        cr_assert_not_null(plain);
        *length = strlen(plain);
        return (uint8_t *)strdup(plain);
    }
    int n = cJSON_GetArraySize(codepoints);
    uint8_t *text = malloc(4 * (size_t)n + 1);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *item = cJSON_GetArrayItem(codepoints, i)->valuestring;
        cr_assert(item && strncmp(item, "U+", 2) == 0, "code point %d is not written U+XXXX", i);
        at += mg_utf8_encode((uint32_t)strtoul(item + 2, NULL, 16), text + at);
    }
    *length = at;
    return text;
}

Test(wordpiece, vocabulary_facts)
{
    mg_wordpiece_vocab *vocab = load_vocab();
    cr_assert_eq(mg_wordpiece_vocab_size(vocab), 30522);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[PAD]", 5), 0);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[UNK]", 5), 100);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[CLS]", 5), 101);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[SEP]", 5), 102);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[MASK]", 6), 103);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "the", 3), 1996);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "th", 3), -1, "length counts: \"th\\0\" is not a token");
    cr_assert_eq(mg_wordpiece_lookup(vocab, "chairs", 6), mg_wordpiece_lookup(vocab, "chairs\n", 6));
    cr_assert_str_eq(mg_wordpiece_token(vocab, 1996), "the");
    cr_assert_null(mg_wordpiece_token(vocab, 30522));
    cr_assert_eq(mg_wordpiece_pad_id(vocab), 0);
    mg_wordpiece_free(vocab);
}

Test(wordpiece, every_reference_case)
{
    mg_wordpiece_vocab *vocab = load_vocab();
    cJSON *root = load_cases();
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    cr_assert(cJSON_IsObject(cases));
    int checked = 0;
    int32_t ids[MG_WORDPIECE_DEFAULT_MAX_LENGTH];
    for (const cJSON *c = cases->child; c; c = c->next) {
        size_t length = 0, count = 0, untruncated = 0;
        uint8_t *text = utf8_of(c, &length);
        cr_assert_eq(mg_wordpiece_encode(vocab, (const char *)text, length, MG_WORDPIECE_DEFAULT_MAX_LENGTH, ids,
                                         &count, &untruncated, NULL), MG_OK, "%s", c->string);
        free(text);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "input_ids");
        const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(c, "tokens");
        cr_assert_eq(count, (size_t)cJSON_GetArraySize(want), "%s: %zu ids, the reference has %d", c->string, count,
                     cJSON_GetArraySize(want));
        for (size_t i = 0; i < count; i++) {
            int expected = cJSON_GetArrayItem(want, (int)i)->valueint;
            cr_assert_eq(ids[i], expected, "%s: id %zu is %d (%s), the reference has %d (%s)", c->string, i, ids[i],
                         mg_wordpiece_token(vocab, ids[i]), expected, cJSON_GetArrayItem(tokens, (int)i)->valuestring);
            cr_assert_str_eq(mg_wordpiece_token(vocab, ids[i]), cJSON_GetArrayItem(tokens, (int)i)->valuestring);
        }
        cr_assert_eq(untruncated,
                     (size_t)cJSON_GetObjectItemCaseSensitive(c, "num_wordpieces_before_truncation")->valueint,
                     "%s: word pieces before truncation", c->string);
        /* The arrays the encoder tests use hold the same ids. */
        char name[128];
        snprintf(name, sizeof name, "tok_%s_input_ids", c->string);
        test_npy npy = bert_npy(name);
        cr_assert_eq(npy.count, count, "%s", name);
        for (size_t i = 0; i < count; i++)
            cr_assert_eq(npy.i64[i], ids[i], "%s[%zu]", name, i);
        test_npy_free(&npy);
        checked++;
    }
    cr_assert_geq(checked, 29, "only %d cases in cases.json", checked);
    cJSON_Delete(root);
    mg_wordpiece_free(vocab);
}

Test(wordpiece, padded_batches_match_the_reference)
{
    mg_wordpiece_vocab *vocab = load_vocab();
    cJSON *root = load_cases();
    const cJSON *batches = cJSON_GetObjectItemCaseSensitive(root, "batches");
    const char *names[] = {"batch3", "batch2_long"};
    for (int b = 0; b < 2; b++) {
        const cJSON *texts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(batches, names[b]),
                                                              "texts");
        size_t n = (size_t)cJSON_GetArraySize(texts);
        const char *list[4];
        cr_assert_leq(n, 4);
        for (size_t i = 0; i < n; i++)
            list[i] = cJSON_GetArrayItem(texts, (int)i)->valuestring;
        int32_t *ids = NULL, *mask = NULL;
        size_t tokens = 0;
        cr_assert_eq(mg_wordpiece_encode_batch(vocab, list, n, MG_WORDPIECE_DEFAULT_MAX_LENGTH, &ids, &mask, &tokens,
                                               NULL), MG_OK);
        char name[128];
        snprintf(name, sizeof name, "%s_input_ids", names[b]);
        test_npy want_ids = bert_npy(name);
        snprintf(name, sizeof name, "%s_attention_mask", names[b]);
        test_npy want_mask = bert_npy(name);
        cr_assert_eq(want_ids.ndim, 2);
        cr_assert_eq((size_t)want_ids.shape[0], n);
        cr_assert_eq((size_t)want_ids.shape[1], tokens, "%s: padded to %zu, the reference to %lld", names[b], tokens,
                     (long long)want_ids.shape[1]);
        for (size_t i = 0; i < n * tokens; i++) {
            cr_assert_eq(ids[i], want_ids.i64[i], "%s: id %zu", names[b], i);
            cr_assert_eq(mask[i], want_mask.i64[i], "%s: mask %zu", names[b], i);
        }
        test_npy_free(&want_ids);
        test_npy_free(&want_mask);
        free(ids);
        free(mask);
    }
    cJSON_Delete(root);
    mg_wordpiece_free(vocab);
}

static void expect_invalid_utf8(const mg_wordpiece_vocab *vocab, const char *bytes, size_t length, size_t offset)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    int32_t ids[16];
    size_t count = 99;
    cr_assert_eq(mg_wordpiece_encode(vocab, bytes, length, 16, ids, &count, NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(count, 0);
    char want[64];
    snprintf(want, sizeof want, "byte offset %zu", offset);
    cr_assert(strstr(diag.last_error, "not valid UTF-8") && strstr(diag.last_error, want),
              "message \"%s\" should name %s", diag.last_error, want);
    mg_diag_destroy(&diag);
}

Test(wordpiece, invalid_utf8_is_refused_with_the_byte_offset)
{
    mg_wordpiece_vocab *vocab = load_vocab();
    expect_invalid_utf8(vocab, "a chair \x80", 9, 8);            /* stray continuation byte */
    expect_invalid_utf8(vocab, "caf\xc3", 4, 3);                 /* truncated at the end */
    expect_invalid_utf8(vocab, "ab\xe2\x82x", 5, 4);             /* truncated before an ASCII byte */
    expect_invalid_utf8(vocab, "\xc0\xaf", 2, 0);                /* overlong '/' */
    expect_invalid_utf8(vocab, "x\xe0\x80\xaf", 4, 1);           /* overlong 3-byte form */
    expect_invalid_utf8(vocab, "xy\xed\xa0\x80", 5, 2);          /* a UTF-16 surrogate */
    expect_invalid_utf8(vocab, "\xf4\x90\x80\x80", 4, 0);        /* above U+10FFFF */
    expect_invalid_utf8(vocab, "ok \xf5\x80\x80\x80", 7, 3);     /* lead byte above F4 */
    expect_invalid_utf8(vocab, "\xff", 1, 0);
    mg_wordpiece_free(vocab);
}

Test(wordpiece, empty_and_over_long_prompts)
{
    mg_wordpiece_vocab *vocab = load_vocab();
    int32_t ids[MG_WORDPIECE_DEFAULT_MAX_LENGTH];
    size_t count = 0, untruncated = 99;
    cr_assert_eq(mg_wordpiece_encode(vocab, NULL, 0, 512, ids, &count, &untruncated, NULL), MG_OK);
    cr_assert_eq(count, 2);
    cr_assert_eq(ids[0], 101);
    cr_assert_eq(ids[1], 102);
    cr_assert_eq(untruncated, 0);
    /* Only spaces and removed characters: nothing between [CLS] and [SEP]. */
    cr_assert_eq(mg_wordpiece_encode(vocab, " \t\x01\xe2\x80\x8b\n", 7, 512, ids, &count, NULL, NULL), MG_OK);
    cr_assert_eq(count, 2);

    /* 100,000 words: truncated to [CLS] + 510 pieces + [SEP], with the full count reported. */
    size_t words = 100000;
    char *text = malloc(6 * words + 1);
    for (size_t i = 0; i < words; i++)
        memcpy(text + 6 * i, "chair ", 6);
    cr_assert_eq(mg_wordpiece_encode(vocab, text, 6 * words, 512, ids, &count, &untruncated, NULL), MG_OK);
    free(text);
    int32_t chair = mg_wordpiece_lookup(vocab, "chair", 5);
    cr_assert_eq(count, 512);
    cr_assert_eq(untruncated, words);
    cr_assert_eq(ids[0], 101);
    cr_assert_eq(ids[1], chair);
    cr_assert_eq(ids[510], chair);
    cr_assert_eq(ids[511], 102);

    /* A small max_len truncates the same way; below 2 is refused. */
    cr_assert_eq(mg_wordpiece_encode(vocab, "a high-backed chair", 19, 4, ids, &count, &untruncated, NULL), MG_OK);
    cr_assert_eq(count, 4);
    cr_assert_eq(untruncated, 5);
    cr_assert_eq(ids[1], mg_wordpiece_lookup(vocab, "a", 1));
    cr_assert_eq(ids[2], mg_wordpiece_lookup(vocab, "high", 4));
    cr_assert_eq(ids[3], 102);
    cr_assert_eq(mg_wordpiece_encode(vocab, "a", 1, 2, ids, &count, NULL, NULL), MG_OK);
    cr_assert_eq(count, 2);
    cr_assert_eq(mg_wordpiece_encode(vocab, "a", 1, 1, ids, &count, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    mg_wordpiece_free(vocab);
}

/* Behaviour outside the bundle, on small vocabularies whose ids are easy to read; the expected ids were worked
 * out from Python (3.11, Unicode 14) and the BertTokenizer source by hand. */
static mg_wordpiece_vocab *small_vocab(const char *lines)
{
    mg_wordpiece_vocab *vocab = NULL;
    cr_assert_eq(mg_wordpiece_parse(lines, strlen(lines), "small vocab", &vocab, NULL), MG_OK);
    return vocab;
}

static void expect_ids(const mg_wordpiece_vocab *vocab, const char *text, size_t length, const int32_t *want,
                       size_t want_count)
{
    int32_t ids[64];
    size_t count = 0;
    cr_assert_eq(mg_wordpiece_encode(vocab, text, length, 64, ids, &count, NULL, NULL), MG_OK);
    cr_assert_eq(count, want_count + 2, "%zu ids, want %zu", count, want_count + 2);
    for (size_t i = 0; i < want_count; i++)
        cr_assert_eq(ids[i + 1], want[i], "id %zu is %d, want %d", i + 1, ids[i + 1], want[i]);
}

Test(wordpiece, separators_and_canonical_order)
{
    /* ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 a4 ##U+1D165 5 ##U+302F 6 b7 ab8 [MASK]9 */
    mg_wordpiece_vocab *vocab =
        small_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n##\xf0\x9d\x85\xa5\n##\xe3\x80\xaf\nb\nab\n[MASK]\n");
    /* U+2028 is no BERT space, but Python's str.split() splits there: two words. */
    expect_ids(vocab, "a\xe2\x80\xa8" "b", 5, (const int32_t[]){4, 7}, 2);
    /* U+001C is a Python space too, but a control character, removed first: one word. */
    expect_ids(vocab, "a\x1c" "b", 3, (const int32_t[]){8}, 1);
    /* NFD puts U+1D165 (class 216) before U+302F (class 224) ... */
    expect_ids(vocab, "a\xe3\x80\xaf\xf0\x9d\x85\xa5", 8, (const int32_t[]){4, 5, 6}, 3);
    /* ... unless a mark of class 0 (U+0B56, dropped as Mn) stands between them. */
    expect_ids(vocab, "a\xe3\x80\xaf\xe0\xad\x96\xf0\x9d\x85\xa5", 11, (const int32_t[]){4, 6, 5}, 3);
    /* Special tokens split words anywhere; [mask] is ordinary text (here unknown). */
    expect_ids(vocab, "a[MASK]b [mask]", 15, (const int32_t[]){4, 9, 7, 1, 1, 1}, 6);
    mg_wordpiece_free(vocab);
}

Test(wordpiece, vocabulary_files)
{
    /* CRLF and CR line ends as Python's text mode reads them; a duplicate takes its last line's id. */
    mg_wordpiece_vocab *vocab = small_vocab("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\nchair\nchair\nlegs");
    cr_assert_eq(mg_wordpiece_vocab_size(vocab), 7);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[UNK]", 5), 1);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "[SEP]", 5), 3);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "chair", 5), 5);
    cr_assert_eq(mg_wordpiece_lookup(vocab, "legs", 4), 6);
    expect_ids(vocab, "Chair legs [MASK]", 17, (const int32_t[]){5, 6, 1}, 3); /* no [MASK] in it: [UNK] */
    mg_wordpiece_free(vocab);

    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_wordpiece_vocab *bad = NULL;
    cr_assert_eq(mg_wordpiece_parse("[PAD]\nhello\n", 12, "v.txt", &bad, &diag), MG_ERR_FORMAT);
    cr_assert_null(bad);
    cr_assert(strstr(diag.last_error, "v.txt") && strstr(diag.last_error, "[UNK]"), "%s", diag.last_error);
    cr_assert_eq(mg_wordpiece_parse("[UNK]\n[CLS]\n[SEP]\nx\xc3(\n", 20, "v.txt", &bad, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "line 4"), "%s", diag.last_error);
    cr_assert_eq(mg_wordpiece_parse("", 0, "v.txt", &bad, &diag), MG_ERR_FORMAT);
    cr_assert_eq(mg_wordpiece_load(MG_FIXTURE_DIR "/bert-tiny/no-such-vocab.txt", &bad, &diag), MG_ERR_IO);
    cr_assert(strstr(diag.last_error, "no-such-vocab.txt"), "%s", diag.last_error);
    mg_diag_destroy(&diag);
}
