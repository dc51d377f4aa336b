/*
 * The tokenizer through the public API only (meshgpt.h), on the small real
 * meshgpt-pytorch model of the fixtures and the sample meshes in
 * assets/meshes: the structure of tokens and decoded meshes, CPU against
 * Vulkan, batches against single meshes, independence of the input's vertex
 * and face order, missing tokens, and every kind of bad input with the status
 * and the message a user gets. (Token values against meshgpt-pytorch are in
 * test_autoencoder_conformance.c.)
 */
#include "meshgpt.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_FILE "meshgpt-pytorch-a/model.safetensors"
/* The fixture model: 256 codes, 2 residual levels, triangles, the default limit of 800 faces. */
#define CODEBOOK_SIZE 256
#define LEVELS 2
#define FACE_SIZE 3
#define MAX_FACES 800

static const char *const SAMPLES[] = {"cube.obj", "tetrahedron.ply", "cone.stl", "table.obj", "grid.obj",
                                      "octahedron.glb"};
#define SAMPLE_COUNT (sizeof SAMPLES / sizeof SAMPLES[0])

static mg_model *load_model(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path(MODEL_FILE), &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_model_face_size(model), FACE_SIZE);
    cr_assert_eq(mg_model_max_faces(model), MAX_FACES);
    return model;
}

/* A sample mesh as triangles (quads become fans, as the CLI reads them for a triangle model). */
static mg_mesh read_sample(const char *name)
{
    char relative[256], error[512];
    snprintf(relative, sizeof relative, "../../assets/meshes/%s", name);
    mg_mesh mesh;
    mg_mesh_read_params params = mg_mesh_read_default_params();
    cr_assert_eq(mg_mesh_read(test_fixture_path(relative), &params, &mesh, error, sizeof error), MG_OK, "%s: %s",
                 name, error);
    cr_assert_eq(mesh.face_size, FACE_SIZE);
    return mesh;
}

static size_t token_count(const mg_tokens *t)
{
    return t->num_faces * t->face_size * t->levels;
}

static bool same_tokens(const mg_tokens *a, const mg_tokens *b)
{
    return a->num_faces == b->num_faces && a->face_size == b->face_size && a->levels == b->levels &&
           memcmp(a->tokens, b->tokens, token_count(a) * sizeof(int32_t)) == 0;
}

static void assert_tokens_well_formed(const mg_tokens *t, size_t faces, const char *what)
{
    cr_assert_eq(t->num_faces, faces, "%s: %zu faces tokenized, expected %zu", what, t->num_faces, faces);
    cr_assert_eq(t->face_size, FACE_SIZE, "%s", what);
    cr_assert_eq(t->levels, LEVELS, "%s", what);
    cr_assert_not_null(t->tokens, "%s", what);
    for (size_t i = 0; i < token_count(t); i++)
        cr_assert(t->tokens[i] >= 0 && t->tokens[i] < CODEBOOK_SIZE, "%s: token %zu is %d", what, i, t->tokens[i]);
}

/* decode(tokens) keeps the face count; every face valid with finite coordinates in the model's range. */
static void assert_decodes(mg_model *model, const mg_tokens *tokens, const char *what)
{
    mg_mesh decoded;
    cr_assert_eq(mg_decode(model, tokens, 1, &decoded), MG_OK, "%s", what);
    cr_assert_eq(decoded.num_faces, tokens->num_faces, "%s", what);
    cr_assert_eq(decoded.face_size, FACE_SIZE, "%s", what);
    cr_assert_eq(decoded.num_vertices, tokens->num_faces * FACE_SIZE, "%s: one vertex per corner", what);
    cr_assert_not_null(decoded.face_mask, "%s", what);
    for (size_t f = 0; f < decoded.num_faces; f++)
        cr_assert_eq(decoded.face_mask[f], 1, "%s: face %zu masked", what, f);
    for (size_t i = 0; i < decoded.num_vertices * 3; i++)
        cr_assert(isfinite(decoded.vertices[i]) && fabsf(decoded.vertices[i]) <= 1.0f, "%s: coordinate %zu is %g",
                  what, i, (double)decoded.vertices[i]);
    for (size_t i = 0; i < decoded.num_faces * FACE_SIZE; i++)
        cr_assert_eq(decoded.faces[i], (int32_t)i, "%s", what);
    mg_mesh_free(&decoded);
}

/* ---- structure ---- */

static void check_samples(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    for (size_t s = 0; s < SAMPLE_COUNT; s++) {
        mg_mesh mesh = read_sample(SAMPLES[s]);
        mg_tokens tokens;
        mg_mesh seen;
        cr_assert_eq(mg_tokenize(model, &mesh, 1, NULL, &tokens, &seen), MG_OK, "%s: %s", SAMPLES[s],
                     mg_context_last_error(ctx));
        /* The samples are clean meshes: preprocessing drops no face. */
        assert_tokens_well_formed(&tokens, mesh.num_faces, SAMPLES[s]);
        cr_assert_eq(seen.num_faces, tokens.num_faces, "%s: the preprocessed mesh and the tokens disagree",
                     SAMPLES[s]);
        cr_assert_eq(seen.face_size, FACE_SIZE);
        cr_assert_null(seen.face_mask);
        for (size_t i = 0; i < seen.num_faces * FACE_SIZE; i++)
            cr_assert(seen.faces[i] >= 0 && (size_t)seen.faces[i] < seen.num_vertices);
        assert_decodes(model, &tokens, SAMPLES[s]);
        mg_tokens_free(&tokens);
        mg_mesh_free(&seen);
        mg_mesh_free(&mesh);
    }
    mg_model_free(model);
}

Test(tokenizer_api, samples_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_samples(ctx);
    test_close(ctx);
}

Test(tokenizer_api, samples_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_samples(ctx);
    test_close(ctx);
}

/* Tokens of every sample on one context, made one mesh at a time. */
static mg_tokens *tokenize_samples(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    mg_tokens *all = calloc(SAMPLE_COUNT, sizeof *all);
    for (size_t s = 0; s < SAMPLE_COUNT; s++) {
        mg_mesh mesh = read_sample(SAMPLES[s]);
        cr_assert_eq(mg_tokenize(model, &mesh, 1, NULL, &all[s], NULL), MG_OK, "%s", mg_context_last_error(ctx));
        mg_mesh_free(&mesh);
    }
    mg_model_free(model);
    return all;
}

static void free_token_list(mg_tokens *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        mg_tokens_free(&list[i]);
    free(list);
}

Test(tokenizer_api, cpu_and_vulkan_give_the_same_tokens)
{
    mg_context *cpu = test_cpu_context();
    mg_tokens *reference = tokenize_samples(cpu);
    test_close(cpu);
    mg_context *gpu = test_vulkan_context();
    mg_tokens *tokens = tokenize_samples(gpu);
    test_close(gpu);
    for (size_t s = 0; s < SAMPLE_COUNT; s++) {
        size_t differ = 0;
        cr_assert_eq(tokens[s].num_faces, reference[s].num_faces);
        for (size_t i = 0; i < token_count(&tokens[s]); i++)
            differ += tokens[s].tokens[i] != reference[s].tokens[i];
        cr_assert_eq(differ, 0, "%s: %zu of %zu tokens differ between Vulkan and the CPU reference", SAMPLES[s],
                     differ, token_count(&tokens[s]));
    }
    free_token_list(reference, SAMPLE_COUNT);
    free_token_list(tokens, SAMPLE_COUNT);
}

/* Meshes of different sizes in one batch: padding must not leak into any mesh's tokens. */
static void check_batch(mg_context *ctx)
{
    static const char *const names[3] = {"table.obj", "tetrahedron.ply", "cone.stl"};
    mg_model *model = load_model(ctx);
    mg_mesh meshes[3];
    mg_tokens alone[3], batch[3];
    mg_mesh seen[3];
    for (int i = 0; i < 3; i++) {
        meshes[i] = read_sample(names[i]);
        cr_assert_eq(mg_tokenize(model, &meshes[i], 1, NULL, &alone[i], NULL), MG_OK, "%s",
                     mg_context_last_error(ctx));
    }
    cr_assert_eq(mg_tokenize(model, meshes, 3, NULL, batch, seen), MG_OK, "%s", mg_context_last_error(ctx));
    for (int i = 0; i < 3; i++) {
        cr_assert(same_tokens(&batch[i], &alone[i]), "%s: tokens in a batch of 3 differ from alone", names[i]);
        cr_assert_eq(seen[i].num_faces, batch[i].num_faces);
        mg_tokens_free(&alone[i]);
        mg_tokens_free(&batch[i]);
        mg_mesh_free(&seen[i]);
        mg_mesh_free(&meshes[i]);
    }
    mg_model_free(model);
}

Test(tokenizer_api, batch_equals_single_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_batch(ctx);
    test_close(ctx);
}

Test(tokenizer_api, batch_equals_single_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_batch(ctx);
    test_close(ctx);
}

/* ---- order invariance ---- */

static uint32_t next_random(uint32_t *state)
{
    /* xorshift32: deterministic, good enough to shuffle. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void shuffle(size_t *values, size_t count, uint32_t *state)
{
    for (size_t i = 0; i < count; i++)
        values[i] = i;
    for (size_t i = count; i > 1; i--) {
        size_t j = next_random(state) % i;
        size_t t = values[i - 1];
        values[i - 1] = values[j];
        values[j] = t;
    }
}

/* The same mesh with vertices permuted (faces re-indexed), faces shuffled and each face rotated
 * cyclically (winding kept). The caller frees both arrays. */
static mg_mesh scramble(const mg_mesh *in, uint32_t seed)
{
    uint32_t state = seed * 2654435761u + 1u;
    mg_mesh out = *in;
    out.vertices = malloc(in->num_vertices * 3 * sizeof(float));
    out.faces = malloc(in->num_faces * FACE_SIZE * sizeof(int32_t));
    out.face_mask = NULL;
    size_t *vertex_order = malloc(in->num_vertices * sizeof *vertex_order);
    size_t *new_index = malloc(in->num_vertices * sizeof *new_index);
    size_t *face_order = malloc(in->num_faces * sizeof *face_order);
    shuffle(vertex_order, in->num_vertices, &state);
    for (size_t v = 0; v < in->num_vertices; v++) {
        memcpy(out.vertices + v * 3, in->vertices + vertex_order[v] * 3, 3 * sizeof(float));
        new_index[vertex_order[v]] = v;
    }
    shuffle(face_order, in->num_faces, &state);
    for (size_t f = 0; f < in->num_faces; f++) {
        const int32_t *face = in->faces + face_order[f] * FACE_SIZE;
        size_t rotation = next_random(&state) % FACE_SIZE;
        for (size_t c = 0; c < FACE_SIZE; c++)
            out.faces[f * FACE_SIZE + c] = (int32_t)new_index[face[(c + rotation) % FACE_SIZE]];
    }
    free(vertex_order);
    free(new_index);
    free(face_order);
    return out;
}

static void free_scrambled(mg_mesh *mesh)
{
    free(mesh->vertices);
    free(mesh->faces);
}

Test(tokenizer_api, tokens_do_not_depend_on_vertex_and_face_order)
{
    static const char *const names[] = {"cube.obj", "cone.stl", "table.obj", "octahedron.glb"};
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    mg_tokenize_params as_given = mg_tokenize_default_params();
    as_given.preprocess = MG_PREPROCESS_NONE;
    size_t differ_without_preprocessing = 0, tries = 0;
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        mg_mesh mesh = read_sample(names[n]);
        mg_tokens reference, reference_as_given;
        cr_assert_eq(mg_tokenize(model, &mesh, 1, NULL, &reference, NULL), MG_OK, "%s", mg_context_last_error(ctx));
        cr_assert_eq(mg_tokenize(model, &mesh, 1, &as_given, &reference_as_given, NULL), MG_OK, "%s",
                     mg_context_last_error(ctx));
        for (uint32_t seed = 1; seed <= 3; seed++) {
            mg_mesh scrambled = scramble(&mesh, seed + 10u * (uint32_t)n);
            mg_tokens tokens, tokens_as_given;
            cr_assert_eq(mg_tokenize(model, &scrambled, 1, NULL, &tokens, NULL), MG_OK, "%s",
                         mg_context_last_error(ctx));
            cr_assert(same_tokens(&tokens, &reference), "%s, permutation %u: the tokens changed", names[n], seed);
            cr_assert_eq(mg_tokenize(model, &scrambled, 1, &as_given, &tokens_as_given, NULL), MG_OK, "%s",
                         mg_context_last_error(ctx));
            differ_without_preprocessing += !same_tokens(&tokens_as_given, &reference_as_given);
            tries++;
            mg_tokens_free(&tokens);
            mg_tokens_free(&tokens_as_given);
            free_scrambled(&scrambled);
        }
        mg_tokens_free(&reference);
        mg_tokens_free(&reference_as_given);
        mg_mesh_free(&mesh);
    }
    /* The permutations are real: taken as given, the tokens follow the face order. */
    cr_assert_eq(differ_without_preprocessing, tries,
                 "only %zu of %zu permutations changed the tokens of MG_PREPROCESS_NONE: the scrambling is too weak "
                 "for the test to mean anything",
                 differ_without_preprocessing, tries);
    mg_model_free(model);
    test_close(ctx);
}

/* ---- what the tokenizer saw ---- */

Test(tokenizer_api, out_meshes_follow_the_tokens)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    /* The cube with a face that repeats a vertex and a duplicate of face 0 (other winding): two faces go. */
    mg_mesh cube = read_sample("cube.obj");
    mg_mesh extra = cube;
    extra.num_faces = cube.num_faces + 2;
    extra.faces = malloc(extra.num_faces * FACE_SIZE * sizeof(int32_t));
    memcpy(extra.faces, cube.faces, cube.num_faces * FACE_SIZE * sizeof(int32_t));
    int32_t *added = extra.faces + cube.num_faces * FACE_SIZE;
    added[0] = 0, added[1] = 0, added[2] = 5;
    added[3] = cube.faces[0], added[4] = cube.faces[2], added[5] = cube.faces[1];
    mg_tokens tokens, plain_tokens;
    mg_mesh seen, plain_seen;
    cr_assert_eq(mg_tokenize(model, &extra, 1, NULL, &tokens, &seen), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(tokens.num_faces, cube.num_faces, "the degenerate and the duplicate face are dropped");
    cr_assert_eq(seen.num_faces, tokens.num_faces);
    cr_assert_eq(seen.num_vertices, 8);
    /* The cube spans [-0.5, 0.5]: normalized to 95% of [-1, 1] then snapped to the grid, every corner
     * is at +-(bin centre nearest 0.95). */
    for (size_t i = 0; i < seen.num_vertices * 3; i++)
        cr_assert(fabsf(fabsf(seen.vertices[i]) - 0.95f) < 2.0f / 128, "coordinate %zu is %g", i,
                  (double)seen.vertices[i]);
    /* Without preprocessing the tokenizer sees exactly the input. */
    mg_tokenize_params as_given = mg_tokenize_default_params();
    as_given.preprocess = MG_PREPROCESS_NONE;
    cr_assert_eq(mg_tokenize(model, &cube, 1, &as_given, &plain_tokens, &plain_seen), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_assert_eq(plain_seen.num_faces, cube.num_faces);
    cr_assert_eq(plain_tokens.num_faces, cube.num_faces);
    cr_assert_eq(plain_seen.num_vertices, cube.num_vertices);
    cr_assert_arr_eq(plain_seen.faces, cube.faces, cube.num_faces * FACE_SIZE * sizeof(int32_t));
    cr_assert_arr_eq(plain_seen.vertices, cube.vertices, cube.num_vertices * 3 * sizeof(float));
    mg_tokens_free(&tokens);
    mg_tokens_free(&plain_tokens);
    mg_mesh_free(&seen);
    mg_mesh_free(&plain_seen);
    free(extra.faces);
    mg_mesh_free(&cube);
    mg_model_free(model);
    test_close(ctx);
}

/* ---- decoding with missing tokens ---- */

static void check_missing_tokens(mg_context *ctx)
{
    mg_model *model = load_model(ctx);
    mg_mesh cube = read_sample("cube.obj");
    mg_tokens tokens;
    cr_assert_eq(mg_tokenize(model, &cube, 1, NULL, &tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    const size_t per_face = FACE_SIZE * LEVELS, faces = tokens.num_faces;
    tokens.tokens[3 * per_face + 4] = -1;            /* face 3: a missing token (corner 2, level 0) */
    tokens.tokens[7 * per_face + 1] = CODEBOOK_SIZE; /* face 7: a code the codebook does not have */
    tokens.tokens[9 * per_face + 5] = INT32_MAX;     /* face 9: far out of range */
    mg_mesh decoded;
    cr_assert_eq(mg_decode(model, &tokens, 1, &decoded), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(decoded.num_faces, faces);
    for (size_t f = 0; f < faces; f++) {
        const bool masked = f == 3 || f == 7 || f == 9;
        cr_assert_eq(decoded.face_mask[f], masked ? 0 : 1, "face %zu", f);
        for (size_t i = 0; i < FACE_SIZE * 3; i++) {
            float value = decoded.vertices[f * FACE_SIZE * 3 + i];
            cr_assert(masked ? isnan(value) : isfinite(value), "face %zu coordinate %zu is %g", f, i, (double)value);
        }
    }
    mg_mesh welded;
    char error[256];
    cr_assert_eq(mg_mesh_weld(&decoded, &welded, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(welded.num_faces, faces - 3, "the weld keeps only the valid faces");
    cr_assert(welded.num_vertices >= 1 && welded.num_vertices <= (faces - 3) * FACE_SIZE);
    for (size_t i = 0; i < welded.num_vertices * 3; i++)
        cr_assert(isfinite(welded.vertices[i]));
    for (size_t i = 0; i < welded.num_faces * FACE_SIZE; i++)
        cr_assert(welded.faces[i] >= 0 && (size_t)welded.faces[i] < welded.num_vertices);
    cr_assert(welded.face_mask == NULL || welded.face_mask[0] == 1);
    /* A face whose every token is missing is masked the same way. */
    for (size_t i = 0; i < per_face; i++)
        tokens.tokens[i] = -1;
    mg_mesh decoded_again;
    cr_assert_eq(mg_decode(model, &tokens, 1, &decoded_again), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(decoded_again.face_mask[0], 0);
    cr_assert_eq(decoded_again.face_mask[1], 1);
    mg_mesh_free(&decoded_again);
    mg_mesh_free(&welded);
    mg_mesh_free(&decoded);
    mg_tokens_free(&tokens);
    mg_mesh_free(&cube);
    mg_model_free(model);
}

Test(tokenizer_api, missing_tokens_mask_their_face_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_missing_tokens(ctx);
    test_close(ctx);
}

Test(tokenizer_api, missing_tokens_mask_their_face_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_missing_tokens(ctx);
    test_close(ctx);
}

/* ---- bad input ---- */

/* Tokenizing `mesh` fails with `status` and a message holding each of the NULL-terminated facts. */
static void expect_tokenize_error(mg_model *model, mg_context *ctx, const mg_mesh *mesh, mg_preprocess preprocess,
                                  mg_status status, const char *const *facts)
{
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = preprocess;
    mg_tokens tokens;
    memset(&tokens, 0x5a, sizeof tokens);
    mg_mesh seen;
    memset(&seen, 0x5a, sizeof seen);
    mg_status got = mg_tokenize(model, mesh, 1, &params, &tokens, &seen);
    const char *message = mg_context_last_error(ctx);
    cr_assert_eq(got, status, "expected %s, got %s: %s", mg_status_string(status), mg_status_string(got), message);
    for (const char *const *fact = facts; *fact; fact++)
        cr_assert(strstr(message, *fact), "the message \"%s\" does not say \"%s\"", message, *fact);
    cr_assert_null(tokens.tokens, "a failed call leaves no tokens behind");
}

/* A 3-triangle strip the tests break in different ways; arrays the test owns. */
typedef struct strip {
    float vertices[5 * 3];
    int32_t faces[3 * 3];
    mg_mesh mesh;
} strip;

static void make_strip(strip *s)
{
    static const float vertices[5 * 3] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 2, 0.5f};
    static const int32_t faces[3 * 3] = {0, 1, 3, 0, 3, 2, 2, 3, 4};
    memcpy(s->vertices, vertices, sizeof vertices);
    memcpy(s->faces, faces, sizeof faces);
    memset(&s->mesh, 0, sizeof s->mesh);
    s->mesh.vertices = s->vertices;
    s->mesh.num_vertices = 5;
    s->mesh.faces = s->faces;
    s->mesh.num_faces = 3;
    s->mesh.face_size = 3;
}

Test(tokenizer_api, bad_meshes_name_what_is_wrong)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    strip s;

    make_strip(&s);
    s.vertices[3 * 3 + 1] = NAN;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"vertex 3", "NaN", "y coordinate", NULL});
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_NONE, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"vertex 3", "NaN", NULL});

    make_strip(&s);
    s.vertices[4 * 3 + 2] = -INFINITY;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"vertex 4", "infinite", "z coordinate", NULL});

    make_strip(&s);
    s.faces[2 * 3 + 1] = 5;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"face 2", "vertex 5", "only 5 vertices", NULL});
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_NONE, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"face 2", "vertex 5", NULL});

    make_strip(&s);
    s.faces[1 * 3 + 0] = -7;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"face 1", "negative", "-7", NULL});

    /* Empty meshes. */
    mg_mesh empty;
    memset(&empty, 0, sizeof empty);
    empty.face_size = 3;
    expect_tokenize_error(model, ctx, &empty, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"no vertices", NULL});
    make_strip(&s);
    s.mesh.num_faces = 0;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_NONE, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"no faces", NULL});
    make_strip(&s);
    s.mesh.faces = NULL;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"face array is NULL", NULL});

    /* Quads for a triangle model; a face size that does not exist. */
    static const int32_t quad[4] = {0, 1, 3, 2};
    make_strip(&s);
    s.mesh.faces = (int32_t *)quad;
    s.mesh.num_faces = 1;
    s.mesh.face_size = 4;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"4 vertices", "triangles", NULL});
    s.mesh.face_size = 5;
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"5 vertices", NULL});

    /* Every face repeats a vertex: nothing is left after preprocessing. */
    make_strip(&s);
    for (size_t f = 0; f < 3; f++)
        s.faces[f * 3 + 2] = s.faces[f * 3];
    expect_tokenize_error(model, ctx, &s.mesh, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"repeats a vertex", NULL});
    /* Two vertices in one cell of the 128-level grid merge, so the face between them goes too. */
    make_strip(&s);
    s.vertices[1 * 3 + 0] = 1e-4f; /* vertex 1 next to vertex 0 */
    mg_tokens tokens;
    cr_assert_eq(mg_tokenize(model, &s.mesh, 1, NULL, &tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(tokens.num_faces, 2, "face 0 lost a corner to the merge");
    mg_tokens_free(&tokens);

    /* Unknown preprocessing. */
    make_strip(&s);
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = (mg_preprocess)7;
    cr_assert_eq(mg_tokenize(model, &s.mesh, 1, &params, &tokens, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "unknown preprocess mode 7"), "%s", mg_context_last_error(ctx));

    mg_model_free(model);
    test_close(ctx);
}

/* Upstream's tokenize takes whatever faces it is given; with MG_PREPROCESS_NONE so does this library:
 * a face that repeats a vertex is tokenized like any other (its normal and area are zero). */
Test(tokenizer_api, degenerate_faces_as_given)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    strip s;
    make_strip(&s);
    s.faces[1 * 3 + 2] = s.faces[1 * 3 + 0];
    mg_tokenize_params as_given = mg_tokenize_default_params();
    as_given.preprocess = MG_PREPROCESS_NONE;
    mg_tokens tokens, preprocessed;
    mg_mesh seen;
    cr_assert_eq(mg_tokenize(model, &s.mesh, 1, &as_given, &tokens, &seen), MG_OK, "%s",
                 mg_context_last_error(ctx));
    assert_tokens_well_formed(&tokens, 3, "degenerate face as given");
    cr_assert_eq(seen.num_faces, 3);
    cr_assert_eq(seen.faces[1 * 3 + 2], 0);
    assert_decodes(model, &tokens, "degenerate face as given");
    /* The default preprocessing drops it. */
    cr_assert_eq(mg_tokenize(model, &s.mesh, 1, NULL, &preprocessed, NULL), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_assert_eq(preprocessed.num_faces, 2);
    mg_tokens_free(&tokens);
    mg_tokens_free(&preprocessed);
    mg_mesh_free(&seen);
    mg_model_free(model);
    test_close(ctx);
}

/* A flat grid of columns x rows squares, two triangles each, in [-1, 1]. */
static mg_mesh grid_mesh(size_t columns, size_t rows)
{
    mg_mesh mesh;
    memset(&mesh, 0, sizeof mesh);
    mesh.face_size = 3;
    mesh.num_vertices = (columns + 1) * (rows + 1);
    mesh.num_faces = columns * rows * 2;
    mesh.vertices = malloc(mesh.num_vertices * 3 * sizeof(float));
    mesh.faces = malloc(mesh.num_faces * 3 * sizeof(int32_t));
    for (size_t r = 0; r <= rows; r++) {
        for (size_t c = 0; c <= columns; c++) {
            float *v = mesh.vertices + (r * (columns + 1) + c) * 3;
            v[0] = -1.0f + 2.0f * (float)c / (float)columns;
            v[1] = 0.0f;
            v[2] = -1.0f + 2.0f * (float)r / (float)rows;
        }
    }
    for (size_t r = 0, f = 0; r < rows; r++) {
        for (size_t c = 0; c < columns; c++, f += 2) {
            int32_t a = (int32_t)(r * (columns + 1) + c), b = a + 1, d = a + (int32_t)columns + 1, e = d + 1;
            int32_t *face = mesh.faces + f * 3;
            face[0] = a, face[1] = d, face[2] = b;
            face[3] = b, face[4] = d, face[5] = e;
        }
    }
    return mesh;
}

Test(tokenizer_api, more_faces_than_the_model_takes)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    /* 20 x 20 squares = 800 triangles: exactly the limit. */
    mg_mesh fits = grid_mesh(20, 20);
    mg_tokens tokens;
    cr_assert_eq(mg_tokenize(model, &fits, 1, NULL, &tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(tokens.num_faces, 800);
    mg_tokens_free(&tokens);
    mg_mesh_free(&fits);
    /* 21 x 20 = 840 triangles, with and without preprocessing. */
    mg_mesh too_big = grid_mesh(21, 20);
    expect_tokenize_error(model, ctx, &too_big, MG_PREPROCESS_MODEL, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"840 faces", "at most 800", NULL});
    expect_tokenize_error(model, ctx, &too_big, MG_PREPROCESS_NONE, MG_ERR_INVALID_ARGUMENT,
                          (const char *const[]){"840 faces", "at most 800", NULL});
    mg_mesh_free(&too_big);
    mg_model_free(model);
    test_close(ctx);
}

Test(tokenizer_api, null_arguments)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    mg_mesh cube = read_sample("cube.obj");
    mg_tokens tokens;
    mg_mesh mesh;
    cr_assert_eq(mg_tokenize(NULL, &cube, 1, NULL, &tokens, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokenize(model, NULL, 1, NULL, &tokens, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "mg_tokenize"), "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_tokenize(model, &cube, 0, NULL, &tokens, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokenize(model, &cube, 1, NULL, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokenize(model, &cube, 1, NULL, &tokens, NULL), MG_OK);
    cr_assert_eq(mg_decode(NULL, &tokens, 1, &mesh), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_decode(model, NULL, 1, &mesh), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "mg_decode"), "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_decode(model, &tokens, 0, &mesh), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_decode(model, &tokens, 1, NULL), MG_ERR_INVALID_ARGUMENT);
    char error[256];
    cr_assert_eq(mg_mesh_weld(NULL, &mesh, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_mesh_weld(&cube, NULL, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_model_load(ctx, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    /* The free functions take NULL and empty structs. */
    mg_tokens_free(NULL);
    mg_mesh_free(NULL);
    mg_model_free(NULL);
    mg_tokens_free(&tokens);
    mg_tokens_free(&tokens);
    mg_mesh_free(&cube);
    mg_model_free(model);
    test_close(ctx);
}

/* mg_decode refuses tokens that do not fit the model, with `status` and the facts in the message. */
static void expect_decode_error(mg_model *model, mg_context *ctx, const mg_tokens *tokens, const char *fact)
{
    mg_mesh mesh;
    memset(&mesh, 0x5a, sizeof mesh);
    cr_assert_eq(mg_decode(model, tokens, 1, &mesh), MG_ERR_INVALID_ARGUMENT);
    const char *message = mg_context_last_error(ctx);
    cr_assert(strstr(message, fact), "the message \"%s\" does not say \"%s\"", message, fact);
    cr_assert_null(mesh.vertices);
}

Test(tokenizer_api, decode_refuses_tokens_of_another_shape)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    int32_t values[900 * 4 * 3];
    memset(values, 0, sizeof values);
    mg_tokens tokens = {values, 2, 4, LEVELS};
    expect_decode_error(model, ctx, &tokens, "4 vertices per face");
    tokens = (mg_tokens){values, 2, FACE_SIZE, 3};
    expect_decode_error(model, ctx, &tokens, "3 levels");
    tokens = (mg_tokens){values, 0, FACE_SIZE, LEVELS};
    expect_decode_error(model, ctx, &tokens, "empty");
    tokens = (mg_tokens){NULL, 2, FACE_SIZE, LEVELS};
    expect_decode_error(model, ctx, &tokens, "empty");
    tokens = (mg_tokens){values, 801, FACE_SIZE, LEVELS};
    expect_decode_error(model, ctx, &tokens, "at most 800");
    /* The second of two sequences is the bad one: the message says which. */
    mg_tokens pair[2] = {{values, 2, FACE_SIZE, LEVELS}, {values, 2, FACE_SIZE, 1}};
    mg_mesh meshes[2];
    cr_assert_eq(mg_decode(model, pair, 2, meshes), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "sequence 1"), "%s", mg_context_last_error(ctx));
    mg_model_free(model);
    test_close(ctx);
}

/* The error of one bad mesh in a batch names it and leaves nothing allocated. */
Test(tokenizer_api, bad_mesh_in_a_batch)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_model(ctx);
    mg_mesh meshes[3] = {read_sample("cube.obj"), read_sample("tetrahedron.ply"), read_sample("cone.stl")};
    mg_mesh too_big = grid_mesh(30, 30);
    mg_mesh batch[3] = {meshes[0], meshes[1], too_big};
    mg_tokens tokens[3];
    mg_mesh seen[3];
    cr_assert_eq(mg_tokenize(model, batch, 3, NULL, tokens, seen), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(mg_context_last_error(ctx), "mesh 2"), "%s", mg_context_last_error(ctx));
    for (int i = 0; i < 3; i++)
        cr_assert_null(tokens[i].tokens);
    mg_mesh_free(&too_big);
    for (int i = 0; i < 3; i++)
        mg_mesh_free(&meshes[i]);
    mg_model_free(model);
    test_close(ctx);
}
