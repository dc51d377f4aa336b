/*
 * The optimizer side of training: Adam/AdamW steps, the global gradient norm
 * and its clipping, zeroing gradients, the EMA of the weights, and the
 * schedules that drive them (learning-rate warm-up, EMA decay), as
 * meshgpt-pytorch's trainers use them:
 *  - pytorch-custom-utils' get_adam_optimizer: plain Adam when weight_decay is
 *    0 (both trainers' default), else AdamW (decoupled decay) with parameters
 *    of fewer than 2 dimensions (biases, norm gains) excluded from the decay;
 *    betas (0.9, 0.99), eps 1e-8;
 *  - pytorch_warmup's LinearWarmup: the k-th optimizer step (k from 0) uses
 *    lr * min(1, (k + 1) / warmup_steps);
 *  - torch.nn.utils.clip_grad_norm_ over all parameters (accelerate's call):
 *    grads *= min(1, max_norm / (total_norm + 1e-6));
 *  - ema-pytorch's EMA (beta 0.9999, update_after_step 100, update_every 10,
 *    inv_gamma 1, power 2/3, min_value 0): see mg_ema_advance.
 *
 * The ops follow the op-library rule: a shader (shaders/optim_*.comp), a
 * plain-C reference (train/optim_ref.c) and a checked entry that runs either
 * backend. Every tensor here is f32 (master weights, gradients and moments).
 */
#ifndef MG_TRAIN_OPTIM_H
#define MG_TRAIN_OPTIM_H

#include "ops/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- schedules and hyper-parameters (pure functions) ---- */

typedef struct mg_adam_config {
    double lr;           /* base learning rate (before warm-up) */
    double beta1, beta2;
    double eps;
    double weight_decay; /* 0: Adam; > 0: AdamW's decoupled decay on parameters with >= 2 dimensions */
} mg_adam_config;

/* The autoencoder trainer's defaults: lr 1e-4, betas (0.9, 0.99), eps 1e-8, weight decay 0. (The
 * transformer trainer differs only in lr 2e-4.) */
mg_adam_config mg_adam_default_config(void);

/* pytorch-custom-utils' rule: only parameters with at least 2 dimensions are decayed. */
bool mg_adam_param_decays(int ndim);

/* LinearWarmup's factor for optimizer step `step` (0 for the first step): min(1, (step + 1) / warmup_steps);
 * 1 when warmup_steps is 0. */
double mg_lr_warmup_factor(uint64_t step, uint64_t warmup_steps);

/* The decay after the warm-up for optimizer step `step` (0 for the first) of `total_steps`: 1 for a constant
 * rate; for a cosine, final + (1 - final) (1 + cos(pi t)) / 2 with t going from 0 (the first step after the
 * warm-up) to 1 (the last step). */
double mg_lr_decay_factor(uint64_t step, uint64_t warmup_steps, uint64_t total_steps, bool cosine,
                          double final_fraction);

/* clip_grad_norm_'s factor: min(1, max_norm / (total_norm + 1e-6)); 1 when max_norm <= 0 (no clipping). */
double mg_clip_coefficient(double total_norm, double max_norm);
#define MG_CLIP_NORM_EPS 1e-6

typedef struct mg_ema_config {
    double beta;                /* 0.9999: the largest decay */
    uint64_t update_after_step; /* 100: until then the EMA copies the weights */
    uint64_t update_every;      /* 10 */
    double inv_gamma;           /* 1 */
    double power;               /* 2/3 */
    double min_value;           /* 0 */
} mg_ema_config;

mg_ema_config mg_ema_default_config(void);

/* What one EMA.update() call does. */
typedef enum mg_ema_action {
    MG_EMA_SKIP = 0, /* nothing (not an update_every step) */
    MG_EMA_COPY = 1, /* ema = weights */
    MG_EMA_LERP = 2  /* ema = lerp(ema, weights, 1 - decay) */
} mg_ema_action;

/* The EMA's saved state: ema-pytorch's `step` (update calls so far) and `initted` buffers. */
typedef struct mg_ema_state {
    uint64_t step;
    bool initted;
} mg_ema_state;

/*
 * ema-pytorch's update(), as a pure function of the state (advanced here): with s = state->step before
 * the call, s is incremented; nothing happens unless s % update_every == 0; while s <= update_after_step the
 * weights are copied; the first later update copies too (initted) and every later one lerps with
 * decay = clamp(1 - (1 + e / inv_gamma)^-power, min_value, beta), e = s - update_after_step (> 0), which is
 * upstream's get_current_decay() evaluated after the increment. *decay (may be NULL) is the decay used (0
 * for SKIP and COPY).
 */
mg_ema_action mg_ema_advance(const mg_ema_config *config, mg_ema_state *state, double *decay);

/* get_current_decay() for upstream's incremented step counter (`step` = state->step after the increment). */
double mg_ema_decay(const mg_ema_config *config, uint64_t step);

/* ---- ops ---- */

/* One Adam/AdamW step's scalars. step counts from 1 (torch's state['step'] after its increment). */
typedef struct mg_adam_step {
    double lr;           /* this step's learning rate (warm-up applied) */
    double beta1, beta2;
    double eps;
    double weight_decay; /* decoupled (AdamW): param *= 1 - lr * weight_decay first; 0 for Adam */
    uint64_t step;
} mg_adam_step;

/* An mg_adam_step from the config, the step number (1-based) and the parameter's dimensions: the warm-up
 * factor of step - 1 applied to lr, weight decay only when mg_adam_param_decays(ndim). */
mg_adam_step mg_adam_step_for(const mg_adam_config *config, uint64_t step, uint64_t warmup_steps, int ndim);

/*
 * torch.optim.Adam / AdamW (amsgrad off), elementwise over one parameter:
 *   param *= 1 - lr * weight_decay
 *   m = lerp(m, grad, 1 - beta1);  v = beta2 * v + (1 - beta2) * grad^2
 *   param -= (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * The bias corrections are computed in double on the host, as torch does with Python floats; the elementwise
 * arithmetic is f32. param, grad, m, v: f32 of the same shape, m and v start at zero; grad is only read.
 */
mg_status mg_op_adam_step(mg_context *ctx, const mg_adam_step *step, mg_tensor *param, const mg_tensor *grad,
                          mg_tensor *m, mg_tensor *v);

/* Sum of the squares of every element of every tensor (f32), into *out on the host. Deterministic (fixed
 * partial sums, no atomics): the same inputs give the same bits run to run. Vulkan sums blocks of 4096
 * elements in f32 and the blocks in double on the host; the CPU reference sums in double. */
mg_status mg_op_sum_squares(mg_context *ctx, const mg_tensor *const *tensors, size_t count, double *out);

/* The global L2 norm of the gradients (torch's clip_grad_norm_ total_norm, norm type 2). */
mg_status mg_train_grad_norm(mg_context *ctx, const mg_tensor *const *grads, size_t count, double *out_norm);

/*
 * clip_grad_norm_: computes the global norm (into *out_norm, may be NULL) and scales every gradient by
 * mg_clip_coefficient(norm, max_norm) when that is below 1. A non-finite norm scales nothing (the caller
 * stops on it: see the trainer's NaN handling); max_norm <= 0 only measures.
 */
mg_status mg_train_clip_grad_norm(mg_context *ctx, mg_tensor *const *grads, size_t count, double max_norm,
                                  double *out_norm);

/* Sets every gradient to zero (before accumulating the next step's micro-batches). */
mg_status mg_train_zero_grads(mg_context *ctx, mg_tensor *const *grads, size_t count);

/* ema = torch.lerp(ema, param, weight) elementwise (weight = 1 - decay), with torch's two-sided formula:
 * weight < 0.5 ? ema + weight * (param - ema) : param - (param - ema) * (1 - weight). f32, same shape. */
mg_status mg_op_ema_lerp(mg_context *ctx, mg_tensor *ema, const mg_tensor *param, float weight);

/* One ema-pytorch update over parallel lists of EMA and online parameters: advances *state and copies or
 * lerps as mg_ema_advance says. *out_action (may be NULL) reports what was done. */
mg_status mg_train_ema_update(mg_context *ctx, const mg_ema_config *config, mg_ema_state *state,
                              mg_tensor *const *ema, const mg_tensor *const *params, size_t count,
                              mg_ema_action *out_action);

#endif
