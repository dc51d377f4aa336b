/* Backward of the row ops: normalisations, softmax; the fused cross-entropy. */
#include "ops/ref/grad_ref.h"

#include <math.h>
#include <stdlib.h>

/*
 * With u = d_out * (gamma + offset) and xhat = (x - mean) * factor (what the gain multiplies):
 *   LayerNorm: factor = 1 / sqrt(var + eps), d_x = factor * (u - mean(u) - xhat * mean(u xhat))
 *   RMSNorm:   factor = 1 / sqrt(mean(x^2) + eps), d_x = factor * (u - xhat * mean(u xhat))
 *   L2:        factor = scale / ||x||, d_x = factor * (u - x * sum(u x) / ||x||^2); below eps the divisor
 *              is the constant eps, so d_x = factor * u.
 *   d_gamma += sum over rows of d_out * xhat, d_beta += sum over rows of d_out.
 */
bool mg_ref_norm_backward(const mg_norm_params *p, size_t rows, size_t dim, const float *x, mg_ref_param gamma,
                          const float *d_out, float *d_x, float *d_gamma, float *d_beta)
{
    bool layer = p->mode == MG_NORM_LAYER;
    if (!layer)
        d_beta = NULL;
    double *sums = (d_gamma || d_beta) ? calloc(2 * dim, sizeof *sums) : NULL;
    if ((d_gamma || d_beta) && !sums)
        return false;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * dim, *g = d_out + r * dim;
        double mean = 0.0, sum_squares = 0.0;
        if (layer) {
            for (size_t i = 0; i < dim; i++)
                mean += row[i];
            mean /= (double)dim;
        }
        for (size_t i = 0; i < dim; i++)
            sum_squares += (row[i] - mean) * (row[i] - mean);
        double factor, projection;
        if (p->mode == MG_NORM_L2) {
            double norm = sqrt(sum_squares);
            bool clamped = !(norm > p->eps);
            factor = (double)p->scale / (clamped ? (double)p->eps : norm);
            projection = clamped ? 0.0 : 1.0 / sum_squares;
        } else {
            factor = 1.0 / sqrt(sum_squares / (double)dim + (double)p->eps);
            projection = factor * factor / (double)dim;
        }
        double sum_u = 0.0, sum_u_centred = 0.0;
        for (size_t i = 0; i < dim; i++) {
            double gain = gamma.data ? (double)mg_ref_param_at(gamma, i) + (double)p->gamma_offset : 1.0;
            double u = (double)g[i] * gain;
            sum_u += u;
            sum_u_centred += u * (row[i] - mean);
        }
        double mean_u = layer ? sum_u / (double)dim : 0.0;
        for (size_t i = 0; i < dim; i++) {
            double centred = row[i] - mean;
            if (sums) {
                sums[i] += (double)g[i] * centred * factor;
                sums[dim + i] += g[i];
            }
            if (d_x) {
                double gain = gamma.data ? (double)mg_ref_param_at(gamma, i) + (double)p->gamma_offset : 1.0;
                double u = (double)g[i] * gain;
                d_x[r * dim + i] = (float)(factor * (u - mean_u - centred * projection * sum_u_centred));
            }
        }
    }
    for (size_t i = 0; sums && i < dim; i++) {
        if (d_gamma)
            d_gamma[i] = (float)((double)d_gamma[i] + sums[i]);
        if (d_beta)
            d_beta[i] = (float)((double)d_beta[i] + sums[dim + i]);
    }
    free(sums);
    return true;
}

/* As mg_ref_softmax's visibility rule. */
static bool softmax_visible(const mg_softmax_params *p, size_t row, size_t n, size_t j)
{
    if (p->mask && p->mask[(row / p->mask_row_divisor) * n + j] == 0)
        return false;
    if (p->causal && (int64_t)j > (int64_t)(row % p->causal_queries) + p->causal_offset)
        return false;
    return true;
}

void mg_ref_softmax_backward(const mg_softmax_params *p, size_t rows, size_t n, const float *y, const float *d_y,
                             float *d_x)
{
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * n, *gr = d_y + r * n;
        double dot = 0.0;
        for (size_t j = 0; j < n; j++)
            if (softmax_visible(p, r, n, j))
                dot += (double)gr[j] * (double)yr[j];
        for (size_t j = 0; j < n; j++)
            d_x[r * n + j] = softmax_visible(p, r, n, j)
                                 ? (float)((double)p->scale * (double)yr[j] * ((double)gr[j] - dot))
                                 : 0.0f;
    }
}

void mg_ref_cross_entropy(size_t rows, size_t v, const float *logits, const int32_t *targets, const float *weights,
                          float scale, float *loss, float *d_logits)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = logits + r * v;
        int32_t t = targets[r];
        bool ignored = t < 0 || (size_t)t >= v;
        if (ignored) {
            if (loss)
                loss[r] = 0.0f;
            for (size_t j = 0; d_logits && j < v; j++)
                d_logits[r * v + j] = 0.0f;
            continue;
        }
        double w = weights ? (double)weights[r] : 1.0;
        double max = row[0];
        for (size_t j = 1; j < v; j++)
            max = row[j] > max ? row[j] : max;
        double sum = 0.0;
        for (size_t j = 0; j < v; j++)
            sum += exp((double)row[j] - max);
        double target_logit = row[t];
        if (loss)
            loss[r] = (float)(w * (max + log(sum) - target_logit));
        /* Written after every read of the row: d_logits may be logits. */
        for (size_t j = 0; d_logits && j < v; j++) {
            double prob = exp((double)row[j] - max) / sum;
            d_logits[r * v + j] = (float)((double)scale * w * (prob - ((size_t)t == j ? 1.0 : 0.0)));
        }
    }
}
