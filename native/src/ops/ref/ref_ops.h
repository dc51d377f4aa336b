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

#endif
