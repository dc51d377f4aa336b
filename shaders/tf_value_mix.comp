#version 450
#extension GL_GOOGLE_include_directive : require
// x-transformers' value residual (ops_transformer.h, mg_op_value_residual_mix):
// out = v * s + v_first * (1 - s), s = sigmoid(mix[row, head]) or 0.5 without mix.
#include "common.glsl"

INPUT_BUFFER(0, v)
INPUT_BUFFER(1, v_first)
INPUT_BUFFER(2, mix_logits)
OUTPUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint v_offset;
    uint v_first_offset;
    uint mix_offset;
    uint y_offset;
    uint count;
    uint heads;
    uint dim_head;
    uint has_mix;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    uint head_index = i / pc.dim_head; // row * heads + head
    float s = pc.has_mix != 0u ? sigmoid_stable(mix_logits[pc.mix_offset + head_index]) : 0.5;
    float a = v[pc.v_offset + i];
    float f = v_first[pc.v_first_offset + i];
    y[pc.y_offset + i] = a * s + f * (1.0 - s);
}
