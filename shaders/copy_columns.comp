#version 450
#extension GL_GOOGLE_include_directive : require
// dst[r, column_offset + c] = src[r, c] for src [R, w] into dst [R, W]: a
// concatenation along the last axis, one invocation per element of src.
#include "common.glsl"

INPUT_BUFFER(0, src)
layout(std430, set = 0, binding = 1) buffer dst_block { float dst[]; };

layout(push_constant) uniform Push {
    uint src_offset;
    uint dst_offset;
    uint count;  // R * w
    uint w;
    uint W;
    uint column_offset;
} pc;

void main()
{
    uint e = flat_invocation_index();
    if (e >= pc.count)
        return;
    uint r = e / pc.w, c = e - r * pc.w;
    dst[pc.dst_offset + r * pc.W + pc.column_offset + c] = src[pc.src_offset + e];
}
