/* Backward of the embedding gather, the unary activations and GEGLU. */
#include "ops/ref/grad_ref.h"

#include <math.h>

double mg_ref_gelu_derivative(double x)
{
    /* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
    const double inv_sqrt_2pi = 0.39894228040143267794;
    return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * inv_sqrt_2pi * exp(-0.5 * x * x);
}

void mg_ref_embedding_backward(size_t dim, size_t unique, const int32_t *rows, const int32_t *offsets,
                               const int32_t *positions, const float *d_out, float *d_table)
{
    for (size_t u = 0; u < unique; u++) {
        float *dst = d_table + (size_t)rows[u] * dim;
        for (size_t c = 0; c < dim; c++) {
            double sum = 0.0;
            for (int32_t p = offsets[u]; p < offsets[u + 1]; p++)
                sum += d_out[(size_t)positions[p] * dim + c];
            dst[c] = (float)((double)dst[c] + sum);
        }
    }
}

void mg_ref_unary_backward(mg_unary_op op, size_t n, const float *x, float alpha, const float *d_out, float *d_x)
{
    for (size_t i = 0; i < n; i++) {
        double g = d_out[i];
        if (op == MG_UNARY_SCALE) {
            d_x[i] = (float)((double)alpha * g);
            continue;
        }
        double v = x[i], derivative;
        switch (op) {
        case MG_UNARY_SILU: {
            double s = mg_ref_sigmoid(v);
            derivative = s * (1.0 + v * (1.0 - s));
            break;
        }
        case MG_UNARY_GELU: derivative = mg_ref_gelu_derivative(v); break;
        case MG_UNARY_SIGMOID: {
            double s = mg_ref_sigmoid(v);
            derivative = s * (1.0 - s);
            break;
        }
        case MG_UNARY_TANH: {
            double t = tanh(v);
            derivative = 1.0 - t * t;
            break;
        }
        case MG_UNARY_RELU: derivative = v > 0.0 ? 1.0 : 0.0; break;
        default: derivative = NAN; break;
        }
        d_x[i] = (float)(g * derivative);
    }
}

void mg_ref_geglu_backward(size_t rows, size_t n, const float *x, const float *d_out, float *d_x)
{
    for (size_t r = 0; r < rows; r++) {
        const float *value = x + r * 2 * n, *gate = value + n;
        for (size_t i = 0; i < n; i++) {
            double g = d_out[r * n + i];
            d_x[r * 2 * n + i] = (float)(g * mg_ref_gelu(gate[i]));
            d_x[r * 2 * n + n + i] = (float)(g * (double)value[i] * mg_ref_gelu_derivative(gate[i]));
        }
    }
}
