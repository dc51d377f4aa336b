/* Helpers shared by the backward op entries (grad_*.c). */
#ifndef MG_OPS_GRAD_COMMON_H
#define MG_OPS_GRAD_COMMON_H

#include "ops/op_common.h"
#include "ops/ops_grad.h"

/* Rows one dispatch of a row-looping kernel may cover when each row costs
 * `iterations_per_row` loop iterations of one invocation: on CPU Vulkan devices
 * lavapipe's loop guard (MG_CPU_DEVICE_LOOP_BUDGET) bounds it; elsewhere
 * unlimited. Kernels that sum over rows split longer ranges over dispatches
 * that accumulate in order (deterministic). */
size_t mg_grad_row_chunk(mg_context *ctx, uint32_t iterations_per_row);

/* A gradient has exactly the shape of what it is the gradient of. */
mg_status mg_grad_check_shape(mg_context *ctx, const char *op, const char *grad_name, const mg_tensor *grad,
                              const char *name, const mg_tensor *x);

/* Optional f32 gradient output: NULL, or an f32 tensor of ctx with `count` elements. */
mg_status mg_grad_check_param_grad(mg_context *ctx, const char *op, const char *name, const mg_tensor *grad,
                                   size_t count);

/* Workgroup size of the one-workgroup-per-row kernels (as rows.c). */
uint32_t mg_grad_row_workgroup(mg_context *ctx, size_t width);

#endif
