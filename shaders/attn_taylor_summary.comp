#version 450
#extension GL_GOOGLE_include_directive : require
// Key/value summaries of Taylor-series linear attention, one invocation per
// summary element (b, h, f, e), e in [0, d]:
//   S[b, h, f, e] = sum over unmasked t of phi(k_t)[f] * (e < d ? v_t[e] : 1)
// with phi(x) = [1, x, vec(x x^T) / sqrt 2] (f = 1 + d + i d + j <-> x_i x_j).
// kv[b, t, :] = (k | v), each heads x d.
#include "common.glsl"

INPUT_BUFFER(0, kv)
INPUT_BUFFER_INT(1, mask)
OUTPUT_BUFFER(2, summary)

layout(push_constant) uniform Push {
    uint kv_offset;
    uint mask_offset;
    uint summary_offset;
    uint batch;
    uint n;
    uint heads;
    uint dim_head;
    uint has_mask;
} pc;

void main()
{
    uint d = pc.dim_head;
    uint features = 1u + d + d * d;
    uint index = flat_invocation_index();
    if (index >= pc.batch * pc.heads * features * (d + 1u))
        return;
    uint e = index % (d + 1u);
    uint rest = index / (d + 1u);
    uint f = rest % features;
    rest /= features;
    uint h = rest % pc.heads;
    uint b = rest / pc.heads;
    uint inner = pc.heads * d;

    // Which key components feature f multiplies (f = 0: the constant 1).
    uint i = 0u, jj = 0u;
    uint order = f == 0u ? 0u : f <= d ? 1u : 2u;
    if (order == 1u)
        i = f - 1u;
    else if (order == 2u) {
        i = (f - 1u - d) / d;
        jj = (f - 1u - d) % d;
    }
    const float inv_sqrt2 = 0.70710678118654752;

    float sum = 0.0;
    for (uint t = 0u; t < pc.n; t++) {
        if (pc.has_mask != 0u && mask[pc.mask_offset + b * pc.n + t] == 0)
            continue;
        uint k_base = pc.kv_offset + (b * pc.n + t) * 2u * inner + h * d;
        float phi = 1.0;
        if (order == 1u)
            phi = kv[k_base + i];
        else if (order == 2u)
            phi = (kv[k_base + i] * kv[k_base + jj]) * inv_sqrt2;
        float value = e < d ? kv[k_base + inner + e] : 1.0;
        sum += phi * value;
    }
    summary[pc.summary_offset + index] = sum;
}
