/*
 * The plain-C reference of every op: the test oracle for the Vulkan shaders and
 * the backend where no GPU exists. Functions work on plain arrays so that tests
 * can check them against hand-computed values without any context.
 *
 * Activations are f32. Parameters (weights, biases, gains, embedding tables) may
 * be f32 or f16 (mg_ref_param). Reductions accumulate in double: the oracle
 * should be more accurate than what it judges.
 */
#ifndef MG_OPS_REF_OPS_H
#define MG_OPS_REF_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read-only parameter array in f32 or f16 (data NULL: absent). */
typedef struct mg_ref_param {
    const void *data;
    bool is_f16;
} mg_ref_param;

float mg_ref_param_at(mg_ref_param p, size_t index);

typedef enum mg_unary_op {
    MG_UNARY_SCALE = 0,   /* alpha * x + beta */
    MG_UNARY_SILU = 1,
    MG_UNARY_GELU = 2,    /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    MG_UNARY_SIGMOID = 3,
    MG_UNARY_TANH = 4,
    MG_UNARY_RELU = 5
} mg_unary_op;

typedef enum mg_binary_op {
    MG_BINARY_ADD = 0,
    MG_BINARY_SUB = 1,
    MG_BINARY_MUL = 2
} mg_binary_op;

typedef enum mg_norm_mode {
    MG_NORM_LAYER = 0,    /* (x - mean) / sqrt(var + eps) * (gamma + offset) + beta */
    MG_NORM_RMS = 1,      /* x / sqrt(mean(x^2) + eps) * (gamma + offset) */
    MG_NORM_L2 = 2        /* x / max(||x||, eps) * scale * (gamma + offset) */
} mg_norm_mode;

typedef struct mg_norm_params {
    mg_norm_mode mode;
    float eps;
    float gamma_offset;   /* 1 for x-transformers' zero-initialised gains */
    float scale;          /* L2 only: sqrt(dim) for x-transformers RMSNorm and PixelNorm */
} mg_norm_params;

/*
 * Softmax over the last axis of x[rows, n] after multiplying by `scale`.
 * An element is visible when its mask entry is non-zero (mask row = row /
 * mask_row_divisor; no mask: all visible) and, if causal, when its column j
 * satisfies j <= (row % causal_queries) + causal_offset. Invisible elements get
 * probability 0; a row with nothing visible is all zeros.
 */
typedef struct mg_softmax_params {
    float scale;
    const int32_t *mask;      /* [mask_rows, n] or NULL */
    size_t mask_row_divisor;  /* >= 1 */
    bool causal;
    size_t causal_queries;    /* >= 1 */
    int64_t causal_offset;
} mg_softmax_params;

/* out[b, m, n] = sum_k a[b, m, k] * B[k, n] + bias[n], where B is b[(b), k, n]
 * or, transposed, b[(b), n, k]; b_broadcast: one B for every batch. */
void mg_ref_matmul(size_t batch, size_t m, size_t n, size_t k, const float *a, mg_ref_param b, bool b_transposed,
                   bool b_broadcast, mg_ref_param bias, float *out);

/* out[i, :] = table[ids[i], :]; ids outside [0, vocab) (the pad id -1 among them) give zeros. */
void mg_ref_embedding(size_t n_ids, size_t dim, size_t vocab, const int32_t *ids, mg_ref_param table, float *out);

/* out[i] = a[i] op b[i % nb] */
void mg_ref_binary(mg_binary_op op, size_t n, const float *a, size_t nb, const float *b, float *out);

/* alpha and beta are used by MG_UNARY_SCALE only. */
void mg_ref_unary(mg_unary_op op, size_t n, const float *x, float alpha, float beta, float *out);

void mg_ref_norm(const mg_norm_params *p, size_t rows, size_t dim, const float *x, mg_ref_param gamma,
                 mg_ref_param beta, float *out);

void mg_ref_softmax(const mg_softmax_params *p, size_t rows, size_t n, const float *x, float *out);

/* x[rows, 2n] -> out[rows, n] = x[:, :n] * gelu(x[:, n:]) */
void mg_ref_geglu(size_t rows, size_t n, const float *x, float *out);

/* Index of the largest element of each row; ties go to the lowest index and
 * NaN counts as larger than any number (as torch.argmax). */
void mg_ref_argmax(size_t rows, size_t n, const float *x, int32_t *out);

/* Scalar functions shared by the elementwise ops. */
double mg_ref_gelu(double x);
double mg_ref_sigmoid(double x);

/* ---- autoencoder ops (graph, sequence and quantizer); see ops/ops.h ---- */

/* out[b, t, o] = bias[o] + sum_{k, i} weight[o, i, k] * x[b, t + k - K/2, i], with rows outside [0, n) or
 * whose mask (i32 [batch, n], NULL: all valid) is 0 read as zero. x [batch, n, ci], out [batch, n, co]. */
void mg_ref_conv1d(size_t batch, size_t n, size_t ci, size_t co, size_t kernel, const float *x, mg_ref_param weight,
                   mg_ref_param bias, const int32_t *mask, float *out);

/* out[b, c] = sum of x[b, t, c] over rows with mask != 0 / max(count, eps); mask NULL: every row. */
void mg_ref_masked_mean(size_t batch, size_t n, size_t c, const float *x, const int32_t *mask, float eps, float *out);

/* out[b, t, c] = x[b, t, c] * gate[b, c] */
void mg_ref_scale_channels(size_t batch, size_t n, size_t c, const float *x, const float *gate, float *out);

/* out[r, :] = mask[r] != 0 ? x[r, :] : 0 */
void mg_ref_mask_rows(size_t rows, size_t c, const float *x, const int32_t *mask, float *out);

/* out[m, :] = mean of src[indices[p], :] over p in [offsets[m], offsets[m + 1]); 0 for an empty range.
 * The caller guarantees 0 <= offsets[m] <= offsets[m + 1] <= nnz and 0 <= indices[p] < src rows. */
void mg_ref_gather_mean(size_t m, size_t d, const float *src, const int32_t *offsets, const int32_t *indices,
                        float *out);

/* dst[r, offset + c] = src[r, c] for src [rows, w] and dst [rows, dst_width]. */
void mg_ref_copy_columns(size_t rows, size_t w, size_t dst_width, size_t offset, const float *src, float *dst);

/* Residual lookup-free quantization (see mg_op_lfq_quantize): x [n, d], values [n, d], indices [n, levels].
 * Computed in f32 as PyTorch does (no reduction: every step is exact or one rounding). */
void mg_ref_lfq_quantize(size_t n, size_t d, int levels, float soft_clamp, const float *x, float *values,
                         int32_t *indices);

/* values [n, d] = sum over levels of the +-2^-q code of indices[n, q]; indices outside [0, 2^d) add nothing. */
void mg_ref_lfq_dequantize(size_t n, size_t d, int levels, const int32_t *indices, float *values);

/* indices[r] = argmin_k sum_j (x[r, j] - codebook[k, j])^2 in double; ties and NaN: the lowest index with the
 * smallest distance wins, NaN distances never win (all NaN: 0). */
void mg_ref_vq_nearest(size_t n, size_t d, size_t k, const float *x, mg_ref_param codebook, int32_t *indices);

#endif
