#include "mesh/adjacency.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FACE_SIZE 4
#define MAX_PAIRS 6 /* vertex pairs of a quad: 4 edges + 2 diagonals (upstream counts both) */
#define EMPTY_KEY UINT64_MAX

/*
 * Open-addressing hash map from an unordered vertex pair (smaller index in the
 * high word) to a dense pair id. The load factor stays <= 1/2.
 */
typedef struct pair_map {
    uint64_t *keys;
    int32_t *ids;
    size_t mask;
    int32_t count;
} pair_map;

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finalizer: spreads consecutive vertex indices over the table. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static bool pair_map_init(pair_map *map, size_t max_pairs)
{
    size_t capacity = 16;
    while (capacity < 2 * max_pairs)
        capacity *= 2;
    map->keys = malloc(capacity * sizeof *map->keys);
    map->ids = malloc(capacity * sizeof *map->ids);
    map->mask = capacity - 1;
    map->count = 0;
    if (!map->keys || !map->ids)
        return false;
    for (size_t i = 0; i < capacity; i++)
        map->keys[i] = EMPTY_KEY;
    return true;
}

static void pair_map_free(pair_map *map)
{
    free(map->keys);
    free(map->ids);
}

static int32_t pair_map_find_or_insert(pair_map *map, int32_t a, int32_t b)
{
    uint32_t lo = (uint32_t)(a < b ? a : b), hi = (uint32_t)(a < b ? b : a);
    uint64_t key = ((uint64_t)lo << 32) | hi; /* never EMPTY_KEY: indices are < 2^31 */
    size_t slot = (size_t)mix64(key) & map->mask;
    while (map->keys[slot] != EMPTY_KEY) {
        if (map->keys[slot] == key)
            return map->ids[slot];
        slot = (slot + 1) & map->mask;
    }
    map->keys[slot] = key;
    map->ids[slot] = map->count;
    return map->count++;
}

static bool is_pad_face(const int32_t *face, uint32_t face_size)
{
    for (uint32_t c = 0; c < face_size; c++)
        if (face[c] < 0)
            return true;
    return false;
}

/* The distinct vertices of a face (first-seen order) and those that occur more than once. */
static int distinct_vertices(const int32_t *face, uint32_t face_size, int32_t *distinct, int32_t *repeated,
                             int *num_repeated)
{
    int count = 0;
    *num_repeated = 0;
    for (uint32_t c = 0; c < face_size; c++) {
        int seen = -1;
        for (int k = 0; k < count; k++)
            if (distinct[k] == face[c])
                seen = k;
        if (seen < 0) {
            distinct[count++] = face[c];
            continue;
        }
        bool listed = false;
        for (int k = 0; k < *num_repeated; k++)
            listed |= repeated[k] == face[c];
        if (!listed)
            repeated[(*num_repeated)++] = face[c];
    }
    return count;
}

static int compare_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts ascending and removes repeats; returns the new length. Rows are short: insertion sort. */
static size_t sort_unique(int32_t *values, size_t count)
{
    if (count > 32) {
        qsort(values, count, sizeof *values, compare_int32);
    } else {
        for (size_t i = 1; i < count; i++) {
            int32_t v = values[i];
            size_t j = i;
            for (; j > 0 && values[j - 1] > v; j--)
                values[j] = values[j - 1];
            values[j] = v;
        }
    }
    size_t out = 0;
    for (size_t i = 0; i < count; i++)
        if (out == 0 || values[out - 1] != values[i])
            values[out++] = values[i];
    return out;
}

/* A growable int32 array. */
typedef struct int_buffer {
    int32_t *data;
    size_t count, capacity;
} int_buffer;

static bool int_buffer_reserve(int_buffer *buffer, size_t extra)
{
    if (buffer->count + extra <= buffer->capacity)
        return true;
    size_t capacity = buffer->capacity ? buffer->capacity : 64;
    while (capacity < buffer->count + extra)
        capacity *= 2;
    int32_t *data = realloc(buffer->data, capacity * sizeof *data);
    if (!data)
        return false;
    buffer->data = data;
    buffer->capacity = capacity;
    return true;
}

/* A CSR "key -> faces" list, faces ascending. */
typedef struct face_lists {
    int32_t *offsets; /* [num_keys + 1] */
    int32_t *faces;
} face_lists;

static void face_lists_free(face_lists *lists)
{
    free(lists->offsets);
    free(lists->faces);
}

void mg_face_adjacency_free(mg_face_adjacency *adjacency)
{
    if (!adjacency)
        return;
    free(adjacency->offsets);
    free(adjacency->neighbors);
    memset(adjacency, 0, sizeof *adjacency);
}

mg_status mg_face_adjacency_build(const int32_t *faces, size_t num_faces, uint32_t face_size,
                                  mg_face_adjacency *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "face adjacency: the output is NULL");
    memset(out, 0, sizeof *out);
    if (face_size != 3 && face_size != 4)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "face adjacency: face_size is %u, but faces must be triangles (3) or quads (4)", face_size);
    if (num_faces > 0 && !faces)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "face adjacency: %zu faces but the face array is NULL",
                       num_faces);
    if (num_faces > (size_t)INT32_MAX / MAX_PAIRS)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "face adjacency: %zu faces is more than this library supports (%d): split the mesh",
                       num_faces, INT32_MAX / MAX_PAIRS);

    const size_t pairs_per_face = face_size * (face_size - 1) / 2;
    mg_status status = MG_OK;
    pair_map map = {0};
    int32_t *face_pairs = NULL;
    face_lists pair_faces = {0}, vertex_faces = {0};
    int_buffer candidates = {0}, neighbors = {0};
    int32_t *offsets = NULL;

    /* Pass 1: give every distinct vertex pair of every face an id. */
    face_pairs = malloc((num_faces * pairs_per_face + 1) * sizeof *face_pairs);
    if (!face_pairs || !pair_map_init(&map, num_faces * pairs_per_face))
        goto out_of_memory;
    bool any_repeat = false;
    int32_t max_vertex = -1;
    for (size_t f = 0; f < num_faces; f++) {
        const int32_t *face = faces + f * face_size;
        int32_t *pairs = face_pairs + f * pairs_per_face;
        for (size_t p = 0; p < pairs_per_face; p++)
            pairs[p] = -1;
        if (is_pad_face(face, face_size))
            continue;
        int32_t distinct[MAX_FACE_SIZE], repeated[MAX_FACE_SIZE];
        int num_repeated;
        int count = distinct_vertices(face, face_size, distinct, repeated, &num_repeated);
        any_repeat |= num_repeated > 0;
        size_t p = 0;
        for (int a = 0; a < count; a++) {
            if (distinct[a] > max_vertex)
                max_vertex = distinct[a];
            for (int b = a + 1; b < count; b++)
                pairs[p++] = pair_map_find_or_insert(&map, distinct[a], distinct[b]);
        }
    }

    /* Pair id -> faces holding both vertices (ascending, since faces are visited in order). */
    pair_faces.offsets = calloc((size_t)map.count + 1, sizeof *pair_faces.offsets);
    if (!pair_faces.offsets)
        goto out_of_memory;
    for (size_t i = 0; i < num_faces * pairs_per_face; i++)
        if (face_pairs[i] >= 0)
            pair_faces.offsets[face_pairs[i] + 1]++;
    for (int32_t k = 0; k < map.count; k++)
        pair_faces.offsets[k + 1] += pair_faces.offsets[k];
    pair_faces.faces = malloc(((size_t)pair_faces.offsets[map.count] + 1) * sizeof *pair_faces.faces);
    int32_t *pair_fill = malloc(((size_t)map.count + 1) * sizeof *pair_fill);
    if (!pair_faces.faces || !pair_fill) {
        free(pair_fill);
        goto out_of_memory;
    }
    memcpy(pair_fill, pair_faces.offsets, (size_t)map.count * sizeof *pair_fill);
    for (size_t i = 0; i < num_faces * pairs_per_face; i++)
        if (face_pairs[i] >= 0)
            pair_faces.faces[pair_fill[face_pairs[i]]++] = (int32_t)(i / pairs_per_face);
    free(pair_fill);

    /*
     * Faces that repeat a vertex v count v's corners twice, so upstream makes
     * every face containing v their neighbour: only then do we need the
     * vertex -> faces lists.
     */
    if (any_repeat) {
        size_t num_vertices = (size_t)max_vertex + 1;
        vertex_faces.offsets = calloc(num_vertices + 1, sizeof *vertex_faces.offsets);
        int32_t *vertex_fill = malloc((num_vertices + 1) * sizeof *vertex_fill);
        if (!vertex_faces.offsets || !vertex_fill) {
            free(vertex_fill);
            goto out_of_memory;
        }
        for (int pass = 0; pass < 2; pass++) {
            for (size_t f = 0; f < num_faces; f++) {
                const int32_t *face = faces + f * face_size;
                if (is_pad_face(face, face_size))
                    continue;
                int32_t distinct[MAX_FACE_SIZE], repeated[MAX_FACE_SIZE];
                int num_repeated;
                int count = distinct_vertices(face, face_size, distinct, repeated, &num_repeated);
                for (int k = 0; k < count; k++) {
                    if (pass == 0)
                        vertex_faces.offsets[distinct[k] + 1]++;
                    else
                        vertex_faces.faces[vertex_fill[distinct[k]]++] = (int32_t)f;
                }
            }
            if (pass == 0) {
                for (size_t v = 0; v < num_vertices; v++)
                    vertex_faces.offsets[v + 1] += vertex_faces.offsets[v];
                vertex_faces.faces = malloc(((size_t)vertex_faces.offsets[num_vertices] + 1) *
                                            sizeof *vertex_faces.faces);
                if (!vertex_faces.faces) {
                    free(vertex_fill);
                    goto out_of_memory;
                }
                memcpy(vertex_fill, vertex_faces.offsets, num_vertices * sizeof *vertex_fill);
            }
        }
        free(vertex_fill);
    }

    /* Pass 2: each face's neighbours are the union of its pairs' (and repeated vertices') face lists. */
    offsets = malloc((num_faces + 1) * sizeof *offsets);
    if (!offsets)
        goto out_of_memory;
    offsets[0] = 0;
    for (size_t f = 0; f < num_faces; f++) {
        const int32_t *face = faces + f * face_size;
        candidates.count = 0;
        if (!is_pad_face(face, face_size)) {
            const int32_t *pairs = face_pairs + f * pairs_per_face;
            for (size_t p = 0; p < pairs_per_face && pairs[p] >= 0; p++) {
                int32_t begin = pair_faces.offsets[pairs[p]], end = pair_faces.offsets[pairs[p] + 1];
                if (!int_buffer_reserve(&candidates, (size_t)(end - begin)))
                    goto out_of_memory;
                memcpy(candidates.data + candidates.count, pair_faces.faces + begin,
                       (size_t)(end - begin) * sizeof *candidates.data);
                candidates.count += (size_t)(end - begin);
            }
            if (any_repeat) {
                int32_t distinct[MAX_FACE_SIZE], repeated[MAX_FACE_SIZE];
                int num_repeated;
                distinct_vertices(face, face_size, distinct, repeated, &num_repeated);
                for (int r = 0; r < num_repeated; r++) {
                    int32_t begin = vertex_faces.offsets[repeated[r]], end = vertex_faces.offsets[repeated[r] + 1];
                    if (!int_buffer_reserve(&candidates, (size_t)(end - begin)))
                        goto out_of_memory;
                    memcpy(candidates.data + candidates.count, vertex_faces.faces + begin,
                           (size_t)(end - begin) * sizeof *candidates.data);
                    candidates.count += (size_t)(end - begin);
                }
            }
        }
        size_t count = sort_unique(candidates.data, candidates.count);
        if (neighbors.count + count > (size_t)INT32_MAX) {
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                             "face adjacency: more than %d neighbour pairs (at face %zu of %zu): the mesh has too "
                             "many faces around shared edges; split or simplify it", INT32_MAX, f, num_faces);
            goto cleanup;
        }
        if (!int_buffer_reserve(&neighbors, count))
            goto out_of_memory;
        if (count)
            memcpy(neighbors.data + neighbors.count, candidates.data, count * sizeof *candidates.data);
        neighbors.count += count;
        offsets[f + 1] = (int32_t)neighbors.count;
    }

    if (!neighbors.data && !int_buffer_reserve(&neighbors, 1)) /* never hand out NULL */
        goto out_of_memory;
    out->num_faces = num_faces;
    out->offsets = offsets;
    out->neighbors = neighbors.data;
    offsets = NULL;
    neighbors.data = NULL;
    goto cleanup;

out_of_memory:
    status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "face adjacency: out of host memory for %zu faces", num_faces);
cleanup:
    pair_map_free(&map);
    free(face_pairs);
    face_lists_free(&pair_faces);
    face_lists_free(&vertex_faces);
    free(candidates.data);
    free(neighbors.data);
    free(offsets);
    return status;
}
