/*
 * Initial values of a new MeshTransformer as meshgpt-pytorch 1.7.2 (and the
 * x-transformers / gateloop modules it builds) get them from PyTorch:
 *   - nn.Linear: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5));
 *   - nn.Embedding (token_embed, abs_pos_emb) and the torch.randn parameters (sos_token, quantize_level_embed,
 *     vertex_embed, memory key/values): N(0, 1);
 *   - nn.LayerNorm (to_face_tokens.1): weight 1, bias 0; x-transformers' LayerNorm gains (stored with the +1
 *     offset): 0; gateloop RMSNorm gains: 1; FiLM multipliers: 0.
 * A new built-in text encoder as Hugging Face's BertPreTrainedModel._init_weights: Linear and Embedding weights
 * N(0, 0.02), biases 0, LayerNorm weight 1 and bias 0.
 * The values come from the trainer's RNG, so a seed gives the same model on every machine.
 */
#include "train/tf_train_internal.h"

#include "model/config_json.h"

#include <math.h>
#include <string.h>

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

/* A standard normal draw (Box-Muller on two uniforms; one value per call keeps the stream simple). */
double tft_normal(mg_rng *rng)
{
    double u1 = mg_rng_uniform(rng), u2 = mg_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

static void fill(float *values, size_t count, float value)
{
    for (size_t i = 0; i < count; i++)
        values[i] = value;
}

static void fill_normal(float *values, size_t count, double std, mg_rng *rng)
{
    for (size_t i = 0; i < count; i++)
        values[i] = (float)(std * tft_normal(rng));
}

static void fill_uniform(float *values, size_t count, double bound, mg_rng *rng)
{
    for (size_t i = 0; i < count; i++)
        values[i] = (float)mg_rng_uniform_range(rng, -bound, bound);
}

static void init_text_encoder(const char *name, mg_rng *rng, float *values, size_t count)
{
    if (ends_with(name, "LayerNorm.weight"))
        fill(values, count, 1.0f);
    else if (ends_with(name, ".bias"))
        fill(values, count, 0.0f);
    else
        fill_normal(values, count, 0.02, rng);
}

void tft_init_values(const char *name, int ndim, const int64_t *shape, size_t fan_in, mg_rng *rng, float *values,
                     size_t count)
{
    if (strncmp(name, MG_MODEL_TEXT_ENCODER_PREFIX, strlen(MG_MODEL_TEXT_ENCODER_PREFIX)) == 0) {
        init_text_encoder(name, rng, values, count);
        return;
    }
    if (ends_with(name, ".0.0.gamma") || ends_with(name, "final_norm.gamma") || ends_with(name, "_mult")) {
        fill(values, count, 0.0f);
    } else if (ends_with(name, "norm.gamma") || strcmp(name, "to_face_tokens.1.weight") == 0) {
        fill(values, count, 1.0f);
    } else if (strcmp(name, "to_face_tokens.1.bias") == 0) {
        fill(values, count, 0.0f);
    } else if (ends_with(name, ".bias")) {
        fill_uniform(values, count, fan_in ? 1.0 / sqrt((double)fan_in) : 0.0, rng);
    } else if (ends_with(name, ".weight") && ndim == 2 && strcmp(name, "token_embed.weight") != 0 &&
               strcmp(name, "abs_pos_emb.weight") != 0) {
        fill_uniform(values, count, 1.0 / sqrt((double)shape[1]), rng);
    } else {
        /* embeddings, sos tokens, level and vertex embeddings, memory key/values */
        fill_normal(values, count, 1.0, rng);
    }
}
