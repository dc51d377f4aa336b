/* Embedding gather, binary and unary elementwise ops, GEGLU. */
#include "ops/ref/ref_ops.h"

#include <math.h>
#include <string.h>

double mg_ref_gelu(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

double mg_ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

void mg_ref_embedding(size_t n_ids, size_t dim, size_t vocab, const int32_t *ids, mg_ref_param table, float *out)
{
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        float *row = out + i * dim;
        if (id < 0 || (size_t)id >= vocab) {
            memset(row, 0, dim * sizeof *row);
            continue;
        }
        for (size_t d = 0; d < dim; d++)
            row[d] = mg_ref_param_at(table, (size_t)id * dim + d);
    }
}

void mg_ref_binary(mg_binary_op op, size_t n, const float *a, size_t nb, const float *b, float *out)
{
    for (size_t i = 0; i < n; i++) {
        float x = a[i], y = b[i % nb];
        out[i] = op == MG_BINARY_ADD ? x + y : op == MG_BINARY_SUB ? x - y : x * y;
    }
}

void mg_ref_unary(mg_unary_op op, size_t n, const float *x, float alpha, float beta, float *out)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double r;
        switch (op) {
        case MG_UNARY_SCALE: r = (double)alpha * v + (double)beta; break;
        case MG_UNARY_SILU: r = v * mg_ref_sigmoid(v); break;
        case MG_UNARY_GELU: r = mg_ref_gelu(v); break;
        case MG_UNARY_SIGMOID: r = mg_ref_sigmoid(v); break;
        case MG_UNARY_TANH: r = tanh(v); break;
        case MG_UNARY_RELU: r = v > 0.0 ? v : 0.0; break;
        default: r = NAN; break;
        }
        out[i] = (float)r;
    }
}

void mg_ref_geglu(size_t rows, size_t n, const float *x, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *value = x + r * 2 * n;
        const float *gate = value + n;
        for (size_t i = 0; i < n; i++)
            out[r * n + i] = (float)((double)value[i] * mg_ref_gelu(gate[i]));
    }
}
