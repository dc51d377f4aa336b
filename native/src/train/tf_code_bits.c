/*
 * The code-bits start of a new MeshTransformer (MG_TRANSFORMER_START_CODE_BITS). An LFQ code is a pattern of
 * bits, and with the coordinate-code autoencoder each bit is a bit of a vertex coordinate; upstream's
 * nn.Embedding and nn.Linear starts make every token's row independent noise, so the transformer first has to
 * learn from scarce examples that code 0x3f0 lies next to 0x3f1. Here the rows of the codebook entries in the
 * token embedding and in the output layer start as one random linear map of the code's bits (+1 / -1 each):
 * codes that share bits start alike, and the first logits score each bit on its own. The EOS rows keep the
 * default start. Measured: README, "Training".
 */
#include "train/tf_train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool tft_code_bits_applies(const char *name)
{
    return strcmp(name, "token_embed.weight") == 0 || strcmp(name, "to_logits.weight") == 0;
}

mg_status tft_init_code_bits(const char *name, const int64_t *shape, int codebook_size, mg_rng *rng, float *values,
                             mg_diag *diag)
{
    int bits = 0;
    while ((1 << bits) < codebook_size)
        bits++;
    if (bits == 0 || (1 << bits) != codebook_size || shape[0] < codebook_size)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the code-bits start needs a codebook of a power of two "
                       "entries (LFQ), not %d", codebook_size);
    const size_t dim = (size_t)shape[1];
    /* Each row keeps the variance of its default start: N(0, 1) for the embedding, U(+-1/sqrt(dim)) (variance
     * 1/(3 dim)) for the output layer; a sum of `bits` projections, each 1/bits of it. */
    const bool embedding = strcmp(name, "token_embed.weight") == 0;
    const double scale = embedding ? sqrt(1.0 / bits) : sqrt(1.0 / (3.0 * (double)dim * bits));
    float *projection = malloc((size_t)bits * dim * sizeof *projection);
    if (!projection)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the code-bits start");
    for (size_t i = 0; i < (size_t)bits * dim; i++)
        projection[i] = (float)(scale * tft_normal(rng));
    /* LFQ numbers code dimension d as bit (bits - 1 - d) of the index. */
    for (int code = 0; code < codebook_size; code++)
        for (size_t j = 0; j < dim; j++) {
            double v = 0.0;
            for (int d = 0; d < bits; d++)
                v += (((code >> (bits - 1 - d)) & 1) ? 1.0 : -1.0) * projection[(size_t)d * dim + j];
            values[(size_t)code * dim + j] = (float)v;
        }
    free(projection);
    return MG_OK;
}
