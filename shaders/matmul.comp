#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled matrix multiply: y[b, m, n] = sum_k a[b, m, k] * B[k, n] + bias[n],
// B = w[b, k, n], or w[b, n, k] when transposed (PyTorch's Linear layout).
// Accumulation is f32 whatever the weight storage.
//
// Each workgroup computes a BM x BN tile of y; tiles of a and B pass through
// shared memory BK values of k at a time, stored k-major as vec4s of 4
// consecutive m (or n). Each invocation computes TM x TN outputs (register
// blocking, TM and TN multiples of 4): per k it reads TM/4 + TN/4 vec4s of
// shared memory for TM * TN multiply-adds. Its rows are TM/4 groups of 4
// consecutive m strided by BM/TM groups (likewise for n), so that neighbouring
// invocations read neighbouring vec4s of w_tile and the same vec4 of a_tile.
//
// VEC4 (set by the host only when every element offset, batch stride and the
// row lengths along which the tiles are read are multiples of 4) loads tiles
// from global memory as vec4s (uvec2 = 4 halves for f16 weights); otherwise
// scalars, so that any M, N, K >= 1 and any view offset work.
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool TRANSPOSED = false;
layout(constant_id = 7) const bool VEC4 = false;

#define MAX_T 8u // largest TM or TN

INPUT_BUFFER(0, a)
layout(std430, set = 0, binding = 0) readonly buffer a4_block { vec4 a4[]; };
WEIGHT_BUFFER(1, w)
WEIGHT_BUFFER4(1, w)
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

shared vec4 a_tile[BK * BM / 4u]; // [k][m / 4]
shared vec4 w_tile[BK * BN / 4u]; // [k][n / 4]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint threads_n = BN / TN;
    const uint groups_m = BM / TM; // stride, in vec4s, between an invocation's row groups
    uint t = gl_LocalInvocationID.x;
    uint tn = t % threads_n;
    uint tm = t / threads_n;
    uint m0 = gl_WorkGroupID.y * BM;
    uint n0 = gl_WorkGroupID.x * BN;
    uint batch = gl_WorkGroupID.z;
    uint a_base = pc.a_offset + batch * pc.a_batch_stride;
    uint w_base = pc.w_offset + batch * pc.w_batch_stride;

    vec4 acc[MAX_T * MAX_T / 4u]; // [i][j / 4]
    [[unroll]] for (uint i = 0; i < TM * TN / 4u; i++)
        acc[i] = vec4(0.0);

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // a tile: consecutive invocations read consecutive k of a row.
        if (VEC4) {
            for (uint i = t; i < BM * BK / 4u; i += threads) {
                uint m = i / (BK / 4u), k = (i % (BK / 4u)) * 4u;
                uint gm = m0 + m, gk = k0 + k;
                // K % 4 == 0: a vec4 is all inside or all outside the matrix.
                vec4 v = (gm < pc.M && gk < pc.K) ? a4[(a_base + gm * pc.K + gk) >> 2u] : vec4(0.0);
                [[unroll]] for (uint c = 0; c < 4u; c++)
                    a_tile[(k + c) * (BM / 4u) + m / 4u][m % 4u] = v[c];
            }
        } else {
            for (uint i = t; i < BM * BK; i += threads) {
                uint m = i / BK, k = i % BK;
                uint gm = m0 + m, gk = k0 + k;
                a_tile[k * (BM / 4u) + m / 4u][m % 4u] =
                    (gm < pc.M && gk < pc.K) ? a[a_base + gm * pc.K + gk] : 0.0;
            }
        }
        // B tile: read along the memory order of each layout.
        if (TRANSPOSED) {
            if (VEC4) {
                for (uint i = t; i < BN * BK / 4u; i += threads) {
                    uint n = i / (BK / 4u), k = (i % (BK / 4u)) * 4u;
                    uint gn = n0 + n, gk = k0 + k;
                    vec4 v = (gn < pc.N && gk < pc.K) ? LOAD_WEIGHT4(w, (w_base + gn * pc.K + gk) >> 2u) : vec4(0.0);
                    [[unroll]] for (uint c = 0; c < 4u; c++)
                        w_tile[(k + c) * (BN / 4u) + n / 4u][n % 4u] = v[c];
                }
            } else {
                for (uint i = t; i < BN * BK; i += threads) {
                    uint n = i / BK, k = i % BK;
                    uint gn = n0 + n, gk = k0 + k;
                    w_tile[k * (BN / 4u) + n / 4u][n % 4u] =
                        (gn < pc.N && gk < pc.K) ? LOAD_WEIGHT(w, w_base + gn * pc.K + gk) : 0.0;
                }
            }
        } else {
            if (VEC4) {
                // N % 4 == 0: a vec4 of a row of w is all inside or all outside.
                for (uint i = t; i < BN * BK / 4u; i += threads) {
                    uint k = i / (BN / 4u), n = (i % (BN / 4u)) * 4u;
                    uint gn = n0 + n, gk = k0 + k;
                    w_tile[i] = (gn < pc.N && gk < pc.K) ? LOAD_WEIGHT4(w, (w_base + gk * pc.N + gn) >> 2u) : vec4(0.0);
                }
            } else {
                for (uint i = t; i < BN * BK; i += threads) {
                    uint k = i / BN, n = i % BN;
                    uint gn = n0 + n, gk = k0 + k;
                    w_tile[k * (BN / 4u) + n / 4u][n % 4u] =
                        (gn < pc.N && gk < pc.K) ? LOAD_WEIGHT(w, w_base + gk * pc.N + gn) : 0.0;
                }
            }
        }
        barrier();
        [[unroll]] for (uint k = 0; k < BK; k++) {
            vec4 a_reg[MAX_T / 4u], w_reg[MAX_T / 4u];
            [[unroll]] for (uint g = 0; g < TM / 4u; g++)
                a_reg[g] = a_tile[k * (BM / 4u) + g * groups_m + tm];
            [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                w_reg[g] = w_tile[k * (BN / 4u) + g * threads_n + tn];
            [[unroll]] for (uint i = 0; i < TM; i++) {
                float av = a_reg[i / 4u][i % 4u];
                [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                    acc[i * (TN / 4u) + g] += av * w_reg[g];
            }
        }
        barrier();
    }

    uint y_base = pc.y_offset + batch * pc.y_batch_stride;
    [[unroll]] for (uint g = 0; g < TN / 4u; g++) {
        [[unroll]] for (uint c = 0; c < 4u; c++) {
            uint gn = n0 + (g * threads_n + tn) * 4u + c;
            if (gn >= pc.N)
                continue;
            float b = pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + gn) : 0.0;
            [[unroll]] for (uint i = 0; i < TM; i++) {
                uint gm = m0 + ((i / 4u) * groups_m + tm) * 4u + i % 4u;
                if (gm < pc.M)
                    y[y_base + gm * pc.N + gn] = acc[i * (TN / 4u) + g][c] + b;
            }
        }
    }
}
