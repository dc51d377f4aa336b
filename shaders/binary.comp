#version 450
#extension GL_GOOGLE_include_directive : require
// out[i] = a[i] op b[i % b_count]: b broadcast over a's leading dimensions.
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0; // 0 add, 1 sub, 2 mul

INPUT_BUFFER(0, a)
INPUT_BUFFER(1, b)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint a_offset;
    uint b_offset;
    uint y_offset;
    uint count;
    uint b_count;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    float u = a[pc.a_offset + i];
    float v = b[pc.b_offset + i % pc.b_count];
    y[pc.y_offset + i] = OP == 0 ? u + v : (OP == 1 ? u - v : u * v);
}
