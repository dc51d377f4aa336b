/*
 * glTF 2.0, as .gltf (JSON; buffers as base64 data: URIs or, when read from a
 * path, files next to it) and .glb (JSON chunk + BIN chunk).
 *
 * Read: every triangle primitive (mode 4, the default) of every mesh the nodes
 * of the default scene reach, in node order (depth first), with each node's
 * world transform applied; a file without scenes gives every mesh
 * untransformed. POSITION must be float VEC3 (any byteStride); indices u8,
 * u16 or u32, or none. Sparse accessors and other primitive modes are refused
 * with a message saying so. Every offset and count is checked against the
 * bytes present.
 *
 * Written: one mesh, one node, positions float VEC3 and u32 indices in one
 * buffer; quads are split into two triangles (glTF has only triangles).
 */
#include "io/mesh_formats.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLB_MAGIC 0x46546C67u      /* "glTF" */
#define GLB_CHUNK_JSON 0x4E4F534Au /* "JSON" */
#define GLB_CHUNK_BIN 0x004E4942u  /* "BIN\0" */

enum { GL_BYTE = 5120, GL_UNSIGNED_BYTE = 5121, GL_SHORT = 5122, GL_UNSIGNED_SHORT = 5123,
       GL_UNSIGNED_INT = 5125, GL_FLOAT = 5126 };

typedef struct gltf_buffer {
    unsigned char *owned;       /* decoded data URI or external file */
    const unsigned char *data;
    size_t size;
    bool loaded;
} gltf_buffer;

/* A top-level array indexed once: cJSON arrays are linked lists, and looking
 * items up by index on every reference would be quadratic. */
typedef struct gltf_table {
    const char *name;
    const cJSON **items;
    size_t count;
} gltf_table;

enum { TABLE_ACCESSORS, TABLE_BUFFER_VIEWS, TABLE_BUFFERS, TABLE_MESHES, TABLE_NODES, TABLE_SCENES, TABLE_COUNT };

typedef struct gltf_doc {
    mg_mesh_reader *r;
    const cJSON *root;
    gltf_table tables[TABLE_COUNT];
    const unsigned char *bin;   /* GLB BIN chunk */
    size_t bin_size;
    bool has_bin;
    gltf_buffer *buffers;
    size_t num_buffers;
} gltf_doc;

typedef struct gltf_accessor {
    const unsigned char *base;
    size_t stride, count;
    int component_type;
    const char *type;
} gltf_accessor;

/* ---- JSON helpers ---- */

static const cJSON *member(const cJSON *object, const char *key)
{
    return cJSON_IsObject(object) ? cJSON_GetObjectItemCaseSensitive(object, key) : NULL;
}

/* A whole number in [0, max] under `key`; *present says whether the key exists. */
static mg_status get_whole(gltf_doc *d, const cJSON *object, const char *key, double max, const char *owner,
                           bool *present, size_t *out)
{
    const cJSON *item = member(object, key);
    *present = item != NULL;
    if (!item)
        return MG_OK;
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
    if (!(v >= 0 && v <= max) || v != floor(v))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: '%s' must be a whole number from 0 to %.0f", owner,
                                   key, max);
    *out = (size_t)v;
    return MG_OK;
}

static mg_status require_whole(gltf_doc *d, const cJSON *object, const char *key, double max, const char *owner,
                               size_t *out)
{
    bool present;
    mg_status status = get_whole(d, object, key, max, owner, &present, out);
    if (status == MG_OK && !present)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s has no '%s'", owner, key);
    return status;
}

static mg_status build_tables(gltf_doc *d)
{
    static const char *names[TABLE_COUNT] = {"accessors", "bufferViews", "buffers", "meshes", "nodes", "scenes"};
    for (int t = 0; t < TABLE_COUNT; t++)
        d->tables[t].name = names[t];
    for (int t = 0; t < TABLE_COUNT; t++) {
        gltf_table *table = &d->tables[t];
        const cJSON *array = member(d->root, names[t]);
        if (!array)
            continue;
        if (!cJSON_IsArray(array))
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "'%s' must be an array", names[t]);
        size_t count = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, array)
            count++;
        table->items = malloc((count + 1) * sizeof *table->items);
        if (!table->items)
            return mg_mesh_reader_fail(d->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        cJSON_ArrayForEach(item, array)
            table->items[table->count++] = item;
    }
    return MG_OK;
}

static gltf_table *table_named(gltf_doc *d, const char *name)
{
    for (int t = 0; t < TABLE_COUNT; t++)
        if (strcmp(d->tables[t].name, name) == 0)
            return &d->tables[t];
    return NULL;
}

/* The object at `index` of the top-level array `name`, which `referrer` refers to. */
static mg_status array_item(gltf_doc *d, const char *name, size_t index, const char *referrer, const cJSON **out)
{
    const gltf_table *table = table_named(d, name);
    const cJSON *item = table && index < table->count ? table->items[index] : NULL;
    if (!cJSON_IsObject(item))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s refers to %s[%zu], but the file has %zu %s%s", referrer,
                                   name, index, table ? table->count : 0, name,
                                   item ? " (or that one is not an object)" : "");
    *out = item;
    return MG_OK;
}

/* `count` numbers under `key` (left as they are if the key is absent). */
static mg_status get_numbers(gltf_doc *d, const cJSON *object, const char *key, int count, const char *owner,
                             double *out)
{
    const cJSON *array = member(object, key);
    if (!array)
        return MG_OK;
    if (!cJSON_IsArray(array) || cJSON_GetArraySize(array) != count)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: '%s' must be an array of %d numbers", owner, key, count);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, array) {
        if (!cJSON_IsNumber(item))
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: '%s' must be an array of %d numbers", owner, key,
                                       count);
        out[i++] = item->valuedouble;
    }
    return MG_OK;
}

/* ---- buffers ---- */

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes base64 (padding optional); false on a character outside the alphabet. */
static bool base64_decode(const char *text, size_t length, unsigned char *out, size_t *out_size)
{
    while (length > 0 && text[length - 1] == '=')
        length--;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        int v = base64_value((unsigned char)text[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out_size = n;
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a buffer's external file, relative to the .gltf file's folder. */
static mg_status load_external(gltf_doc *d, const char *owner, const char *uri, gltf_buffer *b)
{
    mg_mesh_reader *r = d->r;
    if (!r->path)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "%s refers to the file '%.200s', which cannot be read when the "
                                   "glTF comes from memory (embed the buffer, or use .glb)", owner, uri);
    if (strstr(uri, "://") || uri[0] == '/')
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "%s: only data: URIs and relative file names are read, not "
                                   "'%.200s'", owner, uri);
    const char *slash = strrchr(r->path, '/');
    size_t dir_length = slash ? (size_t)(slash - r->path) + 1 : 0;
    char *path = malloc(dir_length + strlen(uri) + 1);
    if (!path)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(path, r->path, dir_length);
    size_t n = dir_length;
    for (const char *p = uri; *p; p++) {
        /* URIs escape spaces and other characters as %XX. */
        if (p[0] == '%' && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
            path[n++] = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
            p += 2;
        } else {
            path[n++] = *p;
        }
    }
    path[n] = '\0';
    unsigned char *data = NULL;
    size_t size = 0;
    mg_status status = mg_mesh_read_whole_file(path, &data, &size, r->diag);
    free(path);
    if (status != MG_OK) {
        char cause[MG_ERROR_MESSAGE_MAX];
        mg_diag_copy_error(r->diag, cause, sizeof cause);
        return mg_mesh_reader_fail(r, status, "%s: %s", owner, cause);
    }
    b->owned = data;
    b->data = data;
    b->size = size;
    return MG_OK;
}

static mg_status load_buffer(gltf_doc *d, size_t index, const char *referrer, const gltf_buffer **out)
{
    const cJSON *json;
    mg_status status = array_item(d, "buffers", index, referrer, &json);
    if (status != MG_OK)
        return status;
    gltf_buffer *b = &d->buffers[index];  /* num_buffers is the array's size, so index fits */
    *out = b;
    if (b->loaded)
        return MG_OK;
    char owner[64];
    snprintf(owner, sizeof owner, "buffers[%zu]", index);
    size_t length;
    status = require_whole(d, json, "byteLength", 9007199254740992.0, owner, &length);
    if (status != MG_OK)
        return status;
    const cJSON *uri = member(json, "uri");
    if (!uri) {
        if (!d->has_bin || index != 0)
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s has no 'uri' and is not the BIN chunk of a .glb",
                                       owner);
        b->data = d->bin;
        b->size = d->bin_size;
    } else if (!cJSON_IsString(uri)) {
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: 'uri' must be a string", owner);
    } else if (strncmp(uri->valuestring, "data:", 5) == 0) {
        const char *comma = strchr(uri->valuestring, ',');
        const char *marker = strstr(uri->valuestring, ";base64,");
        if (!comma || marker != comma - 7)
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: a data: URI must be base64 "
                                       "(data:application/octet-stream;base64,...)", owner);
        size_t text_length = strlen(comma + 1);
        b->owned = malloc(text_length / 4 * 3 + 3);
        if (!b->owned)
            return mg_mesh_reader_fail(d->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        if (!base64_decode(comma + 1, text_length, b->owned, &b->size))
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: the data: URI is not valid base64", owner);
        b->data = b->owned;
    } else {
        status = load_external(d, owner, uri->valuestring, b);
        if (status != MG_OK)
            return status;
    }
    if (b->size < length)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: byteLength is %zu but only %zu bytes are there", owner,
                                   length, b->size);
    b->size = length;
    b->loaded = true;
    return MG_OK;
}

/* ---- accessors ---- */

static size_t component_size(int type)
{
    switch (type) {
    case GL_BYTE: case GL_UNSIGNED_BYTE: return 1;
    case GL_SHORT: case GL_UNSIGNED_SHORT: return 2;
    case GL_UNSIGNED_INT: case GL_FLOAT: return 4;
    default: return 0;
    }
}

static int type_components(const char *type)
{
    static const struct { const char *name; int n; } types[] = {
        {"SCALAR", 1}, {"VEC2", 2}, {"VEC3", 3}, {"VEC4", 4}, {"MAT2", 4}, {"MAT3", 9}, {"MAT4", 16}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].name) == 0)
            return types[i].n;
    return 0;
}

static mg_status load_accessor(gltf_doc *d, size_t index, const char *referrer, gltf_accessor *out)
{
    const cJSON *json;
    mg_status status = array_item(d, "accessors", index, referrer, &json);
    if (status != MG_OK)
        return status;
    char owner[64];
    snprintf(owner, sizeof owner, "accessors[%zu]", index);
    if (member(json, "sparse"))
        return mg_mesh_reader_fail(d->r, MG_ERR_UNSUPPORTED, "%s is a sparse accessor; sparse accessors are not "
                                   "supported (export the mesh without them)", owner);
    size_t component, count, offset = 0, view_index = 0;
    bool has_offset, has_view;
    if ((status = require_whole(d, json, "componentType", 1e9, owner, &component)) != MG_OK ||
        (status = require_whole(d, json, "count", (double)MG_MESH_MAX_COUNT, owner, &count)) != MG_OK ||
        (status = get_whole(d, json, "byteOffset", 9007199254740992.0, owner, &has_offset, &offset)) != MG_OK ||
        (status = get_whole(d, json, "bufferView", 1e9, owner, &has_view, &view_index)) != MG_OK)
        return status;
    const cJSON *type = member(json, "type");
    int components = cJSON_IsString(type) ? type_components(type->valuestring) : 0;
    if (!components)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: 'type' must be SCALAR, VEC2, VEC3, VEC4 or MAT2-4",
                                   owner);
    if (!component_size((int)component))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: unknown componentType %zu", owner, component);
    if (!has_view)
        return mg_mesh_reader_fail(d->r, MG_ERR_UNSUPPORTED, "%s has no bufferView (all zeros), which only sparse "
                                   "accessors use; they are not supported", owner);
    const cJSON *view;
    if ((status = array_item(d, "bufferViews", view_index, owner, &view)) != MG_OK)
        return status;
    char view_owner[64];
    snprintf(view_owner, sizeof view_owner, "bufferViews[%zu]", view_index);
    size_t buffer_index, view_offset = 0, view_length, stride = 0;
    bool present;
    if ((status = require_whole(d, view, "buffer", 1e9, view_owner, &buffer_index)) != MG_OK ||
        (status = get_whole(d, view, "byteOffset", 9007199254740992.0, view_owner, &present, &view_offset)) != MG_OK ||
        (status = require_whole(d, view, "byteLength", 9007199254740992.0, view_owner, &view_length)) != MG_OK ||
        (status = get_whole(d, view, "byteStride", 252, view_owner, &present, &stride)) != MG_OK)
        return status;
    const gltf_buffer *buffer;
    if ((status = load_buffer(d, buffer_index, view_owner, &buffer)) != MG_OK)
        return status;
    if (view_offset > buffer->size || view_length > buffer->size - view_offset)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: bytes %zu to %zu are past the end of buffers[%zu] "
                                   "(%zu bytes)", view_owner, view_offset, view_offset + view_length, buffer_index,
                                   buffer->size);
    size_t element = component_size((int)component) * (size_t)components;
    if (stride == 0)
        stride = element;
    if (stride < element)
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: byteStride %zu is smaller than one element (%zu bytes)",
                                   view_owner, stride, element);
    /* count <= 2^31 and stride <= 252: the products below cannot overflow 64 bits. */
    if (count > 0 && (offset > view_length || (uint64_t)stride * (count - 1) + element > view_length - offset))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: %zu elements at byteOffset %zu do not fit in %s (%zu "
                                   "bytes)", owner, count, offset, view_owner, view_length);
    out->base = buffer->data + view_offset + offset;
    out->stride = stride;
    out->count = count;
    out->component_type = (int)component;
    out->type = type->valuestring;
    return MG_OK;
}

/* ---- meshes and nodes ---- */

static bool is_identity(const double *m)
{
    for (int i = 0; i < 16; i++)
        if (m[i] != (i % 5 == 0 ? 1.0 : 0.0))
            return false;
    return true;
}

static mg_status add_primitive(gltf_doc *d, size_t mesh_index, size_t prim_index, const cJSON *prim,
                               const double *world)
{
    mg_mesh_reader *r = d->r;
    char owner[96];
    snprintf(owner, sizeof owner, "meshes[%zu].primitives[%zu]", mesh_index, prim_index);
    size_t mode = 4, position_index, indices_index = 0;
    bool present, has_indices;
    mg_status status = get_whole(d, prim, "mode", 1e9, owner, &present, &mode);
    if (status != MG_OK)
        return status;
    if (mode != 4) {
        static const char *names[] = {"points", "lines", "line loop", "line strip", "triangles", "triangle strip",
                                      "triangle fan"};
        return mg_mesh_reader_fail(r, MG_ERR_UNSUPPORTED, "%s has mode %zu (%s); only triangle lists (mode 4) are "
                                   "read", owner, mode, mode < 7 ? names[mode] : "unknown");
    }
    const cJSON *attributes = member(prim, "attributes");
    if ((status = require_whole(d, attributes, "POSITION", 1e9, owner, &position_index)) != MG_OK ||
        (status = get_whole(d, prim, "indices", 1e9, owner, &has_indices, &indices_index)) != MG_OK)
        return status;
    gltf_accessor pos, idx = {0};
    if ((status = load_accessor(d, position_index, owner, &pos)) != MG_OK)
        return status;
    if (pos.component_type != GL_FLOAT || strcmp(pos.type, "VEC3") != 0)
        return mg_mesh_reader_fail(r, MG_ERR_UNSUPPORTED, "%s: POSITION must be float VEC3 (quantized positions "
                                   "are not supported)", owner);
    if (has_indices) {
        if ((status = load_accessor(d, indices_index, owner, &idx)) != MG_OK)
            return status;
        if (strcmp(idx.type, "SCALAR") != 0 || (idx.component_type != GL_UNSIGNED_BYTE &&
                                                idx.component_type != GL_UNSIGNED_SHORT &&
                                                idx.component_type != GL_UNSIGNED_INT))
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "%s: indices must be unsigned byte, short or int scalars",
                                       owner);
    }
    size_t corners = has_indices ? idx.count : pos.count;
    if (corners % 3 != 0)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "%s has %zu %s, not a multiple of 3", owner, corners,
                                   has_indices ? "indices" : "vertices");
    size_t base = r->num_vertices;
    if ((status = mg_mesh_reader_reserve_vertices(r, pos.count)) != MG_OK)
        return status;
    bool transform = world && !is_identity(world);
    for (size_t i = 0; i < pos.count; i++) {
        const unsigned char *p = pos.base + i * pos.stride;
        float x = mg_load_f32le(p), y = mg_load_f32le(p + 4), z = mg_load_f32le(p + 8);
        if (transform) {
            const double *m = world;
            double tx = m[0] * x + m[4] * y + m[8] * z + m[12];
            double ty = m[1] * x + m[5] * y + m[9] * z + m[13];
            double tz = m[2] * x + m[6] * y + m[10] * z + m[14];
            x = (float)tx;
            y = (float)ty;
            z = (float)tz;
        }
        if ((status = mg_mesh_reader_add_vertex(r, x, y, z)) != MG_OK)
            return status;
    }
    for (size_t t = 0; t < corners / 3; t++) {
        int32_t tri[3];
        for (int c = 0; c < 3; c++) {
            size_t k = 3 * t + (size_t)c;
            uint32_t v = (uint32_t)k;
            if (has_indices) {
                const unsigned char *p = idx.base + k * idx.stride;
                v = idx.component_type == GL_UNSIGNED_BYTE ? p[0]
                    : idx.component_type == GL_UNSIGNED_SHORT ? mg_load_u16le(p) : mg_load_u32le(p);
                if (v >= pos.count)
                    return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "%s: index %u is out of range (the POSITION "
                                               "accessor has %zu vertices)", owner, v, pos.count);
            }
            tri[c] = (int32_t)(base + v);
        }
        if ((status = mg_mesh_reader_add_polygon(r, tri, 3)) != MG_OK)
            return status;
    }
    return MG_OK;
}

static mg_status add_mesh(gltf_doc *d, size_t mesh_index, const char *referrer, const double *world)
{
    const cJSON *mesh;
    mg_status status = array_item(d, "meshes", mesh_index, referrer, &mesh);
    if (status != MG_OK)
        return status;
    const cJSON *prims = member(mesh, "primitives");
    if (!cJSON_IsArray(prims))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "meshes[%zu] has no 'primitives' array", mesh_index);
    size_t i = 0;
    const cJSON *prim;
    cJSON_ArrayForEach(prim, prims) {
        if ((status = add_primitive(d, mesh_index, i++, prim, world)) != MG_OK)
            return status;
    }
    return MG_OK;
}

static void multiply(const double *a, const double *b, double *out)
{
    for (int col = 0; col < 4; col++)
        for (int row = 0; row < 4; row++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += a[k * 4 + row] * b[col * 4 + k];
            out[col * 4 + row] = s;
        }
}

/* A node's local transform, column-major: its matrix, or translation * rotation * scale. */
static mg_status local_transform(gltf_doc *d, const cJSON *node, const char *owner, double *m)
{
    static const double identity[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    memcpy(m, identity, sizeof identity);
    if (member(node, "matrix"))
        return get_numbers(d, node, "matrix", 16, owner, m);
    double t[3] = {0, 0, 0}, q[4] = {0, 0, 0, 1}, s[3] = {1, 1, 1};
    mg_status status;
    if ((status = get_numbers(d, node, "translation", 3, owner, t)) != MG_OK ||
        (status = get_numbers(d, node, "rotation", 4, owner, q)) != MG_OK ||
        (status = get_numbers(d, node, "scale", 3, owner, s)) != MG_OK)
        return status;
    double x = q[0], y = q[1], z = q[2], w = q[3];
    double rot[3][3] = {
        {1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
        {2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
        {2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)},
    };
    for (int col = 0; col < 3; col++)
        for (int row = 0; row < 3; row++)
            m[col * 4 + row] = rot[row][col] * s[col];
    for (int row = 0; row < 3; row++)
        m[12 + row] = t[row];
    return MG_OK;
}

typedef struct node_visit {
    size_t node;
    double parent[16];   /* the parent's world transform */
} node_visit;

typedef struct node_stack {
    node_visit *items;
    size_t top, capacity;
} node_stack;

/* Pushes the nodes of `list`, to be visited in the list's order. */
static mg_status push_nodes(gltf_doc *d, const cJSON *list, const char *owner, const double *parent,
                            size_t num_nodes, node_stack *stack)
{
    if (!list)
        return MG_OK;
    if (!cJSON_IsArray(list))
        return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s: the node list must be an array", owner);
    size_t first = stack->top;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
        if (!(v >= 0 && v < (double)num_nodes) || v != floor(v))
            return mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s refers to a node that does not exist (the file has "
                                       "%zu nodes)", owner, num_nodes);
        if (stack->top == stack->capacity) {
            size_t cap = stack->capacity ? 2 * stack->capacity : 16;
            node_visit *bigger = realloc(stack->items, cap * sizeof *bigger);
            if (!bigger)
                return mg_mesh_reader_fail(d->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            stack->items = bigger;
            stack->capacity = cap;
        }
        stack->items[stack->top].node = (size_t)v;
        memcpy(stack->items[stack->top].parent, parent, sizeof stack->items[0].parent);
        stack->top++;
    }
    /* Reversed, so that they pop in the file's order. */
    for (size_t a = first, b = stack->top; a + 1 < b; a++, b--) {
        node_visit swap = stack->items[a];
        stack->items[a] = stack->items[b - 1];
        stack->items[b - 1] = swap;
    }
    return MG_OK;
}

/* Depth-first over the scene's node trees with an explicit stack (a long chain
 * of nodes must not overflow the C stack); a node reached twice is an error,
 * since glTF nodes form trees (and a cycle would never end). */
static mg_status walk_scene(gltf_doc *d, const cJSON *roots, const char *owner)
{
    static const double identity[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    const gltf_table *nodes = &d->tables[TABLE_NODES];
    size_t num_nodes = nodes->count;
    bool *visited = calloc(num_nodes + 1, sizeof *visited);
    node_stack stack = {0};
    if (!visited)
        return mg_mesh_reader_fail(d->r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    mg_status status = push_nodes(d, roots, owner, identity, num_nodes, &stack);
    while (status == MG_OK && stack.top > 0) {
        node_visit visit = stack.items[--stack.top];
        char node_owner[64];
        snprintf(node_owner, sizeof node_owner, "nodes[%zu]", visit.node);
        if (visited[visit.node]) {
            status = mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s is reached twice from the scene (glTF nodes must "
                                         "form trees)", node_owner);
            break;
        }
        visited[visit.node] = true;
        const cJSON *node = nodes->items[visit.node];
        if (!cJSON_IsObject(node)) {
            status = mg_mesh_reader_fail(d->r, MG_ERR_FORMAT, "%s is not an object", node_owner);
            break;
        }
        double local[16], world[16];
        if ((status = local_transform(d, node, node_owner, local)) != MG_OK)
            break;
        multiply(visit.parent, local, world);
        size_t mesh_index = 0; /* set when has_mesh; -O3 cannot see that */
        bool has_mesh;
        if ((status = get_whole(d, node, "mesh", 1e9, node_owner, &has_mesh, &mesh_index)) != MG_OK)
            break;
        if (has_mesh && (status = add_mesh(d, mesh_index, node_owner, world)) != MG_OK)
            break;
        status = push_nodes(d, member(node, "children"), node_owner, world, num_nodes, &stack);
    }
    free(visited);
    free(stack.items);
    return status;
}

static mg_status read_document(gltf_doc *d)
{
    mg_mesh_reader *r = d->r;
    const cJSON *asset = member(d->root, "asset");
    const cJSON *version = member(asset, "version");
    if (!cJSON_IsString(version))
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "no asset.version: not a glTF 2.0 file");
    if (strncmp(version->valuestring, "2.", 2) != 0)
        return mg_mesh_reader_fail(r, MG_ERR_UNSUPPORTED, "glTF version %.20s is not supported (only 2.x)",
                                   version->valuestring);
    mg_status status = build_tables(d);
    if (status != MG_OK)
        return status;
    d->num_buffers = d->tables[TABLE_BUFFERS].count;
    d->buffers = calloc(d->num_buffers + 1, sizeof *d->buffers);
    if (!d->buffers)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");

    size_t num_scenes = d->tables[TABLE_SCENES].count;
    size_t scene_index = 0;
    bool has_scene;
    status = get_whole(d, d->root, "scene", 1e9, "the file", &has_scene, &scene_index);
    if (status != MG_OK)
        return status;
    if (num_scenes == 0 && !has_scene) {
        /* No scenes: every mesh, as it is. */
        for (size_t i = 0; i < d->tables[TABLE_MESHES].count && status == MG_OK; i++)
            status = add_mesh(d, i, "the file", NULL);
        return status;
    }
    const cJSON *scene;
    if ((status = array_item(d, "scenes", scene_index, "the default scene", &scene)) != MG_OK)
        return status;
    char owner[64];
    snprintf(owner, sizeof owner, "scenes[%zu]", scene_index);
    return walk_scene(d, member(scene, "nodes"), owner);
}

mg_status mg_mesh_read_gltf(mg_mesh_reader *r, const unsigned char *data, size_t size)
{
    gltf_doc d = {.r = r};
    const char *json = (const char *)data;
    size_t json_size = size;
    if (size >= 4 && mg_load_u32le(data) == GLB_MAGIC) {
        r->where_kind = MG_WHERE_BYTE;
        r->where = 0;
        if (size < 20)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a GLB file needs at least 20 bytes, this one has %zu", size);
        uint32_t version = mg_load_u32le(data + 4), length = mg_load_u32le(data + 8);
        if (version != 2)
            return mg_mesh_reader_fail(r, MG_ERR_UNSUPPORTED, "GLB version %u is not supported (only 2)", version);
        if (length > size || length < 20)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the GLB header says %u bytes but the file has %zu%s", length,
                                       size, length > size ? " (truncated?)" : "");
        uint32_t chunk_length = mg_load_u32le(data + 12), chunk_type = mg_load_u32le(data + 16);
        r->where = 12;
        if (chunk_type != GLB_CHUNK_JSON)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the first GLB chunk must be JSON");
        if (chunk_length > length - 20)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the JSON chunk (%u bytes) runs past the end of the file",
                                       chunk_length);
        json = (const char *)data + 20;
        json_size = chunk_length;
        size_t pos = 20 + (size_t)chunk_length;
        if (length - pos >= 8) {
            uint32_t bin_length = mg_load_u32le(data + pos), bin_type = mg_load_u32le(data + pos + 4);
            r->where = pos;
            if (bin_type == GLB_CHUNK_BIN) {
                if (bin_length > length - pos - 8)
                    return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the BIN chunk (%u bytes) runs past the end of "
                                               "the file", bin_length);
                d.bin = data + pos + 8;
                d.bin_size = bin_length;
                d.has_bin = true;
            }
        }
    }
    r->where_kind = MG_WHERE_NONE;
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, json_size, &parse_end, 0);
    if (!cJSON_IsObject(root)) {
        size_t at = parse_end && parse_end >= json ? (size_t)(parse_end - json) : 0;
        cJSON_Delete(root);
        if (root)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the glTF JSON is not an object");
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "invalid JSON near byte %zu of the glTF text", at);
    }
    d.root = root;
    mg_status status = read_document(&d);
    for (size_t i = 0; i < d.num_buffers; i++)
        free(d.buffers[i].owned);
    free(d.buffers);
    for (int t = 0; t < TABLE_COUNT; t++)
        free(d.tables[t].items);
    cJSON_Delete(root);
    return status;
}

/* ---- writing ---- */

static void base64_encode(const unsigned char *data, size_t size, mg_mesh_out *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < size; i += 3) {
        uint32_t chunk = (uint32_t)data[i] << 16;
        if (i + 1 < size)
            chunk |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size)
            chunk |= data[i + 2];
        char quad[4] = {alphabet[(chunk >> 18) & 63], alphabet[(chunk >> 12) & 63],
                        i + 1 < size ? alphabet[(chunk >> 6) & 63] : '=', i + 2 < size ? alphabet[chunk & 63] : '='};
        mg_mesh_out_bytes(out, quad, 4);
    }
}

/* The JSON document for one mesh whose buffer holds the positions and then the u32 indices. */
static void write_json(const mg_mesh *mesh, size_t num_indices, const mg_mesh_out *buffer, bool binary,
                       mg_mesh_out *out)
{
    size_t positions_bytes = mesh->num_vertices * 12, indices_bytes = num_indices * 4;
    mg_mesh_out_printf(out, "{\"asset\":{\"version\":\"2.0\",\"generator\":\"meshgpt %s\"},", mg_version());
    if (num_indices == 0) {
        /* Nothing to draw: a valid file with an empty scene. */
        mg_mesh_out_printf(out, "\"scene\":0,\"scenes\":[{\"nodes\":[]}]}");
        return;
    }
    /* min and max are required on POSITION accessors; NaN or infinite coordinates are left out of them. */
    float lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    bool any[3] = {false, false, false};
    for (size_t v = 0; v < mesh->num_vertices; v++)
        for (int a = 0; a < 3; a++) {
            float x = mesh->vertices[3 * v + (size_t)a];
            if (!isfinite(x))
                continue;
            if (!any[a] || x < lo[a])
                lo[a] = x;
            if (!any[a] || x > hi[a])
                hi[a] = x;
            any[a] = true;
        }
    mg_mesh_out_printf(out, "\"scene\":0,\"scenes\":[{\"nodes\":[0]}],\"nodes\":[{\"mesh\":0}],"
                       "\"meshes\":[{\"primitives\":[{\"attributes\":{\"POSITION\":0},\"indices\":1,\"mode\":4}]}],");
    mg_mesh_out_printf(out, "\"accessors\":[{\"bufferView\":0,\"componentType\":5126,\"count\":%zu,\"type\":\"VEC3\","
                       "\"min\":[%.9g,%.9g,%.9g],\"max\":[%.9g,%.9g,%.9g]},", mesh->num_vertices, (double)lo[0],
                       (double)lo[1], (double)lo[2], (double)hi[0], (double)hi[1], (double)hi[2]);
    mg_mesh_out_printf(out, "{\"bufferView\":1,\"componentType\":5125,\"count\":%zu,\"type\":\"SCALAR\"}],",
                       num_indices);
    mg_mesh_out_printf(out, "\"bufferViews\":[{\"buffer\":0,\"byteOffset\":0,\"byteLength\":%zu,\"target\":34962},"
                       "{\"buffer\":0,\"byteOffset\":%zu,\"byteLength\":%zu,\"target\":34963}],",
                       positions_bytes, positions_bytes, indices_bytes);
    mg_mesh_out_printf(out, "\"buffers\":[{\"byteLength\":%zu", buffer->size);
    if (!binary) {
        mg_mesh_out_printf(out, ",\"uri\":\"data:application/octet-stream;base64,");
        base64_encode(buffer->data, buffer->size, out);
        mg_mesh_out_printf(out, "\"");
    }
    mg_mesh_out_printf(out, "}]}");
}

mg_status mg_mesh_write_gltf(const mg_mesh *mesh, bool binary, mg_mesh_out *out, mg_diag *diag)
{
    size_t triangles = mg_mesh_kept_faces(mesh) * (mesh->face_size == 4 ? 2 : 1);
    size_t num_indices = triangles * 3;
    if (triangles == 0)
        num_indices = 0;
    /* GLB lengths are 32-bit; keep .gltf within the same bound. */
    if ((uint64_t)mesh->num_vertices * 12 + (uint64_t)num_indices * 4 > UINT32_MAX - (1u << 20))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the mesh is too large for glTF (more than 4 GiB of buffer)");
    mg_mesh_out buffer = {0};
    if (num_indices > 0) {
        for (size_t v = 0; v < 3 * mesh->num_vertices; v++)
            mg_mesh_out_f32le(&buffer, mesh->vertices[v]);
        for (size_t f = 0; f < mesh->num_faces; f++) {
            if (!mg_mesh_face_kept(mesh, f))
                continue;
            const int32_t *face = mesh->faces + (size_t)mesh->face_size * f;
            for (int c = 0; c < 3; c++)
                mg_mesh_out_u32le(&buffer, (uint32_t)face[c]);
            if (mesh->face_size == 4) {
                mg_mesh_out_u32le(&buffer, (uint32_t)face[0]);
                mg_mesh_out_u32le(&buffer, (uint32_t)face[2]);
                mg_mesh_out_u32le(&buffer, (uint32_t)face[3]);
            }
        }
    }
    mg_mesh_out json = {0};
    write_json(mesh, num_indices, &buffer, binary, binary ? &json : out);
    if (binary) {
        while (json.size % 4)
            mg_mesh_out_bytes(&json, " ", 1);  /* chunks are 4-byte aligned: JSON pads with spaces */
        while (buffer.size % 4)
            mg_mesh_out_u8(&buffer, 0);
        size_t total = 12 + 8 + json.size + (buffer.size ? 8 + buffer.size : 0);
        mg_mesh_out_u32le(out, GLB_MAGIC);
        mg_mesh_out_u32le(out, 2);
        mg_mesh_out_u32le(out, (uint32_t)total);
        mg_mesh_out_u32le(out, (uint32_t)json.size);
        mg_mesh_out_u32le(out, GLB_CHUNK_JSON);
        mg_mesh_out_bytes(out, json.data, json.size);
        if (buffer.size) {
            mg_mesh_out_u32le(out, (uint32_t)buffer.size);
            mg_mesh_out_u32le(out, GLB_CHUNK_BIN);
            mg_mesh_out_bytes(out, buffer.data, buffer.size);
        }
    }
    bool failed = buffer.failed || json.failed;
    mg_mesh_out_free(&buffer);
    mg_mesh_out_free(&json);
    if (failed)
        out->failed = true;
    return MG_OK;
}
