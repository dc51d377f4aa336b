/* The CPU reference against values computed by hand (or with a calculator,
 * quoted to the digits given). The reference is the oracle of every Vulkan
 * test, so it is checked independently here. */
#include "core/half.h"
#include "ops/ref/ref_ops.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

#define F32(ptr) ((mg_ref_param){(ptr), false})
#define NONE ((mg_ref_param){NULL, false})

Test(reference_matmul, small_by_hand)
{
    /* [1 2 3; 4 5 6] @ [7 8; 9 10; 11 12] = [58 64; 139 154] */
    float a[6] = {1, 2, 3, 4, 5, 6};
    float b[6] = {7, 8, 9, 10, 11, 12};
    float out[4];
    mg_ref_matmul(1, 2, 2, 3, a, F32(b), false, true, NONE, out);
    double want[4] = {58, 64, 139, 154};
    test_assert_close(out, want, 4, 0);
}

Test(reference_matmul, transposed_weight_and_bias)
{
    /* W stored [n=2, k=3] as PyTorch Linear: rows (1,0,-1) and (2,2,2); bias (0.5, -1) */
    float a[3] = {3, 4, 5};
    float w[6] = {1, 0, -1, 2, 2, 2};
    float bias[2] = {0.5f, -1.0f};
    float out[2];
    mg_ref_matmul(1, 1, 2, 3, a, F32(w), true, true, F32(bias), out);
    double want[2] = {3 - 5 + 0.5, 24 - 1};
    test_assert_close(out, want, 2, 0);
}

Test(reference_matmul, batched_weights)
{
    /* batch 0: [1 1] @ [[1],[2]] = 3 ; batch 1: [2 3] @ [[4],[5]] = 23 */
    float a[4] = {1, 1, 2, 3};
    float b[4] = {1, 2, 4, 5};
    float out[2];
    mg_ref_matmul(2, 1, 1, 2, a, F32(b), false, false, NONE, out);
    double want[2] = {3, 23};
    test_assert_close(out, want, 2, 0);
    /* broadcast: both batches use [[1],[2]] -> 3 and 8 */
    mg_ref_matmul(2, 1, 1, 2, a, F32(b), false, true, NONE, out);
    double want_broadcast[2] = {3, 8};
    test_assert_close(out, want_broadcast, 2, 0);
}

Test(reference_matmul, f16_weights_are_decoded)
{
    uint16_t w[2] = {0x3c00 /* 1 */, 0xb800 /* -0.5 */};
    float a[2] = {4, 2};
    float out[1];
    mg_ref_matmul(1, 1, 1, 2, a, (mg_ref_param){w, true}, true, true, NONE, out);
    double want[1] = {3};
    test_assert_close(out, want, 1, 0);
}

Test(reference_embedding, gathers_rows_and_zeros_out_of_range)
{
    float table[6] = {1, 2, 3, 4, 5, 6}; /* 3 rows of 2 */
    int32_t ids[4] = {2, -1, 0, 3};
    float out[8];
    mg_ref_embedding(4, 2, 3, ids, F32(table), out);
    double want[8] = {5, 6, 0, 0, 1, 2, 0, 0};
    test_assert_close(out, want, 8, 0);
}

Test(reference_binary, broadcast_trailing)
{
    float a[4] = {1, 2, 3, 4};
    float b[2] = {10, 100};
    float out[4];
    mg_ref_binary(MG_BINARY_ADD, 4, a, 2, b, out);
    double add[4] = {11, 102, 13, 104};
    test_assert_close(out, add, 4, 0);
    mg_ref_binary(MG_BINARY_SUB, 4, a, 2, b, out);
    double sub[4] = {-9, -98, -7, -96};
    test_assert_close(out, sub, 4, 0);
    mg_ref_binary(MG_BINARY_MUL, 4, a, 2, b, out);
    double mul[4] = {10, 200, 30, 400};
    test_assert_close(out, mul, 4, 0);
}

Test(reference_unary, activations)
{
    float x[4] = {-1.0f, 0.0f, 0.5f, 1.0f};
    float out[4];
    mg_ref_unary(MG_UNARY_GELU, 4, x, 1, 0, out);
    /* 0.5 x (1 + erf(x / sqrt 2)) */
    double gelu[4] = {-0.15865525393145707, 0.0, 0.34573123063700656, 0.8413447460685429};
    test_assert_close(out, gelu, 4, 1e-7);
    mg_ref_unary(MG_UNARY_SILU, 4, x, 1, 0, out);
    double silu[4] = {-0.2689414213699951, 0.0, 0.31122966560092726, 0.7310585786300049};
    test_assert_close(out, silu, 4, 1e-7);
    mg_ref_unary(MG_UNARY_SIGMOID, 4, x, 1, 0, out);
    double sigmoid[4] = {0.2689414213699951, 0.5, 0.6224593312018546, 0.7310585786300049};
    test_assert_close(out, sigmoid, 4, 1e-7);
    mg_ref_unary(MG_UNARY_TANH, 4, x, 1, 0, out);
    double tanh_values[4] = {-0.7615941559557649, 0.0, 0.46211715726000974, 0.7615941559557649};
    test_assert_close(out, tanh_values, 4, 1e-7);
    mg_ref_unary(MG_UNARY_RELU, 4, x, 1, 0, out);
    double relu[4] = {0, 0, 0.5, 1};
    test_assert_close(out, relu, 4, 0);
    mg_ref_unary(MG_UNARY_SCALE, 4, x, 2.0f, 0.25f, out);
    double scale[4] = {-1.75, 0.25, 1.25, 2.25};
    test_assert_close(out, scale, 4, 0);
}

Test(reference_geglu, value_times_gelu_of_gate)
{
    float x[4] = {2, 3, 1, -1}; /* values (2, 3), gates (1, -1) */
    float out[2];
    mg_ref_geglu(1, 2, x, out);
    double want[2] = {2 * 0.8413447460685429, 3 * -0.15865525393145707};
    test_assert_close(out, want, 2, 1e-6);
}

Test(reference_norm, layer_norm)
{
    /* mean 2.5, variance 1.25 (biased, as PyTorch) */
    float x[4] = {1, 2, 3, 4};
    float gamma[4] = {1, 2, 1, 1}, beta[4] = {0, 0, 1, 0};
    float out[4];
    mg_norm_params p = {MG_NORM_LAYER, 0.0f, 0.0f, 1.0f};
    mg_ref_norm(&p, 1, 4, x, NONE, NONE, out);
    double s = 1.0 / sqrt(1.25);
    double plain[4] = {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s};
    test_assert_close(out, plain, 4, 1e-7);
    mg_ref_norm(&p, 1, 4, x, F32(gamma), F32(beta), out);
    double affine[4] = {-1.5 * s, -1.0 * s, 0.5 * s + 1, 1.5 * s};
    test_assert_close(out, affine, 4, 1e-7);
    /* x-transformers' LayerNorm: gains stored as gamma - 1 */
    float zero_gamma[4] = {0, 1, 0, 0};
    p.gamma_offset = 1.0f;
    mg_ref_norm(&p, 1, 4, x, F32(zero_gamma), NONE, out);
    double offset[4] = {-1.5 * s, -1.0 * s, 0.5 * s, 1.5 * s};
    test_assert_close(out, offset, 4, 1e-7);
    /* eps enters under the square root */
    p = (mg_norm_params){MG_NORM_LAYER, 0.75f, 0.0f, 1.0f};
    mg_ref_norm(&p, 1, 4, x, NONE, NONE, out);
    double with_eps[4] = {-1.5 / sqrt(2.0), -0.5 / sqrt(2.0), 0.5 / sqrt(2.0), 1.5 / sqrt(2.0)};
    test_assert_close(out, with_eps, 4, 1e-7);
}

Test(reference_norm, rms_and_l2)
{
    float x[2] = {3, 4};
    float out[2];
    mg_norm_params rms = {MG_NORM_RMS, 0.0f, 0.0f, 1.0f};
    mg_ref_norm(&rms, 1, 2, x, NONE, NONE, out);
    double r = sqrt(12.5);
    double want_rms[2] = {3 / r, 4 / r};
    test_assert_close(out, want_rms, 2, 1e-7);
    /* F.normalize(x) * sqrt(2) * gamma, the x-transformers RMSNorm */
    float gamma[2] = {1, 0.5f};
    mg_norm_params l2 = {MG_NORM_L2, 1e-12f, 0.0f, sqrtf(2.0f)};
    mg_ref_norm(&l2, 1, 2, x, F32(gamma), NONE, out);
    double want_l2[2] = {0.6 * sqrt(2.0), 0.8 * sqrt(2.0) * 0.5};
    test_assert_close(out, want_l2, 2, 1e-6);
    /* PixelNorm's clamp: ||x|| below eps divides by eps */
    float tiny[2] = {3e-5f, 4e-5f};
    mg_norm_params pixel = {MG_NORM_L2, 1e-4f, 0.0f, 1.0f};
    mg_ref_norm(&pixel, 1, 2, tiny, NONE, NONE, out);
    double want_pixel[2] = {0.3, 0.4};
    test_assert_close(out, want_pixel, 2, 1e-6);
}

Test(reference_softmax, plain_scaled_masked_causal)
{
    float x[3] = {1, 2, 3};
    float out[3];
    mg_softmax_params p = {1.0f, NULL, 1, false, 1, 0};
    mg_ref_softmax(&p, 1, 3, x, out);
    double plain[3] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
    test_assert_close(out, plain, 3, 1e-7);

    /* scale 2 on (1, 2, 3) = softmax of (2, 4, 6) */
    p.scale = 2.0f;
    mg_ref_softmax(&p, 1, 3, x, out);
    double scaled[3] = {0.015876239976466765, 0.11731042782619837, 0.8668133321973349};
    test_assert_close(out, scaled, 3, 1e-7);

    /* mask out the middle column: softmax of (1, 3) */
    int32_t mask[3] = {1, 0, 1};
    p = (mg_softmax_params){1.0f, mask, 1, false, 1, 0};
    mg_ref_softmax(&p, 1, 3, x, out);
    double masked[3] = {0.11920292202211755, 0.0, 0.8807970779778823};
    test_assert_close(out, masked, 3, 1e-7);

    /* causal, 2 queries over 3 keys, offset 0: row 0 sees key 0, row 1 keys 0-1 */
    float xx[6] = {1, 2, 3, 1, 2, 3};
    float out2[6];
    p = (mg_softmax_params){1.0f, NULL, 1, true, 2, 0};
    mg_ref_softmax(&p, 2, 3, xx, out2);
    double causal[6] = {1, 0, 0, 0.2689414213699951, 0.7310585786300049, 0};
    test_assert_close(out2, causal, 6, 1e-7);

    /* nothing visible: all zeros */
    int32_t none[3] = {0, 0, 0};
    p = (mg_softmax_params){1.0f, none, 1, false, 1, 0};
    mg_ref_softmax(&p, 1, 3, x, out);
    double zeros[3] = {0, 0, 0};
    test_assert_close(out, zeros, 3, 0);
}

Test(reference_argmax, ties_and_nan)
{
    float x[12] = {1, 3, 3, 2, /* tie: first */ -5, -7, -5, -9, /* NaN wins */ 1, NAN, 9, NAN};
    int32_t out[3];
    mg_ref_argmax(3, 4, x, out);
    cr_assert_eq(out[0], 1);
    cr_assert_eq(out[1], 0);
    cr_assert_eq(out[2], 1);
}
