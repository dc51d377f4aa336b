/*
 * Mesh preprocessing before tokenization: checks, normalization into the
 * coordinate range, merging vertices that share a discrete cell, dropping
 * degenerate and duplicate faces, and the ordering convention of the model.
 */
#ifndef MG_MESH_PREPROCESS_H
#define MG_MESH_PREPROCESS_H

#include "core/diag.h"
#include "model/ae_config.h"
#include "meshgpt.h"

/*
 * Checks a mesh as given: face_size 3 or 4, at least one vertex and one face,
 * finite coordinates, every index in [0, num_vertices). Errors say which face
 * or vertex is wrong and what to do.
 */
mg_status mg_mesh_validate(const mg_mesh *mesh, mg_diag *diag);

/*
 * Applies `config` (normalize, discretize + merge, drop degenerate/duplicate
 * faces, vertex order, face rotation, face sort, unreferenced vertices removed)
 * and writes a new mesh (arrays owned by the caller, freed with mg_mesh_free).
 * Coordinates of the result are the discrete cell centres of the model's
 * grid (num_discrete levels over range). Fails with MG_ERR_INVALID_ARGUMENT if
 * nothing is left (every face degenerate).
 */
mg_status mg_mesh_preprocess(const mg_mesh *mesh, const mg_preprocess_config *config, int num_discrete,
                             const float range[2], mg_mesh *out, mg_diag *diag);

#endif
