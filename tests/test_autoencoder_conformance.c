/*
 * The autoencoder against meshgpt-pytorch 1.7.2 itself: the fixture model's
 * weights and the outputs the real library produced for a cube, a
 * tetrahedron and a 16-segment cone (tests/fixtures/meshgpt-pytorch-a). Every
 * intermediate result is compared, on the CPU reference and on Vulkan.
 * Integers (codes, arg-max coordinates, masks) must be identical; floats
 * within FLOAT_TOLERANCE (absolute, on values of order 1).
 */
#include "mesh/mesh_batch.h"
#include "model/model.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOAT_TOLERANCE 2e-4
#define MESHES 3
#define PAD_FACES 32

static const char *const MESH_NAMES[MESHES] = {"cube", "tetra", "cone16"};

/* ---- captured intermediate results ---- */

typedef struct captured {
    char name[64];
    float *values;
    int32_t *ints;
    int64_t shape[4];
    int ndim;
} captured;

typedef struct capture_set {
    captured items[32];
    size_t count;
} capture_set;

static void capture(void *user, const char *name, const mg_tensor *tensor)
{
    capture_set *set = user;
    cr_assert_lt(set->count, 32);
    captured *c = &set->items[set->count++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->ndim = tensor->ndim;
    memcpy(c->shape, tensor->shape, sizeof c->shape);
    if (tensor->dtype == MG_DTYPE_I32) {
        c->ints = malloc(tensor->nbytes);
        cr_assert_eq(mg_tensor_read(tensor, c->ints, tensor->nbytes), MG_OK);
    } else {
        c->values = malloc(tensor->count * sizeof(float));
        cr_assert_eq(mg_tensor_read_f32(tensor, c->values, tensor->count), MG_OK);
    }
}

static const captured *find(const capture_set *set, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    cr_assert_fail("no intermediate named %s was reported", name);
    return NULL;
}

static void release(capture_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->items[i].values);
        free(set->items[i].ints);
    }
    set->count = 0;
}

/* ---- fixtures ---- */

typedef struct fixture_meshes {
    mg_mesh meshes[MESHES];
    test_npy vertices[MESHES], faces[MESHES];
    int32_t *face_storage[MESHES];
} fixture_meshes;

static void load_meshes(fixture_meshes *f)
{
    for (int m = 0; m < MESHES; m++) {
        char name[64];
        snprintf(name, sizeof name, "mesh_%s_vertices", MESH_NAMES[m]);
        f->vertices[m] = test_npy_load(name);
        snprintf(name, sizeof name, "mesh_%s_faces", MESH_NAMES[m]);
        f->faces[m] = test_npy_load(name);
        f->face_storage[m] = malloc(f->faces[m].count * sizeof(int32_t));
        for (size_t i = 0; i < f->faces[m].count; i++)
            f->face_storage[m][i] = (int32_t)f->faces[m].i64[i];
        f->meshes[m] = (mg_mesh){.vertices = f->vertices[m].f32,
                                 .num_vertices = (size_t)f->vertices[m].shape[0],
                                 .faces = f->face_storage[m],
                                 .num_faces = (size_t)f->faces[m].shape[0],
                                 .face_size = 3};
    }
}

static void free_meshes(fixture_meshes *f)
{
    for (int m = 0; m < MESHES; m++) {
        test_npy_free(&f->vertices[m]);
        test_npy_free(&f->faces[m]);
        free(f->face_storage[m]);
    }
}

static mg_model *load_model(mg_context *ctx)
{
    mg_model *model = NULL;
    mg_status status = mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model);
    cr_assert_eq(status, MG_OK, "loading the fixture model: %s", mg_context_last_error(ctx));
    return model;
}

/* Compares rows of ours [rows, width] with the reference's rows picked by `ref_row`. */
static double max_row_diff(const float *ours, const float *reference, size_t width, size_t rows,
                           const size_t *ref_rows)
{
    double worst = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < width; i++) {
            double d = fabs((double)ours[r * width + i] - (double)reference[ref_rows[r] * width + i]);
            cr_assert(!isnan(d), "NaN at row %zu column %zu", r, i);
            worst = d > worst ? d : worst;
        }
    return worst;
}

/* ---- encoder side ---- */

static void check_tokenize_batch(mg_context *ctx)
{
    fixture_meshes f;
    load_meshes(&f);
    mg_model *model = load_model(ctx);
    mg_mesh_batch batch;
    cr_assert_eq(mg_mesh_batch_build(f.meshes, MESHES, &batch, &ctx->diag), MG_OK);
    capture_set set = {0};
    mg_ae_probe probe = {capture, &set};
    int32_t *codes = malloc(batch.num_faces * 3 * 2 * sizeof(int32_t));
    cr_assert_eq(mg_ae_tokenize(&model->autoencoder, &batch, codes, &probe), MG_OK, "%s",
                 mg_context_last_error(ctx));

    /* Packed face rows map to the padded reference rows mesh * 32 + face. */
    size_t *face_rows = malloc(batch.num_faces * sizeof(size_t));
    for (size_t m = 0; m < MESHES; m++)
        for (size_t i = batch.face_offsets[m]; i < batch.face_offsets[m + 1]; i++)
            face_rows[i] = m * PAD_FACES + (i - batch.face_offsets[m]);
    size_t *packed_rows = malloc(batch.num_faces * sizeof(size_t));
    for (size_t i = 0; i < batch.num_faces; i++)
        packed_rows[i] = i;

    test_npy embed_in = test_npy_load("ae_face_embed_in");
    test_npy sage = test_npy_load("ae_init_sage_conv_out");
    test_npy encoded = test_npy_load("ae_encoded");
    double d_embed = max_row_diff(find(&set, "face_embed_in")->values, embed_in.f32, 64, batch.num_faces, face_rows);
    double d_sage = max_row_diff(find(&set, "init_sage_conv_out")->values, sage.f32, 32, batch.num_faces, packed_rows);
    double d_encoded = max_row_diff(find(&set, "encoded")->values, encoded.f32, 64, batch.num_faces, face_rows);
    cr_log_info("face_embed_in %.3g, init_sage_conv_out %.3g, encoded %.3g", d_embed, d_sage, d_encoded);
    cr_expect_leq(d_embed, FLOAT_TOLERANCE, "face_embed_in differs by %g", d_embed);
    cr_expect_leq(d_sage, FLOAT_TOLERANCE, "init_sage_conv_out differs by %g", d_sage);
    cr_expect_leq(d_encoded, FLOAT_TOLERANCE, "encoded differs by %g", d_encoded);

    /* Vertices: reference rows mesh * 19 + vertex. */
    size_t *vertex_rows = malloc(batch.num_vertices * sizeof(size_t));
    for (size_t m = 0; m < MESHES; m++)
        for (size_t v = batch.vertex_offsets[m]; v < batch.vertex_offsets[m + 1]; v++)
            vertex_rows[v] = m * 19 + (v - batch.vertex_offsets[m]);
    test_npy q_in = test_npy_load("ae_quantizer_input");
    test_npy q_out = test_npy_load("ae_quantizer_output");
    test_npy q_idx = test_npy_load("ae_quantizer_indices");
    double d_qin = max_row_diff(find(&set, "quantizer_input")->values, q_in.f32, 64, batch.num_vertices, vertex_rows);
    double d_qout =
        max_row_diff(find(&set, "quantizer_output")->values, q_out.f32, 64, batch.num_vertices, vertex_rows);
    cr_log_info("quantizer_input %.3g, quantizer_output %.3g", d_qin, d_qout);
    cr_expect_leq(d_qin, FLOAT_TOLERANCE, "quantizer input differs by %g", d_qin);
    cr_expect_leq(d_qout, FLOAT_TOLERANCE, "quantizer output differs by %g", d_qout);
    const int32_t *indices = find(&set, "quantizer_indices")->ints;
    for (size_t v = 0; v < batch.num_vertices; v++)
        for (int q = 0; q < 2; q++)
            cr_expect_eq(indices[v * 2 + (size_t)q], q_idx.i64[vertex_rows[v] * 2 + (size_t)q],
                         "quantizer index of vertex %zu level %d", v, q);

    /* Codes per face corner, as autoencoder.tokenize returned them for the batch. */
    test_npy expected = test_npy_load("ae_tokenize_batch");
    size_t mismatches = 0;
    for (size_t m = 0; m < MESHES; m++)
        for (size_t i = batch.face_offsets[m]; i < batch.face_offsets[m + 1]; i++)
            for (size_t k = 0; k < 6; k++)
                mismatches += codes[i * 6 + k] != expected.i64[(m * PAD_FACES + (i - batch.face_offsets[m])) * 6 + k];
    cr_expect_eq(mismatches, 0, "%zu of %zu codes differ from meshgpt-pytorch", mismatches, batch.num_faces * 6);

    test_npy_free(&embed_in);
    test_npy_free(&sage);
    test_npy_free(&encoded);
    test_npy_free(&q_in);
    test_npy_free(&q_out);
    test_npy_free(&q_idx);
    test_npy_free(&expected);
    free(face_rows);
    free(packed_rows);
    free(vertex_rows);
    free(codes);
    release(&set);
    mg_mesh_batch_free(&batch);
    mg_model_free(model);
    free_meshes(&f);
}

/* The public API on each mesh alone (batch-less tokenize), with --preprocess none. */
static void check_tokenize_single(mg_context *ctx)
{
    fixture_meshes f;
    load_meshes(&f);
    mg_model *model = load_model(ctx);
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = MG_PREPROCESS_NONE;
    for (int m = 0; m < MESHES; m++) {
        mg_tokens tokens;
        cr_assert_eq(mg_tokenize(model, &f.meshes[m], 1, &params, &tokens, NULL), MG_OK, "%s",
                     mg_context_last_error(ctx));
        char name[64];
        snprintf(name, sizeof name, "ae_tokenize_%s", MESH_NAMES[m]);
        test_npy expected = test_npy_load(name);
        cr_assert_eq(tokens.num_faces * 3 * 2, expected.count);
        cr_assert_eq(tokens.face_size, 3);
        cr_assert_eq(tokens.levels, 2);
        for (size_t i = 0; i < expected.count; i++)
            cr_expect_eq(tokens.tokens[i], expected.i64[i], "%s token %zu", MESH_NAMES[m], i);
        test_npy_free(&expected);
        mg_tokens_free(&tokens);
    }
    mg_model_free(model);
    free_meshes(&f);
}

/* ---- decoder side ---- */

static void check_decode(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    test_npy codes64 = test_npy_load("ae_tokenize_batch");
    const size_t slots = MESHES * PAD_FACES;
    int32_t *codes = malloc(codes64.count * sizeof(int32_t));
    uint8_t mask[MESHES * PAD_FACES];
    for (size_t i = 0; i < codes64.count; i++)
        codes[i] = (int32_t)codes64.i64[i];
    for (size_t s = 0; s < slots; s++) {
        mask[s] = 1;
        for (size_t k = 0; k < 6; k++)
            mask[s] = mask[s] && codes[s * 6 + k] != -1;
    }
    test_npy expected_mask = test_npy_load("ae_decode_from_codes_face_mask");
    for (size_t s = 0; s < slots; s++)
        cr_assert_eq(mask[s], expected_mask.i64[s], "face mask of slot %zu", s);

    capture_set set = {0};
    mg_ae_probe probe = {capture, &set};
    int32_t *discrete = malloc(slots * 9 * sizeof(int32_t));
    float *logits = malloc(slots * 9 * 128 * sizeof(float));
    cr_assert_eq(mg_ae_decode(&model->autoencoder, codes, MESHES, PAD_FACES, mask, discrete, logits, &probe), MG_OK,
                 "%s", mg_context_last_error(ctx));

    size_t valid = 0;
    size_t *rows = malloc(slots * sizeof(size_t));
    for (size_t s = 0; s < slots; s++)
        if (mask[s])
            rows[valid++] = s;
    /* Ours are padded too: gather the valid rows of both sides. */
    test_npy quantized = test_npy_load("ae_quantized");
    test_npy decoded = test_npy_load("ae_decoded");
    test_npy coor_logits = test_npy_load("ae_coor_logits");
    test_npy init_conv = test_npy_load("ae_init_decoder_conv_out"); /* [3, 64, 32] channels first */
    const float *our_quantized = find(&set, "quantized")->values;
    const float *our_decoded = find(&set, "decoded")->values;
    const float *our_init = find(&set, "init_decoder_conv_out")->values;
    double d_q = 0, d_dec = 0, d_log = 0, d_init = 0;
    for (size_t r = 0; r < valid; r++) {
        size_t s = rows[r], m = s / PAD_FACES, n = s % PAD_FACES;
        for (size_t i = 0; i < 192; i++)
            d_q = fmax(d_q, fabs(our_quantized[s * 192 + i] - quantized.f32[s * 192 + i]));
        for (size_t i = 0; i < 128; i++)
            d_dec = fmax(d_dec, fabs(our_decoded[s * 128 + i] - decoded.f32[s * 128 + i]));
        for (size_t i = 0; i < 9 * 128; i++)
            d_log = fmax(d_log, fabs(logits[s * 9 * 128 + i] - coor_logits.f32[s * 9 * 128 + i]));
        for (size_t c = 0; c < 64; c++)
            d_init = fmax(d_init, fabs(our_init[s * 64 + c] - init_conv.f32[(m * 64 + c) * PAD_FACES + n]));
    }
    cr_log_info("quantized %.3g, init_decoder_conv_out %.3g, decoded %.3g, logits %.3g", d_q, d_init, d_dec, d_log);
    cr_expect_leq(d_q, FLOAT_TOLERANCE, "quantized differs by %g", d_q);
    cr_expect_leq(d_init, FLOAT_TOLERANCE, "init_decoder_conv_out differs by %g", d_init);
    cr_expect_leq(d_dec, FLOAT_TOLERANCE, "decoded differs by %g", d_dec);
    cr_expect_leq(d_log, 1e-3, "coordinate logits differ by %g", d_log);

    test_npy expected_discrete = test_npy_load("ae_decode_from_codes_discrete");
    size_t mismatches = 0;
    for (size_t r = 0; r < valid; r++)
        for (size_t k = 0; k < 9; k++)
            mismatches += discrete[rows[r] * 9 + k] != expected_discrete.i64[rows[r] * 9 + k];
    cr_expect_eq(mismatches, 0, "%zu arg-max coordinates differ from meshgpt-pytorch", mismatches);

    /* The eval loss of autoencoder(vertices, faces) on the batch and on each mesh alone. */
    test_npy targets64 = test_npy_load("ae_discrete_face_coords");
    int32_t *targets = malloc(targets64.count * sizeof(int32_t));
    for (size_t i = 0; i < targets64.count; i++)
        targets[i] = (int32_t)targets64.i64[i];
    double loss = mg_ae_recon_loss(&model->autoencoder.config, logits, targets, mask, slots);
    cr_log_info("eval loss %.9f (meshgpt-pytorch 5.00663948059082)", loss);
    cr_expect_leq(fabs(loss - 5.00663948059082), 1e-4, "eval loss %.9f", loss);
    const double per_mesh[MESHES] = {4.936453819274902, 5.032100200653076, 5.029775619506836};
    for (size_t m = 0; m < MESHES; m++) {
        double l = mg_ae_recon_loss(&model->autoencoder.config, logits + m * PAD_FACES * 9 * 128,
                                    targets + m * PAD_FACES * 9, mask + m * PAD_FACES, PAD_FACES);
        cr_expect_leq(fabs(l - per_mesh[m]), 1e-4, "%s eval loss %.9f, meshgpt-pytorch %.9f", MESH_NAMES[m], l,
                      per_mesh[m]);
    }

    test_npy_free(&codes64);
    test_npy_free(&expected_mask);
    test_npy_free(&quantized);
    test_npy_free(&decoded);
    test_npy_free(&coor_logits);
    test_npy_free(&init_conv);
    test_npy_free(&expected_discrete);
    test_npy_free(&targets64);
    free(targets);
    free(rows);
    free(codes);
    free(discrete);
    free(logits);
    release(&set);
    mg_model_free(model);
}

/* The public mg_decode: continuous coordinates, NaN at masked faces. */
static void check_public_decode(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    test_npy codes64 = test_npy_load("ae_tokenize_batch");
    test_npy coords = test_npy_load("ae_decode_from_codes_coords");
    test_npy expected_mask = test_npy_load("ae_decode_from_codes_face_mask");
    mg_tokens tokens[MESHES];
    int32_t *storage = malloc(codes64.count * sizeof(int32_t));
    for (size_t i = 0; i < codes64.count; i++)
        storage[i] = (int32_t)codes64.i64[i];
    for (size_t m = 0; m < MESHES; m++)
        tokens[m] = (mg_tokens){.tokens = storage + m * PAD_FACES * 6, .num_faces = PAD_FACES, .face_size = 3,
                                .levels = 2};
    mg_mesh meshes[MESHES];
    cr_assert_eq(mg_decode(model, tokens, MESHES, meshes), MG_OK, "%s", mg_context_last_error(ctx));
    for (size_t m = 0; m < MESHES; m++) {
        cr_assert_eq(meshes[m].num_faces, PAD_FACES);
        for (size_t f = 0; f < PAD_FACES; f++) {
            cr_expect_eq(meshes[m].face_mask[f], expected_mask.i64[m * PAD_FACES + f]);
            for (size_t k = 0; k < 9; k++) {
                float ours = meshes[m].vertices[(size_t)meshes[m].faces[f * 3 + k / 3] * 3 + k % 3];
                float ref = coords.f32[(m * PAD_FACES + f) * 9 + k];
                if (isnan(ref))
                    cr_expect(isnan(ours), "mesh %zu face %zu: expected NaN", m, f);
                else
                    cr_expect_eq(ours, ref, "mesh %zu face %zu coordinate %zu: %g vs %g", m, f, k, ours, ref);
            }
        }
        mg_mesh_free(&meshes[m]);
    }
    free(storage);
    test_npy_free(&codes64);
    test_npy_free(&coords);
    test_npy_free(&expected_mask);
    mg_model_free(model);
}

Test(autoencoder_conformance, tokenize_batch_cpu) { mg_context *ctx = test_cpu_context(); check_tokenize_batch(ctx); test_close(ctx); }
Test(autoencoder_conformance, tokenize_batch_vulkan) { mg_context *ctx = test_vulkan_context(); check_tokenize_batch(ctx); test_close(ctx); }
Test(autoencoder_conformance, tokenize_single_cpu) { mg_context *ctx = test_cpu_context(); check_tokenize_single(ctx); test_close(ctx); }
Test(autoencoder_conformance, tokenize_single_vulkan) { mg_context *ctx = test_vulkan_context(); check_tokenize_single(ctx); test_close(ctx); }
Test(autoencoder_conformance, decode_cpu) { mg_context *ctx = test_cpu_context(); check_decode(ctx); test_close(ctx); }
Test(autoencoder_conformance, decode_vulkan) { mg_context *ctx = test_vulkan_context(); check_decode(ctx); test_close(ctx); }
Test(autoencoder_conformance, public_decode_cpu) { mg_context *ctx = test_cpu_context(); check_public_decode(ctx); test_close(ctx); }
Test(autoencoder_conformance, public_decode_vulkan) { mg_context *ctx = test_vulkan_context(); check_public_decode(ctx); test_close(ctx); }
