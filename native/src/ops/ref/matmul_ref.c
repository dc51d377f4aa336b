#include "ops/ref/ref_ops.h"

#include "core/half.h"
#include "ops/ref/parallel.h"

#include <stdlib.h>

float mg_ref_param_at(mg_ref_param p, size_t index)
{
    if (p.is_f16)
        return mg_half_to_float(((const uint16_t *)p.data)[index]);
    return ((const float *)p.data)[index];
}

/* B of every batch (one for a shared b) as f32 B^T [n, k]: each output is then one contiguous dot product. */
static void unpack_columns(mg_ref_param b, size_t base, size_t n, size_t k, bool transposed, float *dst)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < k; i++)
            dst[j * k + i] = mg_ref_param_at(b, transposed ? base + j * k + i : base + i * n + j);
}

typedef struct matmul_job {
    size_t m, n, k;
    const float *a, *columns;
    bool b_broadcast;
    mg_ref_param bias;
    float *out;
} matmul_job;

#define COLUMN_BLOCK 64 /* outputs per work item: lets one-row products (decoding) spread over threads too */
#define ROW_GROUP 4     /* rows per work item: each column is loaded once for four rows (mg_ref_dot4x2) */

/* Work items [begin, end): item = (group of ROW_GROUP rows of the flattened [batch * m, n] output, block of
 * COLUMN_BLOCK columns). A group never spans two batches (their columns differ), so groups restart at each
 * batch's first row and a batch's last group may be short. */
static void matmul_items(size_t begin, size_t end, void *context)
{
    const matmul_job *job = context;
    const size_t blocks = (job->n + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
    const size_t groups_per_batch = (job->m + ROW_GROUP - 1) / ROW_GROUP;
    for (size_t item = begin; item < end; item++) {
        const size_t group = item / blocks, j0 = (item % blocks) * COLUMN_BLOCK;
        const size_t j1 = j0 + COLUMN_BLOCK < job->n ? j0 + COLUMN_BLOCK : job->n;
        const size_t batch = group / groups_per_batch, i0 = (group % groups_per_batch) * ROW_GROUP;
        const size_t rows = job->m - i0 < ROW_GROUP ? job->m - i0 : ROW_GROUP;
        const size_t r0 = batch * job->m + i0;
        const float *a = job->a + r0 * job->k;
        const float *columns = job->columns + (job->b_broadcast ? 0 : batch * job->n * job->k);
        /* A short group repeats its last row, an odd last column goes in with b_stride 0 (mg_ref_dot4x2); the
         * repeats are computed and dropped. */
        const float *a_rows[ROW_GROUP];
        for (size_t r = 0; r < ROW_GROUP; r++)
            a_rows[r] = a + (r < rows ? r : rows - 1) * job->k;
        if (rows == 1) { /* one row (decoding): repeating it four times would cost more than a plain dot */
            for (size_t j = j0; j < j1; j++) {
                const double bias_j = job->bias.data ? mg_ref_param_at(job->bias, j) : 0.0;
                job->out[r0 * job->n + j] = (float)(mg_ref_dot(a, columns + j * job->k, job->k) + bias_j);
            }
            continue;
        }
        for (size_t j = j0; j < j1; j += 2) {
            const size_t cols = j + 2 <= j1 ? 2 : 1;
            double dots[ROW_GROUP * 2];
            mg_ref_dot4x2(a_rows, columns + j * job->k, cols == 2 ? job->k : 0, job->k, dots);
            for (size_t c = 0; c < cols; c++) {
                const double bias_j = job->bias.data ? mg_ref_param_at(job->bias, j + c) : 0.0;
                for (size_t r = 0; r < rows; r++)
                    job->out[(r0 + r) * job->n + j + c] = (float)(dots[r * 2 + c] + bias_j);
            }
        }
    }
}

void mg_ref_matmul(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b, bool b_transposed,
                   bool b_broadcast, mg_ref_param bias, float *out)
{
    /* An f32 b in PyTorch's Linear layout [n, k] already is B^T: used in place (decoding multiplies one row by
     * every weight, where a copy would cost as much as the product). */
    const bool in_place = b_transposed && !b.is_f16;
    const size_t copies = b_broadcast ? 1 : batch, total = in_place ? 0 : copies * n * k;
    float *copy = total > 0 ? malloc(total * sizeof *copy) : NULL;
    if (total > 0 && !copy)
        return; /* callers check allocation before calling: unreachable in practice */
    for (size_t c = 0; copy && c < copies; c++)
        unpack_columns(b, c * k * n, n, k, b_transposed, copy + c * n * k);
    matmul_job job = {m, n, k, a, in_place ? (const float *)b.data : copy, b_broadcast, bias, out};
    const size_t blocks = (n + COLUMN_BLOCK - 1) / COLUMN_BLOCK, groups = batch * ((m + ROW_GROUP - 1) / ROW_GROUP);
    mg_ref_parallel_for(groups * blocks, (double)batch * (double)m * (double)n * (double)k, matmul_items, &job);
    free(copy);
}
