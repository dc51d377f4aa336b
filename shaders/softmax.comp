#version 450
#extension GL_GOOGLE_include_directive : require
// Masked, scaled softmax over each row of x[rows, n], one workgroup per row.
// Column j of row r is visible when mask[(r / mask_row_divisor) * n + j] != 0
// (if there is a mask) and, if causal, j <= (r % causal_queries) + causal_offset.
// Invisible columns get 0; a row with nothing visible is all zeros.
// In place is safe: the last pass reads each element before writing it.
#include "common.glsl"


INOUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
INOUT_BUFFER(2, y)

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

shared float partial[gl_WorkGroupSize.x];

bool visible(uint row, uint j)
{
    if (pc.has_mask != 0u && mask[pc.mask_offset + (row / pc.mask_row_divisor) * pc.n + j] == 0)
        return false;
    if (pc.causal != 0u && int(j) > int(row % pc.causal_queries) + pc.causal_offset)
        return false;
    return true;
}

float workgroup_reduce(float v, bool take_max)
{
    uint t = gl_LocalInvocationID.x;
    partial[t] = v;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride)
            partial[t] = take_max ? max(partial[t], partial[t + stride]) : partial[t] + partial[t + stride];
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
        return;
    uint t = gl_LocalInvocationID.x;
    uint base = pc.x_offset + row * pc.n;
    const float neg_inf = uintBitsToFloat(0xff800000u);

    float m = neg_inf;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x)
        if (visible(row, j))
            m = max(m, x[base + j] * pc.scale);
    m = workgroup_reduce(m, true);

    float s = 0.0;
    if (m != neg_inf)
        for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x)
            if (visible(row, j))
                s += exp(x[base + j] * pc.scale - m);
    s = workgroup_reduce(s, false);

    float inv = s > 0.0 ? 1.0 / s : 0.0;
    uint out_base = pc.y_offset + row * pc.n;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x) {
        float p = 0.0;
        if (s > 0.0 && visible(row, j))
            p = exp(x[base + j] * pc.scale - m) * inv;
        y[out_base + j] = p;
    }
}
