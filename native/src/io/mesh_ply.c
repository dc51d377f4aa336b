/*
 * PLY (Stanford polygon files): ascii, binary_little_endian and
 * binary_big_endian. The vertex element's x, y, z (any scalar type) among any
 * other properties; the face element's list "vertex_indices" or
 * "vertex_index" with any count and index types; other elements are skipped.
 * Binary counts are checked against the bytes present before anything is
 * allocated from them.
 */
#include "io/mesh_formats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum ply_type { PLY_NONE, PLY_I8, PLY_U8, PLY_I16, PLY_U16, PLY_I32, PLY_U32, PLY_F32, PLY_F64 } ply_type;

typedef struct ply_property {
    const char *name;
    ply_type type;        /* scalar type, or the item type of a list */
    ply_type count_type;  /* PLY_NONE for scalars */
} ply_property;

typedef struct ply_element {
    const char *name;
    uint64_t count;
    ply_property *props;
    size_t num_props;
} ply_element;

typedef enum ply_encoding { PLY_ASCII, PLY_LITTLE, PLY_BIG } ply_encoding;

typedef struct ply_file {
    mg_mesh_reader *r;
    char *header;           /* private copy, cut into tokens */
    ply_element *elements;
    size_t num_elements;
    ply_encoding encoding;
    const unsigned char *data;  /* the whole file */
    size_t size, pos;           /* pos: next byte of the body */
    size_t line;                /* ascii: current line */
    int32_t *corners;
    size_t corner_capacity;
} ply_file;

static size_t type_size(ply_type t)
{
    static const size_t sizes[] = {0, 1, 1, 2, 2, 4, 4, 4, 8};
    return sizes[t];
}

static ply_type parse_type(const char *name)
{
    static const struct { const char *name; ply_type type; } names[] = {
        {"char", PLY_I8},     {"int8", PLY_I8},     {"uchar", PLY_U8},    {"uint8", PLY_U8},
        {"short", PLY_I16},   {"int16", PLY_I16},   {"ushort", PLY_U16},  {"uint16", PLY_U16},
        {"int", PLY_I32},     {"int32", PLY_I32},   {"uint", PLY_U32},    {"uint32", PLY_U32},
        {"float", PLY_F32},   {"float32", PLY_F32}, {"double", PLY_F64},  {"float64", PLY_F64},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].type;
    return PLY_NONE;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Next whitespace-separated word of a header line (cut in place), or NULL. */
static char *next_word(char **cursor)
{
    char *p = *cursor;
    while (*p && is_space(*p))
        p++;
    if (!*p)
        return NULL;
    char *word = p;
    while (*p && !is_space(*p))
        p++;
    if (*p)
        *p++ = '\0';
    *cursor = p;
    return word;
}

static void free_ply(ply_file *f)
{
    for (size_t i = 0; i < f->num_elements; i++)
        free(f->elements[i].props);
    free(f->elements);
    free(f->header);
    free(f->corners);
}

static mg_status header_line(ply_file *f, char *line)
{
    mg_mesh_reader *r = f->r;
    char *cursor = line;
    char *word = next_word(&cursor);
    if (!word || strcmp(word, "comment") == 0 || strcmp(word, "obj_info") == 0)
        return MG_OK;
    if (strcmp(word, "format") == 0) {
        char *encoding = next_word(&cursor), *version = next_word(&cursor);
        if (!encoding || !version)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the format line needs an encoding and a version");
        if (strcmp(encoding, "ascii") == 0)
            f->encoding = PLY_ASCII;
        else if (strcmp(encoding, "binary_little_endian") == 0)
            f->encoding = PLY_LITTLE;
        else if (strcmp(encoding, "binary_big_endian") == 0)
            f->encoding = PLY_BIG;
        else
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "unknown PLY encoding '%.40s' (ascii, "
                                       "binary_little_endian or binary_big_endian)", encoding);
        if (strncmp(version, "1.", 2) != 0 && strcmp(version, "1") != 0)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "PLY version %.20s is not supported (only 1.0)", version);
        return MG_OK;
    }
    if (strcmp(word, "element") == 0) {
        char *name = next_word(&cursor), *count = next_word(&cursor);
        if (!name || !count)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "an element line needs a name and a count");
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(count, &end, 10);
        if (*end || end == count || count[0] == '-' || errno == ERANGE)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "element count '%.40s' is not a whole number", count);
        ply_element *bigger = realloc(f->elements, (f->num_elements + 1) * sizeof *bigger);
        if (!bigger)
            return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        f->elements = bigger;
        f->elements[f->num_elements++] = (ply_element){.name = name, .count = n};
        return MG_OK;
    }
    if (strcmp(word, "property") == 0) {
        if (f->num_elements == 0)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a property comes before any element");
        ply_property prop = {0};
        char *type = next_word(&cursor);
        if (type && strcmp(type, "list") == 0) {
            char *count_type = next_word(&cursor);
            type = next_word(&cursor);
            prop.count_type = count_type ? parse_type(count_type) : PLY_NONE;
            if (prop.count_type == PLY_NONE || prop.count_type == PLY_F32 || prop.count_type == PLY_F64)
                return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a list's count type must be an integer type, not "
                                           "'%.40s'", count_type ? count_type : "");
        }
        prop.type = type ? parse_type(type) : PLY_NONE;
        prop.name = next_word(&cursor);
        if (prop.type == PLY_NONE || !prop.name)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a property line needs a known type (char, uchar, short, "
                                       "ushort, int, uint, float, double or their sized names) and a name");
        ply_element *e = &f->elements[f->num_elements - 1];
        ply_property *bigger = realloc(e->props, (e->num_props + 1) * sizeof *bigger);
        if (!bigger)
            return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        e->props = bigger;
        e->props[e->num_props++] = prop;
        return MG_OK;
    }
    return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "unknown header line starting with '%.40s'", word);
}

/* Parses the header; f->pos is left at the first byte of the body. */
static mg_status parse_header(ply_file *f)
{
    mg_mesh_reader *r = f->r;
    r->where_kind = MG_WHERE_LINE;
    r->where = 1;
    if (f->size < 4 || memcmp(f->data, "ply", 3) != 0 ||
        (f->data[3] != '\n' && !(f->data[3] == '\r' && f->size > 4 && f->data[4] == '\n')))
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "not a PLY file (it must start with a 'ply' line)");
    /* The header ends at the line "end_header". */
    size_t end = 0, body = 0;
    for (size_t pos = 0; pos < f->size;) {
        const unsigned char *nl = memchr(f->data + pos, '\n', f->size - pos);
        size_t line_end = nl ? (size_t)(nl - f->data) : f->size;
        size_t n = line_end - pos;
        while (n > 0 && is_space((char)f->data[pos + n - 1]))
            n--;
        if (n == 10 && memcmp(f->data + pos, "end_header", 10) == 0) {
            end = pos;
            body = nl ? line_end + 1 : f->size;
            break;
        }
        pos = line_end + 1;
    }
    if (body == 0)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header has no 'end_header' line");
    if (memchr(f->data, '\0', end))
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header contains a NUL byte (binary data before "
                                   "'end_header'?)");
    f->header = malloc(end + 1);
    if (!f->header)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(f->header, f->data, end);
    f->header[end] = '\0';
    f->encoding = (ply_encoding)-1;
    /* Skip the "ply" line (the header holds at least its newline: end_header starts a later line). */
    char *line = strchr(f->header, '\n');
    if (!line)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header has no 'end_header' line");
    line++;
    r->where = 2;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        mg_status status = header_line(f, line);
        if (status != MG_OK)
            return status;
        if (!nl)
            break;
        line = nl + 1;
        r->where++;
    }
    if ((int)f->encoding == -1)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header has no 'format' line");
    f->pos = body;
    f->line = r->where + 1;
    return MG_OK;
}

/* ---- reading values ---- */

static double binary_value(const unsigned char *p, ply_type t, bool big)
{
    uint32_t u32;
    switch (t) {
    case PLY_I8: return (int8_t)p[0];
    case PLY_U8: return p[0];
    case PLY_I16: return (int16_t)(big ? mg_load_u16be(p) : mg_load_u16le(p));
    case PLY_U16: return big ? mg_load_u16be(p) : mg_load_u16le(p);
    case PLY_I32: return (int32_t)(big ? mg_load_u32be(p) : mg_load_u32le(p));
    case PLY_U32: return big ? mg_load_u32be(p) : mg_load_u32le(p);
    case PLY_F32: {
        u32 = big ? mg_load_u32be(p) : mg_load_u32le(p);
        float v;
        memcpy(&v, &u32, 4);
        return v;
    }
    case PLY_F64: {
        uint64_t hi = big ? mg_load_u32be(p) : mg_load_u32le(p + 4);
        uint64_t lo = big ? mg_load_u32be(p + 4) : mg_load_u32le(p);
        uint64_t bits = (hi << 32) | lo;
        double v;
        memcpy(&v, &bits, 8);
        return v;
    }
    default: return 0;
    }
}

/* Reads one value of type t at the cursor. */
static mg_status read_value(ply_file *f, ply_type t, const char *what, double *out)
{
    mg_mesh_reader *r = f->r;
    if (f->encoding != PLY_ASCII) {
        size_t n = type_size(t);
        r->where_kind = MG_WHERE_BYTE;
        r->where = f->pos;
        if (n > f->size - f->pos)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the file ends in the middle of %s", what);
        *out = binary_value(f->data + f->pos, t, f->encoding == PLY_BIG);
        f->pos += n;
        return MG_OK;
    }
    /* ascii: skip whitespace, counting lines. */
    while (f->pos < f->size && is_space((char)f->data[f->pos])) {
        if (f->data[f->pos] == '\n')
            f->line++;
        f->pos++;
    }
    r->where_kind = MG_WHERE_LINE;
    r->where = f->line;
    if (f->pos >= f->size)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the file ends before %s", what);
    char token[64];
    size_t n = 0;
    while (f->pos + n < f->size && !is_space((char)f->data[f->pos + n]) && n < sizeof token - 1) {
        token[n] = (char)f->data[f->pos + n];
        n++;
    }
    token[n] = '\0';
    if (f->pos + n < f->size && !is_space((char)f->data[f->pos + n]))
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'%.40s...' is too long to be a number", token);
    char *end = NULL;
    errno = 0;
    if (t == PLY_F32) {
        *out = strtof(token, &end);
    } else if (t == PLY_F64) {
        *out = strtod(token, &end);
    } else {
        long long v = strtoll(token, &end, 10);
        if (errno == ERANGE || v < -(1LL << 53) || v > (1LL << 53))
            end = token;
        *out = (double)v;
    }
    if (end == token || *end || token[0] == '\0')
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "'%s' is not a valid %s for %s", token,
                                   t == PLY_F32 || t == PLY_F64 ? "number" : "whole number", what);
    f->pos += n;
    return MG_OK;
}

/* Reads a list count: a whole number from 0 to `max`. */
static mg_status read_count(ply_file *f, ply_type t, const char *what, uint64_t *out)
{
    double v;
    mg_status status = read_value(f, t, what, &v);
    if (status != MG_OK)
        return status;
    if (v < 0)
        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "%s is negative (%.0f)", what, v);
    *out = (uint64_t)v;
    return MG_OK;
}

/* The fewest bytes one entry of `e` occupies in a binary body (lists counted as empty). */
static uint64_t min_entry_bytes(const ply_element *e)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < e->num_props; i++)
        bytes += type_size(e->props[i].count_type != PLY_NONE ? e->props[i].count_type : e->props[i].type);
    return bytes;
}

static mg_status check_count_fits(ply_file *f, const ply_element *e)
{
    if (f->encoding == PLY_ASCII || e->count == 0)
        return MG_OK;
    uint64_t per_entry = min_entry_bytes(e);
    uint64_t left = f->size - f->pos;
    if (per_entry > 0 && e->count > left / per_entry) {
        f->r->where_kind = MG_WHERE_BYTE;
        f->r->where = f->pos;
        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "the header says %llu '%.40s' entries, which need at "
                                   "least %llu bytes each, but only %llu bytes are left", (unsigned long long)e->count,
                                   e->name, (unsigned long long)per_entry, (unsigned long long)left);
    }
    return MG_OK;
}

/* ---- elements ---- */

static mg_status skip_element(ply_file *f, const ply_element *e)
{
    bool fixed = true;
    for (size_t i = 0; i < e->num_props; i++)
        fixed = fixed && e->props[i].count_type == PLY_NONE;
    if (e->num_props == 0)
        return MG_OK;
    if (f->encoding != PLY_ASCII && fixed) {
        /* check_count_fits made sure count * size bytes are there. */
        f->pos += (size_t)(e->count * min_entry_bytes(e));
        return MG_OK;
    }
    for (uint64_t k = 0; k < e->count; k++) {
        for (size_t i = 0; i < e->num_props; i++) {
            const ply_property *p = &e->props[i];
            uint64_t items = 1;
            double ignored;
            mg_status status;
            if (p->count_type != PLY_NONE) {
                status = read_count(f, p->count_type, "a list count", &items);
                if (status != MG_OK)
                    return status;
                if (f->encoding != PLY_ASCII) {
                    uint64_t bytes_left = f->size - f->pos;
                    if (items > bytes_left / type_size(p->type))
                        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "a list of %llu items does not fit in the "
                                                   "%llu bytes left", (unsigned long long)items,
                                                   (unsigned long long)bytes_left);
                    f->pos += (size_t)(items * type_size(p->type));
                    continue;
                }
            }
            for (uint64_t j = 0; j < items; j++) {
                status = read_value(f, p->type, "a property value", &ignored);
                if (status != MG_OK)
                    return status;
            }
        }
    }
    return MG_OK;
}

static mg_status read_vertices(ply_file *f, const ply_element *e)
{
    int xyz[3] = {-1, -1, -1};
    static const char *axis[3] = {"x", "y", "z"};
    for (size_t i = 0; i < e->num_props; i++)
        for (int a = 0; a < 3; a++)
            if (strcmp(e->props[i].name, axis[a]) == 0) {
                if (e->props[i].count_type != PLY_NONE)
                    return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "the vertex property '%s' is a list, not a "
                                               "number", axis[a]);
                xyz[a] = (int)i;
            }
    for (int a = 0; a < 3; a++)
        if (xyz[a] < 0)
            return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "the vertex element has no '%s' property", axis[a]);
    if (e->count > MG_MESH_MAX_COUNT)
        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "%llu vertices: meshes are limited to 2^31-1",
                                   (unsigned long long)e->count);
    mg_status status = check_count_fits(f, e);
    /* In ascii the count is only trusted as far as the text goes. */
    if (status == MG_OK && f->encoding != PLY_ASCII)
        status = mg_mesh_reader_reserve_vertices(f->r, (size_t)e->count);
    for (uint64_t k = 0; k < e->count && status == MG_OK; k++) {
        double values[3] = {0, 0, 0};
        for (size_t i = 0; i < e->num_props && status == MG_OK; i++) {
            const ply_property *p = &e->props[i];
            if (p->count_type != PLY_NONE) {
                uint64_t items = 0;
                status = read_count(f, p->count_type, "a list count", &items);
                double ignored;
                for (uint64_t j = 0; j < items && status == MG_OK; j++)
                    status = read_value(f, p->type, "a vertex list value", &ignored);
                continue;
            }
            double v = 0;
            status = read_value(f, p->type, "a vertex property", &v);
            for (int a = 0; a < 3; a++)
                if ((int)i == xyz[a])
                    values[a] = v;
        }
        if (status == MG_OK)
            status = mg_mesh_reader_add_vertex(f->r, (float)values[0], (float)values[1], (float)values[2]);
    }
    return status;
}

static mg_status read_faces(ply_file *f, const ply_element *e, uint64_t vertex_count)
{
    int list = -1;
    for (size_t i = 0; i < e->num_props; i++)
        if (strcmp(e->props[i].name, "vertex_indices") == 0 || strcmp(e->props[i].name, "vertex_index") == 0)
            list = (int)i;
    if (list < 0 || e->props[list].count_type == PLY_NONE)
        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "the face element has no 'vertex_indices' list");
    if (e->count > MG_MESH_MAX_COUNT)
        return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "%llu faces: meshes are limited to 2^31-1",
                                   (unsigned long long)e->count);
    mg_status status = check_count_fits(f, e);
    for (uint64_t k = 0; k < e->count && status == MG_OK; k++) {
        for (size_t i = 0; i < e->num_props && status == MG_OK; i++) {
            const ply_property *p = &e->props[i];
            if ((int)i != list) {
                uint64_t items = 1;
                if (p->count_type != PLY_NONE)
                    status = read_count(f, p->count_type, "a list count", &items);
                double ignored;
                for (uint64_t j = 0; j < items && status == MG_OK; j++)
                    status = read_value(f, p->type, "a face property", &ignored);
                continue;
            }
            size_t face_start = f->encoding == PLY_ASCII ? f->line : f->pos;
            uint64_t corners = 0;
            status = read_count(f, p->count_type, "a face's corner count", &corners);
            if (status != MG_OK)
                break;
            if (f->encoding != PLY_ASCII && corners > (f->size - f->pos) / type_size(p->type))
                return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "face %llu claims %llu corners, more than the "
                                           "bytes left hold", (unsigned long long)k, (unsigned long long)corners);
            if (corners > f->corner_capacity) {
                if (corners > MG_MESH_MAX_COUNT)
                    return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "face %llu claims %llu corners",
                                               (unsigned long long)k, (unsigned long long)corners);
                /* Ascii lists grow as their items are read, not from the count. */
                size_t want = f->encoding == PLY_ASCII && corners > 64 ? 64 : (size_t)corners;
                if (want > f->corner_capacity) {
                    int32_t *bigger = realloc(f->corners, want * sizeof *bigger);
                    if (!bigger)
                        return mg_mesh_reader_fail(f->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
                    f->corners = bigger;
                    f->corner_capacity = want;
                }
            }
            for (uint64_t j = 0; j < corners && status == MG_OK; j++) {
                double v;
                status = read_value(f, p->type, "a face's vertex index", &v);
                if (status != MG_OK)
                    break;
                if (!(v >= 0 && v < (double)vertex_count) || v != floor(v))
                    return mg_mesh_reader_fail(f->r, MG_ERR_FORMAT, "face %llu: vertex index %.17g is out of range "
                                               "(the file has %llu vertices)", (unsigned long long)k, v,
                                               (unsigned long long)vertex_count);
                if (j == f->corner_capacity) {
                    int32_t *bigger = realloc(f->corners, 2 * f->corner_capacity * sizeof *bigger);
                    if (!bigger)
                        return mg_mesh_reader_fail(f->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
                    f->corners = bigger;
                    f->corner_capacity *= 2;
                }
                f->corners[j] = (int32_t)v;
            }
            if (status == MG_OK) {
                f->r->where = face_start;
                status = mg_mesh_reader_add_polygon(f->r, f->corners, (size_t)corners);
            }
        }
    }
    return status;
}

mg_status mg_mesh_read_ply(mg_mesh_reader *r, const unsigned char *data, size_t size)
{
    ply_file f = {.r = r, .data = data, .size = size};
    mg_status status = parse_header(&f);
    const ply_element *vertex = NULL, *face = NULL;
    for (size_t i = 0; i < f.num_elements && status == MG_OK; i++) {
        const ply_element *e = &f.elements[i];
        if (strcmp(e->name, "vertex") == 0 && !vertex)
            vertex = e;
        else if (strcmp(e->name, "face") == 0 && !face)
            face = e;
    }
    if (status == MG_OK && !vertex)
        status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header declares no 'vertex' element");
    if (status == MG_OK && !face)
        status = mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the header declares no 'face' element (a point cloud is "
                                     "not a mesh)");
    for (size_t i = 0; i < f.num_elements && status == MG_OK; i++) {
        const ply_element *e = &f.elements[i];
        if (e == vertex)
            status = read_vertices(&f, e);
        else if (e == face)
            status = read_faces(&f, e, vertex->count);
        else
            if ((status = check_count_fits(&f, e)) == MG_OK)
                status = skip_element(&f, e);
    }
    free_ply(&f);
    return status;
}

/* ---- writing ---- */

void mg_mesh_write_ply(const mg_mesh *mesh, bool ascii, mg_mesh_out *out)
{
    mg_mesh_out_printf(out, "ply\nformat %s 1.0\ncomment written by meshgpt %s\n", ascii ? "ascii" :
                       "binary_little_endian", mg_version());
    mg_mesh_out_printf(out, "element vertex %zu\nproperty float x\nproperty float y\nproperty float z\n",
                       mesh->num_vertices);
    mg_mesh_out_printf(out, "element face %zu\nproperty list uchar int vertex_indices\nend_header\n",
                       mg_mesh_kept_faces(mesh));
    for (size_t v = 0; v < mesh->num_vertices; v++) {
        const float *p = mesh->vertices + 3 * v;
        if (ascii) {
            mg_mesh_out_printf(out, "%.9g %.9g %.9g\n", (double)p[0], (double)p[1], (double)p[2]);
        } else {
            for (int a = 0; a < 3; a++)
                mg_mesh_out_f32le(out, p[a]);
        }
    }
    for (size_t fi = 0; fi < mesh->num_faces; fi++) {
        if (!mg_mesh_face_kept(mesh, fi))
            continue;
        const int32_t *face = mesh->faces + (size_t)mesh->face_size * fi;
        if (ascii) {
            mg_mesh_out_printf(out, "%u", mesh->face_size);
            for (uint32_t c = 0; c < mesh->face_size; c++)
                mg_mesh_out_printf(out, " %d", face[c]);
            mg_mesh_out_printf(out, "\n");
        } else {
            mg_mesh_out_u8(out, (uint8_t)mesh->face_size);
            for (uint32_t c = 0; c < mesh->face_size; c++)
                mg_mesh_out_i32le(out, face[c]);
        }
    }
}
