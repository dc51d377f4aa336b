/* Shared by the autoencoder training tests: small meshes, tiny configurations,
 * batches and parameter access. Header-only (static functions) so each test
 * executable stays one file plus the shared helpers. */
#ifndef TEST_AE_TRAIN_COMMON_H
#define TEST_AE_TRAIN_COMMON_H

#include "mesh/discretize.h"
#include "mesh/mesh_batch.h"
#include "train/ae_train_internal.h"
#include "train/optim.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- meshes (coordinates inside (-1, 1)) ---- */

static float cube_vertices[] = {-0.5f, -0.5f, -0.5f, 0.5f, -0.5f, -0.5f, 0.5f, 0.5f, -0.5f, -0.5f, 0.5f, -0.5f,
                                -0.5f, -0.5f, 0.5f,  0.5f, -0.5f, 0.5f,  0.5f, 0.5f, 0.5f,  -0.5f, 0.5f, 0.5f};
static int32_t cube_faces[] = {0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4,
                               2, 3, 7, 2, 7, 6, 1, 2, 6, 1, 6, 5, 0, 4, 7, 0, 7, 3};
static float pyramid_vertices[] = {-0.6f, -0.4f, -0.6f, 0.6f, -0.4f, -0.6f, 0.6f, -0.4f, 0.6f,
                                   -0.6f, -0.4f, 0.6f,  0.0f, 0.7f,  0.0f};
static int32_t pyramid_faces[] = {0, 1, 2, 0, 2, 3, 0, 4, 1, 1, 4, 2, 2, 4, 3, 3, 4, 0};
static float tetra_vertices[] = {0.7f, 0.7f, 0.7f, 0.7f, -0.7f, -0.7f, -0.7f, 0.7f, -0.7f, -0.7f, -0.7f, 0.7f};
static int32_t tetra_faces[] = {0, 1, 2, 0, 3, 1, 0, 2, 3, 1, 3, 2};

static inline mg_mesh test_mesh(float *vertices, size_t num_vertices, int32_t *faces, size_t num_faces)
{
    mg_mesh mesh = {.vertices = vertices, .num_vertices = num_vertices, .faces = faces, .num_faces = num_faces,
                    .face_size = 3};
    return mesh;
}

static inline mg_mesh test_cube(void) { return test_mesh(cube_vertices, 8, cube_faces, 12); }
static inline mg_mesh test_pyramid(void) { return test_mesh(pyramid_vertices, 5, pyramid_faces, 6); }
static inline mg_mesh test_tetra(void) { return test_mesh(tetra_vertices, 4, tetra_faces, 4); }

/* ---- configurations ---- */

/* A tiny autoencoder that still has every layer kind: two SAGEConv layers, ResidualLFQ with projections, one
 * ResNet block without and one with a residual conv. */
static inline void tiny_config(mg_model_config *model_config, int bins)
{
    memset(model_config, 0, sizeof *model_config);
    mg_ae_config *c = &model_config->autoencoder;
    mg_ae_config_defaults(c);
    c->num_discrete_coors = bins;
    c->dim_coor_embed = 4;
    c->num_discrete_area = 16;
    c->dim_area_embed = 2;
    c->num_discrete_normals = 16;
    c->dim_normal_embed = 3;
    c->num_discrete_angle = 16;
    c->dim_angle_embed = 2;
    c->encoder_dims[0] = 8;
    c->encoder_dims[1] = 6;
    c->encoder_depth = 2;
    c->init_decoder_conv_kernel = 3;
    c->decoder_dims[0] = 6;
    c->decoder_dims[1] = 6;
    c->decoder_dims[2] = 8;
    c->decoder_depth = 3;
    c->dim_codebook = 5;
    c->num_quantizers = 2;
    c->codebook_size = 16;
}

/* A small autoencoder that can memorise a few meshes quickly. */
static inline void small_config(mg_model_config *model_config, int bins)
{
    tiny_config(model_config, bins);
    mg_ae_config *c = &model_config->autoencoder;
    c->dim_coor_embed = 8;
    c->dim_area_embed = 4;
    c->dim_normal_embed = 4;
    c->dim_angle_embed = 4;
    c->encoder_dims[0] = 16;
    c->encoder_dims[1] = 32;
    c->decoder_dims[0] = 32;
    c->decoder_dims[1] = 32;
    c->decoder_dims[2] = 48;
    c->dim_codebook = 16;
    c->codebook_size = 256;
}

/* ---- batches: only `packed` (and count) matter to the autoencoder's step ---- */

static inline void test_batch(mg_context *ctx, const mg_mesh *meshes, size_t count, mg_train_batch *out)
{
    memset(out, 0, sizeof *out);
    out->count = count;
    cr_assert_eq(mg_mesh_batch_build(meshes, count, &out->packed, &ctx->diag), MG_OK, "%s",
                 mg_context_last_error(ctx));
}

static inline void test_batch_free(mg_train_batch *batch)
{
    mg_mesh_batch_free(&batch->packed);
}

/* ---- trainables ---- */

static inline mg_trainable *fresh_trainable(mg_context *ctx, const mg_model_config *config, uint64_t seed)
{
    mg_ae_train_params params = mg_ae_train_default_params();
    params.config = config;
    params.seed = seed;
    mg_trainable *trainable = NULL;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_OK, "%s", mg_context_last_error(ctx));
    return trainable;
}

/* (mg_trainable_free belongs to the training loop's files; the destroy function is what it calls.) */
static inline void trainable_free(mg_trainable *trainable)
{
    if (trainable)
        trainable->destroy(trainable);
}

static inline mg_train_losses run_step(mg_trainable *trainable, const mg_train_batch *batch, bool backward, float scale)
{
    mg_train_losses losses;
    memset(&losses, 0, sizeof losses);
    cr_assert_eq(trainable->step(trainable, batch, backward, scale, NULL, &losses), MG_OK, "%s",
                 mg_context_last_error(trainable->ctx));
    return losses;
}

static inline void zero_grads(mg_trainable *trainable)
{
    cr_assert_eq(mg_train_zero_grads(trainable->ctx, trainable->grads, trainable->count), MG_OK);
}

/* One Adam step of every parameter (no warm-up, no clipping). */
static inline void adam_all(mg_trainable *trainable, double lr, uint64_t step)
{
    mg_adam_config config = mg_adam_default_config();
    config.lr = lr;
    for (size_t i = 0; i < trainable->count; i++) {
        mg_train_param *p = &trainable->params[i];
        mg_adam_step s = mg_adam_step_for(&config, step, 0, p->value->ndim);
        cr_assert_eq(mg_op_adam_step(trainable->ctx, &s, p->value, trainable->grads[i], p->adam_m, p->adam_v),
                     MG_OK, "%s", mg_context_last_error(trainable->ctx));
    }
}

/*
 * Trains a small autoencoder on a cube, a pyramid and a tetrahedron with Adam, saves it, and checks that
 * tokenize + decode of the saved model gives back most faces' discrete coordinates. Returns the first and
 * last reconstruction losses through the pointers.
 */
static inline void overfit_and_check(mg_context *ctx, int steps, double lr, double *first, double *last,
                                     double *recovered_fraction)
{
    mg_model_config config;
    small_config(&config, 64);
    mg_trainable *trainable = fresh_trainable(ctx, &config, 1);
    mg_mesh meshes[3] = {test_cube(), test_pyramid(), test_tetra()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 3, &batch);
    for (int step = 1; step <= steps; step++) {
        zero_grads(trainable);
        mg_train_losses losses = run_step(trainable, &batch, true, 1.0f);
        if (step == 1)
            *first = losses.values[0];
        *last = losses.values[0];
        adam_all(trainable, lr, (uint64_t)step);
    }
    *last = run_step(trainable, &batch, false, 1.0f).values[0];
    test_batch_free(&batch);

    char path[64];
    snprintf(path, sizeof path, "test_ae_overfit_%s.safetensors", ctx->gpu ? "vulkan" : "cpu");
    cr_assert_eq(trainable->save_model(trainable, path, false), MG_OK, "%s", mg_context_last_error(ctx));
    trainable_free(trainable);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = MG_PREPROCESS_NONE;
    mg_tokens tokens[3];
    mg_mesh decoded[3];
    cr_assert_eq(mg_tokenize(model, meshes, 3, &params, tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_decode(model, tokens, 3, decoded), MG_OK, "%s", mg_context_last_error(ctx));
    size_t faces = 0, exact = 0;
    const float lo = config.autoencoder.coor_range[0], hi = config.autoencoder.coor_range[1];
    for (int m = 0; m < 3; m++) {
        cr_assert_eq(decoded[m].num_faces, meshes[m].num_faces);
        for (size_t f = 0; f < meshes[m].num_faces; f++) {
            bool same = true;
            for (size_t k = 0; k < 3; k++)
                for (size_t a = 0; a < 3; a++) {
                    float want = meshes[m].vertices[meshes[m].faces[f * 3 + k] * 3 + a];
                    float got = decoded[m].vertices[decoded[m].faces[f * 3 + k] * 3 + a];
                    same &= mg_discretize(want, lo, hi, 64) == mg_discretize(got, lo, hi, 64);
                }
            faces++;
            exact += same;
        }
        mg_tokens_free(&tokens[m]);
        mg_mesh_free(&decoded[m]);
    }
    *recovered_fraction = (double)exact / (double)faces;
    mg_model_free(model);
    remove(path);
}

#endif
