#version 450
#extension GL_GOOGLE_include_directive : require
// Column sums over rows r in [r_begin, r_end) of x viewed as [G, R, C]:
//   y[g, c] (+)= sum_r x[g, r, c] * (has_w ? w[g, r, c] : 1)
// One invocation per output element, summing its rows in order (deterministic;
// neighbouring invocations read neighbouring columns). The host splits long
// row ranges over dispatches that accumulate in order.
#include "common.glsl"

INPUT_BUFFER(0, x)
INPUT_BUFFER(1, w)
INOUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint w_offset;
    uint y_offset;
    uint G;
    uint R;
    uint C;
    uint r_begin;
    uint r_end;
    uint has_w;
    uint accumulate;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.G * pc.C)
        return;
    uint g = i / pc.C, col = i - g * pc.C;
    uint base = (g * pc.R) * pc.C + col;
    float sum = 0.0;
    for (uint r = pc.r_begin; r < pc.r_end; r++) {
        uint at = base + r * pc.C;
        float v = x[pc.x_offset + at];
        if (pc.has_w != 0u)
            v *= w[pc.w_offset + at];
        sum += v;
    }
    uint out_index = pc.y_offset + i;
    y[out_index] = pc.accumulate != 0u ? y[out_index] + sum : sum;
}
