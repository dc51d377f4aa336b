#include "mesh/features.h"

#include "mesh/discretize.h"

#include <math.h>

/* float32 pi, what torch gets from Python's math.pi for a float32 op. */
#define PI_F32 3.14159265358979323846f
#define NORM_EPS 1e-12f  /* F.normalize's eps */
#define ANGLE_EPS 1e-5f  /* derive_angle's clip */

static float norm3(const float *v)
{
    return sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

static void normalize3(const float *v, float *out)
{
    float n = norm3(v);
    if (n < NORM_EPS)
        n = NORM_EPS;
    for (int i = 0; i < 3; i++)
        out[i] = v[i] / n;
}

void mg_face_features_compute(const float *face_coords, int face_size, mg_face_features *out)
{
    /* Angle between corner k and corner k-1 (torch.roll by 1), as position vectors. */
    for (int k = 0; k < 4; k++)
        out->angles[k] = 0.0f;
    for (int k = 0; k < face_size; k++) {
        const float *a = face_coords + 3 * k;
        const float *b = face_coords + 3 * ((k + face_size - 1) % face_size);
        float na[3], nb[3];
        normalize3(a, na);
        normalize3(b, nb);
        float dot = na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2];
        if (dot < -1.0f + ANGLE_EPS)
            dot = -1.0f + ANGLE_EPS;
        if (dot > 1.0f - ANGLE_EPS)
            dot = 1.0f - ANGLE_EPS;
        out->angles[k] = acosf(dot);
    }

    /* Edges: corner minus the corner rolled by 1 (triangles) or 2 (quads), first two rows. */
    int shift = face_size == 4 ? 2 : 1;
    float e1[3], e2[3];
    for (int i = 0; i < 3; i++) {
        e1[i] = face_coords[0 * 3 + i] - face_coords[((0 + face_size - shift) % face_size) * 3 + i];
        e2[i] = face_coords[1 * 3 + i] - face_coords[((1 + face_size - shift) % face_size) * 3 + i];
    }
    float c[3] = {
        e1[1] * e2[2] - e1[2] * e2[1],
        e1[2] * e2[0] - e1[0] * e2[2],
        e1[0] * e2[1] - e1[1] * e2[0],
    };
    float length = norm3(c);
    float denominator = length < NORM_EPS ? NORM_EPS : length;
    for (int i = 0; i < 3; i++)
        out->normal[i] = c[i] / denominator;
    out->area = length * 0.5f;
}

void mg_face_feature_ids_compute(const mg_ae_config *config, const float *vertices, const int32_t *faces,
                                 size_t num_faces, const mg_face_feature_ids *out)
{
    const int face_size = config->quads ? 4 : 3;
    const float lo = config->coor_range[0], hi = config->coor_range[1];
    /* Upstream computes (hi - lo) ** 2 in Python (double), then float32 sees it. */
    const float area_hi = (float)(((double)hi - (double)lo) * ((double)hi - (double)lo));

    for (size_t f = 0; f < num_faces; f++) {
        const int32_t *face = faces + f * (size_t)face_size;
        bool pad = false;
        for (int k = 0; k < face_size; k++)
            pad |= face[k] < 0;
        float coords[4 * 3];
        for (int k = 0; k < face_size; k++) {
            const float *v = vertices + 3 * (size_t)(pad ? 0 : face[k]);
            for (int i = 0; i < 3; i++)
                coords[3 * k + i] = v[i];
        }
        mg_face_features features;
        mg_face_features_compute(coords, face_size, &features);

        for (int j = 0; j < face_size * 3; j++)
            out->coords[f * (size_t)face_size * 3 + (size_t)j] =
                mg_discretize(coords[j], lo, hi, config->num_discrete_coors);
        for (int k = 0; k < face_size; k++)
            out->angles[f * (size_t)face_size + (size_t)k] =
                mg_discretize(features.angles[k], 0.0f, PI_F32, config->num_discrete_angle);
        out->area[f] = mg_discretize(features.area, 0.0f, area_hi, config->num_discrete_area);
        for (int i = 0; i < 3; i++)
            out->normals[f * 3 + (size_t)i] = mg_discretize(features.normal[i], lo, hi, config->num_discrete_normals);
    }
}
