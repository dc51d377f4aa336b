/*
 * Adaptive RMSNorm text conditioning (meshgpt-pytorch coarse_adaptive_rmsnorm:
 * every norm of the coarse decoder an x-transformers AdaptiveRMSNorm fed the
 * pooled text) and different coarse and fine widths (dim = (coarse, fine)),
 * on small random-weight transformers:
 * - the config is accepted and lists upstream's tensors and shapes;
 * - one AdaptiveRMSNorm (a decoder of depth 0: its final norm only) and the
 *   gains of every norm against a double-precision host computation;
 * - with a dropped text the pooled text is 0 and the gains 1 whatever
 *   to_gamma holds (the logits do not change when it is zeroed), with text
 *   they do;
 * - logits Vulkan vs CPU; greedy guided generation the same on both backends
 *   and with or without the caches; on Vulkan, replayed steps give the logits
 *   of steps recorded anew (MESHGPT_REPLAY=0), bit for bit;
 * - a model file written with such a config loads and runs.
 */
#include "model/model.h"
#include "model/model_write.h"
#include "model/tf_generate.h"
#include "model/tf_incremental.h"
#include "model/tf_internal.h"
#include "model/tf_weights.h"
#include "ops/ops.h"
#include "ops/recording.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DIM = 48, DIM_FINE = 32, DIM_TEXT = 40, VOCAB = 65, LENGTH = 30, TOKENS = 5, GENERATED = 36 };

#define CHECK(ctx, call) cr_assert_eq((call), MG_OK, "%s", mg_context_last_error(ctx))

typedef struct variant {
    bool adaptive, film, fine_cross;
    int dim_fine;
    int attn_depth;
} variant;

static mg_tf_config small_config(variant v)
{
    mg_tf_config c;
    memset(&c, 0, sizeof c);
    c.dim = DIM;
    c.dim_fine = v.dim_fine;
    c.max_seq_len = 120;
    c.attn_depth = v.attn_depth;
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
    c.text_cond_with_film = v.film;
    c.fine_cross_attend_text = v.fine_cross;
    c.coarse_adaptive_rmsnorm = v.adaptive;
    c.num_sos_tokens = 4;
    c.dim_text = DIM_TEXT;
    c.text_embed_pad_value = -1.0f;
    c.norm_gain_offset = 1.0f;
    c.codebook_size = VOCAB - 1;
    c.num_quantizers = 2;
    c.face_size = 3;
    return c;
}

/* Random weights seeded by name; to_gamma projections zeroed when asked (upstream's initialisation). */
static void random_weights(mg_context *ctx, const mg_tf_config *c, bool zero_to_gamma, mg_weights *weights)
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
                values[k] += 1.0f;
        if (strstr(s->name, "_mult"))
            values[0] = 0.7f;
        const bool adaptive_gain = strstr(s->name, ".to_gamma.weight") && strncmp(s->name, "decoder.", 8) == 0;
        if (adaptive_gain && zero_to_gamma)
            memset(values, 0, n * sizeof *values);
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

/* ---- the config and its tensors ---- */

static const mg_weight_spec *find_spec(const mg_weight_spec *specs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

static void expect_spec(const mg_weight_spec *specs, size_t count, const char *name, int ndim, int64_t d0, int64_t d1)
{
    const mg_weight_spec *s = find_spec(specs, count, name);
    cr_assert_not_null(s, "no tensor %s", name);
    cr_expect_eq(s->ndim, ndim, "%s", name);
    cr_expect_eq(s->shape[0], d0, "%s: %lld", name, (long long)s->shape[0]);
    if (ndim == 2)
        cr_expect_eq(s->shape[1], d1, "%s: %lld", name, (long long)s->shape[1]);
}

Test(tf_adaptive, config_lists_upstream_tensors)
{
    mg_context *ctx = test_cpu_context();
    mg_ae_config ae;
    memset(&ae, 0, sizeof ae);
    ae.codebook_size = 64;
    ae.num_quantizers = 2;
    mg_tf_config c;
    CHECK(ctx, mg_tf_config_parse("{\"dim\": [48, 32], \"max_seq_len\": 120, \"attn_depth\": 1, \"fine_attn_depth\": 1, "
                                  "\"condition_on_text\": true, \"coarse_adaptive_rmsnorm\": true, "
                                  "\"text_cond_with_film\": true, \"text_condition_model_types\": [\"clip\"]}",
                                  &ae, &c, &ctx->diag));
    cr_expect_eq(c.dim, 48);
    cr_expect_eq(c.dim_fine, 32);
    cr_expect(c.coarse_adaptive_rmsnorm);
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    CHECK(ctx, mg_tf_weight_specs(&c, &specs, &count, &ctx->diag));
    /* The coarse decoder ('a', 'c', 'f'): AdaptiveRMSNorm gains instead of LayerNorm gammas, final norm too. */
    for (int j = 0; j < 3; j++) {
        char name[96];
        snprintf(name, sizeof name, "decoder.layers.%d.0.0.to_gamma.weight", j);
        expect_spec(specs, count, name, 2, 48, 512);
        snprintf(name, sizeof name, "decoder.layers.%d.0.0.gamma", j);
        cr_expect_null(find_spec(specs, count, name), "%s should not be expected", name);
    }
    expect_spec(specs, count, "decoder.final_norm.to_gamma.weight", 2, 48, 512);
    cr_expect_null(find_spec(specs, count, "decoder.final_norm.gamma"));
    /* Between the widths: one projection; the fine gateloop at the coarse width, the rest at the fine one. */
    expect_spec(specs, count, "maybe_project_coarse_to_fine.weight", 2, 32, 48);
    expect_spec(specs, count, "maybe_project_coarse_to_fine.bias", 1, 32, 0);
    expect_spec(specs, count, "fine_gateloop_block.gateloops.0.to_qkva.0.weight", 2, 144, 48);
    expect_spec(specs, count, "fine_gateloop_block.gateloops.0.norm.gamma", 1, 48, 0);
    expect_spec(specs, count, "fine_decoder.layers.0.0.0.gamma", 1, 32, 0);
    expect_spec(specs, count, "fine_decoder.layers.0.1.to_q.weight", 2, 1024, 32); /* 16 heads of 64 */
    expect_spec(specs, count, "fine_decoder.layers.1.1.ff.0.proj.weight", 2, 256, 32);
    expect_spec(specs, count, "fine_decoder.layers.1.1.ff.2.weight", 2, 32, 128);
    expect_spec(specs, count, "fine_decoder.final_norm.gamma", 1, 32, 0);
    expect_spec(specs, count, "to_logits.weight", 2, 65, 32);
    expect_spec(specs, count, "text_coarse_film_cond.to_gamma.weight", 2, 48, 512);
    expect_spec(specs, count, "text_fine_film_cond.to_gamma.weight", 2, 32, 512);
    expect_spec(specs, count, "text_fine_film_cond.to_beta.bias", 1, 32, 0);
    expect_spec(specs, count, "token_embed.weight", 2, 65, 48);
    free(specs);
    /* Equal widths: no projection (upstream's nn.Identity). */
    CHECK(ctx, mg_tf_config_parse("{\"dim\": [48, 48], \"max_seq_len\": 120}", &ae, &c, &ctx->diag));
    CHECK(ctx, mg_tf_weight_specs(&c, &specs, &count, &ctx->diag));
    cr_expect_null(find_spec(specs, count, "maybe_project_coarse_to_fine.weight"));
    free(specs);
    /* Without text the adaptive norms would have no condition: upstream's forward asserts, this refuses. */
    cr_expect_eq(mg_tf_config_parse("{\"dim\": 48, \"max_seq_len\": 120, \"coarse_adaptive_rmsnorm\": true}", &ae, &c,
                                    &ctx->diag),
                 MG_ERR_FORMAT);
    cr_expect(strstr(mg_context_last_error(ctx), "condition_on_text") != NULL, "%s", mg_context_last_error(ctx));
    test_close(ctx);
}

/* ---- one norm against the host ---- */

/* Pooled text of batch row b (the masked mean), in double. */
static void host_pooled(const float *text, bool drop, int b, double *pooled)
{
    int visible = 0;
    for (int k = 0; k < DIM_TEXT; k++)
        pooled[k] = 0.0;
    for (int t = 0; t < TOKENS && !drop; t++) {
        if (b == 0 && t >= 3) /* row 0's last two tokens are padding */
            continue;
        visible++;
        for (int k = 0; k < DIM_TEXT; k++)
            pooled[k] += text[(b * TOKENS + t) * DIM_TEXT + k];
    }
    for (int k = 0; k < DIM_TEXT; k++)
        pooled[k] = visible ? pooled[k] / visible : 0.0;
}

static void check_norms(mg_context *ctx, bool drop)
{
    /* attn_depth 0: the coarse decoder is its final norm alone. */
    mg_tf_config c = small_config((variant){.adaptive = true, .dim_fine = DIM, .attn_depth = 0});
    mg_weights weights = {0};
    random_weights(ctx, &c, false, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, &c, &weights);
    int32_t codes[2 * LENGTH];
    float text[2 * TOKENS * DIM_TEXT];
    inputs(codes, text);
    mg_tf_text t = {.embeds = text, .tokens = TOKENS, .drop = drop};
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    decoder_context context = {0};
    CHECK(ctx, mg_tf_text_context(&tf, &scratch, &t, 2, &context));
    CHECK(ctx, mg_tf_adaptive_norm_gains(&tf, &scratch, &context, 2, &context.norm_gains));
    cr_assert_eq(context.norm_gains->shape[0], 1);
    enum { ROWS = 3 };
    float x[2 * ROWS * DIM], got[2 * ROWS * DIM];
    test_fill_uniform(x, 2 * ROWS * DIM, 17, -2.0f, 2.0f);
    x[DIM + 5] = 40.0f; /* one row with a large entry: the norm, not the values, sets the scale */
    int64_t shape[3] = {2, ROWS, DIM};
    mg_tensor *xt = test_tensor(ctx, MG_DTYPE_F32, 3, shape, x);
    CHECK(ctx, mg_tf_decoder(&tf, "decoder", 0, true, xt, &context, NULL));
    CHECK(ctx, mg_tensor_read(xt, got, sizeof got));
    float w[DIM * DIM_TEXT];
    CHECK(ctx, mg_tensor_read(mg_tf_weight(&tf, "decoder.final_norm.to_gamma.weight"), w, sizeof w));
    double want[2 * ROWS * DIM];
    for (int b = 0; b < 2; b++) {
        double pooled[DIM_TEXT];
        host_pooled(text, drop, b, pooled);
        for (int r = 0; r < ROWS; r++) {
            const float *row = x + (b * ROWS + r) * DIM;
            double sum = 0.0;
            for (int j = 0; j < DIM; j++)
                sum += (double)row[j] * row[j];
            const double inv = sqrt((double)DIM) / fmax(sqrt(sum), 1e-12);
            for (int j = 0; j < DIM; j++) {
                double gain = 1.0;
                for (int k = 0; k < DIM_TEXT; k++)
                    gain += (double)w[j * DIM_TEXT + k] * pooled[k];
                want[(b * ROWS + r) * DIM + j] = row[j] * inv * gain;
            }
        }
    }
    test_assert_close(got, want, 2 * ROWS * DIM, 2e-5);
    mg_tensor_free(xt);
    mg_scratch_release(&scratch);
    mg_weights_free(&weights);

    /* Depth 1 with cross-attention: four gains ('a', 'c', 'f', final), each from its own to_gamma. */
    c = small_config((variant){.adaptive = true, .dim_fine = DIM, .attn_depth = 1});
    random_weights(ctx, &c, false, &weights);
    mg_transformer_init(&tf, ctx, &c, &weights);
    mg_scratch_init(&scratch, ctx);
    memset(&context, 0, sizeof context);
    CHECK(ctx, mg_tf_text_context(&tf, &scratch, &t, 2, &context));
    CHECK(ctx, mg_tf_adaptive_norm_gains(&tf, &scratch, &context, 2, &context.norm_gains));
    cr_assert_eq(context.norm_gains->shape[0], 4);
    float gains[4 * 2 * DIM];
    CHECK(ctx, mg_tensor_read(context.norm_gains, gains, sizeof gains));
    double want_gains[4 * 2 * DIM];
    for (int n = 0; n < 4; n++) {
        char name[64];
        if (n < 3)
            snprintf(name, sizeof name, "decoder.layers.%d.0.0.to_gamma.weight", n);
        else
            snprintf(name, sizeof name, "decoder.final_norm.to_gamma.weight");
        CHECK(ctx, mg_tensor_read(mg_tf_weight(&tf, "%s", name), w, sizeof w));
        for (int b = 0; b < 2; b++) {
            double pooled[DIM_TEXT];
            host_pooled(text, drop, b, pooled);
            for (int j = 0; j < DIM; j++) {
                double gain = 1.0;
                for (int k = 0; k < DIM_TEXT; k++)
                    gain += (double)w[j * DIM_TEXT + k] * pooled[k];
                want_gains[(n * 2 + b) * DIM + j] = gain;
            }
        }
    }
    test_assert_close(gains, want_gains, 4 * 2 * DIM, 1e-5);
    mg_scratch_release(&scratch);
    mg_weights_free(&weights);
}

Test(tf_adaptive, norm_matches_host_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_norms(ctx, false);
    check_norms(ctx, true);
    test_close(ctx);
}

Test(tf_adaptive, norm_matches_host_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_norms(ctx, false);
    check_norms(ctx, true);
    test_close(ctx);
}

/* ---- whole models ---- */

typedef struct run {
    float logits[2 * (LENGTH + 1) * VOCAB];
    float dropped_logits[2 * (LENGTH + 1) * VOCAB];
    int32_t codes[2 * GENERATED];
    size_t lengths[2];
} run;

typedef enum { LOGITS_ONLY, GENERATE_CACHED, GENERATE_WHOLE } run_mode;

static run *run_model(mg_context *ctx, variant v, bool zero_to_gamma, run_mode mode)
{
    mg_tf_config c = small_config(v);
    mg_weights weights = {0};
    random_weights(ctx, &c, zero_to_gamma, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, &c, &weights);
    int32_t codes[2 * LENGTH];
    float text[2 * TOKENS * DIM_TEXT];
    inputs(codes, text);
    mg_tf_text t = {.embeds = text, .tokens = TOKENS};
    run *r = calloc(1, sizeof *r);
    CHECK(ctx, mg_tf_logits(&tf, codes, 2, LENGTH, &t, r->logits));
    t.drop = true;
    CHECK(ctx, mg_tf_logits(&tf, codes, 2, LENGTH, &t, r->dropped_logits));
    t.drop = false;
    if (mode != LOGITS_ONLY) {
        mg_tf_sampling s = mg_tf_default_sampling();
        s.temperature = 0.0f;
        s.cond_scale = 2.0f;
        s.whole_sequence = mode == GENERATE_WHOLE;
        CHECK(ctx, mg_tf_generate(&tf, &t, 2, NULL, 0, GENERATED, &s, NULL, NULL, r->codes, r->lengths));
    }
    mg_weights_free(&weights);
    return r;
}

static const variant variants[] = {
    {.adaptive = true, .dim_fine = DIM, .attn_depth = 2},
    {.adaptive = false, .dim_fine = DIM_FINE, .attn_depth = 2},
    {.adaptive = true, .film = true, .fine_cross = true, .dim_fine = DIM_FINE, .attn_depth = 2},
};

static void check_backends(size_t index)
{
    const variant v = variants[index];
    mg_context *cpu = test_cpu_context();
    mg_context *gpu = test_vulkan_context();
    run *a = run_model(cpu, v, false, GENERATE_CACHED);
    run *b = run_model(gpu, v, false, GENERATE_CACHED);
    run *w = run_model(cpu, v, false, GENERATE_WHOLE);
    run *gw = run_model(gpu, v, false, GENERATE_WHOLE);
    const size_t n = sizeof a->logits / sizeof(float);
    double nmse = test_nmse(b->logits, a->logits, n), dropped = test_nmse(b->dropped_logits, a->dropped_logits, n);
    cr_log_info("variant %zu: logits NMSE Vulkan vs CPU %.3g (text), %.3g (dropped text)", index, nmse, dropped);
    test_assert_finite_like(b->logits, a->logits, n);
    cr_expect_leq(nmse, 1e-7, "variant %zu: logits NMSE %g between Vulkan and the CPU", index, nmse);
    cr_expect_leq(dropped, 1e-7, "variant %zu: dropped-text logits NMSE %g", index, dropped);
    for (int row = 0; row < 2; row++) {
        cr_expect_eq(a->lengths[row], b->lengths[row]);
        cr_expect_eq(a->lengths[row], w->lengths[row]);
        cr_expect_eq(a->lengths[row], gw->lengths[row]);
    }
    cr_expect_eq(memcmp(a->codes, b->codes, sizeof a->codes), 0, "variant %zu: tokens differ Vulkan vs CPU", index);
    cr_expect_eq(memcmp(a->codes, w->codes, sizeof a->codes), 0, "variant %zu: CPU cached != uncached", index);
    cr_expect_eq(memcmp(b->codes, gw->codes, sizeof a->codes), 0, "variant %zu: Vulkan cached != uncached", index);
    size_t distinct = 0;
    for (size_t i = 1; i < a->lengths[0]; i++)
        distinct += a->codes[i] != a->codes[0];
    cr_expect_gt(distinct, 0, "every generated token is the same: the comparison would prove little");
    free(a);
    free(b);
    free(w);
    free(gw);
    test_close(gpu);
    test_close(cpu);
}

Test(tf_adaptive, adaptive_backends_and_caches_agree)
{
    check_backends(0);
}

Test(tf_adaptive, two_widths_backends_and_caches_agree)
{
    check_backends(1);
}

Test(tf_adaptive, both_with_film_backends_and_caches_agree)
{
    check_backends(2);
}

/* A dropped text pools to 0: the gains are 1 whatever to_gamma holds. With text, to_gamma matters. */
Test(tf_adaptive, dropped_text_makes_gains_one)
{
    mg_context *cpu = test_cpu_context();
    run *trained = run_model(cpu, variants[0], false, LOGITS_ONLY);
    run *initial = run_model(cpu, variants[0], true, LOGITS_ONLY);
    const size_t n = sizeof trained->logits / sizeof(float);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += trained->dropped_logits[i] != initial->dropped_logits[i];
    cr_expect_eq(differ, 0, "%zu dropped-text logits depend on to_gamma", differ);
    double nmse = test_nmse(trained->logits, initial->logits, n);
    cr_log_info("to_gamma random vs zero, with text: logits NMSE %.3g", nmse);
    cr_expect_gt(nmse, 1e-4, "to_gamma must change the conditioned logits (NMSE %g)", nmse);
    free(trained);
    free(initial);
    test_close(cpu);
}

/* Incremental decoding on Vulkan: replayed steps against steps recorded anew, bit for bit. */
static void stream_logits(mg_context *ctx, const mg_transformer *tf, const float *text, float *out, size_t steps)
{
    mg_tf_text t = {.embeds = text, .tokens = TOKENS};
    mg_tf_stream *stream = NULL;
    CHECK(ctx, mg_tf_stream_create(tf, 2, steps, &t, &stream));
    int32_t tokens[2 * 16];
    for (size_t i = 0; i < 2 * 16; i++)
        tokens[i] = (int32_t)((i * 29 + 3) % (VOCAB - 1));
    for (size_t i = 0; i < steps; i++)
        CHECK(ctx, mg_tf_stream_step(stream, tokens, 16, i, out + i * 2 * VOCAB));
    mg_tf_stream_free(stream);
}

Test(tf_adaptive, replay_equals_recording_anew)
{
    enum { STEPS = 14 }; /* start, tokens, and two face steps */
    mg_context *ctx = test_vulkan_context();
    mg_tf_config c = small_config(variants[2]);
    mg_weights weights = {0};
    random_weights(ctx, &c, false, &weights);
    mg_transformer tf;
    mg_transformer_init(&tf, ctx, &c, &weights);
    int32_t codes[2 * LENGTH];
    float text[2 * TOKENS * DIM_TEXT];
    inputs(codes, text);
    static float replayed[STEPS * 2 * VOCAB], anew[STEPS * 2 * VOCAB];
    cr_assert(mg_recording_available(ctx));
    stream_logits(ctx, &tf, text, replayed, STEPS);
    setenv("MESHGPT_REPLAY", "0", 1);
    stream_logits(ctx, &tf, text, anew, STEPS);
    unsetenv("MESHGPT_REPLAY");
    cr_expect_eq(memcmp(replayed, anew, sizeof anew), 0, "replayed steps differ from steps recorded anew");
    test_assert_finite_like(replayed, anew, STEPS * 2 * VOCAB);
    mg_weights_free(&weights);
    test_close(ctx);
}

/* ---- a model file ---- */

Test(tf_adaptive, model_file_loads_and_runs)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config = {0};
    mg_ae_config *ae = &config.autoencoder;
    mg_ae_config_defaults(ae);
    ae->dim_coor_embed = 8;
    ae->dim_area_embed = 4;
    ae->dim_normal_embed = 4;
    ae->dim_angle_embed = 4;
    ae->encoder_depth = 2;
    ae->encoder_dims[0] = 16;
    ae->encoder_dims[1] = 24;
    ae->decoder_depth = 2;
    ae->decoder_dims[0] = 16;
    ae->decoder_dims[1] = 32;
    ae->dim_codebook = 16;
    ae->codebook_size = 64;
    config.has_transformer = true;
    config.transformer_json =
        (char *)"{\"dim\": [32, 24], \"max_seq_len\": 60, \"attn_depth\": 1, \"attn_heads\": 2, \"attn_dim_head\": 8,"
                "\"fine_attn_depth\": 1, \"coarse_pre_gateloop_depth\": 1, \"fine_pre_gateloop_depth\": 1,"
                "\"condition_on_text\": true, \"coarse_adaptive_rmsnorm\": true, \"text_cond_with_film\": true,"
                "\"fine_cross_attend_text\": true, \"text_condition_model_types\": [\"clip\"]}";
    char path[] = "/tmp/mg-tf-adaptive-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    CHECK(ctx, mg_model_write_random(path, &config, 5, 0.5f, MG_ST_F16, &ctx->diag));
    mg_model *model = NULL;
    CHECK(ctx, mg_model_load(ctx, path, &model));
    const mg_tf_config *c = &model->transformer.config;
    cr_expect_eq(c->dim, 32);
    cr_expect_eq(c->dim_fine, 24);
    cr_expect(c->coarse_adaptive_rmsnorm);
    cr_expect_not_null(mg_weights_tensor(&model->weights, "decoder.final_norm.to_gamma.weight"));
    cr_expect_not_null(mg_weights_tensor(&model->weights, "maybe_project_coarse_to_fine.weight"));
    /* It runs: 7 tokens with a 3-token text (512 wide, clip), finite logits. */
    enum { L = 7, T = 3 };
    int32_t codes[L] = {1, 5, 9, 13, 17, 21, 25};
    static float text[T * 512];
    test_fill_uniform(text, T * 512, 11, -1.0f, 1.0f);
    mg_tf_text t = {.embeds = text, .tokens = T};
    static float logits[(L + 1) * 65];
    CHECK(ctx, mg_tf_logits(&model->transformer, codes, 1, L, &t, logits));
    for (size_t i = 0; i < sizeof logits / sizeof logits[0]; i++)
        cr_assert(isfinite(logits[i]), "logit %zu is %g", i, logits[i]);
    mg_model_free(model);
    unlink(path);
    test_close(ctx);
}
