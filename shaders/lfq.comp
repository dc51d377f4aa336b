#version 450
#extension GL_GOOGLE_include_directive : require
// Residual lookup-free quantization of x [N, D] (D <= 30) over LEVELS levels,
// and its inverse (MODE 1), one invocation per row (MODE 0) or per element
// (MODE 1).
//
// MODE 0: per dimension, r = x; for level q: xq = c tanh(r / c), c =
// soft_clamp * 2^-q (no clamp when soft_clamp <= 0); v = xq > 0 ? 2^-q : -2^-q;
// bit (D - 1 - dim) of index q is xq > 0; r -= v; value += v. A dimension's
// residual depends on that dimension only, so dimensions run one after the
// other with the LEVELS indices in registers. All in f32 (as PyTorch); the
// clamp keeps every sign, except that a residual so small that r / c is a
// denormal may quantize as 0 (negative) on devices that flush denormals.
// MODE 1: values[n, dim] = sum over q of +-2^-q by bit (D - 1 - dim) of
// indices[n, q]; an index outside [0, 2^D) (the pad id -1) adds nothing.
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint LEVELS = 2; // <= 16

layout(std430, set = 0, binding = 0) readonly buffer x_block { float x[]; };
layout(std430, set = 0, binding = 1) buffer values_block { float values[]; };
layout(std430, set = 0, binding = 2) buffer indices_block { int indices[]; };

layout(push_constant) uniform Push {
    uint x_offset;
    uint values_offset;
    uint indices_offset;
    uint N;
    uint D;
    float soft_clamp;
} pc;

void quantize(uint n)
{
    uint index[16];
    [[unroll]] for (uint q = 0; q < LEVELS; q++)
        index[q] = 0u;
    for (uint d = 0; d < pc.D; d++) {
        float r = x[pc.x_offset + n * pc.D + d];
        float value = 0.0;
        [[unroll]] for (uint q = 0; q < LEVELS; q++) {
            float scale = ldexp(1.0, -int(q));
            float clamped = r;
            if (pc.soft_clamp > 0.0) {
                float c = pc.soft_clamp * scale;
                clamped = c * tanh_stable(r / c);
            }
            bool positive = clamped > 0.0;
            float v = positive ? scale : -scale;
            if (positive)
                index[q] |= 1u << (pc.D - 1u - d);
            r -= v;
            value += v;
        }
        values[pc.values_offset + n * pc.D + d] = value;
    }
    [[unroll]] for (uint q = 0; q < LEVELS; q++)
        indices[pc.indices_offset + n * LEVELS + q] = int(index[q]);
}

void dequantize(uint e)
{
    uint n = e / pc.D, d = e - n * pc.D;
    float value = 0.0;
    [[unroll]] for (uint q = 0; q < LEVELS; q++) {
        int index = indices[pc.indices_offset + n * LEVELS + q];
        if (index < 0 || uint(index) >= (1u << pc.D))
            continue;
        float scale = ldexp(1.0, -int(q));
        value += ((uint(index) >> (pc.D - 1u - d)) & 1u) != 0u ? scale : -scale;
    }
    values[pc.values_offset + e] = value;
}

void main()
{
    uint i = flat_invocation_index();
    if (MODE == 0u) {
        if (i < pc.N)
            quantize(i);
    } else if (i < pc.N * pc.D) {
        dequantize(i);
    }
}
