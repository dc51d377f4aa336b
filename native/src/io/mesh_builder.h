/*
 * What every mesh reader shares: growable vertex and face arrays, the polygon
 * policy (triangulate, quads only, as is), the limits, and error messages that
 * name the file and the line or byte offset where the reader is.
 *
 * Readers keep the file's vertex and face order exactly: `--preprocess none`
 * tokenizes the mesh as given, so nothing here merges, sorts or drops.
 */
#ifndef MG_IO_MESH_BUILDER_H
#define MG_IO_MESH_BUILDER_H

#include "core/diag.h"
#include "meshgpt.h"

#include <locale.h>
#include <stdint.h>

/* Vertex and face indices are int32 in mg_mesh. */
#define MG_MESH_MAX_COUNT ((size_t)INT32_MAX)

typedef enum mg_mesh_where {
    MG_WHERE_NONE = 0,  /* messages say only the file name */
    MG_WHERE_LINE = 1,  /* text formats: "cube.obj:12: ..." */
    MG_WHERE_BYTE = 2   /* binary formats: "cone.stl: byte 184: ..." */
} mg_mesh_where;

typedef struct mg_mesh_reader {
    const char *name;           /* the path as given, or "(memory)": every message starts with it */
    const char *path;           /* NULL when reading from memory (glTF external buffers need it) */
    mg_diag *diag;
    mg_polygon_mode polygons;
    mg_mesh_where where_kind;   /* what `where` counts */
    size_t where;               /* 1-based line or 0-based byte offset of the current item */

    float *vertices;
    size_t num_vertices, vertex_capacity;
    int32_t *faces;             /* face_size ints per face */
    size_t num_faces, face_capacity;
    uint32_t face_size;         /* 0 until the first face fixes it (MG_POLYGONS_AS_IS) */
} mg_mesh_reader;

void mg_mesh_reader_init(mg_mesh_reader *r, const char *name, const char *path, mg_polygon_mode polygons,
                         mg_diag *diag);
/* Frees what the reader holds (after an error, or after a finish that failed). */
void mg_mesh_reader_discard(mg_mesh_reader *r);

/* Records a format error (or any status) at the reader's current place: "NAME:LINE: message". */
mg_status mg_mesh_reader_fail(const mg_mesh_reader *r, mg_status status, const char *fmt, ...) MG_PRINTF(3, 4);

/* Room for `count` more vertices; call only with counts checked against the bytes present. */
mg_status mg_mesh_reader_reserve_vertices(mg_mesh_reader *r, size_t count);
mg_status mg_mesh_reader_add_vertex(mg_mesh_reader *r, float x, float y, float z);

/*
 * Adds one polygon of `count` corners (indices already checked against the
 * vertex count by the reader, which knows how to say it), applying the polygon
 * policy: fans (0, i, i+1) for MG_POLYGONS_TRIANGULATE, otherwise the corner
 * count must fit. Fewer than 3 corners is a format error.
 */
mg_status mg_mesh_reader_add_polygon(mg_mesh_reader *r, const int32_t *corners, size_t count);

/* Moves the arrays into `out` (face_mask NULL: all valid). A mesh with no faces is a format error. */
mg_status mg_mesh_reader_finish(mg_mesh_reader *r, mg_mesh *out);

/* Reads a whole file into a new buffer (one extra NUL byte after the end, not counted in *out_size). */
mg_status mg_mesh_read_whole_file(const char *path, unsigned char **out_data, size_t *out_size, mg_diag *diag);

/* Locale-independent numbers: strtof/printf use the "C" locale in between (per thread). */
typedef struct mg_c_numeric_locale {
    locale_t previous;
    locale_t c_locale;
} mg_c_numeric_locale;
void mg_c_numeric_locale_enter(mg_c_numeric_locale *saved);
void mg_c_numeric_locale_leave(mg_c_numeric_locale *saved);

#endif
