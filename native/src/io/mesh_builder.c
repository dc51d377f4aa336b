#include "io/mesh_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mg_mesh_reader_init(mg_mesh_reader *r, const char *name, const char *path, mg_polygon_mode polygons,
                         mg_diag *diag)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->path = path;
    r->diag = diag;
    r->polygons = polygons;
    if (polygons == MG_POLYGONS_TRIANGULATE)
        r->face_size = 3;
    else if (polygons == MG_POLYGONS_QUADS)
        r->face_size = 4;
}

void mg_mesh_reader_discard(mg_mesh_reader *r)
{
    free(r->vertices);
    free(r->faces);
    r->vertices = NULL;
    r->faces = NULL;
    r->num_vertices = r->vertex_capacity = r->num_faces = r->face_capacity = 0;
}

mg_status mg_mesh_reader_fail(const mg_mesh_reader *r, mg_status status, const char *fmt, ...)
{
    char message[MG_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    switch (r->where_kind) {
    case MG_WHERE_LINE:
        return mg_fail(r->diag, status, "%s:%zu: %s", r->name, r->where, message);
    case MG_WHERE_BYTE:
        return mg_fail(r->diag, status, "%s: byte %zu: %s", r->name, r->where, message);
    default:
        return mg_fail(r->diag, status, "%s: %s", r->name, message);
    }
}

/* Grows *array to hold at least `needed` items of `item_size` bytes (doubling). */
static mg_status grow(const mg_mesh_reader *r, void **array, size_t *capacity, size_t needed, size_t item_size)
{
    if (needed <= *capacity)
        return MG_OK;
    size_t cap = *capacity ? *capacity : 64;
    while (cap < needed)
        cap = cap > SIZE_MAX / 2 ? needed : cap * 2;
    if (cap > SIZE_MAX / item_size)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    void *bigger = realloc(*array, cap * item_size);
    if (!bigger)
        return mg_mesh_reader_fail(r, MG_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", cap * item_size);
    *array = bigger;
    *capacity = cap;
    return MG_OK;
}

mg_status mg_mesh_reader_reserve_vertices(mg_mesh_reader *r, size_t count)
{
    if (count > MG_MESH_MAX_COUNT - r->num_vertices)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "more than %zu vertices: meshes are limited to 2^31-1",
                                   MG_MESH_MAX_COUNT);
    void *array = r->vertices;
    mg_status status = grow(r, &array, &r->vertex_capacity, r->num_vertices + count, 3 * sizeof(float));
    r->vertices = array;
    return status;
}

mg_status mg_mesh_reader_add_vertex(mg_mesh_reader *r, float x, float y, float z)
{
    if (r->num_vertices == r->vertex_capacity) {
        mg_status status = mg_mesh_reader_reserve_vertices(r, 1);
        if (status != MG_OK)
            return status;
    }
    float *v = r->vertices + 3 * r->num_vertices++;
    v[0] = x;
    v[1] = y;
    v[2] = z;
    return MG_OK;
}

static mg_status append_face(mg_mesh_reader *r, const int32_t *corners)
{
    if (r->num_faces >= MG_MESH_MAX_COUNT)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "more than %zu faces: meshes are limited to 2^31-1",
                                   MG_MESH_MAX_COUNT);
    if (r->num_faces == r->face_capacity) {
        void *array = r->faces;
        mg_status status = grow(r, &array, &r->face_capacity, r->num_faces + 1, r->face_size * sizeof(int32_t));
        r->faces = array;
        if (status != MG_OK)
            return status;
    }
    memcpy(r->faces + (size_t)r->face_size * r->num_faces++, corners, r->face_size * sizeof(int32_t));
    return MG_OK;
}

mg_status mg_mesh_reader_add_polygon(mg_mesh_reader *r, const int32_t *corners, size_t count)
{
    if (count < 3)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "a face needs at least 3 corners, this one has %zu", count);
    switch (r->polygons) {
    case MG_POLYGONS_TRIANGULATE:
        for (size_t i = 1; i + 1 < count; i++) {
            int32_t triangle[3] = {corners[0], corners[i], corners[i + 1]};
            mg_status status = append_face(r, triangle);
            if (status != MG_OK)
                return status;
        }
        return MG_OK;
    case MG_POLYGONS_QUADS:
        if (count != 4)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT,
                                       "a face has %zu corners but quads were asked for (every face must have 4; "
                                       "read with triangulation to accept any polygon)", count);
        return append_face(r, corners);
    case MG_POLYGONS_AS_IS:
        if (count > 4)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT,
                                       "a face has %zu corners; faces kept as they are must be triangles or quads "
                                       "(read with triangulation to split polygons)", count);
        if (r->face_size == 0)
            r->face_size = (uint32_t)count;
        if (count != r->face_size)
            return mg_mesh_reader_fail(r, MG_ERR_FORMAT,
                                       "a face has %zu corners but the faces before it have %u: the mesh mixes "
                                       "triangles and quads (read with triangulation instead)", count, r->face_size);
        return append_face(r, corners);
    }
    return mg_mesh_reader_fail(r, MG_ERR_INVALID_ARGUMENT, "unknown polygon mode %d", (int)r->polygons);
}

mg_status mg_mesh_reader_finish(mg_mesh_reader *r, mg_mesh *out)
{
    r->where_kind = MG_WHERE_NONE;
    if (r->num_faces == 0)
        return mg_mesh_reader_fail(r, MG_ERR_FORMAT, "the file has no faces (%zu vertices, 0 faces): a mesh needs "
                                   "at least one face", r->num_vertices);
    memset(out, 0, sizeof *out);
    out->vertices = r->vertices;
    out->num_vertices = r->num_vertices;
    out->faces = r->faces;
    out->num_faces = r->num_faces;
    out->face_size = r->face_size;
    out->face_mask = NULL;
    r->vertices = NULL;
    r->faces = NULL;
    mg_mesh_reader_discard(r);
    return MG_OK;
}

mg_status mg_mesh_read_whole_file(const char *path, unsigned char **out_data, size_t *out_size, mg_diag *diag)
{
    *out_data = NULL;
    *out_size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mg_fail(diag, MG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return mg_fail(diag, MG_ERR_IO, "'%s' is a folder, not a file", path);
    }
    /* Sized from what read() returns, not from st_size, so pipes and files
     * that change while being read are handled. */
    size_t cap = (st.st_size > 0 && (uintmax_t)st.st_size < SIZE_MAX - 2) ? (size_t)st.st_size + 1 : 65536;
    size_t size = 0;
    unsigned char *data = malloc(cap);
    if (!data) {
        close(fd);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory reading '%s' (%zu bytes)", path, cap);
    }
    for (;;) {
        if (size == cap) {
            size_t bigger_cap = cap > SIZE_MAX / 2 ? SIZE_MAX - 1 : cap * 2;
            unsigned char *bigger = bigger_cap > cap ? realloc(data, bigger_cap) : NULL;
            if (!bigger) {
                free(data);
                close(fd);
                return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", path);
            }
            data = bigger;
            cap = bigger_cap;
        }
        ssize_t got = read(fd, data + size, cap - size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(data);
            close(fd);
            return mg_fail(diag, MG_ERR_IO, "cannot read '%s': %s", path, strerror(err));
        }
        if (got == 0)
            break;
        size += (size_t)got;
    }
    close(fd);
    if (size == cap) {
        unsigned char *bigger = realloc(data, cap + 1);
        if (!bigger) {
            free(data);
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", path);
        }
        data = bigger;
    }
    data[size] = '\0';
    *out_data = data;
    *out_size = size;
    return MG_OK;
}

void mg_c_numeric_locale_enter(mg_c_numeric_locale *saved)
{
    saved->previous = (locale_t)0;
    saved->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (saved->c_locale)
        saved->previous = uselocale(saved->c_locale);
}

void mg_c_numeric_locale_leave(mg_c_numeric_locale *saved)
{
    if (saved->c_locale) {
        uselocale(saved->previous);
        freelocale(saved->c_locale);
    }
    saved->c_locale = (locale_t)0;
}
