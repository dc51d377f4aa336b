/*
 * The attention ops (ops_attention.h) on Vulkan against their CPU references,
 * under the validation layer: random odd shapes, sequences shorter and longer
 * than the window, masks with pad rows (including rows whose whole window is
 * padding), several heads. Inputs are views at odd element offsets; outputs
 * are views between guard words that must stay untouched.
 * Bound: normalized MSE <= 1e-7 (f32).
 */
#include "ops/ops_attention.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_F32 1e-7

/* mask[b, t] = 1 for t < valid[b] except every `hole`-th face (0: none). */
static int32_t *make_mask(size_t batch, size_t n, const size_t *valid, size_t hole)
{
    int32_t *mask = malloc(batch * n * sizeof *mask);
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < n; t++)
            mask[b * n + t] = t < valid[b] && !(hole && t % hole == hole - 1);
    return mask;
}

/* ------------------------------------------------------------------------ */

typedef struct local_case {
    size_t batch, n, heads, dim_head, window;
    bool use_mask, rotary;
    size_t valid[2];
    size_t hole;
} local_case;

Test(ops_attention, local_attention_matches_reference)
{
    static const local_case cases[] = {
        {2, 5, 3, 8, 4, true, true, {5, 3}, 0},        /* shorter than two windows, pads at the end */
        {1, 3, 1, 2, 64, true, true, {3}, 0},          /* shorter than the window */
        {2, 150, 2, 32, 64, true, true, {150, 97}, 7}, /* 3 windows, last autopadded, holes */
        {1, 200, 8, 32, 64, true, true, {100}, 0},     /* rows >= 164 see only padding: uniform fallback */
        {2, 70, 3, 16, 64, false, true, {70, 70}, 0},  /* no mask: autopadded keys visible as zeros */
        {1, 37, 2, 6, 8, false, false, {37}, 0},       /* no rotary, no mask */
        {1, 129, 5, 10, 16, true, false, {120}, 5},    /* no rotary, mask */
    };
    mg_context *vk = test_vulkan_context_with_slack();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const local_case *c = &cases[ci];
        mg_local_attention_params p = {c->heads, c->dim_head, c->window, 1, 1,
                                       (float)(1.0 / sqrt((double)c->dim_head)), c->rotary};
        size_t inner = c->heads * c->dim_head, slots = mg_local_attention_slots(&p);
        size_t qkv_count = c->batch * c->n * 3 * inner, out_count = c->batch * c->n * inner;
        float *qkv = malloc(qkv_count * sizeof *qkv);
        test_fill_uniform(qkv, qkv_count, 100 + (uint32_t)ci, -2.0f, 2.0f);
        int32_t *mask = c->use_mask ? make_mask(c->batch, c->n, c->valid, c->hole) : NULL;
        float *table = malloc(2 * slots * (c->dim_head / 2) * sizeof *table);
        float inv_freq[64];
        mg_ref_rotary_inv_freq(c->dim_head, inv_freq);
        mg_ref_rotary_table(slots, c->dim_head / 2, inv_freq, table);
        float *want = malloc(out_count * sizeof *want);
        mg_ref_local_attention(&p, c->batch, c->n, qkv, mask, c->rotary ? table : NULL, want);

        int64_t qkv_shape[3] = {(int64_t)c->batch, (int64_t)c->n, (int64_t)(3 * inner)};
        int64_t mask_shape[2] = {(int64_t)c->batch, (int64_t)c->n};
        int64_t out_shape[3] = {(int64_t)c->batch, (int64_t)c->n, (int64_t)inner};
        mg_tensor *tqkv = test_offset_input(vk, MG_DTYPE_F32, 3, qkv_shape, qkv, 5);
        mg_tensor *tmask = mask ? test_offset_ids(vk, 2, mask_shape, mask, 3) : NULL;
        mg_tensor *trot = NULL;
        if (c->rotary)
            cr_assert_eq(mg_rotary_table_create(vk, NULL, c->dim_head, slots, &trot), MG_OK, "%s",
                         mg_context_last_error(vk));
        test_guarded out = test_guarded_output(vk, MG_DTYPE_F32, 3, out_shape);
        cr_assert_eq(mg_op_local_attention(vk, tqkv, tmask, trot, &p, out.view), MG_OK, "case %zu: %s", ci,
                     mg_context_last_error(vk));
        float *got = test_guarded_take(&out, "local_attention");
        char what[64];
        snprintf(what, sizeof what, "local_attention case %zu", ci);
        test_compare(what, got, want, out_count, NMSE_F32);

        /* the fallback rows of case 3 are not a plain copy of some value */
        if (ci == 3)
            cr_assert(fabsf(want[199 * inner] + 64.0f / 192.0f) < 0.5f,
                      "a fully masked row averages -1 pads, zeros and values over 192 slots (got %g)",
                      (double)want[199 * inner]);
        free(got);
        free(want);
        free(table);
        free(mask);
        free(qkv);
        mg_tensor_free(tqkv);
        mg_tensor_free(tmask);
        mg_tensor_free(trot);
    }
    test_close(vk);
}

Test(ops_attention, local_attention_cpu_backend_equals_reference)
{
    mg_context *cpu = test_cpu_context();
    mg_local_attention_params p = {2, 4, 3, 1, 1, 0.5f, true};
    size_t batch = 1, n = 7, inner = 8, slots = mg_local_attention_slots(&p);
    float qkv[7 * 24], want[7 * 8], table[2 * 9 * 2], inv_freq[2];
    test_fill_uniform(qkv, sizeof qkv / sizeof qkv[0], 7, -1.0f, 1.0f);
    int32_t mask[7] = {1, 1, 0, 1, 1, 1, 0};
    mg_ref_rotary_inv_freq(4, inv_freq);
    mg_ref_rotary_table(slots, 2, inv_freq, table);
    mg_ref_local_attention(&p, batch, n, qkv, mask, table, want);
    int64_t qkv_shape[2] = {7, 24}, mask_shape[2] = {1, 7}, out_shape[2] = {7, 8};
    mg_tensor *tqkv = test_tensor(cpu, MG_DTYPE_F32, 2, qkv_shape, qkv);
    mg_tensor *tmask = test_tensor_i32(cpu, 2, mask_shape, mask);
    mg_tensor *tout = test_empty(cpu, MG_DTYPE_F32, 2, out_shape);
    mg_tensor *trot = NULL;
    cr_assert_eq(mg_rotary_table_create(cpu, NULL, 4, slots, &trot), MG_OK);
    cr_assert_eq(mg_op_local_attention(cpu, tqkv, tmask, trot, &p, tout), MG_OK, "%s", mg_context_last_error(cpu));
    float *got = test_read(tout);
    for (size_t i = 0; i < n * inner; i++)
        cr_assert_eq(got[i], want[i], "element %zu: %g != %g", i, (double)got[i], (double)want[i]);
    free(got);
    mg_tensor_free(tqkv);
    mg_tensor_free(tmask);
    mg_tensor_free(tout);
    mg_tensor_free(trot);
    mg_context_destroy(cpu);
}

Test(ops_attention, local_attention_rejects_bad_arguments)
{
    mg_context *cpu = test_cpu_context();
    mg_local_attention_params p = {2, 4, 3, 1, 1, 0.5f, true};
    int64_t qkv_shape[3] = {1, 5, 24}, bad_out_shape[3] = {1, 5, 9}, out_shape[3] = {1, 5, 8};
    mg_tensor *tqkv = test_empty(cpu, MG_DTYPE_F32, 3, qkv_shape);
    mg_tensor *bad = test_empty(cpu, MG_DTYPE_F32, 3, bad_out_shape);
    mg_tensor *tout = test_empty(cpu, MG_DTYPE_F32, 3, out_shape);
    cr_assert_eq(mg_op_local_attention(cpu, tqkv, NULL, NULL, &p, tout), MG_ERR_INVALID_ARGUMENT,
                 "a missing rotary table is an error");
    cr_assert(strstr(mg_context_last_error(cpu), "rotary") != NULL, "%s", mg_context_last_error(cpu));
    mg_tensor *trot = NULL;
    cr_assert_eq(mg_rotary_table_create(cpu, NULL, 4, 9, &trot), MG_OK);
    cr_assert_eq(mg_op_local_attention(cpu, tqkv, NULL, trot, &p, bad), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(cpu), "out") != NULL, "%s", mg_context_last_error(cpu));
    p.dim_head = 3;
    cr_assert_eq(mg_op_local_attention(cpu, tqkv, NULL, trot, &p, tout), MG_ERR_INVALID_ARGUMENT);
    mg_tensor_free(tqkv);
    mg_tensor_free(bad);
    mg_tensor_free(tout);
    mg_tensor_free(trot);
    mg_context_destroy(cpu);
}

/* ------------------------------------------------------------------------ */

typedef struct taylor_case {
    size_t batch, n, heads, d;
    bool use_mask;
    size_t valid[2];
    size_t hole;
} taylor_case;

Test(ops_attention, taylor_summary_and_readout_match_reference)
{
    static const taylor_case cases[] = {
        {2, 37, 3, 8, true, {37, 20}, 6},   /* upstream's head size, pads and holes */
        {1, 5, 16, 8, false, {5}, 0},       /* 16 heads, no mask */
        {2, 300, 2, 5, true, {250, 0}, 0},  /* odd head size; second sequence fully padded: den = 0 -> eps */
        {1, 1, 1, 1, true, {1}, 0},         /* the smallest */
    };
    mg_context *vk = test_vulkan_context_with_slack();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const taylor_case *c = &cases[ci];
        size_t inner = c->heads * c->d, features = mg_taylor_feature_dim(c->d);
        size_t kv_count = c->batch * c->n * 2 * inner, q_count = c->batch * c->n * inner;
        size_t s_count = c->batch * c->heads * features * (c->d + 1);
        float *kv = malloc(kv_count * sizeof *kv), *q = malloc(q_count * sizeof *q);
        test_fill_uniform(kv, kv_count, 200 + (uint32_t)ci, -1.5f, 1.5f);
        test_fill_uniform(q, q_count, 300 + (uint32_t)ci, -1.5f, 1.5f);
        int32_t *mask = c->use_mask ? make_mask(c->batch, c->n, c->valid, c->hole) : NULL;
        float scale = (float)(1.0 / sqrt((double)c->d));
        float *want_s = malloc(s_count * sizeof *want_s), *want_o = malloc(q_count * sizeof *want_o);
        mg_ref_taylor_kv_summary(c->batch, c->n, c->heads, c->d, kv, mask, want_s);
        mg_ref_taylor_readout(c->batch, c->n, c->heads, c->d, scale, 1e-5f, q, want_s, want_o);

        int64_t kv_shape[3] = {(int64_t)c->batch, (int64_t)c->n, (int64_t)(2 * inner)};
        int64_t q_shape[3] = {(int64_t)c->batch, (int64_t)c->n, (int64_t)inner};
        int64_t mask_shape[2] = {(int64_t)c->batch, (int64_t)c->n};
        int64_t s_shape[4] = {(int64_t)c->batch, (int64_t)c->heads, (int64_t)features, (int64_t)(c->d + 1)};
        mg_tensor *tkv = test_offset_input(vk, MG_DTYPE_F32, 3, kv_shape, kv, 3);
        mg_tensor *tq = test_offset_input(vk, MG_DTYPE_F32, 3, q_shape, q, 1);
        mg_tensor *tmask = mask ? test_offset_ids(vk, 2, mask_shape, mask, 5) : NULL;
        test_guarded summary = test_guarded_output(vk, MG_DTYPE_F32, 4, s_shape);
        cr_assert_eq(mg_op_taylor_kv_summary(vk, tkv, tmask, c->heads, summary.view), MG_OK, "%s",
                     mg_context_last_error(vk));
        /* the read-out runs on the device's own summary */
        test_guarded out = test_guarded_output(vk, MG_DTYPE_F32, 3, q_shape);
        cr_assert_eq(mg_op_taylor_readout(vk, tq, summary.view, c->heads, scale, 1e-5f, out.view), MG_OK, "%s",
                     mg_context_last_error(vk));
        float *got_o = test_guarded_take(&out, "taylor_readout");
        float *got_s = test_guarded_take(&summary, "taylor_kv_summary");
        char what[64];
        snprintf(what, sizeof what, "taylor_kv_summary case %zu", ci);
        test_compare(what, got_s, want_s, s_count, NMSE_F32);
        snprintf(what, sizeof what, "taylor_readout case %zu", ci);
        test_compare(what, got_o, want_o, q_count, NMSE_F32);
        if (ci == 2) /* all keys of sequence 1 masked: zero summary, zero output */
            for (size_t i = c->n * inner; i < q_count; i++)
                cr_assert_eq(want_o[i], 0.0f);
        free(got_o);
        free(got_s);
        free(want_o);
        free(want_s);
        free(mask);
        free(kv);
        free(q);
        mg_tensor_free(tkv);
        mg_tensor_free(tq);
        mg_tensor_free(tmask);
    }
    test_close(vk);
}

Test(ops_attention, taylor_rejects_heads_that_do_not_divide)
{
    mg_context *cpu = test_cpu_context();
    int64_t kv_shape[3] = {1, 4, 30}, s_shape[4] = {1, 4, 1, 1};
    mg_tensor *tkv = test_empty(cpu, MG_DTYPE_F32, 3, kv_shape);
    mg_tensor *ts = test_empty(cpu, MG_DTYPE_F32, 4, s_shape);
    cr_assert_eq(mg_op_taylor_kv_summary(cpu, tkv, NULL, 4, ts), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(cpu), "heads") != NULL, "%s", mg_context_last_error(cpu));
    /* d = 15/1 = 15 fits, but the summary shape is wrong */
    cr_assert_eq(mg_op_taylor_kv_summary(cpu, tkv, NULL, 1, ts), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(cpu), "summary must be") != NULL, "%s", mg_context_last_error(cpu));
    mg_tensor_free(tkv);
    mg_tensor_free(ts);
    mg_context_destroy(cpu);
}
