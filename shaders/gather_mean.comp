#version 450
#extension GL_GOOGLE_include_directive : require
// Mean over a compressed sparse row list: y[m, :] = mean of src[indices[p], :]
// for p in [offsets[m], offsets[m + 1]); zeros for an empty range.
//
// A 2-D grid: gl_WorkGroupID.x is a block of gl_WorkGroupSize.x columns,
// the flat y/z index (see row_index) the output row; neighbouring invocations
// read neighbouring columns of the same source row (coalesced).
//
// Malformed input (the CPU backend refuses it; here it must not read out of
// bounds): offsets are clamped to [0, nnz] and the end to >= the begin;
// indices outside [0, R) are skipped, neither summed nor counted.
#include "common.glsl"

INPUT_BUFFER(0, src)
INPUT_BUFFER_INT(1, offsets)
INPUT_BUFFER_INT(2, indices)
OUTPUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint src_offset;
    uint offsets_offset;
    uint indices_offset;
    uint y_offset;
    uint M;
    uint D;
    uint R;
    uint nnz;
} pc;

void main()
{
    // rows are spread over y and z when M exceeds the y limit
    uint m = gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y;
    uint c = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (m >= pc.M || c >= pc.D)
        return;
    int nnz = int(pc.nnz);
    int begin = clamp(offsets[pc.offsets_offset + m], 0, nnz);
    int end = clamp(offsets[pc.offsets_offset + m + 1u], begin, nnz);
    float sum = 0.0;
    uint count = 0u;
    for (int p = begin; p < end; p++) {
        int s = indices[pc.indices_offset + uint(p)];
        if (s < 0 || uint(s) >= pc.R)
            continue;
        sum += src[pc.src_offset + uint(s) * pc.D + c];
        count++;
    }
    y[pc.y_offset + m * pc.D + c] = count > 0u ? sum / float(count) : 0.0;
}
