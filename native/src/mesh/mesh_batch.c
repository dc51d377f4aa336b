#include "mesh/mesh_batch.h"

#include "mesh/preprocess.h"

#include <stdlib.h>
#include <string.h>

void mg_mesh_batch_free(mg_mesh_batch *batch)
{
    if (!batch)
        return;
    free(batch->face_offsets);
    free(batch->vertex_offsets);
    free(batch->faces);
    free(batch->vertices);
    mg_face_adjacency_free(&batch->adjacency);
    free(batch->corner_offsets);
    free(batch->corners);
    memset(batch, 0, sizeof *batch);
}

static mg_status check_meshes(const mg_mesh *meshes, size_t num_meshes, size_t *total_vertices, size_t *total_faces,
                              mg_diag *diag)
{
    if (num_meshes == 0 || !meshes)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh batch: no meshes given");
    *total_vertices = 0;
    *total_faces = 0;
    for (size_t m = 0; m < num_meshes; m++) {
        const mg_mesh *mesh = &meshes[m];
        mg_status status = mg_mesh_validate(mesh, diag);
        if (status != MG_OK) {
            if (!diag)
                return status;
            char message[MG_ERROR_MESSAGE_MAX];
            mg_diag_copy_error(diag, message, sizeof message);
            return mg_fail(diag, status, "mesh batch: mesh %zu: %s", m, message);
        }
        if (mesh->face_size != meshes[0].face_size)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                           "mesh batch: mesh %zu has face_size %u but mesh 0 has %u: a batch holds one face size",
                           m, mesh->face_size, meshes[0].face_size);
        if (mesh->face_mask)
            for (size_t f = 0; f < mesh->num_faces; f++)
                if (!mesh->face_mask[f])
                    return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                                   "mesh batch: face %zu of mesh %zu is masked out: preprocess the mesh "
                                   "(mg_mesh_preprocess) before batching", f, m);
        *total_vertices += mesh->num_vertices;
        *total_faces += mesh->num_faces;
        if (*total_vertices > (size_t)INT32_MAX || *total_faces > (size_t)INT32_MAX / 6)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                           "mesh batch: the meshes up to mesh %zu have %zu vertices and %zu faces, more than one "
                           "batch holds: use smaller batches", m, *total_vertices, *total_faces);
    }
    return MG_OK;
}

mg_status mg_mesh_batch_build(const mg_mesh *meshes, size_t num_meshes, mg_mesh_batch *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh batch: the output is NULL");
    memset(out, 0, sizeof *out);
    size_t total_vertices = 0, total_faces = 0;
    mg_status status = check_meshes(meshes, num_meshes, &total_vertices, &total_faces, diag);
    if (status != MG_OK)
        return status;

    const uint32_t face_size = meshes[0].face_size;
    const size_t total_corners = total_faces * face_size;
    mg_mesh_batch batch = {0};
    batch.num_meshes = num_meshes;
    batch.face_size = face_size;
    batch.num_faces = total_faces;
    batch.num_vertices = total_vertices;
    batch.face_offsets = malloc((num_meshes + 1) * sizeof *batch.face_offsets);
    batch.vertex_offsets = malloc((num_meshes + 1) * sizeof *batch.vertex_offsets);
    batch.faces = malloc(total_corners * sizeof *batch.faces);
    batch.vertices = malloc(total_vertices * 3 * sizeof *batch.vertices);
    batch.corner_offsets = calloc(total_vertices + 1, sizeof *batch.corner_offsets);
    batch.corners = malloc(total_corners * sizeof *batch.corners);
    int32_t *fill = malloc((total_vertices + 1) * sizeof *fill);
    if (!batch.face_offsets || !batch.vertex_offsets || !batch.faces || !batch.vertices || !batch.corner_offsets ||
        !batch.corners || !fill) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "mesh batch: out of host memory for %zu faces", total_faces);
        goto fail;
    }

    batch.face_offsets[0] = 0;
    batch.vertex_offsets[0] = 0;
    for (size_t m = 0; m < num_meshes; m++) {
        const mg_mesh *mesh = &meshes[m];
        size_t face_base = batch.face_offsets[m], vertex_base = batch.vertex_offsets[m];
        memcpy(batch.vertices + 3 * vertex_base, mesh->vertices, mesh->num_vertices * 3 * sizeof *batch.vertices);
        for (size_t i = 0; i < mesh->num_faces * face_size; i++)
            batch.faces[face_base * face_size + i] = mesh->faces[i] + (int32_t)vertex_base;
        batch.face_offsets[m + 1] = face_base + mesh->num_faces;
        batch.vertex_offsets[m + 1] = vertex_base + mesh->num_vertices;
    }

    /* Vertex -> corner slots, by counting; slots are visited in ascending order. */
    for (size_t s = 0; s < total_corners; s++)
        batch.corner_offsets[batch.faces[s] + 1]++;
    for (size_t v = 0; v < total_vertices; v++)
        batch.corner_offsets[v + 1] += batch.corner_offsets[v];
    memcpy(fill, batch.corner_offsets, total_vertices * sizeof *fill);
    for (size_t s = 0; s < total_corners; s++)
        batch.corners[fill[batch.faces[s]]++] = (int32_t)s;

    /* Vertex indices are disjoint between meshes, so one build over the packed faces never links two meshes. */
    status = mg_face_adjacency_build(batch.faces, total_faces, face_size, &batch.adjacency, diag);
    if (status != MG_OK)
        goto fail;
    free(fill);
    *out = batch;
    return MG_OK;

fail:
    free(fill);
    mg_mesh_batch_free(&batch);
    return status;
}
