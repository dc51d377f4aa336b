/*
 * Surface sampling and distances between meshes: area-weighted samples from a seeded generator, and the
 * exact distance of each sample to the other mesh's triangles (closest point on a triangle, Ericson,
 * "Real-Time Collision Detection" 5.1.5), pruned by bounding spheres. Point-to-surface rather than
 * point-to-point distances make the Chamfer distance of a mesh to itself 0 at any sample count.
 */
#include "core/diag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct triangle_set {
    double (*corner)[3][3];
    double (*centre)[3];
    double *radius;
    double *cumulative_area; /* running sum, for sampling */
    size_t count;
} triangle_set;

static void triangles_free(triangle_set *t)
{
    free(t->corner);
    free(t->centre);
    free(t->radius);
    free(t->cumulative_area);
    memset(t, 0, sizeof *t);
}

static mg_status triangles_make(const mg_mesh *mesh, triangle_set *t, char *error, size_t error_size)
{
    memset(t, 0, sizeof *t);
    if (!mesh || (mesh->face_size != 3 && mesh->face_size != 4) || (mesh->num_faces && !mesh->faces) ||
        (mesh->num_vertices && !mesh->vertices)) {
        mg_format(error, error_size, "give a mesh with 3 or 4 vertices per face");
        return MG_ERR_INVALID_ARGUMENT;
    }
    const size_t fs = mesh->face_size, capacity = mesh->num_faces * (fs - 2) + 1;
    t->corner = malloc(capacity * sizeof *t->corner);
    t->centre = malloc(capacity * sizeof *t->centre);
    t->radius = malloc(capacity * sizeof *t->radius);
    t->cumulative_area = malloc(capacity * sizeof *t->cumulative_area);
    if (!t->corner || !t->centre || !t->radius || !t->cumulative_area) {
        triangles_free(t);
        mg_format(error, error_size, "out of host memory for a mesh of %zu faces", mesh->num_faces);
        return MG_ERR_OUT_OF_MEMORY;
    }
    double total = 0.0;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (mesh->face_mask && !mesh->face_mask[f])
            continue;
        const int32_t *face = mesh->faces + f * fs;
        for (size_t c = 0; c < fs; c++)
            if (face[c] < 0 || (size_t)face[c] >= mesh->num_vertices) {
                triangles_free(t);
                mg_format(error, error_size, "face %zu uses vertex %d, but the mesh has %zu vertices", f, (int)face[c],
                          mesh->num_vertices);
                return MG_ERR_INVALID_ARGUMENT;
            }
        for (size_t k = 1; k + 1 < fs; k++) {
            const int32_t idx[3] = {face[0], face[k], face[k + 1]};
            double(*p)[3] = t->corner[t->count];
            for (int c = 0; c < 3; c++)
                for (int a = 0; a < 3; a++)
                    p[c][a] = mesh->vertices[(size_t)idx[c] * 3 + a];
            double u[3], w[3], n[3], r = 0.0;
            for (int a = 0; a < 3; a++) {
                u[a] = p[1][a] - p[0][a];
                w[a] = p[2][a] - p[0][a];
                t->centre[t->count][a] = (p[0][a] + p[1][a] + p[2][a]) / 3.0;
            }
            n[0] = u[1] * w[2] - u[2] * w[1];
            n[1] = u[2] * w[0] - u[0] * w[2];
            n[2] = u[0] * w[1] - u[1] * w[0];
            for (int c = 0; c < 3; c++) {
                double d2 = 0.0;
                for (int a = 0; a < 3; a++)
                    d2 += (p[c][a] - t->centre[t->count][a]) * (p[c][a] - t->centre[t->count][a]);
                r = fmax(r, sqrt(d2));
            }
            t->radius[t->count] = r;
            total += 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
            t->cumulative_area[t->count] = total;
            t->count++;
        }
    }
    if (t->count == 0 || !(total > 0.0)) {
        triangles_free(t);
        mg_format(error, error_size, "the mesh has no surface to sample (no faces, or all of zero area)");
        return MG_ERR_INVALID_ARGUMENT;
    }
    return MG_OK;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
    return (double)(splitmix(state) >> 11) * (1.0 / 9007199254740992.0);
}

static void sample(const triangle_set *t, size_t count, uint64_t seed, double *points)
{
    uint64_t state = seed;
    const double total = t->cumulative_area[t->count - 1];
    for (size_t i = 0; i < count; i++) {
        const double target = uniform(&state) * total;
        size_t lo = 0, hi = t->count - 1;
        while (lo < hi) { /* the first triangle whose running area exceeds the target */
            size_t mid = (lo + hi) / 2;
            if (t->cumulative_area[mid] > target)
                hi = mid;
            else
                lo = mid + 1;
        }
        const double r1 = sqrt(uniform(&state)), r2 = uniform(&state);
        const double a = 1.0 - r1, b = r1 * (1.0 - r2), c = r1 * r2; /* uniform on the triangle */
        for (int k = 0; k < 3; k++)
            points[i * 3 + k] = a * t->corner[lo][0][k] + b * t->corner[lo][1][k] + c * t->corner[lo][2][k];
    }
}

static double dot3(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/* Squared distance from p to the triangle (closest point by Voronoi region). */
static double triangle_distance2(const double *p, const double (*tri)[3])
{
    const double *a = tri[0], *b = tri[1], *c = tri[2];
    double ab[3], ac[3], ap[3], q[3];
    for (int k = 0; k < 3; k++) {
        ab[k] = b[k] - a[k];
        ac[k] = c[k] - a[k];
        ap[k] = p[k] - a[k];
    }
    const double d1 = dot3(ab, ap), d2 = dot3(ac, ap);
    if (d1 <= 0 && d2 <= 0) {
        memcpy(q, a, sizeof q);
    } else {
        double bp[3], cp[3];
        for (int k = 0; k < 3; k++) {
            bp[k] = p[k] - b[k];
            cp[k] = p[k] - c[k];
        }
        const double d3 = dot3(ab, bp), d4 = dot3(ac, bp), d5 = dot3(ab, cp), d6 = dot3(ac, cp);
        const double vc = d1 * d4 - d3 * d2, vb = d5 * d2 - d1 * d6, va = d3 * d6 - d5 * d4;
        if (d3 >= 0 && d4 <= d3) {
            memcpy(q, b, sizeof q);
        } else if (d6 >= 0 && d5 <= d6) {
            memcpy(q, c, sizeof q);
        } else if (vc <= 0 && d1 >= 0 && d3 <= 0) {
            const double v = d1 / (d1 - d3);
            for (int k = 0; k < 3; k++)
                q[k] = a[k] + v * ab[k];
        } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
            const double w = d2 / (d2 - d6);
            for (int k = 0; k < 3; k++)
                q[k] = a[k] + w * ac[k];
        } else if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
            const double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
            for (int k = 0; k < 3; k++)
                q[k] = b[k] + w * (c[k] - b[k]);
        } else {
            const double denom = 1.0 / (va + vb + vc), v = vb * denom, w = vc * denom;
            for (int k = 0; k < 3; k++)
                q[k] = a[k] + ab[k] * v + ac[k] * w;
        }
    }
    double d = 0.0;
    for (int k = 0; k < 3; k++)
        d += (p[k] - q[k]) * (p[k] - q[k]);
    return d;
}

/* Distances of points to the surface; the previous point's nearest triangle starts each search. */
static void surface_distances(const triangle_set *t, const double *points, size_t count, double *out)
{
    size_t hint = 0;
    for (size_t i = 0; i < count; i++) {
        const double *p = points + i * 3;
        double best2 = triangle_distance2(p, (const double(*)[3])t->corner[hint]), best = sqrt(best2);
        for (size_t j = 0; j < t->count; j++) {
            double c2 = 0.0;
            for (int k = 0; k < 3; k++)
                c2 += (p[k] - t->centre[j][k]) * (p[k] - t->centre[j][k]);
            const double bound = sqrt(c2) - t->radius[j];
            if (bound >= best)
                continue;
            const double d2 = triangle_distance2(p, (const double(*)[3])t->corner[j]);
            if (d2 < best2) {
                best2 = d2;
                best = sqrt(d2);
                hint = j;
            }
        }
        out[i] = best;
    }
}

mg_status mg_mesh_sample_points(const mg_mesh *mesh, size_t count, uint64_t seed, float *points, char *error,
                                size_t error_size)
{
    if (!points && count) {
        mg_format(error, error_size, "mg_mesh_sample_points: give an output array of %zu x 3 floats", count);
        return MG_ERR_INVALID_ARGUMENT;
    }
    triangle_set t;
    mg_status status = triangles_make(mesh, &t, error, error_size);
    if (status != MG_OK)
        return status;
    double *tmp = malloc((count + 1) * 3 * sizeof *tmp);
    if (!tmp) {
        triangles_free(&t);
        mg_format(error, error_size, "out of host memory for %zu points", count);
        return MG_ERR_OUT_OF_MEMORY;
    }
    sample(&t, count, seed, tmp);
    for (size_t i = 0; i < count * 3; i++)
        points[i] = (float)tmp[i];
    free(tmp);
    triangles_free(&t);
    return MG_OK;
}

mg_status mg_mesh_compare(const mg_mesh *a, const mg_mesh *b, size_t points, uint64_t seed, double threshold,
                          mg_mesh_distance *out, char *error, size_t error_size)
{
    if (!out || points == 0 || !(threshold >= 0.0)) {
        mg_format(error, error_size, "mg_mesh_compare: give an output, a point count above 0 and a threshold >= 0");
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    triangle_set ta, tb;
    mg_status status = triangles_make(a, &ta, error, error_size);
    if (status != MG_OK)
        return status;
    status = triangles_make(b, &tb, error, error_size);
    if (status != MG_OK) {
        triangles_free(&ta);
        return status;
    }
    double *pa = malloc(points * 3 * sizeof *pa), *pb = malloc(points * 3 * sizeof *pb);
    double *da = malloc(points * sizeof *da), *db = malloc(points * sizeof *db);
    if (!pa || !pb || !da || !db) {
        mg_format(error, error_size, "out of host memory for %zu points", points);
        status = MG_ERR_OUT_OF_MEMORY;
    } else {
        sample(&ta, points, seed, pa);
        sample(&tb, points, seed ^ 0x5DEECE66Dull, pb);
        surface_distances(&tb, pa, points, da); /* a's points to b's surface */
        surface_distances(&ta, pb, points, db);
        double sum_a = 0.0, sum_b = 0.0;
        size_t near_a = 0, near_b = 0;
        for (size_t i = 0; i < points; i++) {
            sum_a += da[i];
            sum_b += db[i];
            near_a += da[i] <= threshold;
            near_b += db[i] <= threshold;
        }
        out->chamfer = 0.5 * (sum_a + sum_b) / (double)points;
        out->precision = (double)near_a / (double)points;
        out->recall = (double)near_b / (double)points;
        const double s = out->precision + out->recall;
        out->fscore = s > 0 ? 2.0 * out->precision * out->recall / s : 0.0;
    }
    free(pa), free(pb), free(da), free(db);
    triangles_free(&ta);
    triangles_free(&tb);
    return status;
}
