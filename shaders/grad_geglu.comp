#version 450
#extension GL_GOOGLE_include_directive : require
// GEGLU backward: x[r, 2n] = [value | gate], g[r, n] the output gradient:
//   dx[r, i]     = g * gelu(gate[i])
//   dx[r, n + i] = g * value[i] * gelu'(gate[i])
#include "common.glsl"
#include "grad_common.glsl"

INPUT_BUFFER(0, x)
INPUT_BUFFER(1, g)
OUTPUT_BUFFER(2, dx)

layout(push_constant) uniform Push {
    uint x_offset;
    uint g_offset;
    uint dx_offset;
    uint rows;
    uint n;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.rows * pc.n)
        return;
    uint r = i / pc.n, c = i - r * pc.n;
    uint xi = pc.x_offset + r * 2u * pc.n + c;
    float value = x[xi], gate = x[xi + pc.n];
    float d = g[pc.g_offset + i];
    uint di = pc.dx_offset + r * 2u * pc.n + c;
    dx[di] = d * gelu_erf(gate);
    dx[di + pc.n] = d * value * gelu_erf_derivative(gate);
}
