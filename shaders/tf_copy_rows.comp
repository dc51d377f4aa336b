#version 450
#extension GL_GOOGLE_include_directive : require
// dst[b, row_offset + i, :] = src[b, i, :] (ops_transformer.h, mg_op_copy_rows).
#include "common.glsl"

INPUT_BUFFER(0, src)
OUTPUT_BUFFER(1, dst)

layout(push_constant) uniform Push {
    uint src_offset;
    uint dst_offset;
    uint count;     // batch * n * dim
    uint block;     // n * dim: one batch's source rows
    uint dst_block; // dst_rows * dim
    uint row_shift; // row_offset * dim
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    uint b = i / pc.block;
    uint r = i % pc.block;
    dst[pc.dst_offset + b * pc.dst_block + pc.row_shift + r] = src[pc.src_offset + i];
}
