/*
 * Face adjacency as meshgpt-pytorch's derive_face_edges_from_faces defines it,
 * built with an edge hash map in time and memory linear in the faces plus the
 * result (upstream builds an F x F x 3 x 3 table).
 *
 * Upstream's rule, exactly: face j is a neighbour of face i when at least two
 * CORNERS of i (counted with repetition) hold a vertex that appears anywhere in
 * j. Consequences this implementation reproduces:
 *  - every face is its own neighbour (a face shares all its corners with itself);
 *  - triangles: two faces are neighbours iff they share an edge (two vertices);
 *  - quads: sharing any two vertices is enough, also the two ends of a diagonal
 *    of one of them (upstream counts shared vertices, it never looks at edges);
 *  - a degenerate face that repeats vertex v (e.g. (a, a, b)) has as neighbours
 *    every face that contains v, but those faces see it only if they share two
 *    distinct vertices with it: the relation is not symmetric then;
 *  - a face with a negative index (upstream's pad id -1) is nobody's neighbour,
 *    not even its own (upstream masks pad faces out of the F x F grid).
 * Rows come out in ascending order, so the CSR read row by row is upstream's
 * row-major (i, j) pair list.
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

/*
 * faces [num_faces * face_size] (face_size 3 or 4); indices >= 0 are vertex
 * indices, negative ones mark pad faces. num_faces * face_size and the number
 * of pairs must fit in int32. On failure *out is zeroed.
 */
mg_status mg_face_adjacency_build(const int32_t *faces, size_t num_faces, uint32_t face_size,
                                  mg_face_adjacency *out, mg_diag *diag);
/* Frees the arrays and zeroes the struct; NULL and zeroed structs are fine. */
void mg_face_adjacency_free(mg_face_adjacency *adjacency);

#endif
