/*
 * CPU references of the attention ops (see attention_ref.h and
 * docs/ae_attention.md for the derivation from upstream).
 */
#include "ops/ref/attention_ref.h"

#include <math.h>
#include <string.h>

#define REF_MAX_DIM_HEAD MG_LOCAL_ATTENTION_MAX_DIM_HEAD
#define TAYLOR_MAX_FEATURES (1 + MG_TAYLOR_MAX_DIM_HEAD + MG_TAYLOR_MAX_DIM_HEAD * MG_TAYLOR_MAX_DIM_HEAD)

size_t mg_local_attention_slots(const mg_local_attention_params *p)
{
    return (p->look_backward + 1 + p->look_forward) * p->window;
}

void mg_ref_rotary_inv_freq(size_t dim_head, float *inv_freq)
{
    /* torch: 1. / (10000 ** (arange(0, dim, 2).float() / dim)), each step in f32 */
    for (size_t c = 0; c < dim_head / 2; c++) {
        float exponent = (float)(2 * c) / (float)dim_head;
        float power = powf(10000.0f, exponent);
        inv_freq[c] = 1.0f / power;
    }
}

void mg_ref_rotary_table(size_t positions, size_t half, const float *inv_freq, float *table)
{
    for (size_t p = 0; p < positions; p++) {
        for (size_t c = 0; c < half; c++) {
            /* The angle is an f32 product (torch.einsum of f32 tensors); its
             * cosine and sine are then rounded once. */
            float angle = (float)p * inv_freq[c];
            table[p * half + c] = (float)cos((double)angle);
            table[(positions + p) * half + c] = (float)sin((double)angle);
        }
    }
}

void mg_ref_rotary_apply(size_t dim_head, const float *cos_row, const float *sin_row, const float *x, float *out)
{
    /* rotate_half splits the head into halves (x1, x2) and gives (-x2, x1);
     * the angle table is cat(freqs, freqs), so both halves use angle c. */
    size_t half = dim_head / 2;
    for (size_t c = 0; c < half; c++) {
        float a = x[c], b = x[c + half];
        out[c] = a * cos_row[c] - b * sin_row[c];
        out[c + half] = b * cos_row[c] + a * sin_row[c];
    }
}

/* What slot j of query position tq sees. */
typedef enum slot_kind {
    SLOT_VISIBLE = 0,
    SLOT_MASKED = 1
} slot_kind;

typedef struct slot_info {
    slot_kind kind;
    int64_t position;   /* key position, or -1 for a slot outside the sequence's windows */
    bool padded;        /* position in the autopadded tail (>= n): k = v = 0 */
} slot_info;

static slot_info slot_of(const mg_local_attention_params *p, size_t n, size_t windows, const int32_t *mask_row,
                         int64_t tq, size_t j)
{
    int64_t w = tq / (int64_t)p->window;
    int64_t source_window = w - (int64_t)p->look_backward + (int64_t)(j / p->window);
    slot_info s = {SLOT_MASKED, -1, false};
    if (source_window < 0 || source_window >= (int64_t)windows)
        return s; /* look_around's pad (-1): always masked, value -1 */
    int64_t tk = source_window * (int64_t)p->window + (int64_t)(j % p->window);
    s.position = tk;
    s.padded = tk >= (int64_t)n;
    /* exact window: tq - look_backward * W <= tk <= tq + look_forward * W */
    if (tk - (int64_t)(p->look_forward * p->window) > tq || tq > tk + (int64_t)(p->look_backward * p->window))
        return s;
    if (mask_row && (s.padded || mask_row[tk] == 0))
        return s; /* the key mask (autopadded with False) */
    s.kind = SLOT_VISIBLE;
    return s;
}

void mg_ref_local_attention(const mg_local_attention_params *p, size_t batch, size_t n, const float *qkv,
                            const int32_t *mask, const float *rotary, float *out)
{
    size_t dh = p->dim_head, half = dh / 2, heads = p->heads, inner = heads * dh;
    size_t slots = mg_local_attention_slots(p);
    size_t windows = (n + p->window - 1) / p->window;
    size_t query_row = (p->look_backward + p->look_forward) * p->window; /* queries use the table's last W rows */
    float qs[REF_MAX_DIM_HEAD], qr[REF_MAX_DIM_HEAD], kr[REF_MAX_DIM_HEAD];
    double acc[REF_MAX_DIM_HEAD];
    if (dh > REF_MAX_DIM_HEAD || dh % 2 != 0)
        return;
    const float *cos_table = rotary, *sin_table = rotary ? rotary + slots * half : NULL;
    for (size_t b = 0; b < batch; b++) {
        const int32_t *mask_row = mask ? mask + b * n : NULL;
        for (size_t t = 0; t < n; t++) {
            size_t i = t % p->window;
            for (size_t h = 0; h < heads; h++) {
                const float *q = qkv + (b * n + t) * 3 * inner + h * dh;
                for (size_t c = 0; c < dh; c++)
                    qs[c] = q[c] * p->scale;
                if (p->rotary)
                    mg_ref_rotary_apply(dh, cos_table + (query_row + i) * half, sin_table + (query_row + i) * half,
                                        qs, qr);
                else
                    memcpy(qr, qs, dh * sizeof *qr);

                /* score of a visible slot, f32 as torch's einsum gives it */
                float max_score = -INFINITY;
                bool any = false;
                for (size_t j = 0; j < slots; j++) {
                    slot_info s = slot_of(p, n, windows, mask_row, (int64_t)t, j);
                    if (s.kind != SLOT_VISIBLE)
                        continue;
                    float score = 0.0f;
                    if (!s.padded) {
                        const float *k = qkv + (b * n + (size_t)s.position) * 3 * inner + inner + h * dh;
                        if (p->rotary)
                            mg_ref_rotary_apply(dh, cos_table + j * half, sin_table + j * half, k, kr);
                        else
                            memcpy(kr, k, dh * sizeof *kr);
                        double dot = 0.0;
                        for (size_t c = 0; c < dh; c++)
                            dot += (double)qr[c] * kr[c];
                        score = (float)dot;
                    }
                    if (!any || score > max_score)
                        max_score = score;
                    any = true;
                }

                for (size_t c = 0; c < dh; c++)
                    acc[c] = 0.0;
                double total = 0.0;
                for (size_t j = 0; j < slots; j++) {
                    slot_info s = slot_of(p, n, windows, mask_row, (int64_t)t, j);
                    const float *v = NULL;
                    if (s.position >= 0 && !s.padded)
                        v = qkv + (b * n + (size_t)s.position) * 3 * inner + 2 * inner + h * dh;
                    double weight;
                    if (any) {
                        if (s.kind != SLOT_VISIBLE)
                            continue;
                        float score = 0.0f;
                        if (v) {
                            const float *k = v - inner;
                            if (p->rotary)
                                mg_ref_rotary_apply(dh, cos_table + j * half, sin_table + j * half, k, kr);
                            else
                                memcpy(kr, k, dh * sizeof *kr);
                            double dot = 0.0;
                            for (size_t c = 0; c < dh; c++)
                                dot += (double)qr[c] * kr[c];
                            score = (float)dot;
                        }
                        weight = exp((double)score - (double)max_score);
                    } else {
                        /* Every slot masked: torch's softmax over equal fill
                         * values is uniform over all slots, which then average
                         * look_around's -1 pads, the autopad zeros and the
                         * values of masked keys. */
                        weight = 1.0;
                    }
                    total += weight;
                    for (size_t c = 0; c < dh; c++) {
                        double value = v ? (double)v[c] : s.position < 0 ? -1.0 : 0.0;
                        acc[c] += weight * value;
                    }
                }
                float *o = out + (b * n + t) * inner + h * dh;
                for (size_t c = 0; c < dh; c++)
                    o[c] = (float)(acc[c] / total);
            }
        }
    }
}

size_t mg_taylor_feature_dim(size_t dim_head)
{
    return 1 + dim_head + dim_head * dim_head;
}

void mg_ref_taylor_features(size_t dim_head, const float *x, float *out)
{
    const float inv_sqrt2 = 0.70710678118654752f; /* f32 of 0.5 ** 0.5 */
    out[0] = 1.0f;
    for (size_t i = 0; i < dim_head; i++)
        out[1 + i] = x[i];
    for (size_t i = 0; i < dim_head; i++)
        for (size_t j = 0; j < dim_head; j++)
            out[1 + dim_head + i * dim_head + j] = (x[i] * x[j]) * inv_sqrt2;
}

void mg_ref_taylor_kv_summary(size_t batch, size_t n, size_t heads, size_t dim_head, const float *kv,
                              const int32_t *mask, float *summary)
{
    size_t d = dim_head, features = mg_taylor_feature_dim(d), inner = heads * d;
    float phi[TAYLOR_MAX_FEATURES];
    double sums[TAYLOR_MAX_FEATURES * (MG_TAYLOR_MAX_DIM_HEAD + 1)];
    if (d > MG_TAYLOR_MAX_DIM_HEAD)
        return;
    for (size_t b = 0; b < batch; b++) {
        for (size_t h = 0; h < heads; h++) {
            for (size_t i = 0; i < features * (d + 1); i++)
                sums[i] = 0.0;
            for (size_t t = 0; t < n; t++) {
                if (mask && mask[b * n + t] == 0)
                    continue; /* upstream zeroes phi(k) and v of masked keys */
                const float *k = kv + (b * n + t) * 2 * inner + h * d;
                const float *v = k + inner;
                mg_ref_taylor_features(d, k, phi);
                for (size_t f = 0; f < features; f++) {
                    double *row = sums + f * (d + 1);
                    for (size_t e = 0; e < d; e++)
                        row[e] += (double)phi[f] * v[e];
                    row[d] += phi[f];
                }
            }
            float *s = summary + (b * heads + h) * features * (d + 1);
            for (size_t i = 0; i < features * (d + 1); i++)
                s[i] = (float)sums[i];
        }
    }
}

void mg_ref_taylor_readout(size_t batch, size_t n, size_t heads, size_t dim_head, float scale, float eps,
                           const float *q, const float *summary, float *out)
{
    size_t d = dim_head, features = mg_taylor_feature_dim(d), inner = heads * d;
    float qs[MG_TAYLOR_MAX_DIM_HEAD];
    float phi[TAYLOR_MAX_FEATURES];
    if (d > MG_TAYLOR_MAX_DIM_HEAD)
        return;
    for (size_t b = 0; b < batch; b++) {
        for (size_t t = 0; t < n; t++) {
            for (size_t h = 0; h < heads; h++) {
                const float *qh = q + (b * n + t) * inner + h * d;
                for (size_t c = 0; c < d; c++)
                    qs[c] = qh[c] * scale;
                mg_ref_taylor_features(d, qs, phi);
                const float *s = summary + (b * heads + h) * features * (d + 1);
                double den = 0.0;
                for (size_t f = 0; f < features; f++)
                    den += (double)phi[f] * s[f * (d + 1) + d];
                float den_f = (float)den;
                float inv = 1.0f / (den_f > eps ? den_f : eps);
                for (size_t e = 0; e < d; e++) {
                    double num = 0.0;
                    for (size_t f = 0; f < features; f++)
                        num += (double)phi[f] * s[f * (d + 1) + e];
                    out[(b * n + t) * inner + h * d + e] = (float)num * inv;
                }
            }
        }
    }
}
