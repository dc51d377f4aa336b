/* The MeshTransformer ops' CPU reference against values computed by hand: it
 * is the oracle of test_ops_transformer.c, so it is checked independently here. */
#include "ops/ref/transformer_ref.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

#define F32(ptr) ((mg_ref_param){(ptr), false})
#define NONE ((mg_ref_param){NULL, false})

/* One head, dim_head 2: memory (0, 0) -> score 0, k0 = (1, 0) -> 1, k1 = (2, 1) -> 2 for q = (1, 0);
 * values: memory (1, 1), v0 = (2, 0), v1 = (0, 4). */
static const float q1[2] = {1, 0}, mem_k1[2] = {0, 0}, mem_v1[2] = {1, 1};
static const float k1[4] = {1, 0, 2, 1}, v1[4] = {2, 0, 0, 4};

Test(reference_attention, one_memory_two_keys_softmax_by_hand)
{
    mg_attention_params p = {.heads = 1, .scale = 1.0f, .keys = 2};
    float out[2];
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), NULL, out);
    double e = exp(1.0), total = 1 + e + e * e;
    double want[2] = {(1 + 2 * e) / total, (1 + 4 * e * e) / total};
    test_assert_close(out, want, 2, 1e-6);

    /* scale 0.5 halves every score: weights 1, e^0.5, e */
    p.scale = 0.5f;
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), NULL, out);
    double h = exp(0.5), total_half = 1 + h + e;
    double want_half[2] = {(1 + 2 * h) / total_half, (1 + 4 * e) / total_half};
    test_assert_close(out, want_half, 2, 1e-6);
}

Test(reference_attention, causal_offset_mask_and_key_count_hide_keys)
{
    double e = exp(1.0);
    float out[2];
    /* causal, query 0 at absolute position 0: the memory and k0 only */
    mg_attention_params p = {.heads = 1, .scale = 1.0f, .keys = 2, .causal = true, .query_offset = 0};
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), NULL, out);
    double want_first[2] = {(1 + 2 * e) / (1 + e), 1 / (1 + e)};
    test_assert_close(out, want_first, 2, 1e-6);
    /* keys = 1 of 2 allocated rows, not causal: the same */
    mg_attention_params p1 = {.heads = 1, .scale = 1.0f, .keys = 1};
    mg_ref_attention(&p1, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), NULL, out);
    test_assert_close(out, want_first, 2, 1e-6);
    /* causal, position 1 (query_offset 1): everything */
    p.query_offset = 1;
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), NULL, out);
    double total = 1 + e + e * e;
    double want_all[2] = {(1 + 2 * e) / total, (1 + 4 * e * e) / total};
    test_assert_close(out, want_all, 2, 1e-6);
    /* a mask hiding k0: the memory and k1 */
    int32_t mask[2] = {0, 7};
    mg_attention_params pm = {.heads = 1, .scale = 1.0f, .keys = 2};
    mg_ref_attention(&pm, 1, 1, 2, 2, q1, k1, v1, 1, F32(mem_k1), F32(mem_v1), mask, out);
    double want_masked[2] = {1 / (1 + e * e), (1 + 4 * e * e) / (1 + e * e)};
    test_assert_close(out, want_masked, 2, 1e-6);
    /* no memories and nothing visible: zeros; a negative offset hides every key */
    int32_t none[2] = {0, 0};
    mg_ref_attention(&pm, 1, 1, 2, 2, q1, k1, v1, 0, NONE, NONE, none, out);
    double zeros[2] = {0, 0};
    test_assert_close(out, zeros, 2, 0);
    p.query_offset = -1;
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 0, NONE, NONE, NULL, out);
    test_assert_close(out, zeros, 2, 0);
    /* causal without memories at position 0: only k0, so exactly v0 */
    p.query_offset = 0;
    mg_ref_attention(&p, 1, 1, 2, 2, q1, k1, v1, 0, NONE, NONE, NULL, out);
    double want_v0[2] = {2, 0};
    test_assert_close(out, want_v0, 2, 1e-7);
}

Test(reference_attention, heads_are_column_blocks_and_batches_use_key_rows)
{
    /* 2 heads of dim 1; q = (1, -1); k rows (0, 0), (ln 2, ln 2), v rows (1, 10), (3, 30).
     * head 0 weights 1 : 2 -> 7/3; head 1 weights 1 : 1/2 -> 50/3. Batch 1 (rows 3.. of a
     * 3-row allocation, third row never read) swaps the two keys: same result. */
    float l2 = (float)log(2.0);
    float q[4] = {1, -1, 1, -1};
    float k[12] = {0, 0, l2, l2, 99, 99, l2, l2, 0, 0, 99, 99};
    float v[12] = {1, 10, 3, 30, 99, 99, 3, 30, 1, 10, 99, 99};
    mg_attention_params p = {.heads = 2, .scale = 1.0f, .keys = 2};
    float out[4];
    mg_ref_attention(&p, 2, 1, 1, 3, q, k, v, 0, NONE, NONE, NULL, out);
    double want[4] = {7.0 / 3, 50.0 / 3, 7.0 / 3, 50.0 / 3};
    test_assert_close(out, want, 4, 1e-5);
}

Test(reference_copy_rows, into_the_middle_of_a_cache)
{
    float src[4] = {1, 2, 3, 4}, dst[12];
    for (int i = 0; i < 12; i++)
        dst[i] = -1;
    mg_ref_copy_rows(2, 1, 2, 3, 2, src, dst); /* batch 2, one row of 2, into row 2 of 3 */
    double want[12] = {-1, -1, -1, -1, 1, 2, -1, -1, -1, -1, 3, 4};
    test_assert_close(dst, want, 12, 0);
}

/* Channel 0: q = (1, 2, -1), kv = (1, 1, 2), gate logits (0, ln 3, -ln 3) -> g = (1/2, 3/4, 1/4).
 * Channel 1: q = 1, kv = (1, 2, 3), gate logit 0 -> g = 1/2. Rows are [q0 q1 | kv0 kv1 | a0 a1]. */
static void gateloop_input(float *qkva)
{
    float l3 = (float)log(3.0);
    float rows[18] = {1, 1, 1, 1, 0, 0, 2, 1, 1, 2, l3, 0, -1, 1, 2, 3, -l3, 0};
    memcpy(qkva, rows, sizeof rows);
}

Test(reference_gateloop, three_steps_by_hand_without_state)
{
    float qkva[18], out[6];
    gateloop_input(qkva);
    mg_ref_gateloop(1, 3, 2, qkva, NULL, out);
    /* ch0: h = 1, 0.75 + 1 = 1.75, 0.4375 + 2 = 2.4375; out = q h
     * ch1: h = 1, 0.5 + 2 = 2.5, 1.25 + 3 = 4.25 */
    double want[6] = {1, 1, 3.5, 2.5, -2.4375, 4.25};
    test_assert_close(out, want, 6, 1e-6);
}

Test(reference_gateloop, state_is_the_start_and_carries_across_calls)
{
    float qkva[18], out[6], state[2] = {2, -2};
    gateloop_input(qkva);
    mg_ref_gateloop(1, 3, 2, qkva, state, out);
    /* ch0: h = 1 + 1 = 2, 1.5 + 1 = 2.5, 0.625 + 2 = 2.625
     * ch1: h = -1 + 1 = 0, 0 + 2 = 2, 1 + 3 = 4 */
    double want[6] = {2, 0, 5, 2, -2.625, 4};
    test_assert_close(out, want, 6, 1e-6);
    double want_state[2] = {2.625, 4};
    test_assert_close(state, want_state, 2, 1e-6);
    /* the same sequence in two calls (2 steps, then 1) */
    float split_state[2] = {2, -2}, first[4], last[2];
    mg_ref_gateloop(1, 2, 2, qkva, split_state, first);
    mg_ref_gateloop(1, 1, 2, qkva + 12, split_state, last);
    test_assert_close(first, want, 4, 1e-6);
    test_assert_close(last, want + 4, 2, 1e-6);
    test_assert_close(split_state, want_state, 2, 1e-6);
}

Test(reference_value_residual_mix, learned_and_fixed_half)
{
    float v[4] = {1, 2, 3, 4}, v_first[4] = {5, 6, 7, 8}, mix[2] = {0, (float)log(3.0)}, out[4];
    mg_ref_value_residual_mix(1, 2, 2, v, v_first, mix, out);
    /* head 0: s = 1/2 -> (3, 4); head 1: s = 3/4 -> 0.75 v + 0.25 v_first = (4, 5) */
    double want[4] = {3, 4, 4, 5};
    test_assert_close(out, want, 4, 1e-6);
    mg_ref_value_residual_mix(1, 2, 2, v, v_first, NULL, out);
    double want_half[4] = {3, 4, 5, 6};
    test_assert_close(out, want_half, 4, 0);
    /* in place */
    mg_ref_value_residual_mix(1, 2, 2, v, v_first, mix, v);
    test_assert_close(v, want, 4, 1e-6);
}

Test(reference_add_table_rows, divisor_period_and_offset)
{
    float table[6] = {10, 20, 30, 40, 50, 60}, x[10], out[10];
    for (int i = 0; i < 10; i++)
        x[i] = (float)i;
    /* rows ((t + 1) / 2) % 3 for t = 0..4: 0 1 1 2 2 */
    mg_ref_add_table_rows(1, 5, 2, x, F32(table), 1, 2, 3, out);
    double want[10] = {10, 21, 32, 43, 34, 45, 56, 67, 58, 69};
    test_assert_close(out, want, 10, 0);
    /* offset 3: rows 1 2 2 0 0; batch of 2 sequences of 1 row restart t at 0 */
    mg_ref_add_table_rows(1, 5, 2, x, F32(table), 3, 2, 3, out);
    double want3[10] = {30, 41, 52, 63, 54, 65, 16, 27, 18, 29};
    test_assert_close(out, want3, 10, 0);
    mg_ref_add_table_rows(2, 1, 2, x, F32(table), 4, 1, 3, out); /* rows 4 % 3 = 1 for both */
    double want_batch[4] = {30, 41, 32, 43};
    test_assert_close(out, want_batch, 4, 0);
}
