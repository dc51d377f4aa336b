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
// The host sets VEC4 when dim and every element offset are multiples of 4:
// then the row is read and written as vec4s (a quarter of the load and store
// instructions; on lavapipe each is a loop over the SIMD lanes).
layout(constant_id = 2) const bool VEC4 = false;

INOUT_BUFFER(0, x)
WEIGHT_BUFFER(1, gamma)
WEIGHT_BUFFER(2, beta)
INOUT_BUFFER(3, y)
layout(std430, set = 0, binding = 0) buffer x4_block { vec4 x4[]; };
layout(std430, set = 0, binding = 3) buffer y4_block { vec4 y4[]; };
WEIGHT_BUFFER4(1, gamma)
WEIGHT_BUFFER4(2, beta)

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

#include "reduce.glsl"

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return; // uniform per workgroup: safe with the barriers below
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.dim;

    if (VEC4) {
        uint n4 = pc.dim >> 2u, base4 = base >> 2u;
        float mean = 0.0;
        if (MODE == 0) {
            vec4 s = vec4(0.0);
            for (uint i = t; i < n4; i += gl_WorkGroupSize.x)
                s += x4[base4 + i];
            mean = workgroup_sum((s.x + s.y) + (s.z + s.w)) / float(pc.dim);
        }
        vec4 ss4 = vec4(0.0);
        for (uint i = t; i < n4; i += gl_WorkGroupSize.x) {
            vec4 c = x4[base4 + i] - mean;
            ss4 += c * c;
        }
        float ss = workgroup_sum((ss4.x + ss4.y) + (ss4.z + ss4.w));
        float factor = MODE == 2 ? pc.scale / max(sqrt(ss), pc.eps) : inversesqrt(ss / float(pc.dim) + pc.eps);
        uint out4 = (pc.y_offset + row * pc.dim) >> 2u;
        for (uint i = t; i < n4; i += gl_WorkGroupSize.x) {
            vec4 v = (x4[base4 + i] - mean) * factor;
            if (pc.has_gamma != 0u)
                v *= LOAD_WEIGHT4(gamma, (pc.gamma_offset >> 2u) + i) + pc.gain_offset;
            if (MODE == 0 && pc.has_beta != 0u)
                v += LOAD_WEIGHT4(beta, (pc.beta_offset >> 2u) + i);
            y4[out4 + i] = v;
        }
        return;
    }

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
