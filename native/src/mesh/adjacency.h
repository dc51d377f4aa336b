/*
 * Face adjacency: faces i and j are neighbours when they share an edge (two
 * vertices), and every face is its own neighbour, as meshgpt-pytorch's
 * derive_face_edges_from_faces. Built with an edge hash map in linear time and
 * memory (upstream builds an F x F x 3 x 3 table).
 */
#ifndef MG_MESH_ADJACENCY_H
#define MG_MESH_ADJACENCY_H

#include "core/diag.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_face_adjacency {
    size_t num_faces;
    int32_t *offsets;    /* [num_faces + 1] */
    int32_t *neighbors;  /* [offsets[num_faces]]: for face i, its neighbours j ascending (i itself included) */
} mg_face_adjacency;

/* faces [num_faces * face_size]; indices must be valid (see mg_mesh_validate). */
mg_status mg_face_adjacency_build(const int32_t *faces, size_t num_faces, uint32_t face_size,
                                  mg_face_adjacency *out, mg_diag *diag);
void mg_face_adjacency_free(mg_face_adjacency *adjacency);

#endif
