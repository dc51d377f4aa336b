/* The autoencoder trainable: creation from a model or a config, the step
 * (forward + backward, in ae_train_forward.c / ae_backward.c), saving as a
 * model file, and the parameter lookup the passes use. */
#include "train/ae_train_internal.h"

#include "core/context.h"
#include "core/half.h"
#include "model/config_json.h"
#include "model/model.h"
#include "model/model_write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RVQ_BUFFERS 4
static const char *const rvq_buffer_names[RVQ_BUFFERS] = {"initted", "cluster_size", "embed_avg", "embed"};

mg_ae_train_params mg_ae_train_default_params(void)
{
    mg_ae_train_params params = {.model = NULL, .config = NULL, .seed = 0};
    return params;
}

/* ---- parameters by name ---- */

long mg_ae_trainable_find(const mg_trainable *trainable, const char *name)
{
    const ae_train *t = trainable ? trainable->impl : NULL;
    if (!t || !name)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->names[i], name) == 0)
            return (long)i;
    return -1;
}

static long find_v(const ae_train *t, const char *fmt, va_list args)
{
    char name[MG_WEIGHT_NAME_MAX];
    vsnprintf(name, sizeof name, fmt, args);
    long index = mg_ae_trainable_find(&t->base, name);
    if (index < 0)
        mg_fail(&t->base.ctx->diag, MG_ERR_INTERNAL, "the autoencoder trainable has no parameter '%s'", name);
    return index;
}

mg_tensor *ae_value(const ae_train *t, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    long index = find_v(t, fmt, args);
    va_end(args);
    return index < 0 ? NULL : t->base.params[index].value;
}

mg_tensor *ae_grad(const ae_train *t, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    long index = find_v(t, fmt, args);
    va_end(args);
    return index < 0 ? NULL : t->base.grads[index];
}

/* ---- per-step tensors ---- */

void ae_store_init(ae_store *store, mg_context *ctx)
{
    memset(store, 0, sizeof *store);
    store->ctx = ctx;
}

static mg_tensor *keep(ae_store *store, mg_status status, mg_tensor *tensor)
{
    if (status != MG_OK) {
        if (store->status == MG_OK)
            store->status = status;
        return NULL;
    }
    if (store->count == store->capacity) {
        size_t capacity = store->capacity ? store->capacity * 2 : 64;
        mg_tensor **grown = realloc(store->items, capacity * sizeof *grown);
        if (!grown) {
            mg_tensor_free(tensor);
            if (store->status == MG_OK)
                store->status = mg_fail(&store->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory in training");
            return NULL;
        }
        store->items = grown;
        store->capacity = capacity;
    }
    store->items[store->count++] = tensor;
    return tensor;
}

mg_tensor *ae_tensor(ae_store *store, mg_dtype dtype, int ndim, const int64_t *shape)
{
    if (store->status != MG_OK)
        return NULL;
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_create(store->ctx, dtype, ndim, shape, &tensor);
    return keep(store, status, tensor);
}

mg_tensor *ae_f32(ae_store *store, int ndim, const int64_t *shape)
{
    return ae_tensor(store, MG_DTYPE_F32, ndim, shape);
}

mg_tensor *ae_f32_2d(ae_store *store, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return ae_f32(store, 2, shape);
}

mg_tensor *ae_f32_3d(ae_store *store, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return ae_f32(store, 3, shape);
}

mg_tensor *ae_i32(ae_store *store, const int32_t *values, int ndim, const int64_t *shape)
{
    if (store->status != MG_OK)
        return NULL;
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_create(store->ctx, MG_DTYPE_I32, ndim, shape, &tensor);
    if (status == MG_OK && (status = mg_tensor_write(tensor, values, tensor->nbytes)) != MG_OK) {
        mg_tensor_free(tensor);
        tensor = NULL;
    }
    return keep(store, status, tensor);
}

mg_tensor *ae_view(ae_store *store, mg_tensor *parent, int ndim, const int64_t *shape)
{
    if (store->status != MG_OK || !parent)
        return NULL;
    mg_tensor *tensor = NULL;
    mg_status status = mg_tensor_view(parent, 0, parent->dtype, ndim, shape, &tensor);
    return keep(store, status, tensor);
}

void ae_store_free(ae_store *store)
{
    for (size_t i = 0; i < store->count; i++)
        mg_tensor_free(store->items[i]);
    free(store->items);
    store->items = NULL;
    store->count = store->capacity = 0;
}

/* ---- the trainable's functions ---- */

static mg_status ae_step(mg_trainable *self, const mg_train_batch *batch, bool backward, float grad_scale,
                         mg_rng *rng, mg_train_losses *losses)
{
    /* Nothing else is random: no dropout, and the quantizer dropout never drops with its cutoff. The
     * ResidualVQ codebook's samples (k-means start, dead codes) draw from rng. */
    ae_train *t = self->impl;
    t->training = backward;
    t->rng = rng ? rng : &t->own_rng;
    if (!batch || !losses)
        return mg_fail(&self->ctx->diag, MG_ERR_INVALID_ARGUMENT, "autoencoder step: batch and losses are required");
    if (batch->packed.num_faces == 0 || batch->count == 0)
        return mg_fail(&self->ctx->diag, MG_ERR_INVALID_ARGUMENT, "autoencoder step: the batch has no faces");
    if (batch->packed.face_size != (uint32_t)mg_ae_config_face_size(&t->config))
        return mg_fail(&self->ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "autoencoder step: the batch has %u vertices per face but the model %d",
                       batch->packed.face_size, mg_ae_config_face_size(&t->config));
    ae_forward f;
    mg_status status = ae_forward_run(t, batch, &f);
    if (status == MG_OK && backward)
        status = ae_backward_run(t, batch, &f, grad_scale);
    if (status == MG_OK) {
        memset(losses, 0, sizeof *losses);
        losses->total = f.recon + f.quantizer;
        losses->terms = 2;
        losses->names[0] = "recon";
        losses->values[0] = f.recon;
        losses->names[1] = "quantizer";
        losses->values[1] = f.quantizer;
    }
    ae_forward_free(&f);
    t->training = false; /* passes run outside a step (tests) are eval mode */
    return status;
}

/* An f32 host copy of a tensor's values. */
static float *read_values(mg_tensor *tensor, mg_diag *diag, mg_status *status)
{
    float *values = malloc(tensor->count * sizeof *values);
    if (!values) {
        *status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory saving the model");
        return NULL;
    }
    if ((*status = mg_tensor_read_f32(tensor, values, tensor->count)) != MG_OK) {
        free(values);
        return NULL;
    }
    return values;
}

static mg_status ae_save_model(mg_trainable *self, const char *path, bool use_ema)
{
    ae_train *t = self->impl;
    mg_diag *diag = &self->ctx->diag;
    if (!path)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "autoencoder save_model: path is NULL");
    mg_status status = mg_context_synchronize(self->ctx);
    if (status != MG_OK)
        return status;
    const int levels = t->config.num_quantizers, bits = mg_ae_config_code_dim(&t->config);
    const bool lfq = t->config.use_residual_lfq;
    /* ResidualLFQ: one bit-mask buffer per level; ResidualVQ: the shared codebook's 4 buffers again under every
     * level after the first (the trainable keeps layer 0's) */
    const size_t extra = lfq ? (size_t)levels : (size_t)(levels - 1) * RVQ_BUFFERS;
    size_t total = t->count + extra;
    mg_st_write_tensor *tensors = calloc(total, sizeof *tensors);
    void **buffers = calloc(total, sizeof *buffers);
    char (*mask_names)[MG_WEIGHT_NAME_MAX] = calloc(extra ? extra : 1, sizeof *mask_names);
    if (!tensors || !buffers || !mask_names)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory saving the model");
    for (size_t i = 0; i < t->count && status == MG_OK; i++) {
        const mg_train_param *p = &self->params[i];
        mg_tensor *source = use_ema && p->ema ? p->ema : p->value;
        buffers[i] = read_values(source, diag, &status);
        mg_st_write_tensor *w = &tensors[i];
        w->name = t->names[i];
        w->dtype = MG_ST_F32;
        w->ndim = source->ndim;
        memcpy(w->shape, source->shape, (size_t)source->ndim * sizeof *source->shape);
        w->data = buffers[i];
    }
    /* ResidualLFQ's buffers: each level's bit mask 2^(bits-1) .. 1, as upstream registers them. */
    for (int q = 0; q < levels && status == MG_OK && t->config.use_residual_lfq; q++) {
        int64_t *mask = malloc((size_t)bits * sizeof *mask);
        size_t i = t->count + (size_t)q;
        buffers[i] = mask;
        if (!mask) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory saving the model");
            break;
        }
        for (int k = 0; k < bits; k++)
            mask[k] = (int64_t)1 << (bits - 1 - k);
        snprintf(mask_names[q], sizeof mask_names[q], "quantizer.layers.%d.mask", q);
        tensors[i] = (mg_st_write_tensor){.name = mask_names[q], .dtype = MG_ST_I64, .ndim = 1, .data = mask};
        tensors[i].shape[0] = bits;
    }
    for (size_t e = 0; e < extra && status == MG_OK && !lfq; e++) {
        const int level = 1 + (int)(e / RVQ_BUFFERS);
        const char *buffer = rvq_buffer_names[e % RVQ_BUFFERS];
        char first[MG_WEIGHT_NAME_MAX];
        snprintf(first, sizeof first, "quantizer.layers.0._codebook.%s", buffer);
        long source = mg_ae_trainable_find(self, first);
        if (source < 0) {
            status = mg_fail(diag, MG_ERR_INTERNAL, "the autoencoder trainable has no '%s'", first);
            break;
        }
        snprintf(mask_names[e], sizeof mask_names[e], "quantizer.layers.%d._codebook.%s", level, buffer);
        tensors[t->count + e] = tensors[source];
        tensors[t->count + e].name = mask_names[e]; /* the same data: buffers[] frees it once */
    }
    if (status == MG_OK) {
        mg_model_config config = self->config;
        status = mg_model_write(path, &config, tensors, total, diag);
    }
    for (size_t i = 0; buffers && i < total; i++)
        free(buffers[i]);
    free(buffers);
    free(tensors);
    free(mask_names);
    return status;
}

static void ae_destroy(mg_trainable *self)
{
    if (!self)
        return;
    ae_train *t = self->impl;
    for (size_t i = 0; self->params && i < t->count; i++) {
        mg_tensor_free(self->params[i].value);
        mg_tensor_free(self->params[i].adam_m);
        mg_tensor_free(self->params[i].adam_v);
        mg_tensor_free(self->params[i].ema);
        mg_tensor_free(self->grads ? self->grads[i] : NULL);
    }
    free(self->params);
    free(self->grads);
    free(t->names);
    mg_context *ctx = self->ctx;
    free(t);
    if (ctx)
        mg_context_release(ctx);
}

/* ---- creation ---- */

/* ResidualVQ's shared codebook: layer 0's buffers are parameters without gradient (EMA-updated, checkpointed). */
static bool is_rvq_state(const mg_ae_config *c, const mg_weight_spec *s)
{
    return !c->use_residual_lfq && s->kind == MG_WEIGHT_FLOAT &&
           strncmp(s->name, "quantizer.layers.0._codebook.", 29) == 0;
}

static bool is_kept(const mg_ae_config *c, const mg_weight_spec *s)
{
    return (s->kind == MG_WEIGHT_FLOAT && !s->buffer) || is_rvq_state(c, s);
}

static mg_status check_supported(const mg_ae_config *c, mg_diag *diag)
{
    if (c->attn_encoder_depth > 0 || c->attn_decoder_depth > 0)
        return mg_fail(diag, MG_ERR_UNSUPPORTED,
                       "training an autoencoder with attention blocks (attn_encoder_depth %d, attn_decoder_depth %d) "
                       "is not supported yet: train a model with both set to 0",
                       c->attn_encoder_depth, c->attn_decoder_depth);
    if (c->use_residual_lfq && mg_ae_config_code_dim(c) > MG_LFQ_LOSS_MAX_DIM)
        return mg_fail(diag, MG_ERR_UNSUPPORTED,
                       "the quantizer's entropy loss enumerates 2^%d codes; training supports codebook_size up to "
                       "2^%d", mg_ae_config_code_dim(c), MG_LFQ_LOSS_MAX_DIM);
    return MG_OK;
}

static mg_status zeroed(mg_context *ctx, const mg_tensor *like, mg_tensor **out)
{
    mg_status status = mg_tensor_create(ctx, MG_DTYPE_F32, like->ndim, like->shape, out);
    if (status == MG_OK && (status = mg_tensor_fill_u32(*out, 0)) != MG_OK) {
        mg_tensor_free(*out);
        *out = NULL;
    }
    return status;
}

/* The model's weight as an f32 master copy (f16 weights are widened). */
static mg_status copy_weight(mg_context *ctx, const mg_model *model, const char *name, const mg_weight_spec *spec,
                             mg_tensor *value)
{
    char full[MG_WEIGHT_NAME_MAX + 32];
    snprintf(full, sizeof full, "%s%s", model->autoencoder.prefix, name);
    mg_tensor *source = mg_weights_tensor(&model->weights, full);
    if (!source)
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "the model has no tensor '%s' to fine-tune", full);
    if (source->count != value->count)
        return mg_fail(&ctx->diag, MG_ERR_FORMAT, "the model's '%s' has %zu values, the configuration wants %zu",
                       full, source->count, value->count);
    (void)spec;
    float *values = malloc(source->count * sizeof *values);
    if (!values)
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory copying '%s'", full);
    mg_status status = mg_tensor_read_f32(source, values, source->count);
    if (status == MG_OK)
        status = mg_tensor_write_f32(value, values, value->count);
    free(values);
    return status;
}

mg_status mg_ae_trainable_create(mg_context *ctx, const mg_ae_train_params *params, mg_trainable **out)
{
    mg_status status = mg_context_check(ctx, "mg_ae_trainable_create");
    if (status != MG_OK)
        return status;
    if (!params || !out || (!params->model && !params->config))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_ae_trainable_create: params (with a model or a config) and out are required");
    *out = NULL;
    if (params->model && params->model->ctx != ctx)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_ae_trainable_create: the model was loaded on another context");
    const mg_ae_config *config = params->model ? &params->model->info.autoencoder : &params->config->autoencoder;
    if ((status = mg_ae_config_validate(config, &ctx->diag)) != MG_OK ||
        (status = check_supported(config, &ctx->diag)) != MG_OK)
        return status;

    mg_weight_spec *specs = NULL;
    size_t spec_count = 0;
    if ((status = mg_ae_weight_specs(config, "", &specs, &spec_count, &ctx->diag)) != MG_OK)
        return status;
    ae_train *t = calloc(1, sizeof *t);
    size_t trained = 0;
    for (size_t i = 0; i < spec_count; i++)
        trained += is_kept(config, &specs[i]);
    if (t) {
        t->names = calloc(trained ? trained : 1, sizeof *t->names);
        t->base.params = calloc(trained ? trained : 1, sizeof *t->base.params);
        t->base.grads = calloc(trained ? trained : 1, sizeof *t->base.grads);
    }
    if (!t || !t->names || !t->base.params || !t->base.grads) {
        if (t) {
            free(t->names);
            free(t->base.params);
            free(t->base.grads);
        }
        free(t);
        free(specs);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the autoencoder trainable");
    }
    mg_context_retain(ctx);
    t->config = *config;
    t->base.ctx = ctx;
    t->base.kind = "autoencoder";
    t->base.impl = t;
    t->base.step = ae_step;
    t->base.save_model = ae_save_model;
    t->base.destroy = ae_destroy;
    t->base.config.autoencoder = *config;
    mg_rng_seed(&t->own_rng, params->seed ^ 0x5eedc0debull);
    t->rng = &t->own_rng;
    mg_weight_spec *trained_specs = malloc((trained ? trained : 1) * sizeof *trained_specs);
    if (!trained_specs)
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the autoencoder trainable");
    for (size_t i = 0; i < spec_count && status == MG_OK; i++) {
        const mg_weight_spec *s = &specs[i];
        if (!is_kept(config, s))
            continue;
        size_t k = t->count;
        trained_specs[k] = *s;
        snprintf(t->names[k], sizeof t->names[k], "%s", s->name);
        mg_train_param *p = &t->base.params[k];
        p->name = t->names[k];
        t->count++;
        t->base.count = t->count;
        if (is_rvq_state(config, s)) { /* no gradient, no Adam moments */
            if ((status = mg_tensor_create(ctx, MG_DTYPE_F32, s->ndim, s->shape, &p->value)) != MG_OK ||
                (status = mg_tensor_fill_u32(p->value, 0)) != MG_OK)
                break;
        } else if ((status = mg_tensor_create(ctx, MG_DTYPE_F32, s->ndim, s->shape, &p->value)) != MG_OK ||
            (status = zeroed(ctx, p->value, &p->adam_m)) != MG_OK ||
            (status = zeroed(ctx, p->value, &p->adam_v)) != MG_OK ||
            (status = zeroed(ctx, p->value, &t->base.grads[k])) != MG_OK)
            break;
        if (params->model)
            status = copy_weight(ctx, params->model, s->name, s, p->value);
    }
    if (status == MG_OK && !params->model)
        status = ae_init_fresh(t, trained_specs, t->count, params->seed, params->embedding_init);
    if (status == MG_OK && !params->model && params->autoencoder_start == MG_AUTOENCODER_START_COORDINATE_CODE)
        status = ae_init_coordinate_code(t);
    free(trained_specs);
    free(specs);
    if (status != MG_OK) {
        ae_destroy(&t->base);
        return status;
    }
    *out = &t->base;
    return MG_OK;
}
