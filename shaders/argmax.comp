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

#ifdef USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

// A key whose unsigned order is the order of beats() on values: NaN above
// everything, then the floats in numeric order, -0 equal to +0. Key 0 is
// below every value's key: "none yet". Ties (equal keys) then go to the
// smallest index, so subgroupMax on keys and subgroupMin on the indices that
// hold the maximum give the answer without any shared memory.
uint order_key(float v)
{
    if (isnan(v))
        return 0xffffffffu;
    uint b = floatBitsToUint(v);
    if (b == 0x80000000u)
        b = 0u; // -0 == +0
    return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

shared uint group_key[gl_WorkGroupSize.x];
shared uint group_index[gl_WorkGroupSize.x];

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.n;
    uint best_key = 0u, best = 0xffffffffu;
    // Increasing j: a strictly larger key is needed to replace, so the first
    // of equal values stays.
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x) {
        uint key = order_key(x[base + j]);
        if (key > best_key) {
            best_key = key;
            best = j;
        }
    }
    uint top = subgroupMax(best_key);
    best = subgroupMin(best_key == top ? best : 0xffffffffu);
    best_key = top;
    if (gl_NumSubgroups > 1u) {
        if (subgroupElect()) {
            group_key[gl_SubgroupID] = best_key;
            group_index[gl_SubgroupID] = best;
        }
        barrier();
        for (uint i = 0u; i < gl_NumSubgroups; i++) {
            uint key = group_key[i], index = group_index[i];
            if (key > best_key || (key == best_key && index < best)) {
                best_key = key;
                best = index;
            }
        }
    }
    if (t == 0u)
        result[pc.result_offset + row] = int(best);
}

#else

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

#endif
