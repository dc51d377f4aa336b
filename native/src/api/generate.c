/*
 * Public generation and scoring: text (a prompt through a text encoder, or a
 * precomputed embedding) -> MeshTransformer tokens -> meshes decoded by the
 * model's autoencoder; and teacher-forced loss / logits of a token sequence.
 */
#include "api/generate_constraint.h"
#include "api/text_encoder.h"
#include "core/context.h"
#include "model/model.h"
#include "model/tf_generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mg_generate_params mg_generate_default_params(void)
{
    mg_generate_params params;
    memset(&params, 0, sizeof params);
    params.temperature = 1.0f;
    params.top_k_fraction = 0.1f; /* meshgpt-pytorch's filter_kwargs default */
    params.cond_scale = 1.0f;
    params.vertex_reuse = 1.0f;
    params.samples = 1;
    return params;
}

mg_generate_params mg_model_generate_params(const mg_model *model)
{
    mg_generate_params params = mg_generate_default_params();
    if (model)
        mg_sampling_config_apply(&model->info.sampling, &params);
    return params;
}

size_t mg_model_vocabulary_size(const mg_model *model)
{
    return model && model->has_transformer ? (size_t)model->transformer.config.codebook_size + 1 : 0;
}

static mg_status check_transformer(mg_model *model, const char *what)
{
    if (!model)
        return MG_ERR_INVALID_ARGUMENT;
    mg_status status = mg_context_check(model->ctx, what);
    if (status != MG_OK)
        return status;
    if (!model->has_transformer)
        return mg_fail(&model->ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "%s: the model holds only an autoencoder (no MeshTransformer), so it can tokenize and decode "
                       "but not %s: load a MeshTransformer model file",
                       what, strcmp(what, "mg_score") == 0 ? "score" : "generate");
    return MG_OK;
}

/*
 * The conditioner of a text encoder's states, as classifier-free-guidance-
 * pytorch's TextEmbeddingReturner does it: to_latent_dims.0 (a Linear) on
 * every token. Pad positions would be reset to the pad value after it; one
 * prompt has none. Done on the host: a few tokens by dim_text squared.
 */
static mg_status project_to_latent(mg_model *model, float *states, size_t tokens)
{
    mg_diag *diag = &model->ctx->diag;
    const size_t width = (size_t)model->transformer.config.dim_text;
    mg_tensor *w = mg_weights_tensor(&model->weights, "conditioner.to_latent_dims.0.weight");
    mg_tensor *b = mg_weights_tensor(&model->weights, "conditioner.to_latent_dims.0.bias");
    if (!w || !b)
        return mg_fail(diag, MG_ERR_FORMAT, "the model has no conditioner.to_latent_dims.0 weights for a prompt");
    float *weight = malloc(width * width * sizeof *weight);
    float *bias = malloc(width * sizeof *bias);
    float *row = malloc(width * sizeof *row);
    mg_status status = MG_OK;
    if (!weight || !bias || !row)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text conditioner");
    if (status == MG_OK && (status = mg_tensor_read_f32(w, weight, width * width)) == MG_OK)
        status = mg_tensor_read_f32(b, bias, width);
    for (size_t t = 0; t < tokens && status == MG_OK; t++) {
        const float *x = states + t * width;
        for (size_t o = 0; o < width; o++) {
            const float *wo = weight + o * width; /* PyTorch Linear: weight [out, in] */
            double sum = bias[o];
            for (size_t i = 0; i < width; i++)
                sum += (double)wo[i] * x[i];
            row[o] = (float)sum;
        }
        memcpy(states + t * width, row, width * sizeof *row);
    }
    free(weight);
    free(bias);
    free(row);
    return status;
}

/* The text as the transformer takes it: a new [tokens, dim_text] array (NULL for an unconditioned model). */
static mg_status resolve_text(mg_model *model, const mg_text_condition *text, float **out_embeds, size_t *out_tokens)
{
    *out_embeds = NULL;
    *out_tokens = 0;
    mg_diag *diag = &model->ctx->diag;
    const mg_tf_config *c = &model->transformer.config;
    const bool has_prompt = text && text->prompt, has_embedding = text && text->embedding;
    if (!c->condition_on_text) {
        if (has_prompt || has_embedding)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                           "this model is not conditioned on text: leave out the prompt and the text embedding");
        return MG_OK;
    }
    if (has_prompt && has_embedding)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "give either a prompt or a text embedding, not both");
    if (!has_prompt && !has_embedding)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "this model is conditioned on text: give a prompt (with a text encoder) or a precomputed "
                       "text embedding [tokens, %d]",
                       c->dim_text);
    const size_t width = (size_t)c->dim_text;
    if (has_embedding) {
        if (text->embedding_tokens == 0)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the text embedding has no tokens");
        if (text->embedding_width != width)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                           "the text embedding is %zu wide but the model's dim_text is %zu: was it made for "
                           "another model?",
                           text->embedding_width, width);
        float *copy = malloc(text->embedding_tokens * width * sizeof *copy);
        if (!copy)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text embedding");
        memcpy(copy, text->embedding, text->embedding_tokens * width * sizeof *copy);
        *out_embeds = copy;
        *out_tokens = text->embedding_tokens;
        return MG_OK;
    }
    mg_text_encoder *encoder = text->encoder ? text->encoder : model->text_encoder;
    if (!encoder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "a prompt needs a text encoder and this model has no built-in one: load the encoder it was "
                       "trained with (mg_text_encoder_load, `--text-encoder DIR`), or give a precomputed text "
                       "embedding instead");
    float *states = NULL;
    size_t tokens = 0;
    mg_status status = mg_text_encoder_states(encoder, text->prompt, width, "dim_text", diag, &states, &tokens);
    if (status == MG_OK)
        status = project_to_latent(model, states, tokens);
    if (status != MG_OK) {
        free(states);
        return status;
    }
    *out_embeds = states;
    *out_tokens = tokens;
    return MG_OK;
}

static mg_status check_sampling(mg_diag *diag, const mg_generate_params *p)
{
    if (!isfinite(p->temperature) || p->temperature < 0.0f)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "temperature must be 0 (greedy) or positive, not %g",
                       (double)p->temperature);
    if (p->top_k < 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "top_k must be 0 (off) or positive, not %d", p->top_k);
    if (!(p->top_k_fraction >= 0.0f && p->top_k_fraction <= 1.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "top_k_fraction must be in [0, 1], not %g",
                       (double)p->top_k_fraction);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "top_p must be in [0, 1], not %g", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "min_p must be in [0, 1], not %g", (double)p->min_p);
    if (!isfinite(p->cond_scale))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "cond_scale must be finite");
    if (!(p->keep_parallel_frac >= 0.0f && p->keep_parallel_frac <= 1.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "keep_parallel_frac must be in [0, 1], not %g",
                       (double)p->keep_parallel_frac);
    if (!(p->vertex_reuse == 0.0f || (p->vertex_reuse >= 1.0f && p->vertex_reuse <= 1e6f)))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "vertex_reuse must be 0 or 1 (off) or up to 1e6, not %g",
                       (double)p->vertex_reuse);
    if (p->samples == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "samples must be at least 1");
    return MG_OK;
}

/* Checks tokens against the model: shape, and every id a codebook entry (allow_pad: -1 too). */
static mg_status check_token_ids(mg_model *model, const mg_tokens *tokens, const char *what, bool allow_pad)
{
    mg_diag *diag = &model->ctx->diag;
    const mg_tf_config *c = &model->transformer.config;
    if (!tokens->tokens && tokens->num_faces > 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the token array is NULL", what);
    if (tokens->face_size != (uint32_t)c->face_size || tokens->levels != (uint32_t)c->num_quantizers)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "%s has %u vertices per face and %u levels, but the model uses %d and %d: were the tokens "
                       "made with another model?",
                       what, tokens->face_size, tokens->levels, c->face_size, c->num_quantizers);
    const size_t n = tokens->num_faces * tokens->face_size * tokens->levels;
    for (size_t i = 0; i < n; i++) {
        const int32_t t = tokens->tokens[i];
        if ((t < 0 && !(allow_pad && t == -1)) || t >= c->codebook_size)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: token %zu is %d, outside the codebook [0, %d)", what,
                           i, (int)t, c->codebook_size);
    }
    return MG_OK;
}

typedef struct progress_state {
    const mg_generate_params *params;
    size_t per_face;
    size_t samples;
    uint32_t face_size, levels;
} progress_state;

/* mg_tf_generate calls this after every token; the caller hears about whole faces. */
static bool on_step(size_t tokens, const int32_t *rows, const bool *finished, void *user)
{
    const progress_state *state = user;
    const mg_generate_params *p = state->params;
    if (tokens % state->per_face != 0)
        return true;
    if (p->progress && !p->progress(tokens / state->per_face, tokens, p->progress_user_data))
        return false;
    for (size_t s = 0; p->on_face && s < state->samples; s++) {
        if (finished[s])
            continue;
        /* A view of the row: the callback must not keep it past its return. */
        mg_tokens so_far = {.tokens = (int32_t *)(rows + s * tokens), .num_faces = tokens / state->per_face,
                            .face_size = state->face_size, .levels = state->levels};
        if (!p->on_face(s, &so_far, p->on_face_user_data))
            return false;
    }
    return true;
}

/* The number of tokens to generate up to (completion included), or an error. */
static mg_status token_limit(mg_model *model, const mg_generate_params *p, size_t *out_max_tokens)
{
    mg_diag *diag = &model->ctx->diag;
    const mg_tf_config *c = &model->transformer.config;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const size_t position_faces = (size_t)c->max_seq_len / per_face;
    const size_t decode_faces = (size_t)model->autoencoder.config.max_faces;
    size_t faces = p->max_faces;
    if (faces == 0)
        faces = position_faces < decode_faces ? position_faces : decode_faces;
    if (faces > position_faces)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "max_faces %zu is beyond the model's position table: max_seq_len %d allows %zu faces of %zu "
                       "tokens",
                       faces, c->max_seq_len, position_faces, per_face);
    if (faces > decode_faces)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "max_faces %zu is more than the %zu faces the model decodes",
                       faces, decode_faces);
    size_t max_tokens = faces * per_face;
    if (p->max_tokens > 0) {
        if (p->max_tokens > (size_t)c->max_seq_len)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "max_tokens %zu is beyond the model's max_seq_len %d",
                           p->max_tokens, c->max_seq_len);
        max_tokens = p->max_tokens < max_tokens ? p->max_tokens : max_tokens;
    }
    max_tokens -= max_tokens % per_face;
    if (max_tokens == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the limits (max_faces %zu, max_tokens %zu) leave no room for one face of %zu tokens",
                       p->max_faces, p->max_tokens, per_face);
    if (p->completion && p->completion->num_faces * per_face > max_tokens)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the mesh to complete has %zu faces, more than the limit of %zu faces: raise max_faces or "
                       "give a smaller mesh",
                       p->completion->num_faces, max_tokens / per_face);
    *out_max_tokens = max_tokens;
    return MG_OK;
}

static void free_outputs(mg_mesh *meshes, mg_tokens *tokens, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (meshes)
            mg_mesh_free(&meshes[i]);
        if (tokens)
            mg_tokens_free(&tokens[i]);
    }
}

/* Decodes the samples that have faces in one batch; a sample without faces is an empty mesh. */
static mg_status decode_samples(mg_model *model, const mg_tokens *tokens, size_t count, mg_mesh *out_meshes)
{
    const mg_tokens **nonempty = malloc(count * sizeof *nonempty);
    mg_tokens *batch = malloc(count * sizeof *batch);
    mg_mesh *decoded = malloc(count * sizeof *decoded);
    size_t n = 0;
    mg_status status = MG_OK;
    if (!nonempty || !batch || !decoded) {
        status = mg_fail(&model->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for decoding");
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        if (tokens[i].num_faces > 0) {
            nonempty[n] = &tokens[i];
            batch[n++] = tokens[i];
        }
    if (n > 0 && (status = mg_decode(model, batch, n, decoded)) != MG_OK)
        goto done;
    for (size_t i = 0, k = 0; i < count; i++) {
        if (k < n && nonempty[k] == &tokens[i]) {
            out_meshes[i] = decoded[k++];
        } else {
            memset(&out_meshes[i], 0, sizeof out_meshes[i]);
            out_meshes[i].face_size = tokens[i].face_size;
        }
    }
done:
    free(nonempty);
    free(batch);
    free(decoded);
    return status;
}

mg_status mg_generate(mg_model *model, const mg_generate_params *params, mg_mesh *out_meshes, mg_tokens *out_tokens)
{
    mg_status status = check_transformer(model, "mg_generate");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &model->ctx->diag;
    if (!params || (!out_meshes && !out_tokens))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_generate: give parameters and at least one output array (meshes or tokens)");
    const mg_tf_config *c = &model->transformer.config;
    const size_t per_face = (size_t)mg_tf_config_tokens_per_face(c), samples = params->samples;
    size_t max_tokens = 0;
    if ((status = check_sampling(diag, params)) != MG_OK || (status = token_limit(model, params, &max_tokens)) != MG_OK)
        return status;
    if (params->completion && (status = check_token_ids(model, params->completion, "the mesh to complete", false)) != MG_OK)
        return status;
    float *embeds = NULL;
    size_t text_tokens = 0;
    if ((status = resolve_text(model, &params->text, &embeds, &text_tokens)) != MG_OK)
        return status;

    const size_t width = (size_t)c->dim_text;
    const size_t prompt_length = params->completion ? params->completion->num_faces * per_face : 0;
    float *batch_embeds = NULL;
    int32_t *prompt = NULL, *codes = NULL;
    size_t *lengths = NULL;
    mg_tf_row_end *ends = NULL;
    mg_gen_constraint *constraint = NULL;
    mg_tokens *tokens = calloc(samples, sizeof *tokens);
    codes = malloc(samples * max_tokens * sizeof *codes);
    lengths = calloc(samples, sizeof *lengths);
    ends = calloc(samples, sizeof *ends);
    if (embeds)
        batch_embeds = malloc(samples * text_tokens * width * sizeof *batch_embeds);
    if (prompt_length)
        prompt = malloc(samples * prompt_length * sizeof *prompt);
    if (!tokens || !codes || !lengths || !ends || (embeds && !batch_embeds) || (prompt_length && !prompt)) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for generation");
        goto done;
    }
    /* Every sample gets the same text and the same partial mesh; they differ by the random draws. */
    for (size_t s = 0; s < samples; s++) {
        if (embeds)
            memcpy(batch_embeds + s * text_tokens * width, embeds, text_tokens * width * sizeof *embeds);
        if (prompt_length)
            memcpy(prompt + s * prompt_length, params->completion->tokens, prompt_length * sizeof *prompt);
    }
    mg_tf_sampling sampling = mg_tf_default_sampling();
    sampling.temperature = params->temperature;
    sampling.top_k = params->top_k;
    sampling.top_k_fraction = params->top_k_fraction;
    sampling.top_p = params->top_p;
    sampling.min_p = params->min_p;
    sampling.cond_scale = params->cond_scale;
    sampling.seed = params->seed;
    sampling.remove_parallel_component = params->remove_parallel_component;
    sampling.keep_parallel_frac = params->keep_parallel_frac;
    sampling.row_ends = ends;
    if (!params->unconstrained || params->vertex_reuse > 1.0f) {
        if ((status = mg_gen_constraint_create(model, samples, !params->unconstrained, params->vertex_reuse,
                                               &constraint)) != MG_OK)
            goto done;
        sampling.adjust = mg_gen_constraint_adjust;
        sampling.accept = mg_gen_constraint_accept;
        sampling.hook_user = constraint;
    }
    mg_tf_text text = {.embeds = batch_embeds, .tokens = text_tokens, .drop = false};
    progress_state progress = {.params = params, .per_face = per_face, .samples = samples,
                               .face_size = (uint32_t)c->face_size, .levels = (uint32_t)c->num_quantizers};
    status = mg_tf_generate(&model->transformer, embeds ? &text : NULL, samples, prompt, prompt_length, max_tokens,
                            &sampling, on_step, &progress, codes, lengths);
    for (size_t s = 0; s < samples && status == MG_OK; s++) {
        tokens[s].num_faces = lengths[s] / per_face;
        tokens[s].face_size = (uint32_t)c->face_size;
        tokens[s].levels = (uint32_t)c->num_quantizers;
        tokens[s].tokens = malloc((lengths[s] ? lengths[s] : 1) * sizeof(int32_t));
        if (!tokens[s].tokens) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the tokens");
            break;
        }
        memcpy(tokens[s].tokens, codes + s * max_tokens, lengths[s] * sizeof(int32_t));
    }
    if (status == MG_OK && out_meshes)
        status = decode_samples(model, tokens, samples, out_meshes);
    for (size_t s = 0; s < samples && status == MG_OK && params->out_ends; s++)
        params->out_ends[s] = ends[s] == MG_TF_END_REFUSED ? MG_GENERATE_END_REFUSED
                              : ends[s] == MG_TF_END_LIMIT ? MG_GENERATE_END_LIMIT : MG_GENERATE_END_EOS;
    if (status == MG_OK && out_tokens)
        memcpy(out_tokens, tokens, samples * sizeof *tokens);
    else
        free_outputs(NULL, tokens, tokens ? samples : 0);
done:
    mg_gen_constraint_free(constraint);
    free(tokens);
    free(embeds);
    free(batch_embeds);
    free(prompt);
    free(codes);
    free(lengths);
    free(ends);
    return status;
}

mg_status mg_score(mg_model *model, const mg_tokens *tokens, const mg_text_condition *text, double *out_loss,
                   float *out_logits)
{
    mg_status status = check_transformer(model, "mg_score");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &model->ctx->diag;
    if (!tokens || (!out_loss && !out_logits))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_score: give tokens and at least one output (loss or logits)");
    if ((status = check_token_ids(model, tokens, "the tokens to score", true)) != MG_OK)
        return status;
    const mg_tf_config *c = &model->transformer.config;
    const size_t length = tokens->num_faces * tokens->face_size * tokens->levels;
    if (length == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the tokens to score are empty");
    /* The loss appends EOS, which also needs a position. */
    if (length + 1 > (size_t)c->max_seq_len)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "%zu tokens (and EOS) do not fit the model's max_seq_len %d", length, c->max_seq_len);
    float *embeds = NULL;
    size_t text_tokens = 0;
    if ((status = resolve_text(model, text, &embeds, &text_tokens)) != MG_OK)
        return status;
    mg_tf_text t = {.embeds = embeds, .tokens = text_tokens, .drop = false};
    if (out_loss)
        status = mg_tf_loss(&model->transformer, tokens->tokens, 1, length, embeds ? &t : NULL, out_loss);
    if (status == MG_OK && out_logits)
        status = mg_tf_logits(&model->transformer, tokens->tokens, 1, length, embeds ? &t : NULL, out_logits);
    free(embeds);
    return status;
}
