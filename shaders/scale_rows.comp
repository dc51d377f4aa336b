#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise scaling of channels-last rows, one invocation per element:
//  MODE 0 (scale_channels): y[b, t, c] = x[b, t, c] * gate[b, c];
//  MODE 1 (mask_rows):      y[r, c] = mask[r] != 0 ? x[r, c] : 0.
// In place is allowed: each invocation reads and writes only its own element
// (x is then bound read-write; the aliased binding is the same range).
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

layout(std430, set = 0, binding = 0) buffer x_block { float x[]; };
INPUT_BUFFER(1, gate)
INPUT_BUFFER_INT(2, mask)
layout(std430, set = 0, binding = 3) buffer y_block { float y[]; };

layout(push_constant) uniform Push {
    uint x_offset;
    uint gate_offset;
    uint mask_offset;
    uint y_offset;
    uint count;
    uint C;
    uint rows_per_batch; // N (MODE 0)
} pc;

void main()
{
    uint e = flat_invocation_index();
    if (e >= pc.count)
        return;
    uint row = e / pc.C, c = e - row * pc.C;
    float v = x[pc.x_offset + e];
    if (MODE == 0u)
        v *= gate[pc.gate_offset + (row / pc.rows_per_batch) * pc.C + c];
    else if (mask[pc.mask_offset + row] == 0)
        v = 0.0;
    y[pc.y_offset + e] = v;
}
