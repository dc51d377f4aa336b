/*
 * Text conditions under training: the encoder's token states (cached per
 * caption for a frozen encoder; the built-in BERT encoder run with its
 * activations kept when it is trained), the conditioner's to_latent_dims, the
 * key mask with condition dropout, and the backward pass through
 * to_latent_dims and the built-in encoder (embeddings, LayerNorm, layers).
 * Also the helper that makes a new word-level encoder from captions.
 */
#include "train/tf_train_internal.h"

#include "model/config_json.h"
#include "ops/ops_grad.h"
#include "ops/ops_grad_ae.h"
#include "ops/ops_grad_tf.h"
#include "text/unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



/* ---- the frozen encoder's cache ---- */

static uint64_t text_hash(const char *text)
{
    uint64_t h = 1469598103934665603ull;
    for (; *text; text++)
        h = (h ^ (uint8_t)*text) * 1099511628211ull;
    return h;
}

static mg_status cache_grow(tf_train *t)
{
    size_t size = t->text_cache_size ? 2 * t->text_cache_size : 64;
    tft_text_entry *table = calloc(size, sizeof *table);
    if (!table)
        return mg_fail(&t->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text cache");
    for (size_t i = 0; i < t->text_cache_size; i++) {
        tft_text_entry *e = &t->text_cache[i];
        if (!e->caption)
            continue;
        size_t slot = (size_t)text_hash(e->caption) & (size - 1);
        while (table[slot].caption)
            slot = (slot + 1) & (size - 1);
        table[slot] = *e;
    }
    free(t->text_cache);
    t->text_cache = table;
    t->text_cache_size = size;
    return MG_OK;
}

/* The cached states of `caption`, encoding it on a miss. */
static mg_status cached_states(tf_train *t, const char *caption, const tft_text_entry **out)
{
    if (2 * (t->text_cache_used + 1) > t->text_cache_size) {
        mg_status status = cache_grow(t);
        if (status != MG_OK)
            return status;
    }
    size_t slot = (size_t)text_hash(caption) & (t->text_cache_size - 1);
    while (t->text_cache[slot].caption) {
        if (strcmp(t->text_cache[slot].caption, caption) == 0) {
            *out = &t->text_cache[slot];
            return MG_OK;
        }
        slot = (slot + 1) & (t->text_cache_size - 1);
    }
    tft_text_entry entry = {0};
    mg_status status = mg_text_encoder_states(t->frozen_encoder, caption, (size_t)t->config.dim_text, "dim_text",
                                              &t->ctx->diag, &entry.states, &entry.tokens);
    if (status != MG_OK)
        return status;
    entry.caption = strdup(caption);
    if (!entry.caption) {
        free(entry.states);
        return mg_fail(&t->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text cache");
    }
    t->text_cache[slot] = entry;
    t->text_cache_used++;
    *out = &t->text_cache[slot];
    return MG_OK;
}

void tft_text_cache_free(tf_train *t)
{
    for (size_t i = 0; i < t->text_cache_size; i++) {
        free(t->text_cache[i].caption);
        free(t->text_cache[i].states);
    }
    free(t->text_cache);
    t->text_cache = NULL;
    t->text_cache_size = t->text_cache_used = 0;
}

/* ---- the built-in encoder, trained ---- */

typedef struct bert_layer_acts {
    mg_tensor *x_in, *context, *x1_pre, *x1, *inter_pre, *inter_act, *ffn_pre;
    mg_tensor **q, **k, **v, **probs; /* [heads] */
} bert_layer_acts;

typedef struct bert_acts {
    mg_tensor *emb_sum;       /* before the embedding LayerNorm */
    mg_tensor *mask;          /* i32 [B, T] */
    bert_layer_acts *layers;
    size_t layer_count;
    size_t tokens;
} bert_acts;

static void bert_acts_free(bert_acts *a)
{
    if (!a)
        return;
    for (size_t l = 0; l < a->layer_count; l++) {
        free(a->layers[l].q);
        free(a->layers[l].k);
        free(a->layers[l].v);
        free(a->layers[l].probs);
    }
    free(a->layers);
    free(a);
}

/* A text-encoder tensor (or its gradient) by BertModel name. */
static mg_tensor *bert_param(const tf_train *t, bool grad, const char *name, size_t layer, bool in_layer)
{
    char full[MG_WEIGHT_NAME_MAX];
    if (in_layer)
        snprintf(full, sizeof full, "%sencoder.layer.%zu.%s", MG_MODEL_TEXT_ENCODER_PREFIX, layer, name);
    else
        snprintf(full, sizeof full, "%s%s", MG_MODEL_TEXT_ENCODER_PREFIX, name);
    return grad ? tft_grad(t, "%s", full) : tft_param(t, "%s", full);
}
#define BW(name) bert_param(t, false, name, l, true)
#define BG(name) bert_param(t, true, name, l, true)

/* Rows [h * dh, (h + 1) * dh) of a Linear weight [out, in] (or of its bias): one head's projection. */
static mg_tensor *head_rows(tft_arena *arena, mg_tensor *w, size_t h, size_t dh)
{
    if (!w)
        return NULL;
    if (w->ndim == 1) {
        int64_t shape[1] = {(int64_t)dh};
        return tft_view(arena, w, h * dh * sizeof(float), 1, shape);
    }
    int64_t shape[2] = {(int64_t)dh, w->shape[1]};
    return tft_view(arena, w, h * dh * (size_t)w->shape[1] * sizeof(float), 2, shape);
}

static mg_status bert_forward(tf_train *t, tft_arena *arena, const int32_t *ids, const int32_t *id_mask, size_t batch,
                              size_t tokens, mg_tensor *x, bert_acts *a)
{
    mg_context *ctx = t->ctx;
    const mg_bert_config *c = &t->bert;
    const int64_t B = (int64_t)batch, T = (int64_t)tokens, H = (int64_t)c->hidden, I = (int64_t)c->intermediate;
    const size_t heads = c->heads, dh = c->hidden / c->heads;
    const float eps = c->layer_norm_eps;
    mg_status status = MG_OK;
    size_t l = 0;
    int64_t id_shape[2] = {B, T};
    mg_tensor *id_tensor = tft_i32(arena, ids, 2, id_shape);
    a->mask = tft_i32(arena, id_mask, 2, id_shape);
    a->emb_sum = tft_3d(arena, B, T, H);
    HAVE(id_tensor);
    HAVE(a->mask);
    HAVE(a->emb_sum);
    CHECK(mg_op_embedding(ctx, bert_param(t, false, "embeddings.word_embeddings.weight", 0, false), id_tensor,
                          a->emb_sum));
    CHECK(mg_op_add_table_rows(ctx, a->emb_sum, bert_param(t, false, "embeddings.position_embeddings.weight", 0, false),
                               0, 1, c->max_positions, a->emb_sum));
    CHECK(mg_op_add_table_rows(ctx, a->emb_sum,
                               bert_param(t, false, "embeddings.token_type_embeddings.weight", 0, false), 0, 1, 1,
                               a->emb_sum));
    CHECK(mg_op_layer_norm(ctx, a->emb_sum, bert_param(t, false, "embeddings.LayerNorm.weight", 0, false),
                           bert_param(t, false, "embeddings.LayerNorm.bias", 0, false), eps, 0.0f, x));
    mg_softmax_options options = mg_softmax_default_options();
    options.scale = (float)(1.0 / sqrt((double)dh));
    options.mask = a->mask;
    options.mask_row_divisor = tokens;
    mg_tensor *ctx_h = tft_3d(arena, B, T, (int64_t)dh), *scores = tft_3d(arena, B, T, T);
    HAVE(ctx_h);
    HAVE(scores);
    for (l = 0; l < a->layer_count; l++) {
        bert_layer_acts *L = &a->layers[l];
        L->q = calloc(heads, sizeof *L->q);
        L->k = calloc(heads, sizeof *L->k);
        L->v = calloc(heads, sizeof *L->v);
        L->probs = calloc(heads, sizeof *L->probs);
        if (!L->q || !L->k || !L->v || !L->probs) {
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text encoder");
            goto done;
        }
        L->x_in = tft_copy(arena, x);
        L->context = tft_3d(arena, B, T, H);
        L->x1_pre = tft_3d(arena, B, T, H);
        L->x1 = tft_3d(arena, B, T, H);
        L->inter_pre = tft_3d(arena, B, T, I);
        L->inter_act = tft_3d(arena, B, T, I);
        L->ffn_pre = tft_3d(arena, B, T, H);
        HAVE(L->x_in);
        HAVE(L->context);
        HAVE(L->x1_pre);
        HAVE(L->x1);
        HAVE(L->inter_pre);
        HAVE(L->inter_act);
        HAVE(L->ffn_pre);
        for (size_t h = 0; h < heads; h++) {
            L->q[h] = tft_3d(arena, B, T, (int64_t)dh);
            L->k[h] = tft_3d(arena, B, T, (int64_t)dh);
            L->v[h] = tft_3d(arena, B, T, (int64_t)dh);
            L->probs[h] = tft_3d(arena, B, T, T);
            HAVE(L->q[h]);
            HAVE(L->k[h]);
            HAVE(L->v[h]);
            HAVE(L->probs[h]);
            CHECK(mg_op_matmul(ctx, x, head_rows(arena, BW("attention.self.query.weight"), h, dh),
                               head_rows(arena, BW("attention.self.query.bias"), h, dh), true, L->q[h]));
            CHECK(mg_op_matmul(ctx, x, head_rows(arena, BW("attention.self.key.weight"), h, dh),
                               head_rows(arena, BW("attention.self.key.bias"), h, dh), true, L->k[h]));
            CHECK(mg_op_matmul(ctx, x, head_rows(arena, BW("attention.self.value.weight"), h, dh),
                               head_rows(arena, BW("attention.self.value.bias"), h, dh), true, L->v[h]));
            CHECK(mg_op_matmul(ctx, L->q[h], L->k[h], NULL, true, scores));
            CHECK(mg_op_softmax(ctx, scores, &options, L->probs[h]));
            CHECK(mg_op_matmul(ctx, L->probs[h], L->v[h], NULL, false, ctx_h));
            CHECK(mg_op_copy_columns(ctx, ctx_h, L->context, h * dh));
        }
        CHECK(mg_op_matmul(ctx, L->context, BW("attention.output.dense.weight"), BW("attention.output.dense.bias"), true,
                           L->x1_pre));
        CHECK(mg_op_add(ctx, L->x1_pre, x, L->x1_pre));
        CHECK(mg_op_layer_norm(ctx, L->x1_pre, BW("attention.output.LayerNorm.weight"),
                               BW("attention.output.LayerNorm.bias"), eps, 0.0f, L->x1));
        CHECK(mg_op_matmul(ctx, L->x1, BW("intermediate.dense.weight"), BW("intermediate.dense.bias"), true,
                           L->inter_pre));
        CHECK(mg_op_unary(ctx, c->activation, L->inter_pre, L->inter_act));
        CHECK(mg_op_matmul(ctx, L->inter_act, BW("output.dense.weight"), BW("output.dense.bias"), true, L->ffn_pre));
        CHECK(mg_op_add(ctx, L->ffn_pre, L->x1, L->ffn_pre));
        CHECK(mg_op_layer_norm(ctx, L->ffn_pre, BW("output.LayerNorm.weight"), BW("output.LayerNorm.bias"), eps, 0.0f,
                               x));
    }
done:
    return status;
}

/* d_x: the gradient of the encoder's output; consumed. */
static mg_status bert_backward(tf_train *t, tft_arena *arena, const int32_t *ids, size_t batch, const bert_acts *a,
                               mg_tensor *d_x)
{
    mg_context *ctx = t->ctx;
    const mg_bert_config *c = &t->bert;
    const size_t tokens = a->tokens;
    const int64_t B = (int64_t)batch, T = (int64_t)tokens, H = (int64_t)c->hidden, I = (int64_t)c->intermediate;
    const size_t heads = c->heads, dh = c->hidden / c->heads;
    const float eps = c->layer_norm_eps;
    mg_status status = MG_OK;
    mg_softmax_options options = mg_softmax_default_options();
    options.scale = (float)(1.0 / sqrt((double)dh));
    options.mask = a->mask;
    options.mask_row_divisor = tokens;
    mg_tensor *d_a = tft_3d(arena, B, T, H), *d_b = tft_3d(arena, B, T, H), *d_context = tft_3d(arena, B, T, H);
    mg_tensor *d_inter = tft_3d(arena, B, T, I), *d_ctx_h = tft_3d(arena, B, T, (int64_t)dh);
    mg_tensor *d_q = tft_3d(arena, B, T, (int64_t)dh), *d_k = tft_3d(arena, B, T, (int64_t)dh);
    mg_tensor *d_v = tft_3d(arena, B, T, (int64_t)dh), *d_probs = tft_3d(arena, B, T, T);
    HAVE(d_a);
    HAVE(d_b);
    HAVE(d_context);
    HAVE(d_inter);
    HAVE(d_ctx_h);
    HAVE(d_q);
    HAVE(d_k);
    HAVE(d_v);
    HAVE(d_probs);
    for (size_t li = a->layer_count; li > 0; li--) {
        const size_t l = li - 1;
        const bert_layer_acts *L = &a->layers[l];
        /* x_out = LN(ffn_pre), ffn_pre = out(act(inter(x1))) + x1, x1 = LN(x1_pre), x1_pre = attn_out(context) + x_in */
        CHECK(mg_op_layer_norm_backward(ctx, L->ffn_pre, BW("output.LayerNorm.weight"), eps, 0.0f, d_x, d_a,
                                        BG("output.LayerNorm.weight"), BG("output.LayerNorm.bias")));
        CHECK(mg_op_matmul_backward(ctx, L->inter_act, BW("output.dense.weight"), true, d_a, d_inter,
                                    BG("output.dense.weight"), BG("output.dense.bias")));
        CHECK(mg_op_unary_backward(ctx, c->activation, L->inter_pre, 0.0f, d_inter, d_inter));
        CHECK(mg_op_matmul_backward(ctx, L->x1, BW("intermediate.dense.weight"), true, d_inter, d_b,
                                    BG("intermediate.dense.weight"), BG("intermediate.dense.bias")));
        CHECK(mg_op_add(ctx, d_b, d_a, d_b));
        CHECK(mg_op_layer_norm_backward(ctx, L->x1_pre, BW("attention.output.LayerNorm.weight"), eps, 0.0f, d_b, d_a,
                                        BG("attention.output.LayerNorm.weight"), BG("attention.output.LayerNorm.bias")));
        CHECK(mg_op_matmul_backward(ctx, L->context, BW("attention.output.dense.weight"), true, d_a, d_context,
                                    BG("attention.output.dense.weight"), BG("attention.output.dense.bias")));
        CHECK(mg_op_scale(ctx, d_a, 1.0f, 0.0f, d_x)); /* the residual */
        for (size_t h = 0; h < heads; h++) {
            CHECK(mg_op_copy_columns_backward(ctx, d_context, h * dh, d_ctx_h));
            CHECK(mg_tensor_fill_u32(d_v, 0)); /* a batched matmul's d_b accumulates */
            CHECK(mg_op_matmul_backward(ctx, L->probs[h], L->v[h], false, d_ctx_h, d_probs, d_v, NULL));
            CHECK(mg_op_softmax_backward(ctx, L->probs[h], d_probs, &options, d_probs));
            CHECK(mg_tensor_fill_u32(d_k, 0));
            CHECK(mg_op_matmul_backward(ctx, L->q[h], L->k[h], true, d_probs, d_q, d_k, NULL));
            const char *which[3] = {"query", "key", "value"};
            mg_tensor *grads[3] = {d_q, d_k, d_v};
            for (int p = 0; p < 3; p++) {
                char wn[64], bn[64];
                snprintf(wn, sizeof wn, "attention.self.%s.weight", which[p]);
                snprintf(bn, sizeof bn, "attention.self.%s.bias", which[p]);
                CHECK(mg_op_matmul_backward(ctx, L->x_in, head_rows(arena, BW(wn), h, dh), true, grads[p], d_b,
                                            head_rows(arena, BG(wn), h, dh), head_rows(arena, BG(bn), h, dh)));
                CHECK(mg_op_add(ctx, d_x, d_b, d_x));
            }
        }
    }
    {
        size_t l = 0;
        (void)l;
        CHECK(mg_op_layer_norm_backward(ctx, a->emb_sum, bert_param(t, false, "embeddings.LayerNorm.weight", 0, false),
                                        eps, 0.0f, d_x, d_a, bert_param(t, true, "embeddings.LayerNorm.weight", 0, false),
                                        bert_param(t, true, "embeddings.LayerNorm.bias", 0, false)));
        CHECK(mg_op_embedding_backward_ids(ctx, d_a, ids, batch * tokens,
                                           bert_param(t, true, "embeddings.word_embeddings.weight", 0, false)));
        CHECK(mg_op_add_table_rows_backward(ctx, d_a, 0, 1, c->max_positions,
                                            bert_param(t, true, "embeddings.position_embeddings.weight", 0, false)));
        CHECK(mg_op_add_table_rows_backward(ctx, d_a, 0, 1, 1,
                                            bert_param(t, true, "embeddings.token_type_embeddings.weight", 0, false)));
    }
done:
    return status;
}

/* ---- the batch's text ---- */

mg_status tft_text_prepare(tf_train *t, tft_arena *arena, const char *const *captions, const bool *drop,
                           size_t batch, bool backward, tft_text_batch *out)
{
    mg_context *ctx = t->ctx;
    mg_diag *diag = &ctx->diag;
    const size_t width = (size_t)t->config.dim_text;
    mg_status status = MG_OK;
    const char **texts = NULL;
    float *host = NULL;
    memset(out, 0, sizeof *out);
    out->batch = batch;
    if (t->text_mode == TFT_TEXT_NONE)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "this transformer is conditioned on text but has no text encoder: give a BERT folder "
                       "(text_encoder_folder, `--text-encoder DIR`) or a new built-in encoder");
    size_t tokens = 0;
    int32_t *real = NULL;
    texts = malloc(batch * sizeof *texts);
    if (!texts) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the captions");
        goto done;
    }
    for (size_t b = 0; b < batch; b++)
        texts[b] = captions && captions[b] ? captions[b] : ""; /* no caption: encoded as "", then hidden */
    if (t->text_mode == TFT_TEXT_FROZEN) {
        const tft_text_entry **entries = calloc(batch, sizeof *entries);
        if (!entries) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the captions");
            goto done;
        }
        for (size_t b = 0; b < batch && status == MG_OK; b++) {
            status = cached_states(t, texts[b], &entries[b]);
            if (status == MG_OK)
                tokens = entries[b]->tokens > tokens ? entries[b]->tokens : tokens;
        }
        if (status == MG_OK) {
            host = calloc(batch * tokens * width, sizeof *host);
            real = calloc(batch * tokens, sizeof *real);
            if (!host || !real)
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text states");
        }
        for (size_t b = 0; b < batch && status == MG_OK; b++) {
            memcpy(host + b * tokens * width, entries[b]->states, entries[b]->tokens * width * sizeof *host);
            for (size_t k = 0; k < entries[b]->tokens; k++)
                real[b * tokens + k] = 1;
        }
        free(entries);
        if (status != MG_OK)
            goto done;
        out->states = tft_3d(arena, (int64_t)batch, (int64_t)tokens, (int64_t)width);
        HAVE(out->states);
        CHECK(mg_tensor_write(out->states, host, out->states->nbytes));
    } else {
        CHECK(mg_wordpiece_encode_batch(t->vocab, texts, batch, t->bert_max_length, &out->ids, &out->id_mask, &tokens,
                                        diag));
        real = malloc(batch * tokens * sizeof *real);
        bert_acts *acts = calloc(1, sizeof *acts);
        if (acts) {
            acts->layer_count = t->bert.layers;
            acts->tokens = tokens;
            acts->layers = calloc(t->bert.layers ? t->bert.layers : 1, sizeof *acts->layers);
        }
        out->bert_acts = acts;
        if (!real || !acts || !acts->layers) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text encoder");
            goto done;
        }
        memcpy(real, out->id_mask, batch * tokens * sizeof *real);
        out->states = tft_3d(arena, (int64_t)batch, (int64_t)tokens, (int64_t)width);
        HAVE(out->states);
        CHECK(bert_forward(t, arena, out->ids, out->id_mask, batch, tokens, out->states, acts));
    }
    /* The conditioner: to_latent_dims on every token; the pad tokens' values do not matter (their keys are
     * masked), so they are not reset to the pad value. */
    out->input.context = tft_3d(arena, (int64_t)batch, (int64_t)tokens, (int64_t)width);
    HAVE(out->input.context);
    mg_tensor *w = tft_param(t, "conditioner.to_latent_dims.0.weight"), *bias = tft_param(t, "conditioner.to_latent_dims.0.bias");
    if (!w || !bias) {
        status = mg_fail(diag, MG_ERR_INTERNAL, "the transformer under training has no conditioner.to_latent_dims.0");
        goto done;
    }
    CHECK(mg_op_matmul(ctx, out->states, w, bias, true, out->input.context));
    out->mask = real;
    real = NULL;
    for (size_t b = 0; b < batch; b++) {
        const bool hidden = (drop && drop[b]) || !captions || !captions[b];
        for (size_t k = 0; hidden && k < tokens; k++)
            out->mask[b * tokens + k] = 0;
    }
    out->input.mask = out->mask;
    out->input.tokens = tokens;
    if (backward) {
        out->input.d_context = tft_3d(arena, (int64_t)batch, (int64_t)tokens, (int64_t)width);
        HAVE(out->input.d_context);
    }
done:
    free(texts);
    free(host);
    free(real);
    return status;
}

mg_status tft_text_backward(tf_train *t, tft_arena *arena, tft_text_batch *text)
{
    mg_status status = MG_OK;
    const bool trained = t->text_mode == TFT_TEXT_TRAINED && text->bert_acts;
    mg_tensor *d_states = NULL;
    if (trained) {
        d_states = tft_zeros_like(arena, text->states);
        HAVE(d_states);
    }
    CHECK(mg_op_matmul_backward(t->ctx, text->states, tft_param(t, "conditioner.to_latent_dims.0.weight"), true,
                                text->input.d_context, d_states, tft_grad(t, "conditioner.to_latent_dims.0.weight"),
                                tft_grad(t, "conditioner.to_latent_dims.0.bias")));
    if (trained)
        CHECK(bert_backward(t, arena, text->ids, text->batch, text->bert_acts, d_states));
done:
    return status;
}

void tft_text_batch_free(tft_text_batch *text)
{
    free(text->mask);
    free(text->ids);
    free(text->id_mask);
    bert_acts_free(text->bert_acts);
    memset(text, 0, sizeof *text);
}

/* ---- a new encoder from captions ---- */

typedef struct word_list {
    char **words;
    size_t count, capacity;
} word_list;

static bool word_add(word_list *list, const uint8_t *bytes, size_t length)
{
    if (length == 0)
        return true;
    for (size_t i = 0; i < list->count; i++)
        if (strlen(list->words[i]) == length && memcmp(list->words[i], bytes, length) == 0)
            return true;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 64;
        char **grown = realloc(list->words, capacity * sizeof *grown);
        if (!grown)
            return false;
        list->words = grown;
        list->capacity = capacity;
    }
    char *word = malloc(length + 1);
    if (!word)
        return false;
    memcpy(word, bytes, length);
    word[length] = '\0';
    list->words[list->count++] = word;
    return true;
}

/* BERT's basic tokenizer's words of one caption (lower-cased, accents stripped, punctuation and CJK characters
 * as words of their own), appended to `list`. */
static bool caption_words(const char *caption, word_list *list)
{
    const size_t size = strlen(caption);
    uint32_t *cps = malloc((size ? size : 1) * sizeof *cps);
    uint8_t *word = malloc(4 * MG_UC_MAX_EXPANSION * MG_UC_MAX_EXPANSION * (size ? size : 1) + 1);
    size_t count = 0, bad = 0, length = 0, chars = 0;
    bool ok = cps && word;
    if (ok && !mg_utf8_decode((const uint8_t *)caption, size, cps, &count, &bad))
        count = 0; /* invalid UTF-8: the encoder refuses the caption later, with its own message */
    for (size_t i = 0; ok && i <= count; i++) {
        const uint32_t cp = i < count ? cps[i] : ' ';
        const unsigned flags = mg_uc_flags(cp);
        const bool space = cp == '\t' || cp == '\n' || cp == '\r' || (flags & (MG_UC_ZS | MG_UC_PYSPACE));
        if (!space && (flags & MG_UC_CONTROL || cp == 0 || cp == 0xfffd))
            continue;
        const bool alone = (flags & MG_UC_PUNCT) || mg_uc_is_cjk(cp);
        if (space || alone) {
            if (chars <= MG_WORDPIECE_MAX_WORD_CHARS)
                ok = word_add(list, word, length);
            length = chars = 0;
            if (space)
                continue;
        }
        uint32_t lower[MG_UC_MAX_EXPANSION];
        size_t n_lower = mg_uc_lower(cp, lower);
        for (size_t a = 0; a < n_lower; a++) {
            uint32_t stripped[MG_UC_MAX_EXPANSION];
            size_t n = mg_uc_strip_accents(lower[a], stripped);
            for (size_t s = 0; s < n; s++)
                if (stripped[s] != MG_UC_RUN_BREAK) {
                    length += mg_utf8_encode(stripped[s], word + length);
                    chars++;
                }
        }
        if (alone) {
            ok = word_add(list, word, length);
            length = chars = 0;
        }
    }
    free(cps);
    free(word);
    return ok;
}

mg_status mg_tf_text_encoder_from_captions(const char *const *captions, size_t count, size_t hidden, size_t layers,
                                           mg_bert_config *config, char **vocab_text, mg_diag *diag)
{
    if (!config || !vocab_text || (!captions && count) || hidden == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a text encoder needs captions, a width and outputs");
    *vocab_text = NULL;
    static const char *const specials[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    word_list list = {0};
    bool ok = true;
    for (int i = 0; i < 5 && ok; i++)
        ok = word_add(&list, (const uint8_t *)specials[i], strlen(specials[i]));
    for (size_t i = 0; i < count && ok; i++)
        if (captions[i])
            ok = caption_words(captions[i], &list);
    size_t bytes = 1;
    for (size_t i = 0; i < list.count; i++)
        bytes += strlen(list.words[i]) + 1;
    char *text = ok ? malloc(bytes) : NULL;
    if (text) {
        size_t at = 0;
        for (size_t i = 0; i < list.count; i++) {
            size_t n = strlen(list.words[i]);
            memcpy(text + at, list.words[i], n);
            text[at + n] = '\n';
            at += n + 1;
        }
        text[at] = '\0';
    }
    for (size_t i = 0; i < list.count; i++)
        free(list.words[i]);
    free(list.words);
    if (!text)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text vocabulary");
    memset(config, 0, sizeof *config);
    config->hidden = hidden;
    config->layers = layers;
    config->heads = hidden >= 64 && hidden % 64 == 0 ? hidden / 64 : 1;
    config->intermediate = 4 * hidden;
    config->vocab = list.count;
    config->max_positions = 512;
    config->type_vocab = 2;
    config->layer_norm_eps = 1e-12f;
    config->activation = MG_UNARY_GELU;
    *vocab_text = text;
    return MG_OK;
}
