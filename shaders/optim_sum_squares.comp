#version 450
#extension GL_GOOGLE_include_directive : require
// Partial sums of squares for the gradient norm: workgroup g sums the squares
// of elements [g * BLOCK, (g + 1) * BLOCK) (BLOCK = workgroup size * ITEMS)
// and writes partial[partial_offset + g]. The host adds the partials in
// double. Fixed assignment and a fixed reduction tree: deterministic.
#include "common.glsl"
#include "reduce.glsl"

layout(constant_id = 1) const uint ITEMS = 16;

INPUT_BUFFER(0, x)
OUTPUT_BUFFER(1, partial)

layout(push_constant) uniform Push {
    uint x_offset;
    uint partial_offset;
    uint count;
} pc;

void main()
{
    uint group = flat_workgroup_index();
    uint base = group * gl_WorkGroupSize.x * ITEMS;
    if (base >= pc.count) // the grid may be rounded up over y: uniform per workgroup
        return;
    float sum = 0.0;
    for (uint k = 0u; k < ITEMS; k++) {
        uint i = base + k * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
        if (i < pc.count) {
            float value = x[pc.x_offset + i];
            sum += value * value;
        }
    }
    float total = workgroup_sum(sum);
    if (gl_LocalInvocationID.x == 0u)
        partial[pc.partial_offset + group] = total;
}
