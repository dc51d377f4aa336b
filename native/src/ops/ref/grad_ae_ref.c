/* The autoencoder's backward ops and reconstruction loss, in plain C (the
 * oracle of the shaders and the CPU backend). */
#include "ops/ref/grad_ae_ref.h"
#include "ops/ref/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_grad_job {
    size_t batch, n, ci, co, kernel;
    const float *x, *taps, *d_out;
    const int32_t *mask;
    float *d_x;
    double *d_taps; /* [co, kernel, ci] */
} conv_grad_job;

/* d_x rows [begin, end): out[b, t, o] reads x row s = t + k - half through tap k, so x row s gets
 * d_out row t = s - k + half through the transposed taps. Up to four rows of one sequence go together so
 * that each tap's weights are read once for them; every element still sums over (k, o) in the same order. */
MG_REF_VECTOR_CLONES static void conv_d_x_rows(size_t begin, size_t end, void *context)
{
    const conv_grad_job *j = context;
    const size_t half = j->kernel / 2, ci = j->ci;
    double *acc = malloc((ci ? 4 * ci : 1) * sizeof *acc);
    if (!acc)
        return; /* only under memory exhaustion (a few KiB): the rows are left as they were */
    for (size_t row = begin; row < end;) {
        const size_t b = row / j->n, s0 = row % j->n;
        size_t rows = end - row < 4 ? end - row : 4;
        if (rows > j->n - s0)
            rows = j->n - s0; /* stay inside sequence b */
        memset(acc, 0, rows * ci * sizeof *acc);
        for (size_t k = 0; k < j->kernel; k++) {
            /* dy[r]: the d_out row that reaches x row s0 + r through tap k, NULL when none does */
            const float *dy[4] = {NULL, NULL, NULL, NULL};
            size_t live = 0;
            for (size_t r = 0; r < rows; r++) {
                const size_t s = s0 + r;
                if ((j->mask && j->mask[row + r] == 0) || s + half < k || s + half - k >= j->n)
                    continue;
                dy[r] = j->d_out + (b * j->n + s + half - k) * j->co;
                live++;
            }
            if (!live)
                continue;
            for (size_t o = 0; o < j->co; o++) {
                const float *w = j->taps + (o * j->kernel + k) * ci;
                for (size_t r = 0; r < rows; r++) {
                    if (!dy[r])
                        continue;
                    const double g = dy[r][o];
                    double *a = acc + r * ci;
                    for (size_t i = 0; i < ci; i++)
                        a[i] += g * (double)w[i];
                }
            }
        }
        for (size_t r = 0; r < rows; r++)
            for (size_t i = 0; i < ci; i++)
                j->d_x[(row + r) * ci + i] = (float)acc[r * ci + i];
        row += rows;
    }
    free(acc);
}

/* d_taps rows [begin, end) of the flattened [co * kernel, ci]: sum over every output row of d_out * x. Up to four
 * items go through the output rows together (each row of d_out and x is read once for them); every element
 * still sums over (b, t) in order. */
MG_REF_VECTOR_CLONES static void conv_d_w_rows(size_t begin, size_t end, void *context)
{
    const conv_grad_job *j = context;
    const size_t half = j->kernel / 2, ci = j->ci;
    for (size_t item = begin; item < end;) {
        const size_t count = end - item < 4 ? end - item : 4;
        for (size_t b = 0; b < j->batch; b++) {
            for (size_t t = 0; t < j->n; t++) {
                for (size_t c = 0; c < count; c++) {
                    const size_t o = (item + c) / j->kernel, k = (item + c) % j->kernel;
                    if (t + k < half || t + k - half >= j->n)
                        continue;
                    size_t row = b * j->n + t + k - half;
                    if (j->mask && j->mask[row] == 0)
                        continue;
                    const double g = j->d_out[(b * j->n + t) * j->co + o];
                    const float *xr = j->x + row * ci;
                    double *dst = j->d_taps + (item + c) * ci;
                    for (size_t i = 0; i < ci; i++)
                        dst[i] += g * (double)xr[i];
                }
            }
        }
        item += count;
    }
}

void mg_ref_conv1d_backward(size_t batch, size_t n, size_t ci, size_t co, size_t kernel, const float *x,
                            mg_ref_param weight, const int32_t *mask, const float *d_out, float *d_x, float *d_weight,
                            float *d_bias)
{
    const double cost = (double)batch * n * ci * co * kernel;
    conv_grad_job job = {batch, n, ci, co, kernel, x, NULL, d_out, mask, d_x, NULL};
    if (d_x) {
        float *taps = mg_ref_conv_taps(weight, ci, co, kernel);
        if (!taps)
            return; /* callers check allocation before calling: unreachable in practice */
        job.taps = taps;
        mg_ref_parallel_for(batch * n, cost, conv_d_x_rows, &job);
        free(taps);
    }
    if (d_weight) {
        double *d_taps = calloc(co * kernel * ci > 0 ? co * kernel * ci : 1, sizeof *d_taps);
        if (!d_taps)
            return;
        job.d_taps = d_taps;
        mg_ref_parallel_for(co * kernel, cost, conv_d_w_rows, &job);
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < ci; i++)
                for (size_t k = 0; k < kernel; k++)
                    d_weight[(o * ci + i) * kernel + k] += (float)d_taps[(o * kernel + k) * ci + i];
        free(d_taps);
    }
    if (d_bias) {
        for (size_t o = 0; o < co; o++) {
            double sum = 0.0;
            for (size_t r = 0; r < batch * n; r++)
                sum += d_out[r * co + o];
            d_bias[o] += (float)sum;
        }
    }
}

void mg_ref_masked_mean_backward(size_t batch, size_t n, size_t c, const int32_t *mask, float eps,
                                 const float *d_out, float *d_x)
{
    for (size_t b = 0; b < batch; b++) {
        double count = 0.0;
        for (size_t t = 0; t < n; t++)
            count += !mask || mask[b * n + t] != 0;
        double denominator = count > (double)eps ? count : (double)eps;
        for (size_t t = 0; t < n; t++) {
            bool kept = !mask || mask[b * n + t] != 0;
            for (size_t j = 0; j < c; j++)
                d_x[(b * n + t) * c + j] = kept ? (float)((double)d_out[b * c + j] / denominator) : 0.0f;
        }
    }
}

void mg_ref_scale_channels_backward(size_t batch, size_t n, size_t c, const float *x, const float *gate,
                                    const float *d_out, float *d_x, float *d_gate)
{
    for (size_t b = 0; b < batch; b++) {
        for (size_t j = 0; j < c; j++) {
            double sum = 0.0;
            for (size_t t = 0; t < n; t++) {
                size_t e = (b * n + t) * c + j;
                sum += (double)d_out[e] * (double)x[e];
                if (d_x)
                    d_x[e] = d_out[e] * gate[b * c + j];
            }
            if (d_gate)
                d_gate[b * c + j] = (float)sum;
        }
    }
}

void mg_ref_copy_columns_backward(size_t rows, size_t w, size_t dst_width, size_t offset, const float *d_dst,
                                  float *d_src)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(d_src + r * w, d_dst + r * dst_width + offset, w * sizeof *d_src);
}

void mg_ref_gather_mean_backward(size_t rows, size_t d, const int32_t *offsets, const int32_t *t_offsets,
                                 const int32_t *t_sources, const float *d_out, float *d_src)
{
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < d; j++) {
            double sum = 0.0;
            for (int32_t q = t_offsets[r]; q < t_offsets[r + 1]; q++) {
                int32_t m = t_sources[q];
                sum += (double)d_out[(size_t)m * d + j] / (double)(offsets[m + 1] - offsets[m]);
            }
            d_src[r * d + j] = (float)sum;
        }
    }
}

/* ------------------------------------------------------------------------ */

int mg_ref_recon_blur_kernel(float sigma, double *kernel)
{
    if (!(sigma > 0.0f)) {
        kernel[0] = 1.0;
        return 1;
    }
    /* gaussian_blur_1d: width ceil(5 sigma), made odd (computed in double, as mg_ae_recon_loss). */
    int width = (int)ceil((double)sigma * 5.0);
    width += (width + 1) % 2;
    if (width > 63)
        width = 63;
    const int half = width / 2;
    double total = 0.0;
    for (int i = 0; i < width; i++) {
        double d = (double)(i - half);
        kernel[i] = exp(-(d * d) / (2.0 * (double)sigma * (double)sigma));
        total += kernel[i];
    }
    for (int i = 0; i < width; i++)
        kernel[i] /= total;
    return width;
}

/* log-sum-exp of one row of logits, in double */
static double row_log_sum_exp(const float *row, size_t bins)
{
    double max = row[0];
    for (size_t b = 1; b < bins; b++)
        max = row[b] > max ? row[b] : max;
    double sum = 0.0;
    for (size_t b = 0; b < bins; b++)
        sum += exp((double)row[b] - max);
    return max + log(sum);
}

void mg_ref_recon_loss(size_t rows, size_t bins, const float *logits, const int32_t *targets, float sigma,
                       float *row_loss)
{
    double kernel[63];
    const int width = mg_ref_recon_blur_kernel(sigma, kernel), half = width / 2;
    for (size_t r = 0; r < rows; r++) {
        const int target = targets[r];
        if (target < 0) {
            row_loss[r] = 0.0f;
            continue;
        }
        const float *row = logits + r * bins;
        const double lse = row_log_sum_exp(row, bins);
        double loss = 0.0;
        for (int k = -half; k <= half; k++) {
            long b = (long)target + k;
            if (b < 0 || b >= (long)bins)
                continue; /* zero padding: the mass blurred off the ends is dropped */
            loss -= kernel[k + half] * ((double)row[b] - lse);
        }
        row_loss[r] = (float)loss;
    }
}

void mg_ref_recon_loss_backward(size_t rows, size_t bins, const float *logits, const int32_t *targets, float sigma,
                                float scale, float *d_logits)
{
    double kernel[63];
    const int width = mg_ref_recon_blur_kernel(sigma, kernel), half = width / 2;
    for (size_t r = 0; r < rows; r++) {
        const int target = targets[r];
        float *out = d_logits + r * bins;
        if (target < 0) {
            memset(out, 0, bins * sizeof *out);
            continue;
        }
        const float *row = logits + r * bins;
        const double lse = row_log_sum_exp(row, bins);
        /* d/dz_b of -sum_k t_k (z_k - lse) = softmax_b * sum_k t_k - t_b */
        double mass = 0.0;
        for (int k = -half; k <= half; k++) {
            long b = (long)target + k;
            if (b >= 0 && b < (long)bins)
                mass += kernel[k + half];
        }
        for (size_t b = 0; b < bins; b++) {
            double g = exp((double)row[b] - lse) * mass;
            long k = (long)b - (long)target;
            if (k >= -half && k <= half)
                g -= kernel[k + half];
            out[b] = (float)((double)scale * g);
        }
    }
}
