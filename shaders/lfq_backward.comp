#version 450
#extension GL_GOOGLE_include_directive : require
// Gradient of ResidualLFQ's input x [N, D] (mg_op_lfq_backward): for every level q,
//   d_xq = d_values (straight-through) + aux_scale * commit_weight * 2 (xq - v) / (valid D)
//          + aux_scale * entropy_weight * E'' * 2 T s * sum_j p_j (G_j - sum_i p_i G_i) b_j
// with G_j = (g(p_j) - gamma g(avg_j)) / valid, g the entropy term's slope and E'' the softplus'
// slope at E + offset (1 without softplus); d_x = sum over levels of d_xq * slope (the soft
// clamp's derivative; the residual walk subtracts detached values). Masked rows get only the
// straight-through part. avg and losses come from lfq_loss_finish. One workgroup per row (flat
// over x and y); the codes are split over the invocations, sums in a fixed-order tree.
#include "common.glsl"
#include "lfq_common.glsl"

INPUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
INPUT_BUFFER(2, d_values)
INPUT_BUFFER(3, avg)
INPUT_BUFFER(4, losses)
OUTPUT_BUFFER(5, d_x)

layout(push_constant) uniform Push {
    uint x_offset;
    uint mask_offset;
    uint dv_offset;
    uint avg_offset;
    uint losses_offset;
    uint dx_offset;
    uint N;
    uint D;
    uint levels;
    uint flags;          // 1: mask, 2: d_values, 4: entropy terms, 8: softplus entropy
    float soft_clamp;
    float inv_temperature;
    float aux_scale;
    float commit_weight;
    float entropy_weight;
    float diversity_gamma;
    float entropy_offset;
} pc;

#define SUMS (1u + 2u * LFQ_MAX_D)
shared float s_sum[SUMS * gl_WorkGroupSize.x];

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint row = flat_workgroup_index();
    if (row >= pc.N)
        return;
    float valid = losses[pc.losses_offset + 4u];
    bool kept = ((pc.flags & 1u) == 0u || mask[pc.mask_offset + row] != 0) && valid > 0.0;
    bool entropy = kept && (pc.flags & 4u) != 0u;
    uint codes = 1u << pc.D;
    float res[LFQ_MAX_D], grad[LFQ_MAX_D];
    LFQ_LOAD_ROW(res, x, pc.x_offset, row, pc.D)
    [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++)
        grad[k] = 0.0;
    for (uint q = 0u; q < pc.levels; q++) {
        float xq[LFQ_MAX_D], slope[LFQ_MAX_D], d_xq[LFQ_MAX_D];
        lfq_level_step(res, q, pc.soft_clamp, xq, slope);
        float s = exp2(-float(q));
        [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
            d_xq[k] = (pc.flags & 2u) != 0u && k < pc.D ? d_values[pc.dv_offset + row * pc.D + k] : 0.0;
            if (kept)
                d_xq[k] += pc.aux_scale * pc.commit_weight * 2.0 * (xq[k] - (xq[k] > 0.0 ? s : -s)) /
                           (valid * float(pc.D));
        }
        if (entropy) {
            float pos[LFQ_MAX_D], neg[LFQ_MAX_D], pgb[LFQ_MAX_D], pb[LFQ_MAX_D];
            lfq_sign_log_probs(xq, q, pc.inv_temperature, pos, neg);
            [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
                pgb[k] = 0.0;
                pb[k] = 0.0;
            }
            float pg = 0.0;
            for (uint j = t; j < codes; j += threads) {
                float lp = lfq_code_log_prob(j, pc.D, pos, neg);
                float p = exp(lp);
                float a = avg[pc.avg_offset + q * codes + j];
                float a_slope = a > LFQ_PROB_FLOOR ? lfq_entropy_slope(a, log(a)) : -log(LFQ_PROB_FLOOR);
                float g = (lfq_entropy_slope(p, lp) - pc.diversity_gamma * a_slope) / valid;
                pg += p * g;
                [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
                    float b = ((j >> (pc.D - 1u - k)) & 1u) != 0u ? 1.0 : -1.0;
                    pgb[k] += k < pc.D ? p * g * b : 0.0;
                    pb[k] += k < pc.D ? p * b : 0.0;
                }
            }
            s_sum[t] = pg;
            [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
                s_sum[(1u + k) * threads + t] = pgb[k];
                s_sum[(1u + LFQ_MAX_D + k) * threads + t] = pb[k];
            }
            barrier();
            for (uint stride = threads / 2u; stride > 0u; stride /= 2u) {
                if (t < stride) {
                    [[unroll]] for (uint v = 0u; v < SUMS; v++)
                        s_sum[v * threads + t] += s_sum[v * threads + t + stride];
                }
                barrier();
            }
            float per_sample = losses[pc.losses_offset + q * 5u + 2u];
            float codebook = losses[pc.losses_offset + q * 5u + 3u];
            float e = per_sample - pc.diversity_gamma * codebook;
            float outer = (pc.flags & 8u) != 0u ? 1.0 / (1.0 + exp(-(e + pc.entropy_offset))) : 1.0;
            outer *= pc.aux_scale * pc.entropy_weight;
            float dz = 2.0 * pc.inv_temperature * s;
            float total_pg = s_sum[0];
            [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++)
                d_xq[k] += outer * dz * (s_sum[(1u + k) * threads] - total_pg * s_sum[(1u + LFQ_MAX_D + k) * threads]);
            barrier(); // the next level reuses s_sum
        }
        [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++)
            grad[k] += d_xq[k] * slope[k];
    }
    if (t == 0u) {
        [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
            if (k < pc.D)
                d_x[pc.dx_offset + row * pc.D + k] = grad[k];
        }
    }
}
