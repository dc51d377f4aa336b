/* Closed low-poly parts for the procedural data set (see shape_builder.h). */
#include "dataset/shape_builder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sb_init(mg_shape_builder *b)
{
    memset(b, 0, sizeof *b);
}

void sb_release(mg_shape_builder *b)
{
    free(b->vertices);
    free(b->faces);
    memset(b, 0, sizeof *b);
}

void sb_take(mg_shape_builder *b, mg_mesh *mesh)
{
    memset(mesh, 0, sizeof *mesh);
    mesh->vertices = b->vertices;
    mesh->num_vertices = b->num_vertices;
    mesh->faces = b->faces;
    mesh->num_faces = b->num_faces;
    mesh->face_size = 3;
    memset(b, 0, sizeof *b);
}

static bool grow(void **data, size_t *capacity, size_t needed, size_t item_size)
{
    if (needed <= *capacity)
        return true;
    size_t cap = *capacity ? *capacity * 2 : 64;
    while (cap < needed)
        cap *= 2;
    void *bigger = realloc(*data, cap * item_size);
    if (!bigger)
        return false;
    *data = bigger;
    *capacity = cap;
    return true;
}

int32_t sb_vertex(mg_shape_builder *b, double x, double y, double z)
{
    if (b->failed || !grow((void **)&b->vertices, &b->vertex_capacity, (b->num_vertices + 1) * 3, sizeof(float))) {
        b->failed = true;
        return 0;
    }
    float *v = b->vertices + b->num_vertices * 3;
    v[0] = (float)x;
    v[1] = (float)y;
    v[2] = (float)z;
    return (int32_t)b->num_vertices++;
}

void sb_tri(mg_shape_builder *b, int32_t a, int32_t c1, int32_t c2)
{
    if (b->failed || !grow((void **)&b->faces, &b->face_capacity, (b->num_faces + 1) * 3, sizeof(int32_t))) {
        b->failed = true;
        return;
    }
    int32_t *f = b->faces + b->num_faces * 3;
    f[0] = a;
    f[1] = c1;
    f[2] = c2;
    b->num_faces++;
}

void sb_quad(mg_shape_builder *b, int32_t a, int32_t c1, int32_t c2, int32_t d)
{
    sb_tri(b, a, c1, c2);
    sb_tri(b, a, c2, d);
}

void sb_part_begin(mg_shape_builder *b)
{
    b->part_first_face = b->num_faces;
    b->part_first_vertex = b->num_vertices;
}

void sb_part_end(mg_shape_builder *b)
{
    if (b->failed || b->num_faces == b->part_first_face)
        return;
    /* Signed volume relative to the part's first vertex (translation does not change it for a closed
     * surface; a nearby origin keeps the float products small). */
    const float *o = b->vertices + b->part_first_vertex * 3;
    double volume = 0.0;
    for (size_t f = b->part_first_face; f < b->num_faces; f++) {
        double p[3][3];
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 3; k++)
                p[c][k] = (double)b->vertices[(size_t)b->faces[f * 3 + c] * 3 + k] - o[k];
        volume += p[0][0] * (p[1][1] * p[2][2] - p[1][2] * p[2][1]) - p[0][1] * (p[1][0] * p[2][2] - p[1][2] * p[2][0]) +
                  p[0][2] * (p[1][0] * p[2][1] - p[1][1] * p[2][0]);
    }
    if (volume < 0.0) {
        for (size_t f = b->part_first_face; f < b->num_faces; f++) {
            int32_t t = b->faces[f * 3 + 1];
            b->faces[f * 3 + 1] = b->faces[f * 3 + 2];
            b->faces[f * 3 + 2] = t;
        }
    }
}

void sb_box(mg_shape_builder *b, double x0, double y0, double z0, double x1, double y1, double z1)
{
    sb_part_begin(b);
    int32_t v[8];
    for (int i = 0; i < 8; i++)
        v[i] = sb_vertex(b, (i & 1) ? x1 : x0, (i & 2) ? y1 : y0, (i & 4) ? z1 : z0);
    /* Each quad listed counter-clockwise seen from outside (bit 0 = x, bit 1 = y, bit 2 = z). */
    sb_quad(b, v[0], v[4], v[6], v[2]); /* x0 */
    sb_quad(b, v[1], v[3], v[7], v[5]); /* x1 */
    sb_quad(b, v[0], v[1], v[5], v[4]); /* y0 */
    sb_quad(b, v[2], v[6], v[7], v[3]); /* y1 */
    sb_quad(b, v[0], v[2], v[3], v[1]); /* z0 */
    sb_quad(b, v[4], v[5], v[7], v[6]); /* z1 */
    sb_part_end(b);
}

void sb_revolve(mg_shape_builder *b, const double *radius, const double *y, size_t count, bool closed_loop,
                size_t segments, double phase, double cx, double cz)
{
    if (count < 2 || segments < 3 || count > 64) {
        b->failed = true;
        return;
    }
    sb_part_begin(b);
    const double two_pi = 6.283185307179586;
    int32_t first[64];   /* first vertex of each ring; a pole is one vertex */
    bool pole[64];
    for (size_t i = 0; i < count; i++) {
        pole[i] = !closed_loop && radius[i] == 0.0;
        first[i] = (int32_t)b->num_vertices;
        if (pole[i]) {
            sb_vertex(b, cx, y[i], cz);
            continue;
        }
        for (size_t j = 0; j < segments; j++) {
            double a = phase + two_pi * (double)j / (double)segments;
            sb_vertex(b, cx + radius[i] * cos(a), y[i], cz + radius[i] * sin(a));
        }
    }
    const size_t bands = closed_loop ? count : count - 1;
    for (size_t i = 0; i < bands; i++) {
        const size_t k = (i + 1) % count;
        for (size_t j = 0; j < segments; j++) {
            const int32_t jn = (int32_t)((j + 1) % segments), jj = (int32_t)j;
            if (pole[i])
                sb_tri(b, first[i], first[k] + jn, first[k] + jj);
            else if (pole[k])
                sb_tri(b, first[i] + jj, first[i] + jn, first[k]);
            else
                sb_quad(b, first[i] + jj, first[i] + jn, first[k] + jn, first[k] + jj);
        }
    }
    if (!closed_loop) {
        /* Flat caps as a fan from the ring's first vertex: n - 2 faces, no centre vertex. */
        if (!pole[0])
            for (size_t j = 1; j + 1 < segments; j++)
                sb_tri(b, first[0], first[0] + (int32_t)j + 1, first[0] + (int32_t)j);
        const size_t last = count - 1;
        if (!pole[last])
            for (size_t j = 1; j + 1 < segments; j++)
                sb_tri(b, first[last], first[last] + (int32_t)j, first[last] + (int32_t)j + 1);
    }
    sb_part_end(b);
}

static double cross2(const double *o, const double *a, const double *c)
{
    return (a[0] - o[0]) * (c[1] - o[1]) - (a[1] - o[1]) * (c[0] - o[0]);
}

/* Ear clipping of a counter-clockwise simple polygon; writes (count - 2) index triples. */
static bool ear_clip(const double *xy, size_t count, int32_t *out_triangles)
{
    int32_t *left = malloc(count * sizeof *left);
    if (!left)
        return false;
    for (size_t i = 0; i < count; i++)
        left[i] = (int32_t)i;
    size_t n = count, written = 0;
    bool ok = true;
    while (n > 3 && ok) {
        bool clipped = false;
        for (size_t i = 0; i < n && !clipped; i++) {
            const int32_t ip = left[(i + n - 1) % n], ic = left[i], in = left[(i + 1) % n];
            const double *p = xy + 2 * ip, *c = xy + 2 * ic, *q = xy + 2 * in;
            if (cross2(p, c, q) <= 1e-12)
                continue; /* reflex or flat corner: not an ear */
            bool empty = true;
            for (size_t j = 0; j < n && empty; j++) {
                const int32_t v = left[j];
                if (v == ip || v == ic || v == in)
                    continue;
                const double *r = xy + 2 * v;
                /* inside or on the boundary of the candidate ear */
                empty = !(cross2(p, c, r) >= 0 && cross2(c, q, r) >= 0 && cross2(q, p, r) >= 0);
            }
            if (!empty)
                continue;
            out_triangles[written * 3 + 0] = ip;
            out_triangles[written * 3 + 1] = ic;
            out_triangles[written * 3 + 2] = in;
            written++;
            memmove(left + i, left + i + 1, (n - i - 1) * sizeof *left);
            n--;
            clipped = true;
        }
        ok = clipped;
    }
    if (ok) {
        out_triangles[written * 3 + 0] = left[0];
        out_triangles[written * 3 + 1] = left[1];
        out_triangles[written * 3 + 2] = left[2];
    }
    free(left);
    return ok;
}

void sb_extrude(mg_shape_builder *b, const double *xy_in, size_t count, double z0, double z1)
{
    if (b->failed)
        return;
    if (count < 3) {
        b->failed = true;
        return;
    }
    double *xy = malloc(count * 2 * sizeof *xy);
    int32_t *tris = malloc((count - 2) * 3 * sizeof *tris);
    if (!xy || !tris) {
        free(xy);
        free(tris);
        b->failed = true;
        return;
    }
    double area = 0.0;
    for (size_t i = 0; i < count; i++)
        area += xy_in[2 * i] * xy_in[2 * ((i + 1) % count) + 1] - xy_in[2 * ((i + 1) % count)] * xy_in[2 * i + 1];
    for (size_t i = 0; i < count; i++) {
        const size_t s = area >= 0 ? i : count - 1 - i; /* counter-clockwise */
        xy[2 * i] = xy_in[2 * s];
        xy[2 * i + 1] = xy_in[2 * s + 1];
    }
    if (!ear_clip(xy, count, tris)) {
        free(xy);
        free(tris);
        b->failed = true;
        return;
    }
    sb_part_begin(b);
    const int32_t base = (int32_t)b->num_vertices;
    for (size_t i = 0; i < count; i++)
        sb_vertex(b, xy[2 * i], xy[2 * i + 1], z0);
    for (size_t i = 0; i < count; i++)
        sb_vertex(b, xy[2 * i], xy[2 * i + 1], z1);
    const int32_t top = base + (int32_t)count;
    for (size_t t = 0; t < count - 2; t++) {
        sb_tri(b, base + tris[3 * t], base + tris[3 * t + 2], base + tris[3 * t + 1]);
        sb_tri(b, top + tris[3 * t], top + tris[3 * t + 1], top + tris[3 * t + 2]);
    }
    for (size_t i = 0; i < count; i++) {
        const int32_t a = (int32_t)i, c = (int32_t)((i + 1) % count);
        sb_quad(b, base + a, base + c, top + c, top + a);
    }
    sb_part_end(b);
    free(xy);
    free(tris);
}

/* The midpoint vertex of edge (a, c), made once: a small linear table is enough for <= 2 subdivisions. */
static int32_t midpoint(mg_shape_builder *b, int32_t a, int32_t c, int32_t (*table)[3], size_t *used,
                        size_t capacity)
{
    const int32_t lo = a < c ? a : c, hi = a < c ? c : a;
    for (size_t i = 0; i < *used; i++)
        if (table[i][0] == lo && table[i][1] == hi)
            return table[i][2];
    if (*used == capacity) {
        b->failed = true;
        return a;
    }
    const float *p = b->vertices + (size_t)a * 3, *q = b->vertices + (size_t)c * 3;
    int32_t m = sb_vertex(b, 0.5 * ((double)p[0] + q[0]), 0.5 * ((double)p[1] + q[1]), 0.5 * ((double)p[2] + q[2]));
    table[*used][0] = lo;
    table[*used][1] = hi;
    table[*used][2] = m;
    (*used)++;
    return m;
}

void sb_icosphere(mg_shape_builder *b, double radius, int subdivisions, double cx, double cy, double cz)
{
    if (subdivisions < 0 || subdivisions > 2) {
        b->failed = true;
        return;
    }
    /* A scratch builder on the unit icosahedron (origin-centred), then projected and moved. */
    mg_shape_builder s;
    sb_init(&s);
    const double t = (1.0 + sqrt(5.0)) / 2.0;
    static const double corners[12][3] = {{-1, 1, 0}, {1, 1, 0}, {-1, -1, 0}, {1, -1, 0}, {0, -1, 1}, {0, 1, 1},
                                          {0, -1, -1}, {0, 1, -1}, {1, 0, -1}, {1, 0, 1}, {-1, 0, -1}, {-1, 0, 1}};
    for (int i = 0; i < 12; i++) {
        /* corners[][] spells the golden-ratio coordinate as 1; substitute t where it stands */
        double p[3];
        for (int k = 0; k < 3; k++)
            p[k] = corners[i][k];
        if (i < 4)
            p[1] *= t;
        else if (i < 8)
            p[2] *= t;
        else
            p[0] *= t;
        sb_vertex(&s, p[0], p[1], p[2]);
    }
    static const int32_t ico[20][3] = {{0, 11, 5}, {0, 5, 1},  {0, 1, 7},   {0, 7, 10}, {0, 10, 11},
                                       {1, 5, 9},  {5, 11, 4}, {11, 10, 2}, {10, 7, 6}, {7, 1, 8},
                                       {3, 9, 4},  {3, 4, 2},  {3, 2, 6},   {3, 6, 8},  {3, 8, 9},
                                       {4, 9, 5},  {2, 4, 11}, {6, 2, 10},  {8, 6, 7},  {9, 8, 1}};
    for (int f = 0; f < 20; f++)
        sb_tri(&s, ico[f][0], ico[f][1], ico[f][2]);
    for (int level = 0; level < subdivisions && !s.failed; level++) {
        const size_t faces = s.num_faces;
        int32_t *old = malloc(faces * 3 * sizeof *old);
        int32_t(*table)[3] = malloc(faces * 3 * sizeof *table);
        if (!old || !table) {
            free(old);
            free(table);
            s.failed = true;
            break;
        }
        memcpy(old, s.faces, faces * 3 * sizeof *old);
        size_t used = 0;
        s.num_faces = 0;
        for (size_t f = 0; f < faces; f++) {
            const int32_t a = old[3 * f], c1 = old[3 * f + 1], c2 = old[3 * f + 2];
            const int32_t ab = midpoint(&s, a, c1, table, &used, faces * 3);
            const int32_t bc = midpoint(&s, c1, c2, table, &used, faces * 3);
            const int32_t ca = midpoint(&s, c2, a, table, &used, faces * 3);
            sb_tri(&s, a, ab, ca);
            sb_tri(&s, c1, bc, ab);
            sb_tri(&s, c2, ca, bc);
            sb_tri(&s, ab, bc, ca);
        }
        free(old);
        free(table);
    }
    if (s.failed) {
        sb_release(&s);
        b->failed = true;
        return;
    }
    sb_part_begin(b);
    const int32_t base = (int32_t)b->num_vertices;
    for (size_t i = 0; i < s.num_vertices; i++) {
        const float *p = s.vertices + i * 3;
        const double n = sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
        sb_vertex(b, cx + radius * p[0] / n, cy + radius * p[1] / n, cz + radius * p[2] / n);
    }
    for (size_t f = 0; f < s.num_faces; f++)
        sb_tri(b, base + s.faces[3 * f], base + s.faces[3 * f + 1], base + s.faces[3 * f + 2]);
    sb_part_end(b);
    sb_release(&s);
}

void sb_extrude_fan(mg_shape_builder *b, const double *xy_in, size_t count, double cx, double cy, double z0, double z1)
{
    if (b->failed || count < 3) {
        b->failed = true;
        return;
    }
    double area = 0.0;
    for (size_t i = 0; i < count; i++)
        area += xy_in[2 * i] * xy_in[2 * ((i + 1) % count) + 1] - xy_in[2 * ((i + 1) % count)] * xy_in[2 * i + 1];
    sb_part_begin(b);
    const int32_t base = (int32_t)b->num_vertices, top = base + (int32_t)count;
    for (int layer = 0; layer < 2; layer++)
        for (size_t i = 0; i < count; i++) {
            const size_t s = area >= 0 ? i : count - 1 - i; /* counter-clockwise */
            sb_vertex(b, xy_in[2 * s], xy_in[2 * s + 1], layer ? z1 : z0);
        }
    const int32_t centre0 = sb_vertex(b, cx, cy, z0), centre1 = sb_vertex(b, cx, cy, z1);
    for (size_t i = 0; i < count; i++) {
        const int32_t a = (int32_t)i, c = (int32_t)((i + 1) % count);
        sb_tri(b, centre0, base + c, base + a);
        sb_tri(b, centre1, top + a, top + c);
        sb_quad(b, base + a, base + c, top + c, top + a);
    }
    sb_part_end(b);
}
