/*
 * Mesh preprocessing before tokenization: checks, normalization into the
 * coordinate range, merging vertices that share a discrete cell, dropping
 * degenerate and duplicate faces, and the ordering convention of the model.
 * meshgpt-pytorch leaves all of this to the user (see docs); this is the
 * paper's convention with the options of mg_preprocess_config.
 */
#ifndef MG_MESH_PREPROCESS_H
#define MG_MESH_PREPROCESS_H

#include "core/diag.h"
#include "model/ae_config.h"
#include "meshgpt.h"

/*
 * Checks a mesh as given: face_size 3 or 4, at least one vertex and one face,
 * finite coordinates, every index in [0, num_vertices). Faces whose face_mask
 * entry is 0 are ignored (not checked, not counted). Errors say which face or
 * vertex is wrong and what to do.
 */
mg_status mg_mesh_validate(const mg_mesh *mesh, mg_diag *diag);

/*
 * Applies `config` and writes a new mesh (arrays malloc'ed, owned by the
 * caller, freed with mg_mesh_free / mg_mesh_release; face_mask NULL). Steps:
 *  1. validate (mg_mesh_validate); masked-out faces are left out;
 *  2. normalize: centre the bounding box of the vertices the faces use on the
 *     range's centre and scale uniformly so its longest side spans
 *     normalize_scale of the range (a single point is only moved);
 *  3. merge_vertices: every vertex moves to the centre of its discrete cell
 *     (num_discrete cells per axis over range) and vertices in the same cell
 *     become one; without it coordinates stay continuous;
 *  4. drop_degenerate: faces that repeat a vertex (after merging) are dropped,
 *     and of faces with the same vertex set (any rotation or winding) only one
 *     is kept: the one whose rotated tuple (step 6) is smallest, then the
 *     earliest in the input; it keeps its place when faces are not sorted;
 *  5. order: vertices ascending by the discrete coordinates in the config's
 *     axis order (ZYX: z, then y, then x; YZX: y, z, x), ties (only without
 *     merging) by the continuous coordinates in that order, then the input
 *     index; NONE keeps the input order (a merged vertex at its lowest input index);
 *  6. rotation: CYCLIC rotates each face to its lexicographically smallest
 *     rotation (lowest index first, winding kept); SORT_INDICES sorts its indices;
 *  7. sort_faces: faces ascending by their sorted index tuple, then by the
 *     rotated tuple, then by input position; otherwise input order;
 *  8. vertices no kept face uses are removed and the faces re-indexed.
 * With merging and an axis order the result does not depend on the order of
 * the input's vertices or faces, nor on the starting corner of its faces.
 * Fails with MG_ERR_INVALID_ARGUMENT if nothing is left (every face degenerate).
 * Memory O(V + F), time O(V log V + F log F).
 */
mg_status mg_mesh_preprocess(const mg_mesh *mesh, const mg_preprocess_config *config, int num_discrete,
                             const float range[2], mg_mesh *out, mg_diag *diag);

#endif
