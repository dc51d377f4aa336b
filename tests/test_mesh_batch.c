/*
 * Packing meshes for the encoder (mesh_batch): offsets, re-indexed faces, the
 * packed adjacency (against meshgpt-pytorch's per-mesh face_edges of the
 * fixture batch) and the vertex -> corner lists (against a brute-force scan).
 */
#include "test_npy.h"

#include "mesh/mesh_batch.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet_log(mg_log_level level, const char *message, void *user_data)
{
    (void)level, (void)message, (void)user_data;
}

/* Mesh b of the fixture batch, pad faces and pad vertices cut off (vertices: up to the largest index used). */
static mg_mesh fixture_mesh(const test_npy *vertices, const test_npy *faces, size_t b)
{
    const size_t max_faces = (size_t)faces->shape[1], max_vertices = (size_t)vertices->shape[1];
    mg_mesh mesh = {0};
    mesh.face_size = 3;
    mesh.faces = malloc(max_faces * 3 * sizeof *mesh.faces);
    int32_t largest = -1;
    for (size_t f = 0; f < max_faces; f++) {
        const int64_t *face = faces->i64 + (b * max_faces + f) * 3;
        if (face[0] < 0)
            break;
        for (int c = 0; c < 3; c++) {
            mesh.faces[3 * f + (size_t)c] = (int32_t)face[c];
            largest = face[c] > largest ? (int32_t)face[c] : largest;
        }
        mesh.num_faces = f + 1;
    }
    mesh.num_vertices = (size_t)largest + 1;
    mesh.vertices = malloc(mesh.num_vertices * 3 * sizeof *mesh.vertices);
    memcpy(mesh.vertices, vertices->f32 + b * max_vertices * 3, mesh.num_vertices * 3 * sizeof *mesh.vertices);
    return mesh;
}

static void free_mesh(mg_mesh *mesh)
{
    free(mesh->vertices);
    free(mesh->faces);
}

Test(mesh_batch, packs_the_fixture_batch)
{
    test_npy vertices = test_npy_load("batch_vertices");
    test_npy faces = test_npy_load("batch_faces");
    test_npy edges = test_npy_load("batch_face_edges");
    mg_mesh meshes[3];
    for (size_t b = 0; b < 3; b++)
        meshes[b] = fixture_mesh(&vertices, &faces, b);
    cr_assert_eq(meshes[0].num_faces, 12);
    cr_assert_eq(meshes[1].num_faces, 4);
    cr_assert_eq(meshes[2].num_faces, 32);

    mg_mesh_batch batch;
    cr_assert_eq(mg_mesh_batch_build(meshes, 3, &batch, NULL), MG_OK);
    cr_assert_eq(batch.num_meshes, 3);
    cr_assert_eq(batch.face_size, 3);
    cr_assert_eq(batch.num_faces, 48);
    cr_assert_eq(batch.num_vertices, 8 + 4 + 18);
    const size_t face_offsets[4] = {0, 12, 16, 48}, vertex_offsets[4] = {0, 8, 12, 30};
    cr_assert_arr_eq(batch.face_offsets, face_offsets, sizeof face_offsets);
    cr_assert_arr_eq(batch.vertex_offsets, vertex_offsets, sizeof vertex_offsets);

    for (size_t m = 0; m < 3; m++) {
        const mg_mesh *mesh = &meshes[m];
        cr_assert_arr_eq(batch.vertices + 3 * vertex_offsets[m], mesh->vertices, mesh->num_vertices * 3 * sizeof(float));
        for (size_t i = 0; i < mesh->num_faces * 3; i++)
            cr_assert_eq(batch.faces[face_offsets[m] * 3 + i], mesh->faces[i] + (int32_t)vertex_offsets[m]);

        /* Rows of mesh m, shifted back, are upstream's pair list of that mesh, and end at the padding. */
        const int64_t *pairs = edges.i64 + m * (size_t)edges.shape[1] * 2;
        size_t e = 0;
        for (size_t f = face_offsets[m]; f < face_offsets[m + 1]; f++) {
            for (int32_t k = batch.adjacency.offsets[f]; k < batch.adjacency.offsets[f + 1]; k++, e++) {
                int32_t j = batch.adjacency.neighbors[k];
                cr_assert(j >= (int32_t)face_offsets[m] && j < (int32_t)face_offsets[m + 1],
                          "face %zu is linked to face %d of another mesh", f, j);
                cr_assert_eq(pairs[2 * e], (int64_t)(f - face_offsets[m]), "mesh %zu pair %zu", m, e);
                cr_assert_eq(pairs[2 * e + 1], (int64_t)(j - (int32_t)face_offsets[m]), "mesh %zu pair %zu", m, e);
            }
        }
        cr_assert(e == (size_t)edges.shape[1] || pairs[2 * e] == -1, "mesh %zu has more pairs upstream", m);
    }

    /* Vertex -> corner slots against a scan of every slot. */
    cr_assert_eq(batch.corner_offsets[0], 0);
    cr_assert_eq((size_t)batch.corner_offsets[batch.num_vertices], batch.num_faces * 3);
    for (size_t v = 0; v < batch.num_vertices; v++) {
        int32_t k = batch.corner_offsets[v];
        for (size_t s = 0; s < batch.num_faces * 3; s++) {
            if (batch.faces[s] != (int32_t)v)
                continue;
            cr_assert_lt(k, batch.corner_offsets[v + 1], "vertex %zu: slot %zu missing", v, s);
            cr_assert_eq(batch.corners[k], (int32_t)s, "vertex %zu", v);
            k++;
        }
        cr_assert_eq(k, batch.corner_offsets[v + 1], "vertex %zu has extra slots", v);
    }
    mg_mesh_batch_free(&batch);
    mg_mesh_batch_free(&batch); /* zeroed: fine */
    for (size_t b = 0; b < 3; b++)
        free_mesh(&meshes[b]);
    test_npy_free(&vertices), test_npy_free(&faces), test_npy_free(&edges);
}

Test(mesh_batch, quads_and_unused_vertices_by_hand)
{
    /* Mesh 0: two quads sharing edge 1-4, vertex 6 unused. Mesh 1: one quad. */
    float v0[7 * 3] = {0}, v1[4 * 3] = {0};
    int32_t f0[8] = {0, 1, 4, 3, 1, 2, 5, 4}, f1[4] = {0, 1, 2, 3};
    mg_mesh meshes[2] = {{v0, 7, f0, 2, 4, NULL}, {v1, 4, f1, 1, 4, NULL}};
    mg_mesh_batch batch;
    cr_assert_eq(mg_mesh_batch_build(meshes, 2, &batch, NULL), MG_OK);
    const int32_t faces[12] = {0, 1, 4, 3, 1, 2, 5, 4, 7, 8, 9, 10};
    cr_assert_arr_eq(batch.faces, faces, sizeof faces);
    const int32_t adjacency_offsets[4] = {0, 2, 4, 5}, neighbors[5] = {0, 1, 0, 1, 2};
    cr_assert_arr_eq(batch.adjacency.offsets, adjacency_offsets, sizeof adjacency_offsets);
    cr_assert_arr_eq(batch.adjacency.neighbors, neighbors, sizeof neighbors);
    /* Slots: vertex 1 -> 1 (face 0 corner 1) and 4 (face 1 corner 0); vertex 4 -> 2 and 7; vertex 6 none;
     * vertex 7 (mesh 1's 0) -> 8. */
    const int32_t corner_offsets[12] = {0, 1, 3, 4, 5, 7, 8, 8, 9, 10, 11, 12};
    const int32_t corners[12] = {0, 1, 4, 5, 3, 2, 7, 6, 8, 9, 10, 11};
    cr_assert_arr_eq(batch.corner_offsets, corner_offsets, sizeof corner_offsets);
    cr_assert_arr_eq(batch.corners, corners, sizeof corners);
    mg_mesh_batch_free(&batch);
}

Test(mesh_batch, refuses_what_it_cannot_pack)
{
    mg_diag diag;
    mg_diag_init(&diag, quiet_log, NULL, MG_LOG_NONE);
    float v[4 * 3] = {0};
    int32_t tri[3] = {0, 1, 2}, quad[4] = {0, 1, 2, 3}, bad[3] = {0, 1, 9};
    mg_mesh triangle = {v, 4, tri, 1, 3, NULL}, square = {v, 4, quad, 1, 4, NULL}, broken = {v, 4, bad, 1, 3, NULL};
    mg_mesh_batch batch;

    mg_mesh mixed[2] = {triangle, square};
    cr_assert_eq(mg_mesh_batch_build(mixed, 2, &batch, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "mesh 1 has face_size 4"), "%s", diag.last_error);
    cr_assert_null(batch.faces);

    mg_mesh with_broken[2] = {triangle, broken};
    cr_assert_eq(mg_mesh_batch_build(with_broken, 2, &batch, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "mesh 1: face 0 refers to vertex 9"), "%s", diag.last_error);

    uint8_t mask[1] = {0};
    mg_mesh masked = triangle;
    masked.face_mask = mask;
    mg_mesh with_masked[2] = {triangle, masked};
    cr_assert_eq(mg_mesh_batch_build(with_masked, 2, &batch, &diag), MG_ERR_INVALID_ARGUMENT);

    cr_assert_eq(mg_mesh_batch_build(NULL, 0, &batch, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "no meshes"), "%s", diag.last_error);
    cr_assert_eq(mg_mesh_batch_build(&triangle, 1, NULL, &diag), MG_ERR_INVALID_ARGUMENT);
    mg_diag_destroy(&diag);
}
