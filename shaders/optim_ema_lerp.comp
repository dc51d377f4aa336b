#version 450
#extension GL_GOOGLE_include_directive : require
// ema = torch.lerp(ema, param, weight) elementwise (train/optim.h).
#include "common.glsl"

INOUT_BUFFER(0, ema)
INPUT_BUFFER(1, param)

layout(push_constant) uniform Push {
    uint ema_offset;
    uint param_offset;
    uint count;
    float weight;
} pc;

void main()
{
    uint i = flat_invocation_index();
    if (i >= pc.count)
        return;
    float a = ema[pc.ema_offset + i];
    float b = param[pc.param_offset + i];
    float w = pc.weight;
    ema[pc.ema_offset + i] = w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}
