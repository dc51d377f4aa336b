/*
 * Guidance options through the public mg_generate on the meshgpt-pytorch
 * fixture model (CPU reference, greedy): the defaults still give
 * meshgpt-pytorch's guided tokens (gen_cs3_kv1); removing the parallel
 * component while keeping all of it (keep_parallel_frac 1) gives them too;
 * with the parallel part removed the tokens equal a greedy reference
 * recomputed here step by step from the whole-sequence conditional and
 * unconditional logits and mg_tf_guide_logits; a fraction outside [0, 1] is refused.
 */
#include "core/context.h"
#include "model/model.h"
#include "model/tf_generate.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>


static mg_model *load_fixture(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    return model;
}

static mg_generate_params guided_params(test_npy *text, float cond_scale)
{
    mg_generate_params p = mg_generate_default_params();
    p.text.embedding = text->f32;
    p.text.embedding_tokens = (size_t)text->shape[1];
    p.text.embedding_width = (size_t)text->shape[2];
    p.temperature = 0.0f;
    p.cond_scale = cond_scale;
    p.unconstrained = true; /* upstream and the reference here keep every token */
    p.max_faces = 10; /* upstream ran with max_seq_len 60 */
    return p;
}

/* Generated tokens against gen_cs3_kv1 ([1, n, 2], -1 after EOS). */
static void expect_upstream_guided(const mg_tokens *tokens, const char *what)
{
    test_npy want = test_npy_load("gen_cs3_kv1");
    size_t length = 0;
    while (length < want.count && want.i64[length] >= 0)
        length++;
    const size_t got = tokens->num_faces * tokens->face_size * tokens->levels;
    cr_expect_eq(got, length, "%s: %zu tokens, meshgpt-pytorch %zu", what, got, length);
    size_t differ = 0;
    for (size_t i = 0; i < got && i < length; i++)
        differ += tokens->tokens[i] != (int32_t)want.i64[i];
    cr_expect_eq(differ, 0, "%s: %zu tokens differ from meshgpt-pytorch", what, differ);
    test_npy_free(&want);
}

Test(generate_guidance, defaults_and_full_parallel_part_match_upstream)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text = test_npy_load("text_embeds");
    mg_generate_params p = guided_params(&text, 3.0f);
    cr_expect(!p.remove_parallel_component);
    cr_expect_eq(p.keep_parallel_frac, 0.0f);
    mg_tokens tokens;
    cr_assert_eq(mg_generate(model, &p, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    expect_upstream_guided(&tokens, "defaults");
    mg_tokens_free(&tokens);
    p.remove_parallel_component = true;
    p.keep_parallel_frac = 1.0f;
    cr_assert_eq(mg_generate(model, &p, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    expect_upstream_guided(&tokens, "keep_parallel_frac 1");
    mg_tokens_free(&tokens);
    test_npy_free(&text);
    mg_model_free(model);
    test_close(ctx);
}

/* Greedy tokens recomputed here step by step: whole-sequence logits of both passes, combined with
 * mg_tf_guide_logits, EOS only at a face boundary. */
static size_t reference_tokens(mg_model *model, test_npy *text, float cond_scale, bool remove, size_t n, int32_t *out)
{
    const size_t vocab = mg_model_vocabulary_size(model);
    float *cond = malloc((n + 1) * vocab * sizeof *cond), *uncond = malloc((n + 1) * vocab * sizeof *uncond);
    float *row = malloc(vocab * sizeof *row);
    mg_tf_text t = {.embeds = text->f32, .tokens = (size_t)text->shape[1]};
    size_t length = 0;
    for (; length < n; length++) {
        t.drop = false;
        cr_assert_eq(mg_tf_logits(&model->transformer, out, 1, length, &t, cond), MG_OK);
        t.drop = true;
        cr_assert_eq(mg_tf_logits(&model->transformer, out, 1, length, &t, uncond), MG_OK);
        mg_tf_guide_logits(cond + length * vocab, uncond + length * vocab, vocab, cond_scale, remove, 0.0f, row);
        if (!(length > 0 && length % 6 == 0))
            row[vocab - 1] = -FLT_MAX;
        size_t best = 0;
        for (size_t v = 1; v < vocab; v++)
            best = row[v] > row[best] ? v : best;
        if (best == vocab - 1)
            break;
        out[length] = (int32_t)best;
    }
    free(cond);
    free(uncond);
    free(row);
    return length;
}

Test(generate_guidance, parallel_removed_matches_step_by_step_reference)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text = test_npy_load("text_embeds");
    enum { N = 24 };
    const float scale = 10.0f; /* at 3 this small model's greedy tokens do not change */
    int32_t plain[N], projected[N];
    size_t plain_length = reference_tokens(model, &text, scale, false, N, plain);
    size_t length = reference_tokens(model, &text, scale, true, N, projected);
    size_t differ_from_plain = 0;
    for (size_t i = 0; i < length && i < plain_length; i++)
        differ_from_plain += plain[i] != projected[i];
    cr_expect_gt(differ_from_plain, 0, "the option must change something for this test to mean anything");
    mg_generate_params p = guided_params(&text, scale);
    p.remove_parallel_component = true;
    p.max_faces = N / 6;
    mg_tokens tokens;
    cr_assert_eq(mg_generate(model, &p, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    const size_t got = tokens.num_faces * tokens.face_size * tokens.levels;
    cr_expect_eq(got, length - length % 6, "%zu tokens, the reference %zu", got, length);
    size_t differ = 0;
    for (size_t i = 0; i < got && i < length; i++)
        differ += tokens.tokens[i] != projected[i];
    cr_expect_eq(differ, 0, "%zu tokens differ from the step-by-step reference", differ);
    mg_tokens_free(&tokens);
    test_npy_free(&text);
    mg_model_free(model);
    test_close(ctx);
}

Test(generate_guidance, fraction_outside_unit_interval_refused)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text = test_npy_load("text_embeds");
    mg_generate_params p = guided_params(&text, 3.0f);
    p.remove_parallel_component = true;
    p.keep_parallel_frac = 1.5f;
    mg_tokens tokens;
    cr_expect_eq(mg_generate(model, &p, NULL, &tokens), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "keep_parallel_frac") != NULL, "%s", mg_context_last_error(ctx));
    test_npy_free(&text);
    mg_model_free(model);
    test_close(ctx);
}
