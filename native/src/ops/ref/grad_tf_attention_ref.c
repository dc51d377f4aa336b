/* CPU reference of the attention backward (see grad_tf_ref.h).
 *
 * Per (batch, query, head), with P the softmax over the visible keys
 * [memories, keys], out = P . V and dP_j = d_out . v_j:
 *   D = d_out . out, dS_j = P_j (dP_j - D),
 *   d_q = scale sum_j dS_j k_j, d_k_j += scale dS_j q, d_v_j += P_j d_out.
 * Everything is accumulated in double scratch arrays and rounded once. */
#include "ops/ref/grad_tf_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool key_visible(const mg_attention_params *p, const int32_t *key_mask, size_t key_rows, size_t b, size_t i,
                        size_t j)
{
    if (j >= p->keys || (key_mask && key_mask[b * key_rows + j] == 0))
        return false;
    return !p->causal || (int64_t)j <= p->query_offset + (int64_t)i;
}

/* Row jj of [memories, keys] for head h: a pointer into k/v, or NULL and a
 * base index into the memory parameter. */
static double key_at(mg_ref_param mem, const float *rows, size_t base, size_t c)
{
    return rows ? (double)rows[c] : (double)mg_ref_param_at(mem, base + c);
}

bool mg_ref_attention_backward(const mg_attention_params *p, size_t batch, size_t n, size_t dim_head,
                               size_t key_rows, const float *q, const float *k, const float *v, size_t mems,
                               mg_ref_param mem_k, mg_ref_param mem_v, const int32_t *key_mask, const float *d_out,
                               float *d_q, float *d_k, float *d_v, float *d_mem_k, float *d_mem_v)
{
    size_t heads = p->heads, inner = heads * dim_head, total = mems + p->keys;
    size_t kv_count = batch * key_rows * inner, mem_count = heads * mems * dim_head;
    double *scores = malloc((total + 1) * sizeof *scores);
    double *dk = d_k ? calloc(kv_count + 1, sizeof *dk) : NULL;
    double *dv = d_v ? calloc(kv_count + 1, sizeof *dv) : NULL;
    double *dmk = d_mem_k ? calloc(mem_count + 1, sizeof *dmk) : NULL;
    double *dmv = d_mem_v ? calloc(mem_count + 1, sizeof *dmv) : NULL;
    if (!scores || (d_k && !dk) || (d_v && !dv) || (d_mem_k && !dmk) || (d_mem_v && !dmv)) {
        free(scores);
        free(dk);
        free(dv);
        free(dmk);
        free(dmv);
        return false;
    }
    double scale = (double)p->scale;
    for (size_t b = 0; b < batch; b++) {
        for (size_t i = 0; i < n; i++) {
            for (size_t h = 0; h < heads; h++) {
                size_t row = (b * n + i) * inner + h * dim_head;
                const float *qr = q + row, *g = d_out + row;
                /* scores of the visible keys (invisible ones are skipped by key_visible below) */
                bool any = false;
                double max = 0.0;
                for (size_t jj = 0; jj < total; jj++) {
                    bool is_mem = jj < mems;
                    if (!is_mem && !key_visible(p, key_mask, key_rows, b, i, jj - mems))
                        continue;
                    size_t base = (h * mems + jj) * dim_head;
                    const float *kr = is_mem ? NULL : k + (b * key_rows + jj - mems) * inner + h * dim_head;
                    double dot = 0.0;
                    for (size_t c = 0; c < dim_head; c++)
                        dot += (double)qr[c] * key_at(mem_k, kr, base, c);
                    scores[jj] = dot * scale;
                    max = any ? fmax(max, scores[jj]) : scores[jj];
                    any = true;
                }
                if (!any) {
                    if (d_q)
                        memset(d_q + row, 0, dim_head * sizeof *d_q);
                    continue; /* the output is constant zero: no gradient anywhere */
                }
                double sum = 0.0;
                for (size_t jj = 0; jj < total; jj++)
                    if (jj < mems || key_visible(p, key_mask, key_rows, b, i, jj - mems))
                        sum += exp(scores[jj] - max);
                /* probabilities in place of the scores, and D = d_out . out = sum_j P_j dP_j */
                double d_sum = 0.0;
                for (size_t jj = 0; jj < total; jj++) {
                    if (!(jj < mems || key_visible(p, key_mask, key_rows, b, i, jj - mems)))
                        continue;
                    scores[jj] = exp(scores[jj] - max) / sum;
                    size_t base = (h * mems + jj) * dim_head;
                    const float *vr = jj < mems ? NULL : v + (b * key_rows + jj - mems) * inner + h * dim_head;
                    double dp = 0.0;
                    for (size_t c = 0; c < dim_head; c++)
                        dp += (double)g[c] * key_at(mem_v, vr, base, c);
                    d_sum += scores[jj] * dp;
                }
                double dq[MG_TF_ATTENTION_MAX_DIM_HEAD] = {0};
                for (size_t jj = 0; jj < total; jj++) {
                    bool is_mem = jj < mems;
                    if (!is_mem && !key_visible(p, key_mask, key_rows, b, i, jj - mems))
                        continue;
                    size_t base = (h * mems + jj) * dim_head;
                    size_t kv_row = is_mem ? 0 : (b * key_rows + jj - mems) * inner + h * dim_head;
                    const float *kr = is_mem ? NULL : k + kv_row, *vr = is_mem ? NULL : v + kv_row;
                    double prob = scores[jj], dp = 0.0;
                    for (size_t c = 0; c < dim_head; c++)
                        dp += (double)g[c] * key_at(mem_v, vr, base, c);
                    double ds = prob * (dp - d_sum) * scale;
                    for (size_t c = 0; c < dim_head; c++)
                        dq[c] += ds * key_at(mem_k, kr, base, c);
                    double *gk = is_mem ? dmk : dk, *gv = is_mem ? dmv : dv;
                    size_t at = is_mem ? base : kv_row;
                    for (size_t c = 0; c < dim_head; c++) {
                        if (gk)
                            gk[at + c] += ds * (double)qr[c];
                        if (gv)
                            gv[at + c] += prob * (double)g[c];
                    }
                }
                if (d_q)
                    for (size_t c = 0; c < dim_head; c++)
                        d_q[row + c] = (float)dq[c];
            }
        }
    }
    for (size_t e = 0; e < kv_count; e++) {
        if (d_k)
            d_k[e] = (float)dk[e];
        if (d_v)
            d_v[e] = (float)dv[e];
    }
    for (size_t e = 0; e < mem_count; e++) {
        if (d_mem_k)
            d_mem_k[e] = (float)((double)d_mem_k[e] + dmk[e]);
        if (d_mem_v)
            d_mem_v[e] = (float)((double)d_mem_v[e] + dmv[e]);
    }
    free(scores);
    free(dk);
    free(dv);
    free(dmk);
    free(dmv);
    return true;
}
