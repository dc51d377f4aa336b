/* The autoencoder's ops: sequence convolution, masked means, CSR gather-mean,
 * column copies and the two quantizers (lookup-free and nearest codebook entry). */
#include "ops/ref/ref_ops.h"
#include "ops/ref/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_job {
    size_t n, ci, co, kernel;
    const float *x, *taps; /* taps: [co, kernel, ci] f32, each tap's input weights contiguous */
    mg_ref_param bias;
    const int32_t *mask;
    float *out;
} conv_job;

/* Output rows [begin, end) of the flattened [batch * n, co]. Four output channels at a time read each input row
 * once (mg_ref_dot4 over their taps); each output still adds its taps in the order k = 0 .. kernel-1. */
static void conv_rows(size_t begin, size_t end, void *context)
{
    const conv_job *j = context;
    const size_t half = j->kernel / 2, tap_stride = j->kernel * j->ci;
    for (size_t r = begin; r < end; r++) {
        const size_t b = r / j->n, t = r % j->n;
        for (size_t o = 0; o < j->co;) {
            const size_t group = j->co - o >= 4 ? 4 : 1;
            double sums[4];
            for (size_t g = 0; g < group; g++)
                sums[g] = j->bias.data ? (double)mg_ref_param_at(j->bias, o + g) : 0.0;
            for (size_t k = 0; k < j->kernel; k++) {
                /* source row t + k - half, zero outside the sequence and where masked */
                if (t + k < half || t + k - half >= j->n)
                    continue;
                size_t row = b * j->n + t + k - half;
                if (j->mask && j->mask[row] == 0)
                    continue;
                const float *taps = j->taps + (o * j->kernel + k) * j->ci, *x = j->x + row * j->ci;
                if (group == 4) {
                    double dots[4];
                    mg_ref_dot4(taps, tap_stride, x, j->ci, dots);
                    for (size_t g = 0; g < 4; g++)
                        sums[g] += dots[g];
                } else {
                    sums[0] += mg_ref_dot(taps, x, j->ci);
                }
            }
            for (size_t g = 0; g < group; g++)
                j->out[r * j->co + o + g] = (float)sums[g];
            o += group;
        }
    }
}

/* weight [co, ci, kernel] (PyTorch) as f32 [co, kernel, ci]; NULL when out of memory. */
float *mg_ref_conv_taps(mg_ref_param weight, size_t ci, size_t co, size_t kernel)
{
    float *taps = malloc((co * ci * kernel > 0 ? co * ci * kernel : 1) * sizeof *taps);
    for (size_t o = 0; taps && o < co; o++)
        for (size_t i = 0; i < ci; i++)
            for (size_t k = 0; k < kernel; k++)
                taps[(o * kernel + k) * ci + i] = mg_ref_param_at(weight, (o * ci + i) * kernel + k);
    return taps;
}

void mg_ref_conv1d(size_t batch, size_t n, size_t ci, size_t co, size_t kernel, const float *x, mg_ref_param weight,
                   mg_ref_param bias, const int32_t *mask, float *out)
{
    float *taps = mg_ref_conv_taps(weight, ci, co, kernel);
    if (!taps)
        return; /* callers check allocation before calling: unreachable in practice */
    conv_job job = {n, ci, co, kernel, x, taps, bias, mask, out};
    mg_ref_parallel_for(batch * n, (double)batch * n * ci * co * kernel, conv_rows, &job);
    free(taps);
}

void mg_ref_masked_mean(size_t batch, size_t n, size_t c, const float *x, const int32_t *mask, float eps, float *out)
{
    for (size_t b = 0; b < batch; b++) {
        double count = 0.0;
        for (size_t t = 0; t < n; t++)
            count += !mask || mask[b * n + t] != 0;
        double denominator = count > (double)eps ? count : (double)eps;
        for (size_t j = 0; j < c; j++) {
            double sum = 0.0;
            for (size_t t = 0; t < n; t++)
                if (!mask || mask[b * n + t] != 0)
                    sum += x[(b * n + t) * c + j];
            out[b * c + j] = (float)(sum / denominator);
        }
    }
}

void mg_ref_scale_channels(size_t batch, size_t n, size_t c, const float *x, const float *gate, float *out)
{
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < n; t++)
            for (size_t j = 0; j < c; j++)
                out[(b * n + t) * c + j] = x[(b * n + t) * c + j] * gate[b * c + j];
}

void mg_ref_mask_rows(size_t rows, size_t c, const float *x, const int32_t *mask, float *out)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < c; j++)
            out[r * c + j] = mask[r] != 0 ? x[r * c + j] : 0.0f;
}

void mg_ref_gather_mean(size_t m, size_t d, const float *src, const int32_t *offsets, const int32_t *indices,
                        float *out)
{
    for (size_t r = 0; r < m; r++) {
        size_t begin = (size_t)offsets[r], end = (size_t)offsets[r + 1];
        for (size_t j = 0; j < d; j++) {
            double sum = 0.0;
            for (size_t p = begin; p < end; p++)
                sum += src[(size_t)indices[p] * d + j];
            out[r * d + j] = end > begin ? (float)(sum / (double)(end - begin)) : 0.0f;
        }
    }
}

void mg_ref_copy_columns(size_t rows, size_t w, size_t dst_width, size_t offset, const float *src, float *dst)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(dst + r * dst_width + offset, src + r * w, w * sizeof *src);
}

void mg_ref_lfq_quantize(size_t n, size_t d, int levels, float soft_clamp, const float *x, float *values,
                         int32_t *indices)
{
    for (size_t r = 0; r < n; r++) {
        for (int q = 0; q < levels; q++)
            indices[r * (size_t)levels + (size_t)q] = 0;
        /* Each dimension's residual depends on that dimension only. */
        for (size_t j = 0; j < d; j++) {
            float residual = x[r * d + j], value = 0.0f;
            for (int q = 0; q < levels; q++) {
                float scale = ldexpf(1.0f, -q);
                float clamped = residual;
                if (soft_clamp > 0.0f) {
                    float c = soft_clamp * scale;
                    clamped = c * tanhf(residual / c);
                }
                bool positive = clamped > 0.0f; /* 0, -0 and NaN quantize to -scale */
                float v = positive ? scale : -scale;
                if (positive)
                    indices[r * (size_t)levels + (size_t)q] |= (int32_t)(1u << (d - 1 - j));
                residual -= v;
                value += v;
            }
            values[r * d + j] = value;
        }
    }
}

void mg_ref_lfq_dequantize(size_t n, size_t d, int levels, const int32_t *indices, float *values)
{
    for (size_t r = 0; r < n; r++) {
        for (size_t j = 0; j < d; j++) {
            float value = 0.0f;
            for (int q = 0; q < levels; q++) {
                int32_t index = indices[r * (size_t)levels + (size_t)q];
                if (index < 0 || (uint32_t)index >= (1u << d))
                    continue;
                float scale = ldexpf(1.0f, -q);
                value += ((uint32_t)index >> (d - 1 - j)) & 1u ? scale : -scale;
            }
            values[r * d + j] = value;
        }
    }
}

void mg_ref_vq_nearest(size_t n, size_t d, size_t k, const float *x, mg_ref_param codebook, int32_t *indices)
{
    for (size_t r = 0; r < n; r++) {
        double best = INFINITY;
        size_t best_index = 0;
        bool found = false;
        for (size_t e = 0; e < k; e++) {
            double distance = 0.0;
            for (size_t j = 0; j < d; j++) {
                double diff = (double)x[r * d + j] - (double)mg_ref_param_at(codebook, e * d + j);
                distance += diff * diff;
            }
            /* strictly smaller: the first of equal distances stays; NaN never wins */
            if (distance < best || (!found && distance == best)) {
                best = distance;
                best_index = e;
                found = true;
            }
        }
        indices[r] = (int32_t)best_index;
    }
}
