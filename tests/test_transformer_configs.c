/*
 * The whole transformer on Vulkan against the CPU reference, on random weights,
 * for the variants checkpoints come in: with and without text, with and
 * without value residual (and with its fixed mix), both LayerNorm gain
 * conventions, fine cross-attention on and off. Teacher-forced logits must
 * agree (NMSE), and greedy generation must give the same tokens on both
 * backends and with or without the KV caches.
 */
#include "model/tf_generate.h"
#include "model/tf_weights.h"
#include "model/model.h"
#include "model/model_write.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct variant {
    bool text, value_residual, learned_mix, fine_cross;
    float gain_offset;
} variant;

static mg_tf_config small_config(variant v)
{
    mg_tf_config c;
    memset(&c, 0, sizeof c);
    c.dim = c.dim_fine = 48;
    c.max_seq_len = 120;
    c.attn_depth = 2;
    c.attn_dim_head = 16;
    c.attn_heads = 3;
    c.attn_num_mem_kv = 4;
    c.cross_attn_num_mem_kv = 4;
    c.ff_glu = true;
    c.add_value_residual = v.value_residual;
    c.learned_value_residual_mix = v.learned_mix;
    c.coarse_pre_gateloop_depth = 1;
    c.fine_pre_gateloop_depth = 1;
    c.fine_attn_depth = 2;
    c.condition_on_text = v.text;
    c.fine_cross_attend_text = v.fine_cross;
    c.num_sos_tokens = v.text ? 4 : 1;
    c.dim_text = 40;
    c.text_embed_pad_value = -1.0f;
    c.norm_gain_offset = v.gain_offset;
    c.codebook_size = 64;
    c.num_quantizers = 2;
    c.face_size = 3;
    return c;
}

static void random_weights(mg_context *ctx, const mg_tf_config *c, mg_weights *weights)
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
        float *values = malloc(n * sizeof *values);
        float bound = s->ndim >= 2 ? 1.0f / sqrtf((float)s->shape[s->ndim - 1]) : 0.1f;
        if (s->ndim >= 2 && (strstr(s->name, "embed") || strstr(s->name, "sos_token") || strstr(s->name, "mem_")))
            bound = 1.0f;
        test_fill_uniform(values, n, (uint32_t)i + 11, -bound, bound);
        if (s->ndim == 1 && strstr(s->name, "gamma") == NULL && strstr(s->name, "bias") == NULL)
            for (size_t k = 0; k < n; k++)
                values[k] += 1.0f; /* nn.LayerNorm weights and gains without offset sit near 1 */
        if (s->ndim == 1 && strstr(s->name, "gamma") && c->norm_gain_offset == 0.0f)
            for (size_t k = 0; k < n; k++)
                values[k] += 1.0f;
        memcpy(weights->items[i].name, s->name, sizeof weights->items[i].name);
        weights->items[i].count = n;
        weights->items[i].tensor = test_tensor(ctx, MG_DTYPE_F32, s->ndim, s->shape, values);
        free(values);
    }
    free(specs);
}

typedef struct run {
    float *logits;
    size_t logit_count;
    int32_t codes[2 * 36];
    size_t lengths[2];
} run;

static run run_variant(mg_context *ctx, const mg_tf_config *c, bool whole_sequence)
{
    mg_weights weights = {0};
    random_weights(ctx, c, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, c, &weights);
    /* Two rows: 17 and 30 tokens (partial faces, padding), text of 5 tokens with row 0's last 2 padded. */
    enum { LENGTH = 30, TOKENS = 5 };
    int32_t codes[2 * LENGTH];
    for (int i = 0; i < 2 * LENGTH; i++)
        codes[i] = (i * 37 + 5) % 64;
    for (int i = 17; i < LENGTH; i++)
        codes[i] = -1;
    float text[2 * TOKENS * 40];
    test_fill_uniform(text, 2 * TOKENS * 40, 3, -1.0f, 1.0f);
    for (int i = 3 * 40; i < TOKENS * 40; i++)
        text[i] = -1.0f;
    mg_tf_text t = {.embeds = text, .tokens = TOKENS};
    run r = {0};
    r.logit_count = 2 * (LENGTH + 1) * 65;
    r.logits = malloc(r.logit_count * sizeof(float));
    cr_assert_eq(mg_tf_logits(&tf, codes, 2, LENGTH, c->condition_on_text ? &t : NULL, r.logits), MG_OK, "%s",
                 mg_context_last_error(ctx));
    mg_tf_sampling s = mg_tf_default_sampling();
    s.temperature = 0.0f;
    s.cond_scale = c->condition_on_text ? 2.0f : 1.0f;
    s.whole_sequence = whole_sequence;
    cr_assert_eq(mg_tf_generate(&tf, c->condition_on_text ? &t : NULL, 2, NULL, 0, 36, &s, NULL, NULL, r.codes,
                                r.lengths),
                 MG_OK, "%s", mg_context_last_error(ctx));
    mg_weights_free(&weights);
    return r;
}

static void compare_variant(variant v)
{
    mg_tf_config c = small_config(v);
    mg_context *cpu = test_cpu_context();
    mg_context *gpu = test_vulkan_context();
    run a = run_variant(cpu, &c, false);
    run b = run_variant(gpu, &c, false);
    run w = run_variant(cpu, &c, true);
    double nmse = test_nmse(b.logits, a.logits, a.logit_count);
    cr_log_info("text %d, value residual %d/%d, fine cross %d, gain offset %g: logits NMSE %.3g", v.text,
                v.value_residual, v.learned_mix, v.fine_cross, v.gain_offset, nmse);
    cr_expect_leq(nmse, 1e-7, "logits NMSE %g between Vulkan and the CPU reference", nmse);
    test_assert_finite_like(b.logits, a.logits, a.logit_count);
    for (int row = 0; row < 2; row++) {
        cr_expect_eq(a.lengths[row], b.lengths[row]);
        cr_expect_eq(a.lengths[row], w.lengths[row]);
    }
    cr_expect_eq(memcmp(a.codes, b.codes, sizeof a.codes), 0, "greedy tokens differ between Vulkan and the CPU");
    cr_expect_eq(memcmp(a.codes, w.codes, sizeof a.codes), 0, "cached and whole-sequence decoding differ");
    size_t distinct = 0;
    for (size_t i = 1; i < a.lengths[0]; i++)
        distinct += a.codes[i] != a.codes[0];
    cr_expect_gt(distinct, 0, "every generated token is the same: the comparison would prove little");
    free(a.logits);
    free(b.logits);
    free(w.logits);
    test_close(gpu);
    test_close(cpu);
}

Test(transformer_configs, text_value_residual_offset_gains)
{
    compare_variant((variant){.text = true, .value_residual = true, .learned_mix = true, .fine_cross = true,
                              .gain_offset = 1.0f});
}
Test(transformer_configs, text_without_fine_cross_attention)
{
    compare_variant((variant){.text = true, .value_residual = true, .learned_mix = true, .gain_offset = 1.0f});
}
Test(transformer_configs, no_value_residual_old_layernorm)
{
    compare_variant((variant){.text = true, .fine_cross = true, .gain_offset = 0.0f});
}
Test(transformer_configs, fixed_value_mix)
{
    compare_variant((variant){.text = true, .value_residual = true, .learned_mix = false, .gain_offset = 1.0f});
}
Test(transformer_configs, unconditional)
{
    compare_variant((variant){.value_residual = true, .learned_mix = true, .gain_offset = 1.0f});
}

/* meshgpt-pytorch's defaults parse as they are: max_seq_len 8192 is not a multiple of 6 tokens per face. */
Test(transformer_configs, upstream_defaults_parse)
{
    mg_ae_config ae;
    mg_ae_config_defaults(&ae);
    mg_tf_config c;
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_tf_config_parse("{}", &ae, &c, &diag), MG_OK, "%s", diag.last_error);
    cr_expect_eq(c.max_seq_len, 8192);
    cr_expect_neq(c.max_seq_len % mg_tf_config_tokens_per_face(&c), 0);
    mg_diag_destroy(&diag);
}

/* A position table that is not a whole number of faces (64 positions: 10 faces and 4 tokens): generation
 * through the public API, with no face limit given, keeps within it in whole faces. */
Test(transformer_configs, generation_keeps_whole_faces_of_an_odd_table)
{
    mg_model_config config = {0};
    mg_ae_config *ae = &config.autoencoder;
    mg_ae_config_defaults(ae);
    ae->dim_coor_embed = ae->dim_area_embed = ae->dim_normal_embed = ae->dim_angle_embed = 4;
    ae->encoder_depth = 1;
    ae->encoder_dims[0] = 16;
    ae->decoder_depth = 1;
    ae->decoder_dims[0] = 16;
    ae->dim_codebook = 16;
    ae->codebook_size = 64;
    config.has_transformer = true;
    config.transformer_json = (char *)"{\"dim\":32,\"max_seq_len\":64,\"attn_depth\":1,\"attn_dim_head\":8,"
                                      "\"attn_heads\":2,\"fine_attn_depth\":1,\"coarse_pre_gateloop_depth\":1,"
                                      "\"fine_pre_gateloop_depth\":1}";
    char path[] = "/tmp/mg-odd-table-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    mg_context *ctx = test_cpu_context();
    cr_assert_eq(mg_model_write_random(path, &config, 9, 0.5f, MG_ST_F32, &ctx->diag), MG_OK, "%s",
                 ctx->diag.last_error);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    remove(path);
    mg_generate_params p = mg_generate_default_params();
    size_t longest = 0;
    for (uint64_t seed = 0; seed < 4; seed++) {
        p.seed = seed;
        mg_tokens tokens;
        cr_assert_eq(mg_generate(model, &p, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
        cr_expect_leq(tokens.num_faces, 10);
        longest = tokens.num_faces > longest ? tokens.num_faces : longest;
        mg_tokens_free(&tokens);
    }
    cr_log_info("longest generation: %zu faces", longest);
    mg_model_free(model);
    test_close(ctx);
}
