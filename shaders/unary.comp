#version 450
#extension GL_GOOGLE_include_directive : require
// out = f(x), elementwise. f is chosen by constant 1 (mg_unary_op).
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0;

INPUT_BUFFER(0, x)
OUTPUT_BUFFER(1, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint y_offset;
    uint count;
    float alpha;
    float beta;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    float v = x[pc.x_offset + i];
    float r;
    if (OP == 0) r = pc.alpha * v + pc.beta;
    else if (OP == 1) r = v * sigmoid_stable(v);
    else if (OP == 2) r = gelu_erf(v);
    else if (OP == 3) r = sigmoid_stable(v);
    else if (OP == 4) r = tanh_stable(v);
    else r = max(v, 0.0);
    y[pc.y_offset + i] = r;
}
