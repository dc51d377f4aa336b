#version 450
#extension GL_GOOGLE_include_directive : require
// One Adam / AdamW step over one f32 parameter (train/optim.h), in the same
// f32 operation order as the CPU reference (train/optim_ref.c).
#include "common.glsl"

INOUT_BUFFER(0, param)
INPUT_BUFFER(1, grad)
INOUT_BUFFER(2, m)
INOUT_BUFFER(3, v)

layout(push_constant) uniform Push {
    uint param_offset;
    uint grad_offset;
    uint m_offset;
    uint v_offset;
    uint count;
    float decay_factor;
    float one_minus_beta1;
    float beta2;
    float one_minus_beta2;
    float step_size;
    float bias2_sqrt;
    float eps;
} pc;

// torch.lerp: exact at both ends.
float lerp_torch(float a, float b, float w)
{
    return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    float g = grad[pc.grad_offset + i];
    float p = param[pc.param_offset + i] * pc.decay_factor;
    float mi = lerp_torch(m[pc.m_offset + i], g, pc.one_minus_beta1);
    float vi = v[pc.v_offset + i] * pc.beta2 + pc.one_minus_beta2 * g * g;
    float denom = sqrt(vi) / pc.bias2_sqrt + pc.eps;
    param[pc.param_offset + i] = p - pc.step_size * mi / denom;
    m[pc.m_offset + i] = mi;
    v[pc.v_offset + i] = vi;
}
