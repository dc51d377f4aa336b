/* mg_mesh_weld: merge corners at identical positions, drop masked faces. */
#include "core/diag.h"

#include <stdlib.h>
#include <string.h>

static uint64_t position_hash(const float *p)
{
    uint32_t bits[3];
    memcpy(bits, p, sizeof bits);
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 3; i++) {
        h ^= bits[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

mg_status mg_mesh_weld(const mg_mesh *mesh, mg_mesh *out, char *error_buffer, size_t error_buffer_size)
{
    if (!mesh || !out || (mesh->num_faces && !mesh->faces) || (mesh->num_vertices && !mesh->vertices) ||
        (mesh->face_size != 3 && mesh->face_size != 4)) {
        mg_format(error_buffer, error_buffer_size, "mg_mesh_weld: give a mesh with 3 or 4 vertices per face");
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    const size_t fs = mesh->face_size;
    size_t capacity = 16;
    while (capacity < 2 * mesh->num_faces * fs)
        capacity *= 2;
    int32_t *table = malloc(capacity * sizeof *table);
    out->vertices = malloc((mesh->num_faces * fs + 1) * 3 * sizeof(float));
    out->faces = malloc((mesh->num_faces * fs + 1) * sizeof(int32_t));
    if (!table || !out->vertices || !out->faces) {
        free(table);
        free(out->vertices);
        free(out->faces);
        memset(out, 0, sizeof *out);
        mg_format(error_buffer, error_buffer_size, "out of host memory welding a mesh of %zu faces", mesh->num_faces);
        return MG_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < capacity; i++)
        table[i] = -1;
    size_t vertices = 0, faces = 0;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (mesh->face_mask && !mesh->face_mask[f])
            continue;
        bool in_range = true;
        for (size_t c = 0; c < fs; c++) {
            int32_t v = mesh->faces[f * fs + c];
            in_range = in_range && v >= 0 && (size_t)v < mesh->num_vertices;
        }
        if (!in_range)
            continue;
        for (size_t c = 0; c < fs; c++) {
            const float *p = mesh->vertices + (size_t)mesh->faces[f * fs + c] * 3;
            size_t slot = (size_t)position_hash(p) & (capacity - 1);
            while (table[slot] >= 0 && memcmp(out->vertices + (size_t)table[slot] * 3, p, 3 * sizeof(float)) != 0)
                slot = (slot + 1) & (capacity - 1);
            if (table[slot] < 0) {
                memcpy(out->vertices + vertices * 3, p, 3 * sizeof(float));
                table[slot] = (int32_t)vertices++;
            }
            out->faces[faces * fs + c] = table[slot];
        }
        faces++;
    }
    free(table);
    out->num_vertices = vertices;
    out->num_faces = faces;
    out->face_size = mesh->face_size;
    return MG_OK;
}
