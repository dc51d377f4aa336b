/*
 * The op library, as model code uses it: one entry per op, the same call on
 * every backend. Each entry checks its arguments (shapes, dtypes, contexts) and
 * then runs the CPU reference or records the op's Vulkan shader; Vulkan ops are
 * asynchronous and ordered, and results are read with mg_tensor_read*.
 *
 * Activations are f32; parameters (matmul's b and bias, embedding tables, norm
 * gains and biases) are f32 or f16, and a bias or beta has the dtype of its
 * weight or gain. Ops that read a row and write it back may run in place
 * (out == x) where noted.
 */
#ifndef MG_OPS_OPS_H
#define MG_OPS_OPS_H

#include "ops/ref/ref_ops.h"
#include "ops/tensor.h"

/*
 * out[..., m, n] = a[..., m, k] @ B + bias. B is b[k, n], or b[n, k] when
 * transpose_b (PyTorch's Linear weight layout). a may have leading batch
 * dimensions; b is either 2-D (shared by every batch) or has the same leading
 * dimensions as a. bias (NULL for none) is [n].
 */
mg_status mg_op_matmul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, const mg_tensor *bias, bool transpose_b,
                       mg_tensor *out);

/* out[i, :] = table[ids[i], :], ids i32 of any shape, out [ids..., dim]; out-of-range ids give zeros. */
mg_status mg_op_embedding(mg_context *ctx, const mg_tensor *table, const mg_tensor *ids, mg_tensor *out);

/* out = a op b, b broadcast over a's leading dimensions (b's shape equals a's trailing dimensions). In place ok. */
mg_status mg_op_binary(mg_context *ctx, mg_binary_op op, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);
mg_status mg_op_add(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);
mg_status mg_op_mul(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, mg_tensor *out);

/* out = f(x) elementwise. In place ok. */
mg_status mg_op_unary(mg_context *ctx, mg_unary_op op, const mg_tensor *x, mg_tensor *out);
/* out = alpha * x + beta. In place ok. */
mg_status mg_op_scale(mg_context *ctx, const mg_tensor *x, float alpha, float beta, mg_tensor *out);

/* Normalisation over the last axis; gamma and beta [dim] or NULL. In place ok. */
mg_status mg_op_layer_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, const mg_tensor *beta,
                           float eps, float gamma_offset, mg_tensor *out);
mg_status mg_op_rms_norm(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float gamma_offset,
                         mg_tensor *out);
/* x / max(||x||, eps) * scale * (gamma + gamma_offset) */
mg_status mg_op_l2_normalize(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps, float scale,
                             float gamma_offset, mg_tensor *out);

/* Softmax over the last axis (see mg_softmax_params; here the mask is an i32 tensor [mask_rows, n] or NULL). */
typedef struct mg_softmax_options {
    float scale;
    const mg_tensor *mask;
    size_t mask_row_divisor;
    bool causal;
    size_t causal_queries;
    int64_t causal_offset;
} mg_softmax_options;
mg_softmax_options mg_softmax_default_options(void);
mg_status mg_op_softmax(mg_context *ctx, const mg_tensor *x, const mg_softmax_options *options, mg_tensor *out);

/* x[..., 2n] -> out[..., n] = first half * gelu(second half) */
mg_status mg_op_geglu(mg_context *ctx, const mg_tensor *x, mg_tensor *out);

/* out (i32, x's shape without the last axis; [1] for a 1-D x) = argmax over x's last axis. */
mg_status mg_op_argmax(mg_context *ctx, const mg_tensor *x, mg_tensor *out);

#endif
