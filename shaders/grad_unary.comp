#version 450
#extension GL_GOOGLE_include_directive : require
// d_x = d_out * f'(x) for the activations of unary.comp (constant 1 is the
// mg_unary_op); SCALE: d_x = alpha * d_out. In place (d_x = d_out) is safe:
// each invocation reads its element before writing it.
#include "common.glsl"
#include "grad_common.glsl"

layout(constant_id = 1) const uint OP = 0;

INOUT_BUFFER(0, g)
INPUT_BUFFER(1, x)
INOUT_BUFFER(2, dx)

layout(push_constant) uniform Push {
    uint g_offset;
    uint x_offset;
    uint dx_offset;
    uint count;
    float alpha;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    float d = g[pc.g_offset + i];
    float r;
    if (OP == 0) {
        r = pc.alpha * d;
    } else {
        float v = x[pc.x_offset + i];
        float derivative;
        if (OP == 1) {
            float s = sigmoid_stable(v);
            derivative = s * (1.0 + v * (1.0 - s));
        } else if (OP == 2) {
            derivative = gelu_erf_derivative(v);
        } else if (OP == 3) {
            float s = sigmoid_stable(v);
            derivative = s * (1.0 - s);
        } else if (OP == 4) {
            float t = tanh_stable(v);
            derivative = 1.0 - t * t;
        } else {
            derivative = v > 0.0 ? 1.0 : 0.0;
        }
        r = d * derivative;
    }
    dx[pc.dx_offset + i] = r;
}
