/* The BERT encoder's forward pass, built only from ops (Vulkan or the CPU reference). */
#include "model/scratch.h"
#include "ops/ops_transformer.h"
#include "text/bert_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Activations of one pass, reused by every layer and head (the Vulkan stream orders reuse with barriers). */
typedef struct bert_pass {
    mg_tensor *x;                 /* [B, T, H]: the running hidden state, returned */
    mg_tensor *mask;              /* i32 [B, T] or NULL */
    mg_tensor *q, *k, *v, *ctx_h; /* [B, T, d]: one head */
    mg_tensor *scores, *probs;    /* [B, T, T] */
    mg_tensor *context;           /* [B, T, H]: heads side by side */
    mg_tensor *x1;                /* [B, T, H]: after attention */
    mg_tensor *inter;             /* [B, T, I] */
    mg_tensor *ffn;               /* [B, T, H] */
} bert_pass;

/* x = LayerNorm(word[id] + position[t] + token_type[0]). The position and type rows are added with
 * add_table_rows, which reads f16 tables as they are (mg_op_add wants f32 operands). */
static mg_status embed(mg_bert *bert, mg_scratch *s, const int32_t *ids, size_t batch, size_t tokens, bert_pass *p)
{
    mg_context *ctx = bert->ctx;
    int64_t id_shape[2] = {(int64_t)batch, (int64_t)tokens};
    mg_tensor *id_tensor = mg_scratch_i32(s, ids, 2, id_shape);
    if (s->status != MG_OK)
        return s->status;
    mg_status status;
    /* Position t of every row, padded or not, as BertModel does: row (t / 1) % max_positions = t (t < T <= max). */
    if ((status = mg_op_embedding(ctx, bert->word, id_tensor, p->x)) != MG_OK ||
        (status = mg_op_add_table_rows(ctx, p->x, bert->position, 0, 1, bert->config.max_positions, p->x)) != MG_OK ||
        (status = mg_op_add_table_rows(ctx, p->x, bert->token_type, 0, 1, 1, p->x)) != MG_OK)
        return status;
    return mg_op_layer_norm(ctx, p->x, bert->embed_norm_w, bert->embed_norm_b, bert->config.layer_norm_eps, 0.0f,
                            p->x);
}

/* Self-attention head by head: q, k, v from that head's rows of the projections, softmax over the real keys,
 * the head's context written into its columns of p->context. */
static mg_status attention(mg_bert *bert, const mg_bert_layer *layer, size_t tokens, bert_pass *p)
{
    mg_context *ctx = bert->ctx;
    const mg_bert_config *c = &bert->config;
    size_t d = c->hidden / c->heads;
    mg_softmax_options options = mg_softmax_default_options();
    options.scale = (float)(1.0 / sqrt((double)d));
    options.mask = p->mask;              /* [B, T]: one mask row per batch row ... */
    options.mask_row_divisor = tokens;   /* ... shared by its T query rows */
    mg_status status = MG_OK;
    for (size_t h = 0; h < c->heads && status == MG_OK; h++) {
        const mg_bert_head *head = &layer->heads[h];
        if ((status = mg_op_matmul(ctx, p->x, head->query_w, head->query_b, true, p->q)) != MG_OK ||
            (status = mg_op_matmul(ctx, p->x, head->key_w, head->key_b, true, p->k)) != MG_OK ||
            (status = mg_op_matmul(ctx, p->x, head->value_w, head->value_b, true, p->v)) != MG_OK ||
            (status = mg_op_matmul(ctx, p->q, p->k, NULL, true, p->scores)) != MG_OK ||
            (status = mg_op_softmax(ctx, p->scores, &options, p->probs)) != MG_OK ||
            (status = mg_op_matmul(ctx, p->probs, p->v, NULL, false, p->ctx_h)) != MG_OK)
            break;
        status = mg_op_copy_columns(ctx, p->ctx_h, p->context, h * d);
    }
    return status;
}

static mg_status layer_forward(mg_bert *bert, const mg_bert_layer *layer, size_t tokens, bert_pass *p)
{
    mg_context *ctx = bert->ctx;
    float eps = bert->config.layer_norm_eps;
    mg_status status;
    if ((status = attention(bert, layer, tokens, p)) != MG_OK ||
        (status = mg_op_matmul(ctx, p->context, layer->attn_out_w, layer->attn_out_b, true, p->x1)) != MG_OK ||
        (status = mg_op_add(ctx, p->x1, p->x, p->x1)) != MG_OK ||
        (status = mg_op_layer_norm(ctx, p->x1, layer->attn_norm_w, layer->attn_norm_b, eps, 0.0f, p->x1)) != MG_OK ||
        (status = mg_op_matmul(ctx, p->x1, layer->inter_w, layer->inter_b, true, p->inter)) != MG_OK ||
        (status = mg_op_unary(ctx, bert->config.activation, p->inter, p->inter)) != MG_OK ||
        (status = mg_op_matmul(ctx, p->inter, layer->out_w, layer->out_b, true, p->ffn)) != MG_OK ||
        (status = mg_op_add(ctx, p->ffn, p->x1, p->ffn)) != MG_OK)
        return status;
    return mg_op_layer_norm(ctx, p->ffn, layer->out_norm_w, layer->out_norm_b, eps, 0.0f, p->x);
}

static mg_status check_inputs(mg_bert *bert, const int32_t *ids, const int32_t *mask, size_t batch, size_t tokens,
                              mg_tensor **out)
{
    if (!bert)
        return MG_ERR_INVALID_ARGUMENT;
    mg_status status = mg_context_check(bert->ctx, "mg_bert_encode");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &bert->ctx->diag;
    if (!ids || !out || batch == 0 || tokens == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_encode: ids, out and a non-empty batch are required");
    *out = NULL;
    const mg_bert_config *c = &bert->config;
    if (tokens > c->max_positions)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_encode: %zu tokens, but this BERT model takes at most "
                       "%zu (max_position_embeddings); tokenize with that max length", tokens, c->max_positions);
    if (batch > (size_t)INT32_MAX / tokens / tokens)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_encode: batch %zu x %zu tokens is too large", batch,
                       tokens);
    for (size_t b = 0; b < batch; b++) {
        bool any = !mask;
        for (size_t t = 0; t < tokens; t++) {
            int32_t id = ids[b * tokens + t];
            if (id < 0 || (size_t)id >= c->vocab)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_encode: token id %d (row %zu, position %zu) "
                               "is outside the vocabulary of %zu", id, b, t, c->vocab);
            if (mask && mask[b * tokens + t] != 0)
                any = true;
        }
        if (!any)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bert_encode: row %zu has no real token in its mask "
                           "(every row holds at least [CLS] and [SEP])", b);
    }
    return MG_OK;
}

mg_status mg_bert_encode(mg_bert *bert, const int32_t *ids, const int32_t *mask, size_t batch, size_t tokens,
                         mg_tensor **out)
{
    mg_status status = check_inputs(bert, ids, mask, batch, tokens, out);
    if (status != MG_OK)
        return status;
    mg_context *ctx = bert->ctx;
    const mg_bert_config *c = &bert->config;
    int64_t B = (int64_t)batch, T = (int64_t)tokens, H = (int64_t)c->hidden, d = H / (int64_t)c->heads;
    bert_pass p;
    memset(&p, 0, sizeof p);
    int64_t x_shape[3] = {B, T, H};
    if ((status = mg_tensor_create(ctx, MG_DTYPE_F32, 3, x_shape, &p.x)) != MG_OK)
        return status;
    mg_scratch s;
    mg_scratch_init(&s, ctx);
    if (mask) {
        int64_t mask_shape[2] = {B, T};
        p.mask = mg_scratch_i32(&s, mask, 2, mask_shape);
    }
    p.q = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, d);
    p.k = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, d);
    p.v = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, d);
    p.ctx_h = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, d);
    p.scores = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, T);
    p.probs = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, T);
    p.context = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, H);
    p.x1 = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, H);
    p.inter = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, (int64_t)c->intermediate);
    p.ffn = mg_scratch_3d(&s, MG_DTYPE_F32, B, T, H);
    status = s.status;
    if (status == MG_OK)
        status = embed(bert, &s, ids, batch, tokens, &p);
    for (size_t l = 0; status == MG_OK && l < c->layers; l++)
        status = layer_forward(bert, &bert->layers[l], tokens, &p);
    mg_scratch_release(&s);
    if (status != MG_OK) {
        mg_tensor_free(p.x);
        return status;
    }
    *out = p.x;
    return MG_OK;
}

mg_status mg_bert_text_encodings(mg_bert *bert, const int32_t *ids, const int32_t *mask, size_t batch, size_t tokens,
                                 float pad_value, mg_tensor **out)
{
    mg_tensor *hidden = NULL;
    mg_status status = mg_bert_encode(bert, ids, mask, batch, tokens, &hidden);
    if (status != MG_OK || !mask) {
        *out = hidden;
        return status;
    }
    /* Each run of pad positions of a row is a contiguous range of the output: fill it with the pad value's bits,
     * so real positions stay bit-identical to last_hidden_state. */
    size_t H = bert->config.hidden;
    uint32_t bits;
    memcpy(&bits, &pad_value, sizeof bits);
    for (size_t b = 0; b < batch && status == MG_OK; b++) {
        for (size_t t = 0; t < tokens && status == MG_OK;) {
            if (mask[b * tokens + t] != 0) {
                t++;
                continue;
            }
            size_t end = t;
            while (end < tokens && mask[b * tokens + end] == 0)
                end++;
            int64_t shape[1] = {(int64_t)((end - t) * H)};
            mg_tensor *run = NULL;
            status = mg_tensor_view(hidden, (b * tokens + t) * H * sizeof(float), MG_DTYPE_F32, 1, shape, &run);
            if (status == MG_OK)
                status = mg_tensor_fill_u32(run, bits);
            mg_tensor_free(run);
            t = end;
        }
    }
    if (status != MG_OK) {
        mg_tensor_free(hidden);
        hidden = NULL;
    }
    *out = hidden;
    return status;
}
