#version 450
#extension GL_GOOGLE_include_directive : require
// Matrix multiply for a few rows of a (M <= 4): decoding one token at a time is
// made of these, and they are bound by reading the weight once. Same contract
// as matmul.comp: y[b, m, n] = sum_k a[b, m, k] * B[k, n] + bias[n].
//
//  - transposed B (w[n, k], PyTorch Linear): a "team" of invocations computes
//    ROWS outputs n at a time; its invocations split k (neighbours read
//    neighbouring vec4s of a weight row: coalesced), then the team sums its
//    partial dot products. With USE_SUBGROUPS a team is a subgroup and the sum
//    is subgroupAdd: no shared memory, no barrier (barriers are what make
//    shared-memory trees slow, dramatically so on CPU implementations such as
//    lavapipe, where each barrier is a coroutine switch of every SIMD batch).
//    Without subgroups a team is the whole workgroup and the sum is a
//    shared-memory tree.
//  - plain B (w[k, n]): each invocation owns CVEC groups of 4 consecutive
//    columns (VEC4) or of one, and KSPLIT invocations split k for the same
//    columns (enough parallelism for a big GPU; KSPLIT = 1 needs no shared
//    memory at all). Reads of a weight row are contiguous across invocations.
//
// Each weight element is read once per dispatch; a is read once per ROWS
// (transposed) or per 4 columns (plain). VEC4 (set by the host only when every
// element offset, and the row length of the layout, are multiples of 4) reads
// vec4s of a and w (uvec2 = 4 halves for f16 weights); otherwise scalars, so any
// shape and any view offset work. Accumulation is f32.
#include "common.glsl"

#ifdef USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

#define MAX_M 4u
#define MAX_ROWS 8u
#define MAX_CVEC 4u

layout(constant_id = 1) const bool TRANSPOSED = false;
layout(constant_id = 2) const bool VEC4 = false;
layout(constant_id = 3) const uint M_ROWS = 1;  // rows of a: 1..MAX_M (= pc.M)
layout(constant_id = 4) const uint ROWS = 4;    // transposed: outputs n per team pass, 1..MAX_ROWS
layout(constant_id = 5) const uint ROWS_PER_GROUP = 4; // transposed: outputs n per workgroup
layout(constant_id = 6) const uint KSPLIT = 1;  // plain: invocations that split k of the same columns
layout(constant_id = 7) const uint CVEC = 4;    // plain: column groups per invocation, 1..MAX_CVEC

INPUT_BUFFER(0, a)
layout(std430, set = 0, binding = 0) readonly buffer a4_block { vec4 a4[]; };
WEIGHT_BUFFER(1, w)
#ifdef WEIGHT_F16
layout(std430, set = 0, binding = 1) readonly buffer w4_block { uvec2 w4[]; };
vec4 load_w4(uint i) // i: index of 4 halves
{
    uvec2 p = w4[i];
    return vec4(unpackHalf2x16(p.x), unpackHalf2x16(p.y));
}
#else
layout(std430, set = 0, binding = 1) readonly buffer w4_block { vec4 w4[]; };
vec4 load_w4(uint i)
{
    return w4[i];
}
#endif
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

float bias_at(uint n)
{
    return pc.has_bias != 0u ? LOAD_WEIGHT(bias, pc.bias_offset + n) : 0.0;
}

#ifdef USE_SUBGROUPS
#define TEAM_ID gl_SubgroupID
#define TEAM_COUNT gl_NumSubgroups
#define TEAM_LANE gl_SubgroupInvocationID
#define TEAM_SIZE gl_SubgroupSize
// The transposed path of the subgroup variant uses no shared memory.
#else
#define TEAM_ID 0u
#define TEAM_COUNT 1u
#define TEAM_LANE gl_LocalInvocationID.x
#define TEAM_SIZE gl_WorkGroupSize.x
// Sized to 1 when the specialization does not use it: the declared size is
// what counts against maxComputeSharedMemorySize.
shared float partial[TRANSPOSED ? gl_WorkGroupSize.x * M_ROWS * ROWS : 1u];
#endif
// The plain path with KSPLIT > 1 sums the slices of k in shared memory.
shared vec4 plain_partial[!TRANSPOSED && KSPLIT > 1u ? gl_WorkGroupSize.x * M_ROWS * CVEC : 1u];

void transposed(uint a_base, uint w_base, uint y_base)
{
    const uint lane = TEAM_LANE, team_size = TEAM_SIZE;
    uint group_n0 = flat_workgroup_index() * ROWS_PER_GROUP;
    // Loop bounds depend only on the team: every invocation of a team runs the
    // same iterations, as the reduction needs.
    for (uint r0 = TEAM_ID * ROWS; r0 < ROWS_PER_GROUP; r0 += TEAM_COUNT * ROWS) {
        uint n0 = group_n0 + r0;
        if (n0 >= pc.N)
            break;
        float acc[MAX_ROWS * MAX_M];
        [[unroll]] for (uint i = 0; i < ROWS * M_ROWS; i++)
            acc[i] = 0.0;
        // Rows past N read row N-1 (no branch in the loop) and are not stored.
        uint w_row[MAX_ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; r++)
            w_row[r] = min(n0 + r, pc.N - 1u) * pc.K;
        if (VEC4) {
            uint k4_count = pc.K >> 2u;
            for (uint k4 = lane; k4 < k4_count; k4 += team_size) {
                vec4 av[MAX_M];
                [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                    av[m] = a4[((a_base + m * pc.K) >> 2u) + k4];
                [[unroll]] for (uint r = 0; r < ROWS; r++) {
                    vec4 wv = load_w4(((w_base + w_row[r]) >> 2u) + k4);
                    [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                        acc[r * M_ROWS + m] += dot(av[m], wv);
                }
            }
        } else {
            for (uint k = lane; k < pc.K; k += team_size) {
                float av[MAX_M];
                [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                    av[m] = a[a_base + m * pc.K + k];
                [[unroll]] for (uint r = 0; r < ROWS; r++) {
                    float wv = LOAD_WEIGHT(w, w_base + w_row[r] + k);
                    [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                        acc[r * M_ROWS + m] += av[m] * wv;
                }
            }
        }
#ifdef USE_SUBGROUPS
        [[unroll]] for (uint i = 0; i < ROWS * M_ROWS; i++)
            acc[i] = subgroupAdd(acc[i]);
        // Invocation i of the subgroup stores output i: one store each, no
        // branch on subgroupElect per output.
        [[unroll]] for (uint i = 0; i < ROWS * M_ROWS; i++) {
            uint r = i / M_ROWS, m = i % M_ROWS;
            if (lane == i % team_size && n0 + r < pc.N)
                y[y_base + m * pc.N + n0 + r] = acc[i] + bias_at(n0 + r);
        }
#else
        const uint P = ROWS * M_ROWS, wg = gl_WorkGroupSize.x;
        [[unroll]] for (uint i = 0; i < P; i++)
            partial[i * wg + lane] = acc[i];
        barrier();
        for (uint stride = wg / 2u; stride > 0u; stride >>= 1u) {
            if (lane < stride)
                [[unroll]] for (uint i = 0; i < P; i++)
                    partial[i * wg + lane] += partial[i * wg + lane + stride];
            barrier();
        }
        for (uint i = lane; i < P; i += wg) {
            uint r = i / M_ROWS, m = i % M_ROWS;
            if (n0 + r < pc.N)
                y[y_base + m * pc.N + n0 + r] = partial[i * wg] + bias_at(n0 + r);
        }
        barrier(); // partial is reused by the next pass
#endif
    }
}

void plain(uint a_base, uint w_base, uint y_base)
{
    // An invocation owns CVEC column groups of 4 (VEC4) or 1 column, strided so
    // that for each k the invocations of a workgroup read one contiguous run of
    // the weight row (coalesced on a GPU; one long stream per row on a CPU,
    // instead of a column walk that hops a whole row per element).
    const uint cols = VEC4 ? 4u : 1u;
    const uint col_threads = gl_WorkGroupSize.x / KSPLIT;
    uint t = gl_LocalInvocationID.x;
    uint c = t % col_threads, slice = t / col_threads;
    uint block = flat_workgroup_index() * col_threads * cols * CVEC;
    uint n[MAX_CVEC];
    [[unroll]] for (uint j = 0; j < CVEC; j++)
        n[j] = block + (j * col_threads + c) * cols;
    // Columns past N read column 0 (no branch in the loop) and are not stored;
    // their invocations still take part in the reduction below.
    uint n_read[MAX_CVEC];
    [[unroll]] for (uint j = 0; j < CVEC; j++)
        n_read[j] = n[j] < pc.N ? n[j] : 0u;
    vec4 acc[MAX_M * MAX_CVEC];
    [[unroll]] for (uint i = 0; i < M_ROWS * CVEC; i++)
        acc[i] = vec4(0.0);
    for (uint k = slice; k < pc.K; k += KSPLIT) {
        float av[MAX_M];
        [[unroll]] for (uint m = 0; m < M_ROWS; m++)
            av[m] = a[a_base + m * pc.K + k];
        [[unroll]] for (uint j = 0; j < CVEC; j++) {
            uint row = w_base + k * pc.N + n_read[j];
            if (VEC4) {
                vec4 wv = load_w4(row >> 2u);
                [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                    acc[m * CVEC + j] += av[m] * wv;
            } else {
                float wv = LOAD_WEIGHT(w, row);
                [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                    acc[m * CVEC + j].x += av[m] * wv;
            }
        }
    }
    if (KSPLIT > 1u) {
        [[unroll]] for (uint i = 0; i < M_ROWS * CVEC; i++)
            plain_partial[i * gl_WorkGroupSize.x + t] = acc[i];
        barrier();
        if (slice != 0u)
            return;
        for (uint s = 1u; s < KSPLIT; s++)
            [[unroll]] for (uint i = 0; i < M_ROWS * CVEC; i++)
                acc[i] += plain_partial[i * gl_WorkGroupSize.x + s * col_threads + c];
    }
    [[unroll]] for (uint j = 0; j < CVEC; j++)
        if (n[j] < pc.N)
            [[unroll]] for (uint m = 0; m < M_ROWS; m++)
                [[unroll]] for (uint e = 0; e < cols; e++)
                    y[y_base + m * pc.N + n[j] + e] = acc[m * CVEC + j][e] + bias_at(n[j] + e);
}

void main()
{
    uint batch = gl_WorkGroupID.z;
    uint a_base = pc.a_offset + batch * pc.a_batch_stride;
    uint w_base = pc.w_offset + batch * pc.w_batch_stride;
    uint y_base = pc.y_offset + batch * pc.y_batch_stride;
    if (TRANSPOSED)
        transposed(a_base, w_base, y_base);
    else
        plain(a_base, w_base, y_base);
}
