#version 450
#extension GL_GOOGLE_include_directive : require
// Attention backward, first step (ops_grad_tf.h): the memory key/values
// (f32, or f16 with WEIGHT_F16) copied to one f32 buffer mem [2, count]
// (keys, then values), so that the other attention backward shaders bind one
// buffer for both and stay within 8 bindings.
#include "common.glsl"

WEIGHT_BUFFER(0, mem_k)
WEIGHT_BUFFER(1, mem_v)
OUTPUT_BUFFER(2, mem)

layout(push_constant) uniform Push {
    uint mem_k_offset;
    uint mem_v_offset;
    uint mem_offset;
    uint count; // heads * mems * dh
} pc;

void main()
{
    uint e = flat_invocation_index();
    if (e >= pc.count)
        return;
    mem[pc.mem_offset + e] = LOAD_WEIGHT(mem_k, pc.mem_k_offset + e);
    mem[pc.mem_offset + pc.count + e] = LOAD_WEIGHT(mem_v, pc.mem_v_offset + e);
}
