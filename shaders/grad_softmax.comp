#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax backward from the forward output y, one workgroup per row:
//   dx = scale * y * (g - sum over visible j of g_j y_j), 0 where invisible
// (visibility as softmax.comp). In place (dx = g) is safe: the sum is complete
// (a barrier) before any write, and each invocation reads its own elements
// before writing them.
#include "common.glsl"

INPUT_BUFFER(0, y)
INPUT_BUFFER_INT(1, mask)
INOUT_BUFFER(2, g)
INOUT_BUFFER(3, dx)

layout(push_constant) uniform Push {
    uint y_offset;
    uint mask_offset;
    uint g_offset;
    uint dx_offset;
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

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint yb = pc.y_offset + row * pc.n, gb = pc.g_offset + row * pc.n;
    float dot = 0.0;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x)
        if (visible(row, j))
            dot += g[gb + j] * y[yb + j];
    dot = workgroup_sum(dot);
    uint ob = pc.dx_offset + row * pc.n;
    for (uint j = t; j < pc.n; j += gl_WorkGroupSize.x) {
        float v = 0.0;
        if (visible(row, j))
            v = pc.scale * y[yb + j] * (g[gb + j] - dot);
        dx[ob + j] = v;
    }
}
