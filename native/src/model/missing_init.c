/* Initial values for missing tensors: the rules are documented in missing_init.h. */
#include "model/missing_init.h"

#include <math.h>
#include <string.h>

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

/* x-transformers >= 1.31.3 LayerNorm of the transformer's decoders: effective scale = gamma + 1. */
static bool is_offset_gamma(const char *name)
{
    if (ends_with(name, "decoder.final_norm.gamma"))
        return true;
    const char *layers = strstr(name, "decoder.layers.");
    if (!layers)
        return false;
    const char *p = layers + strlen("decoder.layers.");
    const char *digits = p;
    while (*p >= '0' && *p <= '9')
        p++;
    return p > digits && strcmp(p, ".0.0.gamma") == 0;
}

mg_missing_init mg_missing_init_rule(const mg_weight_spec *spec)
{
    const char *name = spec->name;
    if (spec->kind == MG_WEIGHT_INT)
        return ends_with(name, ".mask") && spec->ndim == 1 ? MG_MISSING_BIT_MASK : MG_MISSING_ZERO;
    if (ends_with(name, ".inv_freq") && spec->ndim == 1)
        return MG_MISSING_INV_FREQ;
    if (is_offset_gamma(name))
        return MG_MISSING_ZERO;
    if (ends_with(name, ".gamma") || ends_with(name, ".g"))
        return MG_MISSING_ONE;
    /* nn.Linear, nn.Conv1d and nn.Embedding weights have 2 or more dimensions: a 1-D weight is a LayerNorm's. */
    if (ends_with(name, ".weight") && spec->ndim == 1)
        return MG_MISSING_ONE;
    return MG_MISSING_ZERO;
}

size_t mg_spec_element_count(const mg_weight_spec *spec)
{
    size_t n = 1;
    for (int d = 0; d < spec->ndim; d++)
        n *= (size_t)spec->shape[d];
    return n;
}

void mg_missing_init_floats(const mg_weight_spec *spec, float *out)
{
    size_t n = mg_spec_element_count(spec);
    mg_missing_init rule = mg_missing_init_rule(spec);
    for (size_t i = 0; i < n; i++) {
        switch (rule) {
        case MG_MISSING_ONE:
            out[i] = 1.0f;
            break;
        case MG_MISSING_INV_FREQ:
            /* local-attention's SinusoidalEmbeddings(dim_head): 1 / 10000^(arange(0, dim_head, 2) / dim_head). */
            out[i] = (float)(1.0 / pow(10000.0, (double)(2 * i) / (double)(2 * n)));
            break;
        default:
            out[i] = 0.0f;
            break;
        }
    }
}

void mg_missing_init_ints(const mg_weight_spec *spec, int64_t *out)
{
    size_t n = mg_spec_element_count(spec);
    bool mask = mg_missing_init_rule(spec) == MG_MISSING_BIT_MASK;
    for (size_t i = 0; i < n; i++)
        out[i] = mask && n - 1 - i < 63 ? (int64_t)1 << (n - 1 - i) : 0;
}
