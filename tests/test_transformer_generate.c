/*
 * Greedy generation against meshgpt-pytorch 1.7.2's generate() on the fixture
 * model (temperature 0, max_seq_len 60): plain, guided (cond_scale 3), from a
 * prompt, batched, and with EOS forced at a face boundary. Tokens must be
 * identical. Also: sampling is reproducible from its seed and top-k 1 is the
 * arg-max; an accept callback's refused tokens give way to the best accepted
 * ones, and a row with none acceptable ends empty.
 */
#include "model/model.h"
#include "model/tf_generate.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 60

/* Generation uses the incremental decoder (KV caches) unless `whole_sequence` asks to recompute every step
 * (meshgpt-pytorch's cache_kv=False), which must give the same tokens. */
static bool whole_sequence;

static mg_model *load_model(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    return model;
}

/* Generates and compares with the fixture `expected_name` ([batch, n, 2], -1 after EOS). */
static void check_case(mg_model *model, const char *expected_name, const char *text_name, size_t batch,
                       float cond_scale, const char *prompt_name)
{
    test_npy text = test_npy_load(text_name);
    test_npy expected = test_npy_load(expected_name);
    int32_t *prompt = NULL;
    size_t prompt_length = 0;
    test_npy p = {0};
    if (prompt_name) {
        p = test_npy_load(prompt_name);
        prompt_length = p.count;
        prompt = malloc(p.count * sizeof *prompt);
        for (size_t i = 0; i < p.count; i++)
            prompt[i] = (int32_t)p.i64[i];
    }
    mg_tf_text t = {.embeds = text.f32, .tokens = (size_t)text.shape[1]};
    mg_tf_sampling s = mg_tf_default_sampling();
    s.temperature = 0.0f;
    s.cond_scale = cond_scale;
    s.whole_sequence = whole_sequence;
    int32_t *codes = malloc(batch * MAX_TOKENS * sizeof *codes);
    size_t lengths[8];
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, batch, prompt, prompt_length, MAX_TOKENS, &s, NULL, NULL,
                                codes, lengths),
                 MG_OK, "%s", mg_context_last_error(model->ctx));
    const size_t n = expected.count / batch;
    for (size_t b = 0; b < batch; b++) {
        size_t expected_length = 0;
        while (expected_length < n && expected.i64[b * n + expected_length] >= 0)
            expected_length++;
        cr_expect_eq(lengths[b], expected_length, "%s row %zu: %zu tokens, meshgpt-pytorch %zu", expected_name, b,
                     lengths[b], expected_length);
        size_t differ = 0;
        for (size_t i = 0; i < n; i++)
            differ += codes[b * MAX_TOKENS + i] != (int32_t)expected.i64[b * n + i];
        cr_expect_eq(differ, 0, "%s row %zu: %zu tokens differ", expected_name, b, differ);
    }
    free(codes);
    free(prompt);
    test_npy_free(&p);
    test_npy_free(&text);
    test_npy_free(&expected);
}


static void check_all(mg_context *ctx, bool all)
{
    mg_model *model = load_model(ctx);
    if (!all) {
        check_case(model, "genp_cs3_kv0", "text_embeds", 1, 3.0f, "gen_prompt");
        check_case(model, "genb_cs1_kv0", "text_embeds_batch", 3, 1.0f, NULL);
        mg_model_free(model);
        return;
    }
    check_case(model, "gen_cs1_kv1", "text_embeds", 1, 1.0f, NULL);
    check_case(model, "gen_cs3_kv1", "text_embeds", 1, 3.0f, NULL);
    check_case(model, "genp_cs1_kv1", "text_embeds", 1, 1.0f, "gen_prompt");
    check_case(model, "genp_cs3_kv1", "text_embeds", 1, 3.0f, "gen_prompt");
    check_case(model, "genb_cs1_kv1", "text_embeds_batch", 3, 1.0f, NULL);

    /* EOS: the same weights with to_logits.bias[eos] raised by the fixture's delta (a float32 add). */
    mg_tensor *bias = mg_weights_tensor(&model->weights, "to_logits.bias");
    cr_assert_not_null(bias);
    float values[257];
    cr_assert_eq(mg_tensor_read_f32(bias, values, 257), MG_OK);
    values[256] += 0.5358911156654358f;
    cr_assert_eq(mg_tensor_write_f32(bias, values, 257), MG_OK);
    check_case(model, "gen_eos_cs1_kv1", "text_embeds", 1, 1.0f, NULL);
    mg_model_free(model);
}

Test(transformer_generate, greedy_cpu) { mg_context *ctx = test_cpu_context(); check_all(ctx, true); test_close(ctx); }
Test(transformer_generate, greedy_vulkan) { mg_context *ctx = test_vulkan_context(); check_all(ctx, true); test_close(ctx); }

/* Cached equals uncached, token for token (upstream's own test_cache), on a guided and a batched case. */
Test(transformer_generate, whole_sequence_equals_cached_cpu)
{
    mg_context *ctx = test_cpu_context();
    whole_sequence = true;
    check_all(ctx, false);
    whole_sequence = false;
    test_close(ctx);
}

/* Sampling: the same seed gives the same tokens; top-k 1 equals the arg-max; EOS never inside a face. */
Test(transformer_generate, sampling_cpu)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    test_npy text = test_npy_load("text_embeds");
    mg_tf_text t = {.embeds = text.f32, .tokens = 10};
    int32_t a[MAX_TOKENS], b[MAX_TOKENS], greedy[MAX_TOKENS], top1[MAX_TOKENS];
    size_t la, lb, lg, l1;
    mg_tf_sampling s = mg_tf_default_sampling();
    s.seed = 1234;
    s.temperature = 1.0f;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, a, &la), MG_OK);
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, b, &lb), MG_OK);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(a, b, sizeof(int32_t) * 30), 0, "the same seed must give the same tokens");
    s.seed = 99;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, b, &lb), MG_OK);
    cr_expect_neq(memcmp(a, b, sizeof(int32_t) * 30), 0, "another seed should give other tokens");
    mg_tf_sampling g = mg_tf_default_sampling();
    g.temperature = 0.0f;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &g, NULL, NULL, greedy, &lg), MG_OK);
    mg_tf_sampling k1 = mg_tf_default_sampling();
    k1.top_k = 1;
    k1.seed = 5;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &k1, NULL, NULL, top1, &l1), MG_OK);
    cr_expect_eq(lg, l1);
    cr_expect_eq(memcmp(greedy, top1, sizeof(int32_t) * 30), 0, "top-k 1 must equal the arg-max");
    for (size_t i = 0; i < 30; i++)
        cr_expect(a[i] != 256, "EOS inside the returned tokens at %zu", i);
    test_npy_free(&text);
    mg_model_free(model);
    test_close(ctx);
}

/* An accept callback that refuses tokens of one parity at chosen positions (odd ids at even positions), and
 * counts its calls. */
typedef struct refusing {
    size_t calls, refused;
    bool refuse_all;
} refusing;

static mg_status refuse_some(void *user, size_t row, const int32_t *tokens, size_t length, int32_t token,
                             bool *accept)
{
    refusing *r = user;
    (void)row;
    (void)tokens;
    r->calls++;
    *accept = !r->refuse_all && !(length % 2 == 0 && token % 2 == 1);
    r->refused += !*accept;
    return MG_OK;
}

/* The accept callback: refused tokens are replaced by accepted ones (greedy: the next most likely), a row with
 * nothing acceptable ends at its last whole face, and a callback that accepts everything changes nothing. */
Test(transformer_generate, accept_callback_cpu)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    test_npy text = test_npy_load("text_embeds");
    mg_tf_text t = {.embeds = text.f32, .tokens = 10};
    int32_t plain[MAX_TOKENS], got[MAX_TOKENS];
    size_t plain_length, got_length;
    mg_tf_sampling s = mg_tf_default_sampling();
    s.seed = 7;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, plain, &plain_length), MG_OK);
    refusing r = {0};
    s.accept = refuse_some;
    s.hook_user = &r;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, got, &got_length), MG_OK);
    cr_assert_gt(r.calls, 0);
    for (size_t i = 0; i < got_length; i++)
        cr_expect(!(i % 2 == 0 && got[i] % 2 == 1), "token %zu is %d, an odd id at an even position", i, got[i]);
    if (r.refused == 0)
        cr_expect_eq(memcmp(plain, got, got_length * sizeof *got), 0, "nothing refused, nothing changed");
    /* Greedy: each refused arg-max gives way to the best accepted token of the same logits. */
    mg_tf_sampling g = mg_tf_default_sampling();
    g.temperature = 0.0f;
    g.accept = refuse_some;
    g.hook_user = &r;
    mg_tf_row_end end = MG_TF_END_REFUSED;
    g.row_ends = &end;
    r.refused = 0;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &g, NULL, NULL, got, &got_length), MG_OK);
    cr_expect_gt(r.refused, 0, "the case should refuse some arg-max tokens");
    cr_expect_eq(got_length, 30, "refusals replace tokens; they do not end the row (%zu tokens)", got_length);
    cr_expect_eq(end, MG_TF_END_LIMIT, "the row ran to its 30 tokens: ended by the limit, not %d", (int)end);
    float *logits = malloc(31 * 257 * sizeof *logits);
    cr_assert(logits);
    cr_assert_eq(mg_tf_logits(&model->transformer, got, 1, got_length, &t, logits), MG_OK);
    for (size_t i = 0; i < got_length; i++) {
        const float *row = logits + i * 257;
        int best = -1;
        for (int v = 0; v < 256; v++)
            if (!(i % 2 == 0 && v % 2 == 1) && (best < 0 || row[v] > row[best]))
                best = v;
        cr_expect_eq(got[i], best, "token %zu: %d, the best acceptable is %d", i, got[i], best);
    }
    free(logits);
    /* Refusing everything: no face can be made. */
    refusing all = {.refuse_all = true};
    s.hook_user = &all;
    s.row_ends = &end;
    end = MG_TF_END_EOS;
    got_length = 1;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &s, NULL, NULL, got, &got_length), MG_OK);
    cr_expect_eq(got_length, 0, "every token refused: an empty row, not %zu tokens", got_length);
    cr_expect_eq(end, MG_TF_END_REFUSED, "the row was ended by refusals, not %d", (int)end);
    /* The model's own EOS: the plain run's row, when it ended before its 30 tokens. */
    mg_tf_sampling plain_again = mg_tf_default_sampling();
    plain_again.seed = 7;
    plain_again.row_ends = &end;
    cr_assert_eq(mg_tf_generate(&model->transformer, &t, 1, NULL, 0, 30, &plain_again, NULL, NULL, got, &got_length),
                 MG_OK);
    cr_expect_eq(end, got_length < 30 ? MG_TF_END_EOS : MG_TF_END_LIMIT, "%zu tokens, end %d", got_length, (int)end);
    cr_expect_leq(all.calls, 256, "the draws per token are bounded");
    test_npy_free(&text);
    mg_model_free(model);
    test_close(ctx);
}
