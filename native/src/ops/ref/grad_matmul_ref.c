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

/* d_a rows [begin, end) of the flattened [batch * m, k]: d_a[r, kk] = d_out[r, :] . B[kk, :]. Up to four rows
 * that use the same B share each pair of rows of B (mg_ref_dot4x2; a short group repeats its last row, an odd
 * last kk goes in alone with b_stride 0); the values do not depend on the grouping. */
static void d_a_rows(size_t begin, size_t end, void *context)
{
    const backward_job *job = context;
    const size_t n = job->n, k = job->k;
    for (size_t r = begin; r < end;) {
        const size_t b_index = job->b_broadcast ? 0 : r / job->m;
        const float *b = job->b_rows + b_index * k * n;
        size_t count = end - r < 4 ? end - r : 4;
        if (!job->b_broadcast && count > (b_index + 1) * job->m - r)
            count = (b_index + 1) * job->m - r; /* stay inside this batch's B */
        if (count == 1) { /* a lone row: repeating it four times would cost more than a plain dot */
            for (size_t kk = 0; kk < k; kk++)
                job->d_a[r * k + kk] = (float)mg_ref_dot(job->d_out + r * n, b + kk * n, n);
            r++;
            continue;
        }
        const float *g_rows[4];
        for (size_t t = 0; t < 4; t++)
            g_rows[t] = job->d_out + (r + (t < count ? t : count - 1)) * n;
        for (size_t kk = 0; kk < k; kk += 2) {
            const size_t pair = kk + 2 <= k ? 2 : 1;
            double dots[8];
            mg_ref_dot4x2(g_rows, b + kk * n, pair == 2 ? n : 0, n, dots);
            for (size_t t = 0; t < count; t++)
                for (size_t c = 0; c < pair; c++)
                    job->d_a[(r + t) * k + kk + c] = (float)dots[t * 2 + c];
        }
        r += count;
    }
}

/* acc rows [begin, end) of the flattened [groups * k, n]: sum over r, in order, of a[r, kk] * d_out[r, :].
 * Four rows of acc (same group) go through d_out together (mg_ref_rank1_accumulate4), ROW_CHUNK rows of d_out at
 * a time so that the chunk stays in cache for all of [begin, end); every element still sums its terms in the
 * order of r. */
#define ROW_CHUNK 64
MG_REF_VECTOR_CLONES static void d_b_rows(size_t begin, size_t end, void *context)
{
    const backward_job *job = context;
    const size_t n = job->n, k = job->k;
    for (size_t r0 = 0; r0 < job->rows; r0 += ROW_CHUNK) {
        const size_t chunk = job->rows - r0 < ROW_CHUNK ? job->rows - r0 : ROW_CHUNK;
        for (size_t item = begin; item < end;) {
            const size_t gi = item / k, kk = item % k;
            size_t count = end - item < 4 ? end - item : 4;
            if (count > k - kk)
                count = k - kk; /* stay inside group gi */
            double *dst = job->acc + item * n;
            const float *a = job->a + (gi * job->rows + r0) * k + kk;
            const float *g = job->d_out + (gi * job->rows + r0) * n;
            if (count == 4) {
                mg_ref_rank1_accumulate4(dst, n, n, a, k, g, n, chunk);
            } else {
                for (size_t r = 0; r < chunk; r++)
                    for (size_t t = 0; t < count; t++) {
                        const double av = a[r * k + t];
                        double *d = dst + t * n;
                        for (size_t j = 0; j < n; j++)
                            d[j] += av * (double)g[r * n + j];
                    }
            }
            item += count;
        }
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
