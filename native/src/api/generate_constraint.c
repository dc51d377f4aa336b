/*
 * The validity constraint of generation (generate_constraint.h). Each row keeps the directed edges and the
 * corner sets of its whole faces, as discrete coordinates; a check scans them (a generated mesh has at most
 * a few thousand edges, and a scan is cheaper than keeping a hash table in step). A vertex's discrete
 * coordinates come from decoding a face whose corners are all that vertex, remembered per code tuple, so
 * each distinct vertex is decoded once per generation.
 */
#include "api/generate_constraint.h"

#include "core/context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CORNERS = 4 };

typedef struct vertex_bin {
    int32_t p[3];
} vertex_bin;

typedef struct directed_edge {
    vertex_bin from, to;
} directed_edge;

typedef struct face_key {
    vertex_bin corner[MAX_CORNERS]; /* sorted; unused corners zero */
} face_key;

typedef struct row_state {
    directed_edge *edges;
    size_t num_edges, edge_capacity;
    face_key *faces;
    size_t num_faces, face_capacity;
    int32_t *vertex_codes;   /* the distinct vertices of those faces, `levels` codes each */
    size_t num_vertices, vertex_capacity;
    size_t committed_tokens; /* tokens of the whole faces recorded above */
} row_state;

typedef struct memo_entry {
    int32_t codes[MG_AE_MAX_QUANTIZERS];
    vertex_bin bin;
    bool used;
} memo_entry;

struct mg_gen_constraint {
    mg_model *model;
    size_t rows, face_size, levels, per_face;
    row_state *row;
    memo_entry *memo;
    size_t memo_capacity, memo_count;
    bool refuse_invalid;
    float log_reuse; /* log of vertex_reuse */
    size_t vocab;    /* codebook entries */
    uint8_t *mark;   /* [vocab], all zero between calls: tokens raised in this call */
    int32_t *marked; /* [vocab]: which */
    size_t refusals;
};

mg_status mg_gen_constraint_create(mg_model *model, size_t rows, bool refuse_invalid, float vertex_reuse,
                                   mg_gen_constraint **out)
{
    mg_diag *diag = &model->ctx->diag;
    const mg_tf_config *c = &model->transformer.config;
    *out = NULL;
    if (c->face_size < 3 || c->face_size > MAX_CORNERS || c->num_quantizers < 1 ||
        c->num_quantizers > MG_AE_MAX_QUANTIZERS)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "the generation constraint handles faces of 3 or 4 vertices and "
                       "1 to %d code levels, not %d and %d: generate unconstrained", MG_AE_MAX_QUANTIZERS,
                       c->face_size, c->num_quantizers);
    mg_gen_constraint *g = calloc(1, sizeof *g);
    if (g) {
        g->row = calloc(rows ? rows : 1, sizeof *g->row);
        g->memo_capacity = 1024;
        g->memo = calloc(g->memo_capacity, sizeof *g->memo);
        g->vocab = (size_t)c->codebook_size;
        g->mark = calloc(g->vocab, 1);
        g->marked = malloc(g->vocab * sizeof *g->marked);
    }
    if (!g || !g->row || !g->memo || !g->mark || !g->marked) {
        mg_gen_constraint_free(g);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the generation constraint");
    }
    g->model = model;
    g->rows = rows;
    g->face_size = (size_t)c->face_size;
    g->levels = (size_t)c->num_quantizers;
    g->per_face = g->face_size * g->levels;
    g->refuse_invalid = refuse_invalid;
    g->log_reuse = vertex_reuse > 1.0f ? logf(vertex_reuse) : 0.0f;
    *out = g;
    return MG_OK;
}

void mg_gen_constraint_free(mg_gen_constraint *g)
{
    if (!g)
        return;
    for (size_t r = 0; g->row && r < g->rows; r++) {
        free(g->row[r].edges);
        free(g->row[r].faces);
        free(g->row[r].vertex_codes);
    }
    free(g->row);
    free(g->memo);
    free(g->mark);
    free(g->marked);
    free(g);
}

size_t mg_gen_constraint_refusals(const mg_gen_constraint *g)
{
    return g ? g->refusals : 0;
}

static size_t memo_slot(const mg_gen_constraint *g, const int32_t *codes)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t q = 0; q < g->levels; q++) {
        h ^= (uint32_t)codes[q];
        h *= 1099511628211ull;
    }
    size_t slot = (size_t)(h ^ (h >> 31)) & (g->memo_capacity - 1);
    while (g->memo[slot].used && memcmp(g->memo[slot].codes, codes, g->levels * sizeof *codes) != 0)
        slot = (slot + 1) & (g->memo_capacity - 1);
    return slot;
}

static mg_status memo_grow(mg_gen_constraint *g)
{
    memo_entry *old = g->memo;
    const size_t old_capacity = g->memo_capacity;
    memo_entry *grown = calloc(old_capacity * 2, sizeof *grown);
    if (!grown)
        return mg_fail(&g->model->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the generation constraint");
    g->memo = grown;
    g->memo_capacity = old_capacity * 2;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].used)
            g->memo[memo_slot(g, old[i].codes)] = old[i];
    free(old);
    return MG_OK;
}

/* The discrete coordinates of the vertex with these codes (levels of them). */
static mg_status vertex_of(mg_gen_constraint *g, const int32_t *codes, vertex_bin *out)
{
    size_t slot = memo_slot(g, codes);
    if (g->memo[slot].used) {
        *out = g->memo[slot].bin;
        return MG_OK;
    }
    int32_t face[MAX_CORNERS * MG_AE_MAX_QUANTIZERS], discrete[MAX_CORNERS * 3];
    const uint8_t mask = 1;
    for (size_t c = 0; c < g->face_size; c++)
        memcpy(face + c * g->levels, codes, g->levels * sizeof *codes);
    mg_status status = mg_ae_decode(&g->model->autoencoder, face, 1, 1, &mask, discrete, NULL, NULL);
    if (status != MG_OK)
        return status;
    memcpy(out->p, discrete, sizeof out->p);
    if (2 * (g->memo_count + 1) > g->memo_capacity) {
        if ((status = memo_grow(g)) != MG_OK)
            return status;
        slot = memo_slot(g, codes);
    }
    memo_entry *e = &g->memo[slot];
    memcpy(e->codes, codes, g->levels * sizeof *codes);
    e->bin = *out;
    e->used = true;
    g->memo_count++;
    return MG_OK;
}

static bool same_vertex(const vertex_bin *a, const vertex_bin *b)
{
    return a->p[0] == b->p[0] && a->p[1] == b->p[1] && a->p[2] == b->p[2];
}

static int compare_vertices(const vertex_bin *a, const vertex_bin *b)
{
    for (int k = 0; k < 3; k++)
        if (a->p[k] != b->p[k])
            return a->p[k] < b->p[k] ? -1 : 1;
    return 0;
}

static face_key key_of(const vertex_bin *corners, size_t n)
{
    face_key key;
    memset(&key, 0, sizeof key);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && compare_vertices(&key.corner[j - 1], &corners[i]) > 0; j--)
            key.corner[j] = key.corner[j - 1];
        key.corner[j] = corners[i];
    }
    return key;
}

/* Twice the area vector of the face's fan of triangles from corner 0, in whole bins: zero when degenerate. */
static bool zero_area(const vertex_bin *v, size_t n)
{
    int64_t area[3] = {0, 0, 0};
    for (size_t t = 1; t + 1 < n; t++) {
        int64_t u[3], w[3];
        for (int k = 0; k < 3; k++) {
            u[k] = (int64_t)v[t].p[k] - v[0].p[k];
            w[k] = (int64_t)v[t + 1].p[k] - v[0].p[k];
        }
        area[0] += u[1] * w[2] - u[2] * w[1];
        area[1] += u[2] * w[0] - u[0] * w[2];
        area[2] += u[0] * w[1] - u[1] * w[0];
    }
    return area[0] == 0 && area[1] == 0 && area[2] == 0;
}

/* May a new face run from a to b? Not if an earlier face already runs a -> b (the two would face opposite
 * ways) or two earlier faces use the edge (a third would make it non-manifold). */
static bool edge_allowed(const row_state *r, const vertex_bin *a, const vertex_bin *b)
{
    size_t uses = 0;
    for (size_t i = 0; i < r->num_edges; i++) {
        const directed_edge *e = &r->edges[i];
        if (same_vertex(&e->from, a) && same_vertex(&e->to, b))
            return false;
        uses += same_vertex(&e->from, b) && same_vertex(&e->to, a);
    }
    return uses < 2;
}

static bool face_exists(const row_state *r, const face_key *key)
{
    for (size_t i = 0; i < r->num_faces; i++)
        if (memcmp(&r->faces[i], key, sizeof *key) == 0)
            return true;
    return false;
}

static mg_status corners_of(mg_gen_constraint *g, const int32_t *face_tokens, size_t count, vertex_bin *out)
{
    for (size_t c = 0; c < count; c++) {
        mg_status status = vertex_of(g, face_tokens + c * g->levels, &out[c]);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

/* `items` (of item_size bytes each) grown to hold at least `needed` (doubling), or NULL when out of memory (then
 * `items` and *capacity are unchanged). */
static void *reserve(void *items, size_t *capacity, size_t needed, size_t item_size)
{
    if (needed <= *capacity)
        return items;
    size_t grown_capacity = *capacity ? *capacity : 32;
    while (grown_capacity < needed)
        grown_capacity *= 2;
    void *grown = realloc(items, grown_capacity * item_size);
    if (grown)
        *capacity = grown_capacity;
    return grown;
}

/* Adds a vertex's codes to the row's distinct vertices. */
static mg_status remember_codes(mg_gen_constraint *g, row_state *r, const int32_t *codes)
{
    const size_t n = g->levels;
    for (size_t i = 0; i < r->num_vertices; i++)
        if (memcmp(r->vertex_codes + i * n, codes, n * sizeof *codes) == 0)
            return MG_OK;
    int32_t *grown = reserve(r->vertex_codes, &r->vertex_capacity, r->num_vertices + 1, n * sizeof *codes);
    if (!grown)
        return mg_fail(&g->model->ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the generation constraint");
    r->vertex_codes = grown;
    memcpy(r->vertex_codes + r->num_vertices++ * n, codes, n * sizeof *codes);
    return MG_OK;
}

/* Records the whole faces in tokens[0, upto) not yet recorded (a completion's faces, and each face once the
 * next token after it is asked about), without checking them. */
static mg_status record_faces(mg_gen_constraint *g, row_state *r, const int32_t *tokens, size_t upto)
{
    mg_diag *diag = &g->model->ctx->diag;
    while (r->committed_tokens + g->per_face <= upto) {
        vertex_bin v[MAX_CORNERS];
        mg_status status = corners_of(g, tokens + r->committed_tokens, g->face_size, v);
        if (status != MG_OK)
            return status;
        directed_edge *edges = reserve(r->edges, &r->edge_capacity, r->num_edges + g->face_size, sizeof *edges);
        if (edges)
            r->edges = edges;
        face_key *faces = edges ? reserve(r->faces, &r->face_capacity, r->num_faces + 1, sizeof *faces) : NULL;
        if (faces)
            r->faces = faces;
        if (!edges || !faces)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the generation constraint");
        for (size_t c = 0; c < g->face_size; c++)
            if ((status = remember_codes(g, r, tokens + r->committed_tokens + c * g->levels)) != MG_OK)
                return status;
        for (size_t c = 0; c < g->face_size; c++) {
            const vertex_bin *a = &v[c], *b = &v[(c + 1) % g->face_size];
            if (!same_vertex(a, b))
                r->edges[r->num_edges++] = (directed_edge){*a, *b};
        }
        r->faces[r->num_faces++] = key_of(v, g->face_size);
        r->committed_tokens += g->per_face;
    }
    return MG_OK;
}

mg_status mg_gen_constraint_adjust(void *user, size_t row, const int32_t *tokens, size_t length, float *logits)
{
    mg_gen_constraint *g = user;
    if (row >= g->rows || g->log_reuse == 0.0f)
        return MG_OK;
    const size_t position = length % g->per_face, level = position % g->levels;
    row_state *r = &g->row[row];
    mg_status status = record_faces(g, r, tokens, length - position);
    if (status != MG_OK)
        return status;
    /* Tokens that, after this vertex's codes so far (`level` of them), still spell a known vertex; a token
     * shared by several such vertices is raised once. */
    const int32_t *prefix = tokens + length - level;
    size_t raised = 0;
    for (size_t i = 0; i < r->num_vertices; i++) {
        const int32_t *codes = r->vertex_codes + i * g->levels;
        const int32_t t = codes[level];
        if (memcmp(codes, prefix, level * sizeof *codes) != 0 || t < 0 || (size_t)t >= g->vocab || g->mark[t])
            continue;
        g->mark[t] = 1;
        g->marked[raised++] = t;
        logits[t] += g->log_reuse;
    }
    for (size_t i = 0; i < raised; i++)
        g->mark[g->marked[i]] = 0;
    return MG_OK;
}

mg_status mg_gen_constraint_accept(void *user, size_t row, const int32_t *tokens, size_t length, int32_t token,
                                   bool *accept)
{
    mg_gen_constraint *g = user;
    *accept = true;
    if (!g->refuse_invalid)
        return MG_OK;
    const size_t position = length % g->per_face, face_start = length - position;
    if (row >= g->rows || position % g->levels != g->levels - 1)
        return MG_OK; /* only a vertex's last code completes it */
    row_state *r = &g->row[row];
    mg_status status = record_faces(g, r, tokens, face_start);
    const size_t corner = position / g->levels;
    if (status != MG_OK || corner == 0)
        return status;
    vertex_bin v[MAX_CORNERS];
    int32_t codes[MG_AE_MAX_QUANTIZERS];
    memcpy(codes, tokens + length - (g->levels - 1), (g->levels - 1) * sizeof *codes);
    codes[g->levels - 1] = token;
    if ((status = corners_of(g, tokens + face_start, corner, v)) != MG_OK ||
        (status = vertex_of(g, codes, &v[corner])) != MG_OK)
        return status;
    bool ok = edge_allowed(r, &v[corner - 1], &v[corner]);
    for (size_t c = 0; c < corner && ok; c++)
        ok = !same_vertex(&v[c], &v[corner]);
    if (ok && corner == g->face_size - 1) {
        const face_key key = key_of(v, g->face_size);
        ok = edge_allowed(r, &v[corner], &v[0]) && !zero_area(v, g->face_size) && !face_exists(r, &key);
    }
    *accept = ok;
    g->refusals += !ok;
    return MG_OK;
}
