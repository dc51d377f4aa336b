#version 450
#extension GL_GOOGLE_include_directive : require
// Gain gradients of the normalisations over rows r in [r_begin, r_end):
//   d_gamma[i] += sum_r g[r, i] * (x[r, i] - mean_r) * factor_r   (has_gamma)
//   d_beta[i]  += sum_r g[r, i]                                    (has_beta)
// with (mean_r, factor_r) = stats[r] from grad_norm.comp. One invocation per
// column, rows in order (deterministic); neighbours read neighbouring columns.
#include "common.glsl"

INPUT_BUFFER(0, x)
INPUT_BUFFER(1, g)
INPUT_BUFFER(2, stats)
INOUT_BUFFER(3, d_gamma)
INOUT_BUFFER(4, d_beta)

layout(push_constant) uniform Push {
    uint x_offset;
    uint g_offset;
    uint stats_offset;
    uint d_gamma_offset;
    uint d_beta_offset;
    uint dim;
    uint r_begin;
    uint r_end;
    uint has_gamma;
    uint has_beta;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.dim)
        return;
    float sg = 0.0, sb = 0.0;
    for (uint r = pc.r_begin; r < pc.r_end; r++) {
        float d = g[pc.g_offset + r * pc.dim + i];
        sb += d;
        if (pc.has_gamma != 0u) {
            float mean = stats[pc.stats_offset + 2u * r], factor = stats[pc.stats_offset + 2u * r + 1u];
            sg += d * (x[pc.x_offset + r * pc.dim + i] - mean) * factor;
        }
    }
    if (pc.has_gamma != 0u)
        d_gamma[pc.d_gamma_offset + i] += sg;
    if (pc.has_beta != 0u)
        d_beta[pc.d_beta_offset + i] += sb;
}
