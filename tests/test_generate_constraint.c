/*
 * The validity constraint and the vertex-reuse weight of generation (api/generate_constraint.c), on the shipped
 * model, whose coordinate-code autoencoder decodes every vertex exactly (checked first). The accept callback is
 * held to hand-made cases whose answers follow from the geometry: a face repeating a corner, a collinear face,
 * an edge run twice the same way, a third face on an edge, a copy of a face. The adjust callback must raise
 * exactly the tokens that continue a known vertex, by log(weight). End to end, a heavy reuse weight makes
 * unconstrained samples invalid (repeated corners, edges on three faces), and the constraint must then give
 * only valid, consistently oriented meshes by mg_mesh_check.
 */
#include "api/generate_constraint.h"
#include "core/context.h"
#include "model/model.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mg_model *load_default_model(mg_context *ctx)
{
    unsetenv("MESHGPT_DEFAULT_MODEL");
    char path[4096], error[4096];
    cr_assert_eq(mg_default_model_path(path, sizeof path, error, sizeof error), MG_OK, "%s", error);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    return model;
}

/* Points named by letter, at bin centres of the 128-bin grid. M is the midpoint of A and B. */
enum { A, B, C, D, E, M, POINTS };
static const int point_bins[POINTS][3] = {
    {10, 10, 10}, {50, 10, 10}, {10, 60, 10}, {10, 10, 70}, {90, 90, 90}, {30, 10, 10},
};

/* Each point's codes (levels of them), found by tokenizing a mesh that uses every point and matching the
 * decoded corners to the points. */
typedef struct point_codes {
    int32_t codes[POINTS][4];
    size_t levels;
} point_codes;

static point_codes codes_of_points(mg_model *model)
{
    float lo = 0, hi = 0;
    int bins = 0;
    cr_assert_eq(mg_model_coordinate_grid(model, &lo, &hi, &bins), MG_OK);
    cr_assert_eq(bins, 128, "the test's points are on a 128-bin grid");
    float vertices[POINTS * 3];
    for (int p = 0; p < POINTS; p++)
        for (int a = 0; a < 3; a++)
            vertices[p * 3 + a] = lo + (hi - lo) * ((float)point_bins[p][a] + 0.5f) / (float)bins;
    int32_t faces[] = {A, B, C, A, D, E, B, M, D, C, E, D};
    mg_mesh mesh = {.vertices = vertices, .num_vertices = POINTS, .faces = faces, .num_faces = 4, .face_size = 3};
    mg_tokenize_params tp = mg_tokenize_default_params();
    tp.preprocess = MG_PREPROCESS_NONE; /* the bins as given */
    mg_tokens tokens;
    cr_assert_eq(mg_tokenize(model, &mesh, 1, &tp, &tokens, NULL), MG_OK, "%s", mg_context_last_error(model->ctx));
    mg_mesh decoded;
    cr_assert_eq(mg_decode(model, &tokens, 1, &decoded), MG_OK, "%s", mg_context_last_error(model->ctx));
    point_codes out;
    memset(&out, 0, sizeof out);
    out.levels = tokens.levels;
    cr_assert(out.levels >= 1 && out.levels <= 4);
    bool found[POINTS] = {false};
    for (size_t corner = 0; corner < tokens.num_faces * 3; corner++) {
        int p = -1;
        for (int q = 0; q < POINTS && p < 0; q++) {
            bool same = true;
            for (int a = 0; a < 3; a++)
                same = same && fabsf(decoded.vertices[corner * 3 + (size_t)a] - vertices[q * 3 + a]) < 1e-4f;
            if (same)
                p = q;
        }
        cr_assert_geq(p, 0, "corner %zu decodes to no input point: the shipped autoencoder should be exact "
                      "(the coordinate code)", corner);
        memcpy(out.codes[p], tokens.tokens + corner * out.levels, out.levels * sizeof(int32_t));
        found[p] = true;
    }
    for (int p = 0; p < POINTS; p++)
        cr_assert(found[p], "point %d not among the tokenized corners", p);
    mg_mesh_free(&decoded);
    mg_tokens_free(&tokens);
    return out;
}

/* Writes the tokens of faces (letters, 3 per face) into seq; returns the token count. */
static size_t spell(const point_codes *pc, const int *corners, size_t count, int32_t *seq)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        for (size_t q = 0; q < pc->levels; q++)
            seq[n++] = pc->codes[corners[i]][q];
    return n;
}

/* Does the constraint accept the last corner of `faces` (the last corner's last code is the token asked
 * about), after the earlier faces? A fresh constraint each time. */
static bool accepts(mg_model *model, const point_codes *pc, const int *corners, size_t count)
{
    int32_t seq[64];
    const size_t n = spell(pc, corners, count, seq);
    mg_gen_constraint *g = NULL;
    cr_assert_eq(mg_gen_constraint_create(model, 1, true, 1.0f, &g), MG_OK);
    bool accept = false;
    cr_assert_eq(mg_gen_constraint_accept(g, 0, seq, n - 1, seq[n - 1], &accept), MG_OK);
    cr_expect_eq(mg_gen_constraint_refusals(g), accept ? 0u : 1u);
    mg_gen_constraint_free(g);
    return accept;
}

Test(generate_constraint, refuses_exactly_the_vertices_that_break_the_surface)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_default_model(ctx);
    const point_codes pc = codes_of_points(model);
    /* After A B C (edges A->B, B->C, C->A): */
    cr_expect(accepts(model, &pc, (int[]){A, B, C, A, C, D}, 6), "A C D runs A->C against C->A: fine");
    cr_expect(accepts(model, &pc, (int[]){A, B, C, B, A, D}, 6), "B A D shares A-B the other way: fine");
    cr_expect(!accepts(model, &pc, (int[]){A, B, C, A, B}, 5), "A->B a second time: refused at B");
    cr_expect(!accepts(model, &pc, (int[]){A, B, C, D, E, D}, 6), "D E D repeats a corner");
    cr_expect(!accepts(model, &pc, (int[]){A, B, C, E, E}, 5), "E E repeats a corner");
    cr_expect(accepts(model, &pc, (int[]){A, B, C, A, D, M}, 6), "A D M is a real triangle");
    /* A, M and B lie on one line (after D E C, so that no edge is at stake). */
    cr_expect(!accepts(model, &pc, (int[]){D, E, C, M, A, B}, 6), "M A B is collinear");
    /* A copy of A B C facing the other way runs each edge in its free direction, but is the same face. */
    cr_expect(!accepts(model, &pc, (int[]){A, B, C, C, B, A}, 6), "C B A copies A B C");
    /* A third face on an edge: the earlier two (as from a completion, which is not checked) both use A-B. */
    cr_expect(!accepts(model, &pc, (int[]){A, B, C, A, B, D, B, A}, 8), "a third face on A-B");
    cr_expect(accepts(model, &pc, (int[]){A, B, C, A, B, D, D, C, E}, 9), "D C E touches A-B nowhere");
    /* Tokens that do not complete a vertex are never refused. */
    int32_t seq[64];
    const size_t n = spell(&pc, (int[]){A, B, C, A, B}, 5, seq);
    mg_gen_constraint *g = NULL;
    cr_assert_eq(mg_gen_constraint_create(model, 1, true, 1.0f, &g), MG_OK);
    bool accept = false;
    for (size_t t = 0; t + 1 < pc.levels; t++) {
        cr_assert_eq(mg_gen_constraint_accept(g, 0, seq, n - pc.levels + t, seq[n - pc.levels + t], &accept), MG_OK);
        cr_expect(accept, "a vertex's code %zu is not its last", t);
    }
    mg_gen_constraint_free(g);
    mg_model_free(model);
    test_close(ctx);
}

Test(generate_constraint, the_reuse_weight_raises_the_tokens_of_known_vertices_only)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_default_model(ctx);
    const point_codes pc = codes_of_points(model);
    const size_t vocab = mg_model_vocabulary_size(model);
    const float weight = 8.0f;
    int32_t seq[64];
    const size_t n = spell(&pc, (int[]){A, B, C, A}, 4, seq); /* one face, then A again */
    float *logits = calloc(vocab, sizeof *logits);
    bool *want = calloc(vocab, sizeof *want);
    cr_assert(logits && want);
    for (size_t level = 0; level < pc.levels; level++) {
        /* Token `level` of the second face's first vertex, after its codes before it. */
        const size_t length = 3 * pc.levels + level;
        cr_assert_leq(length, n);
        memset(want, 0, vocab * sizeof *want);
        for (int p = A; p <= C; p++)
            if (memcmp(pc.codes[p], seq + 3 * pc.levels, level * sizeof(int32_t)) == 0)
                want[pc.codes[p][level]] = true;
        mg_gen_constraint *g = NULL;
        cr_assert_eq(mg_gen_constraint_create(model, 1, true, weight, &g), MG_OK);
        memset(logits, 0, vocab * sizeof *logits);
        cr_assert_eq(mg_gen_constraint_adjust(g, 0, seq, length, logits), MG_OK);
        size_t raised = 0;
        for (size_t t = 0; t < vocab; t++) {
            const float expected = want[t] ? logf(weight) : 0.0f;
            cr_expect_float_eq(logits[t], expected, 1e-6f, "level %zu token %zu: %g, want %g", level, t,
                               (double)logits[t], (double)expected);
            raised += want[t];
        }
        cr_expect_gt(raised, 0, "level %zu: A's codes continue themselves", level);
        mg_gen_constraint_free(g);
    }
    free(logits);
    free(want);
    mg_model_free(model);
    test_close(ctx);
}

/* Samples of a few prompts with a heavy reuse weight; returns how many are invalid (welded, by
 * mg_mesh_check) and how many valid ones are not consistently oriented. */
static void sample_validity(mg_model *model, bool unconstrained, size_t *invalid, size_t *unoriented, size_t *total)
{
    const char *prompts[] = {"a torus", "a uv sphere"};
    *invalid = *unoriented = *total = 0;
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
        mg_generate_params p = mg_generate_default_params();
        p.text.prompt = prompts[i];
        p.samples = 3;
        p.seed = 5;
        p.max_faces = 40;
        p.vertex_reuse = 1e4f;
        p.unconstrained = unconstrained;
        mg_mesh meshes[3];
        cr_assert_eq(mg_generate(model, &p, meshes, NULL), MG_OK, "%s", mg_context_last_error(model->ctx));
        for (size_t s = 0; s < p.samples; s++) {
            char error[512];
            mg_mesh welded;
            mg_mesh_validity v;
            cr_assert_eq(mg_mesh_weld(&meshes[s], &welded, error, sizeof error), MG_OK, "%s", error);
            cr_assert_eq(mg_mesh_check(&welded, &v, error, sizeof error), MG_OK, "%s", error);
            *invalid += !v.valid;
            *unoriented += v.valid && !v.consistently_oriented;
            (*total)++;
            mg_mesh_free(&welded);
            mg_mesh_free(&meshes[s]);
        }
    }
}

Test(generate_constraint, constrained_samples_are_valid_where_unconstrained_ones_are_not, .timeout = 600)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_default_model(ctx);
    size_t invalid = 0, unoriented = 0, total = 0;
    sample_validity(model, true, &invalid, &unoriented, &total);
    cr_expect_gt(invalid, total / 4, "unconstrained with a reuse weight of 1e4, %zu of %zu samples are invalid: "
                 "the case should stress the constraint", invalid, total);
    sample_validity(model, false, &invalid, &unoriented, &total);
    cr_expect_eq(invalid, 0, "constrained, %zu of %zu samples are invalid", invalid, total);
    cr_expect_eq(unoriented, 0, "constrained, %zu of %zu samples are not consistently oriented", unoriented, total);
    mg_model_free(model);
    test_close(ctx);
}
