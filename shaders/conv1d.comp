#version 450
#extension GL_GOOGLE_include_directive : require
// 1-D convolution along the sequence, channels last, "same" zero padding, as an
// implicit GEMM: y[b, t, o] = bias[o] + sum_{k, i} w[o, i, k] * x[b, t + k - KS/2, i]
// (PyTorch Conv1d weight layout [Co, Ci, K]). Rows of x outside [0, N), or whose
// mask is 0, read as zero. Accumulation is f32 whatever the weight storage.
//
// Each workgroup computes a BM (positions) x BN (output channels) tile of one
// batch element (gl_WorkGroupID.z), so a tile never straddles two sequences.
// The reduction runs over input channels BK at a time; per step:
//  - x_tile holds the BM + KS - 1 rows t0 - KS/2 .. t0 + BM + KS/2 - 1 of those
//    BK channels, once for all KS taps (the im2col matrix is never built: tap k
//    of output row m is row m + k of the tile);
//  - w_tile holds w[o, i0 .. i0 + BK, 0 .. KS] for the BN channels, which is
//    BK * KS consecutive floats of each weight row (coalesced reads), stored
//    [i][k][o] so that neighbouring invocations read neighbouring vec4s of o.
// Each invocation computes TM x TN outputs (register blocking): TM consecutive
// rows, and TN / 4 groups of 4 consecutive o strided by BN / TN groups. Per
// input channel it reads the TM + KS - 1 rows its taps touch once into
// registers and slides over them for the KS taps (TM + KS - 1 shared reads
// instead of TM * KS: 14 against 56 for K = 7, TM = 8).
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 8;  // input channels per step
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;  // multiple of 4
layout(constant_id = 6) const uint KS = 3;  // kernel size (odd)

#define MAX_T 8u // largest TM or TN

INPUT_BUFFER(0, x)
WEIGHT_BUFFER(1, w)
WEIGHT_BUFFER(2, bias)
INPUT_BUFFER_INT(3, mask)
OUTPUT_BUFFER(4, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint w_offset;
    uint bias_offset;
    uint mask_offset;
    uint y_offset;
    uint N;  // sequence length
    uint CI;
    uint CO;
    uint has_bias;
    uint has_mask;
} pc;

const uint X_ROWS = BM + KS - 1u;
shared float x_tile[BK * X_ROWS];         // [i][row]
shared vec4 w_tile[BK * KS * BN / 4u];    // [i][k][o / 4]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint threads_n = BN / TN;
    const uint half_k = KS / 2u;
    uint t = gl_LocalInvocationID.x;
    uint tn = t % threads_n;
    uint tm = t / threads_n;
    uint o0 = gl_WorkGroupID.x * BN;
    uint t0 = gl_WorkGroupID.y * BM;
    uint batch = gl_WorkGroupID.z;
    uint row_base = batch * pc.N; // first row of this sequence in x, mask and y

    vec4 acc[MAX_T * MAX_T / 4u]; // [j][g]
    [[unroll]] for (uint i = 0; i < TM * TN / 4u; i++)
        acc[i] = vec4(0.0);

    for (uint i0 = 0; i0 < pc.CI; i0 += BK) {
        // x rows (with the halo), consecutive invocations read consecutive channels.
        for (uint e = t; e < X_ROWS * BK; e += threads) {
            uint row = e / BK, i = e % BK;
            int src = int(t0 + row) - int(half_k);
            float v = 0.0;
            if (src >= 0 && uint(src) < pc.N && i0 + i < pc.CI) {
                uint r = row_base + uint(src);
                if (pc.has_mask == 0u || mask[pc.mask_offset + r] != 0)
                    v = x[pc.x_offset + r * pc.CI + i0 + i];
            }
            x_tile[i * X_ROWS + row] = v;
        }
        // weights: for each o, the BK * KS values w[o, i0.., 0..KS) are contiguous.
        for (uint e = t; e < BN * BK * KS; e += threads) {
            uint o = e / (BK * KS), ik = e % (BK * KS);
            uint i = ik / KS, k = ik % KS;
            uint go = o0 + o;
            float v = 0.0;
            if (go < pc.CO && i0 + i < pc.CI)
                v = LOAD_WEIGHT(w, pc.w_offset + (go * pc.CI + i0) * KS + ik);
            w_tile[ik * (BN / 4u) + o / 4u][o % 4u] = v;
        }
        barrier();
        [[unroll]] for (uint i = 0; i < BK; i++) {
            float window[TM + KS - 1u];
            [[unroll]] for (uint j = 0; j < TM + KS - 1u; j++)
                window[j] = x_tile[i * X_ROWS + tm * TM + j];
            [[unroll]] for (uint k = 0; k < KS; k++) {
                vec4 w_reg[MAX_T / 4u];
                [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                    w_reg[g] = w_tile[(i * KS + k) * (BN / 4u) + g * threads_n + tn];
                [[unroll]] for (uint j = 0; j < TM; j++)
                    [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                        acc[j * (TN / 4u) + g] += window[j + k] * w_reg[g];
            }
        }
        barrier();
    }

    [[unroll]] for (uint g = 0; g < TN / 4u; g++) {
        [[unroll]] for (uint c = 0; c < 4u; c++) {
            uint go = o0 + (g * threads_n + tn) * 4u + c;
            if (go >= pc.CO)
                continue;
            float b = pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + go) : 0.0;
            [[unroll]] for (uint j = 0; j < TM; j++) {
                uint gt = t0 + tm * TM + j;
                if (gt < pc.N)
                    y[pc.y_offset + (row_base + gt) * pc.CO + go] = acc[j * (TN / 4u) + g][c] + b;
            }
        }
    }
}
