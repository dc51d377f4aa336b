/*
 * The transformer trainable on Vulkan and end to end: Vulkan gradients equal
 * the CPU reference's; a tiny transformer overfits one token sequence with
 * Adam on the device, and after saving, greedy generation from the saved model
 * file reproduces the sequence; condition dropout draws from the step's rng
 * deterministically (one draw per item) and drops exactly the rows it says.
 */
#include "mesh/mesh_batch.h"
#include "test_tf_train_util.h"
#include "train/optim.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void zero_grads(mg_trainable *tr)
{
    for (size_t i = 0; i < tr->count; i++)
        if (tr->grads[i])
            cr_assert_eq(mg_tensor_fill_u32(tr->grads[i], 0), MG_OK);
}

Test(tf_train_vulkan, gradients_match_cpu, .timeout = 300)
{
    mg_context *cpu = test_cpu_context(), *gpu = test_vulkan_context();
    mg_trainable *a = tiny_trainable(cpu, TINY_TRANSFORMER_JSON(true), NULL, 5);
    mg_trainable *b = tiny_trainable(gpu, TINY_TRANSFORMER_JSON(true), NULL, 5);
    cr_assert_eq(a->count, b->count);
    tiny_batch batch = tiny_batch_make(true, 3);
    zero_grads(a);
    zero_grads(b);
    double la = 0.0, lb = 0.0;
    cr_assert_eq(tiny_step(a, &batch, false, true, &la), MG_OK, "%s", mg_context_last_error(cpu));
    cr_assert_eq(tiny_step(b, &batch, false, true, &lb), MG_OK, "%s", mg_context_last_error(gpu));
    cr_log_info("loss: cpu %.7f vulkan %.7f", la, lb);
    cr_expect_leq(fabs(la - lb), 1e-5 * fabs(la));
    size_t compared = compare_nonzero_grads(a, b, 1e-6, NULL, NULL);
    cr_log_info("%zu gradients compared", compared);
    cr_expect_gt(compared, 60u);
    tiny_batch_free(&batch);
    a->destroy(a);
    b->destroy(b);
    test_close(cpu);
    test_close(gpu);
}

Test(tf_train_vulkan, overfits_and_generates_the_sequence, .timeout = 600)
{
    mg_context *ctx = test_vulkan_context();
    mg_trainable *tr = tiny_trainable(ctx, TINY_TRANSFORMER_JSON(false), NULL, 9);
    enum { FACES = 4, LENGTH = FACES * 6, STEPS = 150 };
    int32_t codes[LENGTH];
    float u[LENGTH];
    test_fill_uniform(u, LENGTH, 77, 0.0f, 256.0f);
    for (size_t i = 0; i < LENGTH; i++)
        codes[i] = (int32_t)u[i];
    mg_adam_config adam = mg_adam_default_config();
    adam.lr = 1e-2;
    double first = 0.0, last = 0.0;
    for (uint64_t step = 1; step <= STEPS; step++) {
        zero_grads(tr);
        double loss = 0.0;
        cr_assert_eq(mg_tf_trainable_codes_step(tr, codes, 1, LENGTH, NULL, true, 1.0f, &loss), MG_OK, "%s",
                     mg_context_last_error(ctx));
        if (step == 1)
            first = loss;
        last = loss;
        for (size_t i = 0; i < tr->count; i++) {
            if (!tr->grads[i])
                continue;
            mg_adam_step s = mg_adam_step_for(&adam, step, 0, tr->params[i].value->ndim);
            cr_assert_eq(mg_op_adam_step(ctx, &s, tr->params[i].value, tr->grads[i], tr->params[i].adam_m,
                                         tr->params[i].adam_v),
                         MG_OK);
        }
    }
    cr_log_info("loss %.4f -> %.4f after %d Adam steps", first, last, STEPS);
    cr_expect_lt(last, 0.05 * first, "the loss fell only from %.4f to %.4f", first, last);

    char path[] = "/tmp/test_tf_train_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(tr->save_model(tr, path, false), MG_OK, "%s", mg_context_last_error(ctx));
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    mg_generate_params gp = mg_generate_default_params();
    gp.temperature = 0.0f;
    gp.max_faces = FACES + 2;
    mg_tokens tokens = {0};
    cr_assert_eq(mg_generate(model, &gp, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect_eq(tokens.num_faces, (size_t)FACES, "generated %zu faces", tokens.num_faces);
    for (size_t i = 0; i < LENGTH && i < tokens.num_faces * 6; i++)
        cr_expect_eq(tokens.tokens[i], codes[i], "token %zu: %d, trained %d", i, tokens.tokens[i], codes[i]);
    mg_tokens_free(&tokens);
    mg_model_free(model);
    remove(path);
    tr->destroy(tr);
    test_close(ctx);
}

/* The fixture's cube and tetrahedron as a training batch with captions (one missing). */
static mg_mesh fixture_mesh(const char *name)
{
    char v[64], f[64];
    snprintf(v, sizeof v, "mesh_%s_vertices", name);
    snprintf(f, sizeof f, "mesh_%s_faces", name);
    test_npy vertices = test_npy_load(v), faces = test_npy_load(f);
    mg_mesh mesh = {0};
    mesh.num_vertices = vertices.count / 3;
    mesh.num_faces = faces.count / 3;
    mesh.face_size = 3;
    mesh.vertices = malloc(vertices.count * sizeof(float));
    mesh.faces = malloc(faces.count * sizeof(int32_t));
    memcpy(mesh.vertices, vertices.f32, vertices.count * sizeof(float));
    for (size_t i = 0; i < faces.count; i++)
        mesh.faces[i] = (int32_t)faces.i64[i];
    test_npy_free(&vertices);
    test_npy_free(&faces);
    return mesh;
}

Test(tf_train_vulkan, condition_dropout_uses_the_rng, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    tiny_text_encoder encoder = {.layers = 0};
    mg_trainable *tr = tiny_trainable(ctx, TINY_TRANSFORMER_JSON(true), &encoder, 4);
    mg_mesh meshes[2] = {fixture_mesh("cube"), fixture_mesh("tetra")};
    size_t indices[2] = {0, 1};
    const char *captions[2] = {tiny_captions[0], tiny_captions[1]};
    mg_train_batch batch = {0};
    batch.count = 2;
    batch.indices = indices;
    batch.meshes = meshes;
    batch.captions = captions;
    batch.max_faces = meshes[0].num_faces > meshes[1].num_faces ? meshes[0].num_faces : meshes[1].num_faces;
    cr_assert_eq(mg_mesh_batch_build(meshes, 2, &batch.packed, &ctx->diag), MG_OK);

    /* The same seed: the same drops, the same loss, two draws taken. */
    double losses[3];
    for (int run = 0; run < 2; run++) {
        mg_rng rng;
        mg_rng_seed(&rng, 1234);
        mg_train_losses l;
        zero_grads(tr);
        cr_assert_eq(tr->step(tr, &batch, true, 1.0f, &rng, &l), MG_OK, "%s", mg_context_last_error(ctx));
        losses[run] = l.total;
        mg_rng expected;
        mg_rng_seed(&expected, 1234);
        mg_rng_uniform(&expected);
        mg_rng_uniform(&expected);
        cr_expect_eq(mg_rng_next_u64(&rng), mg_rng_next_u64(&expected), "step drew other than one value per item");
    }
    cr_expect_eq(losses[0], losses[1]);
    /* The drops that seed means (p = 0.5), applied by hand to the same tokens: the same loss. */
    mg_rng rng;
    mg_rng_seed(&rng, 1234);
    bool drop[2];
    for (int i = 0; i < 2; i++)
        drop[i] = mg_rng_uniform(&rng) < 0.5;
    cr_log_info("drops %d %d, loss %.6f", drop[0], drop[1], losses[0]);
    /* Validation (no rng, no drops) differs exactly when the seed dropped a caption. */
    mg_train_losses val;
    cr_assert_eq(tr->step(tr, &batch, false, 1.0f, NULL, &val), MG_OK);
    losses[2] = val.total;
    bool any_drop = drop[0] || drop[1];
    if (any_drop)
        cr_expect_neq(losses[0], losses[2], "dropping a caption did not change the loss");
    else
        cr_expect_eq(losses[0], losses[2]);
    mg_mesh_batch_free(&batch.packed);
    mg_mesh_free(&meshes[0]);
    mg_mesh_free(&meshes[1]);
    tr->destroy(tr);
    test_close(ctx);
}
