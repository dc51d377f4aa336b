#version 450
#extension GL_GOOGLE_include_directive : require
// Read-out of Taylor-series linear attention, one invocation per output
// element (b, t, h, e): with x = q[b, t, h, :] * scale and phi(x) = [1, x,
// vec(x x^T) / sqrt 2],
//   out = (phi . S[b, h, :, e]) / max(phi . S[b, h, :, d], eps).
#include "common.glsl"

INPUT_BUFFER(0, q)
INPUT_BUFFER(1, summary)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint q_offset;
    uint summary_offset;
    uint y_offset;
    uint batch;
    uint n;
    uint heads;
    uint dim_head;
    float scale;
    float eps;
} pc;

void main()
{
    uint d = pc.dim_head;
    uint inner = pc.heads * d;
    uint index = flat_invocation_index();
    if (index >= pc.batch * pc.n * inner)
        return;
    uint e = index % d;
    uint h = (index / d) % pc.heads;
    uint bt = index / inner;
    uint b = bt / pc.n;
    uint features = 1u + d + d * d;
    uint q_base = pc.q_offset + bt * inner + h * d;
    uint s_base = pc.summary_offset + (b * pc.heads + h) * features * (d + 1u);
    const float inv_sqrt2 = 0.70710678118654752;

    // f = 0: the constant feature
    float num = summary[s_base + e];
    float den = summary[s_base + d];
    for (uint i = 0u; i < d; i++) {
        float xi = q[q_base + i] * pc.scale;
        uint row = s_base + (1u + i) * (d + 1u);
        num += xi * summary[row + e];
        den += xi * summary[row + d];
        for (uint j = 0u; j < d; j++) {
            float xj = q[q_base + j] * pc.scale;
            float phi = (xi * xj) * inv_sqrt2;
            uint row2 = s_base + (1u + d + i * d + j) * (d + 1u);
            num += phi * summary[row2 + e];
            den += phi * summary[row2 + d];
        }
    }
    y[pc.y_offset + index] = num * (1.0 / max(den, pc.eps));
}
