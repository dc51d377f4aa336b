/*
 * A growable triangle mesh built out of closed parts (boxes, solids of revolution, extruded polygons,
 * icospheres) for the procedural data set. Each part is a closed surface with consistent winding; when a
 * part ends, its faces are flipped if its signed volume is negative, so every part is wound outward
 * whatever order its generator listed corners in.
 */
#ifndef MG_DATASET_SHAPE_BUILDER_H
#define MG_DATASET_SHAPE_BUILDER_H

#include "meshgpt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_shape_builder {
    float *vertices;
    size_t num_vertices, vertex_capacity;
    int32_t *faces;
    size_t num_faces, face_capacity;
    size_t part_first_face;
    size_t part_first_vertex;
    bool failed;        /* out of memory, or a polygon that could not be triangulated */
} mg_shape_builder;

void sb_init(mg_shape_builder *b);
void sb_release(mg_shape_builder *b);
/* Moves the arrays into `mesh` (triangles) and resets the builder. */
void sb_take(mg_shape_builder *b, mg_mesh *mesh);

int32_t sb_vertex(mg_shape_builder *b, double x, double y, double z);
void sb_tri(mg_shape_builder *b, int32_t a, int32_t c1, int32_t c2);
/* Two triangles a b c and a c d. */
void sb_quad(mg_shape_builder *b, int32_t a, int32_t c1, int32_t c2, int32_t d);

void sb_part_begin(mg_shape_builder *b);
/* Flips the part's faces when its signed volume is negative (wound inward). */
void sb_part_end(mg_shape_builder *b);

/* An axis-aligned box as one part: 8 vertices, 12 faces. */
void sb_box(mg_shape_builder *b, double x0, double y0, double z0, double x1, double y1, double z1);

/*
 * A solid of revolution about the vertical axis through (cx, cz), one part. The profile is (radius, y)
 * points. Open profile (closed_loop false): from one end to the other; an end with radius 0 is a pole,
 * an end with a radius is closed by a flat polygon cap. Closed loop: the profile is a closed polygon
 * (torus, tube), no caps. `segments` around; `phase` rotates the first segment (radians).
 */
void sb_revolve(mg_shape_builder *b, const double *radius, const double *y, size_t count, bool closed_loop,
                size_t segments, double phase, double cx, double cz);

/* A simple polygon (x, y pairs, either winding) extruded along z from z0 to z1, one part; the caps are
 * triangulated by ear clipping (the builder fails if the polygon is not simple). */
void sb_extrude(mg_shape_builder *b, const double *xy, size_t count, double z0, double z1);

/* The same with each cap a fan around (cx, cy), for polygons star-shaped about that point (a star): fat
 * triangles that stay non-degenerate on a coarse grid where ear clipping's slivers would not. */
void sb_extrude_fan(mg_shape_builder *b, const double *xy, size_t count, double cx, double cy, double z0, double z1);

/* An icosphere (icosahedron subdivided `subdivisions` times, 20 * 4^s faces), one part. */
void sb_icosphere(mg_shape_builder *b, double radius, int subdivisions, double cx, double cy, double cz);

#endif
