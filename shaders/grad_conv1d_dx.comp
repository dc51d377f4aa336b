#version 450
#extension GL_GOOGLE_include_directive : require
// Input gradient of conv1d (channels last, "same" zero padding):
//   dx[b, s, i] = mask[b, s] ? sum_{k, o} w[o, i, k] * dy[b, s - k + KS/2, o] : 0,
// which is a convolution of dy with the kernel transposed (i <-> o) and flipped
// (k -> KS-1-k): dx[s] = sum_{k', o} w[o, i, KS-1-k'] * dy[s + k' - KS/2, o].
// The same implicit-GEMM tiling as conv1d.comp: a workgroup owns a BM
// (positions) x BN (input channels i) tile of one batch element; the reduction
// runs over output channels o, BK at a time, with the dy rows and their halo in
// x_tile and the transposed, flipped weights in w_tile; each invocation computes
// TM x TN outputs. Rows of x that were masked in the forward pass read as zero
// there, so their gradient is zero. Accumulation is f32.
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 8;  // output channels o per step
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;  // multiple of 4
layout(constant_id = 6) const uint KS = 3;  // kernel size (odd)

#define MAX_T 8u

INPUT_BUFFER(0, dy)
WEIGHT_BUFFER(1, w)
INPUT_BUFFER_INT(2, mask)
OUTPUT_BUFFER(3, dx)

layout(push_constant) uniform Push {
    uint dy_offset;
    uint w_offset;
    uint mask_offset;
    uint dx_offset;
    uint N;
    uint CI; // forward input channels: the columns of dx
    uint CO; // forward output channels: the reduction
    uint has_mask;
} pc;

const uint Y_ROWS = BM + KS - 1u;
shared float y_tile[BK * Y_ROWS];         // [o][row]
shared vec4 w_tile[BK * KS * BN / 4u];    // [o][k'][i / 4]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint threads_n = BN / TN;
    const uint half_k = KS / 2u;
    uint t = gl_LocalInvocationID.x;
    uint tn = t % threads_n;
    uint tm = t / threads_n;
    uint i0 = gl_WorkGroupID.x * BN;
    uint s0 = gl_WorkGroupID.y * BM;
    uint batch = gl_WorkGroupID.z;
    uint row_base = batch * pc.N;

    vec4 acc[MAX_T * MAX_T / 4u];
    [[unroll]] for (uint a = 0; a < TM * TN / 4u; a++)
        acc[a] = vec4(0.0);

    for (uint o0 = 0; o0 < pc.CO; o0 += BK) {
        for (uint e = t; e < Y_ROWS * BK; e += threads) {
            uint row = e / BK, o = e % BK;
            int src = int(s0 + row) - int(half_k);
            float v = 0.0;
            if (src >= 0 && uint(src) < pc.N && o0 + o < pc.CO)
                v = dy[pc.dy_offset + (row_base + uint(src)) * pc.CO + o0 + o];
            y_tile[o * Y_ROWS + row] = v;
        }
        // w[o, i, 0..KS) is contiguous: consecutive invocations read consecutive taps.
        for (uint e = t; e < BN * BK * KS; e += threads) {
            uint i = e / (BK * KS), ok = e % (BK * KS);
            uint o = ok / KS, k = ok % KS;
            uint gi = i0 + i;
            float v = 0.0;
            if (gi < pc.CI && o0 + o < pc.CO)
                v = LOAD_WEIGHT(w, pc.w_offset + ((o0 + o) * pc.CI + gi) * KS + k);
            // tap k of the forward kernel is tap KS-1-k of the flipped one
            w_tile[(o * KS + (KS - 1u - k)) * (BN / 4u) + i / 4u][i % 4u] = v;
        }
        barrier();
        [[unroll]] for (uint o = 0; o < BK; o++) {
            float window[TM + KS - 1u];
            [[unroll]] for (uint j = 0; j < TM + KS - 1u; j++)
                window[j] = y_tile[o * Y_ROWS + tm * TM + j];
            [[unroll]] for (uint k = 0; k < KS; k++) {
                vec4 w_reg[MAX_T / 4u];
                [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                    w_reg[g] = w_tile[(o * KS + k) * (BN / 4u) + g * threads_n + tn];
                [[unroll]] for (uint j = 0; j < TM; j++)
                    [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                        acc[j * (TN / 4u) + g] += window[j + k] * w_reg[g];
            }
        }
        barrier();
    }

    [[unroll]] for (uint g = 0; g < TN / 4u; g++) {
        [[unroll]] for (uint c = 0; c < 4u; c++) {
            uint gi = i0 + (g * threads_n + tn) * 4u + c;
            if (gi >= pc.CI)
                continue;
            [[unroll]] for (uint j = 0; j < TM; j++) {
                uint gs = s0 + tm * TM + j;
                if (gs >= pc.N)
                    continue;
                bool kept = pc.has_mask == 0u || mask[pc.mask_offset + row_base + gs] != 0;
                dx[pc.dx_offset + (row_base + gs) * pc.CI + gi] = kept ? acc[j * (TN / 4u) + g][c] : 0.0;
            }
        }
    }
}
