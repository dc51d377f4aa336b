/*
 * The eval metrics on hand-made meshes with values worked out by hand (in the comments): validity
 * (degenerate and duplicate faces, unreferenced vertices, boundary and non-manifold edges, orientation,
 * components), point sampling, Chamfer distance and F-score, and coverage / MMD / 1-NNA.
 */
#include "meshgpt.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The unit cube [0, 1]^3, shifted by (dx, 0, 0): 8 vertices (bit 0 = x, bit 1 = y, bit 2 = z), 12 triangles
 * wound counter-clockwise seen from outside. */
static float cube_vertices[8 * 3];
static int32_t cube_faces[12 * 3] = {0, 4, 6, 0, 6, 2, 1, 3, 7, 1, 7, 5, 0, 1, 5, 0, 5, 4,
                                     2, 6, 7, 2, 7, 3, 0, 2, 3, 0, 3, 1, 4, 5, 7, 4, 7, 6};

static mg_mesh cube(float *vertices, int32_t *faces, float dx)
{
    for (int i = 0; i < 8; i++) {
        vertices[i * 3 + 0] = (float)(i & 1) + dx;
        vertices[i * 3 + 1] = (float)((i >> 1) & 1);
        vertices[i * 3 + 2] = (float)((i >> 2) & 1);
    }
    memcpy(faces, cube_faces, sizeof cube_faces);
    mg_mesh m = {.vertices = vertices, .num_vertices = 8, .faces = faces, .num_faces = 12, .face_size = 3};
    return m;
}

static mg_mesh_validity check(const mg_mesh *m)
{
    mg_mesh_validity v;
    char error[256];
    cr_assert_eq(mg_mesh_check(m, &v, error, sizeof error), MG_OK, "%s", error);
    return v;
}

Test(eval_validity, closed_cube)
{
    int32_t faces[36];
    mg_mesh m = cube(cube_vertices, faces, 0.0f);
    mg_mesh_validity v = check(&m);
    cr_expect_eq(v.faces, 12);
    cr_expect_eq(v.edges, 18); /* 12 cube edges + 6 face diagonals */
    cr_expect_eq(v.boundary_edges, 0);
    cr_expect_eq(v.non_manifold_edges, 0);
    cr_expect_eq(v.inconsistent_edges, 0);
    cr_expect_eq(v.components, 1);
    cr_expect_eq(v.inward_components, 0);
    cr_expect_float_eq(v.signed_volume, 1.0, 1e-12);
    cr_expect(v.valid && v.watertight && v.manifold && v.consistently_oriented);
}

Test(eval_validity, flipped_face_breaks_orientation)
{
    int32_t faces[36];
    mg_mesh m = cube(cube_vertices, faces, 0.0f);
    int32_t t = faces[1];
    faces[1] = faces[2];
    faces[2] = t;
    mg_mesh_validity v = check(&m);
    /* the flipped triangle runs each of its 3 edges the same way as its neighbour */
    cr_expect_eq(v.inconsistent_edges, 3);
    cr_expect_not(v.consistently_oriented);
    cr_expect(v.watertight && v.valid); /* still closed and manifold */
}

Test(eval_validity, whole_cube_inside_out)
{
    int32_t faces[36];
    mg_mesh m = cube(cube_vertices, faces, 0.0f);
    for (int f = 0; f < 12; f++) {
        int32_t t = faces[f * 3 + 1];
        faces[f * 3 + 1] = faces[f * 3 + 2];
        faces[f * 3 + 2] = t;
    }
    mg_mesh_validity v = check(&m);
    cr_expect(v.consistently_oriented);
    cr_expect_eq(v.inward_components, 1);
    cr_expect_float_eq(v.signed_volume, -1.0, 1e-12);
}

Test(eval_validity, open_box_is_not_watertight)
{
    int32_t faces[36];
    mg_mesh m = cube(cube_vertices, faces, 0.0f);
    m.num_faces = 10; /* without the two z = 1 triangles */
    mg_mesh_validity v = check(&m);
    cr_expect_eq(v.boundary_edges, 4);
    cr_expect_not(v.watertight);
    cr_expect(v.manifold && v.valid && v.consistently_oriented);
    cr_expect_eq(v.inward_components, 0); /* an open component has no volume to judge */
}

Test(eval_validity, non_manifold_edge)
{
    /* three triangles on the edge (0, 1) */
    float vertices[] = {0, 0, 0, 1, 0, 0, 0.5f, 1, 0, 0.5f, -1, 0, 0.5f, 0, 1};
    int32_t faces[] = {0, 1, 2, 1, 0, 3, 0, 1, 4};
    mg_mesh m = {.vertices = vertices, .num_vertices = 5, .faces = faces, .num_faces = 3, .face_size = 3};
    mg_mesh_validity v = check(&m);
    cr_expect_eq(v.non_manifold_edges, 1);
    cr_expect_eq(v.boundary_edges, 6);
    cr_expect_not(v.manifold);
    cr_expect_not(v.valid);
}

Test(eval_validity, degenerate_duplicate_unreferenced_components)
{
    /* two cubes side by side (vertices 0-7 and 8-15), then extra faces and one unused vertex 16 */
    float vertices[17 * 3];
    int32_t faces[(24 + 3) * 3];
    cube(vertices, faces, 0.0f);
    cube(vertices + 24, faces + 36, 3.0f);
    for (int i = 0; i < 36; i++)
        faces[36 + i] += 8;
    vertices[48] = 9, vertices[49] = 9, vertices[50] = 9;
    int32_t extra[] = {0, 0, 1,   /* a repeated vertex */
                       0, 1, 3,   /* the same set as face 9 (0 3 1), other winding */
                       0, 1, 1};  /* repeated again */
    memcpy(faces + 72, extra, sizeof extra);
    mg_mesh m = {.vertices = vertices, .num_vertices = 17, .faces = faces, .num_faces = 27, .face_size = 3};
    mg_mesh_validity v = check(&m);
    cr_expect_eq(v.degenerate_faces, 2);
    cr_expect_eq(v.duplicate_faces, 1);
    cr_expect_eq(v.unreferenced_vertices, 1);
    cr_expect_eq(v.components, 2);
    cr_expect_not(v.valid);
    /* A collinear (zero-area) triangle with distinct vertices is degenerate too. */
    float line[] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    int32_t tri[] = {0, 1, 2};
    mg_mesh l = {.vertices = line, .num_vertices = 3, .faces = tri, .num_faces = 1, .face_size = 3};
    cr_expect_eq(check(&l).degenerate_faces, 1);
    /* Masked faces are not counted; out-of-range indices are an error. */
    uint8_t mask[27];
    memset(mask, 1, sizeof mask);
    mask[24] = mask[25] = mask[26] = 0;
    m.face_mask = mask;
    v = check(&m);
    cr_expect(v.valid && v.watertight);
    cr_expect_eq(v.faces, 24);
    tri[2] = 3;
    mg_mesh_validity ignored;
    cr_expect_eq(mg_mesh_check(&l, &ignored, NULL, 0), MG_ERR_INVALID_ARGUMENT);
}

Test(eval_validity, quads)
{
    float vertices[8 * 3];
    int32_t tris[36];
    cube(vertices, tris, 0.0f);
    /* the same cube as 6 quads: triangle pairs (a b c)(a c d) -> (a b c d) */
    int32_t quads[24];
    for (int q = 0; q < 6; q++) {
        quads[q * 4 + 0] = tris[q * 6 + 0];
        quads[q * 4 + 1] = tris[q * 6 + 1];
        quads[q * 4 + 2] = tris[q * 6 + 2];
        quads[q * 4 + 3] = tris[q * 6 + 5];
    }
    mg_mesh m = {.vertices = vertices, .num_vertices = 8, .faces = quads, .num_faces = 6, .face_size = 4};
    mg_mesh_validity v = check(&m);
    cr_expect_eq(v.edges, 12);
    cr_expect(v.valid && v.watertight && v.consistently_oriented);
    cr_expect_float_eq(v.signed_volume, 1.0, 1e-12);
    mg_mesh t = {.vertices = vertices, .num_vertices = 8, .faces = tris, .num_faces = 12, .face_size = 3};
    mg_mesh_distance d;
    cr_assert_eq(mg_mesh_compare(&m, &t, 2000, 1, 1e-4, &d, NULL, 0), MG_OK);
    cr_expect_lt(d.chamfer, 1e-7);
}

Test(eval_distance, samples_lie_on_the_surface_area_weighted)
{
    float vertices[8 * 3];
    int32_t faces[36];
    mg_mesh m = cube(vertices, faces, 0.0f);
    enum { N = 4000 };
    static float p[N * 3], q[N * 3];
    cr_assert_eq(mg_mesh_sample_points(&m, N, 9, p, NULL, 0), MG_OK);
    cr_assert_eq(mg_mesh_sample_points(&m, N, 9, q, NULL, 0), MG_OK);
    cr_expect(memcmp(p, q, sizeof p) == 0, "the same seed must give the same points");
    for (int i = 0; i < N; i++) {
        int on_face = 0;
        for (int k = 0; k < 3; k++) {
            cr_assert(p[i * 3 + k] >= -1e-6f && p[i * 3 + k] <= 1 + 1e-6f);
            on_face += fabsf(p[i * 3 + k]) < 1e-6f || fabsf(p[i * 3 + k] - 1) < 1e-6f;
        }
        cr_assert_geq(on_face, 1, "point %d is not on the cube's surface", i);
    }
    /* Two triangles of area 1 and 3: a quarter of the points on the first. */
    float v2[] = {0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 2, 0, 5, 0, 3, 5};
    int32_t f2[] = {0, 1, 2, 3, 4, 5};
    mg_mesh two = {.vertices = v2, .num_vertices = 6, .faces = f2, .num_faces = 2, .face_size = 3};
    static float r[10000 * 3];
    cr_assert_eq(mg_mesh_sample_points(&two, 10000, 3, r, NULL, 0), MG_OK);
    int first = 0;
    for (int i = 0; i < 10000; i++)
        first += r[i * 3 + 2] < 2.5f;
    /* binomial: sd = sqrt(10000 * 0.25 * 0.75) = 43 */
    cr_expect(abs(first - 2500) < 200, "%d of 10000 points on the triangle of area 1", first);
}

Test(eval_distance, mesh_against_itself)
{
    float vertices[8 * 3];
    int32_t faces[36];
    mg_mesh m = cube(vertices, faces, 0.0f);
    mg_mesh_distance d;
    cr_assert_eq(mg_mesh_compare(&m, &m, 5000, 7, 0.01, &d, NULL, 0), MG_OK);
    cr_expect_lt(d.chamfer, 1e-7);
    cr_expect_float_eq(d.fscore, 1.0, 1e-12);
    cr_expect_float_eq(d.precision, 1.0, 1e-12);
    cr_expect_float_eq(d.recall, 1.0, 1e-12);
}

/*
 * The unit cube A against B = A shifted by d = 0.1 along x. Distances from A's surface to B's:
 *  - face x = 0 (area 1): every point is d outside B;
 *  - face x = 1 (inside B): min(d, distance to the square's border u); P(u > t) = (1 - 2t)^2, so the mean is
 *    integral_0^d (1 - 2t)^2 dt = (1 - (1 - 2d)^3) / 6;
 *  - the four faces y, z = 0, 1: 0 where x >= d (on B's face), d - x where x < d: mean d^2 / 2 each.
 * Mean over the 6 unit faces: (d + (1 - (1 - 2d)^3) / 6 + 2 d^2) / 6 = 0.0335556 for d = 0.1, the same from B
 * to A by symmetry, so that is the Chamfer distance. Within tau = 0.05: face x = 0 none, face x = 1 where
 * u <= 0.05 (1 - 0.9^2 = 0.19), the sides where x >= 0.05 (0.95): (0.19 + 4 * 0.95) / 6 = 0.665 = P = R = F.
 */
Test(eval_distance, cube_against_shifted_cube)
{
    float va[24], vb[24];
    int32_t fa[36], fb[36];
    mg_mesh a = cube(va, fa, 0.0f), b = cube(vb, fb, 0.1f);
    const double d = 0.1, expected = (d + (1 - pow(1 - 2 * d, 3)) / 6 + 2 * d * d) / 6;
    cr_assert_float_eq(expected, 0.0335556, 1e-7);
    mg_mesh_distance r;
    cr_assert_eq(mg_mesh_compare(&a, &b, 20000, 11, 0.05, &r, NULL, 0), MG_OK);
    cr_log_info("chamfer %.6f (expected %.6f), F-score %.4f (expected 0.665)", r.chamfer, expected, r.fscore);
    /* sampling error: the per-point distances have sd < 0.045, so the mean of 2 x 20000 is within ~0.0003 */
    cr_expect_float_eq(r.chamfer, expected, 0.0012, "chamfer %.6f, expected %.6f", r.chamfer, expected);
    /* a proportion of 20000: sd 0.0033 */
    cr_expect_float_eq(r.precision, 0.665, 0.015, "precision %.4f", r.precision);
    cr_expect_float_eq(r.recall, 0.665, 0.015, "recall %.4f", r.recall);
    cr_expect_float_eq(r.fscore, 0.665, 0.015, "F-score %.4f", r.fscore);
    /* a surface with no area cannot be sampled */
    float line[] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    int32_t tri[] = {0, 1, 2};
    mg_mesh l = {.vertices = line, .num_vertices = 3, .faces = tri, .num_faces = 1, .face_size = 3};
    char error[256];
    cr_expect_eq(mg_mesh_compare(&a, &l, 100, 1, 0.1, &r, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "no surface") != NULL, "%s", error);
}

/*
 * gen_ref = [[1, 5, 9], [2, 0.5, 9]]: g0 -> r0, g1 -> r1, coverage 2/3; MMD = (min(1, 2) + min(5, 0.5) +
 * min(9, 9)) / 3 = 3.5. 1-NNA with gen_gen distance 3 and ref_ref (r0 r1 4, r0 r2 6, r1 r2 7): g0 (3 vs 1),
 * g1 (3 vs 0.5), r0 (4 vs 1), r1 (4 vs 0.5) are nearer the other set, r2 (6 vs 9) its own: 1 / 5.
 */
Test(eval_sets, coverage_mmd_nna_by_hand)
{
    const double gen_ref[] = {1, 5, 9, 2, 0.5, 9};
    const double gen_gen[] = {0, 3, 3, 0};
    const double ref_ref[] = {0, 4, 6, 4, 0, 7, 6, 7, 0};
    mg_set_metrics m;
    cr_assert_eq(mg_set_metrics_compute(gen_ref, gen_gen, ref_ref, 2, 3, &m, NULL, 0), MG_OK);
    cr_expect_float_eq(m.coverage, 2.0 / 3.0, 1e-12);
    cr_expect_float_eq(m.mmd, 3.5, 1e-12);
    cr_expect_float_eq(m.nna, 0.2, 1e-12);
    cr_expect_eq(mg_set_metrics_compute(gen_ref, gen_gen, ref_ref, 0, 3, &m, NULL, 0), MG_ERR_INVALID_ARGUMENT);
}

/*
 * Four members: m0, m1 = m0 (distance 0), m2 at 0.5 from both, m3 at 2, 2 and 1.5. Pairs: 0 + 0.5 + 0.5 + 2 + 2 +
 * 1.5 = 6.5 over 6 = 13/12. Distinct at tolerance 0: m1 repeats m0, so 3; at 0.5 m2 repeats too, so 2; at 2
 * all repeat the first, so 1.
 */
Test(eval_sets, diversity_by_hand)
{
    const double dist[] = {0, 0, 0.5, 2, 0, 0, 0.5, 2, 0.5, 0.5, 0, 1.5, 2, 2, 1.5, 0};
    double mean = -1;
    size_t distinct = 0;
    cr_assert_eq(mg_set_diversity(dist, 4, 0.0, &mean, &distinct, NULL, 0), MG_OK);
    cr_expect_float_eq(mean, 13.0 / 12.0, 1e-12);
    cr_expect_eq(distinct, 3);
    cr_assert_eq(mg_set_diversity(dist, 4, 0.5, &mean, &distinct, NULL, 0), MG_OK);
    cr_expect_eq(distinct, 2);
    cr_assert_eq(mg_set_diversity(dist, 4, 2.0, &mean, &distinct, NULL, 0), MG_OK);
    cr_expect_eq(distinct, 1);
    /* a pair at an infinite distance (a member that could not be measured) is left out of the mean:
       m3's row becomes inf, inf, 1.5, so the pairs left are 0 + 0.5 + 0.5 + 1.5 = 2.5 over 4 */
    double unmeasured[16];
    memcpy(unmeasured, dist, sizeof dist);
    unmeasured[12] = unmeasured[3] = unmeasured[13] = unmeasured[7] = INFINITY;
    cr_assert_eq(mg_set_diversity(unmeasured, 4, 0.0, &mean, &distinct, NULL, 0), MG_OK);
    cr_expect_float_eq(mean, 2.5 / 4.0, 1e-12);
    cr_expect_eq(distinct, 3);
    /* one member: no pairs */
    cr_assert_eq(mg_set_diversity(dist, 1, 0.0, &mean, &distinct, NULL, 0), MG_OK);
    cr_expect_eq(mean, 0.0);
    cr_expect_eq(distinct, 1);
    char error[256];
    cr_expect_eq(mg_set_diversity(dist, 0, 0.0, &mean, &distinct, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "at least one member") != NULL, "%s", error);
    cr_expect_eq(mg_set_diversity(dist, 4, NAN, &mean, &distinct, NULL, 0), MG_ERR_INVALID_ARGUMENT);
}
