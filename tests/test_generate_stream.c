/*
 * Streaming generation (mg_generate_params.on_face): the callback sees every
 * completed face of every running sample, its tokens are the prefix of the
 * final result, decoding from inside the callback works (what a viewer does)
 * and equals decoding the same tokens afterwards, and returning false cancels.
 */
#include "model/model.h"
#include "test_npy.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

enum { SAMPLES = 2, MAX_FACES = 5, MAX_CALLS = 64 };

typedef struct stream_log {
    mg_model *model;
    size_t calls, cancel_after;
    size_t sample[MAX_CALLS], faces[MAX_CALLS];
    int32_t *tokens[MAX_CALLS];
    mg_mesh decoded[MAX_CALLS];
    bool decode_ok;
} stream_log;

static bool on_face(size_t sample, const mg_tokens *so_far, void *user)
{
    stream_log *log = user;
    cr_assert_lt(log->calls, MAX_CALLS);
    size_t i = log->calls++;
    log->sample[i] = sample;
    log->faces[i] = so_far->num_faces;
    size_t n = so_far->num_faces * so_far->face_size * so_far->levels;
    log->tokens[i] = malloc(n * sizeof(int32_t));
    memcpy(log->tokens[i], so_far->tokens, n * sizeof(int32_t));
    /* What the Blender add-on does: decode the partial mesh from inside the callback. */
    if (mg_decode(log->model, so_far, 1, &log->decoded[i]) != MG_OK)
        log->decode_ok = false;
    return log->cancel_after == 0 || log->calls < log->cancel_after;
}

static void free_log(stream_log *log)
{
    for (size_t i = 0; i < log->calls; i++) {
        free(log->tokens[i]);
        mg_mesh_free(&log->decoded[i]);
    }
}

static mg_generate_params stream_params(test_npy *text, stream_log *log)
{
    *text = test_npy_load("text_embeds");
    mg_generate_params p = mg_generate_default_params();
    p.text.embedding = text->f32;
    p.text.embedding_tokens = (size_t)text->shape[1];
    p.text.embedding_width = (size_t)text->shape[2];
    p.max_faces = MAX_FACES;
    p.samples = SAMPLES;
    p.seed = 3;
    p.on_face = on_face;
    p.on_face_user_data = log;
    return p;
}

static void check_stream(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    stream_log log = {.model = model, .decode_ok = true};
    test_npy text;
    mg_generate_params p = stream_params(&text, &log);
    mg_tokens tokens[SAMPLES];
    mg_mesh meshes[SAMPLES];
    cr_assert_eq(mg_generate(model, &p, meshes, tokens), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(log.decode_ok, "decoding inside the callback failed: %s", mg_context_last_error(ctx));
    /* Every face of every sample was announced once, in order, with the prefix of the final tokens. */
    size_t expected_calls = 0;
    for (size_t s = 0; s < SAMPLES; s++) {
        size_t next_face = 1;
        for (size_t i = 0; i < log.calls; i++) {
            if (log.sample[i] != s)
                continue;
            cr_expect_eq(log.faces[i], next_face, "sample %zu: call %zu reports %zu faces", s, i, log.faces[i]);
            next_face++;
            cr_assert_leq(log.faces[i], tokens[s].num_faces);
            cr_expect_eq(memcmp(log.tokens[i], tokens[s].tokens, log.faces[i] * 6 * sizeof(int32_t)), 0,
                         "sample %zu: streamed tokens are not the final prefix", s);
            /* The partial decode equals decoding the same prefix afterwards. */
            mg_tokens prefix = tokens[s];
            prefix.num_faces = log.faces[i];
            mg_mesh again;
            cr_assert_eq(mg_decode(model, &prefix, 1, &again), MG_OK);
            cr_expect_eq(again.num_vertices, log.decoded[i].num_vertices);
            cr_expect_eq(memcmp(again.vertices, log.decoded[i].vertices, again.num_vertices * 3 * sizeof(float)), 0,
                         "sample %zu: a decode inside the callback differs", s);
            mg_mesh_free(&again);
        }
        cr_expect_eq(next_face - 1, tokens[s].num_faces, "sample %zu: %zu faces streamed of %zu", s, next_face - 1,
                     tokens[s].num_faces);
        expected_calls += tokens[s].num_faces;
    }
    cr_expect_eq(log.calls, expected_calls);
    for (size_t s = 0; s < SAMPLES; s++) {
        mg_tokens_free(&tokens[s]);
        mg_mesh_free(&meshes[s]);
    }
    free_log(&log);

    /* Cancelling from the stream. */
    stream_log cancel = {.model = model, .decode_ok = true, .cancel_after = 3};
    p.on_face_user_data = &cancel;
    memset(tokens, 0, sizeof tokens);
    cr_expect_eq(mg_generate(model, &p, NULL, tokens), MG_ERR_CANCELLED);
    cr_expect_eq(cancel.calls, 3);
    cr_expect_null(tokens[0].tokens);
    free_log(&cancel);
    test_npy_free(&text);
    mg_model_free(model);
}

Test(generate_stream, faces_stream_on_the_cpu)
{
    mg_context *ctx = test_cpu_context();
    check_stream(ctx);
    test_close(ctx);
}

Test(generate_stream, faces_stream_on_vulkan)
{
    mg_context *ctx = test_vulkan_context();
    check_stream(ctx);
    test_close(ctx);
}
