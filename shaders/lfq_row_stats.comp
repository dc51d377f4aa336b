#version 450
#extension GL_GOOGLE_include_directive : require
// ResidualLFQ training terms, pass 2: per row and level, the entropy of the row's code
// distribution, H = -sum_j p_j log(max(p_j, 1e-5)), and the squared commitment error
// sum_k (xq_k - v_k)^2; both 0 for masked rows. stats[(q * N + row) * 2 + {0, 1}].
// One workgroup per row (flat over x and y), z = level; the codes are split over the
// invocations and their sums added in a fixed-order tree.
#include "common.glsl"
#include "lfq_common.glsl"

INPUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
OUTPUT_BUFFER(2, stats)

layout(push_constant) uniform Push {
    uint x_offset;
    uint mask_offset;
    uint stats_offset;
    uint N;
    uint D;
    uint has_mask;
    float soft_clamp;
    float inv_temperature;
} pc;

shared float s_sum[gl_WorkGroupSize.x];

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint row = flat_workgroup_index(), q = gl_WorkGroupID.z;
    if (row >= pc.N)
        return;
    uint out_index = pc.stats_offset + (q * pc.N + row) * 2u;
    if (pc.has_mask != 0u && mask[pc.mask_offset + row] == 0) {
        if (t == 0u) {
            stats[out_index] = 0.0;
            stats[out_index + 1u] = 0.0;
        }
        return;
    }
    float res[LFQ_MAX_D], xq[LFQ_MAX_D], slope[LFQ_MAX_D], pos[LFQ_MAX_D], neg[LFQ_MAX_D];
    LFQ_LOAD_ROW(res, x, pc.x_offset, row, pc.D)
    for (uint level = 0u; level <= q; level++)
        lfq_level_step(res, level, pc.soft_clamp, xq, slope);
    lfq_sign_log_probs(xq, q, pc.inv_temperature, pos, neg);
    uint codes = 1u << pc.D;
    float entropy = 0.0;
    for (uint j = t; j < codes; j += threads) {
        float lp = lfq_code_log_prob(j, pc.D, pos, neg);
        entropy += lfq_entropy_term(exp(lp), lp);
    }
    s_sum[t] = entropy;
    barrier();
    for (uint stride = threads / 2u; stride > 0u; stride /= 2u) {
        if (t < stride)
            s_sum[t] += s_sum[t + stride];
        barrier();
    }
    if (t == 0u) {
        float s = exp2(-float(q)), commit = 0.0;
        [[unroll]] for (uint k = 0u; k < LFQ_MAX_D; k++) {
            float e = xq[k] - (xq[k] > 0.0 ? s : -s);
            commit += k < pc.D ? e * e : 0.0;
        }
        stats[out_index] = s_sum[0];
        stats[out_index + 1u] = commit;
    }
}
