/*
 * The mesh formats: one reader and one writer per file, dispatched by
 * mesh_io.c. Readers fill an mg_mesh_reader from bytes in memory; writers
 * append the whole file to an mg_mesh_out buffer, which mesh_io.c writes
 * atomically (temporary file + rename).
 */
#ifndef MG_IO_MESH_FORMATS_H
#define MG_IO_MESH_FORMATS_H

#include "io/mesh_builder.h"

#include <stdbool.h>

mg_status mg_mesh_read_obj(mg_mesh_reader *r, const unsigned char *data, size_t size);
mg_status mg_mesh_read_ply(mg_mesh_reader *r, const unsigned char *data, size_t size);
mg_status mg_mesh_read_stl(mg_mesh_reader *r, const unsigned char *data, size_t size);
/* .gltf (JSON) and .glb alike: the content tells which. */
mg_status mg_mesh_read_gltf(mg_mesh_reader *r, const unsigned char *data, size_t size);

/* True if the bytes have the size of a binary STL whose header count is right. */
bool mg_stl_is_binary_size(const unsigned char *data, size_t size);

/* A growing output buffer; after an allocation failure every append is a no-op and `failed` stays set. */
typedef struct mg_mesh_out {
    unsigned char *data;
    size_t size, capacity;
    bool failed;
} mg_mesh_out;

void mg_mesh_out_bytes(mg_mesh_out *out, const void *bytes, size_t count);
void mg_mesh_out_printf(mg_mesh_out *out, const char *fmt, ...) MG_PRINTF(2, 3);
void mg_mesh_out_u8(mg_mesh_out *out, uint8_t value);
void mg_mesh_out_u16le(mg_mesh_out *out, uint16_t value);
void mg_mesh_out_u32le(mg_mesh_out *out, uint32_t value);
void mg_mesh_out_i32le(mg_mesh_out *out, int32_t value);
void mg_mesh_out_f32le(mg_mesh_out *out, float value);
void mg_mesh_out_free(mg_mesh_out *out);

/*
 * A mesh to write, already checked by mesh_io.c: indices of kept faces are in
 * range and face_size is 3 or 4. Faces whose mask is 0 are skipped.
 */
static inline bool mg_mesh_face_kept(const mg_mesh *mesh, size_t face)
{
    return !mesh->face_mask || mesh->face_mask[face] != 0;
}

/* Number of faces kept (mask not 0). */
size_t mg_mesh_kept_faces(const mg_mesh *mesh);

void mg_mesh_write_obj(const mg_mesh *mesh, mg_mesh_out *out);
void mg_mesh_write_ply(const mg_mesh *mesh, bool ascii, mg_mesh_out *out);
void mg_mesh_write_stl(const mg_mesh *mesh, bool ascii, mg_mesh_out *out);
/* binary: GLB; otherwise .gltf JSON with the buffer as a base64 data URI. */
mg_status mg_mesh_write_gltf(const mg_mesh *mesh, bool binary, mg_mesh_out *out, mg_diag *diag);

/* Little-endian and big-endian loads from unaligned bytes. */
static inline uint16_t mg_load_u16le(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t mg_load_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint16_t mg_load_u16be(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t mg_load_u32be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
float mg_load_f32le(const unsigned char *p);

#endif
