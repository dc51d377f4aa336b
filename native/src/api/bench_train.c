/* mg_bench_train: optimizer steps per second of either model on random weights and synthetic meshes, through
 * the same training loop as mg_train_* (no validation, no checkpoints). */
#include "core/context.h"
#include "mesh/mesh_alloc.h"
#include "model/config_json.h"
#include "train/train_loop.h"
#include "model/model_write.h"
#include "train/train_models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
#include <time.h>

mg_bench_train_params mg_bench_train_default_params(void)
{
    mg_bench_train_params p;
    memset(&p, 0, sizeof p);
    p.kind = MG_TRAIN_AUTOENCODER;
    p.size = "small";
    p.batch_size = 4;
    p.faces = 100;
    p.steps = 3;
    p.seed = 1;
    return p;
}

/* "small": the test model's size (tests/fixtures/meshgpt-pytorch-a); "default": meshgpt-pytorch's defaults. */
static const char *const SMALL_CONFIG =
    "{\"autoencoder_kwargs\": {\"dim_coor_embed\": 16, \"dim_area_embed\": 8, \"dim_normal_embed\": 8, "
    "\"dim_angle_embed\": 8, \"encoder_dims_through_depth\": [32, 64], \"init_decoder_conv_kernel\": 7, "
    "\"decoder_dims_through_depth\": [64, 64, 128], \"dim_codebook\": 64, \"num_quantizers\": 2, "
    "\"codebook_size\": 256, \"attn_encoder_depth\": 0, \"attn_decoder_depth\": 0}, "
    "\"transformer_kwargs\": {\"dim\": 128, \"max_seq_len\": 1200, \"attn_depth\": 2, \"attn_dim_head\": 32, "
    "\"attn_heads\": 4, \"coarse_pre_gateloop_depth\": 1, \"fine_pre_gateloop_depth\": 1, \"fine_attn_depth\": 1}}";
static const char *const DEFAULT_CONFIG = "{\"autoencoder_kwargs\": {}, \"transformer_kwargs\": {}}";

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A wavy height field of about `faces` triangles inside [-0.9, 0.9]^3, different per `variant`. */
static mg_status grid_mesh(size_t faces, size_t variant, mg_mesh *out, mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    size_t quads = faces / 2 ? faces / 2 : 1;
    size_t cols = (size_t)ceil(sqrt((double)quads)), rows = (quads + cols - 1) / cols;
    size_t nv = (cols + 1) * (rows + 1), nf = 2 * cols * rows;
    out->vertices = malloc(nv * 3 * sizeof *out->vertices);
    out->faces = malloc(nf * 3 * sizeof *out->faces);
    if (!out->vertices || !out->faces) {
        mg_mesh_release(out);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory making benchmark meshes");
    }
    out->num_vertices = nv;
    out->num_faces = nf;
    out->face_size = 3;
    double phase = 0.37 * (double)variant;
    for (size_t j = 0; j <= rows; j++)
        for (size_t i = 0; i <= cols; i++) {
            float *v = out->vertices + (j * (cols + 1) + i) * 3;
            v[0] = (float)(-0.9 + 1.8 * (double)i / (double)cols);
            v[1] = (float)(0.4 * sin(0.9 * (double)i + phase) * cos(0.7 * (double)j - phase));
            v[2] = (float)(-0.9 + 1.8 * (double)j / (double)rows);
        }
    size_t f = 0;
    for (size_t j = 0; j < rows; j++)
        for (size_t i = 0; i < cols; i++) {
            int32_t a = (int32_t)(j * (cols + 1) + i), b = a + 1, c = a + (int32_t)cols + 1, d = c + 1;
            int32_t tri[6] = {a, b, d, a, d, c};
            memcpy(out->faces + f * 3, tri, sizeof tri);
            f += 2;
        }
    return MG_OK;
}

static mg_status synthetic_data(const mg_ae_config *config, size_t count, size_t faces, mg_train_dataset *out,
                                mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    out->items = calloc(count, sizeof *out->items);
    if (!out->items)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory making benchmark meshes");
    out->params = mg_train_dataset_default_params(config);
    out->face_size = 3;
    mg_status status = MG_OK;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        out->count = i + 1;
        out->items[i].name = malloc(32);
        out->items[i].caption = malloc(32);
        if (!out->items[i].name || !out->items[i].caption) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory making benchmark meshes");
            break;
        }
        mg_format(out->items[i].name, 32, "synthetic%zu", i);
        mg_format(out->items[i].caption, 32, "a wavy surface %zu", i);
        status = grid_mesh(faces, i, &out->items[i].mesh, diag);
    }
    out->mesh_files = out->count;
    return status;
}

typedef struct clock_state {
    double first_step_done;
} clock_state;

static bool on_step(const mg_train_loop_report *r, void *user)
{
    clock_state *c = user;
    if (r->event == MG_TRAIN_EVENT_STEP && r->step == 1)
        c->first_step_done = now_seconds();
    return true;
}

mg_status mg_bench_train(mg_context *context, const mg_bench_train_params *params, mg_bench_train_result *out_result)
{
    mg_status status = mg_context_check(context, "mg_bench_train");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &context->diag;
    if (!params || !out_result || params->batch_size == 0 || params->steps == 0 || params->faces < 2)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bench_train: needs params and a result, a batch and steps "
                       "of at least 1 and at least 2 faces per mesh");
    memset(out_result, 0, sizeof *out_result);
    const char *size = params->size ? params->size : "small";
    const char *json = strcmp(size, "small") == 0 ? SMALL_CONFIG : strcmp(size, "default") == 0 ? DEFAULT_CONFIG
                                                                                                : NULL;
    if (!json)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bench_train: size must be \"small\" or \"default\"");
    mg_model_config config;
    memset(&config, 0, sizeof config);
    status = mg_model_config_parse_kwargs_file(json, strlen(json), size, &config, diag);
    if (status == MG_OK && params->faces > (size_t)config.autoencoder.max_faces && config.autoencoder.max_faces > 0)
        status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_bench_train: %zu faces is over the model's limit of %d",
                         params->faces, config.autoencoder.max_faces);
    bool transformer = params->kind == MG_TRAIN_TRANSFORMER;
    mg_trainable *model = NULL;
    /* The transformer trains over a frozen autoencoder read from a model file: a random one, written to a
     * temporary file that is removed at once after loading. */
    char ae_path[] = "/tmp/meshgpt-bench-train-XXXXXX";
    bool have_ae_file = false;
    if (status == MG_OK && transformer) {
        int fd = mkstemp(ae_path);
        if (fd < 0)
            status = mg_fail(diag, MG_ERR_IO, "mg_bench_train: cannot make a temporary file in /tmp: %s",
                             strerror(errno));
        else {
            close(fd);
            have_ae_file = true;
            mg_model_config ae_only = config;
            ae_only.has_transformer = false;
            ae_only.transformer_json = NULL;
            status = mg_model_write_random(ae_path, &ae_only, (uint32_t)params->seed + 1, 0.1f, MG_ST_F32, diag);
        }
    }
    if (status == MG_OK) {
        mg_train_model_source source = {.config = &config, .seed = params->seed, .ema = !transformer,
                                        .autoencoder = transformer ? ae_path : NULL};
        status = transformer ? mg_train_create_transformer(context, &source, &model, diag)
                             : mg_train_create_autoencoder(context, &source, &model, diag);
    }
    if (have_ae_file)
        remove(ae_path);
    mg_train_dataset data;
    memset(&data, 0, sizeof data);
    if (status == MG_OK)
        status = synthetic_data(&config.autoencoder, params->batch_size, params->faces, &data, diag);
    if (status == MG_OK) {
        mg_train_loop_config c = mg_train_loop_default_config();
        c.steps = params->steps + 1; /* the first step (pipelines compiled, memory allocated) is not timed */
        c.batch_size = params->batch_size;
        c.val_fraction = 0;
        c.val_every = 0;
        c.save_every = 0;
        c.warmup_steps = 0;
        c.ema = !transformer;
        c.augment = !transformer;
        c.seed = params->seed;
        clock_state clock = {0};
        status = mg_train_loop_run(model, &data, &c, on_step, &clock, NULL, diag);
        if (status == MG_OK)
            status = mg_context_synchronize(context);
        double end = now_seconds();
        if (status == MG_OK) {
            out_result->seconds = end - clock.first_step_done;
            out_result->steps_per_second = (double)params->steps / out_result->seconds;
            out_result->samples_per_second = out_result->steps_per_second * (double)params->batch_size;
            for (size_t i = 0; i < model->count; i++)
                if (model->params[i].adam_m)
                    out_result->parameters += model->params[i].value->count;
            mg_context_stats stats;
            if (mg_context_get_stats(context, &stats) == MG_OK)
                out_result->device_bytes_peak = stats.device_bytes_peak;
        }
    }
    mg_trainable_free(model);
    mg_train_dataset_free(&data);
    mg_model_config_free(&config);
    return status;
}
