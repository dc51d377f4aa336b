#version 450
#extension GL_GOOGLE_include_directive : require
// Attention backward, key side (ops_grad_tf.h, mg_op_attention_backward):
// one invocation per key row and head, looping over the queries that see it,
// with the (lse, D) statistics of grad_tf_attention_query.comp:
//   P = exp(scale q_i . k - lse_i), dS = P (d_out_i . v - D_i),
//   d_k = scale sum_i dS q_i, d_v = sum_i P d_out_i.
// Each invocation owns its output rows: no atomics, deterministic.
//
// Real keys (default): items (batch, key row, head) over all allocated rows;
// rows past real_keys and hidden rows write zeros; with causal masking key j
// is seen by queries i >= j - query_offset. d_k and d_v [B, key_rows, H*dh].
// MEMORY_KEYS: items (batch, head, memory), every query sees every memory;
// each writes its batch's share to part [2, B, H, mems, dh] (key gradients,
// then value gradients), which grad_tf_attention_memory_sum.comp adds up over
// the batch into the parameter gradients.
//
// DIM_HEAD (constant_id 1): channel loops unroll, so only the query loop
// (at most n iterations) counts against lavapipe's loop guard.
#include "common.glsl"

layout(constant_id = 1) const uint DIM_HEAD = 64;

INPUT_BUFFER(0, q)
INPUT_BUFFER(1, d_out)
INPUT_BUFFER(2, stats)
#ifdef MEMORY_KEYS
INPUT_BUFFER(3, mem)
OUTPUT_BUFFER(4, part)
#else
INPUT_BUFFER(3, k)
INPUT_BUFFER(4, v)
INPUT_BUFFER_INT(5, key_mask)
OUTPUT_BUFFER(6, d_k)
OUTPUT_BUFFER(7, d_v)
#endif

layout(push_constant) uniform Push {
    uint q_offset;
    uint d_out_offset;
    uint stats_offset;
    uint k_offset;    // MEMORY_KEYS: mem's offset
    uint v_offset;    // MEMORY_KEYS: part's offset
    uint mask_offset;
    uint d_k_offset;
    uint d_v_offset;
    uint n;
    uint heads;
    uint key_rows;
    uint real_keys;
    uint mems;
    uint has_mask;
    uint causal;
    int query_offset;
    float scale;
    uint items;
    uint has_d_k;
    uint has_d_v;
    uint batch;
} pc;

float kr[DIM_HEAD];
float vr[DIM_HEAD];
float dk[DIM_HEAD];
float dv[DIM_HEAD];

void main()
{
    uint item = flat_invocation_index();
    if (item >= pc.items)
        return;
    uint inner = pc.heads * DIM_HEAD;
#ifdef MEMORY_KEYS
    uint mm = item % pc.mems;
    uint bh = item / pc.mems;
    uint h = bh % pc.heads;
    uint b = bh / pc.heads;
    uint mem_count = pc.heads * pc.mems * DIM_HEAD;
    uint kb = pc.k_offset + (h * pc.mems + mm) * DIM_HEAD;
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
        kr[c] = mem[kb + c];
        vr[c] = mem[kb + mem_count + c];
    }
    bool visible = true;
    uint first = 0u;
#else
    uint h = item % pc.heads;
    uint bj = item / pc.heads;
    uint j = bj % pc.key_rows;
    uint b = bj / pc.key_rows;
    uint kv = bj * inner + h * DIM_HEAD;
    bool visible = j < pc.real_keys && (pc.has_mask == 0u || key_mask[pc.mask_offset + bj] != 0);
    uint first = 0u;
    if (pc.causal != 0u) {
        int lowest = int(j) - pc.query_offset; // the first query that sees key j
        first = lowest <= 0 ? 0u : uint(lowest);
    }
    if (visible) {
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
            kr[c] = k[pc.k_offset + kv + c];
            vr[c] = v[pc.v_offset + kv + c];
        }
    }
#endif
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
        dk[c] = 0.0;
        dv[c] = 0.0;
    }
    if (visible) {
        for (uint i = first; i < pc.n; i++) {
            uint qi = (b * pc.n + i) * pc.heads + h; // the query item
            uint row = qi / pc.heads * inner + h * DIM_HEAD;
            float s = 0.0, dp = 0.0;
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                s += (q[pc.q_offset + row + c] * pc.scale) * kr[c];
                dp += d_out[pc.d_out_offset + row + c] * vr[c];
            }
            float p = exp(s - stats[pc.stats_offset + 2u * qi]);
            float ds = p * (dp - stats[pc.stats_offset + 2u * qi + 1u]);
            [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
                dk[c] += ds * q[pc.q_offset + row + c];
                dv[c] += p * d_out[pc.d_out_offset + row + c];
            }
        }
    }
#ifdef MEMORY_KEYS
    uint out_at = pc.v_offset + ((b * pc.heads + h) * pc.mems + mm) * DIM_HEAD;
    uint values_at = out_at + pc.batch * mem_count;
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
        part[out_at + c] = dk[c] * pc.scale;
        part[values_at + c] = dv[c];
    }
#else
    if (pc.has_d_k != 0u)
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            d_k[pc.d_k_offset + kv + c] = dk[c] * pc.scale;
    if (pc.has_d_v != 0u)
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            d_v[pc.d_v_offset + kv + c] = dv[c];
#endif
}
