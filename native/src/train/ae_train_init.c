/* Fresh autoencoder weights as PyTorch initialises each layer kind (meshgpt-pytorch
 * adds no initialisation of its own):
 *   nn.Embedding                   N(0, 1)
 *   nn.Linear, nn.Conv1d, and torch_geometric's Linear inside SAGEConv
 *                                  weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
 *                                  a = sqrt(5)); fan_in = in_features, or in_channels * kernel for a conv
 *   nn.LayerNorm                   weight 1, bias 0
 *   ResidualVQ codebook buffers    0 (initted 0: k-means on the first batch, upstream's kmeans_init=True)
 * Each parameter draws from its own stream of the seed (mg_rng_fork by index),
 * so the values do not depend on the device.
 *
 * MG_EMBEDDING_INIT_SINUSOID replaces the embeddings' N(0, 1) with a fixed
 * table (sinusoid_table). Why: a bin's row only learns when that bin occurs,
 * so with random rows the encoder starts with no notion that bin 57 lies next
 * to bin 58, and a small model first memorises its training shapes instead of
 * learning to carry positions (one class trained alone reconstructed its own
 * shapes exactly and held-out ones not at all). Smooth rows give nearby values
 * nearby features from the start. */
#include "train/ae_train_internal.h"

#include "train/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

static bool is_embedding(const char *name)
{
    return strncmp(name, "coor_embed.", 11) == 0 || strncmp(name, "angle_embed.", 12) == 0 ||
           strncmp(name, "area_embed.", 11) == 0 || strncmp(name, "normal_embed.", 13) == 0;
}

/* LayerNorms of the autoencoder: init_encoder_act_and_norm.1 and init_decoder_conv.3. */
static bool is_layer_norm(const char *name)
{
    return strncmp(name, "init_encoder_act_and_norm.", 26) == 0 || strncmp(name, "init_decoder_conv.3.", 20) == 0;
}

static double normal(mg_rng *rng)
{
    double u = mg_rng_uniform(rng), v = mg_rng_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * 3.14159265358979323846 * v);
}

/* Row r of R, column j of D: sqrt(2) sin (even j) or cos (odd j) of 2 pi c_k (r + 1/2) / R, where pair
 * k = j / 2 of the P = D / 2 pairs runs c_k = 1/2 * R^(k / (P - 1)) cycles over the bins: from half a cycle
 * (a ramp over the whole range) to R / 2 (alternating between neighbours), in geometric steps, so every scale
 * of distance has a pair of columns. sqrt(2) gives the columns the unit mean square of N(0, 1). An odd D's
 * last column repeats the lowest frequency's sine. At c = R / 2 the cosine is 0 at every bin centre, which
 * leaves that column zero until training moves it. */
static void sinusoid_table(size_t rows, size_t dim, float *values)
{
    const double pi = 3.14159265358979323846;
    size_t pairs = dim / 2;
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < dim; j++) {
            size_t k = j / 2 < pairs ? j / 2 : 0;
            double exponent = pairs > 1 ? (double)k / (double)(pairs - 1) : 0.0;
            double cycles = 0.5 * pow((double)rows, exponent);
            double angle = 2.0 * pi * cycles * ((double)r + 0.5) / (double)rows;
            values[r * dim + j] = (float)(sqrt(2.0) * ((j & 1) ? cos(angle) : sin(angle)));
        }
}

/* fan_in of a weight [out, in] or [out, in, k]; of a bias, the fan_in of its layer's weight. */
static double fan_in_of(const ae_train *t, const mg_weight_spec *specs, size_t count, const mg_weight_spec *s)
{
    (void)t;
    if (s->ndim >= 2) {
        double fan = (double)s->shape[1];
        for (int d = 2; d < s->ndim; d++)
            fan *= (double)s->shape[d];
        return fan;
    }
    char weight[MG_WEIGHT_NAME_MAX];
    size_t n = strlen(s->name) - strlen("bias");
    memcpy(weight, s->name, n);
    memcpy(weight + n, "weight", 7);
    for (size_t i = 0; i < count; i++)
        if (strcmp(specs[i].name, weight) == 0)
            return fan_in_of(t, specs, count, &specs[i]);
    return 1.0;
}

mg_status ae_init_fresh(ae_train *t, const mg_weight_spec *specs, size_t count, uint64_t seed,
                        mg_embedding_init embedding_init)
{
    mg_rng root;
    mg_rng_seed(&root, seed);
    float *values = NULL;
    mg_status status = MG_OK;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        const mg_weight_spec *s = &specs[i];
        mg_tensor *value = t->base.params[i].value;
        float *grown = realloc(values, value->count * sizeof *grown);
        if (!grown) {
            status = mg_fail(&t->base.ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory initialising weights");
            break;
        }
        values = grown;
        mg_rng rng = mg_rng_fork(&root, i);
        if (strstr(s->name, "._codebook.")) {
            /* ResidualVQ's codebook buffers: zeros, uninitialised (kmeans_init: the first batch fills them) */
            for (size_t k = 0; k < value->count; k++)
                values[k] = 0.0f;
        } else if (is_layer_norm(s->name)) {
            float fill = ends_with(s->name, ".weight") ? 1.0f : 0.0f;
            for (size_t k = 0; k < value->count; k++)
                values[k] = fill;
        } else if (is_embedding(s->name) && embedding_init == MG_EMBEDDING_INIT_SINUSOID && s->ndim == 2) {
            sinusoid_table((size_t)s->shape[0], (size_t)s->shape[1], values);
        } else if (is_embedding(s->name)) {
            for (size_t k = 0; k < value->count; k++)
                values[k] = (float)normal(&rng);
        } else {
            double bound = 1.0 / sqrt(fan_in_of(t, specs, count, s));
            for (size_t k = 0; k < value->count; k++)
                values[k] = (float)mg_rng_uniform_range(&rng, -bound, bound);
        }
        status = mg_tensor_write_f32(value, values, value->count);
    }
    free(values);
    return status;
}
