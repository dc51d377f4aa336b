/* Row-wise ops: normalisations, masked softmax, argmax. */
#include "ops/ref/ref_ops.h"

#include <math.h>

void mg_ref_norm(const mg_norm_params *p, size_t rows, size_t dim, const float *x, mg_ref_param gamma,
                 mg_ref_param beta, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * dim;
        double mean = 0.0, sum_squares = 0.0;
        if (p->mode == MG_NORM_LAYER) {
            for (size_t i = 0; i < dim; i++)
                mean += row[i];
            mean /= (double)dim;
        }
        for (size_t i = 0; i < dim; i++) {
            double centred = row[i] - mean;
            sum_squares += centred * centred;
        }
        double factor;
        if (p->mode == MG_NORM_L2) {
            double norm = sqrt(sum_squares);
            factor = (double)p->scale / (norm > p->eps ? norm : (double)p->eps);
        } else {
            factor = 1.0 / sqrt(sum_squares / (double)dim + (double)p->eps);
        }
        for (size_t i = 0; i < dim; i++) {
            double y = (row[i] - mean) * factor;
            if (gamma.data)
                y *= (double)mg_ref_param_at(gamma, i) + (double)p->gamma_offset;
            if (beta.data && p->mode == MG_NORM_LAYER)
                y += mg_ref_param_at(beta, i);
            out[r * dim + i] = (float)y;
        }
    }
}

static bool visible(const mg_softmax_params *p, size_t row, size_t n, size_t j)
{
    if (p->mask && p->mask[(row / p->mask_row_divisor) * n + j] == 0)
        return false;
    if (p->causal && (int64_t)j > (int64_t)(row % p->causal_queries) + p->causal_offset)
        return false;
    return true;
}

void mg_ref_softmax(const mg_softmax_params *p, size_t rows, size_t n, const float *x, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * n;
        double max = -INFINITY;
        for (size_t j = 0; j < n; j++)
            if (visible(p, r, n, j) && (double)row[j] * p->scale > max)
                max = (double)row[j] * p->scale;
        double sum = 0.0;
        for (size_t j = 0; j < n; j++)
            if (visible(p, r, n, j))
                sum += exp((double)row[j] * p->scale - max);
        for (size_t j = 0; j < n; j++)
            out[r * n + j] = (sum > 0.0 && visible(p, r, n, j)) ? (float)(exp((double)row[j] * p->scale - max) / sum)
                                                                 : 0.0f;
    }
}

void mg_ref_argmax(size_t rows, size_t n, const float *x, int32_t *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * n;
        size_t best = 0;
        for (size_t j = 1; j < n; j++) {
            if (isnan(row[best]))
                break; /* the first NaN wins */
            if (isnan(row[j]) || row[j] > row[best])
                best = j;
        }
        out[r] = (int32_t)best;
    }
}
