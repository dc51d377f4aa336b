/*
 * Several meshes packed for the encoder, as upstream packs a padded batch
 * before its graph convolutions: faces of every mesh one after another
 * (pad faces dropped), vertex indices offset per mesh, one face adjacency over
 * the packed faces (faces of different meshes are never neighbours), and the
 * lists the face-corner -> vertex scatter-mean needs.
 */
#ifndef MG_MESH_MESH_BATCH_H
#define MG_MESH_MESH_BATCH_H

#include "core/diag.h"
#include "mesh/adjacency.h"
#include "meshgpt.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_mesh_batch {
    size_t num_meshes;
    uint32_t face_size;
    size_t num_faces;            /* all meshes together */
    size_t num_vertices;         /* all meshes together */
    size_t *face_offsets;        /* [num_meshes + 1]: mesh m owns packed faces [face_offsets[m], face_offsets[m+1]) */
    size_t *vertex_offsets;      /* [num_meshes + 1]: likewise for vertices */
    int32_t *faces;              /* [num_faces * face_size]: global vertex indices (mesh m's + vertex_offsets[m]) */
    float *vertices;             /* [num_vertices * 3] */
    mg_face_adjacency adjacency; /* over the packed faces, neighbours ascending, self included */
    /*
     * Vertex -> corner slots: for global vertex v, corners[corner_offsets[v] ..
     * corner_offsets[v+1]) are the slots face * face_size + corner (packed
     * numbering, ascending) whose corner is v. A vertex no face uses has none.
     */
    int32_t *corner_offsets;     /* [num_vertices + 1] */
    int32_t *corners;            /* [num_faces * face_size] */
} mg_mesh_batch;

/*
 * Packs `meshes` (each passing mg_mesh_validate, all with the same face_size,
 * and no face masked out: preprocess them first). Totals must fit int32
 * (corner slots). On failure *out is zeroed.
 */
mg_status mg_mesh_batch_build(const mg_mesh *meshes, size_t num_meshes, mg_mesh_batch *out, mg_diag *diag);
/* Frees the arrays and zeroes the struct; NULL and zeroed structs are fine. */
void mg_mesh_batch_free(mg_mesh_batch *batch);

#endif
