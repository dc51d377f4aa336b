/*
 * The state-dict entries of meshgpt-pytorch 1.7.2's MeshTransformer outside
 * its autoencoder (x-transformers 1.42.24 layer naming): see
 * ../shared/reference section 5.1 and Appendix A.
 */
#include "model/tf_weights.h"

#include "model/spec_list.h"

#include <stdio.h>
#include <stdlib.h>

static void gateloops(mg_spec_list *l, const char *block, int depth, int64_t dim)
{
    for (int i = 0; i < depth; i++) {
        mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(dim), "%s.gateloops.%d.norm.gamma", block, i);
        mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(3 * dim, dim), "%s.gateloops.%d.to_qkva.0.weight", block, i);
    }
}

/* meshgpt-pytorch's FiLM(dim_text, dim): scalar multipliers (0 at init: identity) and two projections. */
static void film(mg_spec_list *l, const char *name, int64_t dim, int64_t dim_text)
{
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(1), "%s.gamma_mult", name);
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(1), "%s.beta_mult", name);
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(dim, dim_text), "%s.to_gamma.weight", name);
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(dim, dim_text), "%s.to_beta.weight", name);
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(dim), "%s.to_beta.bias", name);
}

/* The gain of one decoder norm: x-transformers' LayerNorm `gamma` [d], or with adaptive RMSNorm
 * (coarse_adaptive_rmsnorm) the bias-free projection of the pooled text `to_gamma` [d, dim_text]. */
static void norm(mg_spec_list *l, const char *prefix, bool adaptive, int64_t d, int64_t dim_text)
{
    if (adaptive)
        mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(d, dim_text), "%s.to_gamma.weight", prefix);
    else
        mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(d), "%s.gamma", prefix);
}

/* One x-transformers Decoder of width d: per depth unit 'a' (+ 'c' with cross-attention) + 'f'. */
static void decoder(mg_spec_list *l, const mg_tf_config *c, const char *name, int64_t d, int depth, bool cross,
                    bool adaptive)
{
    const int64_t inner = (int64_t)c->attn_heads * c->attn_dim_head, h = c->attn_heads;
    const int64_t dh = c->attn_dim_head;
    int layer = 0, self_layers = 0;
    char prefix[MG_WEIGHT_NAME_MAX];
    for (int unit = 0; unit < depth; unit++) {
        const int kinds = cross ? 3 : 2;
        for (int k = 0; k < kinds; k++, layer++) {
            const bool is_ff = k == kinds - 1, is_cross = cross && k == 1;
            snprintf(prefix, sizeof prefix, "%s.layers.%d", name, layer);
            char norm_prefix[MG_WEIGHT_NAME_MAX + 8];
            snprintf(norm_prefix, sizeof norm_prefix, "%s.0.0", prefix);
            norm(l, norm_prefix, adaptive, d, c->dim_text);
            if (is_ff) {
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(8 * d, d), "%s.1.ff.0.proj.weight", prefix);
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(8 * d), "%s.1.ff.0.proj.bias", prefix);
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(d, 4 * d), "%s.1.ff.2.weight", prefix);
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(d), "%s.1.ff.2.bias", prefix);
                continue;
            }
            const int64_t context = is_cross ? c->dim_text : d;
            const int mem = is_cross ? c->cross_attn_num_mem_kv : c->attn_num_mem_kv;
            if (mem > 0) {
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 3, SHAPE(h, mem, dh), "%s.1.mem_k", prefix);
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 3, SHAPE(h, mem, dh), "%s.1.mem_v", prefix);
            }
            mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(inner, d), "%s.1.to_q.weight", prefix);
            mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(inner, context), "%s.1.to_k.weight", prefix);
            mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(inner, context), "%s.1.to_v.weight", prefix);
            /* Self-attention layers after the first learn how much of the first layer's values to mix in. */
            if (!is_cross && c->add_value_residual && c->learned_value_residual_mix && self_layers > 0) {
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(h, d), "%s.1.to_value_residual_mix.0.weight",
                            prefix);
                mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(h), "%s.1.to_value_residual_mix.0.bias", prefix);
            }
            mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(d, inner), "%s.1.to_out.weight", prefix);
            if (!is_cross)
                self_layers++;
        }
    }
    char norm_prefix[MG_WEIGHT_NAME_MAX + 16];
    snprintf(norm_prefix, sizeof norm_prefix, "%s.final_norm", name);
    norm(l, norm_prefix, adaptive, d, c->dim_text);
}

mg_status mg_tf_weight_specs(const mg_tf_config *c, mg_weight_spec **out, size_t *count, mg_diag *diag)
{
    *out = NULL;
    *count = 0;
    mg_spec_list l = {.prefix = ""};
    const int64_t d = c->dim, q = c->num_quantizers, fs = c->face_size;
    mg_spec_add(&l, MG_WEIGHT_FLOAT, false, 2, SHAPE(c->num_sos_tokens, d), "sos_token");
    mg_spec_add(&l, MG_WEIGHT_FLOAT, false, 2, SHAPE(q, d), "quantize_level_embed");
    mg_spec_add(&l, MG_WEIGHT_FLOAT, false, 2, SHAPE(fs, d), "vertex_embed");
    mg_spec_add(&l, MG_WEIGHT_FLOAT, false, 2, SHAPE(c->codebook_size + 1, d), "token_embed.weight");
    mg_spec_add(&l, MG_WEIGHT_FLOAT, false, 2, SHAPE(c->max_seq_len, d), "abs_pos_emb.weight");
    if (c->condition_on_text)
        mg_spec_linear(&l, "conditioner.to_latent_dims.0", c->dim_text, c->dim_text, true);
    if (c->condition_on_text && c->text_cond_with_film) {
        film(&l, "text_coarse_film_cond", d, c->dim_text);
        film(&l, "text_fine_film_cond", c->dim_fine, c->dim_text);
    }
    mg_spec_linear(&l, "to_face_tokens.0", d, q * fs * d, true);
    /* to_face_tokens.1 is a LayerNorm: weight [d], bias [d]. */
    mg_spec_vector(&l, "to_face_tokens.1", "weight", d);
    mg_spec_vector(&l, "to_face_tokens.1", "bias", d);
    gateloops(&l, "coarse_gateloop_block", c->coarse_pre_gateloop_depth, d);
    gateloops(&l, "coarse_post_gateloop_block", c->coarse_post_gateloop_depth, d);
    decoder(&l, c, "decoder", d, c->attn_depth, c->condition_on_text,
            c->condition_on_text && c->coarse_adaptive_rmsnorm);
    /* With a (coarse, fine) pair of widths: one projection between them (nn.Identity, no tensors, when equal).
     * Upstream builds the fine gateloops at the coarse width. */
    if (c->dim_fine != c->dim)
        mg_spec_linear(&l, "maybe_project_coarse_to_fine", c->dim_fine, d, true);
    gateloops(&l, "fine_gateloop_block", c->fine_pre_gateloop_depth, d);
    decoder(&l, c, "fine_decoder", c->dim_fine, c->fine_attn_depth,
            c->condition_on_text && c->fine_cross_attend_text, false);
    mg_spec_linear(&l, "to_logits", c->codebook_size + 1, c->dim_fine, true);
    if (l.failed) {
        free(l.items);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory listing the transformer's tensors");
    }
    *out = l.items;
    *count = l.count;
    return MG_OK;
}
