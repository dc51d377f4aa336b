#version 450
#extension GL_GOOGLE_include_directive : require
// ResidualLFQ training terms, pass 1: partial sums over blocks of ROWS rows of every code's
// probability, partial[q, block, j] = sum over valid rows i of the block of p_q(j | row i).
// Workgroups: x = blocks of codes, y = row block, z = level. The rows' sign log-probabilities
// are computed once per workgroup into shared memory.
#include "common.glsl"
#include "lfq_common.glsl"

#define ROWS 64u

INPUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
OUTPUT_BUFFER(2, partial)

layout(push_constant) uniform Push {
    uint x_offset;
    uint mask_offset;
    uint partial_offset;
    uint N;
    uint D;
    uint has_mask;
    uint blocks;
    float soft_clamp;
    float inv_temperature;
} pc;

shared float s_pos[ROWS * LFQ_MAX_D];
shared float s_neg[ROWS * LFQ_MAX_D];
shared uint s_valid[ROWS];

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint q = gl_WorkGroupID.z, block = gl_WorkGroupID.y;
    uint codes = 1u << pc.D;
    for (uint r = t; r < ROWS; r += threads) {
        uint row = block * ROWS + r;
        bool valid = row < pc.N && (pc.has_mask == 0u || mask[pc.mask_offset + row] != 0);
        s_valid[r] = valid ? 1u : 0u;
        if (valid) {
            float res[LFQ_MAX_D], xq[LFQ_MAX_D], slope[LFQ_MAX_D], pos[LFQ_MAX_D], neg[LFQ_MAX_D];
            LFQ_LOAD_ROW(res, x, pc.x_offset, row, pc.D)
            for (uint level = 0u; level <= q; level++)
                lfq_level_step(res, level, pc.soft_clamp, xq, slope);
            lfq_sign_log_probs(xq, q, pc.inv_temperature, pos, neg);
            [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
                s_pos[r * LFQ_MAX_D + k] = pos[k];
                s_neg[r * LFQ_MAX_D + k] = neg[k];
            }
        }
    }
    barrier();
    uint j = gl_WorkGroupID.x * threads + t;
    if (j >= codes)
        return;
    float sum = 0.0;
    for (uint r = 0u; r < ROWS; r++) {
        if (s_valid[r] == 0u)
            continue;
        float lp = 0.0;
        [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
            if (k < pc.D)
                lp += ((j >> (pc.D - 1u - k)) & 1u) != 0u ? s_pos[r * LFQ_MAX_D + k] : s_neg[r * LFQ_MAX_D + k];
        }
        sum += exp(lp);
    }
    partial[pc.partial_offset + (q * pc.blocks + block) * codes + j] = sum;
}
