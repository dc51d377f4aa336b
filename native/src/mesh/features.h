/*
 * Per-face features of the MeshAutoencoder's encoder (meshgpt-pytorch
 * get_derived_face_features + discretize), computed on the continuous
 * coordinates of each face, in float32 as upstream:
 *   angles[k] = acos(clip(dot(v_k / |v_k|, v_{k-1} / |v_{k-1}|), -1 + 1e-5, 1 - 1e-5))
 *               (POSITION vectors w.r.t. the origin, not the interior angle; |.| floored at 1e-12)
 *   triangles: e1 = v0 - v2, e2 = v1 - v0      (corners minus corners rolled by 1)
 *   quads:     e1 = v0 - v2, e2 = v1 - v3      (rolled by 2: the two diagonals)
 *   c = e1 x e2, normal = c / max(|c|, 1e-12), area = |c| / 2
 */
#ifndef MG_MESH_FEATURES_H
#define MG_MESH_FEATURES_H

#include "model/ae_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_face_features {
    float angles[4];    /* angle between the position vectors of corner k and corner k-1 (radians) */
    float area;
    float normal[3];
} mg_face_features;

/* face_coords: face_size corners x xyz. */
void mg_face_features_compute(const float *face_coords, int face_size, mg_face_features *out);

/*
 * The discrete ids the encoder embeds, per face, in meshgpt-pytorch's order:
 * coords[face_size * 3] (corner-major xyz), angles[face_size], area[1],
 * normals[3]. The arrays are written at face * (count per face).
 */
typedef struct mg_face_feature_ids {
    int32_t *coords;    /* [num_faces * face_size * 3] */
    int32_t *angles;    /* [num_faces * face_size] */
    int32_t *area;      /* [num_faces] */
    int32_t *normals;   /* [num_faces * 3] */
} mg_face_feature_ids;

/* For each face of (vertices, faces): gather corners, compute the features and discretize them
 * with the config's bins and ranges (coords and normals over coor_range, angles over [0, pi],
 * area over [0, (hi - lo)^2]). The face size is the config's (quads: 4, else 3). A face with a
 * negative index is a pad face and uses vertex 0 for every corner, as upstream. */
void mg_face_feature_ids_compute(const mg_ae_config *config, const float *vertices, const int32_t *faces,
                                 size_t num_faces, const mg_face_feature_ids *out);

#endif
