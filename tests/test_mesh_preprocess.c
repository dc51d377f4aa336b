/*
 * Mesh preprocessing: discretization, face adjacency, face features,
 * validation and mg_mesh_preprocess.
 *
 * References: values worked out by hand (in the comments), a brute-force
 * transcription of upstream's derive_face_edges_from_faces rule, and the
 * outputs of meshgpt-pytorch 1.7.2 in tests/fixtures/meshgpt-pytorch-a.
 * Tolerances against the fixtures: the float features (angles, area, normals)
 * within 1e-6 absolute (all are O(1) values computed in float32 both sides,
 * possibly with a different summation order); the discrete ids and the face
 * pair lists must be identical.
 */
#include "test_npy.h"

#include "mesh/adjacency.h"
#include "mesh/discretize.h"
#include "mesh/features.h"
#include "mesh/mesh_alloc.h"
#include "mesh/preprocess.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEATURE_TOLERANCE 1e-6f
#define TEST_PI 3.14159265358979323846

/* ------------------------------------------------------------------------- */
/* helpers                                                                   */
/* ------------------------------------------------------------------------- */

static void quiet_log(mg_log_level level, const char *message, void *user_data)
{
    (void)level, (void)message, (void)user_data;
}

static mg_diag test_diag(void)
{
    mg_diag diag;
    mg_diag_init(&diag, quiet_log, NULL, MG_LOG_NONE);
    return diag;
}

static mg_preprocess_config paper_config(void)
{
    mg_preprocess_config config;
    memset(&config, 0, sizeof config);
    config.normalize = true;
    config.normalize_scale = 0.95f;
    config.merge_vertices = true;
    config.drop_degenerate = true;
    config.order = MG_ORDER_ZYX;
    config.rotation = MG_FACE_ROTATE_CYCLIC;
    config.sort_faces = true;
    return config;
}

static const float unit_range[2] = {-1.0f, 1.0f};

static uint32_t lcg_next(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static int32_t *fixture_faces(const char *name, size_t *num_faces)
{
    test_npy array = test_npy_load(name);
    cr_assert_eq(array.ndim, 2);
    cr_assert_eq(array.shape[1], 3);
    int32_t *faces = malloc(array.count * sizeof *faces);
    for (size_t i = 0; i < array.count; i++)
        faces[i] = (int32_t)array.i64[i];
    *num_faces = (size_t)array.shape[0];
    test_npy_free(&array);
    return faces;
}

/* Upstream's rule, literally: j neighbours i when >= 2 corners of i hold a vertex found in j; pads never. */
static bool brute_force_neighbor(const int32_t *faces, uint32_t face_size, size_t i, size_t j)
{
    const int32_t *a = faces + i * face_size, *b = faces + j * face_size;
    for (uint32_t c = 0; c < face_size; c++)
        if (a[c] < 0 || b[c] < 0)
            return false;
    int shared = 0;
    for (uint32_t c = 0; c < face_size; c++) {
        bool found = false;
        for (uint32_t d = 0; d < face_size; d++)
            found |= a[c] == b[d];
        shared += found;
    }
    return shared >= 2;
}

static void assert_adjacency_matches_brute_force(const int32_t *faces, size_t num_faces, uint32_t face_size)
{
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(faces, num_faces, face_size, &adjacency, NULL), MG_OK);
    cr_assert_eq(adjacency.num_faces, num_faces);
    cr_assert_eq(adjacency.offsets[0], 0);
    for (size_t i = 0; i < num_faces; i++) {
        int32_t k = adjacency.offsets[i];
        for (size_t j = 0; j < num_faces; j++) {
            if (!brute_force_neighbor(faces, face_size, i, j))
                continue;
            cr_assert_lt(k, adjacency.offsets[i + 1], "face %zu: neighbour %zu missing", i, j);
            cr_assert_eq(adjacency.neighbors[k], (int32_t)j, "face %zu: neighbour %d where %zu was expected", i,
                         adjacency.neighbors[k], j);
            k++;
        }
        cr_assert_eq(k, adjacency.offsets[i + 1], "face %zu has neighbours upstream does not give it", i);
    }
    mg_face_adjacency_free(&adjacency);
}

/* ------------------------------------------------------------------------- */
/* discretize                                                                */
/* ------------------------------------------------------------------------- */

Test(discretize, hand_values_and_ties_to_even)
{
    /* Over (-1, 1) with 128 bins, u = (t + 1) * 64 - 0.5, exactly in float32 for these t. */
    cr_assert_eq(mg_discretize(-1.0f, -1.0f, 1.0f, 128), 0);           /* u = -0.5 -> -0 -> 0 */
    cr_assert_eq(mg_discretize(-1.0f + 3.0f / 64.0f, -1.0f, 1.0f, 128), 2); /* u = 2.5 -> 2 (even) */
    cr_assert_eq(mg_discretize(-1.0f + 4.0f / 64.0f, -1.0f, 1.0f, 128), 4); /* u = 3.5 -> 4 (even) */
    cr_assert_eq(mg_discretize(0.0f, -1.0f, 1.0f, 128), 64);           /* u = 63.5 -> 64 */
    cr_assert_eq(mg_discretize(1.0f / 64.0f, -1.0f, 1.0f, 128), 64);   /* u = 64.5 -> 64 */
    cr_assert_eq(mg_discretize(0.01f, -1.0f, 1.0f, 128), 64);          /* u = 64.14 */
    cr_assert_eq(mg_discretize(0.02f, -1.0f, 1.0f, 128), 65);          /* u = 64.78 */
    cr_assert_eq(mg_discretize(1.0f - 1.0f / 64.0f, -1.0f, 1.0f, 128), 126); /* u = 126.5 -> 126 */
    cr_assert_eq(mg_discretize(1.0f, -1.0f, 1.0f, 128), 127);          /* u = 127.5 -> 128 -> clamped */
    /* Area over (0, 4): 0.5 -> u = 15.5 -> 16; 0.375 -> u = 11.5 -> 12. */
    cr_assert_eq(mg_discretize(0.5f, 0.0f, 4.0f, 128), 16);
    cr_assert_eq(mg_discretize(0.375f, 0.0f, 4.0f, 128), 12);
    /* Other bin counts: (0, 1) with 4 bins, u = 4t - 0.5: 0.375 -> 1.0; 0.625 -> 2.0; 0.5 -> 1.5 -> 2. */
    cr_assert_eq(mg_discretize(0.375f, 0.0f, 1.0f, 4), 1);
    cr_assert_eq(mg_discretize(0.5f, 0.0f, 1.0f, 4), 2);
    cr_assert_eq(mg_discretize(0.125f, 0.0f, 1.0f, 4), 0);             /* u = 0 */
}

Test(discretize, clamps_and_non_finite)
{
    cr_assert_eq(mg_discretize(-5.0f, -1.0f, 1.0f, 128), 0);
    cr_assert_eq(mg_discretize(5.0f, -1.0f, 1.0f, 128), 127);
    cr_assert_eq(mg_discretize(-1.01f, -1.0f, 1.0f, 128), 0);
    cr_assert_eq(mg_discretize(NAN, -1.0f, 1.0f, 128), 0);
    cr_assert_eq(mg_discretize(INFINITY, -1.0f, 1.0f, 128), 127);
    cr_assert_eq(mg_discretize(-INFINITY, -1.0f, 1.0f, 128), 0);
    cr_assert_eq(mg_discretize(1e30f, -1.0f, 1.0f, 128), 127);
    cr_assert_eq(mg_discretize(0.3f, 0.0f, 1.0f, 1), 0);
}

Test(discretize, undiscretize_is_the_cell_centre)
{
    cr_assert_float_eq(mg_undiscretize(0, -1.0f, 1.0f, 128), -0.9921875f, 0.0f);
    cr_assert_float_eq(mg_undiscretize(64, -1.0f, 1.0f, 128), 0.0078125f, 0.0f);
    cr_assert_float_eq(mg_undiscretize(127, -1.0f, 1.0f, 128), 0.9921875f, 0.0f);
    cr_assert_float_eq(mg_undiscretize(3, 0.0f, 4.0f, 128), 0.109375f, 0.0f); /* 3.5 / 128 * 4 */
    for (int32_t i = 0; i < 128; i++) {
        cr_assert_eq(mg_discretize(mg_undiscretize(i, -1.0f, 1.0f, 128), -1.0f, 1.0f, 128), i);
        cr_assert_eq(mg_discretize(mg_undiscretize(i, -0.95f, 0.95f, 128), -0.95f, 0.95f, 128), i);
        cr_assert_eq(mg_discretize(mg_undiscretize(i, 0.0f, 3.14159265f, 128), 0.0f, 3.14159265f, 128), i);
    }
}

/* ------------------------------------------------------------------------- */
/* adjacency                                                                 */
/* ------------------------------------------------------------------------- */

/*
 * Unit cube: 0 (0,0,0) 1 (1,0,0) 2 (1,1,0) 3 (0,1,0) 4 (0,0,1) 5 (1,0,1) 6 (1,1,1) 7 (0,1,1);
 * two triangles per side, outward winding.
 */
static const float cube_vertices[8 * 3] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1};
static const int32_t cube_faces[12 * 3] = {
    0, 2, 1, 0, 3, 2,  /* bottom z=0: f0, f1 */
    4, 5, 6, 4, 6, 7,  /* top z=1: f2, f3 */
    0, 1, 5, 0, 5, 4,  /* front y=0: f4, f5 */
    3, 7, 6, 3, 6, 2,  /* back y=1: f6, f7 */
    0, 4, 7, 0, 7, 3,  /* left x=0: f8, f9 */
    1, 2, 6, 1, 6, 5,  /* right x=1: f10, f11 */
};

Test(adjacency, cube_by_hand)
{
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(cube_faces, 12, 3, &adjacency, NULL), MG_OK);
    for (int f = 0; f < 12; f++)
        cr_assert_eq(adjacency.offsets[f + 1] - adjacency.offsets[f], 4, "face %d: 3 edge neighbours + itself", f);
    /* f0 (0,2,1): edge 0-2 -> f1, 2-1 -> f10, 1-0 -> f4. f1 (0,3,2): 0-3 -> f9, 3-2 -> f7, 2-0 -> f0.
     * f2 (4,5,6): 4-5 -> f5, 5-6 -> f11, 6-4 -> f3. f11 (1,6,5): 1-6 -> f10, 6-5 -> f2, 5-1 -> f4. */
    static const int32_t expected[4][4] = {{0, 1, 4, 10}, {0, 1, 7, 9}, {2, 3, 5, 11}, {2, 4, 10, 11}};
    static const int rows[4] = {0, 1, 2, 11};
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++)
            cr_assert_eq(adjacency.neighbors[adjacency.offsets[rows[r]] + k], expected[r][k], "face %d entry %d",
                         rows[r], k);
    cr_assert_eq(adjacency.offsets[12], 48);
    mg_face_adjacency_free(&adjacency);
    assert_adjacency_matches_brute_force(cube_faces, 12, 3);
}

Test(adjacency, quads_share_vertices_not_edges)
{
    /*
     * Upstream counts shared vertices: quads (0,1,2,3) and (0,4,2,5) share only
     * the diagonal 0-2 of the first, yet are neighbours; (0,1,2,3) and (1,6,7,8)
     * share one vertex and are not; (2,3,9,10) shares the edge 2-3.
     */
    static const int32_t faces[4 * 4] = {0, 1, 2, 3, 0, 4, 2, 5, 1, 6, 7, 8, 2, 3, 9, 10};
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(faces, 4, 4, &adjacency, NULL), MG_OK);
    static const int32_t expected_offsets[5] = {0, 3, 5, 6, 8};
    static const int32_t expected[8] = {0, 1, 3, 0, 1, 2, 0, 3};
    cr_assert_arr_eq(adjacency.offsets, expected_offsets, sizeof expected_offsets);
    cr_assert_arr_eq(adjacency.neighbors, expected, sizeof expected);
    mg_face_adjacency_free(&adjacency);
}

Test(adjacency, degenerate_and_pad_faces_as_upstream)
{
    /*
     * f0 (0,0,1) repeats vertex 0: its two corners holding 0 both find 0 in
     * f1 (0,2,3), so f1 is f0's neighbour, but f1 has one corner in f0: not
     * the other way round. f2 (4,4,4) neighbours only itself. f3 is a pad face
     * (-1): no neighbours at all, not even itself. f4 (1,0,5) shares 0 and 1 with f0.
     */
    static const int32_t faces[5 * 3] = {0, 0, 1, 0, 2, 3, 4, 4, 4, -1, -1, -1, 1, 0, 5};
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(faces, 5, 3, &adjacency, NULL), MG_OK);
    static const int32_t expected_offsets[6] = {0, 3, 4, 5, 5, 7};
    static const int32_t expected[7] = {0, 1, 4, 1, 2, 0, 4};
    cr_assert_arr_eq(adjacency.offsets, expected_offsets, sizeof expected_offsets);
    cr_assert_arr_eq(adjacency.neighbors, expected, sizeof expected);
    mg_face_adjacency_free(&adjacency);
}

Test(adjacency, random_faces_match_upstream_rule)
{
    /* Few vertices, so faces share a lot, with repeated vertices and pads mixed in. */
    uint32_t state = 12345;
    for (uint32_t face_size = 3; face_size <= 4; face_size++) {
        for (int trial = 0; trial < 20; trial++) {
            size_t num_faces = 1 + lcg_next(&state) % 60;
            int32_t num_vertices = 4 + (int32_t)(lcg_next(&state) % 12);
            int32_t *faces = malloc(num_faces * face_size * sizeof *faces);
            for (size_t f = 0; f < num_faces; f++) {
                bool pad = lcg_next(&state) % 13 == 0;
                for (uint32_t c = 0; c < face_size; c++)
                    faces[f * face_size + c] = pad ? -1 : (int32_t)(lcg_next(&state) % (uint32_t)num_vertices);
            }
            assert_adjacency_matches_brute_force(faces, num_faces, face_size);
            free(faces);
        }
    }
}

Test(adjacency, matches_meshgpt_pytorch_face_edges)
{
    static const char *names[3] = {"cube", "tetra", "cone16"};
    for (int m = 0; m < 3; m++) {
        char name[64];
        snprintf(name, sizeof name, "mesh_%s_faces", names[m]);
        size_t num_faces;
        int32_t *faces = fixture_faces(name, &num_faces);
        snprintf(name, sizeof name, "mesh_%s_face_edges", names[m]);
        test_npy edges = test_npy_load(name);

        mg_face_adjacency adjacency;
        cr_assert_eq(mg_face_adjacency_build(faces, num_faces, 3, &adjacency, NULL), MG_OK);
        /* Our CSR read row by row is the row-major (i, j) pair list. */
        cr_assert_eq((int64_t)adjacency.offsets[num_faces], edges.shape[0], "%s: pair count", names[m]);
        size_t e = 0;
        for (size_t i = 0; i < num_faces; i++) {
            for (int32_t k = adjacency.offsets[i]; k < adjacency.offsets[i + 1]; k++, e++) {
                cr_assert_eq(edges.i64[2 * e], (int64_t)i, "%s: pair %zu", names[m], e);
                cr_assert_eq(edges.i64[2 * e + 1], (int64_t)adjacency.neighbors[k], "%s: pair %zu", names[m], e);
            }
        }
        mg_face_adjacency_free(&adjacency);
        test_npy_free(&edges);
        free(faces);
    }
}

Test(adjacency, grid_of_200k_faces_in_linear_time)
{
    /* W x H cells, each split by the diagonal (x, y)-(x+1, y+1) into two triangles. */
    const int32_t width = 320, height = 313; /* 200,320 faces */
    const size_t num_faces = (size_t)width * (size_t)height * 2;
    int32_t *faces = malloc(num_faces * 3 * sizeof *faces);
    size_t f = 0;
    for (int32_t y = 0; y < height; y++) {
        for (int32_t x = 0; x < width; x++) {
            int32_t v00 = y * (width + 1) + x, v10 = v00 + 1, v01 = v00 + width + 1, v11 = v01 + 1;
            int32_t *lower = faces + 3 * f++, *upper = faces + 3 * f++;
            lower[0] = v00, lower[1] = v10, lower[2] = v11;
            upper[0] = v00, upper[1] = v11, upper[2] = v01;
        }
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(faces, num_faces, 3, &adjacency, NULL), MG_OK);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
    cr_log_info("face adjacency of a %zu-face grid: %.3f s", num_faces, seconds);

    /* Every interior edge gives two pairs: (W)(H-1) horizontal + (W-1)(H) vertical + W*H diagonals. */
    size_t interior = (size_t)width * (size_t)(height - 1) + (size_t)(width - 1) * (size_t)height +
                      (size_t)width * (size_t)height;
    cr_assert_eq((size_t)adjacency.offsets[num_faces], num_faces + 2 * interior);
    /* An interior cell (x, y): lower = 2(yW + x) neighbours the upper of (x, y-1), the upper of
     * (x+1, y) and its own upper. */
    int32_t x = 100, y = 200, lower = 2 * (y * width + x);
    int32_t expected[4] = {2 * ((y - 1) * width + x) + 1, lower, lower + 1, 2 * (y * width + x + 1) + 1};
    cr_assert_eq(adjacency.offsets[lower + 1] - adjacency.offsets[lower], 4);
    cr_assert_arr_eq(adjacency.neighbors + adjacency.offsets[lower], expected, sizeof expected);
    /* Symmetric (no degenerate faces): every (i, j) has its (j, i). */
    for (size_t i = 0; i < num_faces; i += 997)
        for (int32_t k = adjacency.offsets[i]; k < adjacency.offsets[i + 1]; k++) {
            int32_t j = adjacency.neighbors[k];
            bool found = false;
            for (int32_t l = adjacency.offsets[j]; l < adjacency.offsets[j + 1]; l++)
                found |= adjacency.neighbors[l] == (int32_t)i;
            cr_assert(found, "(%zu, %d) without (%d, %zu)", i, j, j, i);
        }
    mg_face_adjacency_free(&adjacency);
    free(faces);
}

Test(adjacency, bad_arguments)
{
    mg_diag diag = test_diag();
    mg_face_adjacency adjacency;
    cr_assert_eq(mg_face_adjacency_build(cube_faces, 12, 5, &adjacency, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "face_size is 5"), "%s", diag.last_error);
    cr_assert_eq(mg_face_adjacency_build(NULL, 3, 3, &adjacency, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert_null(adjacency.offsets);
    cr_assert_eq(mg_face_adjacency_build(NULL, 0, 3, &adjacency, &diag), MG_OK);
    cr_assert_eq(adjacency.offsets[0], 0);
    mg_face_adjacency_free(&adjacency);
    mg_face_adjacency_free(&adjacency); /* zeroed: fine */
    mg_diag_destroy(&diag);
}

/* ------------------------------------------------------------------------- */
/* features                                                                  */
/* ------------------------------------------------------------------------- */

static mg_ae_config feature_config(bool quads)
{
    mg_ae_config config;
    memset(&config, 0, sizeof config);
    config.num_discrete_coors = 128;
    config.coor_range[0] = -1.0f;
    config.coor_range[1] = 1.0f;
    config.num_discrete_area = 128;
    config.num_discrete_normals = 128;
    config.num_discrete_angle = 128;
    config.quads = quads;
    return config;
}

Test(features, right_triangle_by_hand)
{
    /*
     * v0 = (0,0,1), v1 = (1,0,1), v2 = (0,1,1): right angle at v0 in the plane z = 1.
     * Angles between position vectors: (v0, v2) = acos(1/sqrt2) = pi/4, (v1, v0) = pi/4,
     * (v2, v1) = acos(1/2) = pi/3. e1 = v0 - v2 = (0,-1,0), e2 = v1 - v0 = (1,0,0),
     * e1 x e2 = (0,0,1): normal +z, area 1/2.
     */
    const float coords[9] = {0, 0, 1, 1, 0, 1, 0, 1, 1};
    mg_face_features features;
    mg_face_features_compute(coords, 3, &features);
    cr_assert_float_eq(features.angles[0], (float)(TEST_PI / 4), 1e-6f);
    cr_assert_float_eq(features.angles[1], (float)(TEST_PI / 4), 1e-6f);
    cr_assert_float_eq(features.angles[2], (float)(TEST_PI / 3), 1e-6f);
    cr_assert_float_eq(features.area, 0.5f, 0.0f);
    cr_assert_float_eq(features.normal[0], 0.0f, 0.0f);
    cr_assert_float_eq(features.normal[1], 0.0f, 0.0f);
    cr_assert_float_eq(features.normal[2], 1.0f, 0.0f);

    /* Ids: coords 0 -> 64 and 1 -> 127; area 0.5 over (0,4) -> u = 15.5 -> 16; pi/3 -> u = 42.17 -> 42;
     * normal components 0 -> 64, 1 -> 127. */
    const float vertices[9] = {0, 0, 1, 1, 0, 1, 0, 1, 1};
    const int32_t face[3] = {0, 1, 2};
    int32_t coord_ids[9], angle_ids[3], area_id[1], normal_ids[3];
    mg_face_feature_ids ids = {coord_ids, angle_ids, area_id, normal_ids};
    mg_ae_config config = feature_config(false);
    mg_face_feature_ids_compute(&config, vertices, face, 1, &ids);
    const int32_t expected_coords[9] = {64, 64, 127, 127, 64, 127, 64, 127, 127};
    cr_assert_arr_eq(coord_ids, expected_coords, sizeof expected_coords);
    cr_assert_eq(angle_ids[2], 42);
    cr_assert_eq(area_id[0], 16);
    cr_assert_eq(normal_ids[0], 64);
    cr_assert_eq(normal_ids[1], 64);
    cr_assert_eq(normal_ids[2], 127);
}

Test(features, quad_uses_the_diagonals)
{
    /* Unit square at z = 1: e1 = v0 - v2 = (-1,-1,0), e2 = v1 - v3 = (1,-1,0), e1 x e2 = (0,0,2):
     * normal +z and area 1 (the square's). Angles: (v0,v3) acos(1/sqrt2), (v1,v0) acos(1/sqrt2),
     * (v2,v1) acos(2/sqrt6), (v3,v2) acos(2/sqrt6). */
    const float coords[12] = {0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1};
    mg_face_features features;
    mg_face_features_compute(coords, 4, &features);
    cr_assert_float_eq(features.area, 1.0f, 0.0f);
    cr_assert_float_eq(features.normal[2], 1.0f, 0.0f);
    cr_assert_float_eq(features.normal[0], 0.0f, 0.0f);
    cr_assert_float_eq(features.angles[0], (float)acos(1 / sqrt(2.0)), 1e-6f);
    cr_assert_float_eq(features.angles[1], (float)acos(1 / sqrt(2.0)), 1e-6f);
    cr_assert_float_eq(features.angles[2], (float)acos(2 / sqrt(6.0)), 1e-6f);
    cr_assert_float_eq(features.angles[3], (float)acos(2 / sqrt(6.0)), 1e-6f);
}

Test(features, degenerate_face_and_origin)
{
    /* A zero-area face: c = 0, so the normal is 0 / 1e-12 = 0 and the area 0; the corner at the
     * origin normalizes to 0, so its angles are acos(0) = pi/2. */
    const float coords[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    mg_face_features features;
    mg_face_features_compute(coords, 3, &features);
    cr_assert_float_eq(features.area, 0.0f, 0.0f);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(features.normal[i], 0.0f, 0.0f);
    cr_assert_float_eq(features.angles[0], (float)(TEST_PI / 2), 1e-6f);
    cr_assert_float_eq(features.angles[1], (float)(TEST_PI / 2), 1e-6f);
    /* v2 and v1 are parallel: cos = 1 is clipped to 1 - 1e-5. */
    cr_assert_float_eq(features.angles[2], acosf(1.0f - 1e-5f), 1e-7f);
}

Test(features, match_meshgpt_pytorch)
{
    test_npy vertices = test_npy_load("batch_vertices");
    test_npy faces64 = test_npy_load("batch_faces");
    test_npy angles = test_npy_load("ae_derived_angles");
    test_npy area = test_npy_load("ae_derived_area");
    test_npy normals = test_npy_load("ae_derived_normals");
    test_npy angle_ids = test_npy_load("ae_discrete_angle");
    test_npy area_ids = test_npy_load("ae_discrete_area");
    test_npy normal_ids = test_npy_load("ae_discrete_normals");
    test_npy coord_ids = test_npy_load("ae_discrete_face_coords");
    const size_t batch = (size_t)faces64.shape[0], num_faces = (size_t)faces64.shape[1];
    const size_t num_vertices = (size_t)vertices.shape[1];
    mg_ae_config config = feature_config(false);

    int32_t *faces = malloc(num_faces * 3 * sizeof *faces);
    int32_t *coords = malloc(num_faces * 9 * sizeof *coords), *angle = malloc(num_faces * 3 * sizeof *angle);
    int32_t *ar = malloc(num_faces * sizeof *ar), *normal = malloc(num_faces * 3 * sizeof *normal);
    size_t valid = 0;
    double max_diff = 0.0;
    for (size_t b = 0; b < batch; b++) {
        for (size_t i = 0; i < num_faces * 3; i++)
            faces[i] = (int32_t)faces64.i64[b * num_faces * 3 + i];
        const float *mesh_vertices = vertices.f32 + b * num_vertices * 3;
        mg_face_feature_ids ids = {coords, angle, ar, normal};
        mg_face_feature_ids_compute(&config, mesh_vertices, faces, num_faces, &ids);
        /* Pad faces included: upstream gathers vertex 0 for them, as we do. */
        for (size_t f = 0; f < num_faces; f++) {
            size_t g = b * num_faces + f;
            float corner_coords[9];
            bool pad = faces[3 * f] < 0 || faces[3 * f + 1] < 0 || faces[3 * f + 2] < 0;
            int32_t face[3];
            for (int c = 0; c < 3; c++)
                face[c] = pad ? 0 : faces[3 * f + (size_t)c];
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < 3; i++)
                    corner_coords[3 * c + i] = mesh_vertices[3 * (size_t)face[c] + (size_t)i];
            valid += !pad;
            mg_face_features features;
            mg_face_features_compute(corner_coords, 3, &features);
            for (int k = 0; k < 3; k++) {
                cr_assert_float_eq(features.angles[k], angles.f32[3 * g + (size_t)k], FEATURE_TOLERANCE,
                                   "mesh %zu face %zu angle %d", b, f, k);
                cr_assert_float_eq(features.normal[k], normals.f32[3 * g + (size_t)k], FEATURE_TOLERANCE,
                                   "mesh %zu face %zu normal %d", b, f, k);
                cr_assert_eq(angle[3 * f + (size_t)k], angle_ids.i64[3 * g + (size_t)k], "mesh %zu face %zu angle %d",
                             b, f, k);
                cr_assert_eq(normal[3 * f + (size_t)k], normal_ids.i64[3 * g + (size_t)k],
                             "mesh %zu face %zu normal %d", b, f, k);
            }
            cr_assert_float_eq(features.area, area.f32[g], FEATURE_TOLERANCE, "mesh %zu face %zu area", b, f);
            max_diff = fmax(max_diff, fabs((double)features.area - area.f32[g]));
            for (int k = 0; k < 3; k++) {
                max_diff = fmax(max_diff, fabs((double)features.angles[k] - angles.f32[3 * g + (size_t)k]));
                max_diff = fmax(max_diff, fabs((double)features.normal[k] - normals.f32[3 * g + (size_t)k]));
            }
            cr_assert_eq(ar[f], area_ids.i64[g], "mesh %zu face %zu area", b, f);
            for (int j = 0; j < 9; j++)
                cr_assert_eq(coords[9 * f + (size_t)j], coord_ids.i64[9 * g + (size_t)j], "mesh %zu face %zu coord %d",
                             b, f, j);
        }
    }
    cr_assert_eq(valid, 12 + 4 + 32);
    cr_log_info("face features vs meshgpt-pytorch: largest difference %.3g", max_diff);
    free(faces), free(coords), free(angle), free(ar), free(normal);
    test_npy_free(&vertices), test_npy_free(&faces64), test_npy_free(&angles), test_npy_free(&area);
    test_npy_free(&normals), test_npy_free(&angle_ids), test_npy_free(&area_ids), test_npy_free(&normal_ids);
    test_npy_free(&coord_ids);
}

/* ------------------------------------------------------------------------- */
/* validation                                                                */
/* ------------------------------------------------------------------------- */

static mg_mesh cube_mesh(float *vertices, int32_t *faces)
{
    memcpy(vertices, cube_vertices, sizeof cube_vertices);
    memcpy(faces, cube_faces, sizeof cube_faces);
    mg_mesh mesh = {vertices, 8, faces, 12, 3, NULL};
    return mesh;
}

static void expect_invalid(const mg_mesh *mesh, const char *needle1, const char *needle2)
{
    mg_diag diag = test_diag();
    cr_assert_eq(mg_mesh_validate(mesh, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, needle1), "message \"%s\" lacks \"%s\"", diag.last_error, needle1);
    if (needle2)
        cr_assert(strstr(diag.last_error, needle2), "message \"%s\" lacks \"%s\"", diag.last_error, needle2);
    /* mg_mesh_preprocess checks the same way. */
    mg_preprocess_config config = paper_config();
    mg_mesh out;
    cr_assert_eq(mg_mesh_preprocess(mesh, &config, 128, unit_range, &out, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert_null(out.vertices);
    cr_assert_null(out.faces);
    mg_diag_destroy(&diag);
}

Test(validate, accepts_a_cube)
{
    float vertices[24];
    int32_t faces[36];
    mg_mesh mesh = cube_mesh(vertices, faces);
    cr_assert_eq(mg_mesh_validate(&mesh, NULL), MG_OK);
}

Test(validate, names_the_bad_vertex_or_face)
{
    float vertices[24];
    int32_t faces[36];
    mg_mesh mesh = cube_mesh(vertices, faces);
    vertices[3 * 5 + 1] = NAN;
    expect_invalid(&mesh, "vertex 5 has a NaN y coordinate", "fix or remove it");
    vertices[3 * 5 + 1] = 0.0f;
    vertices[3 * 7 + 2] = -INFINITY;
    expect_invalid(&mesh, "vertex 7 has an infinite z coordinate", NULL);
    vertices[3 * 7 + 2] = 1.0f;

    faces[3 * 4 + 2] = 8;
    expect_invalid(&mesh, "face 4 refers to vertex 8", "only 8 vertices");
    faces[3 * 4 + 2] = -1;
    expect_invalid(&mesh, "face 4 has the negative vertex index -1", NULL);
    faces[3 * 4 + 2] = 5;
    cr_assert_eq(mg_mesh_validate(&mesh, NULL), MG_OK);

    mesh.face_size = 5;
    expect_invalid(&mesh, "face_size 5", NULL);
    mesh.face_size = 3;
    mesh.num_faces = 0;
    expect_invalid(&mesh, "no faces", NULL);
    mesh.num_faces = 12;
    mesh.num_vertices = 0;
    expect_invalid(&mesh, "no vertices", NULL);
    mg_mesh empty;
    memset(&empty, 0, sizeof empty);
    empty.face_size = 3;
    expect_invalid(&empty, "no vertices", NULL);
    mg_diag diag = test_diag();
    cr_assert_eq(mg_mesh_validate(NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    mg_diag_destroy(&diag);
}

Test(validate, masked_faces_are_ignored)
{
    float vertices[24];
    int32_t faces[36];
    mg_mesh mesh = cube_mesh(vertices, faces);
    uint8_t mask[12];
    memset(mask, 1, sizeof mask);
    mesh.face_mask = mask;
    faces[3 * 2] = 99;
    expect_invalid(&mesh, "face 2 refers to vertex 99", NULL);
    mask[2] = 0;
    cr_assert_eq(mg_mesh_validate(&mesh, NULL), MG_OK);
    memset(mask, 0, sizeof mask);
    expect_invalid(&mesh, "every face", "face_mask");
}

/* ------------------------------------------------------------------------- */
/* preprocess                                                                */
/* ------------------------------------------------------------------------- */

static mg_mesh run_preprocess(const mg_mesh *mesh, const mg_preprocess_config *config)
{
    mg_diag diag = test_diag();
    mg_mesh out;
    mg_status status = mg_mesh_preprocess(mesh, config, 128, unit_range, &out, &diag);
    cr_assert_eq(status, MG_OK, "%s", diag.last_error);
    mg_diag_destroy(&diag);
    return out;
}

/*
 * Four used vertices and one unused one:
 *   v0 (0, 0, 0.5)  v1 (0.5, 0, 0)  v2 (0, 0.5, 0)  v3 (0, 0, 0)  v4 (0.9, 0.9, 0.9) unused
 * faces f0 (0, 1, 2), f1 (3, 2, 1), f2 (0, 3, 1).
 */
static const float small_vertices[5 * 3] = {0, 0, 0.5f, 0.5f, 0, 0, 0, 0.5f, 0, 0, 0, 0, 0.9f, 0.9f, 0.9f};
static const int32_t small_faces[3 * 3] = {0, 1, 2, 3, 2, 1, 0, 3, 1};

Test(preprocess, orders_a_small_mesh_by_hand)
{
    mg_mesh mesh = {(float *)small_vertices, 5, (int32_t *)small_faces, 3, 3, NULL};
    mg_preprocess_config config = paper_config();
    config.normalize = false;

    /* ZYX, key (z, y, x): v3 (0,0,0) < v1 (z0, y0, x.5) < v2 (z0, y.5) < v0 (z.5): new ids v3 0, v1 1,
     * v2 2, v0 3; v4 is dropped. f0 -> (3,1,2) -> rotated (1,2,3); f1 -> (0,2,1); f2 -> (3,0,1) -> (0,1,3).
     * Sorted by the index sets {0,1,2} (f1) < {0,1,3} (f2) < {1,2,3} (f0).
     * Cells: 0 -> u = 63.5 -> 64, centre 0.0078125; 0.5 -> u = 95.5 -> 96, centre 0.5078125. */
    mg_mesh out = run_preprocess(&mesh, &config);
    const float c0 = 0.0078125f, c5 = 0.5078125f;
    const float expected_vertices[12] = {c0, c0, c0, c5, c0, c0, c0, c5, c0, c0, c0, c5};
    const int32_t expected_faces[9] = {0, 2, 1, 0, 1, 3, 1, 2, 3};
    cr_assert_eq(out.num_vertices, 4);
    cr_assert_eq(out.num_faces, 3);
    cr_assert_eq(out.face_size, 3);
    cr_assert_null(out.face_mask);
    cr_assert_arr_eq(out.vertices, expected_vertices, sizeof expected_vertices);
    cr_assert_arr_eq(out.faces, expected_faces, sizeof expected_faces);
    mg_mesh_release(&out);
    cr_assert_null(out.vertices);

    /* Sorted indices instead of a rotation: f1 (0,2,1) becomes (0,1,2), flipping its winding. */
    config.rotation = MG_FACE_SORT_INDICES;
    out = run_preprocess(&mesh, &config);
    const int32_t sorted_faces[9] = {0, 1, 2, 0, 1, 3, 1, 2, 3};
    cr_assert_arr_eq(out.faces, sorted_faces, sizeof sorted_faces);
    mg_mesh_release(&out);

    /* YZX, key (y, z, x): v3 < v1 (y0 z0 x.5) < v0 (y0 z.5) < v2 (y.5): v3 0, v1 1, v0 2, v2 3.
     * f0 (0,1,2) -> (2,1,3) -> (1,3,2); f1 (3,2,1) -> (0,3,1); f2 (0,3,1) -> (2,0,1) -> (0,1,2).
     * Sets: f2 {0,1,2} < f1 {0,1,3} < f0 {1,2,3}. */
    config.rotation = MG_FACE_ROTATE_CYCLIC;
    config.order = MG_ORDER_YZX;
    out = run_preprocess(&mesh, &config);
    const int32_t yzx_faces[9] = {0, 1, 2, 0, 3, 1, 1, 3, 2};
    cr_assert_arr_eq(out.faces, yzx_faces, sizeof yzx_faces);
    cr_assert_float_eq(out.vertices[3 * 2 + 2], c5, 0.0f); /* vertex 2 is v0: z = 0.5 */
    mg_mesh_release(&out);

    /* No vertex order and no face sort: input order, unused v4 still removed, faces only rotated. */
    config.order = MG_ORDER_NONE;
    config.sort_faces = false;
    out = run_preprocess(&mesh, &config);
    const int32_t input_order_faces[9] = {0, 1, 2, 1, 3, 2, 0, 3, 1};
    cr_assert_eq(out.num_vertices, 4);
    cr_assert_arr_eq(out.faces, input_order_faces, sizeof input_order_faces);
    cr_assert_float_eq(out.vertices[2], c5, 0.0f); /* v0 stays first */
    mg_mesh_release(&out);
}

Test(preprocess, normalizes_the_bounding_box)
{
    /* Box (2,3,4)-(4,4,4.5): longest side 2 (x) -> scale 0.95 * 2 / 2 = 0.95 around the centre (3, 3.5, 4.25).
     * (4,4,4.5) -> (0.95, 0.475, 0.2375); (2,3,4) -> (-0.95, -0.475, -0.2375). */
    const float vertices[9] = {2, 3, 4, 4, 4, 4.5f, 2, 4, 4};
    const int32_t faces[3] = {0, 1, 2};
    mg_mesh mesh = {(float *)vertices, 3, (int32_t *)faces, 1, 3, NULL};
    mg_preprocess_config config = paper_config();
    config.merge_vertices = false;
    config.order = MG_ORDER_NONE;
    mg_mesh out = run_preprocess(&mesh, &config);
    const float expected[9] = {-0.95f, -0.475f, -0.2375f, 0.95f, 0.475f, 0.2375f, -0.95f, 0.475f, -0.2375f};
    for (int i = 0; i < 9; i++)
        cr_assert_float_eq(out.vertices[i], expected[i], 1e-6f, "coordinate %d", i);
    mg_mesh_release(&out);

    /* Merged: every coordinate is a cell centre, and the longest side ends in cells 3 and 124
     * (0.95 -> u = 124.3; -0.95 -> u = 2.7). */
    config.merge_vertices = true;
    out = run_preprocess(&mesh, &config);
    cr_assert_float_eq(out.vertices[0], mg_undiscretize(3, -1.0f, 1.0f, 128), 0.0f);
    cr_assert_float_eq(out.vertices[3], mg_undiscretize(124, -1.0f, 1.0f, 128), 0.0f);
    for (int i = 0; i < 9; i++) {
        float x = out.vertices[i];
        cr_assert_float_eq(x, mg_undiscretize(mg_discretize(x, -1.0f, 1.0f, 128), -1.0f, 1.0f, 128), 0.0f);
    }
    mg_mesh_release(&out);
}

Test(preprocess, drops_degenerate_and_duplicate_faces)
{
    /* v3 lands in v2's cell (no normalization), so merging turns it into v2. */
    const float vertices[12] = {0, 0, 0, 0.5f, 0, 0, 0, 0.5f, 0, 0.001f, 0.5f, 0.001f};
    const int32_t faces[6 * 3] = {
        0, 1, 2, /* kept */
        1, 2, 0, /* same face, rotated */
        0, 2, 1, /* same vertices, other winding */
        0, 0, 1, /* repeats a vertex */
        0, 1, 3, /* = (0, 1, 2) after merging */
        2, 3, 1, /* = (2, 2, 1) after merging */
    };
    mg_mesh mesh = {(float *)vertices, 4, (int32_t *)faces, 6, 3, NULL};
    mg_preprocess_config config = paper_config();
    config.normalize = false;
    mg_mesh out = run_preprocess(&mesh, &config);
    /* Order: v0 (0,0,0) 0, v1 (x .5) 1, v2 (y .5) 2. Of (0,1,2) and (0,2,1) the smaller rotation stays. */
    cr_assert_eq(out.num_vertices, 3);
    cr_assert_eq(out.num_faces, 1);
    const int32_t expected[3] = {0, 1, 2};
    cr_assert_arr_eq(out.faces, expected, sizeof expected);
    mg_mesh_release(&out);

    /* Without dropping: all six faces, each rotated, sorted by index set then rotation. */
    config.drop_degenerate = false;
    out = run_preprocess(&mesh, &config);
    cr_assert_eq(out.num_faces, 6);
    const int32_t all[18] = {0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 1, 1, 2, 2};
    cr_assert_arr_eq(out.faces, all, sizeof all);
    mg_mesh_release(&out);

    /* Without merging v3 stays its own vertex: (0,1,3) and (2,3,1) are real faces. */
    config.drop_degenerate = true;
    config.merge_vertices = false;
    out = run_preprocess(&mesh, &config);
    cr_assert_eq(out.num_vertices, 4);
    cr_assert_eq(out.num_faces, 3);
    mg_mesh_release(&out);
}

Test(preprocess, fails_when_nothing_is_left)
{
    /* All three vertices fall into one cell once merged. */
    const float vertices[9] = {0.1f, 0.1f, 0.1f, 0.1001f, 0.1f, 0.1f, 0.1f, 0.1002f, 0.1f};
    const int32_t faces[3] = {0, 1, 2};
    mg_mesh mesh = {(float *)vertices, 3, (int32_t *)faces, 1, 3, NULL};
    mg_preprocess_config config = paper_config();
    config.normalize = false;
    mg_diag diag = test_diag();
    mg_mesh out;
    cr_assert_eq(mg_mesh_preprocess(&mesh, &config, 128, unit_range, &out, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "repeats a vertex"), "%s", diag.last_error);
    cr_assert_null(out.vertices);
    /* A bad config is refused with a reason. */
    config.normalize = true;
    config.normalize_scale = 0.0f;
    cr_assert_eq(mg_mesh_preprocess(&mesh, &config, 128, unit_range, &out, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "normalize_scale"), "%s", diag.last_error);
    config = paper_config();
    const float bad_range[2] = {1.0f, -1.0f};
    cr_assert_eq(mg_mesh_preprocess(&mesh, &config, 128, bad_range, &out, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_mesh_preprocess(&mesh, &config, 0, unit_range, &out, &diag), MG_ERR_INVALID_ARGUMENT);
    mg_diag_destroy(&diag);
}

/* A bumpy 9 x 7 height field (two triangles per cell) plus copies of some vertices. */
static void make_height_field(float **vertices, size_t *num_vertices, int32_t **faces, size_t *num_faces)
{
    const int nx = 9, ny = 7, grid = nx * ny, copies = 10;
    *num_vertices = (size_t)(grid + copies);
    *vertices = malloc(*num_vertices * 3 * sizeof **vertices);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            float *v = *vertices + 3 * (y * nx + x);
            v[0] = 0.3f * (float)x + 0.05f * sinf((float)(3 * y + x));
            v[1] = 0.25f * (float)y;
            v[2] = 0.4f * sinf(0.7f * (float)x) * cosf(0.9f * (float)y);
        }
    /* Exact copies of vertices 5, 10, 15, ...: merging must fold them in. */
    for (int k = 0; k < copies; k++)
        memcpy(*vertices + 3 * (grid + k), *vertices + 3 * (5 * k + 5), 3 * sizeof **vertices);
    *num_faces = (size_t)((nx - 1) * (ny - 1) * 2);
    *faces = malloc(*num_faces * 3 * sizeof **faces);
    size_t f = 0;
    for (int y = 0; y < ny - 1; y++)
        for (int x = 0; x < nx - 1; x++) {
            int32_t a = y * nx + x, b = a + 1, c = a + nx, d = c + 1;
            int32_t tri[6] = {a, b, d, a, d, c};
            for (int i = 0; i < 6; i++) {
                int32_t v = tri[i];
                /* Some faces use the copy instead of the original. */
                if (v % 5 == 0 && v > 0 && v / 5 - 1 < copies && (f + (size_t)i) % 2 == 0)
                    v = grid + v / 5 - 1;
                (*faces)[3 * f + (size_t)(i % 3)] = v;
                if (i % 3 == 2)
                    f++;
            }
        }
}

Test(preprocess, invariant_to_vertex_and_face_order)
{
    float *vertices;
    int32_t *faces;
    size_t num_vertices, num_faces;
    make_height_field(&vertices, &num_vertices, &faces, &num_faces);
    mg_mesh mesh = {vertices, num_vertices, faces, num_faces, 3, NULL};
    mg_preprocess_config config = paper_config();
    mg_mesh reference = run_preprocess(&mesh, &config);
    cr_assert_eq(reference.num_faces, num_faces);
    cr_assert_eq(reference.num_vertices, 63); /* the copies are merged */

    uint32_t state = 777;
    for (int trial = 0; trial < 5; trial++) {
        /* Permute vertices, permute faces, rotate each face by a random amount (winding kept). */
        size_t *vertex_perm = malloc(num_vertices * sizeof *vertex_perm); /* new position -> old vertex */
        int32_t *new_index = malloc(num_vertices * sizeof *new_index);
        size_t *face_perm = malloc(num_faces * sizeof *face_perm);
        for (size_t i = 0; i < num_vertices; i++)
            vertex_perm[i] = i;
        for (size_t i = num_vertices; i > 1; i--) {
            size_t j = lcg_next(&state) % i, t = vertex_perm[i - 1];
            vertex_perm[i - 1] = vertex_perm[j], vertex_perm[j] = t;
        }
        for (size_t i = 0; i < num_faces; i++)
            face_perm[i] = i;
        for (size_t i = num_faces; i > 1; i--) {
            size_t j = lcg_next(&state) % i, t = face_perm[i - 1];
            face_perm[i - 1] = face_perm[j], face_perm[j] = t;
        }
        float *shuffled_vertices = malloc(num_vertices * 3 * sizeof *shuffled_vertices);
        int32_t *shuffled_faces = malloc(num_faces * 3 * sizeof *shuffled_faces);
        for (size_t i = 0; i < num_vertices; i++) {
            memcpy(shuffled_vertices + 3 * i, vertices + 3 * vertex_perm[i], 3 * sizeof *vertices);
            new_index[vertex_perm[i]] = (int32_t)i;
        }
        for (size_t i = 0; i < num_faces; i++) {
            uint32_t shift = lcg_next(&state) % 3;
            for (uint32_t c = 0; c < 3; c++)
                shuffled_faces[3 * i + c] = new_index[faces[3 * face_perm[i] + (c + shift) % 3]];
        }
        mg_mesh shuffled = {shuffled_vertices, num_vertices, shuffled_faces, num_faces, 3, NULL};
        mg_mesh out = run_preprocess(&shuffled, &config);
        cr_assert_eq(out.num_vertices, reference.num_vertices);
        cr_assert_eq(out.num_faces, reference.num_faces);
        cr_assert_arr_eq(out.vertices, reference.vertices, reference.num_vertices * 3 * sizeof(float), "trial %d",
                         trial);
        cr_assert_arr_eq(out.faces, reference.faces, reference.num_faces * 3 * sizeof(int32_t), "trial %d", trial);
        mg_mesh_release(&out);
        free(vertex_perm), free(new_index), free(face_perm), free(shuffled_vertices), free(shuffled_faces);
    }

    /* The result already follows the convention: vertices ascending by (z, y, x), faces lowest index
     * first and sorted, so preprocessing it again changes nothing. */
    for (size_t v = 1; v < reference.num_vertices; v++) {
        const float *a = reference.vertices + 3 * (v - 1), *b = reference.vertices + 3 * v;
        bool ascending = a[2] < b[2] || (a[2] == b[2] && (a[1] < b[1] || (a[1] == b[1] && a[0] < b[0])));
        cr_assert(ascending, "vertices %zu and %zu out of (z, y, x) order", v - 1, v);
    }
    for (size_t f = 0; f < reference.num_faces; f++) {
        const int32_t *face = reference.faces + 3 * f;
        cr_assert(face[0] < face[1] && face[0] < face[2], "face %zu does not start at its lowest index", f);
    }
    config.normalize = false;
    mg_mesh again = run_preprocess(&reference, &config);
    cr_assert_arr_eq(again.vertices, reference.vertices, reference.num_vertices * 3 * sizeof(float));
    cr_assert_arr_eq(again.faces, reference.faces, reference.num_faces * 3 * sizeof(int32_t));
    mg_mesh_release(&again);
    mg_mesh_release(&reference);
    free(vertices), free(faces);
}

Test(preprocess, quads)
{
    /* Two unit squares side by side plus a quad repeating a vertex. */
    const float vertices[6 * 3] = {0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 1, 1, 0, 2, 1, 0};
    const int32_t faces[3 * 4] = {4, 5, 2, 1, 1, 0, 3, 4, 0, 1, 1, 3};
    mg_mesh mesh = {(float *)vertices, 6, (int32_t *)faces, 3, 4, NULL};
    mg_preprocess_config config = paper_config();
    mg_mesh out = run_preprocess(&mesh, &config);
    /* z is 0 everywhere: order by y then x keeps the input ids. Rotations: (1,4,5,2), (0,3,4,1);
     * sets {0,1,3,4} < {1,2,4,5}. */
    const int32_t expected[8] = {0, 3, 4, 1, 1, 4, 5, 2};
    cr_assert_eq(out.face_size, 4);
    cr_assert_eq(out.num_faces, 2);
    cr_assert_arr_eq(out.faces, expected, sizeof expected);
    mg_mesh_release(&out);
}
