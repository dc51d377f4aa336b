#version 450
#extension GL_GOOGLE_include_directive : require
// Attention backward, last step for the memories (ops_grad_tf.h): the
// per-batch shares part [2, B, H, mems, dh] of grad_tf_attention_keys.comp
// (MEMORY_KEYS) are summed over the batch in order and added to the
// parameter gradients d_mem_k and d_mem_v [H, mems, dh] (+=).
#include "common.glsl"

INPUT_BUFFER(0, part)
INOUT_BUFFER(1, d_mem_k)
INOUT_BUFFER(2, d_mem_v)

layout(push_constant) uniform Push {
    uint part_offset;
    uint d_mem_k_offset;
    uint d_mem_v_offset;
    uint count; // heads * mems * dh
    uint batch;
    uint has_d_mem_k;
    uint has_d_mem_v;
} pc;

void main()
{
    uint e = flat_invocation_index();
    if (e >= pc.count)
        return;
    float sum_k = 0.0, sum_v = 0.0;
    for (uint b = 0u; b < pc.batch; b++) {
        sum_k += part[pc.part_offset + b * pc.count + e];
        sum_v += part[pc.part_offset + (pc.batch + b) * pc.count + e];
    }
    if (pc.has_d_mem_k != 0u)
        d_mem_k[pc.d_mem_k_offset + e] += sum_k;
    if (pc.has_d_mem_v != 0u)
        d_mem_v[pc.d_mem_v_offset + e] += sum_v;
}
