#version 450
#extension GL_GOOGLE_include_directive : require
// Backward of copy_columns, a column slice: dsrc[r, c] = ddst[r, column_offset + c]
// for dsrc [R, w] and ddst [R, W]; one invocation per element of dsrc.
#include "common.glsl"

INPUT_BUFFER(0, ddst)
OUTPUT_BUFFER(1, dsrc)

layout(push_constant) uniform Push {
    uint ddst_offset;
    uint dsrc_offset;
    uint count; // R * w
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
    dsrc[pc.dsrc_offset + e] = ddst[pc.ddst_offset + r * pc.W + pc.column_offset + c];
}
