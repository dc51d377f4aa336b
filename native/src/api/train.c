/* mg_train_autoencoder / mg_train_transformer: the public training entry points (train/train_loop.h over the
 * models' trainables, train/train_models.h). */
#include "core/context.h"
#include "model/config_json.h"
#include "model/model_file.h"
#include "train/loss_curve.h"
#include "train/train_loop.h"
#include "model/tf_config.h"
#include "train/train_models.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_train_params mg_train_default_params(mg_train_kind kind)
{
    mg_train_params p;
    memset(&p, 0, sizeof p);
    p.steps = 1000;
    p.batch_size = 4;
    p.grad_accum = 1;
    p.warmup_steps = 1000;
    p.lr_schedule = MG_LR_CONSTANT;
    p.final_lr_fraction = 0.05;
    p.val_fraction = 0.05;
    p.val_max_meshes = 64;
    p.val_every = 100;
    p.save_every = 1000;
    if (kind == MG_TRAIN_TRANSFORMER) {
        /* MeshTransformerTrainer: lr 2e-4, max_grad_norm 0.5, no EMA; tokens of the meshes as they are. */
        p.learning_rate = 2e-4;
        p.max_grad_norm = 0.5;
    } else {
        /* MeshAutoencoderTrainer: lr 1e-4, no clipping, EMA; the paper's augmentation. */
        p.learning_rate = 1e-4;
        p.ema = true;
        p.augment = true;
    }
    return p;
}

static mg_status read_text_file(const char *path, char **out, size_t *out_size, mg_diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_fail(diag, MG_ERR_IO, "cannot open the configuration '%s': %s", path, strerror(errno));
    char *text = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size + 4096 + 1 > capacity) {
            capacity = (size + 4096 + 1) * 2;
            char *grown = realloc(text, capacity);
            if (!grown) {
                free(text);
                fclose(f);
                return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", path);
            }
            text = grown;
        }
        size_t n = fread(text + size, 1, 4096, f);
        size += n;
        if (n < 4096)
            break;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(text);
        return mg_fail(diag, MG_ERR_IO, "cannot read the configuration '%s'", path);
    }
    text[size] = 0;
    *out = text;
    *out_size = size;
    return MG_OK;
}

/* The configuration of fresh weights: config.json when given, else upstream's autoencoder defaults. */
static mg_status fresh_config(const mg_train_params *params, mg_model_config *config, mg_diag *diag)
{
    memset(config, 0, sizeof *config);
    if (!params->config) {
        mg_ae_config_defaults(&config->autoencoder);
        return MG_OK;
    }
    char *text = NULL;
    size_t size = 0;
    mg_status status = read_text_file(params->config, &text, &size, diag);
    if (status != MG_OK)
        return status;
    status = mg_model_config_parse_kwargs_file(text, size, params->config, config, diag);
    free(text);
    return status;
}

/* The configuration inside a model file (fine-tuning, or the transformer's autoencoder), without its weights. */
static mg_status file_config(const char *path, mg_model_config *config, mg_diag *diag)
{
    memset(config, 0, sizeof *config);
    mg_safetensors file;
    mg_status status = mg_model_file_open(path, &file, diag);
    if (status != MG_OK)
        return status;
    status = mg_model_file_read_config(&file, path, config, NULL, diag);
    mg_safetensors_close(&file);
    return status;
}

/* Meshes over `sequence_faces` (0: no such limit) are skipped like those over the face limit: the transformer's
 * positions must hold a mesh's tokens and the EOS after them. */
static mg_status load_data(const mg_train_params *params, const mg_ae_config *config, size_t sequence_faces,
                           mg_train_dataset *data, mg_diag *diag)
{
    mg_train_dataset_params dp = mg_train_dataset_default_params(config);
    dp.folder = params->data;
    dp.captions_path = params->captions;
    dp.max_faces = params->max_faces ? params->max_faces : (config->max_faces > 0 ? (size_t)config->max_faces : 0);
    if (sequence_faces && (dp.max_faces == 0 || dp.max_faces > sequence_faces)) {
        if (params->max_faces)
            mg_log(diag, MG_LOG_WARN, "--max-faces %zu: the transformer's positions hold at most %zu faces; larger "
                   "meshes are skipped", params->max_faces, sequence_faces);
        dp.max_faces = sequence_faces;
    }
    return mg_train_dataset_load(&dp, data, diag);
}

/* The most faces whose tokens and EOS fit a transformer's positions (kwargs JSON; NULL: upstream's defaults). */
static mg_status sequence_face_limit(const char *kwargs, const mg_ae_config *autoencoder, size_t *out,
                                     mg_diag *diag)
{
    mg_tf_config tf;
    mg_status status = mg_tf_config_parse(kwargs ? kwargs : "{}", autoencoder, &tf, diag);
    if (status == MG_OK)
        *out = (size_t)(tf.max_seq_len - 1) / (size_t)mg_tf_config_tokens_per_face(&tf);
    return status;
}

/* The run's settings as stored in the checkpoint (so a checkpoint says how it was trained). */
static char *settings_json(const mg_train_params *params)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    const char *keys[] = {"data", "captions", "from", "config", "autoencoder", "text_encoder"};
    const char *values[] = {params->data, params->captions, params->from, params->config, params->autoencoder,
                            params->text_encoder};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof keys / sizeof keys[0]; i++)
        if (values[i])
            ok = cJSON_AddStringToObject(root, keys[i], values[i]) != NULL;
    ok = ok && cJSON_AddNumberToObject(root, "seed", (double)params->seed);
    /* How the run's fresh weights started (a resume or fine-tune loads its weights instead). */
    if (ok && !params->from && params->embedding_init == MG_EMBEDDING_INIT_SINUSOID)
        ok = cJSON_AddStringToObject(root, "embedding_init", "sinusoid") != NULL;
    if (ok && !params->from && params->autoencoder_start == MG_AUTOENCODER_START_COORDINATE_CODE)
        ok = cJSON_AddStringToObject(root, "autoencoder_start", "coordinate-code") != NULL;
    if (ok && !params->from && params->transformer_start == MG_TRANSFORMER_START_CODE_BITS)
        ok = cJSON_AddStringToObject(root, "transformer_start", "code-bits") != NULL;
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

typedef struct progress_bridge {
    mg_train_progress_fn fn;
    void *user;
    size_t skipped;
} progress_bridge;

static bool bridge(const mg_train_loop_report *r, void *user)
{
    progress_bridge *b = user;
    mg_train_progress p;
    memset(&p, 0, sizeof p);
    p.event = r->event == MG_TRAIN_EVENT_START ? MG_TRAIN_STARTED
              : r->event == MG_TRAIN_EVENT_SAVED ? MG_TRAIN_SAVED : MG_TRAIN_STEPPED;
    p.step = r->step;
    p.total_steps = r->total_steps;
    p.epoch = r->epoch;
    p.loss = r->losses.total;
    p.loss_terms = r->losses.terms;
    for (size_t k = 0; k < r->losses.terms && k < 4; k++) {
        p.loss_names[k] = r->losses.names[k];
        p.loss_values[k] = r->losses.values[k];
    }
    p.learning_rate = r->learning_rate;
    p.grad_norm = r->grad_norm;
    p.steps_per_second = r->steps_per_second;
    p.samples_per_second = r->samples_per_second;
    p.has_validation = r->has_validation;
    p.validation_loss = r->validation_loss;
    p.train_meshes = r->train_items;
    p.validation_meshes = r->validation_items;
    p.skipped_meshes = b->skipped;
    p.saved_path = r->saved_path;
    return b->fn(&p, b->user);
}

static mg_status check_params(mg_train_kind kind, const mg_train_params *p, mg_diag *diag)
{
    const char *who = kind == MG_TRAIN_TRANSFORMER ? "mg_train_transformer" : "mg_train_autoencoder";
    if (!p)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: params is NULL (start from mg_train_default_params)", who);
    if (!p->data || !p->data[0])
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: no data folder (params.data, --data DIR)", who);
    if (!p->output || !p->output[0])
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: no output checkpoint (params.output, -o FILE)", who);
    if (p->batch_size == 0 || p->grad_accum == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: batch size and gradient accumulation must each be "
                       "at least 1", who);
    if (!(p->learning_rate > 0) || !isfinite(p->learning_rate) || !(p->weight_decay >= 0) ||
        !(p->max_grad_norm >= 0) || !(p->val_fraction >= 0 && p->val_fraction < 1))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the learning rate must be positive, weight decay and "
                       "max grad norm >= 0, and the validation share in [0, 1)", who);
    if ((p->lr_schedule != MG_LR_CONSTANT && p->lr_schedule != MG_LR_COSINE) ||
        !(p->final_lr_fraction >= 0 && p->final_lr_fraction <= 1))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: unknown learning-rate schedule %d (MG_LR_CONSTANT or "
                       "MG_LR_COSINE), or a final learning-rate share outside [0, 1]", who, (int)p->lr_schedule);
    if (p->embedding_init != MG_EMBEDDING_INIT_NORMAL && p->embedding_init != MG_EMBEDDING_INIT_SINUSOID)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: unknown embedding initialisation %d "
                       "(MG_EMBEDDING_INIT_NORMAL or MG_EMBEDDING_INIT_SINUSOID)", who, (int)p->embedding_init);
    if (kind == MG_TRAIN_TRANSFORMER && p->embedding_init != MG_EMBEDDING_INIT_NORMAL)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the embedding initialisation is an autoencoder setting "
                       "(its tables of discretized coordinates, angles, areas and normals); a transformer's token "
                       "embeddings keep torch's default, so leave it at MG_EMBEDDING_INIT_NORMAL", who);
    if (p->autoencoder_start != MG_AUTOENCODER_START_RANDOM && p->autoencoder_start != MG_AUTOENCODER_START_COORDINATE_CODE)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: unknown autoencoder start %d (MG_AUTOENCODER_START_RANDOM "
                       "or MG_AUTOENCODER_START_COORDINATE_CODE)", who, (int)p->autoencoder_start);
    if (kind == MG_TRAIN_TRANSFORMER && p->autoencoder_start != MG_AUTOENCODER_START_RANDOM)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the coordinate-code start is an autoencoder's; a "
                       "transformer starts random or from the code bits (transformer_start, --init code-bits; leave "
                       "autoencoder_start at MG_AUTOENCODER_START_RANDOM)", who);
    if (p->autoencoder_start == MG_AUTOENCODER_START_COORDINATE_CODE && p->embedding_init != MG_EMBEDDING_INIT_NORMAL)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the coordinate-code start sets the embedding tables "
                       "itself; leave the embedding initialisation at MG_EMBEDDING_INIT_NORMAL", who);
    if (p->transformer_start != MG_TRANSFORMER_START_RANDOM && p->transformer_start != MG_TRANSFORMER_START_CODE_BITS)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: unknown transformer start %d (MG_TRANSFORMER_START_RANDOM "
                       "or MG_TRANSFORMER_START_CODE_BITS)", who, (int)p->transformer_start);
    if (kind == MG_TRAIN_AUTOENCODER && p->transformer_start != MG_TRANSFORMER_START_RANDOM)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: the code-bits start is a transformer's; an autoencoder "
                       "starts random or at the coordinate code (autoencoder_start)", who);
    if (kind == MG_TRAIN_TRANSFORMER && !p->autoencoder && !p->from)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: a transformer trains on the tokens of a trained "
                       "autoencoder: name its model file (params.autoencoder, --autoencoder AE.safetensors)", who);
    if (p->resume && p->from)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: resume continues the checkpoint at the output path; "
                       "'from' (fine-tuning a model) cannot be combined with it", who);
    return MG_OK;
}

static mg_status train(mg_context *ctx, mg_train_kind kind, const mg_train_params *params,
                       mg_train_progress_fn progress, void *user_data)
{
    mg_status status = mg_context_check(ctx, kind == MG_TRAIN_TRANSFORMER ? "mg_train_transformer"
                                                                          : "mg_train_autoencoder");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &ctx->diag;
    if ((status = check_params(kind, params, diag)) != MG_OK)
        return status;
    mg_model_config config;
    memset(&config, 0, sizeof config);
    mg_train_dataset data;
    memset(&data, 0, sizeof data);
    mg_trainable *model = NULL;
    char *curve = NULL, *settings = NULL;
    bool fresh = !params->from;
    /* --resume without --config: the checkpoint at the output path carries the configuration it was made with. */
    FILE *existing = params->resume && !params->config && fresh ? fopen(params->output, "rb") : NULL;
    const bool config_from_checkpoint = existing != NULL;
    if (existing)
        fclose(existing);
    /* The data's preparation (grid, range, preprocessing, face limit) is the autoencoder's: known from the
     * configuration before any weights load, so a bad folder is reported first. */
    if (fresh && kind == MG_TRAIN_AUTOENCODER)
        status = config_from_checkpoint ? file_config(params->output, &config, diag)
                                        : fresh_config(params, &config, diag);
    else
        status = file_config(params->from ? params->from : params->autoencoder, &config, diag);
    const char **captions = NULL;
    size_t caption_count = 0;
    mg_model_config fresh_transformer;
    memset(&fresh_transformer, 0, sizeof fresh_transformer);
    if (status == MG_OK && kind == MG_TRAIN_TRANSFORMER && fresh && params->config)
        status = fresh_config(params, &fresh_transformer, diag);
    else if (status == MG_OK && kind == MG_TRAIN_TRANSFORMER && config_from_checkpoint)
        status = file_config(params->output, &fresh_transformer, diag);
    size_t sequence_faces = 0;
    if (status == MG_OK && kind == MG_TRAIN_TRANSFORMER)
        status = sequence_face_limit(fresh ? fresh_transformer.transformer_json : config.transformer_json,
                                     &config.autoencoder, &sequence_faces, diag);
    if (status == MG_OK)
        status = load_data(params, &config.autoencoder, sequence_faces, &data, diag);
    if (status == MG_OK) {
        /* Every caption of every mesh: a new text encoder's vocabulary must hold the words of all of them. */
        for (size_t i = 0; i < data.count; i++)
            caption_count += 1 + data.items[i].more_caption_count;
        captions = calloc(caption_count ? caption_count : 1, sizeof *captions);
        if (!captions)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (size_t i = 0, at = 0; captions && i < data.count; i++) {
            captions[at++] = data.items[i].caption;
            for (size_t c = 0; c < data.items[i].more_caption_count; c++)
                captions[at++] = data.items[i].more_captions[c];
        }
    }
    if (status == MG_OK) {
        mg_train_model_source source = {.from = params->from, .config = NULL, .autoencoder = params->autoencoder,
                                        .text_encoder = params->text_encoder, .captions = captions,
                                        .caption_count = caption_count, .seed = params->seed, .ema = params->ema,
                                        .embedding_init = params->embedding_init,
                                        .autoencoder_start = params->autoencoder_start,
                                        .transformer_start = params->transformer_start};
        if (params->from && params->embedding_init != MG_EMBEDDING_INIT_NORMAL)
            mg_log(diag, MG_LOG_WARN, "the embedding initialisation only applies to fresh weights: fine-tuning "
                   "keeps the embeddings of %s", params->from);
        if (params->from && params->transformer_start != MG_TRANSFORMER_START_RANDOM)
            mg_log(diag, MG_LOG_WARN, "the code-bits start only applies to fresh weights: fine-tuning keeps the "
                   "weights of %s", params->from);
        if (params->from && params->autoencoder_start != MG_AUTOENCODER_START_RANDOM)
            mg_log(diag, MG_LOG_WARN, "the coordinate-code start only applies to fresh weights: fine-tuning keeps "
                   "the weights of %s", params->from);
        if (fresh && kind == MG_TRAIN_AUTOENCODER)
            source.config = &config;
        else if (fresh && (params->config || config_from_checkpoint))
            source.config = &fresh_transformer;
        status = kind == MG_TRAIN_TRANSFORMER ? mg_train_create_transformer(ctx, &source, &model, diag)
                                              : mg_train_create_autoencoder(ctx, &source, &model, diag);
    }
    free(captions);
    mg_model_config_free(&fresh_transformer);
    mg_train_loop_config c = mg_train_loop_default_config();
    if (status == MG_OK) {
        c.steps = params->steps;
        c.batch_size = params->batch_size;
        c.accum = params->grad_accum;
        c.adam.lr = params->learning_rate;
        c.adam.weight_decay = params->weight_decay;
        c.warmup_steps = params->warmup_steps;
        c.cosine_decay = params->lr_schedule == MG_LR_COSINE;
        c.final_lr_fraction = params->final_lr_fraction;
        c.max_grad_norm = params->max_grad_norm;
        c.ema = params->ema;
        c.augment = params->augment;
        c.group_by_length = params->group_by_length;
        c.seed = params->seed;
        c.val_fraction = params->val_fraction;
        c.val_max_items = params->val_max_meshes;
        c.val_every = params->val_every;
        c.save_every = params->save_every;
        c.checkpoint_path = params->output;
        c.resume = params->resume;
        if (!params->loss_curve) {
            curve = mg_loss_curve_path_for(params->output);
            if (!curve)
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        c.curve_path = params->loss_curve ? (params->loss_curve[0] ? params->loss_curve : NULL) : curve;
        settings = settings_json(params);
        c.trainer_json = settings;
    }
    if (status == MG_OK) {
        progress_bridge b = {progress, user_data, data.skipped_unreadable + data.skipped_too_large};
        status = mg_train_loop_run(model, &data, &c, progress ? bridge : NULL, &b, NULL, diag);
    }
    mg_trainable_free(model);
    mg_train_dataset_free(&data);
    mg_model_config_free(&config);
    free(curve);
    free(settings);
    return status;
}

mg_status mg_train_autoencoder(mg_context *context, const mg_train_params *params, mg_train_progress_fn progress,
                               void *user_data)
{
    return train(context, MG_TRAIN_AUTOENCODER, params, progress, user_data);
}

mg_status mg_train_transformer(mg_context *context, const mg_train_params *params, mg_train_progress_fn progress,
                               void *user_data)
{
    return train(context, MG_TRAIN_TRANSFORMER, params, progress, user_data);
}
