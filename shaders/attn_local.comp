#version 450
#extension GL_GOOGLE_include_directive : require
// LocalMHA's windowed attention (local-attention 1.9.15, non-causal, exact
// windows), one invocation per (batch, query, head); see docs/ae_attention.md.
//
// qkv[b, t, :] = (q | k | v), each heads x dim_head. Query t sits in window
// w = t / W at slot i = t % W; it looks at S = (look_backward + 1 +
// look_forward) * W slots, slot j being position (w - look_backward) * W + j.
// A slot is visible when its window exists, |t - position| fits the exact
// window, the position is not autopadded (>= n) while a mask is given, and
// the mask lets the key through. q is scaled, then both q and k are rotated:
// q with table row (look_backward + look_forward) * W + i (the last W rows),
// the key of slot j with row j. Softmax over visible slots; with none visible,
// torch's softmax over equal fill values is uniform over all S slots, whose
// values are -1 (missing window), 0 (autopadded) or v.
#include "common.glsl"

#define MAX_DIM_HEAD 128

INPUT_BUFFER(0, qkv)
INPUT_BUFFER_INT(1, mask)
INPUT_BUFFER(2, rotary)
OUTPUT_BUFFER(3, y)

layout(push_constant) uniform Push {
    uint qkv_offset;
    uint mask_offset;
    uint rotary_offset;
    uint y_offset;
    uint batch;
    uint n;
    uint heads;
    uint dim_head;
    uint window;
    uint look_backward;
    uint look_forward;
    uint has_mask;
    uint use_rotary;
    float scale;
} pc;

float qr[MAX_DIM_HEAD];
float acc[MAX_DIM_HEAD];

// Position of slot j for query t, -1 when its window does not exist.
int slot_position(uint t, uint j, uint windows)
{
    int w = int(t / pc.window);
    int source = w - int(pc.look_backward) + int(j / pc.window);
    if (source < 0 || source >= int(windows))
        return -1;
    return source * int(pc.window) + int(j % pc.window);
}

bool slot_visible(uint b, uint t, int tk)
{
    if (tk < 0)
        return false;
    int tq = int(t);
    if (tk - int(pc.look_forward * pc.window) > tq || tq > tk + int(pc.look_backward * pc.window))
        return false;
    if (pc.has_mask != 0u && (uint(tk) >= pc.n || mask[pc.mask_offset + b * pc.n + uint(tk)] == 0))
        return false;
    return true;
}

// q (rotated, scaled) . rotated key at position tk (< n) with table row j.
float score_of(uint b, uint h, int tk, uint j, uint slots)
{
    uint inner = pc.heads * pc.dim_head;
    uint half_dim = pc.dim_head / 2u;
    uint k_base = pc.qkv_offset + (b * pc.n + uint(tk)) * 3u * inner + inner + h * pc.dim_head;
    float dot = 0.0;
    if (pc.use_rotary != 0u) {
        uint cos_base = pc.rotary_offset + j * half_dim;
        uint sin_base = pc.rotary_offset + (slots + j) * half_dim;
        for (uint c = 0u; c < half_dim; c++) {
            float a = qkv[k_base + c];
            float bb = qkv[k_base + c + half_dim];
            float cs = rotary[cos_base + c];
            float sn = rotary[sin_base + c];
            dot += qr[c] * (a * cs - bb * sn);
            dot += qr[c + half_dim] * (bb * cs + a * sn);
        }
    } else {
        for (uint c = 0u; c < pc.dim_head; c++)
            dot += qr[c] * qkv[k_base + c];
    }
    return dot;
}

void main()
{
    uint index = flat_invocation_index();
    if (index >= pc.batch * pc.n * pc.heads)
        return;
    uint h = index % pc.heads;
    uint bt = index / pc.heads;
    uint t = bt % pc.n;
    uint b = bt / pc.n;
    uint inner = pc.heads * pc.dim_head;
    uint half_dim = pc.dim_head / 2u;
    uint slots = (pc.look_backward + 1u + pc.look_forward) * pc.window;
    uint windows = (pc.n + pc.window - 1u) / pc.window;

    uint q_base = pc.qkv_offset + (b * pc.n + t) * 3u * inner + h * pc.dim_head;
    if (pc.use_rotary != 0u) {
        uint row = (pc.look_backward + pc.look_forward) * pc.window + t % pc.window;
        uint cos_base = pc.rotary_offset + row * half_dim;
        uint sin_base = pc.rotary_offset + (slots + row) * half_dim;
        for (uint c = 0u; c < half_dim; c++) {
            float a = qkv[q_base + c] * pc.scale;
            float bb = qkv[q_base + c + half_dim] * pc.scale;
            float cs = rotary[cos_base + c];
            float sn = rotary[sin_base + c];
            qr[c] = a * cs - bb * sn;
            qr[c + half_dim] = bb * cs + a * sn;
        }
    } else {
        for (uint c = 0u; c < pc.dim_head; c++)
            qr[c] = qkv[q_base + c] * pc.scale;
    }

    // Pass 1: the largest visible score.
    const float neg_inf = uintBitsToFloat(0xff800000u);
    float m = neg_inf;
    bool any = false;
    for (uint j = 0u; j < slots; j++) {
        int tk = slot_position(t, j, windows);
        if (!slot_visible(b, t, tk))
            continue;
        // An autopadded key (only visible without a mask) is zero: score 0.
        float s = uint(tk) < pc.n ? score_of(b, h, tk, j, slots) : 0.0;
        m = any ? max(m, s) : s;
        any = true;
    }

    // Pass 2: weights and the weighted sum of values.
    for (uint c = 0u; c < pc.dim_head; c++)
        acc[c] = 0.0;
    float total = 0.0;
    for (uint j = 0u; j < slots; j++) {
        int tk = slot_position(t, j, windows);
        float weight = 1.0;
        if (any) {
            if (!slot_visible(b, t, tk))
                continue;
            float s = uint(tk) < pc.n ? score_of(b, h, tk, j, slots) : 0.0;
            weight = exp(s - m);
        }
        total += weight;
        if (tk < 0) {
            for (uint c = 0u; c < pc.dim_head; c++)
                acc[c] -= weight;
        } else if (uint(tk) < pc.n) {
            uint v_base = pc.qkv_offset + (b * pc.n + uint(tk)) * 3u * inner + 2u * inner + h * pc.dim_head;
            for (uint c = 0u; c < pc.dim_head; c++)
                acc[c] += weight * qkv[v_base + c];
        }
    }
    float inv = 1.0 / total;
    uint out_base = pc.y_offset + (b * pc.n + t) * inner + h * pc.dim_head;
    for (uint c = 0u; c < pc.dim_head; c++)
        y[out_base + c] = acc[c] * inv;
}
