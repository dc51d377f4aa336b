#version 450
#extension GL_GOOGLE_include_directive : require
// copy_rows backward for src (ops_grad_tf.h, mg_op_copy_rows_backward):
// d_src[b, i, :] = d_dst[b, row_offset + i, :].
#include "common.glsl"

INPUT_BUFFER(0, d_dst)
OUTPUT_BUFFER(1, d_src)

layout(push_constant) uniform Push {
    uint d_dst_offset;
    uint d_src_offset;
    uint count;     // batch * n * dim
    uint block;     // n * dim: one batch's rows of d_src
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
    d_src[pc.d_src_offset + i] = d_dst[pc.d_dst_offset + b * pc.dst_block + pc.row_shift + r];
}
