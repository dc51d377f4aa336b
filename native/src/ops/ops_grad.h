/*
 * Generic backward ops for training (issue 6): the gradients of the forward ops
 * of ops.h, plus the fused token cross-entropy. Transformer- and
 * autoencoder-specific backward ops live in ops_grad_tf.h and ops_grad_ae.h.
 *
 * Conventions of every backward op (training is written llm.c-style: explicit
 * backward functions per model call these ops in reverse order with the
 * activations the forward pass kept):
 *  - gradients of ACTIVATIONS (d_x, d_a, ...) are OVERWRITTEN;
 *  - gradients of PARAMETERS (d_b, d_bias, d_gamma, d_beta, d_table) are
 *    ACCUMULATED (+=) and always f32, whatever the parameter's dtype (f32 or
 *    f16), so shared weights and micro-batch accumulation need no extra op;
 *  - any gradient output may be NULL: it is not computed;
 *  - deterministic: no float atomics; scatters use host-built index lists, and
 *    every sum runs in a fixed order (results are identical run to run on one
 *    device; Vulkan and the CPU reference differ by rounding only).
 * Every op runs on either backend like the forward ops.
 */
#ifndef MG_OPS_OPS_GRAD_H
#define MG_OPS_OPS_GRAD_H

#include "ops/ops.h"
#include "ops/ref/grad_ref.h"

/*
 * Backward of mg_op_matmul(a, b, bias, transpose_b) -> out:
 *   d_a    = d_out @ B^T                             (overwritten, a's shape)
 *   d_b   += a^T @ d_out in b's layout: [k, n], or [n, k] when transpose_b;
 *            a 2-D b sums over every batch, a batched b per batch
 *   d_bias += sum of d_out over all rows               ([n])
 * d_out [..., m, n] f32; b f32 or f16; d_b and d_bias f32 and must not overlap
 * the inputs.
 */
mg_status mg_op_matmul_backward(mg_context *ctx, const mg_tensor *a, const mg_tensor *b, bool transpose_b,
                                const mg_tensor *d_out, mg_tensor *d_a, mg_tensor *d_b, mg_tensor *d_bias);

/*
 * Embedding backward: d_table[id] += sum of the d_out rows whose id is `id`.
 * The scatter runs as a gather over a host-built list (mg_embedding_grad_index):
 * rows i32 [U] (distinct table rows), offsets i32 [U + 1], positions i32 [nnz]:
 * for each u, d_table[rows[u], :] += sum over p in [offsets[u], offsets[u + 1])
 * (in that order) of d_out[positions[p], :].
 * d_out [n_ids, dim] (any leading shape), d_table f32 [vocab, dim].
 * max_count: the longest list (mg_embedding_grad_index.max_count), which lets
 * the op keep each invocation's loop short on CPU Vulkan devices; 0: unknown.
 * Malformed lists: the CPU backend refuses them (MG_ERR_INVALID_ARGUMENT); the
 * Vulkan shader cannot report, so it clamps ranges and skips out-of-range rows
 * and positions.
 */
mg_status mg_op_embedding_backward(mg_context *ctx, const mg_tensor *d_out, const mg_tensor *rows,
                                   const mg_tensor *offsets, const mg_tensor *positions, size_t max_count,
                                   mg_tensor *d_table);

/* The host side of the embedding backward: the gather list of n_ids ids over a
 * table of `vocab` rows. Ids outside [0, vocab) (pads) are left out. Arrays are
 * malloc'ed; free with mg_embedding_grad_index_free. */
typedef struct mg_embedding_grad_index {
    int32_t *rows;      /* [unique] distinct ids, ascending */
    int32_t *offsets;   /* [unique + 1] */
    int32_t *positions; /* [nnz] ascending within each row */
    size_t unique, nnz, max_count;
} mg_embedding_grad_index;
mg_status mg_embedding_grad_index_build(mg_context *ctx, const int32_t *ids, size_t n_ids, size_t vocab,
                                        mg_embedding_grad_index *out);
void mg_embedding_grad_index_free(mg_embedding_grad_index *index);

/* The embedding backward from host ids: builds the index, uploads it, runs
 * mg_op_embedding_backward and frees the temporaries. ids [n_ids]; d_out has
 * n_ids * dim elements. */
mg_status mg_op_embedding_backward_ids(mg_context *ctx, const mg_tensor *d_out, const int32_t *ids, size_t n_ids,
                                       mg_tensor *d_table);

/* d_x = d_out * f'(x) for the ops of mg_op_unary; MG_UNARY_SCALE: d_x = alpha *
 * d_out (x unused, may be NULL). d_x may be d_out (in place). */
mg_status mg_op_unary_backward(mg_context *ctx, mg_unary_op op, const mg_tensor *x, float alpha,
                               const mg_tensor *d_out, mg_tensor *d_x);

/*
 * Backward of the normalisations, from the forward input x and the same
 * arguments: d_x overwritten (x's shape); d_gamma += and d_beta += ([dim], f32;
 * gamma and beta of the forward may be f32 or f16). gamma NULL: no gain (then
 * d_gamma must be NULL). d_x must not overlap x or d_out (the gain gradients
 * read both after d_x is written).
 */
mg_status mg_op_layer_norm_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                    float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gamma,
                                    mg_tensor *d_beta);
mg_status mg_op_rms_norm_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                  float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x, mg_tensor *d_gamma);
mg_status mg_op_l2_normalize_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *gamma, float eps,
                                      float scale, float gamma_offset, const mg_tensor *d_out, mg_tensor *d_x,
                                      mg_tensor *d_gamma);

/* GEGLU backward: x [..., 2n] the forward input, d_out [..., n], d_x [..., 2n]
 * (overwritten; must not overlap x or d_out). */
mg_status mg_op_geglu_backward(mg_context *ctx, const mg_tensor *x, const mg_tensor *d_out, mg_tensor *d_x);

/* Softmax backward from the forward output y: d_x = scale * y * (d_y - sum(d_y * y))
 * over the visible elements of each row (the same options as the forward;
 * invisible elements get 0). d_x may be d_y (in place). */
mg_status mg_op_softmax_backward(mg_context *ctx, const mg_tensor *y, const mg_tensor *d_y,
                                 const mg_softmax_options *options, mg_tensor *d_x);

/*
 * Column sums, the reduction of the broadcast ops' backward (add: d_b = sum of
 * d_out over a's leading dimensions; mul: d_b = sum of d_out * a; also a
 * matmul's d_bias and scale_channels' d_gate):
 *   out[g, c] (+)= sum over r of x[g, r, c] * (w ? w[g, r, c] : 1)
 * with out viewed as [groups, C] (C = out->count / groups) and x (and w, of
 * x's shape) as [groups, R, C]. accumulate: += (parameter gradients), else =.
 * out must not overlap x or w.
 */
mg_status mg_op_column_sum(mg_context *ctx, const mg_tensor *x, const mg_tensor *w, size_t groups, bool accumulate,
                           mg_tensor *out);

/*
 * Cross-entropy with logits, forward and backward fused (the transformer's
 * token loss, meshgpt-pytorch F.cross_entropy(ignore_index)): logits [N, V],
 * targets i32 [N]; a target outside [0, V) (the ignore index -1, or any
 * negative) ignores its row. weights f32 [N] or NULL (1).
 *   loss[i]      = weights[i] * (logsumexp(logits[i]) - logits[i, t_i]), 0 ignored (f32 [N] or NULL)
 *   d_logits[i]  = scale * weights[i] * (softmax(logits[i]) - onehot(t_i)), 0 ignored ([N, V] or NULL)
 * The mean over non-ignored rows is scale = 1 / count (count known on the
 * host, where targets come from) and the sum of loss / count. Numerically
 * stable (max subtracted). d_logits may be logits (in place: logits are
 * usually the largest activation). The CPU backend refuses targets >= V
 * (MG_ERR_INVALID_ARGUMENT); Vulkan ignores those rows.
 */
mg_status mg_op_cross_entropy(mg_context *ctx, const mg_tensor *logits, const mg_tensor *targets,
                              const mg_tensor *weights, float scale, mg_tensor *loss, mg_tensor *d_logits);

#endif
