/*
 * meshgpt-pytorch's discretize / undiscretize (round half to even, as torch.round).
 *
 * Upstream evaluates them as a chain of float32 tensor ops with Python scalars
 * (each scalar is converted to float32 first, every step rounds to float32):
 *   discretize:   t = t - lo;  t = t / (hi - lo);  t = t * n;  t = t - 0.5;  round;  clamp
 *   undiscretize: t = i + 0.5; t = t / n;  t * (hi - lo) + lo
 * These functions do the same steps in the same order, so exact ties
 * (u = 2.5 -> 2, u = 3.5 -> 4) resolve as in PyTorch. The build uses ISO C
 * (GCC: -ffp-contract=off), so no multiply-add is fused.
 */
#ifndef MG_MESH_DISCRETIZE_H
#define MG_MESH_DISCRETIZE_H

#include <stdint.h>

/*
 * clamp(round((t - lo) / (hi - lo) * n - 0.5), 0, n - 1), computed in f32 as PyTorch does.
 * Needs hi > lo and n >= 1. NaN gives 0, +inf gives n - 1 and -inf gives 0
 * (upstream's float -> int64 cast of non-finite values is undefined; on x86 it
 * also ends at 0 for NaN).
 */
int32_t mg_discretize(float t, float lo, float hi, int32_t n);
/* (i + 0.5) / n * (hi - lo) + lo: the centre of cell i. */
float mg_undiscretize(int32_t i, float lo, float hi, int32_t n);

#endif
