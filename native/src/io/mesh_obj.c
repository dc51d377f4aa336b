/*
 * Wavefront OBJ: `v x y z [w | r g b]` and `f` with v, v/vt, v//vn or v/vt/vn
 * corners (1-based, or negative = relative to the vertices read so far).
 * Everything else (vt, vn, o, g, s, usemtl, mtllib, l, p, ...) is ignored.
 * Lines may end in CRLF, a trailing backslash continues a line, and '#'
 * starts a comment anywhere.
 */
#include "io/mesh_formats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *skip_blanks(char *p)
{
    while (is_blank(*p))
        p++;
    return p;
}

static int token_length(const char *p)
{
    int n = 0;
    while (p[n] && !is_blank(p[n]) && n < 40)
        n++;
    return n;
}

static mg_status parse_vertex(mg_mesh_reader *r, char *p)
{
    float xyz[3];
    for (int i = 0; i < 3; i++) {
        p = skip_blanks(p);
        if (!*p)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a vertex needs 3 coordinates, this one has %d", i);
        char *end = NULL;
        xyz[i] = strtof(p, &end);
        if (end == p || (*end && !is_blank(*end)))
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'%.*s' is not a number", token_length(p), p);
        p = end;
    }
    /* w or vertex colours may follow: not part of the mesh. */
    return mg_mesh_reader_add_vertex(r, xyz[0], xyz[1], xyz[2]);
}

static mg_status parse_face(mg_mesh_reader *r, char *p, int32_t **corners, size_t *capacity)
{
    size_t count = 0;
    for (;;) {
        p = skip_blanks(p);
        if (!*p)
            break;
        char *end = NULL;
        errno = 0;
        long long index = strtoll(p, &end, 10);
        if (end == p || (*end && *end != '/' && !is_blank(*end)))
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'%.*s' is not a face corner (v, v/vt, v//vn or v/vt/vn)",
                                       token_length(p), p);
        if (errno == ERANGE || index > (long long)MG_MESH_MAX_COUNT || index < -(long long)MG_MESH_MAX_COUNT)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "face index %.*s is out of range (the file has %zu "
                                       "vertices so far)", token_length(p), p, r->num_vertices);
        if (index == 0)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "face index 0 is invalid (OBJ indices start at 1)");
        long long resolved = index > 0 ? index - 1 : (long long)r->num_vertices + index;
        if (resolved < 0 || resolved >= (long long)r->num_vertices)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "face index %lld is out of range (the file has %zu "
                                       "vertices so far)", index, r->num_vertices);
        /* The texture and normal indices after '/' are not needed. */
        while (*end && !is_blank(*end))
            end++;
        p = end;
        if (count == *capacity) {
            size_t cap = *capacity ? *capacity * 2 : 16;
            int32_t *bigger = realloc(*corners, cap * sizeof *bigger);
            if (!bigger)
                return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            *corners = bigger;
            *capacity = cap;
        }
        (*corners)[count++] = (int32_t)resolved;
    }
    return mg_mesh_reader_add_polygon(r, *corners, count);
}

static mg_status parse_line(mg_mesh_reader *r, char *line, int32_t **corners, size_t *capacity)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *p = skip_blanks(line);
    size_t n = 0;
    while (p[n] && !is_blank(p[n]))
        n++;
    if (n == 1 && p[0] == 'v')
        return parse_vertex(r, p + 1);
    if ((n == 1 && p[0] == 'f') || (n == 2 && p[0] == 'f' && p[1] == 'o'))
        return parse_face(r, p + n, corners, capacity);
    return MG_OK;
}

mg_status mg_mesh_read_obj(mg_mesh_reader *r, const unsigned char *data, size_t size)
{
    /* A private NUL-terminated copy: lines are cut in place and strtof needs a terminator. */
    char *text = malloc(size + 1);
    if (!text)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", size + 1);
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    r->where_kind = MG_WHERE_LINE;
    int32_t *corners = NULL;
    size_t capacity = 0;
    mg_status status = MG_OK;
    size_t line_number = 1, pos = 0;
    while (pos < size && status == MG_OK) {
        size_t start = pos, end = pos, physical_lines = 1;
        for (;;) {
            const char *newline = memchr(text + end, '\n', size - end);
            end = newline ? (size_t)(newline - text) : size;
            size_t last = end;
            if (last > start && text[last - 1] == '\r')
                last--;
            if (end < size && last > start && text[last - 1] == '\\') {
                /* A continued line: join it with the next one. */
                text[last - 1] = ' ';
                memset(text + last, ' ', end + 1 - last);
                end++;
                physical_lines++;
                continue;
            }
            break;
        }
        text[end] = '\0';
        r->where = line_number;
        status = parse_line(r, text + start, &corners, &capacity);
        line_number += physical_lines;
        pos = end + 1;
    }
    free(corners);
    free(text);
    return status;
}

void mg_mesh_write_obj(const mg_mesh *mesh, mg_mesh_out *out)
{
    mg_mesh_out_printf(out, "# written by meshgpt %s: %zu vertices, %zu faces\n", mg_version(), mesh->num_vertices,
                       mg_mesh_kept_faces(mesh));
    /* %.9g: enough digits that every float reads back bit for bit. */
    for (size_t v = 0; v < mesh->num_vertices; v++) {
        const float *p = mesh->vertices + 3 * v;
        mg_mesh_out_printf(out, "v %.9g %.9g %.9g\n", (double)p[0], (double)p[1], (double)p[2]);
    }
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!mg_mesh_face_kept(mesh, f))
            continue;
        const int32_t *face = mesh->faces + (size_t)mesh->face_size * f;
        if (mesh->face_size == 4)
            mg_mesh_out_printf(out, "f %d %d %d %d\n", face[0] + 1, face[1] + 1, face[2] + 1, face[3] + 1);
        else
            mg_mesh_out_printf(out, "f %d %d %d\n", face[0] + 1, face[1] + 1, face[2] + 1);
    }
}
