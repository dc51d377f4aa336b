#version 450
#extension GL_GOOGLE_include_directive : require
// x[rows, 2n] -> y[rows, n] = x[:, :n] * gelu(x[:, n:])
#include "common.glsl"


INPUT_BUFFER(0, x)
OUTPUT_BUFFER(1, y)

layout(push_constant) uniform Push {
    uint x_offset;
    uint y_offset;
    uint rows;
    uint n;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.rows * pc.n)
        return;
    uint row = i / pc.n;
    uint col = i - row * pc.n;
    uint base = pc.x_offset + row * 2u * pc.n;
    y[pc.y_offset + i] = x[base + col] * gelu_erf(x[base + pc.n + col]);
}
