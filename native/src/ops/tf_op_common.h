/* Argument checks and dispatch helpers shared by the MeshTransformer op entries, forward (transformer_ops.c) and
 * backward (grad_tf.c, grad_tf_attention.c). Not a public interface. */
#ifndef MG_OPS_TF_OP_COMMON_H
#define MG_OPS_TF_OP_COMMON_H

#include "ops/op_common.h"

/* [B, N, width] or [N, width] (B = 1): the batch and sequence sizes; width 0 accepts any. */
mg_status mg_tf_op_sequence_shape(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                    size_t width, size_t *batch, size_t *n);
/* t is [batch, rows, width] (or [rows, width] when batch is 1). */
mg_status mg_tf_op_check_sequence(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                    size_t batch, size_t rows, size_t width);
/* An optional gradient output: absent, or f32 with exactly `like`'s shape. */
mg_status mg_tf_op_check_output(mg_context *ctx, const char *op, const char *name, const mg_tensor *t,
                                  const mg_tensor *like, const char *like_name);
/* The output `out` (named out_name; may be NULL) must not overlap `t` (may be NULL). */
mg_status mg_tf_op_check_apart(mg_context *ctx, const char *op, const char *out_name, const mg_tensor *out,
                                 const char *name, const mg_tensor *t);
/* Shaders index with 32-bit integers. */
mg_status mg_tf_op_check_indexable(mg_context *ctx, const char *op, const mg_tensor *t);
/* Copies the push constants into d and records it. */
mg_status mg_tf_op_record(mg_context *ctx, mg_gpu_dispatch *d, const void *push, size_t push_size);
/* Spec constant 0 and the grid for `items` invocations of `workgroup` each. */
void mg_tf_op_grid(mg_context *ctx, mg_gpu_dispatch *d, uint32_t workgroup, size_t items);

#endif
