#include "ops/ref/ref_ops.h"

#include "core/half.h"

#include <stdlib.h>

float mg_ref_param_at(mg_ref_param p, size_t index)
{
    if (p.is_f16)
        return mg_half_to_float(((const uint16_t *)p.data)[index]);
    return ((const float *)p.data)[index];
}

/* One row of B^T (length k) or column of B, as f32, for a contiguous inner loop. */
static void gather_column(mg_ref_param b, size_t base, size_t n_index, size_t n, size_t k, bool transposed, float *dst)
{
    for (size_t i = 0; i < k; i++)
        dst[i] = mg_ref_param_at(b, transposed ? base + n_index * k + i : base + i * n + n_index);
}

void mg_ref_matmul(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b, bool b_transposed,
                   bool b_broadcast, mg_ref_param bias, float *out)
{
    float *column = malloc(k * sizeof *column);
    if (!column)
        return; /* callers check allocation before calling: unreachable in practice */
    for (size_t bi = 0; bi < batch; bi++) {
        const float *a_batch = a + bi * m * k;
        size_t b_base = b_broadcast ? 0 : bi * k * n;
        float *out_batch = out + bi * m * n;
        for (size_t j = 0; j < n; j++) {
            gather_column(b, b_base, j, n, k, b_transposed, column);
            double bias_j = bias.data ? mg_ref_param_at(bias, j) : 0.0;
            for (size_t i = 0; i < m; i++) {
                const float *row = a_batch + i * k;
                double sum = 0.0;
                for (size_t p = 0; p < k; p++)
                    sum += (double)row[p] * (double)column[p];
                out_batch[i * n + j] = (float)(sum + bias_j);
            }
        }
    }
    free(column);
}
