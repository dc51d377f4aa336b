/* meshgpt-pytorch's discretize / undiscretize (round half to even, as torch.round). */
#ifndef MG_MESH_DISCRETIZE_H
#define MG_MESH_DISCRETIZE_H

#include <stdint.h>

/* clamp(round((t - lo) / (hi - lo) * n - 0.5), 0, n - 1), computed in f32 as PyTorch does. */
int32_t mg_discretize(float t, float lo, float hi, int32_t n);
/* (i + 0.5) / n * (hi - lo) + lo */
float mg_undiscretize(int32_t i, float lo, float hi, int32_t n);

#endif
