/*
 * CPU references of the attention ops of the MeshAutoencoder's optional
 * attention blocks (docs/ae_attention.md derives every formula from
 * local-attention 1.9.15 and taylor-series-linear-attention 0.1.11).
 * Plain arrays, f32 in and out, double accumulation.
 */
#ifndef MG_OPS_REF_ATTENTION_REF_H
#define MG_OPS_REF_ATTENTION_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest heads the references and the shaders handle: they keep a
 * rotated query and an accumulator per head (local attention) or the feature
 * map of a head (Taylor, 1 + d + d^2 wide) in fixed arrays. Upstream's
 * defaults are 32 and 8. */
#define MG_LOCAL_ATTENTION_MAX_DIM_HEAD 128
#define MG_TAYLOR_MAX_DIM_HEAD 16

/*
 * Local windowed attention as LocalMHA runs it (non-causal, exact windows,
 * rotary on the look-around table). Sequences are cut into windows of
 * `window` positions (the last one autopadded); query t in window w attends
 * to the look-around slots j in [0, S), S = (look_backward + 1 + look_forward)
 * * window, slot j being position (w - look_backward) * window + j.
 */
typedef struct mg_local_attention_params {
    size_t heads;
    size_t dim_head;       /* even */
    size_t window;
    size_t look_backward;  /* 1 in LocalMHA */
    size_t look_forward;   /* 1 in LocalMHA (non-causal) */
    float scale;           /* dim_head^-0.5, applied to q before the rotation */
    bool rotary;           /* rotary embedding on (LocalMHA: yes) */
} mg_local_attention_params;

/* Number of look-around slots (rows of the rotary table). */
size_t mg_local_attention_slots(const mg_local_attention_params *p);

/*
 * The rotary table of SinusoidalEmbeddings for `positions` positions:
 * table[0, p, c] = cos(f), table[1, p, c] = sin(f) with f = fl32(p * inv_freq[c]),
 * c < half (= dim_head / 2). table is [2, positions, half].
 */
void mg_ref_rotary_table(size_t positions, size_t half, const float *inv_freq, float *table);

/* inv_freq[c] = 1 / 10000^(2c / dim_head), in f32 steps as torch computes it. */
void mg_ref_rotary_inv_freq(size_t dim_head, float *inv_freq);

/*
 * The rotation of one head vector x[dim_head] at a table row:
 * out[c] = x[c] cos_c - x[c + half] sin_c, out[c + half] = x[c + half] cos_c + x[c] sin_c.
 */
void mg_ref_rotary_apply(size_t dim_head, const float *cos_row, const float *sin_row, const float *x, float *out);

/*
 * qkv [batch, n, 3 * heads * dim_head] (q, k, v one after the other, each
 * (head, dim) ordered, as LocalMHA's to_qkv output chunks), mask i32
 * [batch, n] or NULL, rotary table [2, slots, dim_head / 2] (unused when
 * !p->rotary) -> out [batch, n, heads * dim_head].
 */
void mg_ref_local_attention(const mg_local_attention_params *p, size_t batch, size_t n, const float *qkv,
                            const int32_t *mask, const float *rotary, float *out);

/* Width of the second-order Taylor feature map: 1 + d + d^2. */
size_t mg_taylor_feature_dim(size_t dim_head);

/* phi(x) = [1, x, vec(x x^T) / sqrt 2] for x[dim_head]; out[mg_taylor_feature_dim]. */
void mg_ref_taylor_features(size_t dim_head, const float *x, float *out);

/*
 * Key/value summaries of Taylor linear attention. kv [batch, n, 2 * heads * d]
 * (keys then values, each (head, dim) ordered), mask i32 [batch, n] or NULL ->
 * summary [batch, heads, F, d + 1], F = 1 + d + d^2:
 *   summary[b, h, f, e] = sum over unmasked t of phi(k_t)[f] * v_t[e]   (e < d)
 *   summary[b, h, f, d] = sum over unmasked t of phi(k_t)[f]
 */
void mg_ref_taylor_kv_summary(size_t batch, size_t n, size_t heads, size_t dim_head, const float *kv,
                              const int32_t *mask, float *summary);

/*
 * The read-out: q [batch, n, heads * d], phi of q * scale,
 * out[b, t, h, e] = (phi . summary[:, e]) / max(phi . summary[:, d], eps).
 */
void mg_ref_taylor_readout(size_t batch, size_t n, size_t heads, size_t dim_head, float scale, float eps,
                           const float *q, const float *summary, float *out);

#endif
