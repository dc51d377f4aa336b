#version 450
#extension GL_GOOGLE_include_directive : require
// Backward of masked_mean: dx[b, t, c] = mask[b, t] != 0 ? dy[b, c] / max(count_b, eps) : 0,
// count_b = the rows of batch element b whose mask is non-zero (all N without a mask).
// A workgroup (gl_WorkGroupID.y = b) counts the mask rows of b (a fixed-order
// tree in shared memory), then writes PER_INVOCATION elements per invocation
// of its block of b's N * C gradient elements.
#include "common.glsl"

layout(constant_id = 1) const uint PER_INVOCATION = 4;

INPUT_BUFFER_INT(0, mask)
INPUT_BUFFER(1, dy)
OUTPUT_BUFFER(2, dx)

layout(push_constant) uniform Push {
    uint mask_offset;
    uint dy_offset;
    uint dx_offset;
    uint N;
    uint C;
    uint has_mask;
    float eps;
} pc;

shared uint counts[gl_WorkGroupSize.x];

void main()
{
    const uint threads = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint b = gl_WorkGroupID.y;
    uint count = 0u;
    if (pc.has_mask != 0u) {
        for (uint r = t; r < pc.N; r += threads)
            count += mask[pc.mask_offset + b * pc.N + r] != 0 ? 1u : 0u;
    }
    counts[t] = count;
    barrier();
    for (uint stride = threads / 2u; stride > 0u; stride /= 2u) {
        if (t < stride)
            counts[t] += counts[t + stride];
        barrier();
    }
    float rows = pc.has_mask != 0u ? float(counts[0]) : float(pc.N);
    float scale = 1.0 / max(rows, pc.eps);
    uint block = gl_WorkGroupID.x * threads * PER_INVOCATION;
    [[unroll]] for (uint j = 0; j < PER_INVOCATION; j++) {
        uint e = block + j * threads + t;
        if (e >= pc.N * pc.C)
            break;
        uint r = e / pc.C, c = e - r * pc.C;
        bool kept = pc.has_mask == 0u || mask[pc.mask_offset + b * pc.N + r] != 0;
        dx[pc.dx_offset + b * pc.N * pc.C + e] = kept ? dy[pc.dy_offset + b * pc.C + c] * scale : 0.0;
    }
}
