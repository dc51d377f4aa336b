#version 450
#extension GL_GOOGLE_include_directive : require
// x-transformers' attention with memory key/values (ops_transformer.h,
// mg_op_attention), one workgroup per (batch, query, head).
//
// Keys are taken in tiles of one key per invocation: [memories, real keys],
// memories always visible, real key j visible when the mask lets it through
// and, if causal, j <= query_offset + query. Each tile updates an online
// softmax (running maximum m, running sum l, weighted value sums acc rescaled
// by exp(m_old - m_new)); invocation t owns channels t, t + W, ... of acc.
// A query with nothing visible writes zeros.
#include "common.glsl"
#include "reduce.glsl"

#define MAX_DIM_HEAD 128

INPUT_BUFFER(0, q)
INPUT_BUFFER(1, k)
INPUT_BUFFER(2, v)
WEIGHT_BUFFER(3, mem_k)
WEIGHT_BUFFER(4, mem_v)
INPUT_BUFFER_INT(5, key_mask)
OUTPUT_BUFFER(6, y)
INPUT_BUFFER_INT(7, step) // optional: a value added to real_keys and query_offset (replayed decoding steps)

layout(push_constant) uniform Push {
    uint q_offset;
    uint k_offset;
    uint v_offset;
    uint mem_k_offset;
    uint mem_v_offset;
    uint mask_offset;
    uint y_offset;
    uint n;
    uint heads;
    uint dim_head;
    uint key_rows;  // allocated rows of k, v and the mask per batch
    uint real_keys; // rows of k/v that exist (p->keys)
    uint mems;
    uint has_mask;
    uint causal;
    int query_offset;
    float scale;
    uint groups;    // batch * n * heads
    uint step_offset;
    uint has_step;
} pc;

shared float q_s[MAX_DIM_HEAD];
shared float acc_s[MAX_DIM_HEAD];
shared float p_s[gl_WorkGroupSize.x];

void main()
{
    uint group = flat_workgroup_index();
    if (group >= pc.groups)
        return; // uniform over the workgroup: no barrier is skipped by part of it
    uint lid = gl_LocalInvocationID.x;
    uint W = gl_WorkGroupSize.x;
    uint h = group % pc.heads;
    uint bi = group / pc.heads;
    uint i = bi % pc.n;
    uint b = bi / pc.n;
    uint inner = pc.heads * pc.dim_head;
    uint dh = pc.dim_head;

    uint q_base = pc.q_offset + bi * inner + h * dh;
    for (uint c = lid; c < dh; c += W) {
        q_s[c] = q[q_base + c] * pc.scale;
        acc_s[c] = 0.0;
    }
    barrier();

    // Real keys past the causal limit are never visible: stop before them.
    // With a step buffer, its value shifts both: the cache length and the
    // queries' positions grow by one per decoding step without re-recording.
    int shift = pc.has_step != 0u ? max(step[pc.step_offset], 0) : 0;
    uint real = min(pc.real_keys + uint(shift), pc.key_rows);
    if (pc.causal != 0u) {
        int limit = pc.query_offset + shift + int(i) + 1;
        real = limit <= 0 ? 0u : min(real, uint(limit));
    }
    uint total = pc.mems + real;
    uint kv_row0 = b * pc.key_rows;

    const float neg_inf = uintBitsToFloat(0xff800000u);
    float m = neg_inf;
    float l = 0.0;
    for (uint tile = 0u; tile < total; tile += W) {
        uint jj = tile + lid;
        float s = neg_inf;
        if (jj < pc.mems) {
            uint base = pc.mem_k_offset + (h * pc.mems + jj) * dh;
            float dot = 0.0;
            for (uint c = 0u; c < dh; c++)
                dot += q_s[c] * LOAD_WEIGHT(mem_k, base + c);
            s = dot;
        } else if (jj < total) {
            uint j = jj - pc.mems;
            if (pc.has_mask == 0u || key_mask[pc.mask_offset + kv_row0 + j] != 0) {
                uint base = pc.k_offset + (kv_row0 + j) * inner + h * dh;
                float dot = 0.0;
                for (uint c = 0u; c < dh; c++)
                    dot += q_s[c] * k[base + c];
                s = dot;
            }
        }
        float tile_max = workgroup_max(s);
        if (tile_max == neg_inf)
            continue; // the whole tile is hidden (uniform)
        float m_new = max(m, tile_max);
        float p = s == neg_inf ? 0.0 : exp(s - m_new);
        p_s[lid] = p;
        float tile_sum = workgroup_sum(p);
        barrier(); // p_s complete (the reduction may not have needed a barrier)
        float correction = exp(m - m_new); // 0 on the first visible tile
        l = l * correction + tile_sum;
        uint count = min(W, total - tile);
        for (uint c = lid; c < dh; c += W) {
            float a = acc_s[c] * correction;
            for (uint t = 0u; t < count; t++) {
                float w = p_s[t];
                if (w == 0.0)
                    continue;
                uint kk = tile + t;
                float value = kk < pc.mems ? LOAD_WEIGHT(mem_v, pc.mem_v_offset + (h * pc.mems + kk) * dh + c)
                                           : v[pc.v_offset + (kv_row0 + kk - pc.mems) * inner + h * dh + c];
                a += w * value;
            }
            acc_s[c] = a;
        }
        m = m_new;
        barrier(); // p_s is rewritten by the next tile
    }

    uint y_base = pc.y_offset + bi * inner + h * dh;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    for (uint c = lid; c < dh; c += W)
        y[y_base + c] = acc_s[c] * inv;
}
