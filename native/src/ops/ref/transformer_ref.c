/* CPU references of the MeshTransformer ops (see transformer_ref.h). */
#include "ops/ref/transformer_ref.h"

#include <math.h>
#include <string.h>

/* One score folded into an online softmax: the running maximum, the sum of
 * exp(score - maximum) and the weighted value sum, all rescaled when the
 * maximum grows. Double precision keeps the oracle well above f32. */
typedef struct online_softmax {
    bool any;
    double max;
    double total;
    double acc[MG_TF_ATTENTION_MAX_DIM_HEAD];
} online_softmax;

static void online_add(online_softmax *s, size_t dim_head, double score, const float *value, mg_ref_param pvalue,
                       size_t pvalue_base)
{
    double weight = 1.0;
    if (!s->any) {
        s->any = true;
        s->max = score;
    } else if (score > s->max) {
        double rescale = exp(s->max - score);
        s->total *= rescale;
        for (size_t c = 0; c < dim_head; c++)
            s->acc[c] *= rescale;
        s->max = score;
    } else {
        weight = exp(score - s->max);
    }
    s->total += weight;
    for (size_t c = 0; c < dim_head; c++) {
        double x = value ? (double)value[c] : (double)mg_ref_param_at(pvalue, pvalue_base + c);
        s->acc[c] += weight * x;
    }
}

void mg_ref_attention(const mg_attention_params *p, size_t batch, size_t n, size_t dim_head, size_t key_rows,
                      const float *q, const float *k, const float *v, size_t mems, mg_ref_param mem_k,
                      mg_ref_param mem_v, const int32_t *key_mask, float *out)
{
    size_t heads = p->heads, inner = heads * dim_head;
    for (size_t b = 0; b < batch; b++) {
        for (size_t i = 0; i < n; i++) {
            for (size_t h = 0; h < heads; h++) {
                const float *qr = q + (b * n + i) * inner + h * dim_head;
                online_softmax s;
                memset(&s, 0, sizeof s);
                for (size_t m = 0; m < mems; m++) {
                    size_t base = (h * mems + m) * dim_head;
                    double dot = 0.0;
                    for (size_t c = 0; c < dim_head; c++)
                        dot += (double)qr[c] * (double)mg_ref_param_at(mem_k, base + c);
                    online_add(&s, dim_head, dot * (double)p->scale, NULL, mem_v, base);
                }
                for (size_t j = 0; j < p->keys; j++) {
                    if (key_mask && key_mask[b * key_rows + j] == 0)
                        continue;
                    if (p->causal && (int64_t)j > p->query_offset + (int64_t)i)
                        break;
                    const float *kr = k + (b * key_rows + j) * inner + h * dim_head;
                    double dot = 0.0;
                    for (size_t c = 0; c < dim_head; c++)
                        dot += (double)qr[c] * (double)kr[c];
                    online_add(&s, dim_head, dot * (double)p->scale, v + (b * key_rows + j) * inner + h * dim_head,
                               mem_v, 0);
                }
                float *o = out + (b * n + i) * inner + h * dim_head;
                for (size_t c = 0; c < dim_head; c++)
                    o[c] = s.any ? (float)(s.acc[c] / s.total) : 0.0f;
            }
        }
    }
}

void mg_ref_copy_rows(size_t batch, size_t n, size_t dim, size_t dst_rows, size_t row_offset, const float *src,
                      float *dst)
{
    for (size_t b = 0; b < batch; b++)
        memcpy(dst + (b * dst_rows + row_offset) * dim, src + b * n * dim, n * dim * sizeof *src);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

void mg_ref_gateloop(size_t batch, size_t n, size_t dim, const float *qkva, float *state, float *out)
{
    for (size_t b = 0; b < batch; b++) {
        for (size_t d = 0; d < dim; d++) {
            /* The carried state is f32 (what the op stores between calls);
             * within a call the recurrence runs in double. */
            double h = state ? (double)state[b * dim + d] : 0.0;
            for (size_t t = 0; t < n; t++) {
                const float *row = qkva + (b * n + t) * 3 * dim;
                h = sigmoid((double)row[2 * dim + d]) * h + (double)row[dim + d];
                out[(b * n + t) * dim + d] = (float)((double)row[d] * h);
            }
            if (state)
                state[b * dim + d] = (float)h;
        }
    }
}

void mg_ref_value_residual_mix(size_t rows, size_t heads, size_t dim_head, const float *v, const float *v_first,
                               const float *mix_logits, float *out)
{
    size_t inner = heads * dim_head;
    for (size_t r = 0; r < rows; r++) {
        for (size_t h = 0; h < heads; h++) {
            double s = mix_logits ? sigmoid((double)mix_logits[r * heads + h]) : 0.5;
            for (size_t c = 0; c < dim_head; c++) {
                size_t i = r * inner + h * dim_head + c;
                out[i] = (float)((double)v[i] * s + (double)v_first[i] * (1.0 - s));
            }
        }
    }
}

void mg_ref_add_table_rows(size_t batch, size_t n, size_t dim, const float *x, mg_ref_param table, int64_t offset,
                           size_t divisor, size_t period, float *out)
{
    for (size_t b = 0; b < batch; b++) {
        for (size_t t = 0; t < n; t++) {
            size_t row = (size_t)(((uint64_t)offset + t) / divisor % period);
            for (size_t c = 0; c < dim; c++) {
                size_t i = (b * n + t) * dim + c;
                out[i] = x[i] + mg_ref_param_at(table, row * dim + c);
            }
        }
    }
}
