/*
 * mg_mesh_check: the validity of a mesh as a surface. Edges are counted from sorted (undirected) edge
 * records, so the check is O(F log F) and needs no hash table; connected components come from a
 * union-find over vertices joined by faces.
 */
#include "core/diag.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct edge_record {
    int32_t lo, hi;
    int8_t forward; /* 1: the face runs lo -> hi */
} edge_record;

typedef struct face_key {
    int32_t v[4];
    size_t face;
} face_key;

static int compare_edges(const void *pa, const void *pb)
{
    const edge_record *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    return a->forward - b->forward;
}

static int compare_keys(const void *pa, const void *pb)
{
    const face_key *a = pa, *b = pb;
    for (int i = 0; i < 4; i++)
        if (a->v[i] != b->v[i])
            return a->v[i] < b->v[i] ? -1 : 1;
    return a->face < b->face ? -1 : a->face > b->face;
}

static int32_t find_root(int32_t *parent, int32_t v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

static void sort_small(int32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int32_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

mg_status mg_mesh_check(const mg_mesh *mesh, mg_mesh_validity *out, char *error, size_t error_size)
{
    if (!mesh || !out || (mesh->face_size != 3 && mesh->face_size != 4) || (mesh->num_faces && !mesh->faces) ||
        (mesh->num_vertices && !mesh->vertices) || mesh->num_vertices > (size_t)INT32_MAX) {
        mg_format(error, error_size, "mg_mesh_check: give a mesh with 3 or 4 vertices per face and an output");
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    const size_t fs = mesh->face_size, nv = mesh->num_vertices;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (mesh->face_mask && !mesh->face_mask[f])
            continue;
        for (size_t c = 0; c < fs; c++) {
            const int32_t v = mesh->faces[f * fs + c];
            if (v < 0 || (size_t)v >= nv) {
                mg_format(error, error_size, "face %zu uses vertex %d, but the mesh has %zu vertices", f, (int)v, nv);
                return MG_ERR_INVALID_ARGUMENT;
            }
        }
        out->faces++;
    }
    out->vertices = nv;
    edge_record *edges = malloc((out->faces * fs + 1) * sizeof *edges);
    face_key *keys = malloc((out->faces + 1) * sizeof *keys);
    int32_t *parent = malloc((nv + 1) * sizeof *parent);
    double *volume = calloc(nv + 1, sizeof *volume);
    uint8_t *used = calloc(nv + 1, 1), *open = calloc(nv + 1, 1);
    if (!edges || !keys || !parent || !volume || !used || !open) {
        free(edges), free(keys), free(parent), free(volume), free(used), free(open);
        mg_format(error, error_size, "out of host memory checking a mesh of %zu faces", mesh->num_faces);
        return MG_ERR_OUT_OF_MEMORY;
    }
    /* Bounding box: the scale of "zero area" and the origin of the signed volume. */
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < nv; v++)
        for (int k = 0; k < 3; k++) {
            lo[k] = fmin(lo[k], mesh->vertices[v * 3 + k]);
            hi[k] = fmax(hi[k], mesh->vertices[v * 3 + k]);
        }
    double centre[3] = {0, 0, 0}, diag2 = 0.0;
    if (nv)
        for (int k = 0; k < 3; k++) {
            centre[k] = 0.5 * (lo[k] + hi[k]);
            diag2 += (hi[k] - lo[k]) * (hi[k] - lo[k]);
        }
    for (size_t v = 0; v < nv; v++)
        parent[v] = (int32_t)v;

    size_t num_edges = 0, num_keys = 0;
    double face_volume_sum = 0.0;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (mesh->face_mask && !mesh->face_mask[f])
            continue;
        const int32_t *face = mesh->faces + f * fs;
        face_key key = {{-1, -1, -1, -1}, f};
        memcpy(key.v, face, fs * sizeof *face);
        sort_small(key.v, fs);
        bool repeated = false;
        for (size_t c = 1; c < fs; c++)
            repeated = repeated || key.v[c] == key.v[c - 1];
        /* Area vector (Newell), in double from the centre; a fan of triangles for quads. */
        double p[4][3], area[3] = {0, 0, 0}, vol = 0.0;
        for (size_t c = 0; c < fs; c++)
            for (int k = 0; k < 3; k++)
                p[c][k] = (double)mesh->vertices[(size_t)face[c] * 3 + k] - centre[k];
        for (size_t t = 1; t + 1 < fs; t++) {
            const double *a = p[0], *b = p[t], *c = p[t + 1];
            const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
            area[0] += u[1] * w[2] - u[2] * w[1];
            area[1] += u[2] * w[0] - u[0] * w[2];
            area[2] += u[0] * w[1] - u[1] * w[0];
            vol += a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                   a[2] * (b[0] * c[1] - b[1] * c[0]);
        }
        const double area2 = area[0] * area[0] + area[1] * area[1] + area[2] * area[2];
        if (repeated || !(area2 > 1e-24 * diag2 * diag2))
            out->degenerate_faces++;
        face_volume_sum += vol / 6.0;
        for (size_t c = 0; c < fs; c++)
            used[face[c]] = 1;
        if (!repeated)
            keys[num_keys++] = key;
        for (size_t c = 0; c < fs; c++) {
            const int32_t a = face[c], b = face[(c + 1) % fs];
            if (a == b)
                continue;
            edges[num_edges].lo = a < b ? a : b;
            edges[num_edges].hi = a < b ? b : a;
            edges[num_edges].forward = a < b;
            num_edges++;
            int32_t ra = find_root(parent, a), rb = find_root(parent, b);
            if (ra != rb)
                parent[ra] = rb;
        }
    }
    out->signed_volume = face_volume_sum;
    /* Duplicate faces: equal sorted vertex sets. */
    qsort(keys, num_keys, sizeof *keys, compare_keys);
    for (size_t i = 1; i < num_keys; i++)
        out->duplicate_faces += memcmp(keys[i].v, keys[i - 1].v, sizeof keys[i].v) == 0;
    /* Edges: how many faces use each, and in which directions. */
    qsort(edges, num_edges, sizeof *edges, compare_edges);
    for (size_t i = 0; i < num_edges;) {
        size_t j = i;
        int forward = 0;
        while (j < num_edges && edges[j].lo == edges[i].lo && edges[j].hi == edges[i].hi)
            forward += edges[j++].forward;
        const size_t uses = j - i;
        out->edges++;
        if (uses == 1)
            out->boundary_edges++;
        else if (uses > 2)
            out->non_manifold_edges++;
        else if (forward != 1)
            out->inconsistent_edges++;
        if (uses != 2)
            open[find_root(parent, edges[i].lo)] = 1;
        i = j;
    }
    /* Components, and the signed volume of each (faces summed onto their component's root). */
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (mesh->face_mask && !mesh->face_mask[f])
            continue;
        const int32_t *face = mesh->faces + f * fs;
        double p[4][3], vol = 0.0;
        for (size_t c = 0; c < fs; c++)
            for (int k = 0; k < 3; k++)
                p[c][k] = (double)mesh->vertices[(size_t)face[c] * 3 + k] - centre[k];
        for (size_t t = 1; t + 1 < fs; t++) {
            const double *a = p[0], *b = p[t], *c = p[t + 1];
            vol += a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                   a[2] * (b[0] * c[1] - b[1] * c[0]);
        }
        volume[find_root(parent, face[0])] += vol / 6.0;
    }
    for (size_t v = 0; v < nv; v++) {
        if (!used[v]) {
            out->unreferenced_vertices++;
            continue;
        }
        if (find_root(parent, (int32_t)v) != (int32_t)v)
            continue;
        out->components++;
        if (!open[v] && volume[v] < 0.0)
            out->inward_components++;
    }
    out->manifold = out->non_manifold_edges == 0;
    out->watertight = out->manifold && out->boundary_edges == 0;
    out->consistently_oriented = out->inconsistent_edges == 0;
    out->valid = out->faces > 0 && out->degenerate_faces == 0 && out->duplicate_faces == 0 && out->manifold;
    free(edges), free(keys), free(parent), free(volume), free(used), free(open);
    return MG_OK;
}
