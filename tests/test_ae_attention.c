/*
 * The autoencoder's attention blocks: the CPU references on small cases worked
 * out by hand (rotary, Taylor feature map, window attention with its masks and
 * fallback, the Taylor read-out), and the whole block (linear attention,
 * LocalMHA, feed-forward) on Vulkan against the CPU backend with random
 * weights at the widths of the small reference config (64 and 192).
 */
#include "model/ae_attention.h"
#include "ops/ops_attention.h"
#include "test_npy.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIGHT 1e-6f

static void assert_close(float got, double want, double tolerance, const char *what)
{
    cr_assert(fabs((double)got - want) <= tolerance, "%s: %.9g, expected %.9g", what, (double)got, want);
}

/* ---- rotary --------------------------------------------------------------- */

Test(ae_attention_reference, inv_freq_is_upstreams_formula)
{
    float inv_freq[4];
    mg_ref_rotary_inv_freq(8, inv_freq);
    /* 1 / 10000^(2c/8): 1, 0.1, 0.01, 0.001 */
    assert_close(inv_freq[0], 1.0, 0.0, "c = 0");
    assert_close(inv_freq[1], 0.1, 1e-8, "c = 1");
    assert_close(inv_freq[2], 0.01, 1e-9, "c = 2");
    assert_close(inv_freq[3], 0.001, 1e-10, "c = 3");
}

Test(ae_attention_reference, rotary_rotates_half_pairs_by_position_times_frequency)
{
    /* dim_head 4: pairs (x0, x2) at frequency 1 and (x1, x3) at 0.01. */
    const float inv_freq[2] = {1.0f, 0.01f};
    float table[2 * 3 * 2];
    mg_ref_rotary_table(3, 2, inv_freq, table);
    /* position 2: angles 2 and 0.02 */
    const float *cos_row = table + 2 * 2, *sin_row = table + (3 + 2) * 2;
    assert_close(cos_row[0], cos(2.0), TIGHT, "cos 2");
    assert_close(sin_row[1], sin(0.02), TIGHT, "sin 0.02");
    const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float y[4];
    mg_ref_rotary_apply(4, cos_row, sin_row, x, y);
    assert_close(y[0], 1 * cos(2.0) - 3 * sin(2.0), TIGHT, "y0");
    assert_close(y[2], 3 * cos(2.0) + 1 * sin(2.0), TIGHT, "y2");
    assert_close(y[1], 2 * cos(0.02) - 4 * sin(0.02), TIGHT, "y1");
    assert_close(y[3], 4 * cos(0.02) + 2 * sin(0.02), TIGHT, "y3");
    /* position 0 is the identity */
    mg_ref_rotary_apply(4, table, table + 3 * 2, x, y);
    for (int i = 0; i < 4; i++)
        assert_close(y[i], x[i], 0.0, "position 0");
}

/* ---- window attention ------------------------------------------------------ */

/* One head of width 2, q = (1, 0) everywhere; keys and values given per position. */
static void two_positions(size_t window, bool rotary, const int32_t *mask, float *out)
{
    /* qkv rows: q(2) | k(2) | v(2) */
    const float qkv[2 * 6] = {
        1, 0, /* k0 */ 1, 0, /* v0 */ 1, 0,
        1, 0, /* k1 */ 0, 1, /* v1 */ 0, 1,
    };
    mg_local_attention_params p = {1, 2, window, 1, 1, 1.0f, rotary};
    float table[2 * 3 * 1], inv_freq[1] = {1.0f}; /* dim_head 2: one pair, frequency 1 */
    if (rotary)
        mg_ref_rotary_table(mg_local_attention_slots(&p), 1, inv_freq, table);
    mg_ref_local_attention(&p, 1, 2, qkv, mask, rotary ? table : NULL, out);
}

Test(ae_attention_reference, window_attention_softmax_of_two_positions)
{
    /* One window of 4 (autopadded); scores of query 0: q.k0 = 1, q.k1 = 0. */
    const int32_t mask[2] = {1, 1};
    float out[4];
    two_positions(4, false, mask, out);
    double e = exp(1.0);
    assert_close(out[0], e / (e + 1), TIGHT, "out0[0]");
    assert_close(out[1], 1 / (e + 1), TIGHT, "out0[1]");
    /* query 1 has the same q: same weights */
    assert_close(out[2], e / (e + 1), TIGHT, "out1[0]");
}

Test(ae_attention_reference, window_attention_masks_keys_and_without_mask_sees_autopad_zeros)
{
    /* key 1 masked: both queries read v0 exactly (pad queries still attend) */
    const int32_t mask[2] = {1, 0};
    float out[4];
    two_positions(4, false, mask, out);
    assert_close(out[0], 1.0, 0.0, "q0");
    assert_close(out[1], 0.0, 0.0, "q0");
    assert_close(out[2], 1.0, 0.0, "pad query");
    /* no mask: the two autopadded keys (k = v = 0, score 0) take part */
    two_positions(4, false, NULL, out);
    double e = exp(1.0);
    assert_close(out[0], e / (e + 3), TIGHT, "q0 with autopad");
    assert_close(out[1], 1 / (e + 3), TIGHT, "q0 with autopad");
}

Test(ae_attention_reference, window_attention_with_everything_masked_averages_all_slots)
{
    /* 12 slots: 8 of missing windows (value -1), v0, v1, 2 autopadded (0). */
    const int32_t mask[2] = {0, 0};
    float out[4];
    two_positions(4, false, mask, out);
    assert_close(out[0], (1.0 - 8.0) / 12.0, TIGHT, "out[0]");
    assert_close(out[1], (1.0 - 8.0) / 12.0, TIGHT, "out[1]");
}

Test(ae_attention_reference, window_attention_rotary_uses_the_last_rows_for_queries)
{
    /* Window 1: 3 slots (previous, own, next window), rotary rows 0..2.
     * Query 0 is rotated with row 2 (the last window's rows), its own key
     * (slot 1) with row 1 and key 1 (slot 2) with row 2: so q.k0 sees one
     * position of rotation although both are at position 0 (upstream's
     * quirk), and q.k1 none. Slot 0 is a missing window (masked). */
    const int32_t mask[2] = {1, 1};
    float out[4];
    two_positions(1, true, mask, out);
    double s0 = cos(1.0), s1 = 0.0; /* k1 = (0, 1) rotated by 2, q by 2: q.k1 = 0 */
    double w0 = exp(s0), w1 = exp(s1);
    assert_close(out[0], w0 / (w0 + w1), TIGHT, "out0[0]");
    assert_close(out[1], w1 / (w0 + w1), TIGHT, "out0[1]");
    /* Query 1 (window 1): slot 0 = key 0 (row 0), slot 1 = key 1 (row 1), q row 2:
     * q.k0 = cos(2), q.k1 = (cos 2, sin 2).(-sin 1, cos 1) = sin(1). */
    double u0 = exp(cos(2.0)), u1 = exp(sin(1.0));
    assert_close(out[2], u0 / (u0 + u1), TIGHT, "out1[0]");
    assert_close(out[3], u1 / (u0 + u1), TIGHT, "out1[1]");
}

/* ---- Taylor ------------------------------------------------------------------ */

Test(ae_attention_reference, taylor_feature_map_of_a_2d_vector)
{
    const float x[2] = {2.0f, 3.0f};
    float phi[7];
    cr_assert_eq(mg_taylor_feature_dim(2), 7);
    mg_ref_taylor_features(2, x, phi);
    const double r = 1.0 / sqrt(2.0);
    const double want[7] = {1, 2, 3, 4 * r, 6 * r, 6 * r, 9 * r};
    for (int i = 0; i < 7; i++)
        assert_close(phi[i], want[i], TIGHT, "phi");
}

Test(ae_attention_reference, taylor_readout_of_two_keys)
{
    /* d = 1: phi(x) = (1, x, x^2/sqrt2). Keys 1 and 2 with values 3 and 5,
     * a third key masked. q = 1, scale 1:
     * S_v = (8, 13, 23/sqrt2), S_1 = (2, 3, 5/sqrt2),
     * out = (8 + 13 + 23/2) / (2 + 3 + 5/2) = 32.5 / 7.5. */
    const float kv[3 * 2] = {1, 3, 2, 5, 7, 11};
    const int32_t mask[3] = {1, 1, 0};
    float summary[3 * 2];
    mg_ref_taylor_kv_summary(1, 3, 1, 1, kv, mask, summary);
    const double r = 1.0 / sqrt(2.0);
    assert_close(summary[0], 8, TIGHT, "S_v[0]");
    assert_close(summary[1], 2, TIGHT, "S_1[0]");
    assert_close(summary[2], 13, TIGHT, "S_v[1]");
    assert_close(summary[3], 3, TIGHT, "S_1[1]");
    assert_close(summary[4], 23 * r, 1e-5, "S_v[2]");
    assert_close(summary[5], 5 * r, TIGHT, "S_1[2]");
    const float q[1] = {1.0f};
    float out[1];
    mg_ref_taylor_readout(1, 1, 1, 1, 1.0f, 1e-5f, q, summary, out);
    assert_close(out[0], 32.5 / 7.5, 1e-5, "out");
    /* q scaled by 0.5 before the feature map: (8 + 6.5 + 23/8) / (2 + 1.5 + 5/8) */
    mg_ref_taylor_readout(1, 1, 1, 1, 0.5f, 1e-5f, q, summary, out);
    assert_close(out[0], (8 + 6.5 + 23.0 / 8) / (2 + 1.5 + 5.0 / 8), 1e-5, "out scaled");
}

/* ---- the whole block ------------------------------------------------------------ */

typedef struct block_fixture {
    mg_ae_config config;
    size_t dim;
    mg_weight items[24];
    size_t count;
    float *host[24];    /* each weight's values, kept for re-uploading on another context */
    size_t sizes[24];
} block_fixture;

static void add_weight(block_fixture *f, mg_context *ctx, const char *prefix, const char *suffix, int64_t d0,
                       int64_t d1, float lo, float hi, uint32_t seed)
{
    mg_weight *w = &f->items[f->count++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s%s", prefix, suffix);
    size_t count = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    size_t i = seed; /* each weight's host values live in its own slot */
    if (!f->host[i]) {
        f->host[i] = malloc(count * sizeof(float));
        test_fill_uniform(f->host[i], count, seed, lo, hi);
        f->sizes[i] = count;
    }
    int64_t shape[2] = {d0, d1};
    w->tensor = test_tensor(ctx, MG_DTYPE_F32, d1 ? 2 : 1, shape, f->host[i]);
    w->count = count;
}

/* Random weights of one block under `prefix` (same values on every context). */
static void make_block_weights(block_fixture *f, mg_context *ctx, const char *prefix, bool with_inv_freq)
{
    const mg_ae_config *c = &f->config;
    int64_t dim = (int64_t)f->dim, lin = c->linear_attn_heads * c->linear_attn_dim_head;
    int64_t loc = c->local_attn_heads * c->local_attn_dim_head;
    float a = (float)(1.0 / sqrt((double)dim));
    f->count = 0;
    if (c->use_linear_attn) {
        add_weight(f, ctx, prefix, "0.norm.gamma", dim, 0, 0.8f, 1.2f, 1);
        add_weight(f, ctx, prefix, "0.to_q.0.weight", lin, dim, -a, a, 2);
        add_weight(f, ctx, prefix, "0.to_kv.0.weight", 2 * lin, dim, -a, a, 3);
        add_weight(f, ctx, prefix, "0.to_out.0.weight", dim, lin, -0.1f, 0.1f, 4);
    }
    add_weight(f, ctx, prefix, "1.norm.weight", dim, 0, 0.8f, 1.2f, 5);
    add_weight(f, ctx, prefix, "1.norm.bias", dim, 0, -0.1f, 0.1f, 6);
    add_weight(f, ctx, prefix, "1.to_qkv.weight", 3 * loc, dim, -a, a, 7);
    add_weight(f, ctx, prefix, "1.to_out.weight", dim, loc, -0.1f, 0.1f, 8);
    if (with_inv_freq) {
        size_t i = 14;
        mg_weight *w = &f->items[f->count++];
        memset(w, 0, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s1.attn_fn.rel_pos.inv_freq", prefix);
        if (!f->host[i]) {
            f->sizes[i] = (size_t)c->local_attn_dim_head / 2;
            f->host[i] = malloc(f->sizes[i] * sizeof(float));
            mg_ref_rotary_inv_freq((size_t)c->local_attn_dim_head, f->host[i]);
        }
        int64_t shape[1] = {(int64_t)f->sizes[i]};
        w->tensor = test_tensor(ctx, MG_DTYPE_F32, 1, shape, f->host[i]);
        w->count = f->sizes[i];
    }
    add_weight(f, ctx, prefix, "2.0.g", dim, 0, 0.8f, 1.2f, 9);
    add_weight(f, ctx, prefix, "2.1.ff.0.proj.weight", 8 * dim, dim, -a, a, 10);
    add_weight(f, ctx, prefix, "2.1.ff.0.proj.bias", 8 * dim, 0, -0.1f, 0.1f, 11);
    add_weight(f, ctx, prefix, "2.1.ff.2.weight", dim, 4 * dim, -0.5f * a, 0.5f * a, 12);
    add_weight(f, ctx, prefix, "2.1.ff.2.bias", dim, 0, -0.1f, 0.1f, 13);
}

static void free_block_tensors(block_fixture *f)
{
    for (size_t i = 0; i < f->count; i++)
        mg_tensor_free(f->items[i].tensor);
    f->count = 0;
}

static void free_block_host(block_fixture *f)
{
    for (size_t i = 0; i < 24; i++)
        free(f->host[i]);
}

static void small_config(mg_ae_config *c, bool use_linear_attn)
{
    memset(c, 0, sizeof *c);
    c->local_attn_dim_head = 32;
    c->local_attn_heads = 8;
    c->local_attn_window_size = 64;
    c->linear_attn_dim_head = 8;
    c->linear_attn_heads = 16;
    c->use_linear_attn = use_linear_attn;
    c->attn_encoder_depth = 1;
    c->attn_decoder_depth = 1;
}

static float *run_block(mg_context *ctx, block_fixture *f, const char *prefix, bool with_inv_freq, size_t batch,
                        size_t n, const float *x, const int32_t *mask, bool in_place)
{
    make_block_weights(f, ctx, prefix, with_inv_freq);
    mg_weights weights = {f->items, f->count};
    int64_t x_shape[3] = {(int64_t)batch, (int64_t)n, (int64_t)f->dim}, m_shape[2] = {(int64_t)batch, (int64_t)n};
    mg_tensor *tx = test_tensor(ctx, MG_DTYPE_F32, 3, x_shape, x);
    mg_tensor *tm = mask ? test_tensor_i32(ctx, 2, m_shape, mask) : NULL;
    mg_tensor *tout = in_place ? tx : test_empty(ctx, MG_DTYPE_F32, 3, x_shape);
    cr_assert_eq(mg_ae_attn_block_forward(ctx, &weights, prefix, &f->config, tx, tm, tout), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float *result = test_read(tout);
    if (!in_place)
        mg_tensor_free(tout);
    mg_tensor_free(tx);
    mg_tensor_free(tm);
    free_block_tensors(f);
    return result;
}

static void block_case(size_t dim, bool use_linear_attn, size_t batch, size_t n, const size_t *valid)
{
    block_fixture f;
    memset(&f, 0, sizeof f);
    small_config(&f.config, use_linear_attn);
    f.dim = dim;
    const char *prefix = dim == 64 ? "autoencoder.encoder_attn_blocks.0." : "autoencoder.decoder_attn_blocks.0.";
    size_t count = batch * n * dim;
    float *x = malloc(count * sizeof *x);
    test_fill_uniform(x, count, 77 + (uint32_t)dim, -1.0f, 1.0f);
    int32_t *mask = malloc(batch * n * sizeof *mask);
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < n; t++)
            mask[b * n + t] = t < valid[b];
    /* upstream feeds zeros for pad faces into the encoder's blocks */
    for (size_t b = 0; b < batch; b++)
        for (size_t t = valid[b]; t < n; t++)
            memset(x + (b * n + t) * dim, 0, dim * sizeof *x);

    mg_context *cpu = test_cpu_context();
    float *want = run_block(cpu, &f, prefix, true, batch, n, x, mask, false);
    /* the formula's frequencies give the same table as the checkpoint's buffer */
    float *want_formula = run_block(cpu, &f, prefix, false, batch, n, x, mask, true);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(want[i], want_formula[i], "inv_freq buffer vs formula differ at %zu", i);
    mg_context_destroy(cpu);

    /* the block changes x (residuals), and pad rows too (they are not zeroed) */
    double changed = 0.0;
    for (size_t i = 0; i < count; i++)
        changed += fabs((double)want[i] - x[i]);
    cr_assert(changed > 1e-3 * (double)count, "the block left x unchanged");
    if (valid[batch - 1] < n) {
        const float *pad_row = want + ((batch - 1) * n + n - 1) * dim;
        double pad_norm = 0.0;
        for (size_t c = 0; c < dim; c++)
            pad_norm += fabs(pad_row[c]);
        cr_assert(pad_norm > 0.0, "pad rows come out of the block non-zero, as upstream's");
    }

    mg_context *vk = test_vulkan_context();
    float *got = run_block(vk, &f, prefix, true, batch, n, x, mask, false);
    test_close(vk);
    test_assert_finite_like(got, want, count);
    double nmse = test_nmse(got, want, count);
    cr_assert(nmse <= 1e-7, "block dim %zu (linear attn %d): Vulkan vs CPU normalized MSE %.3g", dim,
              use_linear_attn, nmse);
    cr_log_info("block dim %zu, linear attn %d, [%zu, %zu]: NMSE Vulkan vs CPU %.3g", dim, use_linear_attn, batch, n,
                nmse);
    free(got);
    free(want);
    free(want_formula);
    free(mask);
    free(x);
    free_block_host(&f);
}

Test(ae_attention_block, encoder_width_64_vulkan_matches_cpu)
{
    const size_t valid[2] = {150, 90};
    block_case(64, true, 2, 150, valid);
}

Test(ae_attention_block, decoder_width_192_vulkan_matches_cpu)
{
    const size_t valid[1] = {70};
    block_case(192, true, 1, 201, valid);
}

Test(ae_attention_block, without_linear_attention)
{
    const size_t valid[1] = {40};
    block_case(64, false, 1, 50, valid);
}

Test(ae_attention_block, reports_a_missing_weight_by_name)
{
    block_fixture f;
    memset(&f, 0, sizeof f);
    small_config(&f.config, true);
    f.dim = 64;
    mg_context *cpu = test_cpu_context();
    make_block_weights(&f, cpu, "autoencoder.encoder_attn_blocks.0.", true);
    mg_weights weights = {f.items, f.count - 1}; /* drop the last: 2.1.ff.2.bias */
    int64_t shape[3] = {1, 3, 64};
    mg_tensor *x = test_empty(cpu, MG_DTYPE_F32, 3, shape);
    cr_assert_eq(mg_tensor_fill_u32(x, 0), MG_OK);
    mg_tensor *out = test_empty(cpu, MG_DTYPE_F32, 3, shape);
    cr_assert_eq(mg_ae_attn_block_forward(cpu, &weights, "autoencoder.encoder_attn_blocks.0.", &f.config, x, NULL,
                                          out),
                 MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(cpu), "autoencoder.encoder_attn_blocks.0.2.1.ff.2.bias") != NULL, "%s",
              mg_context_last_error(cpu));
    /* a config whose head count does not match the checkpoint */
    weights.count = f.count;
    f.config.local_attn_heads = 4;
    cr_assert_eq(mg_ae_attn_block_forward(cpu, &weights, "autoencoder.encoder_attn_blocks.0.", &f.config, x, NULL,
                                          out),
                 MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(cpu), "1.to_qkv.weight") != NULL, "%s", mg_context_last_error(cpu));
    mg_tensor_free(x);
    mg_tensor_free(out);
    free_block_tensors(&f);
    free_block_host(&f);
    mg_context_destroy(cpu);
}

/* ---- against PyTorch (tests/fixtures/ae_attention, scripts/make_attention_fixture.py) ---- */

static const char *const fixture_weights[] = {
    "0.norm.gamma",    "0.to_q.0.weight", "0.to_kv.0.weight",           "0.to_out.0.weight",
    "1.norm.weight",   "1.norm.bias",     "1.to_qkv.weight",            "1.attn_fn.rel_pos.inv_freq",
    "1.to_out.weight", "2.0.g",           "2.1.ff.0.proj.weight",       "2.1.ff.0.proj.bias",
    "2.1.ff.2.weight", "2.1.ff.2.bias",
};
#define FIXTURE_WEIGHTS (sizeof fixture_weights / sizeof fixture_weights[0])

/* test_npy_load reads under meshgpt-pytorch-a/cases: step out of it. */
static test_npy load_fixture(const char *name)
{
    char relative[256];
    snprintf(relative, sizeof relative, "../../ae_attention/%s", name);
    return test_npy_load(relative);
}

static float *run_fixture_block(mg_context *ctx, const test_npy *x, const int32_t *mask, const test_npy *weights)
{
    mg_weight items[FIXTURE_WEIGHTS];
    memset(items, 0, sizeof items);
    for (size_t i = 0; i < FIXTURE_WEIGHTS; i++) {
        snprintf(items[i].name, sizeof items[i].name, "blk.%s", fixture_weights[i]);
        items[i].tensor = test_tensor(ctx, MG_DTYPE_F32, weights[i].ndim, weights[i].shape, weights[i].f32);
        items[i].count = weights[i].count;
    }
    mg_weights all = {items, FIXTURE_WEIGHTS};
    mg_ae_config config;
    small_config(&config, true);
    mg_tensor *tx = test_tensor(ctx, MG_DTYPE_F32, 3, x->shape, x->f32);
    mg_tensor *tm = test_tensor_i32(ctx, 2, x->shape, mask);
    mg_tensor *tout = test_empty(ctx, MG_DTYPE_F32, 3, x->shape);
    cr_assert_eq(mg_ae_attn_block_forward(ctx, &all, "blk.", &config, tx, tm, tout), MG_OK, "%s",
                 mg_context_last_error(ctx));
    float *result = test_read(tout);
    mg_tensor_free(tx);
    mg_tensor_free(tm);
    mg_tensor_free(tout);
    for (size_t i = 0; i < FIXTURE_WEIGHTS; i++)
        mg_tensor_free(items[i].tensor);
    return result;
}

Test(ae_attention_block, matches_pytorch_fixture_on_cpu_and_vulkan)
{
    test_npy x = load_fixture("x"), mask_npy = load_fixture("mask"), want = load_fixture("out");
    cr_assert_eq(x.ndim, 3);
    cr_assert_eq(want.count, x.count);
    size_t batch = (size_t)x.shape[0], n = (size_t)x.shape[1], dim = (size_t)x.shape[2];
    int32_t *mask = malloc(mask_npy.count * sizeof *mask);
    size_t pad_rows = 0;
    for (size_t i = 0; i < mask_npy.count; i++) {
        mask[i] = (int32_t)mask_npy.i64[i];
        pad_rows += mask[i] == 0;
    }
    cr_assert(pad_rows > 64, "the fixture has rows that see only pad faces");
    test_npy weights[FIXTURE_WEIGHTS];
    for (size_t i = 0; i < FIXTURE_WEIGHTS; i++) {
        char name[96];
        snprintf(name, sizeof name, "weight.%s", fixture_weights[i]);
        weights[i] = load_fixture(name);
    }

    mg_context *contexts[2] = {test_cpu_context(), test_vulkan_context()};
    for (int c = 0; c < 2; c++) {
        float *got = run_fixture_block(contexts[c], &x, mask, weights);
        test_assert_finite_like(got, want.f32, want.count);
        /* real rows and pad rows separately: pad rows check the all-masked fallback */
        double err_real = 0, ref_real = 0, err_pad = 0, ref_pad = 0;
        for (size_t r = 0; r < batch * n; r++)
            for (size_t k = 0; k < dim; k++) {
                double e = (double)got[r * dim + k] - want.f32[r * dim + k], w = want.f32[r * dim + k];
                if (mask[r]) {
                    err_real += e * e;
                    ref_real += w * w;
                } else {
                    err_pad += e * e;
                    ref_pad += w * w;
                }
            }
        double nmse_real = err_real / ref_real, nmse_pad = err_pad / ref_pad;
        cr_log_info("%s vs PyTorch: NMSE real rows %.3g, pad rows %.3g", c ? "Vulkan" : "CPU", nmse_real, nmse_pad);
        cr_assert(nmse_real <= 1e-10 && nmse_pad <= 1e-10, "%s vs PyTorch: NMSE real rows %.3g, pad rows %.3g",
                  c ? "Vulkan" : "CPU", nmse_real, nmse_pad);
        free(got);
    }
    mg_context_destroy(contexts[0]);
    test_close(contexts[1]);
    for (size_t i = 0; i < FIXTURE_WEIGHTS; i++)
        test_npy_free(&weights[i]);
    free(mask);
    test_npy_free(&x);
    test_npy_free(&mask_npy);
    test_npy_free(&want);
}
