/* Matmul backward and column sums, in double. */
#include "ops/ref/grad_ref.h"
#include "ops/ref/parallel.h"

#include <stdlib.h>
#include <string.h>

/* B of one batch as f32 [k, n] (whatever b's layout and dtype), for contiguous inner loops. */
static void unpack_b(mg_ref_param b, size_t base, size_t n, size_t k, bool transposed, float *dst)
{
    for (size_t kk = 0; kk < k; kk++)
        for (size_t j = 0; j < n; j++)
            dst[kk * n + j] = mg_ref_param_at(b, transposed ? base + j * k + kk : base + kk * n + j);
}

typedef struct backward_job {
    size_t m, n, k, rows;   /* rows: of a and d_out per b matrix (batch * m for a shared b, else m) */
    const float *a, *d_out, *b_rows;
    bool b_broadcast;
    float *d_a;
    double *acc;            /* [groups, k, n] */
} backward_job;

/* d_a rows [begin, end) of the flattened [batch * m, k]: d_a[r, kk] = d_out[r, :] . B[kk, :]. Four rows at a
 * time share each row of B (mg_ref_dot4) when they use the same B; the values do not depend on the grouping. */
static void d_a_rows(size_t begin, size_t end, void *context)
{
    const backward_job *job = context;
    const size_t n = job->n, k = job->k;
    for (size_t r = begin; r < end;) {
        const size_t b_index = job->b_broadcast ? 0 : r / job->m;
        const float *b = job->b_rows + b_index * k * n;
        const float *g = job->d_out + r * n;
        const bool four = r + 4 <= end && (job->b_broadcast || (r + 3) / job->m == b_index);
        if (four) {
            for (size_t kk = 0; kk < k; kk++) {
                double dots[4];
                mg_ref_dot4(g, n, b + kk * n, n, dots);
                for (size_t t = 0; t < 4; t++)
                    job->d_a[(r + t) * k + kk] = (float)dots[t];
            }
            r += 4;
        } else {
            for (size_t kk = 0; kk < k; kk++)
                job->d_a[r * k + kk] = (float)mg_ref_dot(g, b + kk * n, n);
            r++;
        }
    }
}

/* acc rows [begin, end) of the flattened [groups * k, n]: sum over r, in order, of a[r, kk] * d_out[r, :].
 * Up to four rows of acc (same group) go through d_out together, so each row of d_out is read once for them;
 * every element still sums its terms in the order of r. */
MG_REF_VECTOR_CLONES static void d_b_rows(size_t begin, size_t end, void *context)
{
    const backward_job *job = context;
    const size_t n = job->n, k = job->k;
    for (size_t item = begin; item < end;) {
        const size_t gi = item / k, kk = item % k;
        size_t count = end - item < 4 ? end - item : 4;
        if (count > k - kk)
            count = k - kk; /* stay inside group gi */
        double *dst = job->acc + item * n;
        for (size_t r = 0; r < job->rows; r++) {
            const float *a_row = job->a + (gi * job->rows + r) * k + kk;
            const float *g = job->d_out + (gi * job->rows + r) * n;
            if (count == 4) {
                const double a0 = a_row[0], a1 = a_row[1], a2 = a_row[2], a3 = a_row[3];
                double *d0 = dst, *d1 = dst + n, *d2 = dst + 2 * n, *d3 = dst + 3 * n;
                for (size_t j = 0; j < n; j++) {
                    const double gj = (double)g[j];
                    d0[j] += a0 * gj;
                    d1[j] += a1 * gj;
                    d2[j] += a2 * gj;
                    d3[j] += a3 * gj;
                }
            } else {
                for (size_t t = 0; t < count; t++) {
                    const double av = a_row[t];
                    double *d = dst + t * n;
                    for (size_t j = 0; j < n; j++)
                        d[j] += av * (double)g[j];
                }
            }
        }
        item += count;
    }
}

bool mg_ref_matmul_backward(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b,
                            bool b_transposed, bool b_broadcast, const float *d_out, float *d_a, float *d_b,
                            float *d_bias)
{
    const size_t copies = b_broadcast ? 1 : batch;
    /* One accumulator per b matrix: all batches for a shared b, else one per batch. */
    const size_t groups = b_broadcast ? 1 : batch, rows = b_broadcast ? batch * m : m;
    const size_t b_size = copies * k * n, acc_size = groups * k * n;
    float *b_rows = d_a ? malloc((b_size > 0 ? b_size : 1) * sizeof *b_rows) : NULL;
    double *acc = d_b ? calloc(acc_size > 0 ? acc_size : 1, sizeof *acc) : NULL;
    if ((d_a && !b_rows) || (d_b && !acc)) {
        free(b_rows);
        free(acc);
        return false;
    }
    backward_job job = {m, n, k, rows, a, d_out, b_rows, b_broadcast, d_a, acc};
    const double cost = (double)batch * (double)m * (double)n * (double)k;
    if (d_a) {
        for (size_t c = 0; c < copies; c++)
            unpack_b(b, c * k * n, n, k, b_transposed, b_rows + c * k * n);
        mg_ref_parallel_for(batch * m, cost, d_a_rows, &job);
    }
    if (d_b) {
        mg_ref_parallel_for(groups * k, cost, d_b_rows, &job);
        for (size_t gi = 0; gi < groups; gi++) {
            float *out = d_b + gi * k * n;
            const double *g_acc = acc + gi * k * n;
            for (size_t kk = 0; kk < k; kk++)
                for (size_t j = 0; j < n; j++)
                    out[b_transposed ? j * k + kk : kk * n + j] += (float)g_acc[kk * n + j];
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
