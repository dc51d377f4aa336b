/* Matmul backward and column sums, in double. */
#include "ops/ref/grad_ref.h"

#include <stdlib.h>
#include <string.h>

/* B of one batch as f32 [k, n] (whatever b's layout and dtype), for contiguous inner loops. */
static void unpack_b(mg_ref_param b, size_t base, size_t n, size_t k, bool transposed, float *dst)
{
    for (size_t kk = 0; kk < k; kk++)
        for (size_t j = 0; j < n; j++)
            dst[kk * n + j] = mg_ref_param_at(b, transposed ? base + j * k + kk : base + kk * n + j);
}

bool mg_ref_matmul_backward(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b,
                            bool b_transposed, bool b_broadcast, const float *d_out, float *d_a, float *d_b,
                            float *d_bias)
{
    float *b_rows = d_a ? malloc(k * n * sizeof *b_rows) : NULL;
    double *acc = d_b ? malloc(k * n * sizeof *acc) : NULL;
    if ((d_a && !b_rows) || (d_b && !acc)) {
        free(b_rows);
        free(acc);
        return false;
    }
    if (d_a) {
        for (size_t bi = 0; bi < batch; bi++) {
            if (bi == 0 || !b_broadcast)
                unpack_b(b, b_broadcast ? 0 : bi * k * n, n, k, b_transposed, b_rows);
            for (size_t i = 0; i < m; i++) {
                const float *g = d_out + (bi * m + i) * n;
                for (size_t kk = 0; kk < k; kk++) {
                    const float *brow = b_rows + kk * n;
                    double sum = 0.0;
                    for (size_t j = 0; j < n; j++)
                        sum += (double)g[j] * (double)brow[j];
                    d_a[(bi * m + i) * k + kk] = (float)sum;
                }
            }
        }
    }
    if (d_b) {
        /* One accumulator per b matrix: all batches for a shared b, else one per batch. */
        size_t groups = b_broadcast ? 1 : batch, rows = b_broadcast ? batch * m : m;
        for (size_t gi = 0; gi < groups; gi++) {
            memset(acc, 0, k * n * sizeof *acc);
            for (size_t r = 0; r < rows; r++) {
                const float *arow = a + (gi * rows + r) * k;
                const float *g = d_out + (gi * rows + r) * n;
                for (size_t kk = 0; kk < k; kk++) {
                    double av = arow[kk];
                    double *dst = acc + kk * n;
                    for (size_t j = 0; j < n; j++)
                        dst[j] += av * (double)g[j];
                }
            }
            float *out = d_b + gi * k * n;
            for (size_t kk = 0; kk < k; kk++)
                for (size_t j = 0; j < n; j++)
                    out[b_transposed ? j * k + kk : kk * n + j] += (float)acc[kk * n + j];
        }
    }
    if (d_bias)
        mg_ref_column_sum(1, batch * m, n, d_out, NULL, true, d_bias);
    free(b_rows);
    free(acc);
    return true;
}

void mg_ref_column_sum(size_t groups, size_t r_count, size_t c, const float *x, const float *w, bool accumulate,
                       float *out)
{
    for (size_t g = 0; g < groups; g++) {
        for (size_t j = 0; j < c; j++) {
            double sum = 0.0;
            for (size_t r = 0; r < r_count; r++) {
                size_t i = (g * r_count + r) * c + j;
                sum += w ? (double)x[i] * (double)w[i] : (double)x[i];
            }
            out[g * c + j] = accumulate ? (float)((double)out[g * c + j] + sum) : (float)sum;
        }
    }
}
