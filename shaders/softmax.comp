#version 450
#extension GL_GOOGLE_include_directive : require
// Masked, scaled softmax over each row of x[rows, n], one workgroup per row.
// Column j of row r is visible when mask[(r / mask_row_divisor) * n + j] != 0
// (if there is a mask) and, if causal, j <= (r % causal_queries) + causal_offset.
// Invisible columns get 0; a row with nothing visible is all zeros.
// In place is safe: the last pass reads each element before writing it.
#include "common.glsl"

// The host sets VEC4 when n and every element offset are multiples of 4: the
// row (and its mask) are then read and written as vec4s (a quarter of the
// memory instructions; on lavapipe each is a loop over the SIMD lanes).
layout(constant_id = 1) const bool VEC4 = false;

INOUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
INOUT_BUFFER(2, y)
layout(std430, set = 0, binding = 0) buffer x4_block { vec4 x4[]; };
layout(std430, set = 0, binding = 1) readonly buffer mask4_block { ivec4 mask4[]; };
layout(std430, set = 0, binding = 2) buffer y4_block { vec4 y4[]; };

layout(push_constant) uniform Push {
    uint x_offset;
    uint mask_offset;
    uint y_offset;
    uint rows;
    uint n;
    float scale;
    uint has_mask;
    uint mask_row_divisor;
    uint causal;
    uint causal_queries;
    int causal_offset;
} pc;

#include "reduce.glsl"

bool visible(uint row, uint j)
{
    if (pc.has_mask != 0u && mask[pc.mask_offset + (row / pc.mask_row_divisor) * pc.n + j] == 0)
        return false;
    if (pc.causal != 0u && int(j) > int(row % pc.causal_queries) + pc.causal_offset)
        return false;
    return true;
}

// visible() for columns j..j+3 (j a multiple of 4).
bvec4 visible4(uint row, uint j)
{
    bvec4 v = bvec4(true);
    if (pc.has_mask != 0u)
        v = notEqual(mask4[(pc.mask_offset + (row / pc.mask_row_divisor) * pc.n + j) >> 2u], ivec4(0));
    if (pc.causal != 0u) {
        bvec4 c = lessThanEqual(ivec4(int(j)) + ivec4(0, 1, 2, 3), ivec4(int(row % pc.causal_queries) + pc.causal_offset));
        v = bvec4(v.x && c.x, v.y && c.y, v.z && c.z, v.w && c.w);
    }
    return v;
}

void main_vec4(uint row)
{
    uint t = gl_LocalInvocationID.x;
    uint n4 = pc.n >> 2u, base4 = (pc.x_offset + row * pc.n) >> 2u;
    const float neg_inf = uintBitsToFloat(0xff800000u);
    // Selects (mix with a bvec), never multiplications by 0/1: an invisible
    // +inf must not turn into NaN.
    vec4 m4 = vec4(neg_inf);
    for (uint i = t; i < n4; i += gl_WorkGroupSize.x)
        m4 = max(m4, mix(vec4(neg_inf), x4[base4 + i] * pc.scale, visible4(row, i * 4u)));
    float m = workgroup_max(max(max(m4.x, m4.y), max(m4.z, m4.w)));

    vec4 s4 = vec4(0.0);
    if (m != neg_inf)
        for (uint i = t; i < n4; i += gl_WorkGroupSize.x)
            s4 += mix(vec4(0.0), exp(x4[base4 + i] * pc.scale - m), visible4(row, i * 4u));
    float s = workgroup_sum((s4.x + s4.y) + (s4.z + s4.w));

    float inv = s > 0.0 ? 1.0 / s : 0.0;
    uint out4 = (pc.y_offset + row * pc.n) >> 2u;
    for (uint i = t; i < n4; i += gl_WorkGroupSize.x) {
        vec4 p = vec4(0.0);
        if (s > 0.0)
            p = mix(vec4(0.0), exp(x4[base4 + i] * pc.scale - m) * inv, visible4(row, i * 4u));
        y4[out4 + i] = p;
    }
}

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return;
    if (VEC4) {
        main_vec4(row);
        return;
    }
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.n;
    const float neg_inf = uintBitsToFloat(0xff800000u);

    float m = neg_inf;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x)
        if (visible(row, j))
            m = max(m, x[base + j] * pc.scale);
    m = workgroup_max(m);

    float s = 0.0;
    if (m != neg_inf)
        for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x)
            if (visible(row, j))
                s += exp(x[base + j] * pc.scale - m);
    s = workgroup_sum(s);

    float inv = s > 0.0 ? 1.0 / s : 0.0;
    uint out_base = pc.y_offset + row * pc.n;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x) {
        float p = 0.0;
        if (s > 0.0 && visible(row, j))
            p = exp(x[base + j] * pc.scale - m) * inv;
        y[out_base + j] = p;
    }
}
