/*
 * Mesh previews (mg_render_image / mg_render_png): shading of a known
 * triangle against a hand-computed colour, back faces in the warning colour,
 * views placed in the grid, masked faces left out, a valid PNG (chunk CRCs,
 * inflated rows equal the image), and bad input explained.
 */
#include "meshgpt.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A triangle in the z = 0 plane around the origin; counter-clockwise seen from +z (its normal is +z). */
static float triangle_vertices[9] = {-1.0f, -1.0f, 0.0f, 1.0f, -1.0f, 0.0f, 0.0f, 1.0f, 0.0f};

static mg_mesh triangle(int32_t *faces)
{
    mg_mesh mesh = {.vertices = triangle_vertices, .num_vertices = 3, .faces = faces, .num_faces = 1,
                    .face_size = 3};
    return mesh;
}

static const uint8_t *pixel(const uint8_t *image, uint32_t width, uint32_t x, uint32_t y)
{
    return image + ((size_t)y * width + x) * 4;
}

/* The front view (top right of the 2 x 2 grid) looks along -z with a head light tilted up and right: the
 * triangle's colour is base * (0.3 + 0.7 |n . L|), L = normalize(0.25, 0.45, 1). */
static void expect_shade(const uint8_t *p, const uint8_t base[3])
{
    const double n_dot_l = 1.0 / sqrt(0.25 * 0.25 + 0.45 * 0.45 + 1.0);
    const double intensity = 0.3 + 0.7 * n_dot_l;
    for (int c = 0; c < 3; c++) {
        double want = base[c] * intensity;
        cr_expect(fabs(p[c] - want) <= 1.0, "channel %d: %d, want %.2f", c, p[c], want);
    }
    cr_expect_eq(p[3], 255);
}

static const uint8_t front_colour[3] = {168, 184, 204}, back_colour[3] = {214, 96, 84}, background[3] = {236, 236,
                                                                                                         236};

Test(render, a_front_facing_triangle_has_the_hand_computed_shade)
{
    int32_t faces[3] = {0, 1, 2};
    mg_mesh mesh = triangle(faces);
    mg_render_params params = mg_render_default_params();
    params.size = 64;
    params.edges = false;
    uint8_t *image = NULL;
    uint32_t width = 0, height = 0;
    char error[256];
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(width, 128);
    cr_assert_eq(height, 128);
    /* Front view: the block at x in [64, 128), y in [0, 64); the triangle's centroid (0, -1/3) is a little below
     * the block's centre. */
    expect_shade(pixel(image, width, 96, 36), front_colour);
    /* Corners of every block are background. */
    for (uint32_t b = 0; b < 4; b++) {
        const uint8_t *corner = pixel(image, width, (b % 2) * 64 + 2, (b / 2) * 64 + 2);
        cr_expect(memcmp(corner, background, 3) == 0, "block %u corner is %d %d %d", b, corner[0], corner[1],
                  corner[2]);
    }
    /* The side view sees the triangle edge-on: nothing but background across the block's middle row, except a
     * line at most a few pixels wide at its centre. */
    size_t covered = 0;
    for (uint32_t x = 0; x < 64; x++)
        covered += memcmp(pixel(image, width, x, 64 + 32), background, 3) != 0;
    cr_expect(covered <= 3, "the side view covers %zu pixels of its middle row", covered);
    mg_image_free(image);
}

Test(render, back_faces_show_in_the_warning_colour)
{
    int32_t faces[3] = {0, 2, 1}; /* clockwise from +z: the camera sees its back */
    mg_mesh mesh = triangle(faces);
    mg_render_params params = mg_render_default_params();
    params.size = 64;
    params.edges = false;
    uint8_t *image = NULL;
    uint32_t width, height;
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);
    expect_shade(pixel(image, width, 96, 36), back_colour);
    mg_image_free(image);
}

Test(render, masked_faces_are_left_out)
{
    int32_t faces[3] = {0, 1, 2};
    mg_mesh mesh = triangle(faces);
    uint8_t mask = 0;
    mesh.face_mask = &mask;
    mg_render_params params = mg_render_default_params();
    params.size = 32;
    params.views = 1;
    uint8_t *image = NULL;
    uint32_t width, height;
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);
    cr_assert_eq(width, 32);
    for (size_t i = 0; i < (size_t)width * height; i++)
        cr_assert(memcmp(image + i * 4, background, 3) == 0, "a masked face was drawn at pixel %zu", i);
    mg_image_free(image);
}

/* With edges, the diagonal shared by two triangles of a square is drawn darker than their insides. */
Test(render, edges_are_darker)
{
    float square[12] = {-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0};
    int32_t faces[6] = {0, 1, 2, 0, 2, 3};
    mg_mesh mesh = {.vertices = square, .num_vertices = 4, .faces = faces, .num_faces = 2, .face_size = 3};
    mg_render_params params = mg_render_default_params();
    params.size = 64;
    uint8_t *image = NULL;
    uint32_t width, height;
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);
    /* Front view (top right block): the diagonal runs through the block's centre (96, 32); (104, 40) lies inside
     * the lower right triangle, away from every edge. */
    int on_edge = pixel(image, width, 96, 32)[0], inside = pixel(image, width, 104, 40)[0];
    cr_expect(on_edge < inside - 30, "the edge (%d) is not darker than the inside (%d)", on_edge, inside);
    mg_image_free(image);
    params.edges = false;
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);
    cr_expect_eq(pixel(image, width, 96, 32)[0], inside, "without edges the centre is like the inside");
    mg_image_free(image);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(render, png_file_holds_the_image)
{
    int32_t faces[3] = {0, 1, 2};
    mg_mesh mesh = triangle(faces);
    mg_render_params params = mg_render_default_params();
    params.size = 40;
    char path[] = "/tmp/mg-render-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    char error[256];
    cr_assert_eq(mg_render_png(&mesh, &params, path, error, sizeof error), MG_OK, "%s", error);
    uint8_t *image = NULL;
    uint32_t width, height;
    cr_assert_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);

    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t file[1 << 16];
    size_t size = fread(file, 1, sizeof file, f);
    fclose(f);
    remove(path);
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    cr_assert_eq(memcmp(file, signature, 8), 0);
    size_t at = 8;
    uint8_t *idat = NULL;
    size_t idat_size = 0;
    bool ended = false;
    while (at + 12 <= size && !ended) {
        uint32_t length = be32(file + at);
        cr_assert_leq(at + 12 + length, size);
        uint32_t crc = (uint32_t)crc32(0, file + at + 4, 4 + length);
        cr_expect_eq(crc, be32(file + at + 8 + length), "chunk %.4s has a wrong CRC", (const char *)file + at + 4);
        if (memcmp(file + at + 4, "IHDR", 4) == 0) {
            cr_expect_eq(be32(file + at + 8), width);
            cr_expect_eq(be32(file + at + 12), height);
            cr_expect_eq(file[at + 16], 8);
            cr_expect_eq(file[at + 17], 6);
        } else if (memcmp(file + at + 4, "IDAT", 4) == 0) {
            idat = realloc(idat, idat_size + length);
            memcpy(idat + idat_size, file + at + 8, length);
            idat_size += length;
        } else if (memcmp(file + at + 4, "IEND", 4) == 0) {
            ended = true;
        }
        at += 12 + length;
    }
    cr_expect(ended, "no IEND chunk");
    uLongf raw_size = (uLongf)(1 + width * 4) * height;
    uint8_t *raw = malloc(raw_size);
    cr_assert_eq(uncompress(raw, &raw_size, idat, (uLong)idat_size), Z_OK);
    cr_assert_eq(raw_size, (uLongf)(1 + width * 4) * height);
    for (uint32_t y = 0; y < height; y++) {
        cr_assert_eq(raw[y * (1 + width * 4)], 0, "row %u filter", y);
        cr_assert_eq(memcmp(raw + y * (1 + width * 4) + 1, image + (size_t)y * width * 4, width * 4), 0,
                     "row %u differs from the image", y);
    }
    free(raw);
    free(idat);
    mg_image_free(image);
}

Test(render, bad_input_is_explained)
{
    int32_t faces[3] = {0, 1, 7};
    mg_mesh mesh = triangle(faces);
    uint8_t *image = NULL;
    uint32_t width, height;
    char error[256];
    cr_expect_eq(mg_render_image(&mesh, NULL, &image, &width, &height, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "vertex 7") && strstr(error, "3 vertices"), "%s", error);
    cr_expect_null(image);
    faces[2] = 2;
    float nan_vertices[9];
    memcpy(nan_vertices, triangle_vertices, sizeof nan_vertices);
    nan_vertices[4] = NAN;
    mesh.vertices = nan_vertices;
    cr_expect_eq(mg_render_image(&mesh, NULL, &image, &width, &height, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "finite"), "%s", error);
    mesh.vertices = triangle_vertices;
    mg_render_params params = mg_render_default_params();
    params.views = 3;
    cr_expect_eq(mg_render_image(&mesh, &params, &image, &width, &height, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(error, "3 views"), "%s", error);
    params = mg_render_default_params();
    params.size = 8;
    cr_expect_eq(mg_render_image(&mesh, &params, &image, &width, &height, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT);
    params = mg_render_default_params();
    cr_expect_eq(mg_render_png(&mesh, &params, "/nonexistent-folder/x.png", error, sizeof error), MG_ERR_IO);
    cr_expect(strstr(error, "/nonexistent-folder/x.png"), "%s", error);
    /* An empty mesh renders an empty picture. */
    mesh.num_faces = 0;
    cr_expect_eq(mg_render_image(&mesh, &params, &image, &width, &height, NULL, 0), MG_OK);
    mg_image_free(image);
}
