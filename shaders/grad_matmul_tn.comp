#version 450
#extension GL_GOOGLE_include_directive : require
// The weight gradient of a matrix multiply, a product reduced over rows:
//   c[z, p, q] (+)= sum over r in [r_begin, r_end) of xs[z, r, p] * ys[z, r, q]
// (d_b = a^T @ d_out: xs = a, ys = d_out; for a transposed b, xs = d_out,
// ys = a). The host splits long row ranges over several dispatches that
// accumulate in order (deterministic; on CPU devices each invocation's loops
// stay under lavapipe's iteration guard).
//
// Tiling as matmul.comp: a workgroup computes a BM x BN tile of c; BK rows at a
// time of xs and ys pass through shared memory, where they are stored r-major
// as vec4s of 4 consecutive p (or q), exactly the layout of their rows in
// memory (consecutive invocations load consecutive p: coalesced). Each
// invocation computes TM x TN outputs (TM, TN multiples of 4).
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

#define MAX_T 8u // largest TM or TN

INPUT_BUFFER(0, xs)
INPUT_BUFFER(1, ys)
INOUT_BUFFER(2, c)

layout(push_constant) uniform Push {
    uint x_offset;
    uint y_offset;
    uint c_offset;
    uint P;
    uint Q;
    uint r_begin;
    uint r_end;
    uint x_batch_stride;
    uint y_batch_stride;
    uint c_batch_stride;
    uint accumulate; // 0: c = the sum, 1: c += the sum
} pc;

shared vec4 x_tile[BK * BM / 4u]; // [r][p / 4]
shared vec4 y_tile[BK * BN / 4u]; // [r][q / 4]

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    const uint threads_n = BN / TN;
    const uint groups_m = BM / TM;
    uint t = gl_LocalInvocationID.x;
    uint tn = t % threads_n;
    uint tm = t / threads_n;
    uint p0 = gl_WorkGroupID.y * BM;
    uint q0 = gl_WorkGroupID.x * BN;
    uint z = gl_WorkGroupID.z;
    uint x_base = pc.x_offset + z * pc.x_batch_stride;
    uint y_base = pc.y_offset + z * pc.y_batch_stride;

    vec4 acc[MAX_T * MAX_T / 4u];
    [[unroll]] for (uint i = 0; i < TM * TN / 4u; i++)
        acc[i] = vec4(0.0);

    for (uint r0 = pc.r_begin; r0 < pc.r_end; r0 += BK) {
        for (uint i = t; i < BM * BK; i += threads) {
            uint r = i / BM, p = i % BM;
            uint gr = r0 + r, gp = p0 + p;
            x_tile[i / 4u][i % 4u] = (gr < pc.r_end && gp < pc.P) ? xs[x_base + gr * pc.P + gp] : 0.0;
        }
        for (uint i = t; i < BN * BK; i += threads) {
            uint r = i / BN, q = i % BN;
            uint gr = r0 + r, gq = q0 + q;
            y_tile[i / 4u][i % 4u] = (gr < pc.r_end && gq < pc.Q) ? ys[y_base + gr * pc.Q + gq] : 0.0;
        }
        barrier();
        [[unroll]] for (uint r = 0; r < BK; r++) {
            vec4 x_reg[MAX_T / 4u], y_reg[MAX_T / 4u];
            [[unroll]] for (uint g = 0; g < TM / 4u; g++)
                x_reg[g] = x_tile[r * (BM / 4u) + g * groups_m + tm];
            [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                y_reg[g] = y_tile[r * (BN / 4u) + g * threads_n + tn];
            [[unroll]] for (uint i = 0; i < TM; i++) {
                float xv = x_reg[i / 4u][i % 4u];
                [[unroll]] for (uint g = 0; g < TN / 4u; g++)
                    acc[i * (TN / 4u) + g] += xv * y_reg[g];
            }
        }
        barrier();
    }

    uint c_base = pc.c_offset + z * pc.c_batch_stride;
    [[unroll]] for (uint g = 0; g < TN / 4u; g++) {
        [[unroll]] for (uint k = 0; k < 4u; k++) {
            uint gq = q0 + (g * threads_n + tn) * 4u + k;
            if (gq >= pc.Q)
                continue;
            [[unroll]] for (uint i = 0; i < TM; i++) {
                uint gp = p0 + ((i / 4u) * groups_m + tm) * 4u + i % 4u;
                if (gp < pc.P) {
                    uint index = c_base + gp * pc.Q + gq;
                    float v = acc[i * (TN / 4u) + g][k];
                    c[index] = pc.accumulate != 0u ? c[index] + v : v;
                }
            }
        }
    }
}
