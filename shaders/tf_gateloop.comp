#version 450
#extension GL_GOOGLE_include_directive : require
// SimpleGateLoopLayer's recurrence (ops_transformer.h, mg_op_gateloop), one
// invocation per (batch, channel), sequential over the sequence:
// h_t = sigmoid(a_t) * h_{t-1} + kv_t, out_t = q_t * h_t, h_{-1} = state or 0;
// the state, when given, receives h_{N-1}.
#include "common.glsl"

INPUT_BUFFER(0, qkva)
INOUT_BUFFER(1, state)
OUTPUT_BUFFER(2, y)

layout(push_constant) uniform Push {
    uint qkva_offset;
    uint state_offset;
    uint y_offset;
    uint batch;
    uint n;
    uint dim;
    uint has_state;
} pc;

void main()
{
    uint index = flat_invocation_index();
    if (index >= pc.batch * pc.dim)
        return;
    uint d = index % pc.dim;
    uint b = index / pc.dim;
    float h = pc.has_state != 0u ? state[pc.state_offset + index] : 0.0;
    for (uint t = 0u; t < pc.n; t++) {
        uint row = pc.qkva_offset + (b * pc.n + t) * 3u * pc.dim;
        h = sigmoid_stable(qkva[row + 2u * pc.dim + d]) * h + qkva[row + pc.dim + d];
        y[pc.y_offset + (b * pc.n + t) * pc.dim + d] = qkva[row + d] * h;
    }
    if (pc.has_state != 0u)
        state[pc.state_offset + index] = h;
}
