/* The coordinate-code start of an autoencoder: weights, set by hand, with which the network
 * tokenizes every mesh exactly, so decoding gives back each discretized vertex.
 *
 * Why: a learned tokenizer needs far more training than a 2-core machine gives it in the default
 * model's budget (9.5% of held-out faces exact after 6500 steps, MODEL_CARD.md), and every inexact
 * coordinate breaks the shared vertices of a generated mesh. This code is exact by construction,
 * and it is coarse to fine: a vertex's first code holds the high bits of x, y and z (a cell of a
 * coarse grid), its second the low bits (the place inside the cell), as a residual quantizer's
 * levels should. The transformer then learns the shapes. Training may go on from this start, but
 * the training loss does not reward exactness (README), so it drifts away from it.
 *
 * How, with B = bits per coordinate (2^B >= num_discrete_coors), bit j of a coordinate counted
 * from the most significant, s = +1 for a set bit and -1 otherwise:
 *   encoder   coor_embed row b holds b's bits as s in channels 0..B-1. project_in copies them,
 *             so channel (slot * B + j) of a face is bit j of its coordinate slot (corner * 3 +
 *             axis): N = corners * 3 * B channels of +-1. init_sage_conv passes each channel as
 *             the pair (+x, -x) through its root weight (the neighbour terms are zero). A pair
 *             has a constant sum and sum of squares, so the L2 normalisation, SiLU and LayerNorm
 *             that follow are the same affine map for every face; encoders.0 takes each pair's
 *             difference (silu(a) - silu(-a) = a) and later layers pass the N channels on. The
 *             face vector is then s / sqrt(N) in channels 0..N-1.
 *   vertices  project_dim_codebook gives corner c the +-1 bits of its vertex. Every face that
 *             shares a vertex gives it the same bits, so their mean is exact.
 *   quantizer with k = code_dim / 3 dimensions per axis, bit j of axis a goes to dimension
 *             a * k + j % k of level j / k: quantizer.project_in makes dimension d the value
 *             sum over levels l of s_l 2^-l, which ResidualLFQ reads back bit for bit (level l's
 *             sign is s_l because the later levels' sum is smaller than 2^-l). Unused slots are +.
 *   decoder   a dimension's dequantized value q takes 2^L values g_0 < ... on a grid. The first
 *             conv (its centre tap) makes units K (q - g_i), i < 2^L - 1, and two constants K and
 *             2K; SiLU of them is K relu(q - g_i) to within 1e-6 at K = 32, since q - g_i is 0
 *             or at least half a grid step from 0. Each level's bit is a piecewise-linear function
 *             of q through the grid points, so a sum of those units. The resnet blocks' convs are
 *             zero, which makes each block its residual path (the identity or a channel copy).
 *   logits    to_coor_logits scores bin b of a coordinate as sum over its bits of
 *             (b's bit, +-1) x (the decoded bit, +-1): the true bin scores B and any other bin at
 *             least 2 less. Each row's weights sum to zero (a multiple of 2 e_K - e_2K, which is
 *             zero on every face, is added), and no row has a bias, so the per-face shift and
 *             scale of the LayerNorm before it cannot change which bin wins.
 * Everything else (angle, area and normal tables, the squeeze-excite gates, neighbour weights
 * that are zeroed) keeps or takes values that the construction multiplies by zero. */
#include "train/ae_train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_GAIN 32.0f   /* K: the SiLU units' slope, large enough that SiLU acts as ReLU on the grid */
#define LOGIT_SCALE 8.0f  /* half the winning bin's margin in logits, roughly: a sharp softmax */

typedef struct code_layout {
    int bins, bits;          /* num_discrete_coors, B */
    int corners, slots;      /* face size, corners * 3 coordinate slots per face */
    int bit_channels;        /* N = slots * B */
    int code_dim, levels;    /* log2(codebook_size), num_quantizers */
    int dims_per_axis;       /* k = code_dim / 3 */
    int grid;                /* 2^levels values of a dequantized dimension */
    int units;               /* corners * code_dim * (grid - 1) ReLU units, then the two constants */
} code_layout;

/* The layout a config gives the code. grid and units are 0 for a number of levels the code cannot use
 * (the check refuses it before anything reads them). */
static code_layout layout_of(const mg_ae_config *c)
{
    code_layout L;
    L.bins = c->num_discrete_coors;
    L.bits = 0;
    while ((1 << L.bits) < L.bins)
        L.bits++;
    L.corners = mg_ae_config_face_size(c);
    L.slots = L.corners * 3;
    L.bit_channels = L.slots * L.bits;
    L.code_dim = mg_ae_config_code_dim(c);
    L.levels = c->num_quantizers;
    L.dims_per_axis = L.code_dim / 3;
    L.grid = L.levels >= 1 && L.levels <= 4 ? 1 << L.levels : 0;
    L.units = L.grid ? L.corners * L.code_dim * (L.grid - 1) + 2 : 0;
    return L;
}

mg_status ae_coordinate_code_check(const mg_ae_config *c, mg_diag *diag)
{
    const char *what = "the coordinate-code start";
    if (!c->use_residual_lfq)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs the lookup-free quantizer (ResidualLFQ); this config uses "
                       "ResidualVQ (use_residual_lfq false)", what);
    if (c->attn_encoder_depth > 0 || c->attn_decoder_depth > 0)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs attn_encoder_depth and attn_decoder_depth 0 (it has no "
                       "weights for attention layers)", what);
    const code_layout L = layout_of(c);
    const int n = L.bit_channels;
    if (!L.grid || L.dims_per_axis * L.levels < L.bits)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs num_quantizers (1 to 4) x floor(log2(codebook_size) / 3) "
                       ">= %d, the bits of a coordinate of %d bins; this config gives %d x %d", what, L.bits, L.bins,
                       L.levels, L.dims_per_axis);
    if (c->dim_coor_embed < L.bits)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs dim_coor_embed >= %d (one channel per bit)", what, L.bits);
    if (c->dim_codebook < n || c->dim_codebook == L.code_dim)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs dim_codebook >= %d (every bit of a face's %d coordinates) "
                       "and different from log2(codebook_size)", what, n, L.slots);
    if (c->encoder_depth < 2 || c->encoder_dims[0] < 2 * n)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs at least two encoder layers, the first at least %d wide "
                       "(each bit as a pair of channels); set encoder_dims_through_depth to e.g. [%d, %d]", what,
                       2 * n, 2 * n, n);
    for (int i = 1; i < c->encoder_depth; i++)
        if (c->encoder_dims[i] < n)
            return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs every encoder layer after the first at least %d wide",
                           what, n);
    for (int i = 0; i < c->decoder_depth; i++)
        if (c->decoder_dims[i] < L.units || (i > 0 && c->decoder_dims[i] < c->decoder_dims[i - 1]))
            return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s needs decoder layers at least %d wide, none narrower than "
                           "the one before; set decoder_dims_through_depth to e.g. [%d, %d]", what, L.units, L.units,
                           L.units);
    return MG_OK;
}

/* A zeroed host copy of a parameter, written back by put(). */
static float *take(const ae_train *t, const char *name, mg_tensor **tensor, mg_status *status)
{
    if (*status != MG_OK)
        return NULL;
    *tensor = ae_value(t, "%s", name);
    float *values = *tensor ? calloc((*tensor)->count, sizeof *values) : NULL;
    if (!*tensor)
        *status = MG_ERR_INTERNAL;
    else if (!values)
        *status = mg_fail(&t->base.ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory setting the coordinate code");
    return values;
}

static void put(mg_tensor *tensor, float *values, mg_status *status)
{
    if (*status == MG_OK && values)
        *status = mg_tensor_write_f32(tensor, values, tensor->count);
    free(values);
}

/* A parameter set to zero (the neighbour terms of the graph convs, the resnet blocks' convs). */
static void zero(const ae_train *t, const char *name, mg_status *status)
{
    mg_tensor *tensor = NULL;
    float *values = take(t, name, &tensor, status);
    put(tensor, values, status);
}

static float sign_of_bit(int value, int bits, int j)
{
    return (value >> (bits - 1 - j)) & 1 ? 1.0f : -1.0f;
}

static mg_status set_encoder(const ae_train *t, const code_layout *L, mg_status status)
{
    const mg_ae_config *c = &t->config;
    mg_tensor *tensor = NULL;
    float *v = take(t, "coor_embed.weight", &tensor, &status);
    for (int b = 0; v && b < L->bins; b++)
        for (int j = 0; j < L->bits; j++)
            v[(size_t)b * (size_t)c->dim_coor_embed + (size_t)j] = sign_of_bit(b, L->bits, j);
    put(tensor, v, &status);

    /* concat columns: the coordinate slots first, dim_coor_embed each (then angles, area, normals) */
    v = take(t, "project_in.weight", &tensor, &status);
    const size_t concat = tensor ? (size_t)tensor->shape[1] : 0;
    for (int s = 0; v && s < L->slots; s++)
        for (int j = 0; j < L->bits; j++)
            v[(size_t)(s * L->bits + j) * concat + (size_t)(s * c->dim_coor_embed + j)] = 1.0f;
    put(tensor, v, &status);
    zero(t, "project_in.bias", &status);

    char name[64];
    for (int layer = 0; layer < c->encoder_depth; layer++) {
        char prefix[32];
        if (layer == 0)
            snprintf(prefix, sizeof prefix, "init_sage_conv");
        else
            snprintf(prefix, sizeof prefix, "encoders.%d", layer - 1);
        static const char *const unused[] = {"lin.weight", "lin.bias", "lin_l.weight", "lin_l.bias"};
        for (size_t u = 0; u < sizeof unused / sizeof *unused; u++) {
            snprintf(name, sizeof name, "%s.%s", prefix, unused[u]);
            zero(t, name, &status);
        }
        snprintf(name, sizeof name, "%s.lin_r.weight", prefix);
        v = take(t, name, &tensor, &status);
        const size_t in = tensor ? (size_t)tensor->shape[1] : 0;
        for (int i = 0; v && i < L->bit_channels; i++) {
            if (layer == 0) { /* each bit as the pair (+x, -x) */
                v[(size_t)(2 * i) * in + (size_t)i] = 1.0f;
                v[(size_t)(2 * i + 1) * in + (size_t)i] = -1.0f;
            } else if (layer == 1) { /* the pair's difference */
                v[(size_t)i * in + (size_t)(2 * i)] = 1.0f;
                v[(size_t)i * in + (size_t)(2 * i + 1)] = -1.0f;
            } else {
                v[(size_t)i * in + (size_t)i] = 1.0f;
            }
        }
        put(tensor, v, &status);
    }
    /* init_encoder_act_and_norm.1 keeps its fresh weight 1 and bias 0 */
    return status;
}

static mg_status set_quantizer(const ae_train *t, const code_layout *L, mg_status status)
{
    const mg_ae_config *c = &t->config;
    const int dim = c->dim_codebook;
    mg_tensor *tensor = NULL;
    /* corner c of a face: its vertex's bits (axis a, bit j) as +-1 in channel a * B + j of its dim_codebook */
    float *v = take(t, "project_dim_codebook.weight", &tensor, &status);
    const size_t in = tensor ? (size_t)tensor->shape[1] : 0;
    const float unit = sqrtf((float)L->bit_channels); /* the encoder's output is s / sqrt(N) */
    for (int corner = 0; v && corner < L->corners; corner++)
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < L->bits; j++)
                v[(size_t)(corner * dim + a * L->bits + j) * in + (size_t)((corner * 3 + a) * L->bits + j)] = unit;
    put(tensor, v, &status);
    zero(t, "project_dim_codebook.bias", &status);

    mg_tensor *bias_tensor = NULL;
    v = take(t, "quantizer.project_in.weight", &tensor, &status);
    float *bias = take(t, "quantizer.project_in.bias", &bias_tensor, &status);
    for (int d = 0; v && bias && d < L->code_dim; d++) {
        const int a = d / L->dims_per_axis, within = d % L->dims_per_axis;
        for (int l = 0; l < L->levels; l++) {
            const int j = l * L->dims_per_axis + within;
            const float scale = ldexpf(1.0f, -l);
            if (a < 3 && j < L->bits)
                v[(size_t)d * (size_t)dim + (size_t)(a * L->bits + j)] = scale;
            else
                bias[d] += scale; /* an unused slot: always + */
        }
    }
    put(tensor, v, &status);
    put(bias_tensor, bias, &status);

    v = take(t, "quantizer.project_out.weight", &tensor, &status);
    for (int d = 0; v && d < L->code_dim; d++)
        v[(size_t)d * (size_t)L->code_dim + (size_t)d] = 1.0f;
    put(tensor, v, &status);
    zero(t, "quantizer.project_out.bias", &status);
    return status;
}

/* The grid of a dequantized dimension: g_m = sum over levels l of (bit l of m, MSB first, as +-1) 2^-l. */
static float grid_value(int m, int levels)
{
    float value = 0.0f;
    for (int l = 0; l < levels; l++)
        value += ((m >> (levels - 1 - l)) & 1 ? 1.0f : -1.0f) * ldexpf(1.0f, -l);
    return value;
}

static float level_bit(int m, int levels, int l)
{
    return (m >> (levels - 1 - l)) & 1 ? 1.0f : -1.0f;
}

static mg_status set_decoder(const ae_train *t, const code_layout *L, mg_status status)
{
    const mg_ae_config *c = &t->config;
    const int dim = c->dim_codebook, knots = L->grid - 1;
    const int first_constant = L->corners * L->code_dim * knots;
    mg_tensor *tensor = NULL, *bias_tensor = NULL;
    float *w = take(t, "init_decoder_conv.0.weight", &tensor, &status);
    float *b = take(t, "init_decoder_conv.0.bias", &bias_tensor, &status);
    if (w && b) {
        const size_t in = (size_t)tensor->shape[1], kernel = (size_t)tensor->shape[2], centre = kernel / 2;
        for (int corner = 0; corner < L->corners; corner++)
            for (int d = 0; d < L->code_dim; d++)
                for (int i = 0; i < knots; i++) {
                    const size_t unit = (size_t)((corner * L->code_dim + d) * knots + i);
                    w[(unit * in + (size_t)(corner * dim + d)) * kernel + centre] = UNIT_GAIN;
                    b[unit] = -UNIT_GAIN * grid_value(i, L->levels);
                }
        b[first_constant] = UNIT_GAIN;
        b[first_constant + 1] = 2.0f * UNIT_GAIN;
    }
    put(tensor, w, &status);
    put(bias_tensor, b, &status);

    char name[64];
    for (int i = 0; i + 1 < c->decoder_depth; i++) {
        static const char *const blocks[] = {"block1.proj.weight", "block1.proj.bias", "block2.proj.weight",
                                             "block2.proj.bias"};
        for (size_t k = 0; k < sizeof blocks / sizeof *blocks; k++) {
            snprintf(name, sizeof name, "decoders.%d.%s", i, blocks[k]);
            zero(t, name, &status);
        }
        if (c->decoder_dims[i + 1] != c->decoder_dims[i]) {
            snprintf(name, sizeof name, "decoders.%d.residual_conv.weight", i);
            float *r = take(t, name, &tensor, &status);
            const size_t in = tensor ? (size_t)tensor->shape[1] : 0;
            for (size_t ch = 0; r && ch < in; ch++)
                r[ch * in + ch] = 1.0f; /* [out, in, 1] */
            put(tensor, r, &status);
            snprintf(name, sizeof name, "decoders.%d.residual_conv.bias", i);
            zero(t, name, &status);
        }
    }

    /* Level l's bit as a function of q, through the grid points: f(g_0) + sum_i (slope_i - slope_{i-1}) relu(q - g_i). */
    float base[4], kink[4][15];
    const float step = grid_value(1, L->levels) - grid_value(0, L->levels);
    for (int l = 0; l < L->levels; l++) {
        base[l] = level_bit(0, L->levels, l);
        float previous = 0.0f;
        for (int i = 0; i < knots; i++) {
            float slope = (level_bit(i + 1, L->levels, l) - level_bit(i, L->levels, l)) / step;
            kink[l][i] = slope - previous;
            previous = slope;
        }
    }
    w = take(t, "to_coor_logits.0.weight", &tensor, &status);
    const size_t width = tensor ? (size_t)tensor->shape[1] : 0;
    /* The units are K relu(.) and the constant K; the LayerNorm divides them by their spread, which is about K,
     * so the true bin wins by about 2 LOGIT_SCALE. */
    const float gain = LOGIT_SCALE;
    for (int corner = 0; w && corner < L->corners; corner++)
        for (int a = 0; a < 3; a++)
            for (int bin = 0; bin < L->bins; bin++) {
                float *row = w + (size_t)((corner * 3 + a) * L->bins + bin) * width;
                for (int j = 0; j < L->bits; j++) {
                    const int level = j / L->dims_per_axis, d = a * L->dims_per_axis + j % L->dims_per_axis;
                    const float want = sign_of_bit(bin, L->bits, j) * gain;
                    for (int i = 0; i < knots; i++)
                        row[(corner * L->code_dim + d) * knots + i] += want * kink[level][i];
                    row[first_constant] += want * base[level];
                }
                /* rows sum to zero: add -sum (2 e_K - e_2K), which is zero on every face */
                double sum = 0.0;
                for (size_t ch = 0; ch < width; ch++)
                    sum += (double)row[ch];
                row[first_constant] -= (float)(2.0 * sum);
                row[first_constant + 1] += (float)sum;
            }
    put(tensor, w, &status);
    zero(t, "to_coor_logits.0.bias", &status);
    /* init_decoder_conv.3 (LayerNorm) keeps its fresh weight 1 and bias 0 */
    return status;
}

mg_status ae_init_coordinate_code(ae_train *t)
{
    const mg_ae_config *c = &t->config;
    mg_status status = ae_coordinate_code_check(c, &t->base.ctx->diag);
    if (status != MG_OK)
        return status;
    const code_layout L = layout_of(c);
    status = set_encoder(t, &L, status);
    status = set_quantizer(t, &L, status);
    return set_decoder(t, &L, status);
}
