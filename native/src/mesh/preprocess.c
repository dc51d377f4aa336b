#include "mesh/preprocess.h"

#include "mesh/discretize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FACE_SIZE 4

static bool face_is_valid(const mg_mesh *mesh, size_t f)
{
    return !mesh->face_mask || mesh->face_mask[f] != 0;
}

mg_status mg_mesh_validate(const mg_mesh *mesh, mg_diag *diag)
{
    if (!mesh)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh is NULL");
    if (mesh->face_size != 3 && mesh->face_size != 4)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the mesh has face_size %u, but faces must be triangles (3) or quads (4)", mesh->face_size);
    if (mesh->num_vertices == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh has no vertices: there is nothing to tokenize");
    if (mesh->num_vertices > (size_t)INT32_MAX)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the mesh has %zu vertices, more than this library supports (%d): split or simplify it",
                       mesh->num_vertices, INT32_MAX);
    if (!mesh->vertices)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh has %zu vertices but its vertex array is NULL",
                       mesh->num_vertices);
    if (mesh->num_faces == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh has no faces: there is nothing to tokenize");
    if (mesh->num_faces > (size_t)INT32_MAX / MAX_FACE_SIZE)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "the mesh has %zu faces, more than this library supports (%d): split or simplify it",
                       mesh->num_faces, INT32_MAX / MAX_FACE_SIZE);
    if (!mesh->faces)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh has %zu faces but its face array is NULL",
                       mesh->num_faces);

    static const char axis_names[3] = {'x', 'y', 'z'};
    for (size_t v = 0; v < mesh->num_vertices; v++) {
        for (int i = 0; i < 3; i++) {
            float value = mesh->vertices[3 * v + (size_t)i];
            if (isnan(value))
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                               "vertex %zu has a NaN %c coordinate: fix or remove it before tokenizing", v,
                               axis_names[i]);
            if (isinf(value))
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                               "vertex %zu has an infinite %c coordinate: fix or remove it before tokenizing", v,
                               axis_names[i]);
        }
    }

    size_t valid_faces = 0;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!face_is_valid(mesh, f))
            continue;
        valid_faces++;
        for (uint32_t c = 0; c < mesh->face_size; c++) {
            int32_t index = mesh->faces[f * mesh->face_size + c];
            if (index < 0)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                               "face %zu has the negative vertex index %d at corner %u: vertex indices start at 0; "
                               "fix the face list (or mark the face invalid in face_mask)", f, index, c);
            if ((size_t)index >= mesh->num_vertices)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                               "face %zu refers to vertex %d at corner %u, but the mesh has only %zu vertices "
                               "(0 to %zu): fix the face list", f, index, c, mesh->num_vertices,
                               mesh->num_vertices - 1);
        }
    }
    if (valid_faces == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "every face of the mesh is marked invalid in face_mask: there is nothing to tokenize");
    return MG_OK;
}

static mg_status check_config(const mg_preprocess_config *config, int num_discrete, const float range[2],
                              mg_diag *diag)
{
    if (!config)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh preprocessing: the config is NULL");
    if (num_discrete < 1 || num_discrete > (1 << 20))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mesh preprocessing: num_discrete is %d; it must be between 1 and %d", num_discrete, 1 << 20);
    if (!range || !isfinite(range[0]) || !isfinite(range[1]) || !(range[1] > range[0]))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mesh preprocessing: the coordinate range must be two finite numbers lo < hi");
    if (config->normalize && !(config->normalize_scale > 0.0f && config->normalize_scale <= 1.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mesh preprocessing: normalize_scale is %g; it must be in (0, 1] (0.95 is usual)",
                       (double)config->normalize_scale);
    if (config->order != MG_ORDER_NONE && config->order != MG_ORDER_ZYX && config->order != MG_ORDER_YZX)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh preprocessing: unknown vertex order %d",
                       (int)config->order);
    if (config->rotation != MG_FACE_ROTATE_CYCLIC && config->rotation != MG_FACE_SORT_INDICES)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh preprocessing: unknown face rotation %d",
                       (int)config->rotation);
    return MG_OK;
}

/* A vertex's sort key: discrete then continuous coordinates, both in the config's axis order. */
typedef struct vertex_key {
    int32_t q[3];
    float c[3];
    int32_t index;
} vertex_key;

static int compare_vertex_keys(const void *pa, const void *pb)
{
    const vertex_key *a = pa, *b = pb;
    for (int i = 0; i < 3; i++)
        if (a->q[i] != b->q[i])
            return a->q[i] < b->q[i] ? -1 : 1;
    for (int i = 0; i < 3; i++)
        if (a->c[i] != b->c[i])
            return a->c[i] < b->c[i] ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* A face's sort key; unused corners (triangles) are 0 in both tuples. */
typedef struct face_key {
    int32_t sorted[MAX_FACE_SIZE];
    int32_t rotated[MAX_FACE_SIZE]; /* the face as it is written out */
    int32_t index;                  /* position in the input */
} face_key;

static int compare_tuples(const int32_t *a, const int32_t *b)
{
    for (int i = 0; i < MAX_FACE_SIZE; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

static int compare_face_keys(const void *pa, const void *pb)
{
    const face_key *a = pa, *b = pb;
    int c = compare_tuples(a->sorted, b->sorted);
    if (c == 0)
        c = compare_tuples(a->rotated, b->rotated);
    if (c == 0)
        c = (a->index > b->index) - (a->index < b->index);
    return c;
}

static int compare_face_positions(const void *pa, const void *pb)
{
    const face_key *a = pa, *b = pb;
    return (a->index > b->index) - (a->index < b->index);
}

static void sort_small(int32_t *values, uint32_t count)
{
    for (uint32_t i = 1; i < count; i++) {
        int32_t v = values[i];
        uint32_t j = i;
        for (; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
}

/* The lexicographically smallest cyclic rotation: lowest index first, winding kept. */
static void rotate_cyclic(const int32_t *face, uint32_t face_size, int32_t *out)
{
    uint32_t best = 0;
    for (uint32_t start = 1; start < face_size; start++) {
        for (uint32_t k = 0; k < face_size; k++) {
            int32_t a = face[(start + k) % face_size], b = face[(best + k) % face_size];
            if (a != b) {
                if (a < b)
                    best = start;
                break;
            }
        }
    }
    for (uint32_t k = 0; k < face_size; k++)
        out[k] = face[(best + k) % face_size];
}

/* Axis permutation of the vertex order (NONE groups in z, y, x order too; the order is restored later). */
static void axis_order(mg_vertex_order order, int axes[3])
{
    if (order == MG_ORDER_YZX) {
        axes[0] = 1, axes[1] = 2, axes[2] = 0;
    } else {
        axes[0] = 2, axes[1] = 1, axes[2] = 0;
    }
}

/* Where each vertex goes before discretizing: the input, or its normalized position. */
static void place_vertices(const mg_mesh *mesh, const uint8_t *referenced, const mg_preprocess_config *config,
                           const float range[2], float *positions)
{
    size_t count = mesh->num_vertices;
    if (!config->normalize) {
        memcpy(positions, mesh->vertices, count * 3 * sizeof *positions);
        return;
    }
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < count; v++) {
        if (!referenced[v])
            continue;
        for (int i = 0; i < 3; i++) {
            double x = mesh->vertices[3 * v + (size_t)i];
            lo[i] = x < lo[i] ? x : lo[i];
            hi[i] = x > hi[i] ? x : hi[i];
        }
    }
    double extent = 0.0, centre[3];
    for (int i = 0; i < 3; i++) {
        centre[i] = 0.5 * (lo[i] + hi[i]);
        extent = hi[i] - lo[i] > extent ? hi[i] - lo[i] : extent;
    }
    double width = (double)range[1] - (double)range[0];
    double middle = 0.5 * ((double)range[0] + (double)range[1]);
    double scale = extent > 0.0 ? (double)config->normalize_scale * width / extent : 1.0;
    for (size_t v = 0; v < count; v++)
        for (int i = 0; i < 3; i++)
            positions[3 * v + (size_t)i] =
                (float)((mesh->vertices[3 * v + (size_t)i] - centre[i]) * scale + middle);
}

mg_status mg_mesh_preprocess(const mg_mesh *mesh, const mg_preprocess_config *config, int num_discrete,
                             const float range[2], mg_mesh *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mesh preprocessing: the output mesh is NULL");
    memset(out, 0, sizeof *out);
    mg_status status = mg_mesh_validate(mesh, diag);
    if (status != MG_OK)
        return status;
    status = check_config(config, num_discrete, range, diag);
    if (status != MG_OK)
        return status;

    const size_t num_vertices = mesh->num_vertices, num_faces = mesh->num_faces;
    const uint32_t face_size = mesh->face_size;
    const float lo = range[0], hi = range[1];
    int axes[3];
    axis_order(config->order, axes);

    uint8_t *referenced = calloc(num_vertices, 1);
    float *positions = malloc(num_vertices * 3 * sizeof *positions);
    vertex_key *keys = malloc(num_vertices * sizeof *keys);
    int32_t *group_of = malloc(num_vertices * sizeof *group_of);  /* vertex -> group, later -> output id */
    int32_t *group_first = malloc(num_vertices * sizeof *group_first); /* group -> a member (its key slot) */
    int32_t *group_rank = malloc(num_vertices * sizeof *group_rank);
    int32_t *output_id = malloc(num_vertices * sizeof *output_id);
    face_key *face_keys = malloc(num_faces * sizeof *face_keys);
    float *out_vertices = NULL;
    int32_t *out_faces = NULL;
    if (!referenced || !positions || !keys || !group_of || !group_first || !group_rank || !output_id || !face_keys) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY,
                         "mesh preprocessing: out of host memory for %zu vertices and %zu faces", num_vertices,
                         num_faces);
        goto cleanup;
    }

    for (size_t f = 0; f < num_faces; f++)
        if (face_is_valid(mesh, f))
            for (uint32_t c = 0; c < face_size; c++)
                referenced[mesh->faces[f * face_size + c]] = 1;
    place_vertices(mesh, referenced, config, range, positions);

    /* Sort the used vertices by their key; equal cells are then adjacent and form one group when merging. */
    size_t num_keys = 0;
    for (size_t v = 0; v < num_vertices; v++) {
        group_of[v] = -1;
        if (!referenced[v])
            continue;
        vertex_key *key = &keys[num_keys++];
        for (int i = 0; i < 3; i++) {
            float x = positions[3 * v + (size_t)axes[i]];
            key->q[i] = mg_discretize(x, lo, hi, num_discrete);
            key->c[i] = x;
        }
        key->index = (int32_t)v;
    }
    qsort(keys, num_keys, sizeof *keys, compare_vertex_keys);
    size_t num_groups = 0;
    for (size_t k = 0; k < num_keys; k++) {
        bool same_cell = k > 0 && memcmp(keys[k].q, keys[k - 1].q, sizeof keys[k].q) == 0;
        if (!(config->merge_vertices && same_cell))
            group_first[num_groups++] = (int32_t)k;
        group_of[keys[k].index] = (int32_t)num_groups - 1;
    }
    /* Rank of each group in the vertex order: key order, or the input order of its first member. */
    if (config->order == MG_ORDER_NONE) {
        int32_t next = 0;
        for (size_t g = 0; g < num_groups; g++)
            group_rank[g] = -1;
        for (size_t v = 0; v < num_vertices; v++)
            if (group_of[v] >= 0 && group_rank[group_of[v]] < 0)
                group_rank[group_of[v]] = next++;
    } else {
        for (size_t g = 0; g < num_groups; g++)
            group_rank[g] = (int32_t)g;
    }

    /* Faces on ranks; drop those that repeat a vertex. */
    size_t kept = 0;
    for (size_t f = 0; f < num_faces; f++) {
        if (!face_is_valid(mesh, f))
            continue;
        face_key *key = &face_keys[kept];
        memset(key, 0, sizeof *key);
        bool degenerate = false;
        for (uint32_t c = 0; c < face_size; c++) {
            key->rotated[c] = group_rank[group_of[mesh->faces[f * face_size + c]]];
            for (uint32_t d = 0; d < c; d++)
                degenerate |= key->rotated[d] == key->rotated[c];
        }
        if (degenerate && config->drop_degenerate)
            continue;
        key->index = (int32_t)f;
        kept++;
    }
    if (kept == 0) {
        status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                         "every face of the mesh repeats a vertex once vertices in the same cell of the %d-level "
                         "grid are merged: the mesh is degenerate or too small for the grid; nothing is left to "
                         "tokenize", num_discrete);
        goto cleanup;
    }

    /* Output ids: ranks still used by a kept face, in rank order (unused vertices disappear). */
    for (size_t r = 0; r < num_groups; r++)
        output_id[r] = -1;
    for (size_t k = 0; k < kept; k++)
        for (uint32_t c = 0; c < face_size; c++)
            output_id[face_keys[k].rotated[c]] = 0;
    size_t out_vertex_count = 0;
    for (size_t r = 0; r < num_groups; r++)
        if (output_id[r] == 0)
            output_id[r] = (int32_t)out_vertex_count++;

    for (size_t k = 0; k < kept; k++) {
        face_key *key = &face_keys[k];
        int32_t face[MAX_FACE_SIZE];
        for (uint32_t c = 0; c < face_size; c++)
            face[c] = output_id[key->rotated[c]];
        memcpy(key->sorted, face, face_size * sizeof *face);
        sort_small(key->sorted, face_size);
        if (config->rotation == MG_FACE_SORT_INDICES)
            memcpy(key->rotated, key->sorted, face_size * sizeof *face);
        else
            rotate_cyclic(face, face_size, key->rotated);
    }

    /* Face order (and duplicates, which end up next to each other). */
    qsort(face_keys, kept, sizeof *face_keys, compare_face_keys);
    if (config->drop_degenerate) {
        size_t unique = 0;
        for (size_t k = 0; k < kept; k++)
            if (unique == 0 || compare_tuples(face_keys[unique - 1].sorted, face_keys[k].sorted) != 0)
                face_keys[unique++] = face_keys[k];
        kept = unique;
    }
    if (!config->sort_faces)
        qsort(face_keys, kept, sizeof *face_keys, compare_face_positions);

    out_vertices = malloc(out_vertex_count * 3 * sizeof *out_vertices);
    out_faces = malloc(kept * face_size * sizeof *out_faces);
    if (!out_vertices || !out_faces) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "mesh preprocessing: out of host memory for the result");
        goto cleanup;
    }
    for (size_t g = 0; g < num_groups; g++) {
        int32_t id = output_id[group_rank[g]];
        if (id < 0)
            continue;
        const vertex_key *key = &keys[group_first[g]];
        for (int i = 0; i < 3; i++)
            out_vertices[3 * (size_t)id + (size_t)axes[i]] =
                config->merge_vertices ? mg_undiscretize(key->q[i], lo, hi, num_discrete) : key->c[i];
    }
    for (size_t k = 0; k < kept; k++)
        memcpy(out_faces + k * face_size, face_keys[k].rotated, face_size * sizeof *out_faces);

    out->vertices = out_vertices;
    out->num_vertices = out_vertex_count;
    out->faces = out_faces;
    out->num_faces = kept;
    out->face_size = face_size;
    out->face_mask = NULL;
    out_vertices = NULL;
    out_faces = NULL;

cleanup:
    free(referenced);
    free(positions);
    free(keys);
    free(group_of);
    free(group_first);
    free(group_rank);
    free(output_id);
    free(face_keys);
    free(out_vertices);
    free(out_faces);
    return status;
}
