#version 450
#extension GL_GOOGLE_include_directive : require
// Embedding backward as a gather over a host-built list:
//   table[rows[u], c] += sum over p in the chunk of [offsets[u], offsets[u + 1])
//                        of g[positions[p], c]
// The chunk is [offsets[u] + chunk_begin, offsets[u] + chunk_end) within the
// row's range: the host covers long lists with several dispatches that add in
// order. One invocation per (u, c): neighbours read neighbouring columns.
// Malformed lists must not read or write out of bounds: ranges are clamped to
// [0, nnz] (end >= begin), rows outside [0, vocab) and positions outside
// [0, n_ids) are skipped.
#include "common.glsl"

INPUT_BUFFER(0, g)
INPUT_BUFFER_INT(1, rows)
INPUT_BUFFER_INT(2, offsets)
INPUT_BUFFER_INT(3, positions)
INOUT_BUFFER(4, table)

layout(push_constant) uniform Push {
    uint g_offset;
    uint rows_offset;
    uint offsets_offset;
    uint positions_offset;
    uint table_offset;
    uint unique;
    uint dim;
    uint vocab;
    uint n_ids;
    uint nnz;
    uint chunk_begin;
    uint chunk_end;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.unique * pc.dim)
        return;
    uint u = i / pc.dim, col = i - u * pc.dim;
    int row = rows[pc.rows_offset + u];
    if (row < 0 || uint(row) >= pc.vocab)
        return;
    int nnz = int(pc.nnz);
    int begin = clamp(offsets[pc.offsets_offset + u], 0, nnz);
    int end = clamp(offsets[pc.offsets_offset + u + 1u], begin, nnz);
    int from = min(begin + int(pc.chunk_begin), end);
    int to = min(begin + int(pc.chunk_end), end);
    if (from >= to)
        return;
    float sum = 0.0;
    for (int p = from; p < to; p++) {
        int s = positions[pc.positions_offset + uint(p)];
        if (s >= 0 && uint(s) < pc.n_ids)
            sum += g[pc.g_offset + uint(s) * pc.dim + col];
    }
    uint at = pc.table_offset + uint(row) * pc.dim + col;
    table[at] += sum;
}
