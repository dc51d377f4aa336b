#version 450
#extension GL_GOOGLE_include_directive : require
// Column sums over the rows of each batch element, for parameter and gate
// gradients:  y[b, c] (= or +=) sum_t a[b, t, c] * (HAS_B ? m[b, t, c] : 1).
// conv1d's bias gradient (one "batch" of all rows, accumulated) and
// scale_channels' gate gradient (sum of d_out * x per batch, overwritten).
// As masked_mean.comp: a workgroup owns COLS channels of one batch element,
// read in LANES interleaved row streams whose partial sums are added in lane
// order (deterministic).
#include "common.glsl"

layout(constant_id = 1) const uint COLS = 64;
layout(constant_id = 2) const uint LANES = 4; // gl_WorkGroupSize.x == COLS * LANES

INPUT_BUFFER(0, a)
INPUT_BUFFER(1, m)
INOUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint a_offset;
    uint m_offset;
    uint y_offset;
    uint N;
    uint C;
    uint has_m;
    uint accumulate;
} pc;

shared float partial[COLS * LANES];

void main()
{
    uint t = gl_LocalInvocationID.x;
    uint col = t % COLS, lane = t / COLS;
    uint c = gl_WorkGroupID.x * COLS + col;
    uint b = gl_WorkGroupID.y;
    float sum = 0.0;
    if (c < pc.C) {
        for (uint r = lane; r < pc.N; r += LANES) {
            uint e = (b * pc.N + r) * pc.C + c;
            float v = a[pc.a_offset + e];
            if (pc.has_m != 0u)
                v *= m[pc.m_offset + e];
            sum += v;
        }
    }
    partial[t] = sum;
    barrier();
    if (lane == 0u && c < pc.C) {
        float total = 0.0;
        for (uint l = 0; l < LANES; l++)
            total += partial[l * COLS + col];
        uint at = pc.y_offset + b * pc.C + c;
        y[at] = pc.accumulate != 0u ? y[at] + total : total;
    }
}
