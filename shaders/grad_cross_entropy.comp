#version 450
#extension GL_GOOGLE_include_directive : require
// Cross-entropy with logits, forward and backward fused, one workgroup per row
// of logits[rows, V]. Target t outside [0, V) (the ignore index): loss 0 and a
// zero gradient. Otherwise, with w = weights[row] (or 1):
//   loss[row]  = w * (max + log(sum exp(x - max)) - x[t])
//   dx[row, j] = scale * w * (exp(x_j - max) / sum - [j == t])
// In place (dx = logits) is safe: x[t] is read before the reductions (whose
// barriers order it before any write) and each invocation reads its own
// elements before writing them.
#include "common.glsl"

INOUT_BUFFER(0, x)
INPUT_BUFFER_INT(1, targets)
INPUT_BUFFER(2, weights)
INOUT_BUFFER(3, loss)
INOUT_BUFFER(4, dx)

layout(push_constant) uniform Push {
    uint x_offset;
    uint targets_offset;
    uint weights_offset;
    uint loss_offset;
    uint dx_offset;
    uint rows;
    uint V;
    uint has_weights;
    uint has_loss;
    uint has_dx;
    float scale;
} pc;

#include "reduce.glsl"

void main()
{
    uint row = flat_workgroup_index();
    if (row >= pc.rows)
        return;
    uint t = gl_LocalInvocationID.x;
    uint xb = pc.x_offset + row * pc.V, ob = pc.dx_offset + row * pc.V;
    int target_index = targets[pc.targets_offset + row];
    if (target_index < 0 || uint(target_index) >= pc.V) {
        if (t == 0u && pc.has_loss != 0u)
            loss[pc.loss_offset + row] = 0.0;
        if (pc.has_dx != 0u)
            for (uint j = t; j < pc.V; j += gl_WorkGroupSize.x)
                dx[ob + j] = 0.0;
        return; // uniform per workgroup
    }
    float w = pc.has_weights != 0u ? weights[pc.weights_offset + row] : 1.0;
    float target_logit = x[xb + uint(target_index)];

    const float neg_inf = uintBitsToFloat(0xff800000u);
    float m = neg_inf;
    for (uint j = t; j < pc.V; j += gl_WorkGroupSize.x)
        m = max(m, x[xb + j]);
    m = workgroup_max(m);
    float s = 0.0;
    for (uint j = t; j < pc.V; j += gl_WorkGroupSize.x)
        s += exp(x[xb + j] - m);
    s = workgroup_sum(s);

    if (t == 0u && pc.has_loss != 0u)
        loss[pc.loss_offset + row] = w * (m + log(s) - target_logit);
    if (pc.has_dx != 0u) {
        float k = pc.scale * w, inv = 1.0 / s;
        for (uint j = t; j < pc.V; j += gl_WorkGroupSize.x) {
            float p = exp(x[xb + j] - m) * inv;
            dx[ob + j] = k * (p - (j == uint(target_index) ? 1.0 : 0.0));
        }
    }
}
