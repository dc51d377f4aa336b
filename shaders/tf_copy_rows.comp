#version 450
#extension GL_GOOGLE_include_directive : require
// dst[b, row_offset (+ step) + i, :] = src[b, i, :] (ops_transformer.h, mg_op_copy_rows_at).
#include "common.glsl"

INPUT_BUFFER(0, src)
OUTPUT_BUFFER(1, dst)
INPUT_BUFFER_INT(2, step) // optional: rows added to row_offset (replayed decoding steps)

layout(push_constant) uniform Push {
    uint src_offset;
    uint dst_offset;
    uint count;     // batch * n * dim
    uint block;     // n * dim: one batch's source rows
    uint dst_block; // dst_rows * dim
    uint row_shift; // row_offset * dim
    uint step_offset;
    uint has_step;
    uint dim;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    uint b = i / pc.block;
    uint r = i % pc.block;
    uint shift = pc.row_shift;
    if (pc.has_step != 0u) {
        // The host could not check this offset: rows past dst are dropped.
        shift += uint(max(step[pc.step_offset], 0)) * pc.dim;
        if (shift + r >= pc.dst_block)
            return;
    }
    dst[pc.dst_offset + b * pc.dst_block + shift + r] = src[pc.src_offset + i];
}
