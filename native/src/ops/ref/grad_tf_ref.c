/* CPU references of the MeshTransformer backward ops other than attention
 * (see grad_tf_ref.h). */
#include "ops/ref/grad_tf_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* h_t = g_t h_{t-1} + kv_t, out_t = q_t h_t (g_t = sigmoid(a_t), h_{-1} = 0). Backwards in time, with
 * carry = g_{t+1} dh_{t+1} (what h_t receives through the next step):
 *   dh_t = d_out_t q_t + carry, d_q_t = d_out_t h_t, d_kv_t = dh_t, d_a_t = dh_t h_{t-1} g_t (1 - g_t). */
bool mg_ref_gateloop_backward(size_t batch, size_t n, size_t dim, const float *qkva, const float *d_out,
                              float *d_qkva)
{
    double *h = malloc((n + 1) * sizeof *h); /* h[t + 1] = h_t, h[0] = the zero initial state */
    if (!h)
        return false;
    for (size_t b = 0; b < batch; b++) {
        for (size_t d = 0; d < dim; d++) {
            h[0] = 0.0;
            for (size_t t = 0; t < n; t++) {
                const float *row = qkva + (b * n + t) * 3 * dim;
                h[t + 1] = sigmoid((double)row[2 * dim + d]) * h[t] + (double)row[dim + d];
            }
            double carry = 0.0;
            for (size_t t = n; t-- > 0;) {
                const float *row = qkva + (b * n + t) * 3 * dim;
                float *grad = d_qkva + (b * n + t) * 3 * dim;
                double g = sigmoid((double)row[2 * dim + d]);
                double go = (double)d_out[(b * n + t) * dim + d];
                double dh = go * (double)row[d] + carry;
                grad[d] = (float)(go * h[t + 1]);
                grad[dim + d] = (float)dh;
                grad[2 * dim + d] = (float)(dh * h[t] * g * (1.0 - g));
                carry = g * dh;
            }
        }
    }
    free(h);
    return true;
}

void mg_ref_value_residual_mix_backward(size_t rows, size_t heads, size_t dim_head, const float *v,
                                        const float *v_first, const float *mix_logits, const float *d_out,
                                        float *d_v, float *d_v_first, float *d_mix_logits)
{
    size_t inner = heads * dim_head;
    for (size_t r = 0; r < rows; r++) {
        for (size_t h = 0; h < heads; h++) {
            double s = mix_logits ? sigmoid((double)mix_logits[r * heads + h]) : 0.5;
            double dot = 0.0;
            for (size_t c = 0; c < dim_head; c++) {
                size_t i = r * inner + h * dim_head + c;
                double g = (double)d_out[i]; /* read before d_v (which may be d_out) is written */
                dot += g * ((double)v[i] - (double)v_first[i]);
                if (d_v_first)
                    d_v_first[i] = (float)((double)d_v_first[i] + g * (1.0 - s));
                if (d_v)
                    d_v[i] = (float)(g * s);
            }
            if (d_mix_logits)
                d_mix_logits[r * heads + h] = (float)(dot * s * (1.0 - s));
        }
    }
}

void mg_ref_add_table_rows_backward(size_t batch, size_t n, size_t dim, const float *d_out, int64_t offset,
                                    size_t divisor, size_t period, float *d_table)
{
    /* Row r is read at the positions p = t + offset (reduced modulo the cycle divisor * period, which does not
     * change the row) in [r * divisor + k * cycle, r * divisor + k * cycle + divisor) for k = 0, 1, ...: each
     * row's positions are enumerated directly, in increasing t, so each sum is one double accumulation in (b, t)
     * order and the work is O(n + cycle) per channel rather than O(n * period). */
    uint64_t cycle = (uint64_t)divisor * period, shift = (uint64_t)offset % cycle;
    for (size_t r = 0; r < period; r++) {
        for (size_t c = 0; c < dim; c++) {
            double sum = 0.0;
            bool used = false;
            for (size_t b = 0; b < batch; b++) {
                for (uint64_t start = (uint64_t)r * divisor; start < shift + n; start += cycle) {
                    uint64_t stop = start + divisor < shift + n ? start + divisor : shift + n;
                    for (uint64_t pos = start < shift ? shift : start; pos < stop; pos++) {
                        sum += (double)d_out[(b * n + (size_t)(pos - shift)) * dim + c];
                        used = true;
                    }
                }
            }
            if (used)
                d_table[r * dim + c] = (float)((double)d_table[r * dim + c] + sum);
        }
    }
}

void mg_ref_copy_rows_backward(size_t batch, size_t n, size_t dim, size_t dst_rows, size_t row_offset,
                               const float *d_dst, float *d_src)
{
    for (size_t b = 0; b < batch; b++)
        memcpy(d_src + b * n * dim, d_dst + (b * dst_rows + row_offset) * dim, n * dim * sizeof *d_src);
}
