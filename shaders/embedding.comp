#version 450
#extension GL_GOOGLE_include_directive : require
// y[i, :] = table[ids[i], :]; ids outside [0, vocab) give zeros (the pad id -1).
#include "common.glsl"


WEIGHT_BUFFER(0, table)
INPUT_BUFFER_INT(1, ids)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint table_offset;
    uint ids_offset;
    uint y_offset;
    uint id_count;
    uint dim;
    uint vocab;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.id_count * pc.dim)
        return;
    uint row = i / pc.dim;
    uint col = i - row * pc.dim;
    int id = ids[pc.ids_offset + row];
    float v = 0.0;
    if (id >= 0 && uint(id) < pc.vocab)
        v = LOAD_WEIGHT(table, pc.table_offset + uint(id) * pc.dim + col);
    y[pc.y_offset + i] = v;
}
