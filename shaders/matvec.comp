#version 450
#extension GL_GOOGLE_include_directive : require
// Matrix multiply for a few rows of a (M <= MAX_ROWS): decoding one token at a
// time is made of these. Same contract as matmul.comp.
//  - transposed B (w[n, k], PyTorch Linear): a workgroup computes ROWS_PER_GROUP
//    outputs; its invocations split k, then reduce in shared memory. Reads of w
//    are contiguous across invocations.
//  - plain B (w[k, n]): each invocation owns one column n and walks k; reads of
//    w are contiguous across invocations.
#include "common.glsl"

#define MAX_ROWS 4u
#define ROWS_PER_GROUP 2u

layout(constant_id = 1) const bool TRANSPOSED = false;

INPUT_BUFFER(0, a)
WEIGHT_BUFFER(1, w)
WEIGHT_BUFFER(2, bias)
OUTPUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint a_offset;
    uint w_offset;
    uint bias_offset;
    uint y_offset;
    uint M;
    uint N;
    uint K;
    uint a_batch_stride;
    uint w_batch_stride;
    uint y_batch_stride;
    uint has_bias;
} pc;

shared float partial[gl_WorkGroupSize.x * MAX_ROWS * ROWS_PER_GROUP];

void main()
{
    uint t = gl_LocalInvocationID.x;
    uint batch = gl_WorkGroupID.z;
    uint a_base = pc.a_offset + batch * pc.a_batch_stride;
    uint w_base = pc.w_offset + batch * pc.w_batch_stride;
    uint y_base = pc.y_offset + batch * pc.y_batch_stride;

    if (!TRANSPOSED) {
        uint n = gl_WorkGroupID.x * gl_WorkGroupSize.x + t;
        if (n >= pc.N)
            return;
        float acc[MAX_ROWS] = float[MAX_ROWS](0.0, 0.0, 0.0, 0.0);
        for (uint k = 0; k < pc.K; k++) {
            float wv = LOAD_WEIGHT(w, w_base + k * pc.N + n);
            [[unroll]] for (uint m = 0; m < MAX_ROWS; m++)
                if (m < pc.M)
                    acc[m] += a[a_base + m * pc.K + k] * wv;
        }
        float b = pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + n) : 0.0;
        for (uint m = 0; m < pc.M; m++)
            y[y_base + m * pc.N + n] = acc[m] + b;
        return;
    }

    uint n0 = gl_WorkGroupID.x * ROWS_PER_GROUP;
    float acc[MAX_ROWS * ROWS_PER_GROUP];
    [[unroll]] for (uint i = 0; i < MAX_ROWS * ROWS_PER_GROUP; i++)
        acc[i] = 0.0;
    for (uint k = t; k < pc.K; k += gl_WorkGroupSize.x) {
        float av[MAX_ROWS];
        [[unroll]] for (uint m = 0; m < MAX_ROWS; m++)
            av[m] = m < pc.M ? a[a_base + m * pc.K + k] : 0.0;
        [[unroll]] for (uint r = 0; r < ROWS_PER_GROUP; r++) {
            uint n = n0 + r;
            float wv = n < pc.N ? LOAD_WEIGHT(w, w_base + n * pc.K + k) : 0.0;
            [[unroll]] for (uint m = 0; m < MAX_ROWS; m++)
                acc[r * MAX_ROWS + m] += av[m] * wv;
        }
    }
    const uint P = MAX_ROWS * ROWS_PER_GROUP;
    [[unroll]] for (uint i = 0; i < P; i++)
        partial[i * gl_WorkGroupSize.x + t] = acc[i];
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (t < stride)
            [[unroll]] for (uint i = 0; i < P; i++)
                partial[i * gl_WorkGroupSize.x + t] += partial[i * gl_WorkGroupSize.x + t + stride];
        barrier();
    }
    if (t < P) {
        uint r = t / MAX_ROWS, m = t % MAX_ROWS;
        uint n = n0 + r;
        if (n < pc.N && m < pc.M) {
            float b = pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + n) : 0.0;
            y[y_base + m * pc.N + n] = partial[t * gl_WorkGroupSize.x] + b;
        }
    }
}
