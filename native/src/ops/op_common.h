/* Shared argument checks and Vulkan binding helpers of the op entries. */
#ifndef MG_OPS_OP_COMMON_H
#define MG_OPS_OP_COMMON_H

#include "ops/ops.h"

/* Context alive, tensor present, on this context, of this dtype (or f16 when allow_f16). */
mg_status mg_check_tensor(mg_context *ctx, const char *op, const char *name, const mg_tensor *t, mg_dtype dtype,
                          bool allow_f16);
/* An f32 or f16 parameter that, when present, has `count` elements and `weight_dtype`. */
mg_status mg_check_param(mg_context *ctx, const char *op, const char *name, const mg_tensor *t, size_t count,
                         mg_dtype dtype);
/* out has exactly the shape of `x` (named `name` in the message). */
mg_status mg_check_same_shape(mg_context *ctx, const char *op, const char *name, const mg_tensor *x,
                              const mg_tensor *out);
/* out must not overlap the input (for ops that cannot run in place). */
mg_status mg_check_no_alias(mg_context *ctx, const char *op, const char *name, const mg_tensor *input,
                            const mg_tensor *out);
/* "[2, 3, 4]" */
void mg_shape_string(const mg_tensor *t, char *buffer, size_t size);
size_t mg_last_dim(const mg_tensor *t);
size_t mg_rows(const mg_tensor *t); /* count / last dim */

mg_ref_param mg_param_of(const mg_tensor *t); /* host view for the CPU reference */
float *mg_f32_of(const mg_tensor *t);
int32_t *mg_i32_of(const mg_tensor *t);

/* ---- Vulkan ---- */

/* Binds `t` as the next buffer of `d`; returns its first element's index within
 * the bound range (in units of the dtype's size), for the push constants. */
uint32_t mg_bind(mg_context *ctx, mg_gpu_dispatch *d, const mg_tensor *t, bool write);
/* Binds a placeholder for an absent optional tensor. */
void mg_bind_none(mg_context *ctx, mg_gpu_dispatch *d);
/* Spreads `groups` workgroups over x and y within the device's limits. */
void mg_grid_1d(mg_context *ctx, mg_gpu_dispatch *d, uint64_t groups);
/* Largest power of two <= min(limit, device max workgroup size). */
uint32_t mg_workgroup_size(mg_context *ctx, uint32_t wanted);
/* Whether the *_sg shader variants may be used: glslang compiled them with
 * subgroup operations, the device supports basic + arithmetic subgroup
 * operations in compute shaders, and MESHGPT_DISABLE_SUBGROUPS is not set. */
bool mg_use_subgroups(mg_context *ctx);
/* Power-of-two workgroup size for a subgroup variant: `wanted`, but at least
 * the subgroup size, so that every subgroup is full. */
uint32_t mg_subgroup_workgroup_size(mg_context *ctx, uint32_t wanted);
/* The device is a CPU implementation (lavapipe, SwiftShader): no memory
 * coalescing to feed, few cores, barriers and shared memory are expensive. */
bool mg_device_is_cpu(mg_context *ctx);
/* Loop iterations one invocation may run on a CPU device: Mesa's lavapipe stops every loop of a shader after
 * 65,535 iterations of its loops together (an anti-hang guard), silently. Kernels stay below this. */
#define MG_CPU_DEVICE_LOOP_BUDGET 60000u

#endif
