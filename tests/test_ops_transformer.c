/*
 * The MeshTransformer ops on Vulkan against the CPU reference, under the
 * validation layer, in the style of test_ops_autoencoder.c: inputs are views
 * at odd element offsets, outputs views between guard words, bindings widened
 * (MESHGPT_BINDING_SLACK) so that an overflowing shader hits the guards.
 *
 * Bounds: normalized MSE 1e-8 for f32 results (f16 memories are compared with
 * the reference on the same f16 values); pure copies exactly.
 */
#include "ops/ops_transformer.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_F32 1e-8

/* ------------------------------------------------------------------------ */

typedef struct attention_case {
    int64_t batch, n, key_rows, keys, heads, dim_head, mems;
    bool causal;
    int64_t query_offset;
    int mask;       /* 0 none, 1 scattered zeros, 2 also every key of batch 1 hidden */
    bool f16;       /* memories in f16 */
    bool three_d;
} attention_case;

typedef struct attention_inputs {
    float *q, *k, *v, *mem_k, *mem_v;
    int32_t *mask;
} attention_inputs;

static float *run_attention(mg_context *ctx, const attention_case *c, const attention_inputs *in, const char *what)
{
    int64_t inner = c->heads * c->dim_head;
    int64_t q_shape[3] = {c->batch, c->n, inner}, kv_shape[3] = {c->batch, c->key_rows, inner};
    int64_t mem_shape[3] = {c->heads, c->mems, c->dim_head};
    int nd = c->three_d ? 3 : 2;
    mg_tensor *q = test_offset_input(ctx, MG_DTYPE_F32, nd, c->three_d ? q_shape : q_shape + 1, in->q, 5);
    mg_tensor *k = test_offset_input(ctx, MG_DTYPE_F32, nd, c->three_d ? kv_shape : kv_shape + 1, in->k, 3);
    mg_tensor *v = test_offset_input(ctx, MG_DTYPE_F32, nd, c->three_d ? kv_shape : kv_shape + 1, in->v, 1);
    mg_dtype mt = c->f16 ? MG_DTYPE_F16 : MG_DTYPE_F32;
    mg_tensor *mk = c->mems ? test_offset_input(ctx, mt, 3, mem_shape, in->mem_k, 3) : NULL;
    mg_tensor *mv = c->mems ? test_offset_input(ctx, mt, 3, mem_shape, in->mem_v, 1) : NULL;
    mg_tensor *mask = c->mask ? test_offset_ids(ctx, nd - 1, c->three_d ? kv_shape : kv_shape + 1, in->mask, 3)
                              : NULL;
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, nd, c->three_d ? q_shape : q_shape + 1);
    mg_attention_params p = {.heads = (size_t)c->heads, .scale = 1.0f / sqrtf((float)c->dim_head),
                             .keys = (size_t)c->keys, .causal = c->causal, .query_offset = c->query_offset};
    cr_assert_eq(mg_op_attention(ctx, q, k, v, mk, mv, mask, &p, out.view), MG_OK, "%s: %s", what,
                 mg_context_last_error(ctx));
    float *result = test_guarded_take(&out, what);
    mg_tensor_free(q);
    mg_tensor_free(k);
    mg_tensor_free(v);
    mg_tensor_free(mk);
    mg_tensor_free(mv);
    mg_tensor_free(mask);
    return result;
}

/* Every case on Vulkan against the CPU reference, with whichever attention
 * shader the op picks (see MESHGPT_ATTENTION_KERNEL). */
static void check_attention_cases(void)
{
    static const attention_case cases[] = {
        /* incremental step: one query, cache longer than the keys in use */
        {1, 1, 40, 33, 3, 5, 2, true, 32, 0, false, true},
        {3, 1, 20, 17, 4, 64, 4, true, 16, 1, true, true},
        /* a block of new queries at the end of a cache, masks */
        {3, 7, 9, 9, 2, 16, 4, true, 2, 1, false, true},
        /* no memories: early queries see nothing (zeros) */
        {1, 5, 5, 5, 1, 1, 0, true, -2, 1, false, false},
        /* teacher forcing, largest head */
        {1, 130, 130, 130, 2, 128, 4, true, 0, 1, false, true},
        /* cross-attention: not causal, f16 memories, batch 1 has only its memories */
        {2, 3, 11, 11, 16, 8, 4, false, 0, 2, true, true},
        /* not causal, no memories, batch 1 sees nothing */
        {2, 4, 6, 6, 2, 3, 0, false, 0, 2, false, true},
        /* keys not a multiple of any workgroup, odd head size */
        {3, 9, 70, 67, 5, 33, 1, true, 58, 0, false, true},
        /* long cache step and long teacher forcing */
        {1, 1, 1600, 1500, 16, 64, 4, true, 1499, 0, false, true},
        {1, 300, 300, 300, 4, 32, 4, true, 0, 1, true, true},
        /* lavapipe ends every loop of an invocation once 65535 iterations
         * of all its loops together have run: a long step at the largest
         * head size, and one with more keys than that budget allows per
         * channel loop */
        {1, 1, 1600, 1500, 4, 128, 4, true, 1499, 1, false, true},
        {2, 1, 5000, 5000, 2, 64, 4, true, 4999, 0, false, true},
    };
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const attention_case *c = &cases[ci];
        size_t inner = (size_t)(c->heads * c->dim_head);
        size_t q_count = (size_t)(c->batch * c->n) * inner, kv_count = (size_t)(c->batch * c->key_rows) * inner;
        size_t mem_count = (size_t)(c->heads * c->mems * c->dim_head) + 1;
        attention_inputs in = {malloc(q_count * 4), malloc(kv_count * 4), malloc(kv_count * 4),
                               malloc(mem_count * 4), malloc(mem_count * 4),
                               malloc((size_t)(c->batch * c->key_rows) * 4)};
        test_fill_uniform(in.q, q_count, (uint32_t)ci * 7 + 1, -2, 2);
        test_fill_uniform(in.k, kv_count, (uint32_t)ci * 7 + 2, -2, 2);
        test_fill_uniform(in.v, kv_count, (uint32_t)ci * 7 + 3, -1, 1);
        test_fill_uniform(in.mem_k, mem_count, (uint32_t)ci * 7 + 4, -2, 2);
        test_fill_uniform(in.mem_v, mem_count, (uint32_t)ci * 7 + 5, -1, 1);
        for (int64_t b = 0; b < c->batch; b++)
            for (int64_t j = 0; j < c->key_rows; j++)
                in.mask[b * c->key_rows + j] =
                    ((j + b) % 4 == 1 || (c->mask == 2 && b == 1)) ? 0 : (int32_t)(1 + j % 3);
        char what[160];
        snprintf(what, sizeof what, "attention B=%lld N=%lld rows=%lld keys=%lld H=%lld dh=%lld mems=%lld%s%lld mask%d%s",
                 (long long)c->batch, (long long)c->n, (long long)c->key_rows, (long long)c->keys,
                 (long long)c->heads, (long long)c->dim_head, (long long)c->mems, c->causal ? " causal@" : " full",
                 (long long)c->query_offset, c->mask, c->f16 ? " f16" : "");
        float *got = run_attention(ctx.vk, c, &in, what);
        float *want = run_attention(ctx.ref, c, &in, what);
        test_compare(what, got, want, q_count, NMSE_F32);
        /* Rows that see nothing are exactly zero on both. */
        for (size_t i = 0; i < q_count; i++)
            if (want[i] == 0.0f)
                cr_assert_eq(got[i], 0.0f, "%s: element %zu should be exactly 0", what, i);
        if (c->mask || c->keys < c->key_rows) {
            /* hidden and unused keys must not matter: scramble them */
            for (int64_t b = 0; b < c->batch; b++)
                for (int64_t j = 0; j < c->key_rows; j++)
                    if ((c->mask && in.mask[b * c->key_rows + j] == 0) || j >= c->keys)
                        for (size_t e = 0; e < inner; e++) {
                            in.k[(size_t)(b * c->key_rows + j) * inner + e] = 1e4f;
                            in.v[(size_t)(b * c->key_rows + j) * inner + e] = -1e4f;
                        }
            float *again = run_attention(ctx.vk, c, &in, what);
            cr_assert_arr_eq(again, got, q_count * 4, "%s: hidden keys leak into the result", what);
            free(again);
        }
        free(got);
        free(want);
        free(in.q);
        free(in.k);
        free(in.v);
        free(in.mem_k);
        free(in.mem_v);
        free(in.mask);
    }
    test_close_pair(ctx);
}

Test(ops_transformer, attention_matches_reference)
{
    check_attention_cases(); /* the device's default shader */
}

/* Criterion runs each test in its own process: setenv stays in this test. */
Test(ops_transformer, attention_tiled_kernel_matches_reference)
{
    cr_assert_eq(setenv("MESHGPT_ATTENTION_KERNEL", "tiled", 1), 0);
    check_attention_cases();
}

Test(ops_transformer, attention_per_invocation_kernel_matches_reference)
{
    cr_assert_eq(setenv("MESHGPT_ATTENTION_KERNEL", "per_invocation", 1), 0);
    check_attention_cases();
}

Test(ops_transformer, attention_refuses_an_unknown_kernel_name)
{
    cr_assert_eq(setenv("MESHGPT_ATTENTION_KERNEL", "fastest", 1), 0);
    mg_context *ctx = test_vulkan_context();
    int64_t shape[2] = {2, 4};
    float values[8] = {0};
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 2, shape, values), *out = test_empty(ctx, MG_DTYPE_F32, 2, shape);
    mg_attention_params p = {.heads = 1, .scale = 0.5f, .keys = 2};
    cr_assert_eq(mg_op_attention(ctx, x, x, x, NULL, NULL, NULL, &p, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "MESHGPT_ATTENTION_KERNEL") != NULL, "%s",
              mg_context_last_error(ctx));
    mg_tensor_free(x);
    mg_tensor_free(out);
    test_close(ctx);
}

Test(ops_transformer, attention_cached_steps_equal_teacher_forcing)
{
    /* Writing K/V rows into a cache one step at a time with copy_rows and
     * attending with query_offset = step gives the full causal pass. */
    const int64_t batch = 2, n = 12, rows = 16, heads = 3, dh = 8, mems = 2, inner = heads * dh;
    mg_context *ctx = test_vulkan_context_with_slack();
    size_t count = (size_t)(batch * n * inner), mem_count = (size_t)(heads * mems * dh);
    float *q = malloc(count * 4), *k = malloc(count * 4), *v = malloc(count * 4);
    float *mk = malloc(mem_count * 4), *mv = malloc(mem_count * 4);
    test_fill_uniform(q, count, 11, -2, 2);
    test_fill_uniform(k, count, 12, -2, 2);
    test_fill_uniform(v, count, 13, -1, 1);
    test_fill_uniform(mk, mem_count, 14, -2, 2);
    test_fill_uniform(mv, mem_count, 15, -1, 1);
    int64_t seq_shape[3] = {batch, n, inner}, cache_shape[3] = {batch, rows, inner}, mem_shape[3] = {heads, mems, dh};
    int64_t step_shape[3] = {batch, 1, inner};
    mg_tensor *tq = test_tensor(ctx, MG_DTYPE_F32, 3, seq_shape, q), *tk = test_tensor(ctx, MG_DTYPE_F32, 3, seq_shape, k);
    mg_tensor *tv = test_tensor(ctx, MG_DTYPE_F32, 3, seq_shape, v);
    mg_tensor *tmk = test_tensor(ctx, MG_DTYPE_F32, 3, mem_shape, mk), *tmv = test_tensor(ctx, MG_DTYPE_F32, 3, mem_shape, mv);
    mg_tensor *full = test_empty(ctx, MG_DTYPE_F32, 3, seq_shape);
    mg_attention_params p = {.heads = (size_t)heads, .scale = 0.35f, .keys = (size_t)n, .causal = true};
    cr_assert_eq(mg_op_attention(ctx, tq, tk, tv, tmk, tmv, NULL, &p, full), MG_OK, "%s", mg_context_last_error(ctx));
    float *want = test_read(full);

    mg_tensor *ck = test_empty(ctx, MG_DTYPE_F32, 3, cache_shape), *cv = test_empty(ctx, MG_DTYPE_F32, 3, cache_shape);
    cr_assert_eq(mg_tensor_fill_u32(ck, 0x7fc00000u), MG_OK); /* NaN in rows not written yet */
    cr_assert_eq(mg_tensor_fill_u32(cv, 0x7fc00000u), MG_OK);
    mg_tensor *sq = test_empty(ctx, MG_DTYPE_F32, 3, step_shape), *sk = test_empty(ctx, MG_DTYPE_F32, 3, step_shape);
    mg_tensor *sv = test_empty(ctx, MG_DTYPE_F32, 3, step_shape), *so = test_empty(ctx, MG_DTYPE_F32, 3, step_shape);
    float *step = malloc((size_t)(batch * inner) * 4), *got = malloc(count * 4);
    for (int64_t t = 0; t < n; t++) {
        const float *sources[3] = {q, k, v};
        mg_tensor *targets[3] = {sq, sk, sv};
        for (int s = 0; s < 3; s++) {
            for (int64_t b = 0; b < batch; b++)
                memcpy(step + b * inner, sources[s] + (b * n + t) * inner, (size_t)inner * 4);
            cr_assert_eq(mg_tensor_write_f32(targets[s], step, (size_t)(batch * inner)), MG_OK);
        }
        cr_assert_eq(mg_op_copy_rows(ctx, sk, ck, (size_t)t), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_eq(mg_op_copy_rows(ctx, sv, cv, (size_t)t), MG_OK, "%s", mg_context_last_error(ctx));
        mg_attention_params ps = {.heads = (size_t)heads, .scale = 0.35f, .keys = (size_t)t + 1, .causal = true,
                                  .query_offset = t};
        cr_assert_eq(mg_op_attention(ctx, sq, ck, cv, tmk, tmv, NULL, &ps, so), MG_OK, "%s",
                     mg_context_last_error(ctx));
        cr_assert_eq(mg_tensor_read_f32(so, step, (size_t)(batch * inner)), MG_OK);
        for (int64_t b = 0; b < batch; b++)
            memcpy(got + (b * n + t) * inner, step + b * inner, (size_t)inner * 4);
    }
    test_compare("cached steps vs full pass", got, want, count, 1e-10);
    mg_tensor *all[] = {tq, tk, tv, tmk, tmv, full, ck, cv, sq, sk, sv, so};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
    free(q);
    free(k);
    free(v);
    free(mk);
    free(mv);
    free(want);
    free(step);
    free(got);
    test_close(ctx);
}

Test(ops_transformer, attention_refuses_bad_arguments)
{
    mg_context *ctx = test_cpu_context();
    int64_t qs[3] = {1, 2, 8}, ks[3] = {1, 4, 8}, ms[3] = {2, 1, 4}, bad_ms[3] = {2, 1, 3}, mask_s[2] = {1, 3};
    mg_tensor *q = test_empty(ctx, MG_DTYPE_F32, 3, qs), *k = test_empty(ctx, MG_DTYPE_F32, 3, ks);
    mg_tensor *v = test_empty(ctx, MG_DTYPE_F32, 3, ks), *out = test_empty(ctx, MG_DTYPE_F32, 3, qs);
    mg_tensor *mk = test_empty(ctx, MG_DTYPE_F32, 3, ms), *mv = test_empty(ctx, MG_DTYPE_F16, 3, ms);
    mg_tensor *bad = test_empty(ctx, MG_DTYPE_F32, 3, bad_ms), *mask = test_empty(ctx, MG_DTYPE_I32, 2, mask_s);
    mg_attention_params p = {.heads = 2, .scale = 0.5f, .keys = 4};
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, NULL, &p, out), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, NULL, NULL, out), MG_ERR_INVALID_ARGUMENT);
    p.keys = 5;
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, NULL, &p, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "keys") != NULL, "%s", mg_context_last_error(ctx));
    p.keys = 4;
    p.heads = 3;
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, NULL, &p, out), MG_ERR_INVALID_ARGUMENT);
    p.heads = 2;
    cr_assert_eq(mg_op_attention(ctx, q, k, v, mk, NULL, NULL, &p, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_attention(ctx, q, k, v, mk, mv, NULL, &p, out), MG_ERR_INVALID_ARGUMENT); /* dtypes differ */
    cr_assert_eq(mg_op_attention(ctx, q, k, v, bad, bad, NULL, &p, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, mask, &p, out), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_attention(ctx, q, k, v, NULL, NULL, NULL, &p, k), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_attention(ctx, q, q, q, NULL, NULL, NULL, &p, q), MG_ERR_INVALID_ARGUMENT); /* in place */
    mg_tensor *all[] = {q, k, v, out, mk, mv, bad, mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
    mg_context_destroy(ctx);
}

/* ------------------------------------------------------------------------ */

Test(ops_transformer, copy_rows_into_a_cache)
{
    test_pair ctx = test_open_pair();
    static const int64_t cases[][5] = {{3, 2, 5, 10, 7}, {1, 1, 64, 4, 0}, {2, 9, 3, 9, 0}, {1, 3, 7, 5, 2}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t batch = cases[ci][0], n = cases[ci][1], dim = cases[ci][2], rows = cases[ci][3];
        size_t offset = (size_t)cases[ci][4];
        int nd = ci == 3 ? 2 : 3;
        int64_t src_shape[3] = {batch, n, dim}, dst_shape[3] = {batch, rows, dim};
        size_t src_count = (size_t)(batch * n * dim), dst_count = (size_t)(batch * rows * dim);
        float *src = malloc(src_count * 4), *initial = malloc(dst_count * 4);
        test_fill_uniform(src, src_count, (uint32_t)ci + 20, -1, 1);
        test_fill_uniform(initial, dst_count, (uint32_t)ci + 40, 5, 6);
        float *results[2];
        mg_context *both[2] = {ctx.vk, ctx.ref};
        for (int side = 0; side < 2; side++) {
            mg_context *c = both[side];
            mg_tensor *s = test_offset_input(c, MG_DTYPE_F32, nd, nd == 3 ? src_shape : src_shape + 1, src, 3);
            test_guarded d = test_guarded_output(c, MG_DTYPE_F32, nd, nd == 3 ? dst_shape : dst_shape + 1);
            cr_assert_eq(mg_tensor_write_f32(d.view, initial, dst_count), MG_OK);
            cr_assert_eq(mg_op_copy_rows(c, s, d.view, offset), MG_OK, "%s", mg_context_last_error(c));
            results[side] = test_guarded_take(&d, "copy_rows");
            mg_tensor_free(s);
        }
        cr_assert_arr_eq(results[0], results[1], dst_count * 4, "copy_rows case %zu differs", ci);
        /* and by hand: the rows landed where they should, the rest untouched */
        for (int64_t b = 0; b < batch; b++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t e = 0; e < dim; e++) {
                    size_t i = (size_t)((b * rows + r) * dim + e);
                    bool written = r >= (int64_t)offset && r < (int64_t)offset + n;
                    float want = written ? src[(size_t)((b * n + r - (int64_t)offset) * dim + e)] : initial[i];
                    cr_assert_eq(results[0][i], want, "copy_rows case %zu: element %zu", ci, i);
                }
        free(results[0]);
        free(results[1]);
        free(src);
        free(initial);
    }
    mg_context *c = ctx.ref;
    int64_t s_shape[3] = {1, 3, 4}, d_shape[3] = {1, 4, 4}, wrong[3] = {1, 4, 5};
    mg_tensor *s = test_empty(c, MG_DTYPE_F32, 3, s_shape), *d = test_empty(c, MG_DTYPE_F32, 3, d_shape);
    mg_tensor *w = test_empty(c, MG_DTYPE_F32, 3, wrong);
    cr_assert_eq(mg_op_copy_rows(c, s, d, 1), MG_OK);
    cr_assert_eq(mg_op_copy_rows(c, s, d, 2), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(c), "longer cache") != NULL, "%s", mg_context_last_error(c));
    cr_assert_eq(mg_op_copy_rows(c, s, w, 0), MG_ERR_INVALID_ARGUMENT);
    mg_tensor_free(s);
    mg_tensor_free(d);
    mg_tensor_free(w);
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

/* Runs gateloop on ctx; state_in (NULL: no state) is the start, *state_out gets the final state. */
static float *run_gateloop(mg_context *ctx, int64_t batch, int64_t n, int64_t dim, bool three_d, const float *qkva,
                           const float *state_in, float **state_out, const char *what)
{
    int64_t in_shape[3] = {batch, n, 3 * dim}, out_shape[3] = {batch, n, dim}, state_shape[2] = {batch, dim};
    int nd = three_d ? 3 : 2;
    mg_tensor *x = test_offset_input(ctx, MG_DTYPE_F32, nd, three_d ? in_shape : in_shape + 1, qkva, 5);
    mg_tensor *state = state_in ? test_offset_input(ctx, MG_DTYPE_F32, 2, state_shape, state_in, 1) : NULL;
    test_guarded out = test_guarded_output(ctx, MG_DTYPE_F32, nd, three_d ? out_shape : out_shape + 1);
    cr_assert_eq(mg_op_gateloop(ctx, x, state, out.view), MG_OK, "%s: %s", what, mg_context_last_error(ctx));
    float *result = test_guarded_take(&out, what);
    if (state) {
        *state_out = test_read(state);
        mg_tensor_free(state);
    }
    mg_tensor_free(x);
    return result;
}

Test(ops_transformer, gateloop_matches_reference_with_and_without_state)
{
    static const int64_t cases[][3] = {{1, 1, 512}, {3, 37, 5}, {1, 700, 16}, {2, 6, 130}};
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t batch = cases[ci][0], n = cases[ci][1], dim = cases[ci][2];
        bool three_d = batch > 1 || ci == 0;
        size_t in_count = (size_t)(batch * n * 3 * dim), out_count = (size_t)(batch * n * dim);
        float *qkva = malloc(in_count * 4), *state = malloc((size_t)(batch * dim) * 4);
        test_fill_uniform(qkva, in_count, (uint32_t)ci + 60, -2, 2);
        test_fill_uniform(state, (size_t)(batch * dim), (uint32_t)ci + 70, -3, 3);
        for (int with_state = 0; with_state < 2; with_state++) {
            char what[96];
            snprintf(what, sizeof what, "gateloop B=%lld N=%lld D=%lld%s", (long long)batch, (long long)n,
                     (long long)dim, with_state ? " state" : "");
            float *sg = NULL, *sw = NULL;
            float *got = run_gateloop(ctx.vk, batch, n, dim, three_d, qkva, with_state ? state : NULL, &sg, what);
            float *want = run_gateloop(ctx.ref, batch, n, dim, three_d, qkva, with_state ? state : NULL, &sw, what);
            test_compare(what, got, want, out_count, NMSE_F32);
            if (with_state)
                test_compare(what, sg, sw, (size_t)(batch * dim), NMSE_F32);
            free(got);
            free(want);
            free(sg);
            free(sw);
        }
        free(qkva);
        free(state);
    }
    test_close_pair(ctx);
}

Test(ops_transformer, gateloop_steps_carry_the_state)
{
    /* One call over 9 steps from a zero state equals 9 calls of one step. */
    const int64_t batch = 2, n = 9, dim = 7;
    mg_context *ctx = test_vulkan_context_with_slack();
    size_t in_count = (size_t)(batch * n * 3 * dim), out_count = (size_t)(batch * n * dim);
    float *qkva = malloc(in_count * 4), *zeros = calloc((size_t)(batch * dim), 4);
    test_fill_uniform(qkva, in_count, 80, -2, 2);
    float *final_state = NULL;
    float *want = run_gateloop(ctx, batch, n, dim, true, qkva, zeros, &final_state, "gateloop full");
    float *nostate = run_gateloop(ctx, batch, n, dim, true, qkva, NULL, NULL, "gateloop no state");
    cr_assert_arr_eq(nostate, want, out_count * 4, "a zero state and no state differ");
    int64_t step_shape[3] = {batch, 1, 3 * dim}, out_shape[3] = {batch, 1, dim}, state_shape[2] = {batch, dim};
    mg_tensor *x = test_empty(ctx, MG_DTYPE_F32, 3, step_shape), *o = test_empty(ctx, MG_DTYPE_F32, 3, out_shape);
    mg_tensor *state = test_tensor(ctx, MG_DTYPE_F32, 2, state_shape, zeros);
    float *step = malloc((size_t)(batch * 3 * dim) * 4), *got = malloc(out_count * 4);
    for (int64_t t = 0; t < n; t++) {
        for (int64_t b = 0; b < batch; b++)
            memcpy(step + b * 3 * dim, qkva + (b * n + t) * 3 * dim, (size_t)(3 * dim) * 4);
        cr_assert_eq(mg_tensor_write_f32(x, step, (size_t)(batch * 3 * dim)), MG_OK);
        cr_assert_eq(mg_op_gateloop(ctx, x, state, o), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_eq(mg_tensor_read_f32(o, step, (size_t)(batch * dim)), MG_OK);
        for (int64_t b = 0; b < batch; b++)
            memcpy(got + (b * n + t) * dim, step + b * dim, (size_t)dim * 4);
    }
    test_compare("gateloop steps", got, want, out_count, 1e-12);
    float *stepped_state = test_read(state);
    test_compare("gateloop final state", stepped_state, final_state, (size_t)(batch * dim), 1e-12);
    mg_tensor_free(x);
    mg_tensor_free(o);
    mg_tensor_free(state);
    free(qkva);
    free(zeros);
    free(final_state);
    free(want);
    free(nostate);
    free(step);
    free(got);
    free(stepped_state);
    test_close(ctx);
}

/* ------------------------------------------------------------------------ */

Test(ops_transformer, value_residual_mix_matches_reference_and_runs_in_place)
{
    static const int64_t cases[][4] = {{3, 5, 3, 7}, {1, 1, 16, 64}, {2, 130, 2, 5}};
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t batch = cases[ci][0], n = cases[ci][1], heads = cases[ci][2], dh = cases[ci][3];
        int64_t shape[3] = {batch, n, heads * dh}, mix_shape[3] = {batch, n, heads};
        size_t count = (size_t)(batch * n * heads * dh), mix_count = (size_t)(batch * n * heads);
        float *v = malloc(count * 4), *vf = malloc(count * 4), *mix = malloc(mix_count * 4);
        test_fill_uniform(v, count, (uint32_t)ci + 90, -1, 1);
        test_fill_uniform(vf, count, (uint32_t)ci + 91, -1, 1);
        test_fill_uniform(mix, mix_count, (uint32_t)ci + 92, -4, 4);
        for (int learned = 0; learned < 2; learned++) {
            float *results[2], *in_place = NULL;
            mg_context *both[2] = {ctx.vk, ctx.ref};
            for (int side = 0; side < 2; side++) {
                mg_context *c = both[side];
                mg_tensor *tv = test_offset_input(c, MG_DTYPE_F32, 3, shape, v, 3);
                mg_tensor *tf = test_offset_input(c, MG_DTYPE_F32, 3, shape, vf, 1);
                mg_tensor *tm = learned ? test_offset_input(c, MG_DTYPE_F32, 3, mix_shape, mix, 5) : NULL;
                test_guarded out = test_guarded_output(c, MG_DTYPE_F32, 3, shape);
                cr_assert_eq(mg_op_value_residual_mix(c, tv, tf, tm, (size_t)heads, out.view), MG_OK, "%s",
                             mg_context_last_error(c));
                results[side] = test_guarded_take(&out, "value_residual_mix");
                if (side == 0) {
                    cr_assert_eq(mg_op_value_residual_mix(c, tv, tf, tm, (size_t)heads, tv), MG_OK, "%s",
                                 mg_context_last_error(c));
                    in_place = test_read(tv);
                }
                mg_tensor_free(tv);
                mg_tensor_free(tf);
                mg_tensor_free(tm);
            }
            test_compare(learned ? "value mix learned" : "value mix 0.5", results[0], results[1], count, NMSE_F32);
            cr_assert_arr_eq(in_place, results[0], count * 4, "value mix in place differs");
            free(results[0]);
            free(results[1]);
            free(in_place);
        }
        free(v);
        free(vf);
        free(mix);
    }
    test_close_pair(ctx);
}

/* ------------------------------------------------------------------------ */

Test(ops_transformer, add_table_rows_matches_reference_f32_and_f16)
{
    /* batch, n, dim, table rows, offset, divisor, period */
    static const int64_t cases[][7] = {
        {3, 13, 7, 5, 11, 2, 5}, {1, 1, 64, 5, 1000003, 1, 5}, {2, 30, 9, 40, 0, 1, 40}, {1, 20, 3, 3, 4, 2, 3}};
    test_pair ctx = test_open_pair();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t *c = cases[ci];
        int64_t shape[3] = {c[0], c[1], c[2]}, table_shape[2] = {c[3], c[2]};
        int nd = ci == 1 ? 2 : 3;
        size_t count = (size_t)(c[0] * c[1] * c[2]), table_count = (size_t)(c[3] * c[2]);
        float *x = malloc(count * 4), *table = malloc(table_count * 4);
        test_fill_uniform(x, count, (uint32_t)ci + 100, -1, 1);
        test_fill_uniform(table, table_count, (uint32_t)ci + 101, -1, 1);
        for (int f16 = 0; f16 < 2; f16++) {
            float *results[2];
            mg_context *both[2] = {ctx.vk, ctx.ref};
            for (int side = 0; side < 2; side++) {
                mg_context *cx = both[side];
                mg_tensor *tx = test_offset_input(cx, MG_DTYPE_F32, nd, nd == 3 ? shape : shape + 1, x, 3);
                mg_tensor *tt = test_offset_input(cx, f16 ? MG_DTYPE_F16 : MG_DTYPE_F32, 2, table_shape, table, 1);
                test_guarded out = test_guarded_output(cx, MG_DTYPE_F32, nd, nd == 3 ? shape : shape + 1);
                cr_assert_eq(mg_op_add_table_rows(cx, tx, tt, c[4], (size_t)c[5], (size_t)c[6], out.view), MG_OK,
                             "%s", mg_context_last_error(cx));
                results[side] = test_guarded_take(&out, "add_table_rows");
                mg_tensor_free(tx);
                mg_tensor_free(tt);
            }
            /* one f32 addition per element: identical */
            cr_assert_arr_eq(results[0], results[1], count * 4, "add_table_rows case %zu f16=%d differs", ci, f16);
            free(results[0]);
            free(results[1]);
        }
        free(x);
        free(table);
    }
    mg_context *c = ctx.ref;
    int64_t xs[3] = {1, 2, 4}, ts[2] = {3, 4};
    mg_tensor *x = test_empty(c, MG_DTYPE_F32, 3, xs), *t = test_empty(c, MG_DTYPE_F32, 2, ts);
    cr_assert_eq(mg_op_add_table_rows(c, x, t, 0, 1, 3, x), MG_OK); /* in place */
    cr_assert_eq(mg_op_add_table_rows(c, x, t, 0, 1, 4, x), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_add_table_rows(c, x, t, 0, 0, 3, x), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_op_add_table_rows(c, x, t, -1, 1, 3, x), MG_ERR_INVALID_ARGUMENT);
    mg_tensor_free(x);
    mg_tensor_free(t);
    test_close_pair(ctx);
}
