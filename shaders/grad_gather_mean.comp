#version 450
#extension GL_GOOGLE_include_directive : require
// Backward of gather_mean as a gather over the transposed list (no atomics):
//   dsrc[r, :] = sum over q in [t_offsets[r], t_offsets[r + 1]) of
//                dy[m, :] / (offsets[m + 1] - offsets[m]),  m = t_sources[q].
// The layout of gather_mean.comp: gl_WorkGroupID.x a block of columns, the
// flat y/z index the source row. The host builds the transposed list from the
// forward one; here, defensively, ranges are clamped to the list and entries
// with an out-of-range m or an empty forward range are skipped.
#include "common.glsl"

INPUT_BUFFER_INT(0, offsets)
INPUT_BUFFER_INT(1, t_offsets)
INPUT_BUFFER_INT(2, t_sources)
INPUT_BUFFER(3, dy)
OUTPUT_BUFFER(4, dsrc)

layout(push_constant) uniform Push {
    uint offsets_offset;
    uint t_offsets_offset;
    uint t_sources_offset;
    uint dy_offset;
    uint dsrc_offset;
    uint R;   // source rows
    uint D;
    uint M;   // forward output rows
    uint nnz; // entries of t_sources
} pc;

void main()
{
    uint r = gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y;
    uint c = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (r >= pc.R || c >= pc.D)
        return;
    int nnz = int(pc.nnz);
    int begin = clamp(t_offsets[pc.t_offsets_offset + r], 0, nnz);
    int end = clamp(t_offsets[pc.t_offsets_offset + r + 1u], begin, nnz);
    float sum = 0.0;
    for (int q = begin; q < end; q++) {
        int m = t_sources[pc.t_sources_offset + uint(q)];
        if (m < 0 || uint(m) >= pc.M)
            continue;
        int count = offsets[pc.offsets_offset + uint(m) + 1u] - offsets[pc.offsets_offset + uint(m)];
        if (count <= 0)
            continue;
        sum += dy[pc.dy_offset + uint(m) * pc.D + c] / float(count);
    }
    dsrc[pc.dsrc_offset + r * pc.D + c] = sum;
}
