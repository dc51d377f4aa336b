#version 450
#extension GL_GOOGLE_include_directive : require
// GateLoop backward (ops_grad_tf.h, mg_op_gateloop_backward), one invocation
// per (batch, channel), initial state zero. The forward recurrence
// h_t = sigmoid(a_t) h_{t-1} + kv_t runs first, parking h_t in the kv slot of
// d_qkva; then, backwards in time, with carry = g_{t+1} dh_{t+1}:
//   dh_t = d_out_t q_t + carry, d_q_t = d_out_t h_t, d_kv_t = dh_t,
//   d_a_t = dh_t h_{t-1} g_t (1 - g_t),
// where step t overwrites the parked h_t only after its last use. 2N loop
// iterations per invocation (the host keeps them within lavapipe's guard).
#include "common.glsl"

INPUT_BUFFER(0, qkva)
INPUT_BUFFER(1, d_out)
INOUT_BUFFER(2, d_qkva)

layout(push_constant) uniform Push {
    uint qkva_offset;
    uint d_out_offset;
    uint d_qkva_offset;
    uint batch;
    uint n;
    uint dim;
} pc;

void main()
{
    uint index = flat_invocation_index();
    if (index >= pc.batch * pc.dim)
        return;
    uint d = index % pc.dim;
    uint b = index / pc.dim;
    uint stride = 3u * pc.dim;
    uint first = (b * pc.n) * stride + d; // channel d of row (b, 0)
    float h = 0.0;
    for (uint t = 0u; t < pc.n; t++) {
        uint at = first + t * stride;
        h = sigmoid_stable(qkva[pc.qkva_offset + at + 2u * pc.dim]) * h + qkva[pc.qkva_offset + at + pc.dim];
        d_qkva[pc.d_qkva_offset + at + pc.dim] = h;
    }
    float carry = 0.0;
    for (uint t = pc.n; t > 0u; t--) {
        uint at = first + (t - 1u) * stride;
        float h_t = d_qkva[pc.d_qkva_offset + at + pc.dim];
        float h_prev = t > 1u ? d_qkva[pc.d_qkva_offset + at - stride + pc.dim] : 0.0;
        float g = sigmoid_stable(qkva[pc.qkva_offset + at + 2u * pc.dim]);
        float go = d_out[pc.d_out_offset + (b * pc.n + t - 1u) * pc.dim + d];
        float dh = go * qkva[pc.qkva_offset + at] + carry;
        d_qkva[pc.d_qkva_offset + at] = go * h_t;
        d_qkva[pc.d_qkva_offset + at + pc.dim] = dh;
        d_qkva[pc.d_qkva_offset + at + 2u * pc.dim] = dh * h_prev * g * (1.0 - g);
        carry = g * dh;
    }
}
