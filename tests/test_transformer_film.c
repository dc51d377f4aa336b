/*
 * FiLM text conditioning (meshgpt-pytorch text_cond_with_film) on a small
 * random-weight transformer:
 * - Vulkan logits agree with the CPU reference, greedy guided generation gives
 *   the same tokens on both backends and with or without the KV caches;
 * - with gamma_mult = beta_mult = 0 (upstream's initialisation) the logits
 *   equal those of the same model without FiLM, and with non-zero
 *   multipliers they do not;
 * - one FiLM step checked against a host computation: pooled text (masked
 *   mean, 0 for a dropped text), gamma = 1 + gm tanh(Wg c),
 *   beta = bm tanh(Wb c + b), x * gamma + beta per batch row.
 */
#include "model/tf_generate.h"
#include "model/tf_internal.h"
#include "model/tf_weights.h"
#include "ops/ops.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DIM = 48, DIM_TEXT = 40, VOCAB = 65, LENGTH = 30, TOKENS = 5, GENERATED = 36 };

static mg_tf_config film_config(bool film)
{
    mg_tf_config c;
    memset(&c, 0, sizeof c);
    c.dim = c.dim_fine = DIM;
    c.max_seq_len = 120;
    c.attn_depth = 2;
    c.attn_dim_head = 16;
    c.attn_heads = 3;
    c.attn_num_mem_kv = 4;
    c.cross_attn_num_mem_kv = 4;
    c.ff_glu = true;
    c.add_value_residual = true;
    c.learned_value_residual_mix = true;
    c.coarse_pre_gateloop_depth = 1;
    c.fine_pre_gateloop_depth = 1;
    c.fine_attn_depth = 2;
    c.condition_on_text = true;
    c.text_cond_with_film = film;
    c.fine_cross_attend_text = false;
    c.num_sos_tokens = 4;
    c.dim_text = DIM_TEXT;
    c.text_embed_pad_value = -1.0f;
    c.norm_gain_offset = 1.0f;
    c.codebook_size = VOCAB - 1;
    c.num_quantizers = 2;
    c.face_size = 3;
    return c;
}

/* Random weights; each tensor's values depend on its name only, so the model with and without FiLM share
 * every common tensor. The FiLM multipliers are set to `multiplier`. */
static void random_weights(mg_context *ctx, const mg_tf_config *c, float multiplier, mg_weights *weights)
{
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    cr_assert_eq(mg_tf_weight_specs(c, &specs, &count, &ctx->diag), MG_OK);
    weights->items = calloc(count, sizeof *weights->items);
    weights->count = count;
    for (size_t i = 0; i < count; i++) {
        const mg_weight_spec *s = &specs[i];
        size_t n = 1;
        for (int d = 0; d < s->ndim; d++)
            n *= (size_t)s->shape[d];
        uint32_t seed = 2166136261u;
        for (const char *p = s->name; *p; p++)
            seed = (seed ^ (uint8_t)*p) * 16777619u;
        float *values = malloc(n * sizeof *values);
        float bound = s->ndim >= 2 ? 1.0f / sqrtf((float)s->shape[s->ndim - 1]) : 0.1f;
        if (s->ndim >= 2 && (strstr(s->name, "embed") || strstr(s->name, "sos_token") || strstr(s->name, "mem_")))
            bound = 1.0f;
        test_fill_uniform(values, n, seed, -bound, bound);
        if (s->ndim == 1 && strstr(s->name, "gamma") == NULL && strstr(s->name, "bias") == NULL)
            for (size_t k = 0; k < n; k++)
                values[k] += 1.0f; /* nn.LayerNorm weights sit near 1 */
        if (strstr(s->name, "_mult"))
            values[0] = multiplier;
        memcpy(weights->items[i].name, s->name, sizeof weights->items[i].name);
        weights->items[i].count = n;
        weights->items[i].tensor = test_tensor(ctx, MG_DTYPE_F32, s->ndim, s->shape, values);
        free(values);
    }
    free(specs);
}

/* Two rows: 17 and 30 tokens; text of 5 tokens, row 0's last 2 padded. */
static void inputs(int32_t *codes, float *text)
{
    for (int i = 0; i < 2 * LENGTH; i++)
        codes[i] = (i * 37 + 5) % (VOCAB - 1);
    for (int i = 17; i < LENGTH; i++)
        codes[i] = -1;
    test_fill_uniform(text, 2 * TOKENS * DIM_TEXT, 3, -1.0f, 1.0f);
    for (int i = 3 * DIM_TEXT; i < TOKENS * DIM_TEXT; i++)
        text[i] = -1.0f;
}

typedef struct run {
    float logits[2 * (LENGTH + 1) * VOCAB];
    float dropped_logits[2 * (LENGTH + 1) * VOCAB];
    int32_t codes[2 * GENERATED];
    size_t lengths[2];
} run;

static run *run_model(mg_context *ctx, bool film, float multiplier, bool generate, bool whole_sequence)
{
    mg_tf_config c = film_config(film);
    mg_weights weights = {0};
    random_weights(ctx, &c, multiplier, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, &c, &weights);
    int32_t codes[2 * LENGTH];
    float text[2 * TOKENS * DIM_TEXT];
    inputs(codes, text);
    mg_tf_text t = {.embeds = text, .tokens = TOKENS};
    run *r = calloc(1, sizeof *r);
    cr_assert_eq(mg_tf_logits(&tf, codes, 2, LENGTH, &t, r->logits), MG_OK, "%s", mg_context_last_error(ctx));
    t.drop = true;
    cr_assert_eq(mg_tf_logits(&tf, codes, 2, LENGTH, &t, r->dropped_logits), MG_OK, "%s",
                 mg_context_last_error(ctx));
    t.drop = false;
    if (generate) {
        mg_tf_sampling s = mg_tf_default_sampling();
        s.temperature = 0.0f;
        s.cond_scale = 2.0f;
        s.whole_sequence = whole_sequence;
        cr_assert_eq(mg_tf_generate(&tf, &t, 2, NULL, 0, GENERATED, &s, NULL, NULL, r->codes, r->lengths), MG_OK,
                     "%s", mg_context_last_error(ctx));
    }
    mg_weights_free(&weights);
    return r;
}

Test(transformer_film, vulkan_cpu_and_cached_generation_agree)
{
    mg_context *cpu = test_cpu_context();
    mg_context *gpu = test_vulkan_context();
    run *a = run_model(cpu, true, 0.7f, true, false);
    run *b = run_model(gpu, true, 0.7f, true, false);
    run *w = run_model(cpu, true, 0.7f, true, true);
    const size_t n = sizeof a->logits / sizeof(float);
    double nmse = test_nmse(b->logits, a->logits, n);
    double dropped_nmse = test_nmse(b->dropped_logits, a->dropped_logits, n);
    cr_log_info("FiLM: logits NMSE %.3g (text), %.3g (dropped text)", nmse, dropped_nmse);
    cr_expect_leq(nmse, 1e-7, "logits NMSE %g between Vulkan and the CPU reference", nmse);
    cr_expect_leq(dropped_nmse, 1e-7, "dropped-text logits NMSE %g between Vulkan and the CPU", dropped_nmse);
    test_assert_finite_like(b->logits, a->logits, n);
    for (int row = 0; row < 2; row++) {
        cr_expect_eq(a->lengths[row], b->lengths[row]);
        cr_expect_eq(a->lengths[row], w->lengths[row]);
    }
    cr_expect_eq(memcmp(a->codes, b->codes, sizeof a->codes), 0, "greedy tokens differ between Vulkan and the CPU");
    cr_expect_eq(memcmp(a->codes, w->codes, sizeof a->codes), 0, "cached and whole-sequence decoding differ");
    size_t distinct = 0;
    for (size_t i = 1; i < a->lengths[0]; i++)
        distinct += a->codes[i] != a->codes[0];
    cr_expect_gt(distinct, 0, "every generated token is the same: the comparison would prove little");
    free(a);
    free(b);
    free(w);
    test_close(gpu);
    test_close(cpu);
}

Test(transformer_film, zero_multipliers_are_identity)
{
    mg_context *cpu = test_cpu_context();
    run *plain = run_model(cpu, false, 0.0f, false, false);
    run *identity = run_model(cpu, true, 0.0f, false, false);
    run *active = run_model(cpu, true, 0.7f, false, false);
    const size_t n = sizeof plain->logits / sizeof(float);
    size_t differ = 0;
    double active_nmse = test_nmse(active->logits, plain->logits, n);
    for (size_t i = 0; i < n; i++)
        differ += identity->logits[i] != plain->logits[i] || identity->dropped_logits[i] != plain->dropped_logits[i];
    cr_expect_eq(differ, 0, "%zu logits change with FiLM at its identity initialisation", differ);
    cr_log_info("FiLM with multipliers 0.7: logits NMSE %.3g from the model without", active_nmse);
    cr_expect_gt(active_nmse, 1e-4, "non-zero multipliers must change the logits (NMSE %g)", active_nmse);
    free(plain);
    free(identity);
    free(active);
    test_close(cpu);
}

/* FiLM of x [B, 2, d] computed on the host for one batch's text and mask. */
static void host_film(const float *text, const int32_t *mask, const float *wg, const float *wb, const float *bias,
                      float gm, float bm, const float *x, float *out)
{
    for (int b = 0; b < 2; b++) {
        double pooled[DIM_TEXT] = {0};
        int visible = 0;
        for (int t = 0; t < TOKENS; t++) {
            if (!mask[b * TOKENS + t])
                continue;
            visible++;
            for (int k = 0; k < DIM_TEXT; k++)
                pooled[k] += text[(b * TOKENS + t) * DIM_TEXT + k];
        }
        for (int k = 0; k < DIM_TEXT; k++)
            pooled[k] = visible ? pooled[k] / visible : 0.0;
        for (int j = 0; j < DIM; j++) {
            double g = 0.0, be = bias[j];
            for (int k = 0; k < DIM_TEXT; k++) {
                g += wg[j * DIM_TEXT + k] * pooled[k];
                be += wb[j * DIM_TEXT + k] * pooled[k];
            }
            const double gamma = 1.0 + gm * tanh(g), beta = bm * tanh(be);
            for (int r = 0; r < 2; r++)
                out[(b * 2 + r) * DIM + j] = (float)(x[(b * 2 + r) * DIM + j] * gamma + beta);
        }
    }
}

static void check_film_step(mg_context *ctx, bool drop)
{
    mg_tf_config c = film_config(true);
    mg_weights weights = {0};
    random_weights(ctx, &c, 0.7f, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, &c, &weights);
    int32_t codes[2 * LENGTH];
    float text[2 * TOKENS * DIM_TEXT];
    inputs(codes, text);
    mg_tf_text t = {.embeds = text, .tokens = TOKENS, .drop = drop};
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    decoder_context context = {0};
    mg_tf_film film;
    cr_assert_eq(mg_tf_text_context(&tf, &scratch, &t, 2, &context), MG_OK);
    cr_assert_eq(mg_tf_film_params(&tf, &scratch, "text_fine_film_cond", &context, &film), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float x[2 * 2 * DIM], want[2 * 2 * DIM], got[2 * 2 * DIM];
    test_fill_uniform(x, 2 * 2 * DIM, 17, -2.0f, 2.0f);
    int64_t shape[3] = {2, 2, DIM};
    mg_tensor *xt = test_tensor(ctx, MG_DTYPE_F32, 3, shape, x);
    cr_assert_eq(mg_tf_film_apply(&tf, &film, xt), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_tensor_read(xt, got, sizeof got), MG_OK);
    /* The host version from the same weights. */
    float wg[DIM * DIM_TEXT], wb[DIM * DIM_TEXT], bias[DIM];
    int32_t mask[2 * TOKENS];
    cr_assert_eq(mg_tensor_read(mg_tf_weight(&tf, "text_fine_film_cond.to_gamma.weight"), wg, sizeof wg), MG_OK);
    cr_assert_eq(mg_tensor_read(mg_tf_weight(&tf, "text_fine_film_cond.to_beta.weight"), wb, sizeof wb), MG_OK);
    cr_assert_eq(mg_tensor_read(mg_tf_weight(&tf, "text_fine_film_cond.to_beta.bias"), bias, sizeof bias), MG_OK);
    for (int i = 0; i < 2 * TOKENS; i++)
        mask[i] = !drop && (i % TOKENS < 3 || i >= TOKENS); /* row 0's last two tokens are padding */
    host_film(text, mask, wg, wb, bias, 0.7f, 0.7f, x, want);
    double worst = 0.0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        worst = fmax(worst, fabs((double)got[i] - want[i]));
    cr_expect_leq(worst, 1e-5, "FiLM (drop %d) differs from the host computation by %g", drop, worst);
    mg_tensor_free(xt);
    mg_scratch_release(&scratch);
    mg_weights_free(&weights);
}

Test(transformer_film, one_step_matches_host_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_film_step(ctx, false);
    check_film_step(ctx, true);
    test_close(ctx);
}

Test(transformer_film, one_step_matches_host_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_film_step(ctx, false);
    check_film_step(ctx, true);
    test_close(ctx);
}

Test(transformer_film, config_accepts_film_and_lists_its_tensors)
{
    mg_context *ctx = test_cpu_context();
    mg_ae_config ae;
    memset(&ae, 0, sizeof ae);
    ae.codebook_size = 64;
    ae.num_quantizers = 2;
    mg_tf_config c;
    cr_assert_eq(mg_tf_config_parse("{\"dim\": 48, \"max_seq_len\": 120, \"condition_on_text\": true, \"text_cond_with_film\": true, "
                                    "\"text_condition_model_types\": [\"clip\"]}",
                                    &ae, &c, &ctx->diag),
                 MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(c.text_cond_with_film);
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    cr_assert_eq(mg_tf_weight_specs(&c, &specs, &count, &ctx->diag), MG_OK);
    static const struct {
        const char *name;
        int ndim;
        int64_t d0, d1;
    } want[] = {{"text_coarse_film_cond.gamma_mult", 1, 1, 0},      {"text_coarse_film_cond.beta_mult", 1, 1, 0},
                {"text_coarse_film_cond.to_gamma.weight", 2, 48, 512}, {"text_coarse_film_cond.to_beta.weight", 2, 48, 512},
                {"text_coarse_film_cond.to_beta.bias", 1, 48, 0},   {"text_fine_film_cond.gamma_mult", 1, 1, 0},
                {"text_fine_film_cond.beta_mult", 1, 1, 0},         {"text_fine_film_cond.to_gamma.weight", 2, 48, 512},
                {"text_fine_film_cond.to_beta.weight", 2, 48, 512}, {"text_fine_film_cond.to_beta.bias", 1, 48, 0}};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const mg_weight_spec *found = NULL;
        for (size_t i = 0; i < count && !found; i++)
            found = strcmp(specs[i].name, want[w].name) == 0 ? &specs[i] : NULL;
        cr_assert_not_null(found, "no tensor %s", want[w].name);
        cr_expect_eq(found->ndim, want[w].ndim, "%s", want[w].name);
        cr_expect_eq(found->shape[0], want[w].d0, "%s", want[w].name);
        if (want[w].ndim == 2)
            cr_expect_eq(found->shape[1], want[w].d1, "%s", want[w].name);
    }
    free(specs);
    /* Without text upstream builds no FiLM modules: the flag alone adds no tensors. */
    cr_assert_eq(mg_tf_config_parse("{\"dim\": 48, \"max_seq_len\": 120, \"text_cond_with_film\": true}", &ae, &c, &ctx->diag), MG_OK);
    cr_assert_eq(mg_tf_weight_specs(&c, &specs, &count, &ctx->diag), MG_OK);
    for (size_t i = 0; i < count; i++)
        cr_expect(strstr(specs[i].name, "film") == NULL, "unexpected %s", specs[i].name);
    free(specs);
    /* Adaptive RMSNorm (coarse_adaptive_rmsnorm) is covered by test_tf_adaptive.c. */
    test_close(ctx);
}
