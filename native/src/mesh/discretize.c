#include "mesh/discretize.h"

#include <math.h>

/*
 * The width of the range as PyTorch sees it: Python subtracts the two bounds in
 * double and the tensor op converts the result to float32. Our bounds are
 * already float32, so the double subtraction is exact for sane ranges.
 */
static float range_width(float lo, float hi)
{
    return (float)((double)hi - (double)lo);
}

int32_t mg_discretize(float t, float lo, float hi, int32_t n)
{
    /* One float32 rounding per upstream tensor op, in upstream's order. */
    float u = t - lo;
    u = u / range_width(lo, hi);
    u = u * (float)n;
    u = u - 0.5f;
    /* rintf rounds half to even in the default rounding mode, as torch.round. */
    float r = rintf(u);
    /* Clamp in float before converting: converting NaN or an out-of-range float is undefined in C. */
    if (!(r >= 0.0f))
        return 0;
    if (r >= (float)(n - 1))
        return n - 1;
    return (int32_t)r;
}

float mg_undiscretize(int32_t i, float lo, float hi, int32_t n)
{
    float t = (float)i + 0.5f;
    t = t / (float)n;
    t = t * range_width(lo, hi);
    return t + lo;
}
