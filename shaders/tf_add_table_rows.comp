#version 450
#extension GL_GOOGLE_include_directive : require
// out[b, t, :] = x[b, t, :] + table[((t + offset (+ step)) / divisor) % period, :]
// (ops_transformer.h, mg_op_add_table_rows); table f32 or f16 (WEIGHT_F16).
#include "common.glsl"

INPUT_BUFFER(0, x)
WEIGHT_BUFFER(1, table)
OUTPUT_BUFFER(2, y)
INPUT_BUFFER_INT(3, step) // optional: positions added to offset (replayed decoding steps)

layout(push_constant) uniform Push {
    uint x_offset;
    uint table_offset;
    uint y_offset;
    uint count;
    uint n;
    uint dim;
    uint offset;  // first position modulo divisor * period (the host reduces it)
    uint divisor;
    uint period;
    uint step_offset;
    uint has_step;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    uint c = i % pc.dim;
    uint t = (i / pc.dim) % pc.n;
    uint offset = pc.offset;
    if (pc.has_step != 0u) // reduced like the host's offset: the row only depends on it modulo divisor * period
        offset += uint(max(step[pc.step_offset], 0)) % (pc.divisor * pc.period);
    uint row = ((t + offset) / pc.divisor) % pc.period;
    y[pc.y_offset + i] = x[pc.x_offset + i] + LOAD_WEIGHT(table, pc.table_offset + row * pc.dim + c);
}
