/*
 * Mesh files in and out (public API): the format from the caller, else from
 * the file name's extension, else from the content; atomic writes.
 */
#include "io/mesh_formats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include "mesh/mesh_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mg_mesh_free(mg_mesh *mesh)
{
    mg_mesh_release(mesh);
}

mg_mesh_read_params mg_mesh_read_default_params(void)
{
    mg_mesh_read_params params;
    memset(&params, 0, sizeof params);
    params.format = MG_MESH_FORMAT_AUTO;
    params.polygons = MG_POLYGONS_TRIANGULATE;
    return params;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The format named by the path's extension (case-insensitive), or AUTO. */
static mg_mesh_format format_from_extension(const char *path)
{
    static const struct { const char *ext; mg_mesh_format format; } table[] = {
        {"obj", MG_MESH_FORMAT_OBJ}, {"ply", MG_MESH_FORMAT_PLY}, {"stl", MG_MESH_FORMAT_STL},
        {"gltf", MG_MESH_FORMAT_GLTF}, {"glb", MG_MESH_FORMAT_GLB}};
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return MG_MESH_FORMAT_AUTO;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *a = dot + 1, *b = table[i].ext;
        while (*a && *b && lower(*a) == *b) {
            a++;
            b++;
        }
        if (!*a && !*b)
            return table[i].format;
    }
    return MG_MESH_FORMAT_AUTO;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Does the first statement of the text look like OBJ? Comments and blank lines are skipped. */
static bool looks_like_obj(const unsigned char *data, size_t size)
{
    static const char *keywords[] = {"v", "vt", "vn", "vp", "f", "o", "g", "s", "l", "p", "mtllib", "usemtl"};
    size_t pos = 0;
    while (pos < size) {
        while (pos < size && is_space(data[pos]))
            pos++;
        if (pos < size && data[pos] == '#') {
            while (pos < size && data[pos] != '\n')
                pos++;
            continue;
        }
        size_t n = 0;
        while (pos + n < size && !is_space(data[pos + n]))
            n++;
        if (pos + n >= size || (data[pos + n] != ' ' && data[pos + n] != '\t'))
            return false;
        for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
            if (strlen(keywords[k]) == n && memcmp(data + pos, keywords[k], n) == 0)
                return true;
        return false;
    }
    return false;
}

/* The format the content shows, or AUTO when it shows none. */
static mg_mesh_format format_from_content(const unsigned char *data, size_t size)
{
    if (size >= 4 && memcmp(data, "ply", 3) == 0 && (data[3] == '\n' || data[3] == '\r'))
        return MG_MESH_FORMAT_PLY;
    if (size >= 4 && memcmp(data, "glTF", 4) == 0)
        return MG_MESH_FORMAT_GLB;
    if (mg_stl_is_binary_size(data, size))
        return MG_MESH_FORMAT_STL;
    size_t i = 0;
    while (i < size && is_space(data[i]))
        i++;
    if (i < size && data[i] == '{')
        return MG_MESH_FORMAT_GLTF;
    if (size - i >= 6 && memcmp(data + i, "solid", 5) == 0 && is_space(data[i + 5]))
        return MG_MESH_FORMAT_STL;
    if (looks_like_obj(data, size))
        return MG_MESH_FORMAT_OBJ;
    return MG_MESH_FORMAT_AUTO;
}

static mg_status read_bytes(const char *name, const char *path, const unsigned char *data, size_t size,
                            const mg_mesh_read_params *params, mg_mesh *out_mesh, mg_diag *diag)
{
    mg_mesh_read_params defaults = mg_mesh_read_default_params();
    if (!params)
        params = &defaults;
    if ((unsigned)params->polygons > MG_POLYGONS_AS_IS)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "unknown polygon mode %d", (int)params->polygons);
    if ((unsigned)params->format > MG_MESH_FORMAT_GLB)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "unknown mesh format %d", (int)params->format);
    mg_mesh_format format = params->format;
    if (format == MG_MESH_FORMAT_AUTO && path)
        format = format_from_extension(path);
    if (format == MG_MESH_FORMAT_AUTO)
        format = format_from_content(data, size);
    if (format == MG_MESH_FORMAT_AUTO) {
        if (path)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: unknown mesh format: the name does not end in .obj, .ply, .stl, "
                           ".gltf or .glb and the content is none of them", name);
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the content is not a mesh format this library reads (OBJ, PLY, "
                       "STL, glTF, GLB); name the format in the read parameters", name);
    }
    mg_mesh_reader reader;
    mg_mesh_reader_init(&reader, name, path, params->polygons, diag);
    mg_c_numeric_locale locale;
    mg_c_numeric_locale_enter(&locale);
    mg_status status;
    switch (format) {
    case MG_MESH_FORMAT_OBJ: status = mg_mesh_read_obj(&reader, data, size); break;
    case MG_MESH_FORMAT_PLY: case MG_MESH_FORMAT_PLY_ASCII: status = mg_mesh_read_ply(&reader, data, size); break;
    case MG_MESH_FORMAT_STL: case MG_MESH_FORMAT_STL_ASCII: status = mg_mesh_read_stl(&reader, data, size); break;
    default: status = mg_mesh_read_gltf(&reader, data, size); break;
    }
    mg_c_numeric_locale_leave(&locale);
    if (status == MG_OK)
        status = mg_mesh_reader_finish(&reader, out_mesh);
    mg_mesh_reader_discard(&reader);
    return status;
}

static bool start_call(mg_mesh *out_mesh, char *error, size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    if (out_mesh)
        memset(out_mesh, 0, sizeof *out_mesh);
    return out_mesh != NULL;
}

mg_status mg_mesh_read(const char *path, const mg_mesh_read_params *params, mg_mesh *out_mesh, char *error,
                       size_t error_size)
{
    if (!start_call(out_mesh, error, error_size) || !path) {
        mg_format(error, error_size, "mg_mesh_read: path and out_mesh must not be NULL");
        return MG_ERR_INVALID_ARGUMENT;
    }
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    unsigned char *data = NULL;
    size_t size = 0;
    mg_status status = mg_mesh_read_whole_file(path, &data, &size, &diag);
    if (status == MG_OK)
        status = read_bytes(path, path, data, size, params, out_mesh, &diag);
    free(data);
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    mg_diag_destroy(&diag);
    return status;
}

mg_status mg_mesh_read_memory(const void *data, size_t size, const mg_mesh_read_params *params, mg_mesh *out_mesh,
                              char *error, size_t error_size)
{
    if (!start_call(out_mesh, error, error_size) || (!data && size > 0)) {
        mg_format(error, error_size, "mg_mesh_read_memory: out_mesh must not be NULL, nor data when size > 0");
        return MG_ERR_INVALID_ARGUMENT;
    }
    static const unsigned char nothing[1] = {0};
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_status status = read_bytes("(memory)", NULL, data ? data : nothing, size, params, out_mesh, &diag);
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    mg_diag_destroy(&diag);
    return status;
}

/* ---- writing ---- */

static mg_status check_mesh(const mg_mesh *mesh, mg_diag *diag)
{
    if (mesh->face_size != 3 && mesh->face_size != 4)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_mesh_write: face_size is %u; it must be 3 or 4",
                       mesh->face_size);
    if ((mesh->num_vertices && !mesh->vertices) || (mesh->num_faces && !mesh->faces))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_mesh_write: the mesh has counts but NULL arrays");
    if (mesh->num_vertices > MG_MESH_MAX_COUNT || mesh->num_faces > MG_MESH_MAX_COUNT)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_mesh_write: more than 2^31-1 vertices or faces");
    for (size_t f = 0; f < mesh->num_faces; f++) {
        if (!mg_mesh_face_kept(mesh, f))
            continue;
        for (uint32_t c = 0; c < mesh->face_size; c++) {
            int32_t v = mesh->faces[(size_t)mesh->face_size * f + c];
            if (v < 0 || (size_t)v >= mesh->num_vertices)
                return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_mesh_write: face %zu has vertex index %d, but the "
                               "mesh has %zu vertices", f, v, mesh->num_vertices);
        }
    }
    return MG_OK;
}

/* Writes to a temporary file next to `path`, then renames it over `path`:
 * readers never see a half-written file, and a failed write leaves the old one. */
static mg_status write_atomically(const char *path, const unsigned char *data, size_t size, mg_diag *diag)
{
    static atomic_uint counter;
    size_t length = strlen(path) + 48;
    char *temp = malloc(length);
    if (!temp)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(temp, length, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int err = errno;
        free(temp);
        return mg_fail(diag, MG_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    size_t done = 0;
    int err = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(temp, path) != 0)
        err = errno;
    if (err) {
        unlink(temp);
        free(temp);
        return mg_fail(diag, MG_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    free(temp);
    return MG_OK;
}

static mg_status write_mesh(const char *path, const mg_mesh *mesh, mg_mesh_format format, mg_diag *diag)
{
    if ((unsigned)format > MG_MESH_FORMAT_GLB)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_mesh_write: unknown mesh format %d", (int)format);
    if (format == MG_MESH_FORMAT_AUTO)
        format = format_from_extension(path);
    if (format == MG_MESH_FORMAT_AUTO)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "cannot tell the mesh format from the name '%s': use .obj, "
                       ".ply, .stl, .gltf or .glb, or name the format", path);
    mg_status status = check_mesh(mesh, diag);
    if (status != MG_OK)
        return status;
    mg_mesh_out out = {0};
    mg_c_numeric_locale locale;
    mg_c_numeric_locale_enter(&locale);
    switch (format) {
    case MG_MESH_FORMAT_OBJ: mg_mesh_write_obj(mesh, &out); break;
    case MG_MESH_FORMAT_PLY: mg_mesh_write_ply(mesh, false, &out); break;
    case MG_MESH_FORMAT_PLY_ASCII: mg_mesh_write_ply(mesh, true, &out); break;
    case MG_MESH_FORMAT_STL: mg_mesh_write_stl(mesh, false, &out); break;
    case MG_MESH_FORMAT_STL_ASCII: mg_mesh_write_stl(mesh, true, &out); break;
    case MG_MESH_FORMAT_GLTF: status = mg_mesh_write_gltf(mesh, false, &out, diag); break;
    default: status = mg_mesh_write_gltf(mesh, true, &out, diag); break;
    }
    mg_c_numeric_locale_leave(&locale);
    if (status == MG_OK && out.failed)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory writing '%s'", path);
    if (status == MG_OK)
        status = write_atomically(path, out.data, out.size, diag);
    mg_mesh_out_free(&out);
    return status;
}

mg_status mg_mesh_write(const char *path, const mg_mesh *mesh, mg_mesh_format format, char *error, size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    if (!path || !mesh) {
        mg_format(error, error_size, "mg_mesh_write: path and mesh must not be NULL");
        return MG_ERR_INVALID_ARGUMENT;
    }
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_status status = write_mesh(path, mesh, format, &diag);
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    mg_diag_destroy(&diag);
    return status;
}
