#version 450
#extension GL_GOOGLE_include_directive : require
// Value residual backward (ops_grad_tf.h, mg_op_value_residual_mix_backward),
// one invocation per (row, head), looping over the head's channels:
//   d_v = d_out s (overwritten), d_v_first += d_out (1 - s) (accumulated),
//   d_mix = s (1 - s) sum_c d_out (v - v_first) (overwritten),
// s = sigmoid(mix_logits[row, head]) or 0.5 without them. Each channel's d_out
// is read before d_v is written there, so d_v may be d_out.
#include "common.glsl"

INPUT_BUFFER(0, v)
INPUT_BUFFER(1, v_first)
INPUT_BUFFER(2, mix_logits)
INPUT_BUFFER(3, d_out)
OUTPUT_BUFFER(4, d_v)
INOUT_BUFFER(5, d_v_first)
OUTPUT_BUFFER(6, d_mix)

layout(push_constant) uniform Push {
    uint v_offset;
    uint v_first_offset;
    uint mix_offset;
    uint d_out_offset;
    uint d_v_offset;
    uint d_v_first_offset;
    uint d_mix_offset;
    uint items; // rows * heads
    uint dim_head;
    uint has_mix;
    uint has_d_v;
    uint has_d_v_first;
    uint has_d_mix;
} pc;

void main()
{
    uint item = flat_invocation_index(); // row * heads + head
    if (item >= pc.items)
        return;
    float s = pc.has_mix != 0u ? sigmoid_stable(mix_logits[pc.mix_offset + item]) : 0.5;
    float dot = 0.0;
    uint base = item * pc.dim_head;
    for (uint c = 0u; c < pc.dim_head; c++) {
        uint i = base + c;
        float g = d_out[pc.d_out_offset + i];
        dot += g * (v[pc.v_offset + i] - v_first[pc.v_first_offset + i]);
        if (pc.has_d_v_first != 0u)
            d_v_first[pc.d_v_first_offset + i] += g * (1.0 - s);
        if (pc.has_d_v != 0u)
            d_v[pc.d_v_offset + i] = g * s;
    }
    if (pc.has_d_mix != 0u)
        d_mix[pc.d_mix_offset + item] = dot * s * (1.0 - s);
}
