#version 450
#extension GL_GOOGLE_include_directive : require
// add_table_rows backward for the table (ops_grad_tf.h,
// mg_op_add_table_rows_backward): one invocation per table element (r, c) of
// the rows in use (r < period), summing d_out[b, t, c] over the (b, t) that
// read row r and adding the sum to d_table (+=). Row r is read at positions
// p = t + offset in [r divisor + k cycle, r divisor + k cycle + divisor)
// (cycle = divisor * period; the host reduces offset modulo the cycle), which
// are enumerated directly in increasing t: no atomics, no index list. The
// host splits the batch over dispatches [batch_begin, batch_end) so that each
// invocation stays within lavapipe's loop guard.
#include "common.glsl"

INPUT_BUFFER(0, d_out)
INOUT_BUFFER(1, d_table)

layout(push_constant) uniform Push {
    uint d_out_offset;
    uint d_table_offset;
    uint n;
    uint dim;
    uint offset;  // first position modulo divisor * period
    uint divisor;
    uint period;
    uint batch_begin;
    uint batch_end;
} pc;

void main()
{
    uint e = flat_invocation_index();
    if (e >= pc.period * pc.dim)
        return;
    uint c = e % pc.dim;
    uint r = e / pc.dim;
    uint cycle = pc.divisor * pc.period;
    uint end = pc.offset + pc.n; // positions [offset, offset + n)
    float sum = 0.0;
    for (uint b = pc.batch_begin; b < pc.batch_end; b++) {
        uint row0 = pc.d_out_offset + b * pc.n * pc.dim + c;
        for (uint start = r * pc.divisor; start < end; start += cycle) {
            uint stop = min(start + pc.divisor, end);
            for (uint pos = max(start, pc.offset); pos < stop; pos++)
                sum += d_out[row0 + (pos - pc.offset) * pc.dim];
        }
    }
    d_table[pc.d_table_offset + e] += sum;
}
