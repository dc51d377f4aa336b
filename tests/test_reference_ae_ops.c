/* The autoencoder ops' CPU reference against values computed by hand: it is
 * the oracle of test_ops_autoencoder.c, so it is checked independently here. */
#include "core/half.h"
#include "ops/ref/ref_ops.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

#define F32(ptr) ((mg_ref_param){(ptr), false})
#define NONE ((mg_ref_param){NULL, false})

Test(reference_conv1d, one_channel_known_kernel_zero_padding_and_mask)
{
    /* out[t] = 1 x[t-1] + 2 x[t] + 3 x[t+1] + 0.5 with zeros outside */
    float x[5] = {1, 2, 3, 4, 5}, w[3] = {1, 2, 3}, bias[1] = {0.5f}, out[5];
    mg_ref_conv1d(1, 5, 1, 1, 3, x, F32(w), F32(bias), NULL, out);
    double want[5] = {8.5, 14.5, 20.5, 26.5, 14.5};
    test_assert_close(out, want, 5, 0);
    /* row 2 masked out: it reads as zero for every tap that touches it */
    int32_t mask[5] = {1, 1, 0, 1, 1};
    mg_ref_conv1d(1, 5, 1, 1, 3, x, F32(w), F32(bias), mask, out);
    double want_masked[5] = {8.5, 5.5, 14.5, 23.5, 14.5};
    test_assert_close(out, want_masked, 5, 0);
    /* no bias */
    mg_ref_conv1d(1, 5, 1, 1, 3, x, F32(w), NONE, NULL, out);
    double want_plain[5] = {8, 14, 20, 26, 14};
    test_assert_close(out, want_plain, 5, 0);
}

Test(reference_conv1d, weight_layout_is_out_in_tap)
{
    /* weight[o=0, i, k] = {i0: 1 2 3, i1: 4 5 6}; one position: only the centre tap sees x */
    float x[2] = {1, 10}, w[6] = {1, 2, 3, 4, 5, 6}, out[1];
    mg_ref_conv1d(1, 1, 2, 1, 3, x, F32(w), NONE, NULL, out);
    double want[1] = {2 * 1 + 5 * 10};
    test_assert_close(out, want, 1, 0);
    /* K = 1, two outputs: out = W x with W = [[1 2] [3 4]]; rows (1, -1) and (2, 0.5) */
    float x2[4] = {1, -1, 2, 0.5f}, w2[4] = {1, 2, 3, 4}, out2[4];
    mg_ref_conv1d(1, 2, 2, 2, 1, x2, F32(w2), NONE, NULL, out2);
    double want2[4] = {-1, -1, 3, 8};
    test_assert_close(out2, want2, 4, 0);
}

Test(reference_conv1d, sequences_of_a_batch_do_not_leak_into_each_other)
{
    float x[4] = {1, 2, 10, 20}, w[3] = {1, 1, 1}, out[4];
    mg_ref_conv1d(2, 2, 1, 1, 3, x, F32(w), NONE, NULL, out);
    double want[4] = {3, 3, 30, 30};
    test_assert_close(out, want, 4, 0);
}

Test(reference_conv1d, seven_taps_and_f16_weights)
{
    /* K = 7 over a unit impulse at t = 3 of 7: out[t] = w[3 - t + 3] (the kernel reversed, PyTorch's
     * cross-correlation); weights are exact in f16 */
    float x[7] = {0, 0, 0, 1, 0, 0, 0}, w[7] = {1, 2, 3, 4, 5, 6, 7}, out[7];
    uint16_t wh[7];
    for (int i = 0; i < 7; i++)
        wh[i] = mg_float_to_half(w[i]);
    mg_ref_conv1d(1, 7, 1, 1, 7, x, (mg_ref_param){wh, true}, NONE, NULL, out);
    double want[7] = {7, 6, 5, 4, 3, 2, 1};
    test_assert_close(out, want, 7, 0);
}

Test(reference_masked_mean, known_mask_and_empty_mask)
{
    float x[12] = {1, 2, 3, 4, 5, 6, /* batch 1 */ 1, 1, 2, 2, 4, 4}, out[4];
    int32_t mask[6] = {1, 0, 1, 0, 0, 0};
    mg_ref_masked_mean(2, 3, 2, x, mask, 1e-5f, out);
    double want[4] = {3, 4, 0, 0}; /* batch 1 has no valid row: 0 / max(0, eps) */
    test_assert_close(out, want, 4, 0);
    mg_ref_masked_mean(2, 3, 2, x, NULL, 1e-5f, out);
    double want_plain[4] = {3, 4, 7.0 / 3.0, 7.0 / 3.0};
    test_assert_close(out, want_plain, 4, 1e-7);
    /* a mask value other than 1 still counts once */
    int32_t mask2[6] = {5, 5, 0, 1, 1, 1};
    mg_ref_masked_mean(2, 3, 2, x, mask2, 1e-5f, out);
    double want2[4] = {2, 3, 7.0 / 3.0, 7.0 / 3.0};
    test_assert_close(out, want2, 4, 1e-7);
}

Test(reference_scale_channels_and_mask_rows, by_hand)
{
    float x[8] = {1, 2, 3, 4, /* batch 1 */ 5, 6, 7, 8}, gate[4] = {2, -1, 0.5f, 0}, out[8];
    mg_ref_scale_channels(2, 2, 2, x, gate, out);
    double want[8] = {2, -2, 6, -4, 2.5, 0, 3.5, 0};
    test_assert_close(out, want, 8, 0);
    int32_t mask[4] = {0, 1, 7, 0};
    mg_ref_mask_rows(4, 2, x, mask, out);
    double want_masked[8] = {0, 0, 3, 4, 5, 6, 0, 0};
    test_assert_close(out, want_masked, 8, 0);
}

Test(reference_gather_mean, csr_rows_with_an_empty_one_and_repeats)
{
    float src[6] = {1, 2, 3, 4, 5, 6}, out[6];
    int32_t offsets[4] = {0, 2, 2, 5}, indices[5] = {0, 2, 1, 1, 0};
    mg_ref_gather_mean(3, 2, src, offsets, indices, out);
    double want[6] = {3, 4, 0, 0, 7.0 / 3.0, 10.0 / 3.0};
    test_assert_close(out, want, 6, 1e-7);
}

Test(reference_copy_columns, into_the_middle_of_wider_rows)
{
    float src[4] = {1, 2, 3, 4}, dst[10] = {0};
    mg_ref_copy_columns(2, 2, 5, 2, src, dst);
    double want[10] = {0, 0, 1, 2, 0, 0, 0, 3, 4, 0};
    test_assert_close(dst, want, 10, 0);
}

/* x = [0.5, -1, 2, -0.1, 0, -0, 1e-6, -3] (d = 8). */
static const float lfq_x[8] = {0.5f, -1.0f, 2.0f, -0.1f, 0.0f, -0.0f, 1e-6f, -3.0f};

Test(reference_lfq, one_level_bits_msb_first_and_zero_is_negative)
{
    for (int clamp = 0; clamp < 2; clamp++) {
        float values[8];
        int32_t index[1];
        mg_ref_lfq_quantize(1, 8, 1, clamp ? 10.0f : 0.0f, lfq_x, values, index);
        /* bits 1 0 1 0 0 0 1 0 -> 128 + 32 + 2 */
        cr_assert_eq(index[0], 162, "soft clamp %d: index %d", clamp, index[0]);
        double want[8] = {1, -1, 1, -1, -1, -1, 1, -1};
        test_assert_close(values, want, 8, 0);
    }
    /* first dimension is the most significant bit */
    float x3[3] = {1, -1, -1}, v3[3];
    int32_t i3[1];
    mg_ref_lfq_quantize(1, 3, 1, 10.0f, x3, v3, i3);
    cr_assert_eq(i3[0], 4);
}

Test(reference_lfq, residual_levels_by_hand)
{
    float values[8];
    int32_t index[3];
    mg_ref_lfq_quantize(1, 8, 3, 10.0f, lfq_x, values, index);
    /* level 0 code   +1 -1 +1 -1 -1 -1 +1 -1                        -> 162
     * residual 1     -0.5 0 1 0.9 1 1 (1e-6 - 1) -2
     * level 1 code   -.5 -.5 +.5 +.5 +.5 +.5 -.5 -.5 (0 -> negative) -> 0b00111100 = 60
     * residual 2      0 .5 .5 .4 .5 .5 (-0.499999) -1.5
     * level 2 code   -.25 +.25 +.25 +.25 +.25 +.25 -.25 -.25         -> 0b01111100 = 124 */
    cr_assert_eq(index[0], 162);
    cr_assert_eq(index[1], 60);
    cr_assert_eq(index[2], 124);
    double want[8] = {0.25, -1.25, 1.75, -0.25, -0.25, -0.25, 0.25, -1.75};
    test_assert_close(values, want, 8, 0);
    /* the two-level sum stops after level 1 */
    int32_t index2[2];
    mg_ref_lfq_quantize(1, 8, 2, 10.0f, lfq_x, values, index2);
    cr_assert(index2[0] == 162 && index2[1] == 60);
    double want2[8] = {0.5, -1.5, 1.5, -0.5, -0.5, -0.5, 0.5, -1.5};
    test_assert_close(values, want2, 8, 0);
}

Test(reference_lfq, soft_clamp_keeps_signs_of_huge_and_tiny_values)
{
    float x[4] = {1e30f, -1e30f, 1e-30f, -1e-30f}, values[4];
    int32_t index[2];
    mg_ref_lfq_quantize(1, 4, 2, 10.0f, x, values, index);
    cr_assert_eq(index[0], 0xA); /* 1 0 1 0 */
    /* residual: 1e30 - 1 = 1e30 (+), -1e30 (-), 1e-30 - 1 (-), -1e-30 + 1 (+) */
    cr_assert_eq(index[1], 0x9); /* 1 0 0 1 */
}

Test(reference_lfq, dequantize_inverts_quantize_and_ignores_pad_ids)
{
    float values[8], back[8];
    int32_t index[3];
    mg_ref_lfq_quantize(1, 8, 3, 10.0f, lfq_x, values, index);
    mg_ref_lfq_dequantize(1, 8, 3, index, back);
    cr_assert_arr_eq(back, values, sizeof values);
    /* -1 (the pad id) and 256 (not an 8-bit code) contribute nothing */
    int32_t pads[3] = {-1, -1, 256};
    mg_ref_lfq_dequantize(1, 8, 3, pads, back);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(back[i], 0.0f);
    /* only level 1 present: +-0.5 by the bits of 60 */
    int32_t one[3] = {-1, 60, -1};
    mg_ref_lfq_dequantize(1, 8, 3, one, back);
    double want[8] = {-0.5, -0.5, 0.5, 0.5, 0.5, 0.5, -0.5, -0.5};
    test_assert_close(back, want, 8, 0);
}

Test(reference_vq_nearest, euclidean_with_ties_to_the_lowest_index)
{
    float codebook[8] = {0, 0, 1, 1, 1, 1, -2, 0};
    float x[8] = {0.9f, 1.2f, -1.5f, 0.1f, 0.4f, 0.4f, 0.5f, 0.5f};
    int32_t out[4];
    mg_ref_vq_nearest(4, 2, 4, x, F32(codebook), out);
    /* rows 1 and 2 of the codebook are equal: 1 wins; (0.5, 0.5) is equally far from 0 and 1: 0 wins */
    int32_t want[4] = {1, 3, 0, 0};
    cr_assert_arr_eq(out, want, sizeof want);
    float nan_x[2] = {NAN, 0};
    mg_ref_vq_nearest(1, 2, 4, nan_x, F32(codebook), out);
    cr_assert_eq(out[0], 0);
}
