/* binary16 conversion against hand-computed bit patterns. */
#include "core/half.h"

#include <criterion/criterion.h>
#include <math.h>

Test(half, exact_values)
{
    cr_assert_eq(mg_float_to_half(1.0f), 0x3c00);
    cr_assert_eq(mg_float_to_half(-2.0f), 0xc000);
    cr_assert_eq(mg_float_to_half(0.5f), 0x3800);
    cr_assert_eq(mg_float_to_half(65504.0f), 0x7bff);   /* largest finite */
    cr_assert_eq(mg_float_to_half(6.103515625e-05f), 0x0400); /* smallest normal, 2^-14 */
    cr_assert_eq(mg_float_to_half(5.9604644775390625e-08f), 0x0001); /* smallest subnormal, 2^-24 */
    cr_assert_eq(mg_float_to_half(-0.0f), 0x8000);
    cr_assert_float_eq(mg_half_to_float(0x3555), 0.333251953125f, 0.0f);
    cr_assert_float_eq(mg_half_to_float(0x0001), 5.9604644775390625e-08f, 0.0f);
    cr_assert_float_eq(mg_half_to_float(0x83ff), -6.097555160522461e-05f, 0.0f);
}

Test(half, rounds_half_to_even)
{
    /* 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to the even mantissa (1). */
    cr_assert_eq(mg_float_to_half(1.0f + 0x1p-11f), 0x3c00);
    /* 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9: goes up. */
    cr_assert_eq(mg_float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);
    /* just above the tie rounds up */
    cr_assert_eq(mg_float_to_half(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    /* 2^-25 is halfway between 0 and the smallest subnormal: ties to 0 */
    cr_assert_eq(mg_float_to_half(0x1p-25f), 0x0000);
    cr_assert_eq(mg_float_to_half(0x1.8p-25f), 0x0001);
    /* 3 * 2^-25 is halfway between subnormals 1 and 2: ties to 2 */
    cr_assert_eq(mg_float_to_half(3 * 0x1p-25f), 0x0002);
    /* overflow: 65520 rounds to infinity, 65519 to the largest finite */
    cr_assert_eq(mg_float_to_half(65520.0f), 0x7c00);
    cr_assert_eq(mg_float_to_half(65519.0f), 0x7bff);
    /* the mantissa carry moves into the exponent: 2047.5 .. 2048 */
    cr_assert_eq(mg_float_to_half(2047.75f), 0x6800);
}

Test(half, special_values)
{
    cr_assert_eq(mg_float_to_half(INFINITY), 0x7c00);
    cr_assert_eq(mg_float_to_half(-INFINITY), 0xfc00);
    uint16_t nan = mg_float_to_half(NAN);
    cr_assert_eq(nan & 0x7c00, 0x7c00);
    cr_assert_neq(nan & 0x03ff, 0);
    cr_assert(isnan(mg_half_to_float(0x7e00)));
    cr_assert(isinf(mg_half_to_float(0xfc00)) && mg_half_to_float(0xfc00) < 0);
}

Test(half, every_half_round_trips)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mg_half_to_float((uint16_t)h);
        if (isnan(f))
            continue;
        cr_assert_eq(mg_float_to_half(f), h, "half 0x%04x -> %a -> 0x%04x", h, (double)f, mg_float_to_half(f));
    }
}
