/* MeshTransformer forward over whole sequences (teacher forcing). */
#include "model/transformer.h"

#include "model/tf_internal.h"

#include "ops/ops.h"
#include "ops/ops_transformer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_tensor *mg_tf_weight(const mg_transformer *tf, const char *fmt, ...)
{
    char name[MG_WEIGHT_NAME_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(name, sizeof name, fmt, args);
    va_end(args);
    mg_tensor *tensor = mg_weights_tensor(tf->weights, name);
    if (!tensor)
        mg_fail(&tf->ctx->diag, MG_ERR_INTERNAL, "the transformer has no weight '%s'", name);
    return tensor;
}

/* The same name, NULL without an error when the checkpoint has none (optional tensors). */
static mg_tensor *optional_weight(const mg_transformer *tf, const char *name)
{
    return mg_weights_tensor(tf->weights, name);
}

mg_status mg_transformer_init(mg_transformer *tf, mg_context *ctx, const mg_tf_config *config,
                              const mg_weights *weights)
{
    memset(tf, 0, sizeof *tf);
    tf->ctx = ctx;
    tf->config = *config;
    tf->weights = weights;
    return MG_OK;
}

/* ---- building blocks ---- */


mg_status mg_tf_gateloop_block(const mg_transformer *tf, const char *block, int depth, mg_tensor *x,
                               mg_tensor **states)
{
    mg_context *ctx = tf->ctx;
    const int64_t b = x->shape[0], n = x->shape[1], d = x->shape[2];
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    mg_status status = MG_OK;
    mg_tensor *normed = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, d);
    mg_tensor *qkva = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, 3 * d);
    mg_tensor *out = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, d);
    NEED(normed);
    NEED(qkva);
    NEED(out);
    for (int i = 0; i < depth; i++) {
        TRY(mg_op_l2_normalize(ctx, x, mg_tf_weight(tf, "%s.gateloops.%d.norm.gamma", block, i), 1e-12f, sqrtf((float)d),
                               0.0f, normed));
        TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.gateloops.%d.to_qkva.0.weight", block, i), NULL, true, qkva));
        TRY(mg_op_gateloop(ctx, qkva, states ? states[i] : NULL, out));
        TRY(mg_op_add(ctx, x, out, x));
    }
done:
    mg_scratch_release(&scratch);
    return status;
}

int mg_tf_decoder_norms(int depth, bool cross)
{
    return depth * (cross ? 3 : 2) + 1;
}

/*
 * One norm of a decoder, x [B, N, d] into out (in place ok): x-transformers' LayerNorm with the gain `gamma`
 * under `prefix`, or with norm_gains its AdaptiveRMSNorm, F.normalize(x) * sqrt(d) * gain[index] where the
 * gain (to_gamma(pooled text) + 1) is one row per batch entry.
 */
static mg_status decoder_norm(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *context,
                              int index, const char *prefix, mg_tensor *x, mg_tensor *out)
{
    mg_context *ctx = tf->ctx;
    mg_tensor *gains = context ? context->norm_gains : NULL;
    if (!gains)
        return mg_op_layer_norm(ctx, x, mg_tf_weight(tf, "%s.gamma", prefix), NULL, 1e-5f, tf->config.norm_gain_offset,
                                out);
    const int64_t b = x->shape[0], d = x->shape[x->ndim - 1];
    if (gains->ndim != 3 || index >= gains->shape[0] || gains->shape[1] != b || gains->shape[2] != d)
        return mg_fail(&ctx->diag, MG_ERR_INTERNAL, "adaptive norm gains do not fit the decoder");
    const int64_t gain_shape[2] = {b, d};
    mg_tensor *gain = mg_scratch_view_at(scratch, gains, (size_t)(index * b * d) * sizeof(float), 2, gain_shape);
    if (!gain)
        return scratch->status;
    mg_status status = mg_op_l2_normalize(ctx, x, NULL, 1e-12f, sqrtf((float)d), 0.0f, out);
    if (status == MG_OK)
        status = mg_op_scale_channels(ctx, out, gain, out);
    return status;
}

mg_status mg_tf_decoder(const mg_transformer *tf, const char *name, int depth, bool cross, mg_tensor *x,
                        const decoder_context *context, mg_tf_decoder_cache *cache)
{
    mg_context *ctx = tf->ctx;
    const mg_tf_config *c = &tf->config;
    const int64_t b = x->shape[0], n = x->shape[1], d = x->shape[2];
    const int64_t heads = c->attn_heads, inner = heads * c->attn_dim_head;
    const float scale = 1.0f / sqrtf((float)c->attn_dim_head);
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    mg_status status = MG_OK;
    mg_tensor *normed = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, d);
    mg_tensor *q = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, inner);
    mg_tensor *k = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, inner);
    mg_tensor *v = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, inner);
    mg_tensor *v_first = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, inner);
    mg_tensor *mix = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, heads);
    mg_tensor *attended = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, inner);
    mg_tensor *projected = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, d);
    mg_tensor *hidden = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, 8 * d);
    mg_tensor *gated = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, n, 4 * d);
    mg_tensor *text_k = NULL, *text_v = NULL, *text_v_first = NULL;
    NEED(normed);
    NEED(q);
    NEED(k);
    NEED(v);
    NEED(v_first);
    NEED(mix);
    NEED(attended);
    NEED(projected);
    NEED(hidden);
    NEED(gated);
    if (cross && !cache) {
        const int64_t t = context->text->shape[1];
        text_k = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, t, inner);
        text_v = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, t, inner);
        text_v_first = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, t, inner);
        NEED(text_k);
        NEED(text_v);
        NEED(text_v_first);
    } else if (cross && !cache->cross_ready) {
        const int64_t t = context->text->shape[1];
        text_v_first = mg_scratch_3d(&scratch, MG_DTYPE_F32, b, t, inner);
        NEED(text_v_first);
    }
    int layer = 0, self_layers = 0, cross_layers = 0;
    for (int unit = 0; unit < depth; unit++) {
        const int kinds = cross ? 3 : 2;
        for (int kind = 0; kind < kinds; kind++, layer++) {
            char p[MG_WEIGHT_NAME_MAX];
            char norm_prefix[MG_WEIGHT_NAME_MAX + 8];
            snprintf(p, sizeof p, "%s.layers.%d", name, layer);
            snprintf(norm_prefix, sizeof norm_prefix, "%s.0.0", p);
            TRY(decoder_norm(tf, &scratch, context, layer, norm_prefix, x, normed));
            if (kind == kinds - 1) { /* GLU feed-forward */
                TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.1.ff.0.proj.weight", p),
                                 mg_tf_weight(tf, "%s.1.ff.0.proj.bias", p), true, hidden));
                TRY(mg_op_geglu(ctx, hidden, gated));
                TRY(mg_op_matmul(ctx, gated, mg_tf_weight(tf, "%s.1.ff.2.weight", p), mg_tf_weight(tf, "%s.1.ff.2.bias", p), true,
                                 projected));
                TRY(mg_op_add(ctx, x, projected, x));
                continue;
            }
            char mem_k[MG_WEIGHT_NAME_MAX + 8], mem_v[MG_WEIGHT_NAME_MAX + 8];
            snprintf(mem_k, sizeof mem_k, "%s.1.mem_k", p);
            snprintf(mem_v, sizeof mem_v, "%s.1.mem_v", p);
            mg_attention_params ap = {.heads = (size_t)heads, .scale = scale};
            TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.1.to_q.weight", p), NULL, true, q));
            if (cross && kind == 1) {
                /* The text's keys and values do not change during generation: a cache computes them once. */
                mg_tensor *layer_k = cache ? cache->cross_k[cross_layers] : text_k;
                mg_tensor *layer_v = cache ? cache->cross_v[cross_layers] : text_v;
                if (!cache || !cache->cross_ready) {
                    TRY(mg_op_matmul(ctx, context->text, mg_tf_weight(tf, "%s.1.to_k.weight", p), NULL, true, layer_k));
                    TRY(mg_op_matmul(ctx, context->text, mg_tf_weight(tf, "%s.1.to_v.weight", p), NULL, true, layer_v));
                    if (c->add_value_residual) {
                        if (cross_layers == 0)
                            TRY(mg_op_scale(ctx, layer_v, 1.0f, 0.0f, text_v_first));
                        else
                            TRY(mg_op_value_residual_mix(ctx, layer_v, text_v_first, NULL, (size_t)heads, layer_v));
                    }
                }
                ap.keys = (size_t)context->text->shape[1];
                ap.causal = false;
                TRY(mg_op_attention(ctx, q, layer_k, layer_v, optional_weight(tf, mem_k),
                                    optional_weight(tf, mem_v), context->text_mask, &ap, attended));
                cross_layers++;
            } else {
                TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.1.to_k.weight", p), NULL, true, k));
                TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.1.to_v.weight", p), NULL, true, v));
                if (c->add_value_residual) {
                    if (self_layers == 0) {
                        TRY(mg_op_scale(ctx, v, 1.0f, 0.0f, v_first));
                    } else if (c->learned_value_residual_mix) {
                        TRY(mg_op_matmul(ctx, normed, mg_tf_weight(tf, "%s.1.to_value_residual_mix.0.weight", p),
                                         mg_tf_weight(tf, "%s.1.to_value_residual_mix.0.bias", p), true, mix));
                        TRY(mg_op_value_residual_mix(ctx, v, v_first, mix, (size_t)heads, v));
                    } else {
                        TRY(mg_op_value_residual_mix(ctx, v, v_first, NULL, (size_t)heads, v));
                    }
                }
                mg_tensor *keys = k, *values = v;
                ap.keys = (size_t)n;
                ap.causal = true;
                ap.query_offset = 0;
                if (cache) { /* new rows join the cached ones; queries sit at their absolute positions */
                    keys = cache->self_k[self_layers];
                    values = cache->self_v[self_layers];
                    TRY(mg_op_copy_rows_at(ctx, k, keys, cache->position, cache->step));
                    TRY(mg_op_copy_rows_at(ctx, v, values, cache->position, cache->step));
                    ap.keys = cache->position + (size_t)n;
                    ap.query_offset = (int64_t)cache->position;
                }
                TRY(mg_op_attention_at(ctx, q, keys, values, optional_weight(tf, mem_k), optional_weight(tf, mem_v),
                                       NULL, &ap, cache ? cache->step : NULL, attended));
                self_layers++;
            }
            TRY(mg_op_matmul(ctx, attended, mg_tf_weight(tf, "%s.1.to_out.weight", p), NULL, true, projected));
            TRY(mg_op_add(ctx, x, projected, x));
        }
    }
    {
        char norm_prefix[MG_WEIGHT_NAME_MAX + 16];
        snprintf(norm_prefix, sizeof norm_prefix, "%s.final_norm", name);
        TRY(decoder_norm(tf, &scratch, context, layer, norm_prefix, x, x));
    }
    if (cache)
        cache->cross_ready = true;
done:
    mg_scratch_release(&scratch);
    return status;
}

/* ---- the whole forward ---- */

/*
 * The text as cross-attention context, and its key mask (token rows entirely
 * equal to the pad value are hidden). Like meshgpt-pytorch's `text_embeds`
 * argument these are the conditioner's output: its to_latent_dims projection
 * belongs to the text-encoder path and is not applied again here (checked
 * against the reference logits).
 */
mg_status mg_tf_text_context(const mg_transformer *tf, mg_scratch *scratch, const mg_tf_text *text, size_t batch,
                             decoder_context *out)
{
    const mg_tf_config *c = &tf->config;
    const size_t tokens = text->tokens, width = (size_t)c->dim_text;
    int32_t *mask = malloc(batch * tokens * sizeof *mask);
    if (!mask)
        return mg_fail(&tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text mask");
    for (size_t r = 0; r < batch * tokens; r++) {
        bool visible = false;
        for (size_t i = 0; i < width && !visible; i++)
            visible = text->embeds[r * width + i] != c->text_embed_pad_value;
        mask[r] = visible && !text->drop;
    }
    int64_t mask_shape[2] = {(int64_t)batch, (int64_t)tokens};
    out->text_mask = mg_scratch_i32(scratch, mask, 2, mask_shape);
    free(mask);
    out->text = mg_scratch_3d(scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)tokens, (int64_t)width);
    if (!out->text_mask || !out->text)
        return scratch->status;
    return mg_tensor_write(out->text, text->embeds, out->text->nbytes);
}

bool mg_tf_uses_film(const mg_tf_config *config)
{
    return config->condition_on_text && config->text_cond_with_film; /* upstream ignores the flag without text */
}

mg_status mg_tf_pooled_text(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *text,
                            size_t batch, mg_tensor **out)
{
    *out = mg_scratch_2d(scratch, MG_DTYPE_F32, (int64_t)batch, tf->config.dim_text);
    if (!*out)
        return scratch->status;
    if (!text || !text->text)
        return mg_tensor_fill_u32(*out, 0);
    /* masked_mean as meshgpt-pytorch's: sum over visible tokens / max(count, 1e-5), so 0 without any. */
    return mg_op_masked_mean(tf->ctx, text->text, text->text_mask, 1e-5f, *out);
}

bool mg_tf_uses_adaptive_norm(const mg_tf_config *config)
{
    return config->condition_on_text && config->coarse_adaptive_rmsnorm;
}

mg_status mg_tf_adaptive_norm_gains(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *text,
                                    size_t batch, mg_tensor **out)
{
    const mg_tf_config *c = &tf->config;
    const int norms = mg_tf_decoder_norms(c->attn_depth, c->condition_on_text);
    const int64_t b = (int64_t)batch, d = c->dim, gain_shape[2] = {b, d};
    mg_tensor *pooled = NULL;
    mg_status status = mg_tf_pooled_text(tf, scratch, text, batch, &pooled);
    if (status != MG_OK)
        return status;
    *out = mg_scratch_3d(scratch, MG_DTYPE_F32, norms, b, d);
    if (!*out)
        return scratch->status;
    for (int i = 0; i < norms && status == MG_OK; i++) {
        mg_tensor *gain = mg_scratch_view_at(scratch, *out, (size_t)(i * b * d) * sizeof(float), 2, gain_shape);
        if (!gain)
            return scratch->status;
        /* x-transformers numbers every layer of the decoder; the final norm comes last. */
        mg_tensor *to_gamma = i + 1 < norms ? mg_tf_weight(tf, "decoder.layers.%d.0.0.to_gamma.weight", i)
                                            : mg_tf_weight(tf, "decoder.final_norm.to_gamma.weight");
        status = mg_op_matmul(tf->ctx, pooled, to_gamma, NULL, true, gain);
    }
    /* to_gamma is zero at initialisation: the gain starts at 1, a plain RMSNorm. */
    if (status == MG_OK)
        status = mg_op_scale(tf->ctx, *out, 1.0f, 1.0f, *out);
    return status;
}

mg_status mg_tf_project_to_fine(const mg_transformer *tf, mg_scratch *scratch, mg_tensor *x, mg_tensor **out)
{
    const mg_tf_config *c = &tf->config;
    if (c->dim_fine == c->dim) {
        *out = x;
        return MG_OK;
    }
    *out = mg_scratch_3d(scratch, MG_DTYPE_F32, x->shape[0], x->shape[1], c->dim_fine);
    if (!*out)
        return scratch->status;
    return mg_op_matmul(tf->ctx, x, mg_tf_weight(tf, "maybe_project_coarse_to_fine.weight"),
                        mg_tf_weight(tf, "maybe_project_coarse_to_fine.bias"), true, *out);
}

mg_status mg_tf_film_params(const mg_transformer *tf, mg_scratch *scratch, const char *name,
                            const decoder_context *text, mg_tf_film *out)
{
    mg_context *ctx = tf->ctx;
    const int64_t b = text->text->shape[0];
    mg_tensor *gamma_mult = mg_tf_weight(tf, "%s.gamma_mult", name), *beta_mult = mg_tf_weight(tf, "%s.beta_mult", name);
    mg_tensor *to_gamma = mg_tf_weight(tf, "%s.to_gamma.weight", name);
    if (!gamma_mult || !beta_mult || !to_gamma)
        return MG_ERR_INTERNAL;
    const int64_t d = to_gamma->shape[0]; /* the coarse or the fine width */
    mg_tensor *pooled = NULL;
    mg_status pool_status = mg_tf_pooled_text(tf, scratch, text, (size_t)b, &pooled);
    if (pool_status != MG_OK)
        return pool_status;
    out->gamma = mg_scratch_2d(scratch, MG_DTYPE_F32, b, d);
    out->beta = mg_scratch_2d(scratch, MG_DTYPE_F32, b, d);
    if (!out->gamma || !out->beta)
        return scratch->status;
    /* The multipliers are single learned numbers: read once, they become the scale op's constants. */
    float multipliers[2];
    mg_status status = mg_tensor_read_f32(gamma_mult, &multipliers[0], 1);
    if (status == MG_OK)
        status = mg_tensor_read_f32(beta_mult, &multipliers[1], 1);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, pooled, to_gamma, NULL, true, out->gamma);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_TANH, out->gamma, out->gamma);
    if (status == MG_OK)
        status = mg_op_scale(ctx, out->gamma, multipliers[0], 1.0f, out->gamma);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, pooled, mg_tf_weight(tf, "%s.to_beta.weight", name),
                              mg_tf_weight(tf, "%s.to_beta.bias", name), true, out->beta);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_TANH, out->beta, out->beta);
    if (status == MG_OK)
        status = mg_op_scale(ctx, out->beta, multipliers[1], 0.0f, out->beta);
    return status;
}

mg_status mg_tf_film_apply(const mg_transformer *tf, const mg_tf_film *film, mg_tensor *x)
{
    mg_context *ctx = tf->ctx;
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    /* beta reaches every row of its batch entry as ones scaled per channel: no broadcast op needed. */
    mg_tensor *shift = mg_scratch_3d(&scratch, MG_DTYPE_F32, x->shape[0], x->shape[1], x->shape[2]);
    mg_status status = shift ? MG_OK : scratch.status;
    if (status == MG_OK)
        status = mg_tensor_fill_u32(shift, 0x3f800000u); /* 1.0f */
    if (status == MG_OK)
        status = mg_op_scale_channels(ctx, shift, film->beta, shift);
    if (status == MG_OK)
        status = mg_op_scale_channels(ctx, x, film->gamma, x);
    if (status == MG_OK)
        status = mg_op_add(ctx, x, shift, x);
    mg_scratch_release(&scratch);
    return status;
}

/* Repeats each batch row's text `groups` times (the fine decoder attends per face). */
static mg_status repeat_context(const mg_transformer *tf, mg_scratch *scratch, const decoder_context *in, size_t batch,
                                size_t groups, decoder_context *out)
{
    const int64_t tokens = in->text->shape[1], width = in->text->shape[2];
    const size_t rows = batch * groups * (size_t)tokens;
    int32_t *ids = malloc(rows * sizeof *ids);
    int32_t *mask = malloc(batch * (size_t)tokens * sizeof *mask);
    int32_t *mask_out = malloc(rows * sizeof *mask_out);
    mg_status status = MG_OK;
    if (!ids || !mask || !mask_out) {
        status = mg_fail(&tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text context");
        goto done;
    }
    if ((status = mg_tensor_read(in->text_mask, mask, in->text_mask->nbytes)) != MG_OK)
        goto done;
    for (size_t b = 0; b < batch; b++)
        for (size_t g = 0; g < groups; g++)
            for (int64_t t = 0; t < tokens; t++) {
                size_t r = (b * groups + g) * (size_t)tokens + (size_t)t;
                ids[r] = (int32_t)(b * (size_t)tokens + (size_t)t);
                mask_out[r] = mask[b * (size_t)tokens + (size_t)t];
            }
    int64_t id_shape[1] = {(int64_t)rows};
    int64_t flat_shape[2] = {(int64_t)batch * tokens, width};
    int64_t mask_shape[2] = {(int64_t)(batch * groups), tokens};
    mg_tensor *id_tensor = mg_scratch_i32(scratch, ids, 1, id_shape);
    mg_tensor *flat = mg_scratch_view(scratch, in->text, 2, flat_shape);
    out->text = mg_scratch_3d(scratch, MG_DTYPE_F32, (int64_t)(batch * groups), tokens, width);
    out->text_mask = mg_scratch_i32(scratch, mask_out, 2, mask_shape);
    int64_t rows_shape[2] = {(int64_t)rows, width};
    mg_tensor *out_flat = mg_scratch_view(scratch, out->text, 2, rows_shape);
    if (!id_tensor || !flat || !out->text || !out->text_mask || !out_flat) {
        status = scratch->status;
        goto done;
    }
    status = mg_op_embedding(tf->ctx, flat, id_tensor, out_flat);
done:
    free(ids);
    free(mask);
    free(mask_out);
    return status;
}

mg_status mg_tf_logits(const mg_transformer *tf, const int32_t *codes, size_t batch, size_t length,
                       const mg_tf_text *text, float *logits_out)
{
    mg_context *ctx = tf->ctx;
    const mg_tf_config *c = &tf->config;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const size_t faces = length / per_face;             /* complete faces */
    const size_t groups = faces + 1;                    /* fine groups: one per face plus the next */
    const size_t padded = groups * per_face;            /* token slots, zero beyond `length` */
    const size_t sos = (size_t)c->num_sos_tokens;
    const size_t coarse = sos + groups;                 /* sos, faces, and one unused slot (causal: harmless) */
    const int64_t d = c->dim, vocab = c->codebook_size + 1;
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    mg_status status = MG_OK;
    int32_t *ids = NULL, *gather = NULL;
    float *all_logits = NULL;
    decoder_context context = {0}, fine_context = {0};
    if (length + 1 > (size_t)c->max_seq_len) {
        status = mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                         "%zu tokens do not fit the transformer's %d positions", length, c->max_seq_len);
        goto done;
    }
    if (c->condition_on_text && !text) {
        status = mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "this model is text-conditioned: give a text");
        goto done;
    }
    ids = malloc((batch * length + 1) * sizeof *ids);
    gather = malloc(batch * (coarse + padded + 1) * sizeof *gather);
    if (!ids || !gather) {
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    /* One buffer holds the coarse sequence, then the token embeddings: the fine
     * sequence gathers rows from both in one lookup. */
    const size_t coarse_rows = batch * coarse, token_rows = batch * padded;
    mg_tensor *all = mg_scratch_2d(&scratch, MG_DTYPE_F32, (int64_t)(coarse_rows + token_rows), d);
    NEED(all);
    TRY(mg_tensor_fill_u32(all, 0));
    int64_t coarse_shape[3] = {(int64_t)batch, (int64_t)coarse, d};
    int64_t token_shape[3] = {(int64_t)batch, (int64_t)padded, d};
    mg_tensor *x = mg_scratch_view_at(&scratch, all, 0, 3, coarse_shape);
    mg_tensor *tokens = mg_scratch_view_at(&scratch, all, coarse_rows * (size_t)d * sizeof(float), 3, token_shape);
    NEED(x);
    NEED(tokens);

    /* Token embeddings: token + absolute position + quantizer level + vertex within the face (pads embed as 0). */
    for (size_t i = 0; i < batch * length; i++)
        ids[i] = codes[i] < 0 ? 0 : codes[i];
    if (length > 0) { /* the first step of generation has no tokens yet */
        int64_t id_shape[2] = {(int64_t)batch, (int64_t)length};
        mg_tensor *id_tensor = mg_scratch_i32(&scratch, ids, 2, id_shape);
        mg_tensor *embedded = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)length, d);
        NEED(id_tensor);
        NEED(embedded);
        TRY(mg_op_embedding(ctx, mg_tf_weight(tf, "token_embed.weight"), id_tensor, embedded));
        TRY(mg_op_add_table_rows(ctx, embedded, mg_tf_weight(tf, "abs_pos_emb.weight"), 0, 1, (size_t)c->max_seq_len,
                                 embedded));
        TRY(mg_op_add_table_rows(ctx, embedded, mg_tf_weight(tf, "quantize_level_embed"), 0, 1, (size_t)c->num_quantizers,
                                 embedded));
        TRY(mg_op_add_table_rows(ctx, embedded, mg_tf_weight(tf, "vertex_embed"), 0, (size_t)c->num_quantizers,
                                 (size_t)c->face_size, embedded));
        TRY(mg_op_copy_rows(ctx, embedded, tokens, 0));
    }

    /* Face tokens: LayerNorm(Linear(the face's token embeddings side by side)); sos tokens first. */
    {
        int64_t face_shape[3] = {(int64_t)batch, (int64_t)groups, (int64_t)per_face * d};
        mg_tensor *face_inputs = mg_scratch_view(&scratch, tokens, 3, face_shape);
        mg_tensor *face_tokens = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)groups, d);
        int64_t sos_id_shape[2] = {(int64_t)batch, (int64_t)sos};
        int32_t *sos_ids = malloc(batch * sos * sizeof *sos_ids);
        if (!sos_ids) {
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            goto done;
        }
        for (size_t i = 0; i < batch * sos; i++)
            sos_ids[i] = (int32_t)(i % sos);
        mg_tensor *sos_tensor = mg_scratch_i32(&scratch, sos_ids, 2, sos_id_shape);
        free(sos_ids);
        mg_tensor *sos_rows = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)sos, d);
        NEED(face_inputs);
        NEED(face_tokens);
        NEED(sos_tensor);
        NEED(sos_rows);
        TRY(mg_op_matmul(ctx, face_inputs, mg_tf_weight(tf, "to_face_tokens.0.weight"), mg_tf_weight(tf, "to_face_tokens.0.bias"),
                         true, face_tokens));
        TRY(mg_op_layer_norm(ctx, face_tokens, mg_tf_weight(tf, "to_face_tokens.1.weight"),
                             mg_tf_weight(tf, "to_face_tokens.1.bias"), 1e-5f, 0.0f, face_tokens));
        TRY(mg_op_embedding(ctx, mg_tf_weight(tf, "sos_token"), sos_tensor, sos_rows));
        TRY(mg_op_copy_rows(ctx, sos_rows, x, 0));
        TRY(mg_op_copy_rows(ctx, face_tokens, x, sos));
    }

    if (text)
        TRY(mg_tf_text_context(tf, &scratch, text, batch, &context));
    if (mg_tf_uses_adaptive_norm(c)) /* the coarse decoder's norms, conditioned on the pooled text */
        TRY(mg_tf_adaptive_norm_gains(tf, &scratch, &context, batch, &context.norm_gains));
    mg_tf_film fine_film = {0};
    if (mg_tf_uses_film(c)) { /* FiLM on the coarse input (sos tokens included) before its gateloop */
        mg_tf_film coarse_film;
        TRY(mg_tf_film_params(tf, &scratch, "text_coarse_film_cond", &context, &coarse_film));
        TRY(mg_tf_film_apply(tf, &coarse_film, x));
        TRY(mg_tf_film_params(tf, &scratch, "text_fine_film_cond", &context, &fine_film));
    }
    TRY(mg_tf_gateloop_block(tf, "coarse_gateloop_block", c->coarse_pre_gateloop_depth, x, NULL));
    TRY(mg_tf_decoder(tf, "decoder", c->attn_depth, c->condition_on_text, x, &context, NULL));

    /* Fine sequence: slot 0 of group j is the coarse output after face j - 1 (the last sos for j = 0),
     * slots 1..5 the first five tokens of face j. */
    for (size_t b = 0; b < batch; b++)
        for (size_t g = 0; g < groups; g++)
            for (size_t k = 0; k < per_face; k++) {
                size_t slot = (b * groups + g) * per_face + k;
                gather[slot] = k == 0 ? (int32_t)(b * coarse + sos - 1 + g)
                                      : (int32_t)(coarse_rows + b * padded + g * per_face + k - 1);
            }
    {
        int64_t gather_shape[1] = {(int64_t)(batch * padded)};
        mg_tensor *gather_tensor = mg_scratch_i32(&scratch, gather, 1, gather_shape);
        mg_tensor *fine = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)padded, d);
        int64_t flat_shape[2] = {(int64_t)(batch * padded), d};
        mg_tensor *fine_flat = mg_scratch_view(&scratch, fine, 2, flat_shape);
        NEED(gather_tensor);
        NEED(fine);
        NEED(fine_flat);
        TRY(mg_op_embedding(ctx, all, gather_tensor, fine_flat));
        TRY(mg_tf_gateloop_block(tf, "fine_gateloop_block", c->fine_pre_gateloop_depth, fine, NULL));
        /* Different coarse and fine widths: the whole fine sequence changes width after its gateloop (see
         * README: upstream projects only the coarse outputs there and cannot run such a model). */
        TRY(mg_tf_project_to_fine(tf, &scratch, fine, &fine));
        if (fine_film.gamma) /* and on the fine input after its gateloop */
            TRY(mg_tf_film_apply(tf, &fine_film, fine));
        int64_t group_shape[3] = {(int64_t)(batch * groups), (int64_t)per_face, c->dim_fine};
        mg_tensor *fine_groups = mg_scratch_view(&scratch, fine, 3, group_shape);
        NEED(fine_groups);
        const bool fine_cross = c->condition_on_text && c->fine_cross_attend_text;
        if (fine_cross)
            TRY(repeat_context(tf, &scratch, &context, batch, groups, &fine_context));
        TRY(mg_tf_decoder(tf, "fine_decoder", c->fine_attn_depth, fine_cross, fine_groups, &fine_context, NULL));
        mg_tensor *logits = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)batch, (int64_t)padded, vocab);
        NEED(logits);
        TRY(mg_op_matmul(ctx, fine, mg_tf_weight(tf, "to_logits.weight"), mg_tf_weight(tf, "to_logits.bias"), true, logits));
        all_logits = malloc(logits->nbytes);
        if (!all_logits) {
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the logits");
            goto done;
        }
        TRY(mg_tensor_read(logits, all_logits, logits->nbytes));
        for (size_t b = 0; b < batch; b++)
            memcpy(logits_out + b * (length + 1) * (size_t)vocab, all_logits + b * padded * (size_t)vocab,
                   (length + 1) * (size_t)vocab * sizeof(float));
    }
done:
    free(ids);
    free(gather);
    free(all_logits);
    mg_scratch_release(&scratch);
    return status;
}

/* Mean cross-entropy over the labels (see mg_tf_loss), logits [batch, length + 1, vocab]. */
static double cross_entropy(const mg_tf_config *config, const int32_t *codes, size_t batch, size_t length,
                            const float *logits)
{
    const size_t vocab = (size_t)config->codebook_size + 1;
    double total = 0.0;
    size_t count = 0;
    for (size_t b = 0; b < batch; b++) {
        size_t used = 0;
        while (used < length && codes[b * length + used] >= 0)
            used++;
        /* Labels: the codes, then EOS at the first pad; later pads are ignored. Upstream appends
         * the EOS column with F.pad(value=0), so a sequence shorter than the batch also has
         * the label 0 at position `length`: reproduced, as the reference loss counts it. */
        for (size_t i = 0; i <= length; i++) {
            if (i > used && i < length)
                continue;
            int32_t label = i < used ? codes[b * length + i] : i == used ? config->codebook_size : 0;
            const float *row = logits + (b * (length + 1) + i) * vocab;
            double max = row[0];
            for (size_t v = 1; v < vocab; v++)
                max = row[v] > max ? row[v] : max;
            double sum = 0.0;
            for (size_t v = 0; v < vocab; v++)
                sum += exp((double)row[v] - max);
            total += max + log(sum) - (double)row[label];
            count++;
        }
    }
    return count ? total / (double)count : 0.0;
}

mg_status mg_tf_loss(const mg_transformer *tf, const int32_t *codes, size_t batch, size_t length,
                     const mg_tf_text *text, double *loss)
{
    const size_t vocab = (size_t)tf->config.codebook_size + 1;
    int32_t *inputs = malloc(batch * length * sizeof *inputs);
    float *logits = malloc(batch * (length + 1) * vocab * sizeof *logits);
    if (!inputs || !logits) {
        free(inputs);
        free(logits);
        return mg_fail(&tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the loss");
    }
    /* The model reads EOS where each sequence ends, as upstream's appended-EOS input does. */
    memcpy(inputs, codes, batch * length * sizeof *inputs);
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < length; i++)
            if (inputs[b * length + i] < 0) {
                inputs[b * length + i] = tf->config.codebook_size;
                break;
            }
    mg_status status = mg_tf_logits(tf, inputs, batch, length, text, logits);
    if (status == MG_OK)
        *loss = cross_entropy(&tf->config, codes, batch, length, logits);
    free(inputs);
    free(logits);
    return status;
}
