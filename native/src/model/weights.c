/*
 * The state-dict entries of meshgpt-pytorch 1.7.2's MeshAutoencoder, derived
 * from its constructor (see docs in ../shared/reference, section 5 and
 * Appendix A): names, shapes and whether each is a parameter or a buffer.
 */
#include "model/weights.h"

#include "model/spec_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* nn.Conv1d(in, out, k): weight [out, in, k], bias [out]. */
static void conv1d(mg_spec_list *l, const char *name, int64_t out, int64_t in, int64_t kernel)
{
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 3, SHAPE(out, in, kernel), "%s.weight", name);
    mg_spec_vector(l, name, "bias", out);
}

static void layer_norm(mg_spec_list *l, const char *name, int64_t dim)
{
    mg_spec_vector(l, name, "weight", dim);
    mg_spec_vector(l, name, "bias", dim);
}

/* Writes name + suffix into sub. A name that does not fit marks the list
 * failed (as mg_spec_add does for its own names) instead of going on with a
 * truncated module name. */
static bool sub_name(mg_spec_list *l, char *sub, size_t size, const char *name, const char *suffix)
{
    int n = snprintf(sub, size, "%s%s", name, suffix);
    if (n < 0 || (size_t)n >= size) {
        l->failed = true;
        return false;
    }
    return true;
}

/* torch_geometric SAGEConv(in, out, normalize=True, project=True). */
static void sage_conv(mg_spec_list *l, const char *name, int64_t in, int64_t out)
{
    char sub[MG_WEIGHT_NAME_MAX];
    if (sub_name(l, sub, sizeof sub, name, ".lin"))
        mg_spec_linear(l, sub, in, in, true);
    if (sub_name(l, sub, sizeof sub, name, ".lin_l"))
        mg_spec_linear(l, sub, out, in, true);
    if (sub_name(l, sub, sizeof sub, name, ".lin_r"))
        mg_spec_linear(l, sub, out, in, false);
}

/* One of encoder_attn_blocks / decoder_attn_blocks: [TaylorSeriesLinearAttn or None, LocalMHA, (RMSNorm, GLU FF)]. */
static void attn_block(mg_spec_list *l, const mg_ae_config *c, const char *name, int64_t dim)
{
    char sub[MG_WEIGHT_NAME_MAX];
    if (c->use_linear_attn) {
        int64_t inner = (int64_t)c->linear_attn_dim_head * c->linear_attn_heads;
        snprintf(sub, sizeof sub, "%s.0.norm", name);
        mg_spec_vector(l, sub, "gamma", dim);
        snprintf(sub, sizeof sub, "%s.0.to_q.0", name);
        mg_spec_linear(l, sub, inner, dim, false);
        snprintf(sub, sizeof sub, "%s.0.to_kv.0", name);
        mg_spec_linear(l, sub, 2 * inner, dim, false);
        snprintf(sub, sizeof sub, "%s.0.to_out.0", name);
        mg_spec_linear(l, sub, dim, inner, false);
    }
    int64_t inner = (int64_t)c->local_attn_dim_head * c->local_attn_heads;
    snprintf(sub, sizeof sub, "%s.1.norm", name);
    layer_norm(l, sub, dim);
    snprintf(sub, sizeof sub, "%s.1.to_qkv", name);
    mg_spec_linear(l, sub, 3 * inner, dim, false);
    mg_spec_add(l, MG_WEIGHT_FLOAT, true, 1, SHAPE((c->local_attn_dim_head + 1) / 2), "%s.1.attn_fn.rel_pos.inv_freq",
             name);
    snprintf(sub, sizeof sub, "%s.1.to_out", name);
    mg_spec_linear(l, sub, dim, inner, false);
    snprintf(sub, sizeof sub, "%s.2.0", name);
    mg_spec_vector(l, sub, "g", dim);
    int64_t ff_inner = 4 * dim; /* x-transformers FeedForward(dim, glu=True), mult 4 */
    snprintf(sub, sizeof sub, "%s.2.1.ff.0.proj", name);
    mg_spec_linear(l, sub, 2 * ff_inner, dim, true);
    snprintf(sub, sizeof sub, "%s.2.1.ff.2", name);
    mg_spec_linear(l, sub, dim, ff_inner, true);
}

static void quantizer(mg_spec_list *l, const mg_ae_config *c)
{
    int64_t dim = c->dim_codebook;
    if (c->use_residual_lfq) {
        int64_t bits = mg_ae_config_code_dim(c);
        if (bits != dim) { /* ResidualLFQ projects only when the widths differ */
            mg_spec_linear(l, "quantizer.project_in", bits, dim, true);
            mg_spec_linear(l, "quantizer.project_out", dim, bits, true);
        }
        for (int q = 0; q < c->num_quantizers; q++)
            mg_spec_add(l, MG_WEIGHT_INT, true, 1, SHAPE(bits), "quantizer.layers.%d.mask", q);
        return;
    }
    /* ResidualVQ(shared_codebook=True): one EuclideanCodebook module shared by every level, so the state dict
     * repeats its buffers under each level's name. No projections: codebook_dim = dim. */
    int64_t size = c->codebook_size;
    for (int q = 0; q < c->num_quantizers; q++) {
        mg_spec_add(l, MG_WEIGHT_FLOAT, true, 1, SHAPE(1), "quantizer.layers.%d._codebook.initted", q);
        mg_spec_add(l, MG_WEIGHT_FLOAT, true, 2, SHAPE(1, size), "quantizer.layers.%d._codebook.cluster_size", q);
        mg_spec_add(l, MG_WEIGHT_FLOAT, true, 3, SHAPE(1, size, dim), "quantizer.layers.%d._codebook.embed_avg", q);
        mg_spec_add(l, MG_WEIGHT_FLOAT, true, 3, SHAPE(1, size, dim), "quantizer.layers.%d._codebook.embed", q);
    }
}

mg_status mg_ae_weight_specs(const mg_ae_config *c, const char *prefix, mg_weight_spec **out, size_t *count,
                             mg_diag *diag)
{
    if (!c || !out || !count)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_ae_weight_specs: NULL argument");
    *out = NULL;
    *count = 0;
    mg_spec_list l = {.prefix = prefix ? prefix : ""};
    char name[MG_WEIGHT_NAME_MAX];
    int64_t nvf = mg_ae_config_face_size(c);
    int64_t init_dim = (int64_t)c->dim_coor_embed * 3 * nvf + (int64_t)c->dim_angle_embed * nvf +
                       (int64_t)c->dim_normal_embed * 3 + c->dim_area_embed;
    int64_t dcb = c->dim_codebook;

    /* encoder */
    mg_spec_linear(&l, "coor_embed", c->num_discrete_coors, c->dim_coor_embed, false);
    mg_spec_linear(&l, "angle_embed", c->num_discrete_angle, c->dim_angle_embed, false);
    mg_spec_linear(&l, "area_embed", c->num_discrete_area, c->dim_area_embed, false);
    mg_spec_linear(&l, "normal_embed", c->num_discrete_normals, c->dim_normal_embed, false);
    mg_spec_linear(&l, "project_in", dcb, init_dim, true);
    sage_conv(&l, "init_sage_conv", dcb, c->encoder_dims[0]);
    layer_norm(&l, "init_encoder_act_and_norm.1", c->encoder_dims[0]);
    for (int i = 1; i < c->encoder_depth; i++) {
        snprintf(name, sizeof name, "encoders.%d", i - 1);
        sage_conv(&l, name, c->encoder_dims[i - 1], c->encoder_dims[i]);
    }
    int64_t encoder_out = c->encoder_dims[c->encoder_depth - 1];
    for (int i = 0; i < c->attn_encoder_depth; i++) {
        snprintf(name, sizeof name, "encoder_attn_blocks.%d", i);
        attn_block(&l, c, name, encoder_out);
    }
    mg_spec_linear(&l, "project_dim_codebook", dcb * nvf, encoder_out, true);
    quantizer(&l, c);

    /* decoder: upstream sizes the attention blocks at 3 * dim_codebook even for quads */
    for (int i = 0; i < c->attn_decoder_depth; i++) {
        snprintf(name, sizeof name, "decoder_attn_blocks.%d", i);
        attn_block(&l, c, name, 3 * dcb);
    }
    conv1d(&l, "init_decoder_conv.0", c->decoder_dims[0], dcb * nvf, c->init_decoder_conv_kernel);
    layer_norm(&l, "init_decoder_conv.3", c->decoder_dims[0]);
    for (int i = 1; i < c->decoder_depth; i++) {
        int64_t in = c->decoder_dims[i - 1], out_dim = c->decoder_dims[i];
        int64_t squeeze = out_dim / 4 > 16 ? out_dim / 4 : 16; /* SqueezeExcite: max(dim // 4, 16) */
        char sub[MG_WEIGHT_NAME_MAX];
        snprintf(sub, sizeof sub, "decoders.%d.block1.proj", i - 1);
        conv1d(&l, sub, out_dim, in, 3);
        snprintf(sub, sizeof sub, "decoders.%d.block2.proj", i - 1);
        conv1d(&l, sub, out_dim, out_dim, 3);
        snprintf(sub, sizeof sub, "decoders.%d.excite.net.0", i - 1);
        mg_spec_linear(&l, sub, squeeze, out_dim, true);
        snprintf(sub, sizeof sub, "decoders.%d.excite.net.2", i - 1);
        mg_spec_linear(&l, sub, out_dim, squeeze, true);
        if (in != out_dim) {
            snprintf(sub, sizeof sub, "decoders.%d.residual_conv", i - 1);
            conv1d(&l, sub, out_dim, in, 1);
        }
    }
    mg_spec_linear(&l, "to_coor_logits.0", (int64_t)c->num_discrete_coors * 3 * nvf, c->decoder_dims[c->decoder_depth - 1],
           true);

    if (l.failed) {
        free(l.items);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory listing the autoencoder's tensors (or a prefix "
                       "longer than %d characters)", MG_WEIGHT_NAME_MAX / 2);
    }
    *out = l.items;
    *count = l.count;
    return MG_OK;
}

const mg_weight *mg_weights_find(const mg_weights *weights, const char *name)
{
    if (!weights || !name)
        return NULL;
    for (size_t i = 0; i < weights->count; i++)
        if (strcmp(weights->items[i].name, name) == 0)
            return &weights->items[i];
    return NULL;
}

mg_tensor *mg_weights_tensor(const mg_weights *weights, const char *name)
{
    const mg_weight *w = mg_weights_find(weights, name);
    return w ? w->tensor : NULL;
}

void mg_weights_free(mg_weights *weights)
{
    if (!weights)
        return;
    for (size_t i = 0; i < weights->count; i++) {
        mg_tensor_free(weights->items[i].tensor);
        free(weights->items[i].ints);
    }
    free(weights->items);
    weights->items = NULL;
    weights->count = 0;
}
