/*
 * STL, ascii and binary. Binary is told by its size (84 + 50 n bytes for the
 * n triangles its header counts), not by the word "solid", which many binary
 * exporters put in the header too. STL stores three positions per triangle
 * and no shared vertices: bitwise-identical positions are merged into one
 * vertex, numbered in the order they are first seen, so the mesh keeps the
 * file's order.
 */
#include "io/mesh_formats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- merging identical positions: open addressing on the 12 bytes ---- */

typedef struct position_map {
    int32_t *slots;     /* vertex index + 1; 0 = empty */
    size_t capacity;    /* power of two */
} position_map;

static uint64_t hash_position(const float *p)
{
    unsigned char bytes[12];
    memcpy(bytes, p, 12);
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (int i = 0; i < 12; i++)
        h = (h ^ bytes[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static mg_status map_insert(mg_mesh_reader *r, position_map *map, const float *p, int32_t *out_index)
{
    if (r->num_vertices + 1 > map->capacity / 2) {
        size_t cap = map->capacity ? map->capacity * 2 : 1024;
        int32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        for (size_t v = 0; v < r->num_vertices; v++) {
            size_t s = (size_t)hash_position(r->vertices + 3 * v) & (cap - 1);
            while (slots[s])
                s = (s + 1) & (cap - 1);
            slots[s] = (int32_t)v + 1;
        }
        free(map->slots);
        map->slots = slots;
        map->capacity = cap;
    }
    size_t s = (size_t)hash_position(p) & (map->capacity - 1);
    while (map->slots[s]) {
        const float *q = r->vertices + 3 * (size_t)(map->slots[s] - 1);
        if (memcmp(p, q, 12) == 0) {
            *out_index = map->slots[s] - 1;
            return MG_OK;
        }
        s = (s + 1) & (map->capacity - 1);
    }
    mg_status status = mg_mesh_reader_add_vertex(r, p[0], p[1], p[2]);
    if (status != MG_OK)
        return status;
    *out_index = (int32_t)(r->num_vertices - 1);
    map->slots[s] = (int32_t)r->num_vertices;
    return MG_OK;
}

static mg_status add_polygon(mg_mesh_reader *r, position_map *map, const float *positions, size_t count,
                             int32_t *corners)
{
    for (size_t c = 0; c < count; c++) {
        mg_status status = map_insert(r, map, positions + 3 * c, &corners[c]);
        if (status != MG_OK)
            return status;
    }
    return mg_mesh_reader_add_polygon(r, corners, count);
}

/* ---- binary ---- */

bool mg_stl_is_binary_size(const unsigned char *data, size_t size)
{
    if (size < 84)
        return false;
    uint64_t n = mg_load_u32le(data + 80);
    return 84 + 50 * n == (uint64_t)size;
}

static mg_status read_binary(mg_mesh_reader *r, position_map *map, const unsigned char *data, size_t size)
{
    r->where_kind = MG_WHERE_BYTE;
    r->where = 80;
    uint64_t n = mg_load_u32le(data + 80);
    if (84 + 50 * n > (uint64_t)size)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the binary STL header says %llu triangles, which need %llu "
                                   "bytes, but the file has %zu (truncated?)", (unsigned long long)n,
                                   (unsigned long long)(84 + 50 * n), size);
    /* Trailing bytes after the triangles are ignored (some exporters pad). */
    mg_status status = mg_mesh_reader_reserve_vertices(r, (size_t)(n < 1024 ? n : 1024));
    for (uint64_t t = 0; t < n && status == MG_OK; t++) {
        const unsigned char *tri = data + 84 + 50 * t;
        r->where = (size_t)(84 + 50 * t);
        float positions[9];
        for (int i = 0; i < 9; i++)
            positions[i] = mg_load_f32le(tri + 12 + 4 * i);  /* after the facet normal */
        int32_t corners[3];
        status = add_polygon(r, map, positions, 3, corners);
    }
    return status;
}

/* ---- ascii ---- */

typedef struct stl_text {
    const unsigned char *data;
    size_t size, pos, line;
} stl_text;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The next word into buf (truncated to fit); false at the end. r->where is its line. */
static bool next_word(mg_mesh_reader *r, stl_text *t, char *buf, size_t buf_size)
{
    while (t->pos < t->size && is_space(t->data[t->pos])) {
        if (t->data[t->pos] == '\n')
            t->line++;
        t->pos++;
    }
    r->where = t->line;
    if (t->pos >= t->size)
        return false;
    size_t n = 0;
    while (t->pos < t->size && !is_space(t->data[t->pos])) {
        if (n + 1 < buf_size)
            buf[n++] = (char)t->data[t->pos];
        t->pos++;
    }
    buf[n] = '\0';
    return true;
}

static void skip_line(stl_text *t)
{
    while (t->pos < t->size && t->data[t->pos] != '\n')
        t->pos++;
}

static bool word_is(const char *word, const char *keyword)
{
    for (; *word && *keyword; word++, keyword++) {
        char c = *word >= 'A' && *word <= 'Z' ? (char)(*word - 'A' + 'a') : *word;
        if (c != *keyword)
            return false;
    }
    return *word == *keyword;
}

static mg_status read_number(mg_mesh_reader *r, stl_text *t, float *out)
{
    char word[64];
    if (!next_word(r, t, word, sizeof word))
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the file ends in the middle of a vertex");
    char *end = NULL;
    *out = strtof(word, &end);
    if (end == word || *end)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'%.40s' is not a number", word);
    return MG_OK;
}

static mg_status read_ascii(mg_mesh_reader *r, position_map *map, const unsigned char *data, size_t size)
{
    r->where_kind = MG_WHERE_LINE;
    stl_text t = {.data = data, .size = size, .line = 1};
    float *positions = NULL;
    int32_t *corners = NULL;
    size_t count = 0, capacity = 0, loop_line = 0;
    bool in_loop = false;
    mg_status status = MG_OK;
    char word[64];
    while (status == MG_OK && next_word(r, &t, word, sizeof word)) {
        if (word_is(word, "solid") || word_is(word, "endsolid")) {
            skip_line(&t);  /* the solid's name */
        } else if (word_is(word, "facet") || word_is(word, "endfacet") || word_is(word, "outer")) {
            /* "facet normal nx ny nz": the normal is recomputed from the corners when needed. */
        } else if (word_is(word, "normal")) {
            float ignored;
            for (int i = 0; i < 3 && status == MG_OK; i++)
                status = read_number(r, &t, &ignored);
        } else if (word_is(word, "loop")) {
            if (in_loop)
                status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a loop starts inside another loop");
            in_loop = true;
            count = 0;
            loop_line = t.line;
        } else if (word_is(word, "vertex")) {
            if (!in_loop) {
                status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a vertex outside 'outer loop' ... 'endloop'");
                break;
            }
            if (count == capacity) {
                size_t cap = capacity ? capacity * 2 : 8;
                float *p = realloc(positions, cap * 3 * sizeof *p);
                if (p)
                    positions = p;
                int32_t *c = realloc(corners, cap * sizeof *c);
                if (c)
                    corners = c;
                if (!p || !c) {
                    status = mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
                    break;
                }
                capacity = cap;
            }
            for (int i = 0; i < 3 && status == MG_OK; i++)
                status = read_number(r, &t, &positions[3 * count + (size_t)i]);
            count++;
        } else if (word_is(word, "endloop")) {
            if (!in_loop) {
                status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'endloop' without 'outer loop'");
                break;
            }
            in_loop = false;
            r->where = loop_line;
            status = add_polygon(r, map, positions, count, corners);
        } else {
            status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "unexpected '%.40s' in an ascii STL file", word);
        }
    }
    if (status == MG_OK && in_loop)
        status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the file ends inside a loop (no 'endloop')");
    free(positions);
    free(corners);
    return status;
}

static bool starts_with_solid(const unsigned char *data, size_t size)
{
    size_t i = 0;
    while (i < size && is_space(data[i]))
        i++;
    return size - i >= 5 && memcmp(data + i, "solid", 5) == 0;
}

mg_status mg_mesh_read_stl(mg_mesh_reader *r, const unsigned char *data, size_t size)
{
    position_map map = {0};
    mg_status status;
    /* A binary file padded after its triangles whose header starts with "solid" is still binary: text has no NUL. */
    bool fits_binary = size >= 84 && 84 + 50 * (uint64_t)mg_load_u32le(data + 80) <= (uint64_t)size;
    if (mg_stl_is_binary_size(data, size))
        status = read_binary(r, &map, data, size);
    else if (starts_with_solid(data, size) && !(fits_binary && memchr(data, '\0', size)))
        status = read_ascii(r, &map, data, size);
    else if (size >= 84)
        status = read_binary(r, &map, data, size);
    else
        status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "not an STL file: %zu bytes is too short for a binary STL "
                                     "(84 at least) and it does not start with 'solid'", size);
    free(map.slots);
    return status;
}

/* ---- writing ---- */

static void face_normal(const float *a, const float *b, const float *c, float n[3])
{
    double u[3], v[3], w[3];
    for (int i = 0; i < 3; i++) {
        u[i] = (double)b[i] - a[i];
        v[i] = (double)c[i] - a[i];
    }
    w[0] = u[1] * v[2] - u[2] * v[1];
    w[1] = u[2] * v[0] - u[0] * v[2];
    w[2] = u[0] * v[1] - u[1] * v[0];
    double len = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    len = len > 0 ? 1.0 / sqrt(len) : 0.0;
    for (int i = 0; i < 3; i++)
        n[i] = (float)(w[i] * len);
}

/* Triangles the kept faces make: quads are split along their 0-2 diagonal (STL has only triangles). */
static size_t kept_triangles(const mg_mesh *mesh)
{
    return mg_mesh_kept_faces(mesh) * (mesh->face_size == 4 ? 2 : 1);
}

static void write_triangle(const mg_mesh *mesh, const int32_t *idx, bool ascii, mg_mesh_out *out)
{
    const float *p[3];
    for (int c = 0; c < 3; c++)
        p[c] = mesh->vertices + 3 * (size_t)idx[c];
    float n[3];
    face_normal(p[0], p[1], p[2], n);
    if (ascii) {
        mg_mesh_out_printf(out, "  facet normal %.9g %.9g %.9g\n    outer loop\n", (double)n[0], (double)n[1],
                           (double)n[2]);
        for (int c = 0; c < 3; c++)
            mg_mesh_out_printf(out, "      vertex %.9g %.9g %.9g\n", (double)p[c][0], (double)p[c][1],
                               (double)p[c][2]);
        mg_mesh_out_printf(out, "    endloop\n  endfacet\n");
        return;
    }
    for (int i = 0; i < 3; i++)
        mg_mesh_out_f32le(out, n[i]);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 3; i++)
            mg_mesh_out_f32le(out, p[c][i]);
    mg_mesh_out_u16le(out, 0);
}

void mg_mesh_write_stl(const mg_mesh *mesh, bool ascii, mg_mesh_out *out)
{
    if (ascii) {
        mg_mesh_out_printf(out, "solid meshgpt\n");
    } else {
        char header[80];
        memset(header, ' ', sizeof header);
        /* Not "solid ...": a binary header starting with it confuses readers that look at the first word. */
        const char text[] = "binary STL written by meshgpt";
        memcpy(header, text, sizeof text - 1);
        mg_mesh_out_bytes(out, header, sizeof header);
        mg_mesh_out_u32le(out, (uint32_t)kept_triangles(mesh));
    }
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!mg_mesh_face_kept(mesh, f))
            continue;
        const int32_t *face = mesh->faces + (size_t)mesh->face_size * f;
        write_triangle(mesh, face, ascii, out);
        if (mesh->face_size == 4) {
            int32_t second[3] = {face[0], face[2], face[3]};
            write_triangle(mesh, second, ascii, out);
        }
    }
    if (ascii)
        mg_mesh_out_printf(out, "endsolid meshgpt\n");
}
