#version 450
#extension GL_GOOGLE_include_directive : require
// indices[n] = argmin_k ||x[n] - codebook[k]||^2 over the K codebook rows,
// one workgroup per row of x. Ties go to the lowest k; NaN distances never
// win (a row where every distance is NaN gets 0). Distances are summed in f32
// in dimension order, so equal codebook rows give exactly equal distances.
//
// Each invocation scans codebook rows k = t, t + WG, ... (its own best), then
// a shared-memory tree picks the best (distance, k) pair.
#include "common.glsl"

INPUT_BUFFER(0, x)
WEIGHT_BUFFER(1, codebook)
layout(std430, set = 0, binding = 2) writeonly buffer result_block { int result[]; };

layout(push_constant) uniform Push {
    uint x_offset;
    uint codebook_offset;
    uint result_offset;
    uint N;
    uint D;
    uint K;
} pc;

shared float best_distance[gl_WorkGroupSize.x];
shared uint best_index[gl_WorkGroupSize.x];

const uint NONE = 0xffffffffu;

// Does (d, i) beat (bd, bi)? NaN never beats; "none yet" is beaten by any non-NaN.
bool beats(float d, uint i, float bd, uint bi)
{
    if (isnan(d) || i == NONE)
        return false;
    if (bi == NONE)
        return true;
    return d < bd || (d == bd && i < bi);
}

void main()
{
    uint n = flat_workgroup_index();
    if (n >= pc.N)
        return;
    uint t = gl_LocalInvocationID.x;
    uint xb = pc.x_offset + n * pc.D;
    float bd = 0.0;
    uint bi = NONE;
    for (uint k = t; k < pc.K; k += gl_WorkGroupSize.x) {
        uint cb = pc.codebook_offset + k * pc.D;
        float d = 0.0;
        for (uint j = 0; j < pc.D; j++) {
            float diff = x[xb + j] - LOAD_WEIGHT(codebook, cb + j);
            d += diff * diff;
        }
        if (beats(d, k, bd, bi)) {
            bd = d;
            bi = k;
        }
    }
    best_distance[t] = bd;
    best_index[t] = bi;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride && beats(best_distance[t + stride], best_index[t + stride], best_distance[t], best_index[t])) {
            best_distance[t] = best_distance[t + stride];
            best_index[t] = best_index[t + stride];
        }
        barrier();
    }
    if (t == 0u)
        result[pc.result_offset + n] = best_index[0] == NONE ? 0 : int(best_index[0]);
}
