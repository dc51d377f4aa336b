#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled matrix multiply: y[b, m, n] = sum_k a[b, m, k] * B[k, n] + bias[n],
// B = w[b, k, n], or w[b, n, k] when transposed (PyTorch's Linear layout).
// Each workgroup computes a BM x BN tile of y; each invocation a TM x TN
// sub-tile, strided so that neighbouring invocations read neighbouring shared
// memory. Tiles of a and B pass through shared memory BK columns at a time.
// Accumulation is f32 whatever the weight storage.
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool TRANSPOSED = false;

INPUT_BUFFER(0, a)
WEIGHT_BUFFER(1, w)
WEIGHT_BUFFER(2, bias)
OUTPUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint a_offset;
    uint w_offset;
    uint bias_offset;
    uint y_offset;
    uint M;
    uint N;
    uint K;
    uint a_batch_stride;
    uint w_batch_stride; // 0: one B for every batch
    uint y_batch_stride;
    uint has_bias;
} pc;

shared float a_tile[BK * BM]; // [k][m]
shared float w_tile[BK * BN]; // [k][n]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint threads_n = BN / TN;
    const uint threads_m = BM / TM;
    uint t = gl_LocalInvocationID.x;
    uint tn = t % threads_n;
    uint tm = t / threads_n;
    uint m0 = gl_WorkGroupID.y * BM;
    uint n0 = gl_WorkGroupID.x * BN;
    uint batch = gl_WorkGroupID.z;
    uint a_base = pc.a_offset + batch * pc.a_batch_stride;
    uint w_base = pc.w_offset + batch * pc.w_batch_stride;

    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++)
        acc[i] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // a tile: consecutive invocations read consecutive k of a row
        for (uint i = t; i < BM * BK; i += threads) {
            uint m = i / BK, k = i % BK;
            uint gm = m0 + m, gk = k0 + k;
            a_tile[k * BM + m] = (gm < pc.M && gk < pc.K) ? a[a_base + gm * pc.K + gk] : 0.0;
        }
        // B tile: read along memory order of each layout
        for (uint i = t; i < BN * BK; i += threads) {
            uint n, k;
            if (TRANSPOSED) {
                n = i / BK;
                k = i % BK;
            } else {
                k = i / BN;
                n = i % BN;
            }
            uint gn = n0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < pc.N && gk < pc.K)
                v = TRANSPOSED ? LOAD_WEIGHT(w, w_base + gn * pc.K + gk) : LOAD_WEIGHT(w, w_base + gk * pc.N + gn);
            w_tile[k * BN + n] = v;
        }
        barrier();
        [[unroll]] for (uint k = 0; k < BK; k++) {
            float a_reg[TM];
            [[unroll]] for (uint i = 0; i < TM; i++)
                a_reg[i] = a_tile[k * BM + tm + i * threads_m];
            [[unroll]] for (uint j = 0; j < TN; j++) {
                float b = w_tile[k * BN + tn + j * threads_n];
                [[unroll]] for (uint i = 0; i < TM; i++)
                    acc[i * TN + j] += a_reg[i] * b;
            }
        }
        barrier();
    }

    uint y_base = pc.y_offset + batch * pc.y_batch_stride;
    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint gn = n0 + tn + j * threads_n;
        if (gn >= pc.N)
            continue;
        float b = pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + gn) : 0.0;
        [[unroll]] for (uint i = 0; i < TM; i++) {
            uint gm = m0 + tm + i * threads_m;
            if (gm < pc.M)
                y[y_base + gm * pc.N + gn] = acc[i * TN + j] + b;
        }
    }
}
