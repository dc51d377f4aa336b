/* The writers' output buffer and the byte helpers the formats share. */
#include "io/mesh_formats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(mg_mesh_out *out, size_t extra)
{
    if (out->failed)
        return false;
    if (extra <= out->capacity - out->size)
        return true;
    if (extra > SIZE_MAX / 2 - out->size) {
        out->failed = true;
        return false;
    }
    size_t cap = out->capacity ? out->capacity : 4096;
    while (cap - out->size < extra)
        cap *= 2;
    unsigned char *bigger = realloc(out->data, cap);
    if (!bigger) {
        out->failed = true;
        return false;
    }
    out->data = bigger;
    out->capacity = cap;
    return true;
}

void mg_mesh_out_bytes(mg_mesh_out *out, const void *bytes, size_t count)
{
    if (count == 0 || !reserve(out, count))
        return;
    memcpy(out->data + out->size, bytes, count);
    out->size += count;
}

void mg_mesh_out_printf(mg_mesh_out *out, const char *fmt, ...)
{
    char small[256];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(small, sizeof small, fmt, args);
    va_end(args);
    if (n < 0) {
        out->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        mg_mesh_out_bytes(out, small, (size_t)n);
        return;
    }
    if (!reserve(out, (size_t)n + 1))
        return;
    va_start(args, fmt);
    vsnprintf((char *)out->data + out->size, (size_t)n + 1, fmt, args);
    va_end(args);
    out->size += (size_t)n;
}

void mg_mesh_out_u8(mg_mesh_out *out, uint8_t value)
{
    mg_mesh_out_bytes(out, &value, 1);
}

void mg_mesh_out_u16le(mg_mesh_out *out, uint16_t value)
{
    unsigned char b[2] = {(unsigned char)value, (unsigned char)(value >> 8)};
    mg_mesh_out_bytes(out, b, 2);
}

void mg_mesh_out_u32le(mg_mesh_out *out, uint32_t value)
{
    unsigned char b[4] = {(unsigned char)value, (unsigned char)(value >> 8), (unsigned char)(value >> 16),
                          (unsigned char)(value >> 24)};
    mg_mesh_out_bytes(out, b, 4);
}

void mg_mesh_out_i32le(mg_mesh_out *out, int32_t value)
{
    mg_mesh_out_u32le(out, (uint32_t)value);
}

void mg_mesh_out_f32le(mg_mesh_out *out, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    mg_mesh_out_u32le(out, bits);
}

void mg_mesh_out_free(mg_mesh_out *out)
{
    free(out->data);
    memset(out, 0, sizeof *out);
}

float mg_load_f32le(const unsigned char *p)
{
    uint32_t bits = mg_load_u32le(p);
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

size_t mg_mesh_kept_faces(const mg_mesh *mesh)
{
    size_t kept = 0;
    for (size_t f = 0; f < mesh->num_faces; f++)
        kept += mg_mesh_face_kept(mesh, f);
    return kept;
}
