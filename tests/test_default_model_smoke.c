/*
 * The model shipped in assets/models/ (issue 7): found without being named, loads on Vulkan (lavapipe in CI),
 * carries its own text encoder, and turns a prompt into a mesh inside the coordinate range, the same for the
 * same seed. Fails, rather than skips, when the file is missing: the project promises it.
 *
 * The mesh for "a cube" at seed 1 must be valid (welded as `meshgpt generate` writes it: no degenerate or
 * duplicate faces, manifold). Generation refuses vertices that would break the surface by default, so every
 * sample of the shipped model is valid (assets/models/MODEL_CARD.md); this checks that the shipped file and
 * its defaults keep that promise on lavapipe, through the model's own recommended sampling.
 */
#include "meshgpt.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

Test(default_model_smoke, a_prompt_becomes_a_valid_mesh_on_vulkan)
{
    unsetenv("MESHGPT_DEFAULT_MODEL");
    char path[4096], error[4096];
    cr_assert_eq(mg_default_model_path(path, sizeof path, error, sizeof error), MG_OK, "%s", error);
    cr_assert(strstr(path, "meshgpt-default.safetensors"), "%s", path);
    mg_context *ctx = test_vulkan_context();
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert(mg_model_has_text_encoder(model), "the default model carries its text encoder");
    mg_generate_params p = mg_model_generate_params(model);
    p.text.prompt = "a cube";
    p.seed = 1;
    mg_mesh mesh;
    mg_tokens tokens;
    cr_assert_eq(mg_generate(model, &p, &mesh, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_gt(tokens.num_faces, 0, "the model generated faces");
    float lo = 0, hi = 0;
    int bins = 0;
    cr_assert_eq(mg_model_coordinate_grid(model, &lo, &hi, &bins), MG_OK);
    size_t shown = 0;
    for (size_t f = 0; f < mesh.num_faces; f++)
        shown += !mesh.face_mask || mesh.face_mask[f];
    cr_expect_gt(shown, 0, "the decoded mesh has faces");
    for (size_t i = 0; i < mesh.num_vertices * 3; i++) {
        const float v = mesh.vertices[i];
        if (v != v) /* corners of masked faces are NaN by contract */
            continue;
        cr_assert(v >= lo - 1e-6f && v <= hi + 1e-6f, "vertex coordinate %g outside [%g, %g]", v, lo, hi);
    }
    mg_mesh welded;
    mg_mesh_validity validity;
    cr_assert_eq(mg_mesh_weld(&mesh, &welded, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(mg_mesh_check(&welded, &validity, error, sizeof error), MG_OK, "%s", error);
    cr_expect(validity.valid, "\"a cube\" (seed 1) gave an invalid mesh: %zu faces, %zu degenerate, %zu duplicate, "
              "manifold %d", welded.num_faces, validity.degenerate_faces, validity.duplicate_faces,
              (int)validity.manifold);
    mg_mesh_free(&welded);
    /* The same seed, the same tokens. */
    mg_tokens again;
    cr_assert_eq(mg_generate(model, &p, NULL, &again), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_eq(again.num_faces, tokens.num_faces);
    cr_expect_eq(memcmp(again.tokens, tokens.tokens, tokens.num_faces * 6 * sizeof(int32_t)), 0);
    mg_tokens_free(&again);
    mg_mesh_free(&mesh);
    mg_tokens_free(&tokens);
    mg_model_free(model);
    test_close(ctx);
}
