#include "model/tf_incremental.h"

#include "model/tf_internal.h"
#include "ops/ops.h"
#include "ops/ops_transformer.h"

#include <stdlib.h>
#include <string.h>

struct mg_tf_stream {
    const mg_transformer *tf;
    size_t batch, max_tokens;
    mg_scratch persistent;          /* caches, states, text context */
    decoder_context text;           /* coarse decoder context (and fine, same rows) */
    bool has_text;
    mg_tensor *coarse_states[MG_TF_MAX_LAYERS], *fine_states[MG_TF_MAX_LAYERS];
    mg_tf_decoder_cache coarse, fine;
    size_t coarse_position;
    bool film;                      /* FiLM text conditioning: gamma/beta computed once per stream */
    mg_tf_film coarse_film, fine_film;
};

static mg_status cache_tensors(mg_tf_stream *s, int depth, bool cross, size_t rows, mg_tf_decoder_cache *cache)
{
    const mg_tf_config *c = &s->tf->config;
    const int64_t inner = (int64_t)c->attn_heads * c->attn_dim_head;
    for (int i = 0; i < depth; i++) {
        cache->self_k[i] = mg_scratch_3d(&s->persistent, MG_DTYPE_F32, (int64_t)s->batch, (int64_t)rows, inner);
        cache->self_v[i] = mg_scratch_3d(&s->persistent, MG_DTYPE_F32, (int64_t)s->batch, (int64_t)rows, inner);
        if (!cache->self_k[i] || !cache->self_v[i])
            return s->persistent.status;
        if (cross) {
            const int64_t t = s->text.text->shape[1];
            cache->cross_k[i] = mg_scratch_3d(&s->persistent, MG_DTYPE_F32, (int64_t)s->batch, t, inner);
            cache->cross_v[i] = mg_scratch_3d(&s->persistent, MG_DTYPE_F32, (int64_t)s->batch, t, inner);
            if (!cache->cross_k[i] || !cache->cross_v[i])
                return s->persistent.status;
        }
    }
    return MG_OK;
}

static mg_status states(mg_tf_stream *s, int depth, mg_tensor **out)
{
    for (int i = 0; i < depth; i++) {
        out[i] = mg_scratch_2d(&s->persistent, MG_DTYPE_F32, (int64_t)s->batch, s->tf->config.dim);
        if (!out[i])
            return s->persistent.status;
        mg_status status = mg_tensor_fill_u32(out[i], 0);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

void mg_tf_stream_free(mg_tf_stream *stream)
{
    if (!stream)
        return;
    mg_scratch_release(&stream->persistent);
    free(stream);
}

mg_status mg_tf_stream_create(const mg_transformer *tf, size_t batch, size_t max_tokens, const mg_tf_text *text,
                              mg_tf_stream **out)
{
    const mg_tf_config *c = &tf->config;
    *out = NULL;
    if (c->attn_depth > MG_TF_MAX_LAYERS || c->fine_attn_depth > MG_TF_MAX_LAYERS ||
        c->coarse_pre_gateloop_depth > MG_TF_MAX_LAYERS || c->fine_pre_gateloop_depth > MG_TF_MAX_LAYERS)
        return mg_fail(&tf->ctx->diag, MG_ERR_UNSUPPORTED, "more than %d layers in one decoder", MG_TF_MAX_LAYERS);
    mg_tf_stream *s = calloc(1, sizeof *s);
    if (!s)
        return mg_fail(&tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the decoding state");
    s->tf = tf;
    s->batch = batch;
    s->max_tokens = max_tokens;
    mg_scratch_init(&s->persistent, tf->ctx);
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const size_t coarse_rows = (size_t)c->num_sos_tokens + max_tokens / per_face + 1;
    mg_status status = MG_OK;
    if (text) {
        s->has_text = true;
        status = mg_tf_text_context(tf, &s->persistent, text, batch, &s->text);
    }
    if (status == MG_OK && s->has_text && mg_tf_uses_film(c)) {
        s->film = true;
        status = mg_tf_film_params(tf, &s->persistent, "text_coarse_film_cond", &s->text, &s->coarse_film);
        if (status == MG_OK)
            status = mg_tf_film_params(tf, &s->persistent, "text_fine_film_cond", &s->text, &s->fine_film);
    }
    const bool fine_cross = c->condition_on_text && c->fine_cross_attend_text && s->has_text;
    if (status == MG_OK)
        status = cache_tensors(s, c->attn_depth, c->condition_on_text && s->has_text, coarse_rows, &s->coarse);
    if (status == MG_OK)
        status = cache_tensors(s, c->fine_attn_depth, fine_cross, per_face, &s->fine);
    if (status == MG_OK)
        status = states(s, c->coarse_pre_gateloop_depth, s->coarse_states);
    if (status == MG_OK)
        status = states(s, c->fine_pre_gateloop_depth, s->fine_states);
    if (status != MG_OK) {
        mg_tf_stream_free(s);
        return status;
    }
    *out = s;
    return MG_OK;
}


/* Token embeddings of tokens[first .. first + count) of every row, at their absolute positions. */
static mg_status embed_tokens(const mg_tf_stream *s, mg_scratch *scratch, const int32_t *tokens, size_t stride,
                              size_t first, size_t count, mg_tensor **out)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_context *ctx = tf->ctx;
    int32_t *ids = malloc(s->batch * count * sizeof *ids);
    if (!ids)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t b = 0; b < s->batch; b++)
        for (size_t i = 0; i < count; i++) {
            int32_t id = tokens[b * stride + first + i];
            ids[b * count + i] = id < 0 ? 0 : id;
        }
    int64_t id_shape[2] = {(int64_t)s->batch, (int64_t)count};
    mg_tensor *id_tensor = mg_scratch_i32(scratch, ids, 2, id_shape);
    free(ids);
    mg_tensor *e = mg_scratch_3d(scratch, MG_DTYPE_F32, (int64_t)s->batch, (int64_t)count, c->dim);
    if (!id_tensor || !e)
        return scratch->status;
    mg_status status = mg_op_embedding(ctx, mg_tf_weight(tf, "token_embed.weight"), id_tensor, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows(ctx, e, mg_tf_weight(tf, "abs_pos_emb.weight"), (int64_t)first, 1,
                                      (size_t)c->max_seq_len, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows(ctx, e, mg_tf_weight(tf, "quantize_level_embed"), (int64_t)first, 1,
                                      (size_t)c->num_quantizers, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows(ctx, e, mg_tf_weight(tf, "vertex_embed"), (int64_t)first,
                                      (size_t)c->num_quantizers, (size_t)c->face_size, e);
    *out = e;
    return status;
}

/* The coarse decoder over new rows x [B, n, d] (sos tokens or one face token); returns the last row [B, 1, d]. */
static mg_status coarse_step(mg_tf_stream *s, mg_scratch *scratch, mg_tensor *x, mg_tensor **last)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_status status = mg_tf_gateloop_block(tf, "coarse_gateloop_block", c->coarse_pre_gateloop_depth, x,
                                            s->coarse_states);
    s->coarse.position = s->coarse_position;
    if (status == MG_OK)
        status = mg_tf_decoder(tf, "decoder", c->attn_depth, c->condition_on_text && s->has_text, x, &s->text,
                               &s->coarse);
    if (status != MG_OK)
        return status;
    const int64_t n = x->shape[1];
    s->coarse_position += (size_t)n;
    if (n == 1) {
        *last = x;
        return MG_OK;
    }
    /* Several rows (the sos tokens): gather each batch row's last one. */
    int32_t *ids = malloc(s->batch * sizeof *ids);
    if (!ids)
        return mg_fail(&tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t b = 0; b < s->batch; b++)
        ids[b] = (int32_t)(b * (size_t)n + (size_t)n - 1);
    int64_t id_shape[2] = {(int64_t)s->batch, 1};
    int64_t flat_shape[2] = {(int64_t)s->batch * n, c->dim};
    mg_tensor *id_tensor = mg_scratch_i32(scratch, ids, 2, id_shape);
    free(ids);
    mg_tensor *flat = mg_scratch_view(scratch, x, 2, flat_shape);
    *last = mg_scratch_3d(scratch, MG_DTYPE_F32, (int64_t)s->batch, 1, c->dim);
    if (!id_tensor || !flat || !*last)
        return scratch->status;
    return mg_op_embedding(tf->ctx, flat, id_tensor, *last);
}

mg_status mg_tf_stream_step(mg_tf_stream *s, const int32_t *tokens, size_t stride, size_t t, float *logits)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_context *ctx = tf->ctx;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const int64_t d = c->dim, vocab = c->codebook_size + 1;
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    mg_status status = MG_OK;
    mg_tensor *fine_in = NULL;
    if (t >= s->max_tokens) {
        status = mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "the decoding state holds %zu tokens", s->max_tokens);
        goto done;
    }
    if (t % per_face == 0) {
        mg_tensor *x = NULL;
        if (t == 0) {
            const size_t sos = (size_t)c->num_sos_tokens;
            int32_t *ids = malloc(s->batch * sos * sizeof *ids);
            if (!ids) {
                status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
                goto done;
            }
            for (size_t i = 0; i < s->batch * sos; i++)
                ids[i] = (int32_t)(i % sos);
            int64_t id_shape[2] = {(int64_t)s->batch, (int64_t)sos};
            mg_tensor *id_tensor = mg_scratch_i32(&scratch, ids, 2, id_shape);
            free(ids);
            x = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)s->batch, (int64_t)sos, d);
            NEED(id_tensor);
            NEED(x);
            TRY(mg_op_embedding(ctx, mg_tf_weight(tf, "sos_token"), id_tensor, x));
        } else {
            /* The face just completed becomes one coarse token. */
            mg_tensor *e = NULL;
            TRY(embed_tokens(s, &scratch, tokens, stride, t - per_face, per_face, &e));
            int64_t face_shape[3] = {(int64_t)s->batch, 1, (int64_t)per_face * d};
            mg_tensor *face = mg_scratch_view(&scratch, e, 3, face_shape);
            x = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)s->batch, 1, d);
            NEED(face);
            NEED(x);
            TRY(mg_op_matmul(ctx, face, mg_tf_weight(tf, "to_face_tokens.0.weight"),
                             mg_tf_weight(tf, "to_face_tokens.0.bias"), true, x));
            TRY(mg_op_layer_norm(ctx, x, mg_tf_weight(tf, "to_face_tokens.1.weight"),
                                 mg_tf_weight(tf, "to_face_tokens.1.bias"), 1e-5f, 0.0f, x));
        }
        if (s->film)
            TRY(mg_tf_film_apply(tf, &s->coarse_film, x));
        TRY(coarse_step(s, &scratch, x, &fine_in));
    } else {
        TRY(embed_tokens(s, &scratch, tokens, stride, t - 1, 1, &fine_in));
    }
    TRY(mg_tf_gateloop_block(tf, "fine_gateloop_block", c->fine_pre_gateloop_depth, fine_in, s->fine_states));
    if (s->film)
        TRY(mg_tf_film_apply(tf, &s->fine_film, fine_in));
    s->fine.position = t % per_face;
    TRY(mg_tf_decoder(tf, "fine_decoder", c->fine_attn_depth, c->condition_on_text && c->fine_cross_attend_text &&
                                                                   s->has_text,
                      fine_in, &s->text, &s->fine));
    mg_tensor *out = mg_scratch_3d(&scratch, MG_DTYPE_F32, (int64_t)s->batch, 1, vocab);
    NEED(out);
    TRY(mg_op_matmul(ctx, fine_in, mg_tf_weight(tf, "to_logits.weight"), mg_tf_weight(tf, "to_logits.bias"), true,
                     out));
    TRY(mg_tensor_read(out, logits, out->nbytes));
done:
    mg_scratch_release(&scratch);
    return status;
}
