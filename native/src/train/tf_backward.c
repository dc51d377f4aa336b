/*
 * The MeshTransformer's training pass: the teacher-forced forward of
 * model/transformer.c (mg_tf_logits + the loss of mg_tf_loss), written again
 * so that it keeps what the backward pass needs, and the backward pass through
 * every layer in reverse order (llm.c style: one backward op per forward op).
 *
 * Kept per layer: its input (norm outputs are recomputed from it), attention
 * q/k/v (and the values before the value-residual mix, the mix logits), the
 * attention output, the feed-forward's pre-GEGLU hidden, the gateloop's qkva.
 */
#include "train/tf_train_internal.h"

#include "model/tf_internal.h"
#include "ops/ops_grad.h"
#include "ops/ops_grad_ae.h"
#include "ops/ops_grad_tf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



#define NORM_EPS 1e-5f
#define GATELOOP_EPS 1e-12f

enum { LAYER_SELF = 0, LAYER_CROSS = 1, LAYER_FF = 2 };

typedef struct tft_layer {
    int kind;
    int index;                    /* among the decoder's self- or cross-attention layers */
    char prefix[MG_WEIGHT_NAME_MAX];
    mg_tensor *x_in;              /* the layer's input */
    mg_tensor *q, *k, *v, *v_raw, *mix, *attended;
    mg_tensor *hidden;            /* feed-forward: before GEGLU */
} tft_layer;

typedef struct tft_decoder {
    const char *name;
    int count;
    tft_layer *layers;
    mg_tensor *final_in;
    mg_tensor *v_first, *text_v_first;
    mg_tensor *text, *text_mask;  /* the cross-attention context (NULL without) */
} tft_decoder;

typedef struct tft_gateloop {
    const char *block;
    int depth;
    mg_tensor **x_in, **qkva;
} tft_gateloop;

/* A parameter the forward needs (name = pre + suffix): absent is an internal error (the spec list and the pass
 * disagree). */
static mg_tensor *need_named(tf_train *t, const char *pre, const char *suffix)
{
    char name[2 * MG_WEIGHT_NAME_MAX];
    const size_t a = strlen(pre), b = strlen(suffix);
    if (a + b >= sizeof name) {
        mg_fail(&t->ctx->diag, MG_ERR_INTERNAL, "tensor name too long: '%s%s'", pre, suffix);
        return NULL;
    }
    memcpy(name, pre, a);
    memcpy(name + a, suffix, b + 1);
    mg_tensor *tensor = tft_param(t, "%s", name);
    if (!tensor)
        mg_fail(&t->ctx->diag, MG_ERR_INTERNAL, "the transformer under training has no tensor '%s'", name);
    return tensor;
}
#define P(suffix, pre) need_named(t, pre, suffix)
#define G(suffix, pre) tft_grad(t, "%s%s", pre, suffix)
#define PARAM_OR_FAIL(var, expr)                                                                                   \
    do {                                                                                                           \
        var = (expr);                                                                                              \
        if (!var) {                                                                                                \
            status = MG_ERR_INTERNAL;                                                                              \
            goto done;                                                                                             \
        }                                                                                                          \
    } while (0)

/* ---- gateloop blocks ---- */

static mg_status gateloop_forward(tf_train *t, tft_arena *arena, const char *block, int depth, mg_tensor *x,
                                  tft_gateloop *g)
{
    mg_context *ctx = t->ctx;
    const int64_t b = x->shape[0], n = x->shape[1], d = x->shape[2];
    mg_status status = MG_OK;
    g->block = block;
    g->depth = depth;
    g->x_in = calloc((size_t)(depth ? depth : 1), sizeof *g->x_in);
    g->qkva = calloc((size_t)(depth ? depth : 1), sizeof *g->qkva);
    if (!g->x_in || !g->qkva)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the training pass");
    if (depth == 0)
        return MG_OK;
    mg_tensor *normed = tft_3d(arena, b, n, d), *out = tft_3d(arena, b, n, d);
    HAVE(normed);
    HAVE(out);
    for (int i = 0; i < depth; i++) {
        char layer[MG_WEIGHT_NAME_MAX];
        snprintf(layer, sizeof layer, "%s.gateloops.%d", block, i);
        mg_tensor *gamma, *w;
        PARAM_OR_FAIL(gamma, P(".norm.gamma", layer));
        PARAM_OR_FAIL(w, P(".to_qkva.0.weight", layer));
        g->x_in[i] = tft_copy(arena, x);
        g->qkva[i] = tft_3d(arena, b, n, 3 * d);
        HAVE(g->x_in[i]);
        HAVE(g->qkva[i]);
        CHECK(mg_op_l2_normalize(ctx, x, gamma, GATELOOP_EPS, sqrtf((float)d), 0.0f, normed));
        CHECK(mg_op_matmul(ctx, normed, w, NULL, true, g->qkva[i]));
        CHECK(mg_op_gateloop(ctx, g->qkva[i], NULL, out));
        CHECK(mg_op_add(ctx, x, out, x));
    }
done:
    return status;
}

/* d_x: the gradient of the block's output on entry, of its input on return. */
static mg_status gateloop_backward(tf_train *t, tft_arena *arena, const tft_gateloop *g, mg_tensor *d_x)
{
    if (g->depth == 0)
        return MG_OK;
    mg_context *ctx = t->ctx;
    const int64_t b = d_x->shape[0], n = d_x->shape[1], d = d_x->shape[2];
    mg_status status = MG_OK;
    mg_tensor *normed = tft_3d(arena, b, n, d), *d_normed = tft_3d(arena, b, n, d), *d_tmp = tft_3d(arena, b, n, d);
    mg_tensor *d_qkva = tft_3d(arena, b, n, 3 * d);
    HAVE(normed);
    HAVE(d_normed);
    HAVE(d_tmp);
    HAVE(d_qkva);
    for (int i = g->depth - 1; i >= 0; i--) {
        char layer[MG_WEIGHT_NAME_MAX];
        snprintf(layer, sizeof layer, "%s.gateloops.%d", g->block, i);
        mg_tensor *gamma, *w;
        PARAM_OR_FAIL(gamma, P(".norm.gamma", layer));
        PARAM_OR_FAIL(w, P(".to_qkva.0.weight", layer));
        CHECK(mg_op_gateloop_backward(ctx, g->qkva[i], d_x, d_qkva));
        CHECK(mg_op_l2_normalize(ctx, g->x_in[i], gamma, GATELOOP_EPS, sqrtf((float)d), 0.0f, normed));
        CHECK(mg_op_matmul_backward(ctx, normed, w, true, d_qkva, d_normed, G(".to_qkva.0.weight", layer), NULL));
        CHECK(mg_op_l2_normalize_backward(ctx, g->x_in[i], gamma, GATELOOP_EPS, sqrtf((float)d), 0.0f, d_normed,
                                          d_tmp, G(".norm.gamma", layer)));
        CHECK(mg_op_add(ctx, d_x, d_tmp, d_x));
    }
done:
    return status;
}

static void gateloop_free(tft_gateloop *g)
{
    free(g->x_in);
    free(g->qkva);
}

/* ---- x-transformers decoders ---- */

static mg_status decoder_forward(tf_train *t, tft_arena *arena, const char *name, int depth, bool cross, mg_tensor *x,
                                 mg_tensor *text, mg_tensor *text_mask, tft_decoder *dec)
{
    mg_context *ctx = t->ctx;
    const mg_tf_config *c = &t->config;
    const int64_t b = x->shape[0], n = x->shape[1], d = x->shape[2];
    const int64_t heads = c->attn_heads, inner = heads * c->attn_dim_head;
    const float scale = 1.0f / sqrtf((float)c->attn_dim_head), offset = c->norm_gain_offset;
    const int kinds = cross ? 3 : 2;
    mg_status status = MG_OK;
    memset(dec, 0, sizeof *dec);
    dec->name = name;
    dec->count = depth * kinds;
    dec->text = cross ? text : NULL;
    dec->text_mask = cross ? text_mask : NULL;
    dec->layers = calloc((size_t)(dec->count ? dec->count : 1), sizeof *dec->layers);
    if (!dec->layers)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the training pass");
    mg_tensor *normed = tft_3d(arena, b, n, d), *gated = tft_3d(arena, b, n, 4 * d), *proj = tft_3d(arena, b, n, d);
    HAVE(normed);
    HAVE(gated);
    HAVE(proj);
    int self_i = 0, cross_i = 0;
    for (int l = 0; l < dec->count; l++) {
        tft_layer *L = &dec->layers[l];
        const int k = l % kinds;
        L->kind = k == kinds - 1 ? LAYER_FF : (cross && k == 1) ? LAYER_CROSS : LAYER_SELF;
        snprintf(L->prefix, sizeof L->prefix, "%s.layers.%d", name, l);
        const char *p = L->prefix;
        mg_tensor *gamma;
        PARAM_OR_FAIL(gamma, P(".0.0.gamma", p));
        L->x_in = tft_copy(arena, x);
        HAVE(L->x_in);
        CHECK(mg_op_layer_norm(ctx, x, gamma, NULL, NORM_EPS, offset, normed));
        if (L->kind == LAYER_FF) {
            mg_tensor *w1, *b1, *w2, *b2;
            PARAM_OR_FAIL(w1, P(".1.ff.0.proj.weight", p));
            PARAM_OR_FAIL(b1, P(".1.ff.0.proj.bias", p));
            PARAM_OR_FAIL(w2, P(".1.ff.2.weight", p));
            PARAM_OR_FAIL(b2, P(".1.ff.2.bias", p));
            L->hidden = tft_3d(arena, b, n, 8 * d);
            HAVE(L->hidden);
            CHECK(mg_op_matmul(ctx, normed, w1, b1, true, L->hidden));
            CHECK(mg_op_geglu(ctx, L->hidden, gated));
            CHECK(mg_op_matmul(ctx, gated, w2, b2, true, proj));
            CHECK(mg_op_add(ctx, x, proj, x));
            continue;
        }
        mg_tensor *wq, *wk, *wv, *wo;
        PARAM_OR_FAIL(wq, P(".1.to_q.weight", p));
        PARAM_OR_FAIL(wk, P(".1.to_k.weight", p));
        PARAM_OR_FAIL(wv, P(".1.to_v.weight", p));
        PARAM_OR_FAIL(wo, P(".1.to_out.weight", p));
        mg_tensor *mem_k = tft_param(t, "%s.1.mem_k", p), *mem_v = tft_param(t, "%s.1.mem_v", p);
        mg_attention_params ap = {.heads = (size_t)heads, .scale = scale};
        L->q = tft_3d(arena, b, n, inner);
        HAVE(L->q);
        CHECK(mg_op_matmul(ctx, normed, wq, NULL, true, L->q));
        const mg_tensor *mask = NULL;
        if (L->kind == LAYER_CROSS) {
            const int64_t tokens = text->shape[1];
            L->index = cross_i++;
            L->k = tft_3d(arena, b, tokens, inner);
            L->v_raw = tft_3d(arena, b, tokens, inner);
            HAVE(L->k);
            HAVE(L->v_raw);
            CHECK(mg_op_matmul(ctx, text, wk, NULL, true, L->k));
            CHECK(mg_op_matmul(ctx, text, wv, NULL, true, L->v_raw));
            L->v = L->v_raw;
            if (c->add_value_residual) { /* later cross layers: v = 0.5 v + 0.5 v_first (fixed) */
                if (L->index == 0) {
                    dec->text_v_first = L->v_raw;
                } else {
                    L->v = tft_3d(arena, b, tokens, inner);
                    HAVE(L->v);
                    CHECK(mg_op_value_residual_mix(ctx, L->v_raw, dec->text_v_first, NULL, (size_t)heads, L->v));
                }
            }
            ap.keys = (size_t)tokens;
            ap.causal = false;
            mask = text_mask;
        } else {
            L->index = self_i++;
            L->k = tft_3d(arena, b, n, inner);
            L->v_raw = tft_3d(arena, b, n, inner);
            HAVE(L->k);
            HAVE(L->v_raw);
            CHECK(mg_op_matmul(ctx, normed, wk, NULL, true, L->k));
            CHECK(mg_op_matmul(ctx, normed, wv, NULL, true, L->v_raw));
            L->v = L->v_raw;
            if (c->add_value_residual) {
                if (L->index == 0) {
                    dec->v_first = L->v_raw;
                } else {
                    if (c->learned_value_residual_mix) {
                        mg_tensor *wm, *bm;
                        PARAM_OR_FAIL(wm, P(".1.to_value_residual_mix.0.weight", p));
                        PARAM_OR_FAIL(bm, P(".1.to_value_residual_mix.0.bias", p));
                        L->mix = tft_3d(arena, b, n, heads);
                        HAVE(L->mix);
                        CHECK(mg_op_matmul(ctx, normed, wm, bm, true, L->mix));
                    }
                    L->v = tft_3d(arena, b, n, inner);
                    HAVE(L->v);
                    CHECK(mg_op_value_residual_mix(ctx, L->v_raw, dec->v_first, L->mix, (size_t)heads, L->v));
                }
            }
            ap.keys = (size_t)n;
            ap.causal = true;
        }
        L->attended = tft_3d(arena, b, n, inner);
        HAVE(L->attended);
        CHECK(mg_op_attention(ctx, L->q, L->k, L->v, mem_k, mem_v, mask, &ap, L->attended));
        CHECK(mg_op_matmul(ctx, L->attended, wo, NULL, true, proj));
        CHECK(mg_op_add(ctx, x, proj, x));
    }
    mg_tensor *final_gamma;
    PARAM_OR_FAIL(final_gamma, P(".final_norm.gamma", name));
    dec->final_in = tft_copy(arena, x);
    HAVE(dec->final_in);
    CHECK(mg_op_layer_norm(ctx, x, final_gamma, NULL, NORM_EPS, offset, x));
done:
    return status;
}

/* d_acc (+)= d_out @ W (the input gradient of a Linear), and W's gradient. *first: d_acc not yet written. */
static mg_status linear_input_grad(mg_context *ctx, const mg_tensor *a, const mg_tensor *w, const mg_tensor *d_out,
                                   mg_tensor *d_acc, mg_tensor *d_part, bool *first, mg_tensor *d_w, mg_tensor *d_b)
{
    mg_status status = mg_op_matmul_backward(ctx, a, w, true, d_out, *first ? d_acc : d_part, d_w, d_b);
    if (status == MG_OK && !*first)
        status = mg_op_add(ctx, d_acc, d_part, d_acc);
    *first = false;
    return status;
}

/*
 * d_x: the gradient of the decoder's output on entry, of its input on return. d_text (NULL: not wanted) is
 * [B, T, dim_text] and ACCUMULATES the context's gradient.
 */
static mg_status decoder_backward(tf_train *t, tft_arena *arena, const tft_decoder *dec, mg_tensor *d_x,
                                  mg_tensor *d_text)
{
    mg_context *ctx = t->ctx;
    const mg_tf_config *c = &t->config;
    const int64_t b = d_x->shape[0], n = d_x->shape[1], d = d_x->shape[2];
    const int64_t heads = c->attn_heads, inner = heads * c->attn_dim_head;
    const float scale = 1.0f / sqrtf((float)c->attn_dim_head), offset = c->norm_gain_offset;
    mg_status status = MG_OK;
    mg_tensor *normed = tft_3d(arena, b, n, d), *d_normed = tft_3d(arena, b, n, d), *d_part = tft_3d(arena, b, n, d);
    mg_tensor *d_tmp = tft_3d(arena, b, n, d), *gated = tft_3d(arena, b, n, 4 * d);
    mg_tensor *d_gated = tft_3d(arena, b, n, 4 * d), *d_hidden = tft_3d(arena, b, n, 8 * d);
    mg_tensor *d_att = tft_3d(arena, b, n, inner), *d_q = tft_3d(arena, b, n, inner);
    mg_tensor *d_k = tft_3d(arena, b, n, inner), *d_v = tft_3d(arena, b, n, inner);
    mg_tensor *d_mix = tft_3d(arena, b, n, heads);
    HAVE(normed);
    HAVE(d_normed);
    HAVE(d_part);
    HAVE(d_tmp);
    HAVE(gated);
    HAVE(d_gated);
    HAVE(d_hidden);
    HAVE(d_att);
    HAVE(d_q);
    HAVE(d_k);
    HAVE(d_v);
    HAVE(d_mix);
    mg_tensor *d_v_first = NULL, *d_text_v_first = NULL, *d_tk = NULL, *d_tv = NULL, *d_text_part = NULL;
    if (dec->v_first) {
        d_v_first = tft_zeros_like(arena, dec->v_first);
        HAVE(d_v_first);
    }
    if (dec->text) {
        const int64_t tokens = dec->text->shape[1];
        d_tk = tft_3d(arena, b, tokens, inner);
        d_tv = tft_3d(arena, b, tokens, inner);
        HAVE(d_tk);
        HAVE(d_tv);
        if (dec->text_v_first) {
            d_text_v_first = tft_zeros_like(arena, dec->text_v_first);
            HAVE(d_text_v_first);
        }
        if (d_text) {
            d_text_part = tft_3d(arena, b, tokens, dec->text->shape[2]);
            HAVE(d_text_part);
        }
    }
    mg_tensor *final_gamma;
    PARAM_OR_FAIL(final_gamma, P(".final_norm.gamma", dec->name));
    CHECK(mg_op_layer_norm_backward(ctx, dec->final_in, final_gamma, NORM_EPS, offset, d_x, d_tmp,
                                    G(".final_norm.gamma", dec->name), NULL));
    CHECK(mg_op_scale(ctx, d_tmp, 1.0f, 0.0f, d_x));
    for (int l = dec->count - 1; l >= 0; l--) {
        const tft_layer *L = &dec->layers[l];
        const char *p = L->prefix;
        mg_tensor *gamma;
        PARAM_OR_FAIL(gamma, P(".0.0.gamma", p));
        CHECK(mg_op_layer_norm(ctx, L->x_in, gamma, NULL, NORM_EPS, offset, normed));
        if (L->kind == LAYER_FF) {
            mg_tensor *w1, *w2;
            PARAM_OR_FAIL(w1, P(".1.ff.0.proj.weight", p));
            PARAM_OR_FAIL(w2, P(".1.ff.2.weight", p));
            CHECK(mg_op_geglu(ctx, L->hidden, gated));
            CHECK(mg_op_matmul_backward(ctx, gated, w2, true, d_x, d_gated, G(".1.ff.2.weight", p),
                                        G(".1.ff.2.bias", p)));
            CHECK(mg_op_geglu_backward(ctx, L->hidden, d_gated, d_hidden));
            CHECK(mg_op_matmul_backward(ctx, normed, w1, true, d_hidden, d_normed, G(".1.ff.0.proj.weight", p),
                                        G(".1.ff.0.proj.bias", p)));
        } else {
            mg_tensor *wq, *wk, *wv, *wo;
            PARAM_OR_FAIL(wq, P(".1.to_q.weight", p));
            PARAM_OR_FAIL(wk, P(".1.to_k.weight", p));
            PARAM_OR_FAIL(wv, P(".1.to_v.weight", p));
            PARAM_OR_FAIL(wo, P(".1.to_out.weight", p));
            mg_tensor *mem_k = tft_param(t, "%s.1.mem_k", p), *mem_v = tft_param(t, "%s.1.mem_v", p);
            mg_attention_params ap = {.heads = (size_t)heads, .scale = scale};
            CHECK(mg_op_matmul_backward(ctx, L->attended, wo, true, d_x, d_att, G(".1.to_out.weight", p), NULL));
            bool first = true;
            if (L->kind == LAYER_CROSS) {
                ap.keys = (size_t)dec->text->shape[1];
                ap.causal = false;
                CHECK(mg_op_attention_backward(ctx, L->q, L->k, L->v, mem_k, mem_v, dec->text_mask, &ap, d_att, d_q,
                                               d_tk, d_tv, mem_k ? G(".1.mem_k", p) : NULL,
                                               mem_v ? G(".1.mem_v", p) : NULL));
                if (d_text_v_first) {
                    if (L->index == 0)
                        CHECK(mg_op_add(ctx, d_tv, d_text_v_first, d_tv));
                    else
                        CHECK(mg_op_value_residual_mix_backward(ctx, L->v_raw, dec->text_v_first, NULL, (size_t)heads,
                                                                d_tv, d_tv, d_text_v_first, NULL));
                }
                CHECK(linear_input_grad(ctx, normed, wq, d_q, d_normed, d_part, &first, G(".1.to_q.weight", p), NULL));
                CHECK(mg_op_matmul_backward(ctx, dec->text, wk, true, d_tk, d_text_part, G(".1.to_k.weight", p), NULL));
                if (d_text)
                    CHECK(mg_op_add(ctx, d_text, d_text_part, d_text));
                CHECK(mg_op_matmul_backward(ctx, dec->text, wv, true, d_tv, d_text_part, G(".1.to_v.weight", p), NULL));
                if (d_text)
                    CHECK(mg_op_add(ctx, d_text, d_text_part, d_text));
            } else {
                ap.keys = (size_t)n;
                ap.causal = true;
                CHECK(mg_op_attention_backward(ctx, L->q, L->k, L->v, mem_k, mem_v, NULL, &ap, d_att, d_q, d_k, d_v,
                                               mem_k ? G(".1.mem_k", p) : NULL, mem_v ? G(".1.mem_v", p) : NULL));
                if (d_v_first) {
                    if (L->index == 0) {
                        CHECK(mg_op_add(ctx, d_v, d_v_first, d_v));
                    } else {
                        CHECK(mg_op_value_residual_mix_backward(ctx, L->v_raw, dec->v_first, L->mix, (size_t)heads,
                                                                d_v, d_v, d_v_first, L->mix ? d_mix : NULL));
                        if (L->mix) {
                            mg_tensor *wm;
                            PARAM_OR_FAIL(wm, P(".1.to_value_residual_mix.0.weight", p));
                            CHECK(linear_input_grad(ctx, normed, wm, d_mix, d_normed, d_part, &first,
                                                    G(".1.to_value_residual_mix.0.weight", p),
                                                    G(".1.to_value_residual_mix.0.bias", p)));
                        }
                    }
                }
                CHECK(linear_input_grad(ctx, normed, wq, d_q, d_normed, d_part, &first, G(".1.to_q.weight", p), NULL));
                CHECK(linear_input_grad(ctx, normed, wk, d_k, d_normed, d_part, &first, G(".1.to_k.weight", p), NULL));
                CHECK(linear_input_grad(ctx, normed, wv, d_v, d_normed, d_part, &first, G(".1.to_v.weight", p), NULL));
            }
        }
        CHECK(mg_op_layer_norm_backward(ctx, L->x_in, gamma, NORM_EPS, offset, d_normed, d_tmp, G(".0.0.gamma", p),
                                        NULL));
        CHECK(mg_op_add(ctx, d_x, d_tmp, d_x));
    }
done:
    return status;
}

/* ---- the whole pass ---- */

mg_status tft_pass(tf_train *t, const int32_t *codes, size_t batch, size_t length, const tft_text_input *text,
                   bool backward, float grad_scale, double *loss)
{
    mg_context *ctx = t->ctx;
    const mg_tf_config *c = &t->config;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const size_t faces = length / per_face, groups = faces + 1, padded = groups * per_face;
    const size_t sos = (size_t)c->num_sos_tokens, coarse = sos + groups;
    const size_t coarse_rows = batch * coarse, token_rows = batch * padded;
    const int64_t d = c->dim, vocab = c->codebook_size + 1;
    const bool fine_cross = c->condition_on_text && c->fine_cross_attend_text;
    mg_status status = MG_OK;
    tft_arena arena_storage, *arena = &arena_storage;
    tft_arena_init(arena, ctx);
    tft_gateloop coarse_gl = {0}, fine_gl = {0};
    tft_decoder coarse_dec = {0}, fine_dec = {0};
    tft_film coarse_film = {0}, fine_film = {0};
    const bool film = mg_tf_uses_film(c);
    mg_tensor *pooled = NULL;
    int32_t *ids = NULL, *labels = NULL, *gather = NULL, *sos_ids = NULL, *rep_ids = NULL, *rep_mask = NULL;
    float *row_loss = NULL;
    if (batch == 0 || length == 0)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "the training pass needs at least one token");
    if (length + 1 > (size_t)c->max_seq_len)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%zu tokens do not fit the transformer's %d positions (max_seq_len): train on meshes of at "
                       "most %d faces",
                       length, c->max_seq_len, (c->max_seq_len - 1) / (int)per_face);
    if (c->condition_on_text && (!text || !text->context))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "this transformer is conditioned on text: give a text");
    ids = malloc(batch * length * sizeof *ids);
    labels = malloc(token_rows * sizeof *labels);
    gather = malloc(token_rows * sizeof *gather);
    sos_ids = malloc(batch * sos * sizeof *sos_ids);
    row_loss = malloc(token_rows * sizeof *row_loss);
    if (!ids || !labels || !gather || !sos_ids || !row_loss) {
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the training pass");
        goto done;
    }
    /* Inputs: the codes with EOS read at each sequence's first pad (upstream's appended EOS), other pads as 0.
     * Labels (row i predicts token i): the codes, EOS at the first pad, and upstream's F.pad(value=0) label 0
     * at `length` for a sequence shorter than the batch; everything else ignored (-1). */
    size_t count = 0;
    for (size_t bi = 0; bi < batch; bi++) {
        const int32_t *row = codes + bi * length;
        size_t used = 0;
        while (used < length && row[used] >= 0)
            used++;
        for (size_t i = 0; i < length; i++) {
            if (row[i] >= c->codebook_size) {
                status = mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                                 "token %zu of sequence %zu is %d, outside the codebook [0, %d)", i, bi, (int)row[i],
                                 c->codebook_size);
                goto done;
            }
            ids[bi * length + i] = i < used ? row[i] : i == used ? c->codebook_size : 0;
        }
        for (size_t i = 0; i < padded; i++) {
            int32_t label = -1;
            if (i < used)
                label = row[i];
            else if (i == used)
                label = c->codebook_size;
            else if (i == length)
                label = 0;
            labels[bi * padded + i] = label;
            count += label >= 0;
        }
        for (size_t s = 0; s < sos; s++)
            sos_ids[bi * sos + s] = (int32_t)s;
        for (size_t g = 0; g < groups; g++)
            for (size_t k = 0; k < per_face; k++)
                gather[(bi * groups + g) * per_face + k] =
                    k == 0 ? (int32_t)(bi * coarse + sos - 1 + g)
                           : (int32_t)(coarse_rows + bi * padded + g * per_face + k - 1);
    }

    /* ---- forward ---- */
    mg_tensor *token_embed, *pos_embed, *level_embed, *vertex_embed, *face_w, *face_b, *face_norm_w, *face_norm_b,
        *sos_token, *logits_w, *logits_b;
    PARAM_OR_FAIL(token_embed, need_named(t, "token_embed.weight", ""));
    PARAM_OR_FAIL(pos_embed, need_named(t, "abs_pos_emb.weight", ""));
    PARAM_OR_FAIL(level_embed, need_named(t, "quantize_level_embed", ""));
    PARAM_OR_FAIL(vertex_embed, need_named(t, "vertex_embed", ""));
    PARAM_OR_FAIL(face_w, need_named(t, "to_face_tokens.0.weight", ""));
    PARAM_OR_FAIL(face_b, need_named(t, "to_face_tokens.0.bias", ""));
    PARAM_OR_FAIL(face_norm_w, need_named(t, "to_face_tokens.1.weight", ""));
    PARAM_OR_FAIL(face_norm_b, need_named(t, "to_face_tokens.1.bias", ""));
    PARAM_OR_FAIL(sos_token, need_named(t, "sos_token", ""));
    PARAM_OR_FAIL(logits_w, need_named(t, "to_logits.weight", ""));
    PARAM_OR_FAIL(logits_b, need_named(t, "to_logits.bias", ""));

    /* One buffer holds the coarse sequence, then the token embeddings: the fine sequence gathers from both. */
    mg_tensor *all = tft_2d(arena, (int64_t)(coarse_rows + token_rows), d);
    HAVE(all);
    CHECK(mg_tensor_fill_u32(all, 0));
    int64_t coarse_shape[3] = {(int64_t)batch, (int64_t)coarse, d};
    int64_t token_shape[3] = {(int64_t)batch, (int64_t)padded, d};
    int64_t face_shape[3] = {(int64_t)batch, (int64_t)groups, (int64_t)per_face * d};
    mg_tensor *x = tft_view(arena, all, 0, 3, coarse_shape);
    mg_tensor *tokens = tft_view(arena, all, coarse_rows * (size_t)d * sizeof(float), 3, token_shape);
    HAVE(x);
    HAVE(tokens);
    mg_tensor *face_inputs = tft_view(arena, tokens, 0, 3, face_shape);
    int64_t id_shape[2] = {(int64_t)batch, (int64_t)length}, sos_shape[2] = {(int64_t)batch, (int64_t)sos};
    mg_tensor *id_tensor = tft_i32(arena, ids, 2, id_shape), *sos_tensor = tft_i32(arena, sos_ids, 2, sos_shape);
    mg_tensor *embedded = tft_3d(arena, (int64_t)batch, (int64_t)length, d);
    mg_tensor *face_lin = tft_3d(arena, (int64_t)batch, (int64_t)groups, d);
    mg_tensor *face_tok = tft_3d(arena, (int64_t)batch, (int64_t)groups, d);
    mg_tensor *sos_rows = tft_3d(arena, (int64_t)batch, (int64_t)sos, d);
    HAVE(face_inputs);
    HAVE(id_tensor);
    HAVE(sos_tensor);
    HAVE(embedded);
    HAVE(face_lin);
    HAVE(face_tok);
    HAVE(sos_rows);
    CHECK(mg_op_embedding(ctx, token_embed, id_tensor, embedded));
    CHECK(mg_op_add_table_rows(ctx, embedded, pos_embed, 0, 1, (size_t)c->max_seq_len, embedded));
    CHECK(mg_op_add_table_rows(ctx, embedded, level_embed, 0, 1, (size_t)c->num_quantizers, embedded));
    CHECK(mg_op_add_table_rows(ctx, embedded, vertex_embed, 0, (size_t)c->num_quantizers, (size_t)c->face_size,
                               embedded));
    CHECK(mg_op_copy_rows(ctx, embedded, tokens, 0));
    CHECK(mg_op_matmul(ctx, face_inputs, face_w, face_b, true, face_lin));
    CHECK(mg_op_layer_norm(ctx, face_lin, face_norm_w, face_norm_b, NORM_EPS, 0.0f, face_tok));
    CHECK(mg_op_embedding(ctx, sos_token, sos_tensor, sos_rows));
    CHECK(mg_op_copy_rows(ctx, sos_rows, x, 0));
    CHECK(mg_op_copy_rows(ctx, face_tok, x, sos));

    mg_tensor *text_ctx = NULL, *text_mask = NULL, *text_rep = NULL, *mask_rep = NULL;
    size_t text_tokens = 0;
    if (c->condition_on_text) {
        text_tokens = text->tokens;
        int64_t mask_shape[2] = {(int64_t)batch, (int64_t)text_tokens};
        text_ctx = text->context;
        text_mask = tft_i32(arena, text->mask, 2, mask_shape);
        HAVE(text_mask);
    }
    if (film) { /* FiLM on the coarse input (sos tokens included) before its gateloop, from the pooled text */
        pooled = tft_2d(arena, (int64_t)batch, text_ctx->shape[2]);
        HAVE(pooled);
        CHECK(mg_op_masked_mean(ctx, text_ctx, text_mask, 1e-5f, pooled));
        CHECK(tft_film_forward(t, arena, "text_coarse_film_cond", pooled, x, &coarse_film));
    }
    CHECK(gateloop_forward(t, arena, "coarse_gateloop_block", c->coarse_pre_gateloop_depth, x, &coarse_gl));
    CHECK(decoder_forward(t, arena, "decoder", c->attn_depth, c->condition_on_text, x, text_ctx, text_mask,
                          &coarse_dec));

    int64_t gather_shape[1] = {(int64_t)token_rows}, flat_shape[2] = {(int64_t)token_rows, d};
    int64_t group_shape[3] = {(int64_t)(batch * groups), (int64_t)per_face, d};
    mg_tensor *gather_tensor = tft_i32(arena, gather, 1, gather_shape);
    mg_tensor *fine = tft_3d(arena, (int64_t)batch, (int64_t)padded, d);
    HAVE(gather_tensor);
    HAVE(fine);
    mg_tensor *fine_flat = tft_view(arena, fine, 0, 2, flat_shape);
    mg_tensor *fine_groups = tft_view(arena, fine, 0, 3, group_shape);
    HAVE(fine_flat);
    HAVE(fine_groups);
    CHECK(mg_op_embedding(ctx, all, gather_tensor, fine_flat));
    CHECK(gateloop_forward(t, arena, "fine_gateloop_block", c->fine_pre_gateloop_depth, fine, &fine_gl));
    if (film) /* and on the fine input after its gateloop */
        CHECK(tft_film_forward(t, arena, "text_fine_film_cond", pooled, fine, &fine_film));
    const size_t rep_rows = batch * groups * text_tokens;
    if (fine_cross) { /* the fine decoder attends per face: each row's text repeated for its groups */
        const int64_t width = text_ctx->shape[2];
        rep_ids = malloc(rep_rows * sizeof *rep_ids);
        rep_mask = malloc(rep_rows * sizeof *rep_mask);
        if (!rep_ids || !rep_mask) {
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the training pass");
            goto done;
        }
        for (size_t bi = 0; bi < batch; bi++)
            for (size_t g = 0; g < groups; g++)
                for (size_t k = 0; k < text_tokens; k++) {
                    size_t r = (bi * groups + g) * text_tokens + k;
                    rep_ids[r] = (int32_t)(bi * text_tokens + k);
                    rep_mask[r] = text->mask[bi * text_tokens + k];
                }
        int64_t rep_id_shape[1] = {(int64_t)rep_rows}, rep_flat[2] = {(int64_t)rep_rows, width};
        int64_t src_flat[2] = {(int64_t)(batch * text_tokens), width};
        int64_t rep_mask_shape[2] = {(int64_t)(batch * groups), (int64_t)text_tokens};
        mg_tensor *rep_id_tensor = tft_i32(arena, rep_ids, 1, rep_id_shape);
        mg_tensor *src = tft_view(arena, text_ctx, 0, 2, src_flat);
        text_rep = tft_3d(arena, (int64_t)(batch * groups), (int64_t)text_tokens, width);
        mask_rep = tft_i32(arena, rep_mask, 2, rep_mask_shape);
        HAVE(rep_id_tensor);
        HAVE(src);
        HAVE(text_rep);
        HAVE(mask_rep);
        mg_tensor *rep_out = tft_view(arena, text_rep, 0, 2, rep_flat);
        HAVE(rep_out);
        CHECK(mg_op_embedding(ctx, src, rep_id_tensor, rep_out));
    }
    CHECK(decoder_forward(t, arena, "fine_decoder", c->fine_attn_depth, fine_cross, fine_groups, text_rep, mask_rep,
                          &fine_dec));
    int64_t logits_shape[2] = {(int64_t)token_rows, vocab}, rows_shape[1] = {(int64_t)token_rows};
    mg_tensor *logits = tft_tensor(arena, 2, logits_shape);
    mg_tensor *targets = tft_i32(arena, labels, 1, rows_shape);
    mg_tensor *losses = tft_tensor(arena, 1, rows_shape);
    HAVE(logits);
    HAVE(targets);
    HAVE(losses);
    CHECK(mg_op_matmul(ctx, fine_flat, logits_w, logits_b, true, logits));
    const float scale = count ? grad_scale / (float)count : 0.0f;
    CHECK(mg_op_cross_entropy(ctx, logits, targets, NULL, scale, losses, backward ? logits : NULL));
    CHECK(mg_tensor_read(losses, row_loss, losses->nbytes));
    double total = 0.0;
    for (size_t i = 0; i < token_rows; i++)
        total += labels[i] >= 0 ? (double)row_loss[i] : 0.0;
    *loss = count ? total / (double)count : 0.0;
    if (!backward)
        goto done;

    /* ---- backward ---- */
    mg_tensor *d_fine = tft_3d(arena, (int64_t)batch, (int64_t)padded, d);
    HAVE(d_fine);
    mg_tensor *d_fine_flat = tft_view(arena, d_fine, 0, 2, flat_shape);
    mg_tensor *d_fine_groups = tft_view(arena, d_fine, 0, 3, group_shape);
    HAVE(d_fine_flat);
    HAVE(d_fine_groups);
    CHECK(mg_op_matmul_backward(ctx, fine_flat, logits_w, true, logits, d_fine_flat, tft_grad(t, "to_logits.weight"),
                                tft_grad(t, "to_logits.bias")));
    mg_tensor *d_text_rep = NULL;
    if (text && text->d_context) {
        CHECK(mg_tensor_fill_u32(text->d_context, 0));
        if (fine_cross) {
            d_text_rep = tft_zeros_like(arena, text_rep);
            HAVE(d_text_rep);
        }
    }
    CHECK(decoder_backward(t, arena, &fine_dec, d_fine_groups, d_text_rep));
    mg_tensor *d_pooled = NULL;
    if (film && text->d_context) {
        d_pooled = tft_zeros_like(arena, pooled);
        HAVE(d_pooled);
    }
    if (film)
        CHECK(tft_film_backward(t, arena, &fine_film, pooled, d_fine, d_pooled));
    CHECK(gateloop_backward(t, arena, &fine_gl, d_fine));
    if (d_text_rep) {
        const int64_t width = text_ctx->shape[2];
        int64_t rep_flat[2] = {(int64_t)rep_rows, width}, src_flat[2] = {(int64_t)(batch * text_tokens), width};
        mg_tensor *d_rep_flat = tft_view(arena, d_text_rep, 0, 2, rep_flat);
        mg_tensor *d_src = tft_view(arena, text->d_context, 0, 2, src_flat);
        HAVE(d_rep_flat);
        HAVE(d_src);
        CHECK(mg_op_embedding_backward_ids(ctx, d_rep_flat, rep_ids, rep_rows, d_src));
    }
    mg_tensor *d_all = tft_zeros_like(arena, all);
    HAVE(d_all);
    CHECK(mg_op_embedding_backward_ids(ctx, d_fine_flat, gather, token_rows, d_all));
    mg_tensor *d_x = tft_view(arena, d_all, 0, 3, coarse_shape);
    mg_tensor *d_tokens = tft_view(arena, d_all, coarse_rows * (size_t)d * sizeof(float), 3, token_shape);
    HAVE(d_x);
    HAVE(d_tokens);
    CHECK(decoder_backward(t, arena, &coarse_dec, d_x, text && text->d_context ? text->d_context : NULL));
    CHECK(gateloop_backward(t, arena, &coarse_gl, d_x));
    if (film)
        CHECK(tft_film_backward(t, arena, &coarse_film, pooled, d_x, d_pooled));
    if (d_pooled) { /* the pooled text's gradient reaches the context's visible tokens */
        mg_tensor *d_context_part = tft_zeros_like(arena, text->d_context);
        HAVE(d_context_part);
        CHECK(mg_op_masked_mean_backward(ctx, text_mask, 1e-5f, d_pooled, d_context_part));
        CHECK(mg_op_add(ctx, text->d_context, d_context_part, text->d_context));
    }

    mg_tensor *d_sos = tft_3d(arena, (int64_t)batch, (int64_t)sos, d);
    mg_tensor *d_face_tok = tft_3d(arena, (int64_t)batch, (int64_t)groups, d);
    mg_tensor *d_face_lin = tft_3d(arena, (int64_t)batch, (int64_t)groups, d);
    mg_tensor *d_face_inputs = tft_3d(arena, (int64_t)batch, (int64_t)groups, (int64_t)per_face * d);
    mg_tensor *d_tokens_faces = tft_view(arena, d_tokens, 0, 3, face_shape);
    mg_tensor *d_embedded = tft_3d(arena, (int64_t)batch, (int64_t)length, d);
    HAVE(d_sos);
    HAVE(d_face_tok);
    HAVE(d_face_lin);
    HAVE(d_face_inputs);
    HAVE(d_tokens_faces);
    HAVE(d_embedded);
    CHECK(mg_op_copy_rows_backward(ctx, d_x, 0, d_sos));
    CHECK(mg_op_embedding_backward_ids(ctx, d_sos, sos_ids, batch * sos, tft_grad(t, "sos_token")));
    CHECK(mg_op_copy_rows_backward(ctx, d_x, sos, d_face_tok));
    CHECK(mg_op_layer_norm_backward(ctx, face_lin, face_norm_w, NORM_EPS, 0.0f, d_face_tok, d_face_lin,
                                    tft_grad(t, "to_face_tokens.1.weight"), tft_grad(t, "to_face_tokens.1.bias")));
    CHECK(mg_op_matmul_backward(ctx, face_inputs, face_w, true, d_face_lin, d_face_inputs,
                                tft_grad(t, "to_face_tokens.0.weight"), tft_grad(t, "to_face_tokens.0.bias")));
    CHECK(mg_op_add(ctx, d_tokens_faces, d_face_inputs, d_tokens_faces));
    CHECK(mg_op_copy_rows_backward(ctx, d_tokens, 0, d_embedded));
    CHECK(mg_op_add_table_rows_backward(ctx, d_embedded, 0, (size_t)c->num_quantizers, (size_t)c->face_size,
                                        tft_grad(t, "vertex_embed")));
    CHECK(mg_op_add_table_rows_backward(ctx, d_embedded, 0, 1, (size_t)c->num_quantizers,
                                        tft_grad(t, "quantize_level_embed")));
    CHECK(mg_op_add_table_rows_backward(ctx, d_embedded, 0, 1, (size_t)c->max_seq_len,
                                        tft_grad(t, "abs_pos_emb.weight")));
    CHECK(mg_op_embedding_backward_ids(ctx, d_embedded, ids, batch * length, tft_grad(t, "token_embed.weight")));
done:
    free(coarse_dec.layers);
    free(fine_dec.layers);
    gateloop_free(&coarse_gl);
    gateloop_free(&fine_gl);
    free(ids);
    free(labels);
    free(gather);
    free(sos_ids);
    free(rep_ids);
    free(rep_mask);
    free(row_loss);
    tft_arena_free(arena);
    return status;
}
