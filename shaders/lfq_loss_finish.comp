#version 450
#extension GL_GOOGLE_include_directive : require
// ResidualLFQ training terms, pass 3: one workgroup per level q. Counts the valid rows, averages
// the per-row statistics (lfq_row_stats) and the code distribution (code_sum = sum over valid
// rows of p, from lfq_code_partial), and writes
//   losses[q, :] = (aux, commit, per_sample entropy, codebook entropy, valid rows)
//   avg[q, j]    = code_sum[q, j] / valid
// with aux = entropy_weight * E' + commit_weight * commit, E = per_sample - gamma * codebook,
// E' = softplus(E + offset) when softplus_entropy, else E.
#include "common.glsl"
#include "lfq_common.glsl"

INPUT_BUFFER(0, stats)
INPUT_BUFFER_INT(1, mask)
INPUT_BUFFER(2, code_sum)
OUTPUT_BUFFER(3, losses)
OUTPUT_BUFFER(4, avg)

layout(push_constant) uniform Push {
    uint stats_offset;
    uint mask_offset;
    uint code_sum_offset;
    uint losses_offset;
    uint avg_offset;
    uint N;
    uint D;
    uint has_mask;
    uint softplus_entropy;
    float commit_weight;
    float entropy_weight;
    float diversity_gamma;
    float entropy_offset;
} pc;

shared float s_valid[gl_WorkGroupSize.x];
shared float s_entropy[gl_WorkGroupSize.x];
shared float s_commit[gl_WorkGroupSize.x];

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x, q = gl_WorkGroupID.x;
    float valid = 0.0, entropy = 0.0, commit = 0.0;
    for (uint row = t; row < pc.N; row += threads) {
        valid += pc.has_mask == 0u || mask[pc.mask_offset + row] != 0 ? 1.0 : 0.0;
        entropy += stats[pc.stats_offset + (q * pc.N + row) * 2u];
        commit += stats[pc.stats_offset + (q * pc.N + row) * 2u + 1u];
    }
    s_valid[t] = valid;
    s_entropy[t] = entropy;
    s_commit[t] = commit;
    barrier();
    for (uint stride = threads / 2u; stride > 0u; stride /= 2u) {
        if (t < stride) {
            s_valid[t] += s_valid[t + stride];
            s_entropy[t] += s_entropy[t + stride];
            s_commit[t] += s_commit[t + stride];
        }
        barrier();
    }
    valid = s_valid[0];
    entropy = s_entropy[0];
    commit = s_commit[0];
    barrier();
    uint codes = 1u << pc.D;
    float codebook = 0.0;
    for (uint j = t; j < codes; j += threads) {
        float a = valid > 0.0 ? code_sum[pc.code_sum_offset + q * codes + j] / valid : 0.0;
        avg[pc.avg_offset + q * codes + j] = a;
        codebook += a > 0.0 ? lfq_entropy_term(a, log(a)) : 0.0;
    }
    s_entropy[t] = codebook;
    barrier();
    for (uint stride = threads / 2u; stride > 0u; stride /= 2u) {
        if (t < stride)
            s_entropy[t] += s_entropy[t + stride];
        barrier();
    }
    if (t == 0u) {
        codebook = s_entropy[0];
        float per_sample = valid > 0.0 ? entropy / valid : 0.0;
        commit = valid > 0.0 ? commit / (valid * float(pc.D)) : 0.0;
        float e = per_sample - pc.diversity_gamma * codebook;
        float u = e + pc.entropy_offset;
        float term = pc.softplus_entropy != 0u ? log(1.0 + exp(-abs(u))) + max(u, 0.0) : e;
        uint o = pc.losses_offset + q * 5u;
        losses[o] = pc.entropy_weight * term + pc.commit_weight * commit;
        losses[o + 1u] = commit;
        losses[o + 2u] = per_sample;
        losses[o + 3u] = codebook;
        losses[o + 4u] = valid;
    }
}
