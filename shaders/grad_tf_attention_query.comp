#version 450
#extension GL_GOOGLE_include_directive : require
// Attention backward, query side (ops_grad_tf.h, mg_op_attention_backward):
// one invocation per (batch, query, head) item, everything in registers, like
// tf_attention_per_invocation.comp.
//
// Pass 1 runs the forward's online softmax over [memories, visible keys]
// (running maximum m, running sum l) and, with the same rescaling, the sum of
// w_j dP_j (dP_j = d_out . v_j): it writes stats[item] = (lse, D) with
// lse = m + log l and D = sum_j P_j dP_j = d_out . out, for the key kernels.
// Pass 2 (when d_q is wanted) recomputes P_j = exp(s_j - lse) exactly and
// sums d_q = scale sum_j P_j (dP_j - D) k_j. A query with nothing visible
// writes (0, 0) and a zero d_q.
//
// Memories come packed in one f32 buffer mem [2, heads, mems, dh] (keys, then
// values; grad_tf_attention_pack_memory.comp converts f16 ones), which keeps
// this shader within 8 bindings. DIM_HEAD (constant_id 1) is the head size:
// channel loops are [[unroll]]ed, so only key loops count against lavapipe's
// 65,535-iteration guard (2 x (mems + keys) here; the host checks).
#include "common.glsl"

layout(constant_id = 1) const uint DIM_HEAD = 64;

INPUT_BUFFER(0, q)
INPUT_BUFFER(1, k)
INPUT_BUFFER(2, v)
INPUT_BUFFER(3, mem)
INPUT_BUFFER_INT(4, key_mask)
INPUT_BUFFER(5, d_out)
OUTPUT_BUFFER(6, stats)
OUTPUT_BUFFER(7, d_q)

layout(push_constant) uniform Push {
    uint q_offset;
    uint k_offset;
    uint v_offset;
    uint mem_offset;
    uint mask_offset;
    uint d_out_offset;
    uint stats_offset;
    uint d_q_offset;
    uint n;
    uint heads;
    uint key_rows;  // allocated rows of k, v and the mask per batch
    uint real_keys; // rows of k/v that exist (p->keys)
    uint mems;
    uint has_mask;
    uint causal;
    int query_offset;
    float scale;
    uint items;     // batch * n * heads
    uint has_d_q;
} pc;

float qr[DIM_HEAD];
float g[DIM_HEAD];
float dq[DIM_HEAD];

void main()
{
    uint item = flat_invocation_index();
    if (item >= pc.items)
        return;
    uint h = item % pc.heads;
    uint bi = item / pc.heads;
    uint i = bi % pc.n;
    uint b = bi / pc.n;
    uint inner = pc.heads * DIM_HEAD;
    uint mem_values = pc.heads * pc.mems * DIM_HEAD; // where mem's value half starts

    uint row = bi * inner + h * DIM_HEAD;
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
        qr[c] = q[pc.q_offset + row + c] * pc.scale;
        g[c] = d_out[pc.d_out_offset + row + c];
    }
    uint real = pc.real_keys;
    if (pc.causal != 0u) {
        int limit = pc.query_offset + int(i) + 1;
        real = limit <= 0 ? 0u : min(real, uint(limit));
    }
    uint kv_row0 = b * pc.key_rows;

    // Pass 1. As in the forward shader nothing infinite is computed: until
    // the first visible key, `seen` is false and the old sums are dropped.
    float m = 0.0, l = 0.0, wdp = 0.0;
    bool seen = false;
    for (uint jj = 0u; jj < pc.mems + real; jj++) {
        uint kb, vb;
        if (jj < pc.mems) {
            kb = pc.mem_offset + (h * pc.mems + jj) * DIM_HEAD;
            vb = kb + mem_values;
        } else {
            uint j = jj - pc.mems;
            if (pc.has_mask != 0u && key_mask[pc.mask_offset + kv_row0 + j] == 0)
                continue;
            uint r = (kv_row0 + j) * inner + h * DIM_HEAD;
            kb = pc.k_offset + r;
            vb = pc.v_offset + r;
        }
        float s = 0.0, dp = 0.0;
        if (jj < pc.mems) {
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                s += qr[c] * mem[kb + c];
                dp += g[c] * mem[vb + c];
            }
        } else {
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                s += qr[c] * k[kb + c];
                dp += g[c] * v[vb + c];
            }
        }
        float d = s - m;
        float e = exp(-abs(d));
        bool grows = d > 0.0;
        float correction = seen ? (grows ? e : 1.0) : 0.0;
        float w = seen && !grows ? e : 1.0;
        l = l * correction + w;
        wdp = wdp * correction + w * dp;
        m = seen ? max(m, s) : s;
        seen = true;
    }
    float lse = seen ? m + log(l) : 0.0;
    float big_d = seen ? wdp / l : 0.0;
    uint stats_at = pc.stats_offset + 2u * item;
    stats[stats_at] = lse;
    stats[stats_at + 1u] = big_d;
    if (pc.has_d_q == 0u)
        return;

    // Pass 2: d_q.
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
        dq[c] = 0.0;
    for (uint jj = 0u; jj < pc.mems + real; jj++) {
        uint kb, vb;
        if (jj < pc.mems) {
            kb = pc.mem_offset + (h * pc.mems + jj) * DIM_HEAD;
            vb = kb + mem_values;
        } else {
            uint j = jj - pc.mems;
            if (pc.has_mask != 0u && key_mask[pc.mask_offset + kv_row0 + j] == 0)
                continue;
            uint r = (kv_row0 + j) * inner + h * DIM_HEAD;
            kb = pc.k_offset + r;
            vb = pc.v_offset + r;
        }
        float s = 0.0, dp = 0.0;
        if (jj < pc.mems) {
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                s += qr[c] * mem[kb + c];
                dp += g[c] * mem[vb + c];
            }
            float ds = exp(s - lse) * (dp - big_d);
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
                dq[c] += ds * mem[kb + c];
        } else {
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                s += qr[c] * k[kb + c];
                dp += g[c] * v[vb + c];
            }
            float ds = exp(s - lse) * (dp - big_d);
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
                dq[c] += ds * k[kb + c];
        }
    }
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
        d_q[pc.d_q_offset + row + c] = dq[c] * pc.scale;
}
