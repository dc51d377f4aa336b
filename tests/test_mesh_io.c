/* Mesh files: hand-written small files of every format checked vertex for
 * vertex and face for face, write -> read round trips for every writer, the
 * polygon modes, and every error path (statuses and messages). */
#include "test_npy.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "meshgpt.h"

/* ---- helpers ---- */

static char error[1024];

static mg_status read_text(const char *text, mg_mesh_format format, mg_polygon_mode polygons, mg_mesh *mesh)
{
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.format = format;
    params.polygons = polygons;
    return mg_mesh_read_memory(text, strlen(text), &params, mesh, error, sizeof error);
}

static mg_status read_bytes(const void *data, size_t size, mg_mesh_format format, mg_mesh *mesh)
{
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.format = format;
    return mg_mesh_read_memory(data, size, &params, mesh, error, sizeof error);
}

static void expect_ok(mg_status status)
{
    cr_assert_eq(status, MG_OK, "status %s: %s", mg_status_string(status), error);
}

static void expect_error(mg_status status, mg_status want, const char *fragment)
{
    cr_assert_eq(status, want, "status %s (%s), expected %s", mg_status_string(status), error,
                 mg_status_string(want));
    cr_assert(strstr(error, fragment), "message \"%s\" should mention \"%s\"", error, fragment);
}

/* Exact comparison: readers must give the file's values bit for bit. */
static void expect_mesh(const mg_mesh *m, const float *vertices, size_t num_vertices, const int32_t *faces,
                        size_t num_faces, uint32_t face_size)
{
    cr_assert_eq(m->num_vertices, num_vertices, "vertices: %zu, expected %zu", m->num_vertices, num_vertices);
    cr_assert_eq(m->num_faces, num_faces, "faces: %zu, expected %zu", m->num_faces, num_faces);
    cr_assert_eq(m->face_size, face_size, "face_size %u, expected %u", m->face_size, face_size);
    cr_assert_null(m->face_mask);
    for (size_t i = 0; i < 3 * num_vertices; i++)
        cr_assert(memcmp(&m->vertices[i], &vertices[i], 4) == 0, "vertex %zu axis %zu: %.9g, expected %.9g", i / 3,
                  i % 3, (double)m->vertices[i], (double)vertices[i]);
    for (size_t i = 0; i < face_size * num_faces; i++)
        cr_assert_eq(m->faces[i], faces[i], "face %zu corner %zu: %d, expected %d", i / face_size, i % face_size,
                     m->faces[i], faces[i]);
}

/* A private folder for files, removed with everything in it at the end. */
static char folder[64];

static void make_folder(void)
{
    snprintf(folder, sizeof folder, "/tmp/mg-mesh-io-XXXXXX");
    cr_assert_not_null(mkdtemp(folder));
}

static void remove_folder(void)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(folder);
}

static size_t folder_entries(void)
{
    DIR *dir = opendir(folder);
    size_t n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        n += e->d_name[0] != '.';
    if (dir)
        closedir(dir);
    return n;
}

static const char *file_in_folder(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    return path;
}

static const char *write_file(const char *name, const void *data, size_t size)
{
    const char *path = file_in_folder(name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, size, f), size);
    fclose(f);
    return path;
}

static unsigned char *load_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n + 1);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

/* A byte builder for binary test files. */
typedef struct bytes {
    unsigned char data[4096];
    size_t size;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    cr_assert(b->size + n <= sizeof b->data);
    memcpy(b->data + b->size, p, n);
    b->size += n;
}
static void put_text(bytes *b, const char *s) { put(b, s, strlen(s)); }
static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u16le(bytes *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, x, 2);
}
static void put_u32le(bytes *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, x, 4);
}
static void put_f32le(bytes *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32le(b, v);
}
static void put_u32be(bytes *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    put(b, x, 4);
}
static void put_f32be(bytes *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32be(b, v);
}
static void put_f64be(bytes *b, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u32be(b, (uint32_t)(v >> 32));
    put_u32be(b, (uint32_t)v);
}
static void put_i16be(bytes *b, int16_t v)
{
    unsigned char x[2] = {(unsigned char)((uint16_t)v >> 8), (unsigned char)v};
    put(b, x, 2);
}

/* ---- OBJ ---- */

Test(mesh_obj, reads_vertices_and_faces_of_every_corner_form)
{
    const char *text =
        "# a quad and a triangle\r\n"
        "mtllib scene.mtl\r\n"
        "o thing\r\n"
        "v 0 0 0\r\n"
        "v 1.5 0 0 1.0\r\n"                 /* w */
        "v 1 1 0 0.5 0.25 0.125\r\n"         /* vertex colour */
        "v -2e-3 1 0.1\r\n"
        "vt 0 0\r\nvt 1 0\r\nvt 1 1\r\n"
        "vn 0 0 1\r\n"
        "g group\r\nusemtl red\r\ns 1\r\n"
        "f 1/1/1 2/2/1 3/3/1\r\n"
        "f 1//1 3//1 4//1 # trailing comment\r\n"
        "f 2/1 3/2 4/3\r\n"
        "f 1 2 \\\r\n 4\r\n"                 /* continued line */
        "f -4 -3 -1\r\n"                     /* relative: 1 2 4 */
        "l 1 2\r\n";
    mg_mesh m;
    expect_ok(read_text(text, MG_MESH_FORMAT_OBJ, MG_POLYGONS_TRIANGULATE, &m));
    const float v[] = {0, 0, 0, 1.5f, 0, 0, 1, 1, 0, -2e-3f, 1, 0.1f};
    const int32_t f[] = {0, 1, 2, 0, 2, 3, 1, 2, 3, 0, 1, 3, 0, 1, 3};
    expect_mesh(&m, v, 4, f, 5, 3);
    mg_mesh_free(&m);
    cr_assert_null(m.vertices);
    cr_assert_eq(m.num_faces, 0);
}

Test(mesh_obj, polygon_modes)
{
    const char *quads = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\nf 1 2 3 4\nf 2 5 6 3\n";
    mg_mesh m;
    expect_ok(read_text(quads, MG_MESH_FORMAT_OBJ, MG_POLYGONS_TRIANGULATE, &m));
    const float v[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 2, 0, 0, 2, 1, 0};
    const int32_t fans[] = {0, 1, 2, 0, 2, 3, 1, 4, 5, 1, 5, 2};
    expect_mesh(&m, v, 6, fans, 4, 3);
    mg_mesh_free(&m);

    const int32_t as_quads[] = {0, 1, 2, 3, 1, 4, 5, 2};
    expect_ok(read_text(quads, MG_MESH_FORMAT_OBJ, MG_POLYGONS_QUADS, &m));
    expect_mesh(&m, v, 6, as_quads, 2, 4);
    mg_mesh_free(&m);
    expect_ok(read_text(quads, MG_MESH_FORMAT_OBJ, MG_POLYGONS_AS_IS, &m));
    expect_mesh(&m, v, 6, as_quads, 2, 4);
    mg_mesh_free(&m);

    const char *pentagon = "v 0 0 0\nv 1 0 0\nv 2 1 0\nv 1 2 0\nv 0 1 0\nf 1 2 3 4 5\n";
    expect_ok(read_text(pentagon, MG_MESH_FORMAT_OBJ, MG_POLYGONS_TRIANGULATE, &m));
    const int32_t pentagon_fan[] = {0, 1, 2, 0, 2, 3, 0, 3, 4};
    cr_assert_eq(m.num_faces, 3);
    cr_assert_arr_eq(m.faces, pentagon_fan, sizeof pentagon_fan);
    mg_mesh_free(&m);
    expect_error(read_text(pentagon, MG_MESH_FORMAT_OBJ, MG_POLYGONS_AS_IS, &m), MG_ERR_FORMAT,
                 "(memory):6: a face has 5 corners");
    expect_error(read_text(pentagon, MG_MESH_FORMAT_OBJ, MG_POLYGONS_QUADS, &m), MG_ERR_FORMAT, "quads were asked");

    const char *mixed = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 2 3 4\n";
    expect_error(read_text(mixed, MG_MESH_FORMAT_OBJ, MG_POLYGONS_AS_IS, &m), MG_ERR_FORMAT,
                 ":6: a face has 4 corners but the faces before it have 3");
    expect_error(read_text(mixed, MG_MESH_FORMAT_OBJ, MG_POLYGONS_QUADS, &m), MG_ERR_FORMAT,
                 ":5: a face has 3 corners but quads were asked for");
    cr_assert_null(m.vertices);
    expect_ok(read_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 3\n", MG_MESH_FORMAT_OBJ, MG_POLYGONS_AS_IS, &m));
    cr_assert_eq(m.face_size, 3);
    mg_mesh_free(&m);
}

Test(mesh_obj, errors_name_the_line_and_the_problem)
{
    mg_mesh m;
    const char *cube_head = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n";
    char text[512];
    snprintf(text, sizeof text, "%s\n\n\nf 1 2 9\n", cube_head);
    expect_error(read_text(text, MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT,
                 "(memory):12: face index 9 is out of range (the file has 8 vertices so far)");
    snprintf(text, sizeof text, "%sf 1 2 -9\n", cube_head);
    expect_error(read_text(text, MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT, ":9: face index -9 is out of range");
    snprintf(text, sizeof text, "%sf 1 0 2\n", cube_head);
    expect_error(read_text(text, MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT, "face index 0 is invalid");
    snprintf(text, sizeof text, "%sf 1 2 99999999999999999999\n", cube_head);
    expect_error(read_text(text, MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT, "out of range");
    expect_error(read_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2\n", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT,
                 ":4: a face needs at least 3 corners, this one has 2");
    expect_error(read_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 x\n", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT,
                 "'x' is not a face corner");
    expect_error(read_text("v 0 0 0\nv 1 0,5 0\n", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT,
                 ":2: '0,5' is not a number");
    expect_error(read_text("v 0 0\n", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT,
                 ":1: a vertex needs 3 coordinates, this one has 2");
    expect_error(read_text("v 0 0 0\nv 1 0 0\n", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT, "no faces");
    expect_error(read_text("", MG_MESH_FORMAT_OBJ, 0, &m), MG_ERR_FORMAT, "no faces");
    cr_assert_null(m.vertices);
    cr_assert_null(m.faces);
}

Test(mesh_obj, non_finite_coordinates_are_read_as_given)
{
    mg_mesh m;
    expect_ok(read_text("v nan inf -inf\nv 0 0 0\nv 1 0 0\nf 1 2 3\n", MG_MESH_FORMAT_OBJ, 0, &m));
    cr_assert(isnan(m.vertices[0]));
    cr_assert(isinf(m.vertices[1]) && m.vertices[1] > 0);
    cr_assert(isinf(m.vertices[2]) && m.vertices[2] < 0);
    mg_mesh_free(&m);
}

/* ---- PLY ---- */

static const float square_vertices[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0.5f};

Test(mesh_ply, ascii_with_extra_properties_and_elements)
{
    const char *text =
        "ply\r\n"
        "format ascii 1.0\r\n"
        "comment made by hand\r\n"
        "element vertex 4\r\n"
        "property float nx\r\n"
        "property float x\r\n"
        "property float y\r\n"
        "property float z\r\n"
        "property uchar red\r\n"
        "element face 2\r\n"
        "property list uchar int vertex_index\r\n"
        "property int flags\r\n"
        "element edge 1\r\n"
        "property int vertex1\r\nproperty int vertex2\r\n"
        "end_header\r\n"
        "9 0 0 0 255\r\n9 1 0 0 0\r\n9 1 1 0 0\r\n9 0 1 0.5 7\r\n"
        "3 0 1 2 5\r\n"
        "4 0 1 2 3 6\r\n"
        "0 1\r\n";
    mg_mesh m;
    expect_ok(read_text(text, MG_MESH_FORMAT_PLY, MG_POLYGONS_TRIANGULATE, &m));
    const int32_t f[] = {0, 1, 2, 0, 1, 2, 0, 2, 3};
    expect_mesh(&m, square_vertices, 4, f, 3, 3);
    mg_mesh_free(&m);
}

Test(mesh_ply, binary_little_endian)
{
    bytes b = {0};
    put_text(&b, "ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
                 "property float z\nelement face 1\nproperty list uchar uint vertex_indices\nend_header\n");
    for (int i = 0; i < 12; i++)
        put_f32le(&b, square_vertices[i]);
    put_u8(&b, 4);
    for (uint32_t i = 0; i < 4; i++)
        put_u32le(&b, i);
    mg_mesh m;
    expect_ok(read_bytes(b.data, b.size, MG_MESH_FORMAT_PLY, &m));
    const int32_t f[] = {0, 1, 2, 3};
    mg_mesh_free(&m);
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.polygons = MG_POLYGONS_QUADS;
    expect_ok(mg_mesh_read_memory(b.data, b.size, &params, &m, error, sizeof error));  /* format from the content */
    expect_mesh(&m, square_vertices, 4, f, 1, 4);
    mg_mesh_free(&m);
}

/* Big-endian, with double and short properties around x/y/z, uchar and int
 * lists, a list among the vertex properties and an element before the faces. */
static size_t big_endian_ply(bytes *b)
{
    put_text(b, "ply\nformat binary_big_endian 1.0\n"
                "element vertex 4\nproperty double confidence\nproperty float x\nproperty short id\n"
                "property float y\nproperty list uchar short tags\nproperty float z\n"
                "element material 2\nproperty list int uchar name\n"
                "element face 2\nproperty uchar kind\nproperty list int int vertex_indices\n"
                "property list uchar float texcoord\nend_header\n");
    size_t header = b->size;
    for (int v = 0; v < 4; v++) {
        put_f64be(b, 0.25 * v);
        put_f32be(b, square_vertices[3 * v]);
        put_i16be(b, (int16_t)-v);
        put_f32be(b, square_vertices[3 * v + 1]);
        put_u8(b, (uint8_t)(v % 2));
        for (int t = 0; t < v % 2; t++)
            put_i16be(b, 7);
        put_f32be(b, square_vertices[3 * v + 2]);
    }
    put_u32be(b, 3);
    put_text(b, "red");
    put_u32be(b, 0);
    put_u8(b, 1);
    put_u32be(b, 3);
    put_u32be(b, 0), put_u32be(b, 1), put_u32be(b, 2);
    put_u8(b, 0);
    put_u8(b, 2);
    put_u32be(b, 3);
    put_u32be(b, 0), put_u32be(b, 2), put_u32be(b, 3);
    put_u8(b, 2);
    put_f32be(b, 0.5f), put_f32be(b, 0.5f);
    return header;
}

Test(mesh_ply, binary_big_endian_with_extra_properties)
{
    bytes b = {0};
    big_endian_ply(&b);
    mg_mesh m;
    expect_ok(read_bytes(b.data, b.size, MG_MESH_FORMAT_PLY, &m));
    const int32_t f[] = {0, 1, 2, 0, 2, 3};
    expect_mesh(&m, square_vertices, 4, f, 2, 3);
    mg_mesh_free(&m);
}

Test(mesh_ply, truncated_and_lying_files)
{
    bytes b = {0};
    big_endian_ply(&b);
    mg_mesh m;
    /* Cut anywhere in the body: always a format error, never a crash. */
    size_t header = 0;
    {
        bytes h = {0};
        header = big_endian_ply(&h);
    }
    for (size_t cut = header; cut < b.size; cut++)
        expect_error(read_bytes(b.data, cut, MG_MESH_FORMAT_PLY, &m), MG_ERR_FORMAT, "(memory)");

    bytes lie = {0};
    put_text(&lie, "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                   "property float z\nelement face 4000000000\nproperty list uchar int vertex_indices\nend_header\n");
    for (int i = 0; i < 9; i++)
        put_f32le(&lie, (float)i);
    put_u8(&lie, 3);
    put_u32le(&lie, 0), put_u32le(&lie, 1), put_u32le(&lie, 2);
    expect_error(read_bytes(lie.data, lie.size, MG_MESH_FORMAT_PLY, &m), MG_ERR_FORMAT, "4000000000 faces");

    bytes lie2 = {0};
    put_text(&lie2, "ply\nformat binary_little_endian 1.0\nelement vertex 2000000000\nproperty float x\n"
                    "property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                    "end_header\n");
    for (int i = 0; i < 9; i++)
        put_f32le(&lie2, (float)i);
    expect_error(read_bytes(lie2.data, lie2.size, MG_MESH_FORMAT_PLY, &m), MG_ERR_FORMAT,
                 "the header says 2000000000 'vertex' entries, which need at least 12 bytes each, but only 36 bytes "
                 "are left");

    bytes corners = {0};
    put_text(&corners, "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                       "property float z\nelement face 1\nproperty list uint int vertex_indices\nend_header\n");
    for (int i = 0; i < 9; i++)
        put_f32le(&corners, (float)i);
    put_u32le(&corners, 4000000000u);
    put_u32le(&corners, 0);
    expect_error(read_bytes(corners.data, corners.size, MG_MESH_FORMAT_PLY, &m), MG_ERR_FORMAT,
                 "face 0 claims 4000000000 corners");
    cr_assert_null(m.vertices);
}

Test(mesh_ply, header_and_value_errors)
{
    mg_mesh m;
    const char *head = "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                       "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n";
    char text[1024];
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n1 1 0\n3 0 1 3\n", head);
    expect_error(read_text(text, MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT,
                 "(memory):13: face 0: vertex index 3 is out of range (the file has 3 vertices)");
    snprintf(text, sizeof text, "%s0 0 0\n1 zero 0\n1 1 0\n3 0 1 2\n", head);
    expect_error(read_text(text, MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, ":11: 'zero' is not a valid number");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n1 1 0\n3 0 1 -2\n", head);
    expect_error(read_text(text, MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, "vertex index -2 is out of range");
    snprintf(text, sizeof text, "%s0 0 0\n1 0 0\n1 1 0\n3 0 1\n", head);
    expect_error(read_text(text, MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, "the file ends before");
    expect_error(read_text("ply\nformat ascii 1.0\nelement vertex 3\n", MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT,
                 "no 'end_header'");
    expect_error(read_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                           "element face 0\nproperty list uchar int vertex_indices\nend_header\n0 0\n",
                           MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, "no 'z' property");
    expect_error(read_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty quad x\nend_header\n",
                           MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, ":4: a property line needs a known type");
    expect_error(read_text("ply\nformat binary_middle_endian 1.0\nend_header\n", MG_MESH_FORMAT_PLY, 0, &m),
                 MG_ERR_FORMAT, "unknown PLY encoding");
    expect_error(read_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                           "property float z\nend_header\n0 0 0\n", MG_MESH_FORMAT_PLY, 0, &m),
                 MG_ERR_FORMAT, "no 'face' element");
    expect_error(read_text("plx\n", MG_MESH_FORMAT_PLY, 0, &m), MG_ERR_FORMAT, "not a PLY file");
}

/* ---- STL ---- */

/* Two triangles sharing an edge: 6 corners, 4 distinct positions. */
static const float stl_corners[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, -0.0f, 1, 0};
static const float stl_vertices[] = {0, 0, 0, 1, 0, 0, 1, 1, 0, -0.0f, 1, 0};
static const int32_t stl_faces[] = {0, 1, 2, 0, 2, 3};

static void binary_stl(bytes *b, const char *header_text, uint32_t claimed)
{
    char header[80];
    memset(header, 0, sizeof header);
    memcpy(header, header_text, strlen(header_text));
    put(b, header, 80);
    put_u32le(b, claimed);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 3; i++)
            put_f32le(b, 9.0f);  /* a wrong normal: ignored */
        for (int i = 0; i < 9; i++)
            put_f32le(b, stl_corners[9 * t + i]);
        put_u16le(b, 0);
    }
}

Test(mesh_stl, binary_merges_identical_positions_in_first_seen_order)
{
    bytes b = {0};
    /* "solid" in a binary header must not make it ascii: the size decides. */
    binary_stl(&b, "solid but binary", 2);
    mg_mesh m;
    expect_ok(read_bytes(b.data, b.size, MG_MESH_FORMAT_STL, &m));
    /* -0.0 and 0.0 differ bitwise: not merged. */
    expect_mesh(&m, stl_vertices, 4, stl_faces, 2, 3);
    mg_mesh_free(&m);
    /* Padding after the triangles: still binary, the padding ignored. */
    put_text(&b, "pad");
    expect_ok(read_bytes(b.data, b.size, MG_MESH_FORMAT_STL, &m));
    expect_mesh(&m, stl_vertices, 4, stl_faces, 2, 3);
    mg_mesh_free(&m);
}

Test(mesh_stl, ascii)
{
    const char *text =
        "solid two triangles\r\n"
        "  facet normal 0 0 1\r\n    outer loop\r\n      vertex 0 0 0\r\n      vertex 1 0 0\r\n"
        "      vertex 1 1 0\r\n    endloop\r\n  endfacet\r\n"
        "  FACET NORMAL 0 0 1\r\n    OUTER LOOP\r\n      VERTEX 0 0 0\r\n      VERTEX 1 1 0\r\n"
        "      VERTEX -0 1 0\r\n    ENDLOOP\r\n  ENDFACET\r\n"
        "endsolid two triangles\r\n";
    mg_mesh m;
    expect_ok(read_text(text, MG_MESH_FORMAT_STL, 0, &m));
    expect_mesh(&m, stl_vertices, 4, stl_faces, 2, 3);
    mg_mesh_free(&m);
    /* The same from memory without naming the format. */
    expect_ok(read_text(text, MG_MESH_FORMAT_AUTO, 0, &m));
    cr_assert_eq(m.num_faces, 2);
    mg_mesh_free(&m);
}

Test(mesh_stl, errors)
{
    mg_mesh m;
    bytes b = {0};
    binary_stl(&b, "binary", 3);  /* claims 3 triangles, holds 2 */
    expect_error(read_bytes(b.data, b.size, MG_MESH_FORMAT_STL, &m), MG_ERR_FORMAT,
                 "(memory): byte 80: the binary STL header says 3 triangles, which need 234 bytes, but the file has 184");
    bytes huge = {0};
    binary_stl(&huge, "binary", 4000000000u);
    expect_error(read_bytes(huge.data, huge.size, MG_MESH_FORMAT_STL, &m), MG_ERR_FORMAT, "4000000000 triangles");
    expect_error(read_bytes(b.data, 50, MG_MESH_FORMAT_STL, &m), MG_ERR_FORMAT, "too short");
    bytes empty = {0};
    binary_stl(&empty, "", 0);
    expect_error(read_bytes(empty.data, 84, MG_MESH_FORMAT_STL, &m), MG_ERR_FORMAT, "no faces");
    expect_error(read_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0\nendloop\n",
                           MG_MESH_FORMAT_STL, 0, &m), MG_ERR_FORMAT, ":6: 'endloop' is not a number");
    expect_error(read_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\n",
                           MG_MESH_FORMAT_STL, 0, &m), MG_ERR_FORMAT, ":3: a face needs at least 3 corners");
    expect_error(read_text("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n", MG_MESH_FORMAT_STL, 0, &m),
                 MG_ERR_FORMAT, "ends inside a loop");
    expect_error(read_text("solid x\nfacet normal 0 0 1\nbanana\n", MG_MESH_FORMAT_STL, 0, &m), MG_ERR_FORMAT,
                 ":3: unexpected 'banana'");
}

/* ---- glTF ---- */

/* A GLB from JSON text and a BIN chunk (padded as the format says). */
static void make_glb(bytes *out, const char *json, const bytes *bin)
{
    size_t json_length = (strlen(json) + 3) & ~(size_t)3;
    size_t bin_length = bin ? (bin->size + 3) & ~(size_t)3 : 0;
    put_u32le(out, 0x46546C67u);
    put_u32le(out, 2);
    put_u32le(out, (uint32_t)(12 + 8 + json_length + (bin ? 8 + bin_length : 0)));
    put_u32le(out, (uint32_t)json_length);
    put_u32le(out, 0x4E4F534Au);
    put_text(out, json);
    for (size_t i = strlen(json); i < json_length; i++)
        put_u8(out, ' ');
    if (bin) {
        put_u32le(out, (uint32_t)bin_length);
        put_u32le(out, 0x004E4942u);
        put(out, bin->data, bin->size);
        for (size_t i = bin->size; i < bin_length; i++)
            put_u8(out, 0);
    }
}

/* The square's 4 positions (48 bytes) then u16 indices 0 1 2 0 2 3 (12 bytes). */
static void square_bin(bytes *bin)
{
    for (int i = 0; i < 12; i++)
        put_f32le(bin, square_vertices[i]);
    const uint16_t idx[] = {0, 1, 2, 0, 2, 3};
    for (int i = 0; i < 6; i++)
        put_u16le(bin, idx[i]);
}

#define SQUARE_ACCESSORS                                                                                          \
    "\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"                           \
    "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":4,\"type\":\"VEC3\"},"                   \
    "{\"bufferView\":1,\"componentType\":5123,\"count\":6,\"type\":\"SCALAR\"}],"                                 \
    "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":48,\"byteLength\":12}],"

Test(mesh_gltf, glb_with_u16_indices_and_a_node_translation)
{
    bytes bin = {0}, glb = {0};
    square_bin(&bin);
    make_glb(&glb, "{\"asset\":{\"version\":\"2.0\"},\"scene\":0,\"scenes\":[{\"nodes\":[0]}],"
                   "\"nodes\":[{\"mesh\":0,\"translation\":[10,20,30]}]," SQUARE_ACCESSORS
                   "\"buffers\":[{\"byteLength\":60}]}", &bin);
    mg_mesh m;
    expect_ok(read_bytes(glb.data, glb.size, MG_MESH_FORMAT_GLB, &m));
    float moved[12];
    for (int i = 0; i < 12; i++)
        moved[i] = square_vertices[i] + (float)(10 * (i % 3 + 1));
    const int32_t f[] = {0, 1, 2, 0, 2, 3};
    expect_mesh(&m, moved, 4, f, 2, 3);
    mg_mesh_free(&m);
}

Test(mesh_gltf, node_hierarchy_and_no_scene)
{
    bytes bin = {0}, glb = {0};
    square_bin(&bin);
    /* Node 1 (child of 0): rotated 180 degrees about z, scaled by 2; node 0 translated by (1, 0, 0).
     * Node 2 (a second root) draws the mesh again with a matrix. */
    make_glb(&glb, "{\"asset\":{\"version\":\"2.0\"},\"scenes\":[{\"nodes\":[0,2]}],"
                   "\"nodes\":[{\"children\":[1],\"translation\":[1,0,0]},"
                   "{\"mesh\":0,\"rotation\":[0,0,1,0],\"scale\":[2,2,2]},"
                   "{\"mesh\":0,\"matrix\":[1,0,0,0, 0,1,0,0, 0,0,1,0, 0,0,5,1]}]," SQUARE_ACCESSORS
                   "\"buffers\":[{\"byteLength\":60}]}", &bin);
    mg_mesh m;
    expect_ok(read_bytes(glb.data, glb.size, MG_MESH_FORMAT_GLB, &m));
    float expected[24];
    for (int v = 0; v < 4; v++) {
        const float *p = square_vertices + 3 * v;
        expected[3 * v] = 1 - 2 * p[0];
        expected[3 * v + 1] = -2 * p[1];
        expected[3 * v + 2] = 2 * p[2];
        expected[12 + 3 * v] = p[0];
        expected[12 + 3 * v + 1] = p[1];
        expected[12 + 3 * v + 2] = p[2] + 5;
    }
    const int32_t f[] = {0, 1, 2, 0, 2, 3, 4, 5, 6, 4, 6, 7};
    cr_assert_eq(m.num_vertices, 8);
    for (int i = 0; i < 24; i++)
        cr_assert_float_eq(m.vertices[i], expected[i], 1e-6f, "coordinate %d: %g vs %g", i, (double)m.vertices[i],
                           (double)expected[i]);
    cr_assert_eq(m.num_faces, 4);
    cr_assert_arr_eq(m.faces, f, sizeof f);
    mg_mesh_free(&m);

    /* Without scenes: every mesh, untransformed. */
    bytes plain = {0};
    make_glb(&plain, "{\"asset\":{\"version\":\"2.0\"},\"nodes\":[{\"mesh\":0,\"translation\":[1,0,0]}],"
                     SQUARE_ACCESSORS "\"buffers\":[{\"byteLength\":60}]}", &bin);
    expect_ok(read_bytes(plain.data, plain.size, MG_MESH_FORMAT_GLB, &m));
    expect_mesh(&m, square_vertices, 4, f, 2, 3);
    mg_mesh_free(&m);
}

static char *base64(const unsigned char *data, size_t size)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(size / 3 * 4 + 8);
    size_t n = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t c = (uint32_t)data[i] << 16 | (i + 1 < size ? (uint32_t)data[i + 1] << 8 : 0) |
                     (i + 2 < size ? data[i + 2] : 0);
        out[n++] = abc[c >> 18 & 63];
        out[n++] = abc[c >> 12 & 63];
        out[n++] = i + 1 < size ? abc[c >> 6 & 63] : '=';
        out[n++] = i + 2 < size ? abc[c & 63] : '=';
    }
    out[n] = '\0';
    return out;
}

Test(mesh_gltf, gltf_with_data_uri_stride_and_no_indices)
{
    /* Interleaved: position then a 4-byte extra per vertex (byteStride 16), 6 vertices, no indices. */
    bytes bin = {0};
    const int order[6] = {0, 1, 2, 0, 2, 3};
    for (int k = 0; k < 6; k++) {
        for (int a = 0; a < 3; a++)
            put_f32le(&bin, square_vertices[3 * order[k] + a]);
        put_u32le(&bin, 0xdeadbeef);
    }
    char *b64 = base64(bin.data, bin.size);
    char json[4096];
    snprintf(json, sizeof json,
             "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},"
             "\"mode\":4}]}],\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":6,\"type\":\"VEC3\"}],"
             "\"bufferViews\":[{\"buffer\":0,\"byteLength\":96,\"byteStride\":16}],"
             "\"buffers\":[{\"byteLength\":96,\"uri\":\"data:application/gltf-buffer;base64,%s\"}]}", b64);
    free(b64);
    mg_mesh m;
    expect_ok(read_text(json, MG_MESH_FORMAT_GLTF, 0, &m));
    float expected[18];
    for (int k = 0; k < 6; k++)
        memcpy(expected + 3 * k, square_vertices + 3 * order[k], 12);
    const int32_t f[] = {0, 1, 2, 3, 4, 5};
    expect_mesh(&m, expected, 6, f, 2, 3);
    mg_mesh_free(&m);
}

Test(mesh_gltf, external_buffer_next_to_the_file)
{
    make_folder();
    bytes bin = {0};
    square_bin(&bin);
    write_file("square data.bin", bin.data, bin.size);
    const char *json = "{\"asset\":{\"version\":\"2.0\"}," SQUARE_ACCESSORS
                       "\"buffers\":[{\"byteLength\":60,\"uri\":\"square%20data.bin\"}]}";
    const char *path = write_file("square.gltf", json, strlen(json));
    mg_mesh m;
    expect_ok(mg_mesh_read(path, NULL, &m, error, sizeof error));
    const int32_t f[] = {0, 1, 2, 0, 2, 3};
    expect_mesh(&m, square_vertices, 4, f, 2, 3);
    mg_mesh_free(&m);
    /* From memory, the file cannot be found. */
    expect_error(read_text(json, MG_MESH_FORMAT_GLTF, 0, &m), MG_ERR_FORMAT, "cannot be read when the glTF comes "
                 "from memory");
    unlink(file_in_folder("square data.bin"));
    expect_error(mg_mesh_read(path, NULL, &m, error, sizeof error), MG_ERR_IO, "No such file or directory");
    remove_folder();
}

Test(mesh_gltf, errors)
{
    mg_mesh m;
    bytes bin = {0};
    square_bin(&bin);
    char json[4096];
    struct { const char *json; mg_status status; const char *fragment; } cases[] = {
        {"{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},"
         "\"mode\":1}]}]}", MG_ERR_UNSUPPORTED, "meshes[0].primitives[0] has mode 1 (lines); only triangle lists"},
        {"{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0}}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":4,\"type\":\"VEC3\",\"sparse\":{}}]}",
         MG_ERR_UNSUPPORTED, "accessors[0] is a sparse accessor"},
        {"{\"asset\":{\"version\":\"1.0\"}}", MG_ERR_UNSUPPORTED, "glTF version 1.0 is not supported"},
        {"{\"asset\":{\"version\":\"2.0\"},", MG_ERR_FORMAT, "invalid JSON"},
        {"[1,2]", MG_ERR_FORMAT, "not an object"},
        {"{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":{}}]}]}", MG_ERR_FORMAT,
         "meshes[0].primitives[0] has no 'POSITION'"},
        {"{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":3}}]}]}",
         MG_ERR_FORMAT, "refers to accessors[3], but the file has 0 accessors"},
        {"{\"asset\":{\"version\":\"2.0\"},\"scene\":0,\"scenes\":[{\"nodes\":[0]}],\"nodes\":[{\"children\":[0]}]}",
         MG_ERR_FORMAT, "nodes[0] is reached twice"},
        {"{\"asset\":{\"version\":\"2.0\"},\"scenes\":[{\"nodes\":[0]}],\"nodes\":[{\"children\":[1]},{\"children\":[0]}]}",
         MG_ERR_FORMAT, "reached twice"},
        {"{\"asset\":{\"version\":\"2.0\"},\"scenes\":[{\"nodes\":[4]}]}", MG_ERR_FORMAT, "does not exist"},
        {"{\"asset\":{\"version\":\"2.0\"},\"scenes\":[{\"nodes\":[]}]}", MG_ERR_FORMAT, "no faces"},
        {"{\"asset\":{\"version\":\"2.0\"},\"nodes\":[{\"mesh\":0,\"translation\":[1,0]}],\"scenes\":[{\"nodes\":[0]}]}",
         MG_ERR_FORMAT, "nodes[0]: 'translation' must be an array of 3 numbers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(read_text(cases[i].json, MG_MESH_FORMAT_GLTF, 0, &m), cases[i].status, cases[i].fragment);

    /* Offsets and counts that do not fit the bytes present. */
    struct { const char *accessors; const char *fragment; } layout[] = {
        {SQUARE_ACCESSORS "\"buffers\":[{\"byteLength\":61}]}", "byteLength is 61 but only 60 bytes are there"},
        {"\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":5,\"type\":\"VEC3\"},"
         "{\"bufferView\":1,\"componentType\":5123,\"count\":6,\"type\":\"SCALAR\"}],"
         "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":48,\"byteLength\":12}],"
         "\"buffers\":[{\"byteLength\":60}]}", "accessors[0]: 5 elements at byteOffset 0 do not fit in bufferViews[0]"},
        {"\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":4,\"type\":\"VEC3\"},"
         "{\"bufferView\":1,\"componentType\":5123,\"count\":6,\"type\":\"SCALAR\"}],"
         "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":52,\"byteLength\":12}],"
         "\"buffers\":[{\"byteLength\":60}]}", "bufferViews[1]: bytes 52 to 64 are past the end"},
        {"\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":3,\"type\":\"VEC3\"},"
         "{\"bufferView\":1,\"componentType\":5123,\"count\":6,\"type\":\"SCALAR\"}],"
         "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":48,\"byteLength\":12}],"
         "\"buffers\":[{\"byteLength\":60}]}", "index 3 is out of range (the POSITION accessor has 3 vertices)"},
        {"\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":4,\"type\":\"VEC3\"},"
         "{\"bufferView\":1,\"componentType\":5123,\"count\":5,\"type\":\"SCALAR\"}],"
         "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":48,\"byteLength\":12}],"
         "\"buffers\":[{\"byteLength\":60}]}", "has 5 indices, not a multiple of 3"},
        {"\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1}]}],"
         "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":4,\"type\":\"VEC3\"},"
         "{\"bufferView\":1,\"componentType\":5123,\"count\":-6,\"type\":\"SCALAR\"}],"
         "\"bufferViews\":[{\"buffer\":0,\"byteLength\":48},{\"buffer\":0,\"byteOffset\":48,\"byteLength\":12}],"
         "\"buffers\":[{\"byteLength\":60}]}", "accessors[1]: 'count' must be a whole number"},
    };
    for (size_t i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        snprintf(json, sizeof json, "{\"asset\":{\"version\":\"2.0\"},%s", layout[i].accessors);
        bytes glb = {0};
        make_glb(&glb, json, &bin);
        expect_error(read_bytes(glb.data, glb.size, MG_MESH_FORMAT_GLB, &m), MG_ERR_FORMAT, layout[i].fragment);
    }
    /* Quantized positions (KHR_mesh_quantization) are valid glTF but not read. */
    bytes quantized = {0};
    make_glb(&quantized, "{\"asset\":{\"version\":\"2.0\"},\"meshes\":[{\"primitives\":[{\"attributes\":"
             "{\"POSITION\":0}}]}],\"accessors\":[{\"bufferView\":0,\"componentType\":5123,\"count\":4,"
             "\"type\":\"VEC3\"}],\"bufferViews\":[{\"buffer\":0,\"byteLength\":48}],"
             "\"buffers\":[{\"byteLength\":60}]}", &bin);
    expect_error(read_bytes(quantized.data, quantized.size, MG_MESH_FORMAT_GLB, &m), MG_ERR_UNSUPPORTED,
                 "POSITION must be float VEC3");
    cr_assert_null(m.vertices);
}

Test(mesh_gltf, truncated_glb)
{
    bytes bin = {0}, glb = {0};
    square_bin(&bin);
    make_glb(&glb, "{\"asset\":{\"version\":\"2.0\"}," SQUARE_ACCESSORS "\"buffers\":[{\"byteLength\":60}]}", &bin);
    mg_mesh m;
    for (size_t cut = 0; cut < glb.size; cut++) {
        mg_status status = read_bytes(glb.data, cut, MG_MESH_FORMAT_GLB, &m);
        cr_assert_eq(status, MG_ERR_FORMAT, "cut at %zu: %s (%s)", cut, mg_status_string(status), error);
    }
    expect_error(read_bytes(glb.data, glb.size - 1, MG_MESH_FORMAT_GLB, &m), MG_ERR_FORMAT,
                 "(memory): byte 0: the GLB header says");
    /* A BIN chunk that claims more than there is. */
    bytes lie = glb;
    size_t json_length = lie.data[12] | (size_t)lie.data[13] << 8;
    lie.data[20 + json_length] = 0xff;
    lie.data[20 + json_length + 1] = 0xff;
    expect_error(read_bytes(lie.data, lie.size, MG_MESH_FORMAT_GLB, &m), MG_ERR_FORMAT,
                 "the BIN chunk (65535 bytes) runs past the end");
}

/* ---- files, formats and round trips ---- */

/* Awkward floats: every writer must give them back bit for bit (text ones through %.9g). */
static const float awkward[] = {1.0f / 3, -0.0f, 1e-7f, 123456.789f, -2.5e-38f, 3.4e38f,
                                0.1f, 0.2f, 0.3f, -1, 1, 16777217.0f,
                                3.14159274f, 2.71828175f, 1e-45f};

Test(mesh_files, round_trip_through_every_writer)
{
    make_folder();
    const int32_t tris[] = {0, 1, 2, 2, 3, 4, 0, 2, 4};
    const int32_t quads[] = {0, 1, 2, 3, 1, 2, 3, 4};
    struct { const char *name; mg_mesh_format format; bool keeps_quads, keeps_unused; } formats[] = {
        {"a.obj", MG_MESH_FORMAT_OBJ, true, true},        {"a.ply", MG_MESH_FORMAT_PLY, true, true},
        {"b.ply", MG_MESH_FORMAT_PLY_ASCII, true, true},  {"a.stl", MG_MESH_FORMAT_STL, false, false},
        {"b.stl", MG_MESH_FORMAT_STL_ASCII, false, false}, {"a.gltf", MG_MESH_FORMAT_GLTF, false, true},
        {"a.glb", MG_MESH_FORMAT_GLB, false, true},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        for (int quad = 0; quad < 2; quad++) {
            mg_mesh mesh = {.vertices = (float *)awkward, .num_vertices = 5, .faces = (int32_t *)(quad ? quads : tris),
                            .num_faces = quad ? 2 : 3, .face_size = quad ? 4 : 3};
            const char *path = file_in_folder(formats[i].name);
            cr_assert_eq(mg_mesh_write(path, &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error), MG_OK, "%s: %s",
                         formats[i].name, error);
            mg_mesh_read_params params = mg_mesh_read_default_params();
            params.polygons = MG_POLYGONS_AS_IS;
            mg_mesh back;
            expect_ok(mg_mesh_read(path, &params, &back, error, sizeof error));
            cr_assert_eq(back.num_vertices, 5, "%s", formats[i].name);
            cr_assert(memcmp(back.vertices, awkward, 15 * sizeof(float)) == 0, "%s: coordinates changed",
                      formats[i].name);
            if (!quad || formats[i].keeps_quads) {
                cr_assert_eq(back.face_size, mesh.face_size, "%s", formats[i].name);
                cr_assert_eq(back.num_faces, mesh.num_faces, "%s", formats[i].name);
                cr_assert_arr_eq(back.faces, mesh.faces, mesh.num_faces * mesh.face_size * sizeof(int32_t), "%s",
                                 formats[i].name);
            } else {
                /* Triangle-only formats split quads along the 0-2 diagonal. */
                const int32_t split[] = {0, 1, 2, 0, 2, 3, 1, 2, 3, 1, 3, 4};
                cr_assert_eq(back.face_size, 3, "%s", formats[i].name);
                cr_assert_eq(back.num_faces, 4, "%s", formats[i].name);
                cr_assert_arr_eq(back.faces, split, sizeof split, "%s", formats[i].name);
            }
            mg_mesh_free(&back);
        }
        /* No temporary file is left behind. */
        cr_assert_eq(folder_entries(), i + 1);
    }
    remove_folder();
}

Test(mesh_files, masked_faces_are_skipped_and_unused_vertices_kept)
{
    make_folder();
    const int32_t faces[] = {0, 1, 2, 1, 2, 3, 2, 3, 4};
    uint8_t mask[] = {1, 0, 1};
    float vertices[18];
    memcpy(vertices, awkward, 15 * sizeof(float));
    vertices[15] = NAN, vertices[16] = NAN, vertices[17] = NAN;  /* a decoded mesh's invalid corner */
    mg_mesh mesh = {.vertices = vertices, .num_vertices = 6, .faces = (int32_t *)faces, .num_faces = 3,
                    .face_size = 3, .face_mask = mask};
    const char *names[] = {"m.obj", "m.ply", "m.glb"};
    for (int i = 0; i < 3; i++) {
        const char *path = file_in_folder(names[i]);
        expect_ok(mg_mesh_write(path, &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error));
        mg_mesh back;
        expect_ok(mg_mesh_read(path, NULL, &back, error, sizeof error));
        const int32_t kept[] = {0, 1, 2, 2, 3, 4};
        cr_assert_eq(back.num_vertices, 6, "%s", names[i]);
        cr_assert(isnan(back.vertices[15]), "%s", names[i]);
        cr_assert_eq(back.num_faces, 2, "%s", names[i]);
        cr_assert_arr_eq(back.faces, kept, sizeof kept, "%s", names[i]);
        mg_mesh_free(&back);
    }
    remove_folder();
}

Test(mesh_files, formats_from_extension_and_content)
{
    make_folder();
    const char *obj = "v 0 0 0\nv 1 0 0\nv 1 1 0\nf 1 2 3\n";
    /* Upper-case extension. */
    mg_mesh m;
    expect_ok(mg_mesh_read(write_file("TRI.OBJ", obj, strlen(obj)), NULL, &m, error, sizeof error));
    cr_assert_eq(m.num_faces, 1);
    mg_mesh_free(&m);
    /* An unknown extension: the content decides. */
    expect_ok(mg_mesh_read(write_file("tri.txt", obj, strlen(obj)), NULL, &m, error, sizeof error));
    cr_assert_eq(m.num_faces, 1);
    mg_mesh_free(&m);
    bytes b = {0};
    binary_stl(&b, "", 2);
    expect_ok(mg_mesh_read(write_file("two.bin", b.data, b.size), NULL, &m, error, sizeof error));
    cr_assert_eq(m.num_faces, 2);
    mg_mesh_free(&m);
    /* A GLB saved as .gltf is still read. */
    bytes bin = {0}, glb = {0};
    square_bin(&bin);
    make_glb(&glb, "{\"asset\":{\"version\":\"2.0\"}," SQUARE_ACCESSORS "\"buffers\":[{\"byteLength\":60}]}", &bin);
    expect_ok(mg_mesh_read(write_file("square.gltf", glb.data, glb.size), NULL, &m, error, sizeof error));
    cr_assert_eq(m.num_faces, 2);
    mg_mesh_free(&m);

    const char *unknown = write_file("notes.xyz", "hello world\n", 12);
    expect_error(mg_mesh_read(unknown, NULL, &m, error, sizeof error), MG_ERR_FORMAT, "unknown mesh format");
    cr_assert(strstr(error, "notes.xyz"));
    expect_error(read_text("hello world\n", MG_MESH_FORMAT_AUTO, 0, &m), MG_ERR_FORMAT,
                 "name the format in the read parameters");
    remove_folder();
}

Test(mesh_files, io_and_argument_errors)
{
    make_folder();
    mg_mesh m;
    expect_error(mg_mesh_read(file_in_folder("missing.obj"), NULL, &m, error, sizeof error), MG_ERR_IO,
                 "No such file or directory");
    cr_assert(strstr(error, "missing.obj"));
    expect_error(mg_mesh_read(folder, NULL, &m, error, sizeof error), MG_ERR_IO, "is a folder");
    cr_assert_eq(mg_mesh_read(NULL, NULL, &m, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_mesh_read_memory(NULL, 3, NULL, &m, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.polygons = (mg_polygon_mode)7;
    expect_error(mg_mesh_read_memory("v", 1, &params, &m, error, sizeof error), MG_ERR_INVALID_ARGUMENT,
                 "polygon mode");

    const int32_t faces[] = {0, 1, 2};
    const int32_t bad_faces[] = {0, 1, 3};
    mg_mesh mesh = {.vertices = (float *)awkward, .num_vertices = 3, .faces = (int32_t *)faces, .num_faces = 1,
                    .face_size = 3};
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/folder/out.obj", folder);
    expect_error(mg_mesh_write(path, &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error), MG_ERR_IO,
                 "No such file or directory");
    cr_assert(strstr(error, "/no/such/folder/out.obj"), "%s", error);
    expect_error(mg_mesh_write(file_in_folder("out.fbx"), &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT, "cannot tell the mesh format");
    mesh.faces = (int32_t *)bad_faces;
    expect_error(mg_mesh_write(file_in_folder("out.obj"), &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT, "face 0 has vertex index 3, but the mesh has 3 vertices");
    mesh.faces = (int32_t *)faces;
    mesh.face_size = 5;
    expect_error(mg_mesh_write(file_in_folder("out.obj"), &mesh, MG_MESH_FORMAT_AUTO, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT, "face_size is 5");
    cr_assert_eq(folder_entries(), 0);
    /* A format named explicitly wins over the extension. */
    mesh.face_size = 3;
    expect_ok(mg_mesh_write(file_in_folder("out.fbx"), &mesh, MG_MESH_FORMAT_STL, error, sizeof error));
    size_t size;
    unsigned char *data = load_file(file_in_folder("out.fbx"), &size);
    cr_assert_eq(size, 84 + 50);
    free(data);
    remove_folder();
}

/* ---- the sample meshes in assets/meshes ---- */

Test(mesh_files, sample_meshes)
{
    struct { const char *name; size_t vertices, faces; uint32_t face_size; } samples[] = {
        {"cube.obj", 8, 12, 3},  {"tetrahedron.ply", 4, 4, 3}, {"cone.stl", 18, 32, 3},
        {"table.obj", 40, 30, 4}, {"grid.obj", 25, 16, 4},     {"octahedron.glb", 6, 8, 3},
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char relative[128];
        snprintf(relative, sizeof relative, "../../assets/meshes/%s", samples[i].name);
        mg_mesh_read_params params = mg_mesh_read_default_params();
        params.polygons = MG_POLYGONS_AS_IS;
        mg_mesh m;
        expect_ok(mg_mesh_read(test_fixture_path(relative), &params, &m, error, sizeof error));
        cr_assert_eq(m.num_vertices, samples[i].vertices, "%s: %zu vertices", samples[i].name, m.num_vertices);
        cr_assert_eq(m.num_faces, samples[i].faces, "%s: %zu faces", samples[i].name, m.num_faces);
        cr_assert_eq(m.face_size, samples[i].face_size, "%s", samples[i].name);
        for (size_t k = 0; k < 3 * m.num_vertices; k++)
            cr_assert(isfinite(m.vertices[k]) && fabsf(m.vertices[k]) <= 1.0f, "%s", samples[i].name);
        mg_mesh_free(&m);
    }
}
