#version 450
#extension GL_GOOGLE_include_directive : require
// Backward of norm.comp for each row of x[rows, dim], one workgroup per row.
// With u = g * (gamma + offset) and xhat = (x - mean) * factor:
//   mode 0 LayerNorm: factor = 1/sqrt(var + eps);     dx = factor (u - mean(u) - xhat mean(u xhat))
//   mode 1 RMSNorm:   factor = 1/sqrt(mean(x^2)+eps); dx = factor (u - xhat mean(u xhat))
//   mode 2 L2:        factor = scale / max(|x|, eps); dx = factor (u - x sum(u x) / |x|^2),
//                     and dx = factor u where |x| <= eps (the divisor is then constant)
// Writes dx (has_dx) and, for the gain gradients of grad_norm_params.comp, the
// row's (mean, factor) to stats[row] (has_stats). dx must not alias x or g.
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

INPUT_BUFFER(0, x)
INPUT_BUFFER(1, g)
WEIGHT_BUFFER(2, gamma)
INOUT_BUFFER(3, dx)
INOUT_BUFFER(4, stats)

layout(push_constant) uniform Push {
    uint x_offset;
    uint g_offset;
    uint gamma_offset;
    uint dx_offset;
    uint stats_offset;
    uint rows;
    uint dim;
    uint has_gamma;
    uint has_dx;
    uint has_stats;
    float eps;
    float gain_offset;
    float scale;
} pc;

#include "reduce.glsl"

float gain(uint i)
{
    return pc.has_gamma != 0u ? LOAD_WEIGHT(gamma, pc.gamma_offset + i) + pc.gain_offset : 1.0;
}

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return; // uniform per workgroup
    uint t = gl_LocalInvocationID.x;
    uint xb = pc.x_offset + row * pc.dim, gb = pc.g_offset + row * pc.dim;

    float mean = 0.0;
    if (MODE == 0) {
        float s = 0.0;
        for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x)
            s += x[xb + i];
        mean = workgroup_sum(s) / float(pc.dim);
    }
    float ss = 0.0;
    for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x) {
        float c = x[xb + i] - mean;
        ss += c * c;
    }
    ss = workgroup_sum(ss);
    float factor, projection;
    if (MODE == 2) {
        float norm = sqrt(ss);
        bool clamped = !(norm > pc.eps);
        factor = pc.scale / (clamped ? pc.eps : norm);
        projection = clamped ? 0.0 : 1.0 / ss;
    } else {
        factor = inversesqrt(ss / float(pc.dim) + pc.eps);
        projection = factor * factor / float(pc.dim);
    }
    if (pc.has_stats != 0u && t == 0u) {
        stats[pc.stats_offset + 2u * row] = mean;
        stats[pc.stats_offset + 2u * row + 1u] = factor;
    }
    if (pc.has_dx == 0u)
        return; // uniform: no barrier follows

    float su = 0.0, suc = 0.0;
    for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x) {
        float u = g[gb + i] * gain(i);
        su += u;
        suc += u * (x[xb + i] - mean);
    }
    su = workgroup_sum(su);
    suc = workgroup_sum(suc);
    float mean_u = MODE == 0 ? su / float(pc.dim) : 0.0;
    float k = projection * suc;
    uint ob = pc.dx_offset + row * pc.dim;
    for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x) {
        float u = g[gb + i] * gain(i);
        dx[ob + i] = factor * (u - mean_u - (x[xb + i] - mean) * k);
    }
}
