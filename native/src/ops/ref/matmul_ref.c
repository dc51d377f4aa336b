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
    size_t batch, m, n, k;
    const float *a, *columns;
    const double *packed; /* the columns as mg_ref_pack_pairs, per batch; NULL: not packed */
    size_t packed_size;   /* doubles per batch's packed columns */
    bool b_broadcast;
    mg_ref_param bias;
    float *out;
} matmul_job;

#define PACK_MIN_ROWS 8 /* rows per batch from which converting the columns once pays (they serve m rows) */

#define COLUMN_BLOCK 64 /* outputs per work item: lets one-row products (decoding) spread over threads too */
#define ROW_GROUP 4     /* rows per work item: each column is loaded once for four rows (mg_ref_dot4x2) */

/* Work items [begin, end): item = (block of COLUMN_BLOCK columns, group of ROW_GROUP rows of the flattened
 * [batch * m, n] output), blocks outermost: a thread's consecutive items use the same columns, which stay in
 * cache while the rows stream past (rows outermost streamed every column once per group of four rows). A group
 * never spans two batches (their columns differ), so groups restart at each batch's first row and a batch's
 * last group may be short. */
static void matmul_items(size_t begin, size_t end, void *context)
{
    const matmul_job *job = context;
    const size_t groups_per_batch = (job->m + ROW_GROUP - 1) / ROW_GROUP, groups = job->batch * groups_per_batch;
    /* With packed columns: the item's rows in double (a sixteenth of the multiply-adds of a full block). */
    double *a_packed = job->packed ? malloc((job->k / 4 * 16 + 1) * sizeof *a_packed) : NULL;
    for (size_t item = begin; item < end; item++) {
        const size_t group = item % groups, j0 = (item / groups) * COLUMN_BLOCK;
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
        if (a_packed) {
            mg_ref_pack_rows4(a_rows, job->k, a_packed);
            const double *packed = job->packed + (job->b_broadcast ? 0 : batch * job->packed_size);
            const size_t pair_size = job->k / 4 * 8; /* doubles per pair (mg_ref_pack_pairs) */
            for (size_t j = j0; j < j1; j += 4) {
                /* Columns past n repeat the last pair and the last column; their outputs are dropped. */
                const size_t q0 = j / 2, q1 = j + 2 < job->n ? q0 + 1 : q0;
                const double *pairs[2] = {packed + q0 * pair_size, packed + q1 * pair_size};
                const float *b_rows[4];
                for (size_t c = 0; c < 4; c++)
                    b_rows[c] = columns + (j + c < job->n ? j + c : job->n - 1) * job->k;
                double dots[ROW_GROUP * 4];
                mg_ref_dot_packed4x4(a_packed, pairs, a_rows, b_rows, job->k, dots);
                for (size_t c = 0; c < 4 && j + c < j1; c++) {
                    const double bias_j = job->bias.data ? mg_ref_param_at(job->bias, j + c) : 0.0;
                    for (size_t r = 0; r < rows; r++)
                        job->out[(r0 + r) * job->n + j + c] = (float)(dots[r * 4 + c] + bias_j);
                }
            }
            continue;
        }
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
    free(a_packed);
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
    const float *columns = in_place ? (const float *)b.data : copy;
    /* Columns in double for the packed kernel when each serves enough rows; without the memory, the float path. */
    const size_t packed_size = mg_ref_packed_pairs_size(n, k);
    double *packed = m >= PACK_MIN_ROWS && k >= 4 ? malloc(copies * packed_size * sizeof *packed) : NULL;
    for (size_t c = 0; packed && c < copies; c++)
        mg_ref_pack_pairs(columns + c * n * k, n, k, packed + c * packed_size);
    matmul_job job = {batch, m, n, k, a, columns, packed, packed_size, b_broadcast, bias, out};
    const size_t blocks = (n + COLUMN_BLOCK - 1) / COLUMN_BLOCK, groups = batch * ((m + ROW_GROUP - 1) / ROW_GROUP);
    mg_ref_parallel_for(groups * blocks, (double)batch * (double)m * (double)n * (double)k, matmul_items, &job);
    free(packed);
    free(copy);
}
