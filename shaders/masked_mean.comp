#version 450
#extension GL_GOOGLE_include_directive : require
// out[b, c] = sum over rows t with mask[b, t] != 0 (every row without a mask)
// of x[b, t, c], divided by max(count, eps). x [B, N, C] channels last.
//
// A workgroup owns COLS consecutive channels of one batch element
// (gl_WorkGroupID.x: channel block, gl_WorkGroupID.y: batch); its
// COLS * LANES invocations read rows in LANES interleaved streams, each
// invocation one channel (neighbours: neighbouring channels, coalesced), and
// the LANES partial sums of a channel are added in shared memory in lane order.
#include "common.glsl"

layout(constant_id = 1) const uint COLS = 64;
layout(constant_id = 2) const uint LANES = 4; // gl_WorkGroupSize.x == COLS * LANES

INPUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, mask)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint mask_offset;
    uint y_offset;
    uint N;
    uint C;
    uint has_mask;
    float eps;
} pc;

shared float partial_sum[COLS * LANES];
shared float partial_count[LANES];

void main()
{
    uint t = gl_LocalInvocationID.x;
    uint col = t % COLS, lane = t / COLS;
    uint c = gl_WorkGroupID.x * COLS + col;
    uint b = gl_WorkGroupID.y;
    float sum = 0.0, count = 0.0;
    for (uint r = lane; r < pc.N; r += LANES) {
        if (pc.has_mask != 0u && mask[pc.mask_offset + b * pc.N + r] == 0)
            continue;
        count += 1.0;
        if (c < pc.C)
            sum += x[pc.x_offset + (b * pc.N + r) * pc.C + c];
    }
    partial_sum[t] = sum;
    if (col == 0u)
        partial_count[lane] = count;
    barrier();
    if (lane == 0u && c < pc.C) {
        float total = 0.0, rows = 0.0;
        for (uint l = 0; l < LANES; l++) {
            total += partial_sum[l * COLS + col];
            rows += partial_count[l];
        }
        y[pc.y_offset + b * pc.C + c] = total / max(rows, pc.eps);
    }
}
