#version 450
#extension GL_GOOGLE_include_directive : require
// Index of the largest element of each row of x[rows, n], one workgroup per row.
// Ties go to the lowest index; NaN counts as larger than any number (torch.argmax).
#include "common.glsl"


INPUT_BUFFER(0, x)
layout(std430, set = 0, binding = 1) writeonly buffer result_block { int result[]; };

layout(push_constant) uniform Push {
    uint x_offset;
    uint result_offset;
    uint rows;
    uint n;
} pc;

shared float best_value[gl_WorkGroupSize.x];
shared uint best_index[gl_WorkGroupSize.x];

// Does (v, i) beat (w, j)?
bool beats(float v, uint i, float w, uint j)
{
    bool v_nan = isnan(v), w_nan = isnan(w);
    if (v_nan != w_nan)
        return v_nan;
    if (!v_nan && v != w)
        return v > w;
    return i < j;
}

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.n;
    float bv = 0.0;
    uint bi = 0xffffffffu; // "none yet"
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x) {
        float v = x[base + j];
        if (bi == 0xffffffffu || beats(v, j, bv, bi)) {
            bv = v;
            bi = j;
        }
    }
    best_value[t] = bv;
    best_index[t] = bi;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride) {
            uint oi = best_index[t + stride];
            if (oi != 0xffffffffu &&
                (best_index[t] == 0xffffffffu || beats(best_value[t + stride], oi, best_value[t], best_index[t]))) {
                best_value[t] = best_value[t + stride];
                best_index[t] = oi;
            }
        }
        barrier();
    }
    if (t == 0u)
        result[pc.result_offset + row] = int(best_index[0]);
}
