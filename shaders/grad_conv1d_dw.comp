#version 450
#extension GL_GOOGLE_include_directive : require
// Weight gradient of conv1d, accumulated:
//   dw[o, i, k] += sum_{b, t} dy[b, t, o] * x[b, t + k - KS/2, i]
// where x rows outside the sequence, or whose mask is 0, read as zero (as in
// the forward pass). A workgroup owns BO output channels x BI input channels,
// one invocation per (o, i) pair holding the KS taps; it walks every sequence
// of the batch P positions at a time, with those P rows of dy and the
// P + KS - 1 rows of x (with the halo) in shared memory. Each (o, i, k) is
// summed by one invocation in a fixed order: deterministic, no atomics.
#include "common.glsl"

layout(constant_id = 1) const uint BO = 16;
layout(constant_id = 2) const uint BI = 16; // gl_WorkGroupSize.x == BO * BI
layout(constant_id = 3) const uint P = 32;  // positions per step
layout(constant_id = 4) const uint KS = 3;

INPUT_BUFFER(0, x)
INPUT_BUFFER(1, dy)
INPUT_BUFFER_INT(2, mask)
INOUT_BUFFER(3, dw)

layout(push_constant) uniform Push {
    uint x_offset;
    uint dy_offset;
    uint mask_offset;
    uint dw_offset;
    uint B;
    uint N;
    uint CI;
    uint CO;
    uint has_mask;
} pc;

const uint X_ROWS = P + KS - 1u;
shared float dy_tile[P * BO]; // [p][o]
shared float x_tile[X_ROWS * BI]; // [row][i]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint half_k = KS / 2u;
    uint t = gl_LocalInvocationID.x;
    uint li = t % BI, lo = t / BI;
    uint i0 = gl_WorkGroupID.x * BI, o0 = gl_WorkGroupID.y * BO;
    float acc[KS];
    [[unroll]] for (uint k = 0; k < KS; k++)
        acc[k] = 0.0;

    for (uint b = 0; b < pc.B; b++) {
        uint row_base = b * pc.N;
        for (uint t0 = 0; t0 < pc.N; t0 += P) {
            for (uint e = t; e < P * BO; e += threads) {
                uint p = e / BO, o = e % BO;
                float v = 0.0;
                if (t0 + p < pc.N && o0 + o < pc.CO)
                    v = dy[pc.dy_offset + (row_base + t0 + p) * pc.CO + o0 + o];
                dy_tile[e] = v;
            }
            for (uint e = t; e < X_ROWS * BI; e += threads) {
                uint row = e / BI, i = e % BI;
                int src = int(t0 + row) - int(half_k);
                float v = 0.0;
                if (src >= 0 && uint(src) < pc.N && i0 + i < pc.CI) {
                    uint r = row_base + uint(src);
                    if (pc.has_mask == 0u || mask[pc.mask_offset + r] != 0)
                        v = x[pc.x_offset + r * pc.CI + i0 + i];
                }
                x_tile[e] = v;
            }
            barrier();
            [[unroll]] for (uint p = 0; p < P; p++) {
                float g = dy_tile[p * BO + lo];
                [[unroll]] for (uint k = 0; k < KS; k++)
                    acc[k] += g * x_tile[(p + k) * BI + li];
            }
            barrier();
        }
    }
    uint o = o0 + lo, i = i0 + li;
    if (o < pc.CO && i < pc.CI) {
        [[unroll]] for (uint k = 0; k < KS; k++) {
            uint at = pc.dw_offset + (o * pc.CI + i) * KS + k;
            dw[at] = dw[at] + acc[k];
        }
    }
}
