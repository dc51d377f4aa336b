/* Plain-C references of the optimizer ops (train/optim.h), on host arrays. */
#ifndef MG_TRAIN_OPTIM_REF_H
#define MG_TRAIN_OPTIM_REF_H

#include <stddef.h>

/* The f32 scalars one Adam step uses, shared by the reference and the shader's push constants. */
typedef struct mg_adam_scalars {
    float decay_factor;    /* 1 - lr * weight_decay */
    float one_minus_beta1;
    float beta2;
    float one_minus_beta2;
    float step_size;       /* lr / (1 - beta1^step) */
    float bias2_sqrt;      /* sqrt(1 - beta2^step) */
    float eps;
} mg_adam_scalars;

void mg_ref_adam_step(size_t count, const mg_adam_scalars *s, float *param, const float *grad, float *m, float *v);
/* Sum of squares in double. */
double mg_ref_sum_squares(size_t count, const float *x);
void mg_ref_ema_lerp(size_t count, float *ema, const float *param, float weight);

#endif
