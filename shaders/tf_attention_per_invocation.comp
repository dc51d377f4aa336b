#version 450
#extension GL_GOOGLE_include_directive : require
// x-transformers' attention with memory key/values (ops_transformer.h,
// mg_op_attention), the variant for Vulkan on the CPU (lavapipe): one
// invocation per (batch, query, head) item, q and the weighted value sums in
// private arrays, no shared memory, no barrier, no cross-lane reduction.
// lavapipe runs the lanes of a workgroup as SIMD lanes of one core; the
// lanes of a batch hold the heads of one query, which see the same keys, so
// their control flow stays uniform. tf_attention.comp keeps the workgroup per
// item layout that GPUs want.
//
// Softmax over [memories, real keys] in one pass (online softmax: running
// maximum m, running sum l, acc rescaled by exp(m_old - m_new)). Nothing
// infinite is ever computed: until the first visible key, `seen` is false
// and the rescale factor is selected as 0 (acc and l are still 0), so
// neither exp(-inf - -inf) nor 0 * exp(large) can make a NaN, whatever the
// driver's exp does with infinities. A query with nothing visible writes
// zeros.
//
// DIM_HEAD (constant_id 1) is the head size, and every channel loop is
// [[unroll]]ed over it. Besides keeping q and acc in registers this is needed
// for correctness: lavapipe counts the iterations of all loops of an
// invocation together and ends every loop once 65535 have run (its guard
// against endless loops), which rolled channel loops reach after about 500
// keys at dh 64 (only acc[0] is then updated, the rest keeps garbage).
// Unrolled, only the key loops count (the host keeps mems + keys below
// that budget).
#include "common.glsl"

layout(constant_id = 1) const uint DIM_HEAD = 64;

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
    uint dim_head;  // equals DIM_HEAD (the host specialises on it)
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

float qr[DIM_HEAD];
float acc[DIM_HEAD];
float m = 0.0;    // running maximum of the visible scores (valid once seen)
float l = 0.0;    // running sum of exp(score - m)
bool seen = false;

// Folds one visible score s in: returns the factor that rescales acc and
// sets w, the weight of this key's value row. One exp per key: when s is the
// new maximum the old terms shrink by exp(m - s) and s weighs 1, otherwise
// nothing is rescaled and s weighs exp(s - m).
float fold_score(float s, out float w)
{
    float d = s - m;
    float e = exp(-abs(d));
    bool grows = d > 0.0;
    float correction = seen ? (grows ? e : 1.0) : 0.0;
    w = seen && !grows ? e : 1.0;
    l = l * correction + w;
    m = seen ? max(m, s) : s;
    seen = true;
    return correction;
}

void main()
{
    uint item = flat_invocation_index();
    if (item >= pc.groups)
        return;
    uint h = item % pc.heads;
    uint bi = item / pc.heads;
    uint i = bi % pc.n;
    uint b = bi / pc.n;
    uint inner = pc.heads * DIM_HEAD;

    uint q_base = pc.q_offset + bi * inner + h * DIM_HEAD;
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++) {
        qr[c] = q[q_base + c] * pc.scale;
        acc[c] = 0.0;
    }

    for (uint jj = 0u; jj < pc.mems; jj++) {
        uint base = (h * pc.mems + jj) * DIM_HEAD;
        float s = 0.0;
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            s += qr[c] * LOAD_WEIGHT(mem_k, pc.mem_k_offset + base + c);
        float w;
        float correction = fold_score(s, w);
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            acc[c] = acc[c] * correction + w * LOAD_WEIGHT(mem_v, pc.mem_v_offset + base + c);
    }

    // Real keys past the causal limit are never visible: stop before them.
    // With a step buffer, its value shifts both: the cache length and the
    // queries' positions grow by one per decoding step without re-recording.
    int shift = pc.has_step != 0u ? max(step[pc.step_offset], 0) : 0;
    uint real = min(pc.real_keys + uint(shift), pc.key_rows);
    if (pc.causal != 0u) {
        int limit = pc.query_offset + shift + int(i) + 1;
        real = limit <= 0 ? 0u : min(real, uint(limit));
    }
    uint kv_row0 = b * pc.key_rows;
    for (uint j = 0u; j < real; j++) {
        if (pc.has_mask != 0u && key_mask[pc.mask_offset + kv_row0 + j] == 0)
            continue;
        uint row = (kv_row0 + j) * inner + h * DIM_HEAD;
        float s = 0.0;
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            s += qr[c] * k[pc.k_offset + row + c];
        float w;
        float correction = fold_score(s, w);
        [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
            acc[c] = acc[c] * correction + w * v[pc.v_offset + row + c];
    }

    float inv = seen ? 1.0 / l : 0.0;
    uint y_base = pc.y_offset + bi * inner + h * DIM_HEAD;
    [[unroll]] for (uint c = 0u; c < DIM_HEAD; c++)
        y[y_base + c] = acc[c] * inv;
}
