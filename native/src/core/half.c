#include "core/half.h"

#include <string.h>

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float mg_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) /* inf or NaN: keep the payload's top bits */
        return float_of(sign | 0x7f800000u | (mantissa << 13));
    if (exponent == 0) {
        if (mantissa == 0)
            return float_of(sign);
        /* subnormal: value = mantissa * 2^-24, exact in binary32 */
        float magnitude = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -magnitude : magnitude;
    }
    return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t mg_float_to_half(float f)
{
    uint32_t u = bits_of(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs_bits = u & 0x7fffffffu;
    if (abs_bits >= 0x7f800000u) { /* inf or NaN */
        if (abs_bits == 0x7f800000u)
            return sign | 0x7c00u;
        return sign | 0x7e00u | (uint16_t)((abs_bits >> 13) & 0x3ffu);
    }
    if (abs_bits >= 0x477ff000u) /* rounds to >= 65520: overflow to infinity */
        return sign | 0x7c00u;
    if (abs_bits < 0x38800000u) { /* below the smallest normal half (2^-14) */
        /* Scale so that one half-subnormal ulp (2^-24) becomes 1, then round
         * half-to-even by integer arithmetic on the mantissa. */
        if (abs_bits < 0x33000000u) /* < 2^-25: rounds to zero (2^-25 itself ties to even 0) */
            return sign;
        uint32_t exponent = abs_bits >> 23;
        uint32_t mantissa = (abs_bits & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exponent; /* 14..24 */
        uint32_t value = mantissa >> shift;
        uint32_t remainder = mantissa & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (remainder > halfway || (remainder == halfway && (value & 1u)))
            value++;
        return sign | (uint16_t)value;
    }
    /* normal: rebias exponent, round the 13 dropped mantissa bits half-to-even */
    uint32_t rebased = abs_bits - 0x38000000u; /* exponent 127 -> 15 bias */
    uint32_t value = rebased >> 13;
    uint32_t remainder = rebased & 0x1fffu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u)))
        value++; /* may carry into the exponent, which is still correct */
    return sign | (uint16_t)value;
}

void mg_half_to_float_array(const uint16_t *src, float *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = mg_half_to_float(src[i]);
}

void mg_float_to_half_array(const float *src, uint16_t *dst, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = mg_float_to_half(src[i]);
}
