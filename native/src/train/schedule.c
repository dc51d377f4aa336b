/* The pure schedules of train/optim.h: Adam defaults, warm-up, clipping factor, ema-pytorch's decay. */
#include "train/optim.h"

#include <math.h>

mg_adam_config mg_adam_default_config(void)
{
    return (mg_adam_config){.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.0};
}

bool mg_adam_param_decays(int ndim)
{
    return ndim >= 2;
}

double mg_lr_warmup_factor(uint64_t step, uint64_t warmup_steps)
{
    if (warmup_steps == 0)
        return 1.0;
    double factor = ((double)step + 1.0) / (double)warmup_steps;
    return factor < 1.0 ? factor : 1.0;
}

double mg_lr_decay_factor(uint64_t step, uint64_t warmup_steps, uint64_t total_steps, bool cosine,
                          double final_fraction)
{
    if (!cosine || total_steps <= warmup_steps + 1 || step < warmup_steps)
        return 1.0;
    double t = (double)(step - warmup_steps) / (double)(total_steps - warmup_steps - 1);
    if (t > 1.0)
        t = 1.0;
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
}

double mg_clip_coefficient(double total_norm, double max_norm)
{
    if (!(max_norm > 0.0))
        return 1.0;
    double coefficient = max_norm / (total_norm + MG_CLIP_NORM_EPS);
    return coefficient < 1.0 ? coefficient : 1.0;
}

mg_adam_step mg_adam_step_for(const mg_adam_config *config, uint64_t step, uint64_t warmup_steps, int ndim)
{
    mg_adam_step s;
    s.lr = config->lr * mg_lr_warmup_factor(step > 0 ? step - 1 : 0, warmup_steps);
    s.beta1 = config->beta1;
    s.beta2 = config->beta2;
    s.eps = config->eps;
    s.weight_decay = mg_adam_param_decays(ndim) ? config->weight_decay : 0.0;
    s.step = step;
    return s;
}

mg_ema_config mg_ema_default_config(void)
{
    return (mg_ema_config){.beta = 0.9999, .update_after_step = 100, .update_every = 10, .inv_gamma = 1.0,
                           .power = 2.0 / 3.0, .min_value = 0.0};
}

double mg_ema_decay(const mg_ema_config *config, uint64_t step)
{
    /* epoch = max(step - update_after_step - 1, 0); 0 decay until it is positive. */
    if (step <= config->update_after_step + 1)
        return 0.0;
    double epoch = (double)(step - config->update_after_step - 1);
    double value = 1.0 - pow(1.0 + epoch / config->inv_gamma, -config->power);
    if (value < config->min_value)
        value = config->min_value;
    if (value > config->beta)
        value = config->beta;
    return value;
}

mg_ema_action mg_ema_advance(const mg_ema_config *config, mg_ema_state *state, double *decay)
{
    uint64_t step = state->step++;
    if (decay)
        *decay = 0.0;
    uint64_t every = config->update_every ? config->update_every : 1;
    if (step % every != 0)
        return MG_EMA_SKIP;
    if (step <= config->update_after_step)
        return MG_EMA_COPY;
    if (!state->initted) {
        /* Upstream copies and then lerps towards the same weights: a copy. */
        state->initted = true;
        return MG_EMA_COPY;
    }
    double d = mg_ema_decay(config, state->step);
    if (decay)
        *decay = d;
    return MG_EMA_LERP;
}
