/* The MeshTransformer as an mg_trainable: parameters, batches (tokens and text), saving. See tf_train.h. */
#include "train/tf_train_internal.h"

#include "core/context.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model/model_write.h"
#include "model/tf_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

void tft_arena_init(tft_arena *arena, mg_context *ctx)
{
    memset(arena, 0, sizeof *arena);
    arena->ctx = ctx;
}

static mg_tensor *keep(tft_arena *arena, mg_status status, mg_tensor *tensor)
{
    if (status != MG_OK) {
        if (arena->status == MG_OK)
            arena->status = status;
        return NULL;
    }
    if (arena->count == arena->capacity) {
        size_t capacity = arena->capacity ? 2 * arena->capacity : 64;
        mg_tensor **grown = realloc(arena->items, capacity * sizeof *grown);
        if (!grown) {
            mg_tensor_free(tensor);
            arena->status = mg_fail(&arena->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            return NULL;
        }
        arena->items = grown;
        arena->capacity = capacity;
    }
    arena->items[arena->count++] = tensor;
    return tensor;
}

mg_tensor *tft_tensor(tft_arena *arena, int ndim, const int64_t *shape)
{
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_create(arena->ctx, MG_DTYPE_F32, ndim, shape, &tensor);
    return keep(arena, status, tensor);
}

mg_tensor *tft_2d(tft_arena *arena, int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    return tft_tensor(arena, 2, shape);
}

mg_tensor *tft_3d(tft_arena *arena, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return tft_tensor(arena, 3, shape);
}

mg_tensor *tft_zeros_like(tft_arena *arena, const mg_tensor *like)
{
    mg_tensor *tensor = tft_tensor(arena, like->ndim, like->shape);
    if (tensor) {
        mg_status status = mg_tensor_fill_u32(tensor, 0);
        if (status != MG_OK) {
            arena->status = status;
            return NULL;
        }
    }
    return tensor;
}

mg_tensor *tft_copy(tft_arena *arena, const mg_tensor *src)
{
    mg_tensor *tensor = tft_tensor(arena, src->ndim, src->shape);
    if (tensor) {
        mg_status status = mg_op_scale(arena->ctx, src, 1.0f, 0.0f, tensor);
        if (status != MG_OK) {
            arena->status = status;
            return NULL;
        }
    }
    return tensor;
}

mg_tensor *tft_view(tft_arena *arena, mg_tensor *parent, size_t byte_offset, int ndim, const int64_t *shape)
{
    if (!parent)
        return NULL;
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_view(parent, byte_offset, parent->dtype, ndim, shape, &tensor);
    return keep(arena, status, tensor);
}

mg_tensor *tft_i32(tft_arena *arena, const int32_t *values, int ndim, const int64_t *shape)
{
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_create(arena->ctx, MG_DTYPE_I32, ndim, shape, &tensor);
    if (status == MG_OK) {
        status = mg_tensor_write(tensor, values, tensor->nbytes);
        if (status != MG_OK) {
            mg_tensor_free(tensor);
            tensor = NULL;
        }
    }
    return keep(arena, status, tensor);
}

void tft_arena_free(tft_arena *arena)
{
    for (size_t i = arena->count; i > 0; i--)
        mg_tensor_free(arena->items[i - 1]);
    free(arena->items);
    arena->items = NULL;
    arena->count = arena->capacity = 0;
}

/* ---- parameters by name ---- */

static ptrdiff_t find_index(const tf_train *t, const char *fmt, va_list args)
{
    char name[MG_WEIGHT_NAME_MAX];
    vsnprintf(name, sizeof name, fmt, args);
    for (size_t i = 0; i < t->master.count; i++)
        if (strcmp(t->master.items[i].name, name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

mg_tensor *tft_param(const tf_train *t, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    ptrdiff_t i = find_index(t, fmt, args);
    va_end(args);
    return i < 0 ? NULL : t->master.items[i].tensor;
}

mg_tensor *tft_grad(const tf_train *t, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    ptrdiff_t i = find_index(t, fmt, args);
    va_end(args);
    return i < 0 ? NULL : t->grads[i];
}

/* ---- tokens ---- */

static uint64_t mesh_hash(const mg_mesh *mesh)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    const uint8_t *bytes[2] = {(const uint8_t *)mesh->vertices, (const uint8_t *)mesh->faces};
    size_t sizes[2] = {mesh->num_vertices * 3 * sizeof(float), mesh->num_faces * mesh->face_size * sizeof(int32_t)};
    for (int part = 0; part < 2; part++)
        for (size_t i = 0; i < sizes[part]; i++)
            h = (h ^ bytes[part][i]) * 1099511628211ull;
    h ^= (uint64_t)mesh->num_faces << 32 ^ mesh->num_vertices;
    return h ? h : 1;
}

/* The batch's tokens [count, max_faces * per_face] with -1 pads: from the cache where the item's mesh is the one
 * cached, else the whole batch is tokenized with the frozen autoencoder and cached. */
static mg_status batch_codes(tf_train *t, const mg_train_batch *batch, int32_t **out_codes, size_t *out_length)
{
    mg_diag *diag = &t->ctx->diag;
    const size_t per_face = (size_t)t->per_face, length = batch->max_faces * per_face;
    uint64_t *hashes = malloc(batch->count * sizeof *hashes);
    int32_t *codes = malloc(batch->count * (length ? length : 1) * sizeof *codes);
    int32_t *packed = NULL;
    mg_status status = MG_OK;
    if (!hashes || !codes) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the batch's tokens");
        goto done;
    }
    size_t largest = 0;
    bool all_cached = true;
    for (size_t i = 0; i < batch->count; i++) {
        hashes[i] = mesh_hash(&batch->meshes[i]);
        largest = batch->indices[i] > largest ? batch->indices[i] : largest;
        const size_t k = batch->indices[i];
        all_cached = all_cached && k < t->token_cache_size && t->token_cache[k].hash == hashes[i] &&
                     t->token_cache[k].faces == batch->meshes[i].num_faces;
    }
    if (!all_cached) {
        if (largest >= t->token_cache_size) {
            tft_token_entry *grown = realloc(t->token_cache, (largest + 1) * sizeof *grown);
            if (!grown) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the token cache");
                goto done;
            }
            memset(grown + t->token_cache_size, 0, (largest + 1 - t->token_cache_size) * sizeof *grown);
            t->token_cache = grown;
            t->token_cache_size = largest + 1;
        }
        packed = malloc((batch->packed.num_faces ? batch->packed.num_faces : 1) * per_face * sizeof *packed);
        if (!packed) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the batch's tokens");
            goto done;
        }
        if ((status = mg_ae_tokenize(&t->ae, &batch->packed, packed, NULL)) != MG_OK)
            goto done;
        for (size_t i = 0; i < batch->count; i++) {
            const size_t first = batch->packed.face_offsets[i], faces = batch->packed.face_offsets[i + 1] - first;
            tft_token_entry *e = &t->token_cache[batch->indices[i]];
            int32_t *copy = malloc((faces ? faces : 1) * per_face * sizeof *copy);
            if (!copy) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the token cache");
                goto done;
            }
            memcpy(copy, packed + first * per_face, faces * per_face * sizeof *copy);
            free(e->codes);
            e->codes = copy;
            e->faces = faces;
            e->hash = hashes[i];
        }
    }
    for (size_t i = 0; i < batch->count; i++) {
        const tft_token_entry *e = &t->token_cache[batch->indices[i]];
        int32_t *row = codes + i * length;
        for (size_t k = 0; k < length; k++)
            row[k] = k < e->faces * per_face ? e->codes[k] : -1;
    }
    *out_codes = codes;
    *out_length = length;
    codes = NULL;
done:
    free(hashes);
    free(codes);
    free(packed);
    return status;
}

/* ---- the mg_trainable functions ---- */

static mg_status run_pass(tf_train *t, const int32_t *codes, size_t batch, size_t length, const char *const *captions,
                          const float *embeds, size_t embed_tokens, const bool *drop, bool backward, float grad_scale,
                          double *loss)
{
    const mg_tf_config *c = &t->config;
    tft_arena arena;
    tft_arena_init(&arena, t->ctx);
    tft_text_batch text;
    memset(&text, 0, sizeof text);
    mg_status status = MG_OK;
    if (c->condition_on_text && embeds) {
        /* Given conditioner outputs: the mask as mg_tf_text_context derives it (rows all equal to the pad value
         * are hidden), dropped rows fully hidden. */
        const size_t width = (size_t)c->dim_text;
        text.mask = malloc(batch * embed_tokens * sizeof *text.mask);
        if (!text.mask) {
            status = mg_fail(&t->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the text mask");
            goto done;
        }
        for (size_t r = 0; r < batch * embed_tokens; r++) {
            bool visible = false;
            for (size_t i = 0; i < width && !visible; i++)
                visible = embeds[r * width + i] != c->text_embed_pad_value;
            text.mask[r] = visible && !(drop && drop[r / embed_tokens]);
        }
        text.input.context = tft_3d(&arena, (int64_t)batch, (int64_t)embed_tokens, (int64_t)width);
        if (!text.input.context) {
            status = arena.status;
            goto done;
        }
        if ((status = mg_tensor_write(text.input.context, embeds, text.input.context->nbytes)) != MG_OK)
            goto done;
        text.input.mask = text.mask;
        text.input.tokens = embed_tokens;
    } else if (c->condition_on_text) {
        if ((status = tft_text_prepare(t, &arena, captions, drop, batch, backward, &text)) != MG_OK)
            goto done;
    }
    status = tft_pass(t, codes, batch, length, c->condition_on_text ? &text.input : NULL, backward, grad_scale, loss);
    if (status == MG_OK && backward && text.input.d_context)
        status = tft_text_backward(t, &arena, &text);
done:
    tft_text_batch_free(&text);
    tft_arena_free(&arena);
    return status;
}

static mg_status tf_step(mg_trainable *self, const mg_train_batch *batch, bool backward, float grad_scale, mg_rng *rng,
                         mg_train_losses *losses)
{
    tf_train *t = self->impl;
    mg_diag *diag = &t->ctx->diag;
    if (!batch || batch->count == 0 || !losses)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "transformer step: give a non-empty batch and a loss record");
    memset(losses, 0, sizeof *losses);
    int32_t *codes = NULL;
    size_t length = 0;
    mg_status status = batch_codes(t, batch, &codes, &length);
    bool *drop = calloc(batch->count, sizeof *drop);
    if (status == MG_OK && !drop)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    if (status == MG_OK && t->config.condition_on_text && backward && rng && t->config.cond_drop_prob > 0.0f)
        for (size_t i = 0; i < batch->count; i++) /* one draw per item, in batch order */
            drop[i] = mg_rng_uniform(rng) < (double)t->config.cond_drop_prob;
    double loss = 0.0;
    if (status == MG_OK)
        status = run_pass(t, codes, batch->count, length, batch->captions, NULL, 0, drop, backward, grad_scale, &loss);
    if (status == MG_OK) {
        losses->total = loss;
        losses->terms = 1;
        losses->names[0] = "ce";
        losses->values[0] = loss;
    }
    free(codes);
    free(drop);
    return status;
}

mg_status mg_tf_trainable_codes_step(mg_trainable *trainable, const int32_t *codes, size_t batch, size_t length,
                                     const mg_tf_train_text *text, bool backward, float grad_scale, double *loss)
{
    if (!trainable || !trainable->impl || strcmp(trainable->kind, "transformer") != 0 || !codes || !loss)
        return MG_ERR_INVALID_ARGUMENT;
    tf_train *t = trainable->impl;
    if (t->config.condition_on_text && (!text || (!(text->embeds && text->tokens) && !text->captions)))
        return mg_fail(&t->ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "this transformer is conditioned on text: give text embeddings [batch, tokens, %d] or "
                       "captions", t->config.dim_text);
    return run_pass(t, codes, batch, length, text ? text->captions : NULL, text ? text->embeds : NULL,
                    text ? text->tokens : 0, text ? text->drop : NULL, backward, grad_scale, loss);
}

static mg_status tf_save_model(mg_trainable *self, const char *path, bool use_ema)
{
    tf_train *t = self->impl;
    mg_diag *diag = &t->ctx->diag;
    const size_t n = t->master.count;
    mg_st_write_tensor *tensors = calloc(n ? n : 1, sizeof *tensors);
    void **buffers = calloc(n ? n : 1, sizeof *buffers);
    mg_status status = MG_OK;
    if (!tensors || !buffers)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
    size_t p = 0; /* index into self->params, which lists the float tensors in master order */
    for (size_t i = 0; i < n && status == MG_OK; i++) {
        const mg_weight *w = &t->master.items[i];
        mg_st_write_tensor *out = &tensors[i];
        out->name = w->name;
        if (!w->tensor) { /* an integer buffer (LFQ mask) kept on the host */
            out->dtype = MG_ST_I64;
            out->ndim = 1;
            out->shape[0] = (int64_t)w->count;
            out->data = w->ints;
            continue;
        }
        const mg_tensor *source = w->tensor;
        if (use_ema && p < self->count && self->params[p].ema)
            source = self->params[p].ema;
        p++;
        out->dtype = MG_ST_F32;
        out->ndim = source->ndim;
        memcpy(out->shape, source->shape, (size_t)source->ndim * sizeof source->shape[0]);
        buffers[i] = malloc(source->nbytes);
        if (!buffers[i]) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
            break;
        }
        status = mg_tensor_read(source, buffers[i], source->nbytes);
        out->data = buffers[i];
    }
    if (status == MG_OK)
        status = mg_model_write(path, &self->config, tensors, n, diag);
    for (size_t i = 0; buffers && i < n; i++)
        free(buffers[i]);
    free(buffers);
    free(tensors);
    return status;
}

static void tf_train_free(tf_train *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->grads && i < t->master.count; i++)
        mg_tensor_free(t->grads[i]);
    free(t->grads);
    mg_weights_free(&t->master);
    mg_text_encoder_free(t->frozen_encoder);
    mg_wordpiece_free(t->vocab);
    for (size_t i = 0; i < t->token_cache_size; i++)
        free(t->token_cache[i].codes);
    free(t->token_cache);
    tft_text_cache_free(t);
    mg_model_config_free(&t->model_config);
    free(t);
}

static void tf_destroy(mg_trainable *self)
{
    for (size_t i = 0; i < self->count; i++) {
        mg_tensor_free(self->params[i].adam_m);
        mg_tensor_free(self->params[i].adam_v);
        mg_tensor_free(self->params[i].ema);
    }
    free(self->params);
    free(self->grads);
    mg_model_config_free(&self->config);
    tf_train_free(self->impl);
    mg_context *ctx = self->ctx;
    free(self);
    mg_context_release(ctx);
}

/* ---- creation ---- */

mg_tf_train_params mg_tf_train_default_params(void)
{
    mg_tf_train_params params;
    memset(&params, 0, sizeof params);
    params.init_seed = 0;
    return params;
}

static mg_status new_f32(mg_context *ctx, int ndim, const int64_t *shape, const float *values, mg_tensor **out)
{
    mg_status status = mg_tensor_create(ctx, MG_DTYPE_F32, ndim, shape, out);
    if (status == MG_OK)
        status = values ? mg_tensor_write_f32(*out, values, (*out)->count) : mg_tensor_fill_u32(*out, 0);
    if (status != MG_OK) {
        mg_tensor_free(*out);
        *out = NULL;
    }
    return status;
}

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* The master copy of spec `s`: from the loaded model when it has the tensor (the autoencoder's under the file's
 * own prefix), else upstream's initialisation. */
static mg_status make_master(tf_train *t, const mg_model *model, const mg_weight_spec *s, size_t fan_in,
                             bool fresh_transformer, bool fresh_text, bool code_bits, mg_rng *rng, mg_weight *out)
{
    mg_diag *diag = &t->ctx->diag;
    memcpy(out->name, s->name, sizeof out->name);
    const bool is_ae = starts_with(s->name, "autoencoder."), is_text = starts_with(s->name, MG_MODEL_TEXT_ENCODER_PREFIX);
    char source[MG_WEIGHT_NAME_MAX + 32];
    if (is_ae)
        snprintf(source, sizeof source, "%s%s", model->info.autoencoder_prefix, s->name + strlen("autoencoder."));
    else
        snprintf(source, sizeof source, "%s", s->name);
    const bool fresh = is_ae ? false : is_text ? fresh_text : fresh_transformer;
    const mg_weight *w = fresh ? NULL : mg_weights_find(&model->weights, source);
    size_t count = 1;
    for (int d = 0; d < s->ndim; d++)
        count *= (size_t)s->shape[d];
    if (s->kind == MG_WEIGHT_INT) {
        if (!w || !w->ints)
            return MG_OK; /* optional buffers (LFQ masks) the file does not have */
        out->ints = malloc(w->count * sizeof *out->ints);
        if (!out->ints)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the model's buffers");
        memcpy(out->ints, w->ints, w->count * sizeof *out->ints);
        out->count = w->count;
        return MG_OK;
    }
    if (!fresh && !w) {
        if (s->optional)
            return MG_OK;
        return mg_fail(diag, MG_ERR_INTERNAL, "the loaded model has no tensor '%s'", source);
    }
    float *values = malloc(count * sizeof *values);
    if (!values)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the master weights");
    mg_status status = MG_OK;
    if (w)
        status = mg_tensor_read_f32(w->tensor, values, count);
    else
        tft_init_values(s->name, s->ndim, s->shape, fan_in, rng, values, count);
    if (!w && code_bits && tft_code_bits_applies(s->name))
        status = tft_init_code_bits(s->name, s->shape, t->model_config.autoencoder.codebook_size, rng, values, diag);
    if (status == MG_OK)
        status = new_f32(t->ctx, s->ndim, s->shape, values, &out->tensor);
    out->count = count;
    free(values);
    return status;
}

/* nn.Linear initialises its bias from the weight's fan-in: the input width of the sibling ".weight". */
static size_t bias_fan_in(const mg_weight_spec *specs, size_t count, const mg_weight_spec *s)
{
    const size_t n = strlen(s->name);
    if (n < 5 || strcmp(s->name + n - 5, ".bias") != 0)
        return 0;
    char weight[MG_WEIGHT_NAME_MAX + 8];
    snprintf(weight, sizeof weight, "%.*s.weight", (int)(n - 5), s->name);
    for (size_t i = 0; i < count; i++)
        if (strcmp(specs[i].name, weight) == 0 && specs[i].ndim == 2)
            return (size_t)specs[i].shape[1];
    return 0;
}

/* The text conditions' source (see tf_train.h). */
static mg_status setup_text(tf_train *t, const mg_tf_train_params *params, const char *path)
{
    mg_diag *diag = &t->ctx->diag;
    const mg_model_config *mc = &t->model_config;
    if (!t->config.condition_on_text)
        return MG_OK;
    if (params->text_encoder_folder) {
        mg_status status = mg_text_encoder_load(t->ctx, params->text_encoder_folder, &t->frozen_encoder);
        if (status != MG_OK)
            return status;
        t->text_mode = TFT_TEXT_FROZEN;
    } else if (mc->has_text_encoder) {
        if (mc->text_encoder.hidden != (size_t)t->config.dim_text)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the built-in text encoder is %zu wide but the "
                           "transformer's dim_text is %d", mc->text_encoder.hidden, t->config.dim_text);
        if (params->freeze_text_encoder) {
            mg_status status = mg_text_encoder_create_builtin(t->ctx, &mc->text_encoder, &t->master,
                                                              MG_MODEL_TEXT_ENCODER_PREFIX, mc->text_vocab, path,
                                                              &t->frozen_encoder);
            if (status != MG_OK)
                return status;
            t->text_mode = TFT_TEXT_FROZEN;
        } else {
            mg_status status = mg_wordpiece_parse(mc->text_vocab, strlen(mc->text_vocab), path, &t->vocab, diag);
            if (status != MG_OK)
                return status;
            t->bert = mc->text_encoder;
            t->bert_max_length = t->bert.max_positions < MG_WORDPIECE_DEFAULT_MAX_LENGTH
                                     ? t->bert.max_positions
                                     : MG_WORDPIECE_DEFAULT_MAX_LENGTH;
            t->text_mode = TFT_TEXT_TRAINED;
        }
    } /* else no encoder: only precomputed text embeddings (mg_tf_trainable_codes_step); step() says so */
    if (t->frozen_encoder && mg_text_encoder_width(t->frozen_encoder) != (size_t)t->config.dim_text)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the text encoder is %zu wide but the transformer's dim_text "
                       "is %d: use an encoder of that width", mg_text_encoder_width(t->frozen_encoder),
                       t->config.dim_text);
    return MG_OK;
}

/* The model configuration to train and save: the file's, with a new transformer / text encoder as asked. */
static mg_status build_config(tf_train *t, const mg_model *model, const mg_tf_train_params *params)
{
    mg_diag *diag = &t->ctx->diag;
    mg_model_config *mc = &t->model_config;
    const char *json = model->info.config_json;
    mg_status status = mg_model_config_parse(json, strlen(json), mc, diag);
    if (status != MG_OK)
        return status;
    if (params->transformer_json) {
        free(mc->transformer_json);
        mc->transformer_json = strdup(params->transformer_json);
        if (!mc->transformer_json)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        mc->has_transformer = true;
        status = mg_tf_config_parse(params->transformer_json, &mc->autoencoder, &t->config, diag);
        if (status != MG_OK)
            return status;
    } else if (!model->has_transformer) {
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "%s holds only an autoencoder: give the kwargs of a new transformer to train",
                       params->model_path);
    } else {
        t->config = model->transformer.config;
    }
    if (params->new_text_encoder) {
        if (!params->new_text_vocab)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a new text encoder needs its vocabulary");
        free(mc->text_vocab);
        mc->text_vocab = strdup(params->new_text_vocab);
        if (!mc->text_vocab)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        mc->has_text_encoder = true;
        mc->text_encoder = *params->new_text_encoder;
    }
    if (mg_tf_uses_adaptive_norm(&t->config))
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "training a transformer with adaptive RMSNorm conditioning "
                       "(coarse_adaptive_rmsnorm) is not supported yet: train with cross-attention conditioning only");
    if (t->config.dim != t->config.dim_fine)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "training a transformer with different coarse and fine widths "
                       "(%d, %d) is not supported: give \"dim\" one value", t->config.dim, t->config.dim_fine);
    return MG_OK;
}

mg_status mg_tf_trainable_create(mg_context *ctx, const mg_tf_train_params *params, mg_trainable **out)
{
    mg_status status = mg_context_check(ctx, "mg_tf_trainable_create");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &ctx->diag;
    if (!params || !params->model_path || !out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_tf_trainable_create: give a model file and an output");
    *out = NULL;
    mg_model *model = NULL;
    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    mg_trainable *tr = calloc(1, sizeof *tr);
    tf_train *t = calloc(1, sizeof *t);
    if (!tr || !t) {
        free(tr);
        free(t);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the trainable");
    }
    t->ctx = ctx;
    tr->ctx = ctx;
    tr->kind = "transformer";
    tr->impl = t;
    tr->step = tf_step;
    tr->save_model = tf_save_model;
    tr->destroy = tf_destroy;
    mg_context_retain(ctx);
    if ((status = mg_model_load(ctx, params->model_path, &model)) != MG_OK)
        goto done;
    if ((status = build_config(t, model, params)) != MG_OK)
        goto done;
    if ((status = mg_model_weight_specs(&t->model_config, "autoencoder.", &specs, &spec_count, NULL, diag)) != MG_OK)
        goto done;
    t->master.items = calloc(spec_count ? spec_count : 1, sizeof *t->master.items);
    t->grads = calloc(spec_count ? spec_count : 1, sizeof *t->grads);
    tr->params = calloc(spec_count ? spec_count : 1, sizeof *tr->params);
    tr->grads = calloc(spec_count ? spec_count : 1, sizeof *tr->grads);
    if (!t->master.items || !t->grads || !tr->params || !tr->grads) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the parameters");
        goto done;
    }
    if (params->code_bits_start && !t->model_config.autoencoder.use_residual_lfq) {
        status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the code-bits start reads codes as bit patterns, which "
                         "needs an LFQ autoencoder (use_residual_lfq); this one uses ResidualVQ: start random");
        goto done;
    }
    mg_rng rng;
    mg_rng_seed(&rng, params->init_seed);
    const bool train_text = !params->freeze_text_encoder && !params->text_encoder_folder;
    for (size_t i = 0; i < spec_count; i++) {
        mg_weight *w = &t->master.items[t->master.count];
        status = make_master(t, model, &specs[i], bias_fan_in(specs, spec_count, &specs[i]),
                             params->transformer_json != NULL, params->new_text_encoder != NULL,
                             params->code_bits_start, &rng, w);
        if (status != MG_OK)
            goto done;
        if (!w->tensor && !w->ints)
            continue; /* an optional buffer the file lacks */
        const size_t index = t->master.count++;
        if (!w->tensor)
            continue;
        mg_train_param *p = &tr->params[tr->count];
        p->name = w->name;
        p->value = w->tensor;
        const bool is_ae = starts_with(w->name, "autoencoder.");
        const bool is_text = starts_with(w->name, MG_MODEL_TEXT_ENCODER_PREFIX);
        const bool trained = !is_ae && (!is_text || (train_text && t->model_config.text_encoder.hidden > 0));
        if (trained) {
            if ((status = new_f32(ctx, w->tensor->ndim, w->tensor->shape, NULL, &t->grads[index])) != MG_OK ||
                (status = new_f32(ctx, w->tensor->ndim, w->tensor->shape, NULL, &p->adam_m)) != MG_OK ||
                (status = new_f32(ctx, w->tensor->ndim, w->tensor->shape, NULL, &p->adam_v)) != MG_OK)
                goto done;
            tr->grads[tr->count] = t->grads[index];
        }
        tr->count++;
    }
    t->per_face = mg_tf_config_tokens_per_face(&t->config);
    t->ae_levels = t->model_config.autoencoder.num_quantizers;
    if ((status = mg_transformer_init(&t->tf, ctx, &t->config, &t->master)) != MG_OK)
        goto done;
    if ((status = mg_autoencoder_init(&t->ae, ctx, &t->model_config.autoencoder, &t->master, "autoencoder.")) != MG_OK)
        goto done;
    if ((status = setup_text(t, params, params->model_path)) != MG_OK)
        goto done;
    if (t->text_mode != TFT_TEXT_TRAINED) /* a built-in encoder that is not trained is frozen */
        for (size_t i = 0; i < tr->count; i++)
            if (starts_with(tr->params[i].name, MG_MODEL_TEXT_ENCODER_PREFIX) && tr->params[i].adam_m) {
                mg_tensor_free(tr->params[i].adam_m);
                mg_tensor_free(tr->params[i].adam_v);
                tr->params[i].adam_m = tr->params[i].adam_v = NULL;
                tr->grads[i] = NULL;
                for (size_t k = 0; k < t->master.count; k++)
                    if (t->master.items[k].tensor == tr->params[i].value) {
                        mg_tensor_free(t->grads[k]);
                        t->grads[k] = NULL;
                    }
            }
    /* The trainable's config owns copies of the model config's strings (tf_train keeps its own). */
    tr->config = t->model_config;
    tr->config.transformer_json = t->model_config.transformer_json ? strdup(t->model_config.transformer_json) : NULL;
    tr->config.text_vocab = t->model_config.text_vocab ? strdup(t->model_config.text_vocab) : NULL;
    if ((t->model_config.transformer_json && !tr->config.transformer_json) ||
        (t->model_config.text_vocab && !tr->config.text_vocab)) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
done:
    free(specs);
    mg_model_free(model);
    if (status != MG_OK) {
        tf_destroy(tr);
        return status;
    }
    *out = tr;
    return MG_OK;
}
