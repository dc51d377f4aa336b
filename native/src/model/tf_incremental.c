#include "model/tf_incremental.h"

#include "model/tf_internal.h"
#include "ops/ops.h"
#include "ops/ops_transformer.h"
#include "ops/recording.h"

#include <stdlib.h>
#include <string.h>

/* The step values of the inputs buffer, written before every step (the ops read them on the device). */
enum {
    STEP_FINE_POSITION,   /* position within the face: the fine caches' row, keys and query offset */
    STEP_COARSE_POSITION, /* rows in the coarse caches before this step */
    STEP_FIRST_TOKEN,     /* absolute position of the first embedded token */
    STEP_VALUES
};

/* The kinds of step: the first one (sos tokens, runs once, never recorded), a token inside a face (fine
 * decoder only), and the first token of a face (the completed face through the coarse decoder, then fine). */
typedef enum step_kind { STEP_START, STEP_TOKEN, STEP_FACE, STEP_KINDS } step_kind;

struct mg_tf_stream {
    const mg_transformer *tf;
    size_t batch, max_tokens;
    mg_scratch persistent;          /* caches, states, text context */
    decoder_context text;           /* the text context of both decoders (same rows) */
    decoder_context coarse_text;    /* the same with the coarse decoder's adaptive norm gains, if any */
    bool has_text;
    mg_tensor *coarse_states[MG_TF_MAX_LAYERS], *fine_states[MG_TF_MAX_LAYERS];
    mg_tf_decoder_cache coarse, fine;
    size_t coarse_position;
    bool film;                      /* FiLM text conditioning: gamma/beta computed once per stream */
    mg_tf_film coarse_film, fine_film;
    /* Inputs of a step, one i32 buffer written with one transfer: STEP_VALUES step values, then the token ids
     * [batch, tokens per face] (a face step) or [batch, 1] (a token step, the first batch values). */
    mg_tensor *inputs, *step[STEP_VALUES], *face_ids, *token_ids;
    int32_t *inputs_host;
    mg_tensor *logits;              /* [batch, 1, vocab] */
    mg_recording *recordings[STEP_KINDS]; /* captured at the first step of each kind, then replayed */
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

/* The inputs buffer and its views, the logits. */
static mg_status step_inputs(mg_tf_stream *s)
{
    mg_scratch *p = &s->persistent;
    const mg_tf_config *c = &s->tf->config;
    const int64_t per_face = mg_tf_config_tokens_per_face(c), batch = (int64_t)s->batch;
    const int64_t count = STEP_VALUES + batch * per_face;
    s->inputs_host = calloc((size_t)count, sizeof *s->inputs_host);
    if (!s->inputs_host)
        return mg_fail(&s->tf->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the decoding state");
    s->inputs = mg_scratch_tensor(p, MG_DTYPE_I32, 1, &count);
    if (!s->inputs)
        return p->status;
    const int64_t one = 1, face_shape[2] = {batch, per_face}, token_shape[2] = {batch, 1};
    for (int i = 0; i < STEP_VALUES; i++)
        if (!(s->step[i] = mg_scratch_view_at(p, s->inputs, (size_t)i * sizeof(int32_t), 1, &one)))
            return p->status;
    s->face_ids = mg_scratch_view_at(p, s->inputs, STEP_VALUES * sizeof(int32_t), 2, face_shape);
    s->token_ids = mg_scratch_view_at(p, s->inputs, STEP_VALUES * sizeof(int32_t), 2, token_shape);
    s->logits = mg_scratch_3d(p, MG_DTYPE_F32, batch, 1, c->codebook_size + 1);
    if (!s->face_ids || !s->token_ids || !s->logits)
        return p->status;
    s->coarse.step = s->step[STEP_COARSE_POSITION];
    s->fine.step = s->step[STEP_FINE_POSITION];
    return MG_OK;
}

void mg_tf_stream_free(mg_tf_stream *stream)
{
    if (!stream)
        return;
    /* Before the tensors they bind. */
    for (int i = 0; i < STEP_KINDS; i++)
        mg_recording_free(stream->recordings[i]);
    mg_scratch_release(&stream->persistent);
    free(stream->inputs_host);
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
    s->coarse_text = s->text;
    /* The pooled text does not change during decoding: the adaptive norms' gains are computed once. */
    if (status == MG_OK && mg_tf_uses_adaptive_norm(c))
        status = mg_tf_adaptive_norm_gains(tf, &s->persistent, s->has_text ? &s->text : NULL, batch,
                                           &s->coarse_text.norm_gains);
    const bool fine_cross = c->condition_on_text && c->fine_cross_attend_text && s->has_text;
    if (status == MG_OK)
        status = cache_tensors(s, c->attn_depth, c->condition_on_text && s->has_text, coarse_rows, &s->coarse);
    if (status == MG_OK)
        status = cache_tensors(s, c->fine_attn_depth, fine_cross, per_face, &s->fine);
    if (status == MG_OK)
        status = states(s, c->coarse_pre_gateloop_depth, s->coarse_states);
    if (status == MG_OK)
        status = states(s, c->fine_pre_gateloop_depth, s->fine_states);
    if (status == MG_OK)
        status = step_inputs(s);
    if (status != MG_OK) {
        mg_tf_stream_free(s);
        return status;
    }
    *out = s;
    return MG_OK;
}


/* Token embeddings of `ids` [B, n] (positions from STEP_FIRST_TOKEN on) into e [B, n, d]. */
static mg_status embed_tokens(const mg_tf_stream *s, const mg_tensor *ids, mg_tensor *e)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_context *ctx = tf->ctx;
    const mg_tensor *first = s->step[STEP_FIRST_TOKEN];
    mg_status status = mg_op_embedding(ctx, mg_tf_weight(tf, "token_embed.weight"), ids, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows_at(ctx, e, mg_tf_weight(tf, "abs_pos_emb.weight"), 0, 1,
                                         (size_t)c->max_seq_len, first, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows_at(ctx, e, mg_tf_weight(tf, "quantize_level_embed"), 0, 1,
                                         (size_t)c->num_quantizers, first, e);
    if (status == MG_OK)
        status = mg_op_add_table_rows_at(ctx, e, mg_tf_weight(tf, "vertex_embed"), 0, (size_t)c->num_quantizers,
                                         (size_t)c->face_size, first, e);
    return status;
}

/* The coarse decoder over new rows x [B, n, d] (sos tokens or one face token); returns the last row [B, 1, d]. */
static mg_status coarse_step(mg_tf_stream *s, mg_scratch *scratch, mg_tensor *x, mg_tensor **last)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_status status = mg_tf_gateloop_block(tf, "coarse_gateloop_block", c->coarse_pre_gateloop_depth, x,
                                            s->coarse_states);
    s->coarse.position = 0; /* the position is the step value STEP_COARSE_POSITION */
    if (status == MG_OK)
        status = mg_tf_decoder(tf, "decoder", c->attn_depth, c->condition_on_text && s->has_text, x,
                               &s->coarse_text, &s->coarse);
    if (status != MG_OK)
        return status;
    const int64_t n = x->shape[1];
    if (n == 1) {
        *last = x;
        return MG_OK;
    }
    /* Several rows (the sos tokens, never recorded): gather each batch row's last one. */
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

/* The ops of one step, reading the inputs buffer and writing s->logits: run directly, or captured. */
static mg_status step_ops(mg_tf_stream *s, step_kind kind)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_context *ctx = tf->ctx;
    const int64_t per_face = mg_tf_config_tokens_per_face(c), d = c->dim, batch = (int64_t)s->batch;
    mg_scratch scratch;
    mg_scratch_init(&scratch, ctx);
    mg_status status = MG_OK;
    mg_tensor *fine_in = NULL;
    if (kind == STEP_START || kind == STEP_FACE) {
        mg_tensor *x = NULL;
        if (kind == STEP_START) {
            const int64_t sos = c->num_sos_tokens;
            int32_t *ids = malloc((size_t)(batch * sos) * sizeof *ids);
            if (!ids) {
                status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
                goto done;
            }
            for (int64_t i = 0; i < batch * sos; i++)
                ids[i] = (int32_t)(i % sos);
            int64_t id_shape[2] = {batch, sos};
            mg_tensor *id_tensor = mg_scratch_i32(&scratch, ids, 2, id_shape);
            free(ids);
            x = mg_scratch_3d(&scratch, MG_DTYPE_F32, batch, sos, d);
            NEED(id_tensor);
            NEED(x);
            TRY(mg_op_embedding(ctx, mg_tf_weight(tf, "sos_token"), id_tensor, x));
        } else {
            /* The face just completed becomes one coarse token. */
            mg_tensor *e = mg_scratch_3d(&scratch, MG_DTYPE_F32, batch, per_face, d);
            NEED(e);
            TRY(embed_tokens(s, s->face_ids, e));
            int64_t face_shape[3] = {batch, 1, per_face * d};
            mg_tensor *face = mg_scratch_view(&scratch, e, 3, face_shape);
            x = mg_scratch_3d(&scratch, MG_DTYPE_F32, batch, 1, d);
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
        fine_in = mg_scratch_3d(&scratch, MG_DTYPE_F32, batch, 1, d);
        NEED(fine_in);
        TRY(embed_tokens(s, s->token_ids, fine_in));
    }
    TRY(mg_tf_gateloop_block(tf, "fine_gateloop_block", c->fine_pre_gateloop_depth, fine_in, s->fine_states));
    mg_tensor *fine_x = NULL; /* fine_in at the fine width */
    TRY(mg_tf_project_to_fine(tf, &scratch, fine_in, &fine_x));
    if (s->film)
        TRY(mg_tf_film_apply(tf, &s->fine_film, fine_x));
    s->fine.position = 0; /* the position is the step value STEP_FINE_POSITION */
    TRY(mg_tf_decoder(tf, "fine_decoder", c->fine_attn_depth, c->condition_on_text && c->fine_cross_attend_text &&
                                                                   s->has_text,
                      fine_x, &s->text, &s->fine));
    TRY(mg_op_matmul(ctx, fine_x, mg_tf_weight(tf, "to_logits.weight"), mg_tf_weight(tf, "to_logits.bias"), true,
                     s->logits));
done:
    /* While capturing, the freed temporaries stay with the recording. */
    mg_scratch_release(&scratch);
    return status;
}

/* Runs a step's ops: the first step of a kind is captured, every one replays the recording (Vulkan), or the
 * ops run directly (CPU, MESHGPT_REPLAY=0, the start step). */
static mg_status run_step(mg_tf_stream *s, step_kind kind)
{
    mg_context *ctx = s->tf->ctx;
    if (kind == STEP_START || !mg_recording_available(ctx))
        return step_ops(s, kind);
    if (!s->recordings[kind]) {
        mg_status status = mg_recording_begin(ctx);
        if (status != MG_OK)
            return status;
        if ((status = step_ops(s, kind)) != MG_OK) {
            mg_recording_abort(ctx);
            return status;
        }
        if ((status = mg_recording_end(ctx, &s->recordings[kind])) != MG_OK)
            return status;
    }
    return mg_recording_replay(s->recordings[kind]);
}

mg_status mg_tf_stream_step(mg_tf_stream *s, const int32_t *tokens, size_t stride, size_t t, float *logits)
{
    const mg_transformer *tf = s->tf;
    const mg_tf_config *c = &tf->config;
    mg_context *ctx = tf->ctx;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    if (t >= s->max_tokens)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "the decoding state holds %zu tokens", s->max_tokens);
    const step_kind kind = t == 0 ? STEP_START : t % per_face == 0 ? STEP_FACE : STEP_TOKEN;
    /* The step's inputs: positions, and the tokens it embeds (the completed face, or the last token). */
    const size_t first = kind == STEP_START ? 0 : kind == STEP_FACE ? t - per_face : t - 1;
    const size_t count = kind == STEP_START ? 0 : kind == STEP_FACE ? per_face : 1;
    int32_t *in = s->inputs_host;
    in[STEP_FINE_POSITION] = (int32_t)(t % per_face);
    in[STEP_COARSE_POSITION] = (int32_t)s->coarse_position;
    in[STEP_FIRST_TOKEN] = (int32_t)first;
    for (size_t b = 0; b < s->batch; b++)
        for (size_t i = 0; i < count; i++) {
            int32_t id = tokens[b * stride + first + i];
            in[STEP_VALUES + b * count + i] = id < 0 ? 0 : id;
        }
    mg_status status = mg_tensor_write(s->inputs, in, s->inputs->nbytes);
    if (status == MG_OK)
        status = run_step(s, kind);
    if (status != MG_OK)
        return status;
    s->coarse_position += kind == STEP_START ? (size_t)c->num_sos_tokens : kind == STEP_FACE ? 1 : 0;
    return mg_tensor_read(s->logits, logits, s->logits->nbytes);
}
