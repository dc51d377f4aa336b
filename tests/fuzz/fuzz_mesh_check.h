/*
 * Shared by the mesh harnesses: read the input as one format, then check what
 * a successful read promises (faces of 3 or 4 in-range corners, at least one
 * face) so that a reader returning a bad mesh is a finding, not only a crash.
 */
#ifndef MG_FUZZ_MESH_CHECK_H
#define MG_FUZZ_MESH_CHECK_H

#include "meshgpt.h"

#include <stddef.h>
#include <stdint.h>

static inline void fuzz_mesh_read(const uint8_t *data, size_t size, mg_mesh_format format)
{
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.format = format;
    /* Every polygon mode gets its share of inputs without spending input bytes on it. */
    params.polygons = (mg_polygon_mode)(size % 3);
    mg_mesh mesh;
    char error[256];
    if (mg_mesh_read_memory(data, size, &params, &mesh, error, sizeof error) != MG_OK) {
        if (error[0] == '\0' || mesh.vertices || mesh.faces)
            __builtin_trap();  /* failures must say why and leave nothing behind */
        return;
    }
    if ((mesh.face_size != 3 && mesh.face_size != 4) || mesh.num_faces == 0 || mesh.face_mask ||
        (params.polygons == MG_POLYGONS_TRIANGULATE && mesh.face_size != 3) ||
        (params.polygons == MG_POLYGONS_QUADS && mesh.face_size != 4))
        __builtin_trap();
    for (size_t i = 0; i < mesh.num_faces * mesh.face_size; i++)
        if (mesh.faces[i] < 0 || (size_t)mesh.faces[i] >= mesh.num_vertices)
            __builtin_trap();
    mg_mesh_free(&mesh);
}

#endif
