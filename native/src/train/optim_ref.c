#include "train/optim_ref.h"

#include <math.h>

/* torch's lerp: exact at both ends (weight 0 gives a, 1 gives b). */
static float lerp(float a, float b, float weight)
{
    return weight < 0.5f ? a + weight * (b - a) : b - (b - a) * (1.0f - weight);
}

void mg_ref_adam_step(size_t count, const mg_adam_scalars *s, float *param, const float *grad, float *m, float *v)
{
    for (size_t i = 0; i < count; i++) {
        float g = grad[i];
        float p = param[i] * s->decay_factor;
        float mi = lerp(m[i], g, s->one_minus_beta1);
        float vi = v[i] * s->beta2 + s->one_minus_beta2 * g * g;
        float denom = sqrtf(vi) / s->bias2_sqrt + s->eps;
        param[i] = p - s->step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

double mg_ref_sum_squares(size_t count, const float *x)
{
    double sum = 0.0;
    for (size_t i = 0; i < count; i++)
        sum += (double)x[i] * (double)x[i];
    return sum;
}

void mg_ref_ema_lerp(size_t count, float *ema, const float *param, float weight)
{
    for (size_t i = 0; i < count; i++)
        ema[i] = lerp(ema[i], param[i], weight);
}
