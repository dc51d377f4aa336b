#version 450
#extension GL_GOOGLE_include_directive : require
// Normalisation of each row of x[rows, dim], one workgroup per row:
//   mode 0 LayerNorm: (x - mean) / sqrt(var + eps) * (gamma + offset) + beta
//   mode 1 RMSNorm:   x / sqrt(mean(x^2) + eps) * (gamma + offset)
//   mode 2 L2:        x / max(||x||, eps) * scale * (gamma + offset)
// Two passes (mean, then squared deviations) as PyTorch, not E[x^2] - E[x]^2.
// In place is safe: each invocation reads its own elements before writing them.
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

INOUT_BUFFER(0, x)
WEIGHT_BUFFER(1, gamma)
WEIGHT_BUFFER(2, beta)
INOUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint gamma_offset;
    uint beta_offset;
    uint y_offset;
    uint rows;
    uint dim;
    uint has_gamma;
    uint has_beta;
    float eps;
    float gain_offset;
    float scale;
} pc;

shared float partial[gl_WorkGroupSize.x];

float workgroup_sum(float v)
{
    uint t = gl_LocalInvocationID.x;
    partial[t] = v;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride)
            partial[t] += partial[t + stride];
        barrier();
    }
    float total = partial[0];
    barrier();
    return total;
}

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return; // uniform per workgroup: safe with the barriers below
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.dim;

    float mean = 0.0;
    if (MODE == 0) {
        float s = 0.0;
        for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x)
            s += x[base + i];
        mean = workgroup_sum(s) / float(pc.dim);
    }
    float ss = 0.0;
    for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x) {
        float c = x[base + i] - mean;
        ss += c * c;
    }
    ss = workgroup_sum(ss);
    float factor;
    if (MODE == 2)
        factor = pc.scale / max(sqrt(ss), pc.eps);
    else
        factor = inversesqrt(ss / float(pc.dim) + pc.eps);

    uint out_base = pc.y_offset + row * pc.dim;
    for (uint i = t; i < pc.dim; i += gl_WorkGroupSize.x) {
        float v = (x[base + i] - mean) * factor;
        if (pc.has_gamma != 0u)
            v *= LOAD_WEIGHT(gamma, pc.gamma_offset + i) + pc.gain_offset;
        if (MODE == 0 && pc.has_beta != 0u)
            v += LOAD_WEIGHT(beta, pc.beta_offset + i);
        y[out_base + i] = v;
    }
}
