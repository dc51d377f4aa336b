/* The rasterizer of raster.h. Works in a supersampled float buffer, then box-filters into the image. */
#include "render/raster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const uint8_t mg_raster_background[3] = {236, 236, 236};
const uint8_t mg_raster_front[3] = {168, 184, 204};
const uint8_t mg_raster_back[3] = {214, 96, 84};

#define AMBIENT 0.3f
#define EDGE_DARKEN 0.55f
#define FIT 0.92f /* share of the half view the bounding sphere fills */

typedef struct vec3 {
    float x, y, z;
} vec3;

static vec3 sub(vec3 a, vec3 b) { return (vec3){a.x - b.x, a.y - b.y, a.z - b.z}; }
static vec3 add_scaled(vec3 a, vec3 b, float s) { return (vec3){a.x + b.x * s, a.y + b.y * s, a.z + b.z * s}; }
static float dot(vec3 a, vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static vec3 cross(vec3 a, vec3 b)
{
    return (vec3){a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
static vec3 normalized(vec3 a)
{
    float n = sqrtf(dot(a, a));
    return n > 0 ? (vec3){a.x / n, a.y / n, a.z / n} : a;
}

static vec3 vertex(const mg_mesh *mesh, int32_t index)
{
    const float *v = mesh->vertices + (size_t)index * 3;
    return (vec3){v[0], v[1], v[2]};
}

static bool face_shown(const mg_mesh *mesh, size_t f)
{
    return !mesh->face_mask || mesh->face_mask[f];
}

mg_status mg_raster_frame_of(const mg_mesh *mesh, int up_axis, mg_raster_frame *frame, mg_diag *diag)
{
    if (!mesh || (mesh->num_faces && (!mesh->faces || !mesh->vertices)) || (mesh->face_size != 3 &&
                                                                            mesh->face_size != 4))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: the mesh needs vertices and faces of 3 or 4 corners");
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    size_t used = 0;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!face_shown(mesh, f))
            continue;
        for (uint32_t c = 0; c < mesh->face_size; c++) {
            int32_t index = mesh->faces[f * mesh->face_size + c];
            if (index < 0 || (size_t)index >= mesh->num_vertices)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: face %zu uses vertex %d but the mesh has %zu "
                               "vertices", f, index, mesh->num_vertices);
            const float *v = mesh->vertices + (size_t)index * 3;
            for (int a = 0; a < 3; a++) {
                if (!isfinite(v[a]))
                    return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "render: vertex %d has a coordinate that is not a "
                                   "finite number", index);
                lo[a] = fminf(lo[a], v[a]);
                hi[a] = fmaxf(hi[a], v[a]);
            }
            used++;
        }
    }
    memset(frame, 0, sizeof *frame);
    frame->up_axis = up_axis;
    frame->radius = 1.0f;
    if (!used)
        return MG_OK; /* nothing to draw: an empty view */
    for (int a = 0; a < 3; a++)
        frame->center[a] = 0.5f * (lo[a] + hi[a]);
    float r2 = 0;
    for (int a = 0; a < 3; a++)
        r2 += 0.25f * (hi[a] - lo[a]) * (hi[a] - lo[a]);
    frame->radius = r2 > 0 ? sqrtf(r2) : 1.0f;
    return MG_OK;
}

/* The camera basis of a view: right, up and forward (into the scene), in mesh coordinates. */
static void camera(const mg_raster_frame *frame, mg_view view, vec3 *right, vec3 *up, vec3 *forward)
{
    const float deg = 3.14159265358979f / 180.0f;
    float az = view.azimuth_deg * deg, el = view.elevation_deg * deg;
    /* In a y-up frame: the camera sits at +z (front), turned by azimuth around y and raised by elevation. */
    vec3 eye = {cosf(el) * sinf(az), sinf(el), cosf(el) * cosf(az)};
    vec3 world_up = {0, 1, 0};
    if (frame->up_axis == 2) { /* z up: front is -y, so (x, y, z) of the y-up frame become (x, -z, y) */
        eye = (vec3){eye.x, -eye.z, eye.y};
        world_up = (vec3){0, 0, 1};
    }
    *forward = (vec3){-eye.x, -eye.y, -eye.z};
    vec3 r = cross(*forward, world_up);
    if (dot(r, r) < 1e-8f) /* looking straight down or up: keep the front at the bottom of the picture */
        r = (vec3){1, 0, 0};
    *right = normalized(r);
    *up = normalized(cross(*right, *forward));
}

typedef struct sample_buffer {
    uint32_t n;    /* side in samples */
    float *depth;  /* n * n */
    float *color;  /* n * n * 3 */
} sample_buffer;

typedef struct screen_vertex {
    float x, y, depth;
} screen_vertex;

static void shade_triangle(sample_buffer *b, screen_vertex p[3], const float rgb[3], bool edges, float edge_width)
{
    float area = (p[1].x - p[0].x) * (p[2].y - p[0].y) - (p[2].x - p[0].x) * (p[1].y - p[0].y);
    if (fabsf(area) < 1e-12f)
        return;
    float min_x = fminf(p[0].x, fminf(p[1].x, p[2].x)), max_x = fmaxf(p[0].x, fmaxf(p[1].x, p[2].x));
    float min_y = fminf(p[0].y, fminf(p[1].y, p[2].y)), max_y = fmaxf(p[0].y, fmaxf(p[1].y, p[2].y));
    int x0 = (int)fmaxf(0.0f, floorf(min_x)), x1 = (int)fminf((float)b->n - 1, ceilf(max_x));
    int y0 = (int)fmaxf(0.0f, floorf(min_y)), y1 = (int)fminf((float)b->n - 1, ceilf(max_y));
    float edge_length[3];
    for (int e = 0; e < 3; e++) { /* edge e is opposite vertex e */
        screen_vertex a = p[(e + 1) % 3], c = p[(e + 2) % 3];
        edge_length[e] = sqrtf((c.x - a.x) * (c.x - a.x) + (c.y - a.y) * (c.y - a.y));
    }
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            float px = (float)x + 0.5f, py = (float)y + 0.5f;
            float w[3];
            for (int e = 0; e < 3; e++) {
                screen_vertex a = p[(e + 1) % 3], c = p[(e + 2) % 3];
                w[e] = ((c.x - a.x) * (py - a.y) - (px - a.x) * (c.y - a.y)) / area;
            }
            if (w[0] < 0 || w[1] < 0 || w[2] < 0)
                continue;
            float depth = w[0] * p[0].depth + w[1] * p[1].depth + w[2] * p[2].depth;
            size_t i = (size_t)y * b->n + (size_t)x;
            if (depth >= b->depth[i])
                continue;
            b->depth[i] = depth;
            float k = 1.0f;
            if (edges) {
                /* Distance to the nearest edge in samples: barycentric weight x twice the area / edge length. */
                float nearest = INFINITY;
                for (int e = 0; e < 3; e++)
                    if (edge_length[e] > 0)
                        nearest = fminf(nearest, w[e] * fabsf(area) / edge_length[e]);
                if (nearest < edge_width)
                    k = EDGE_DARKEN;
            }
            for (int c = 0; c < 3; c++)
                b->color[i * 3 + c] = rgb[c] * k;
        }
    }
}

mg_status mg_raster_view(const mg_mesh *mesh, const mg_raster_frame *frame, mg_view view, bool edges,
                         uint32_t size, uint32_t samples, uint8_t *image, uint32_t stride, uint32_t x0, uint32_t y0,
                         mg_diag *diag)
{
    sample_buffer b = {.n = size * samples};
    size_t count = (size_t)b.n * b.n;
    b.depth = malloc(count * sizeof *b.depth);
    b.color = malloc(count * 3 * sizeof *b.color);
    if (!b.depth || !b.color) {
        free(b.depth);
        free(b.color);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory rendering a %u-pixel view", size);
    }
    for (size_t i = 0; i < count; i++) {
        b.depth[i] = INFINITY;
        for (int c = 0; c < 3; c++)
            b.color[i * 3 + c] = mg_raster_background[c];
    }
    vec3 right, up, forward;
    camera(frame, view, &right, &up, &forward);
    /* The head light comes from the camera, a little from above and from the right. */
    vec3 light = normalized(add_scaled(add_scaled((vec3){-forward.x, -forward.y, -forward.z}, up, 0.45f), right,
                                       0.25f));
    const vec3 center = {frame->center[0], frame->center[1], frame->center[2]};
    const float scale = 0.5f * (float)b.n * FIT / frame->radius;
    const float half = 0.5f * (float)b.n;
    const uint32_t corners = mesh->face_size;
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!face_shown(mesh, f))
            continue;
        const int32_t *face = mesh->faces + f * corners;
        /* A quad is two triangles (0 1 2) and (0 2 3); its normal is the sum of theirs. */
        vec3 v[4];
        screen_vertex s[4];
        for (uint32_t c = 0; c < corners; c++) {
            v[c] = vertex(mesh, face[c]);
            vec3 d = sub(v[c], center);
            s[c] = (screen_vertex){half + dot(d, right) * scale, half - dot(d, up) * scale, dot(d, forward)};
        }
        vec3 normal = cross(sub(v[1], v[0]), sub(v[2], v[0]));
        if (corners == 4)
            normal = add_scaled(normal, cross(sub(v[2], v[0]), sub(v[3], v[0])), 1.0f);
        if (dot(normal, normal) <= 0)
            continue; /* degenerate: no area to draw */
        normal = normalized(normal);
        bool front = dot(normal, forward) <= 0;
        float intensity = AMBIENT + (1.0f - AMBIENT) * fabsf(dot(normal, light));
        const uint8_t *base = front ? mg_raster_front : mg_raster_back;
        float rgb[3] = {base[0] * intensity, base[1] * intensity, base[2] * intensity};
        const float edge_width = 0.8f * (float)samples;
        screen_vertex t[3] = {s[0], s[1], s[2]};
        shade_triangle(&b, t, rgb, edges, edge_width);
        if (corners == 4) {
            screen_vertex u[3] = {s[0], s[2], s[3]};
            shade_triangle(&b, u, rgb, edges, edge_width);
        }
    }
    /* Box filter down to pixels. */
    const float inverse = 1.0f / (float)(samples * samples);
    for (uint32_t y = 0; y < size; y++) {
        for (uint32_t x = 0; x < size; x++) {
            float sum[3] = {0, 0, 0};
            for (uint32_t sy = 0; sy < samples; sy++)
                for (uint32_t sx = 0; sx < samples; sx++) {
                    size_t i = ((size_t)(y * samples + sy) * b.n + (x * samples + sx)) * 3;
                    for (int c = 0; c < 3; c++)
                        sum[c] += b.color[i + c];
                }
            uint8_t *out = image + ((size_t)(y0 + y) * stride + (x0 + x)) * 4;
            for (int c = 0; c < 3; c++) {
                float value = sum[c] * inverse + 0.5f;
                out[c] = (uint8_t)(value > 255.0f ? 255.0f : value);
            }
            out[3] = 255;
        }
    }
    free(b.depth);
    free(b.color);
    return MG_OK;
}
