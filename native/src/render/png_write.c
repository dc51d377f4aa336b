/* A minimal PNG writer: IHDR (8-bit RGBA), one IDAT (filter 0 on every row, deflated by zlib), IEND. */
#include "render/png_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC of type + data) at *at. */
static void put_chunk(uint8_t *out, size_t *at, const char type[4], const uint8_t *data, uint32_t length)
{
    uint8_t *p = out + *at;
    put_be32(p, length);
    memcpy(p + 4, type, 4);
    if (length)
        memcpy(p + 8, data, length);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, 4 + length);
    put_be32(p + 8 + length, (uint32_t)crc);
    *at += 12 + (size_t)length;
}

mg_status mg_png_encode(const uint8_t *rgba, uint32_t width, uint32_t height, uint8_t **out, size_t *out_size,
                        mg_diag *diag)
{
    *out = NULL;
    *out_size = 0;
    if (!rgba || width == 0 || height == 0 || width > 16384 || height > 16384)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "a PNG image must be 1 to 16384 pixels wide and high");
    const size_t row = 1 + (size_t)width * 4, raw_size = row * height;
    uint8_t *raw = malloc(raw_size);
    uLongf packed_size = compressBound((uLong)raw_size);
    uint8_t *packed = malloc(packed_size);
    if (!raw || !packed) {
        free(raw);
        free(packed);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory encoding a PNG image");
    }
    for (uint32_t y = 0; y < height; y++) {
        raw[y * row] = 0; /* filter: none */
        memcpy(raw + y * row + 1, rgba + (size_t)y * width * 4, (size_t)width * 4);
    }
    int z = compress2(packed, &packed_size, raw, (uLong)raw_size, 6);
    free(raw);
    if (z != Z_OK || packed_size > UINT32_MAX) {
        free(packed);
        return mg_fail(diag, MG_ERR_INTERNAL, "zlib could not deflate the image (error %d)", z);
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    uint8_t header[13];
    put_be32(header, width);
    put_be32(header + 4, height);
    header[8] = 8;  /* bits per channel */
    header[9] = 6;  /* RGBA */
    header[10] = 0; /* deflate */
    header[11] = 0; /* adaptive filtering */
    header[12] = 0; /* no interlace */
    size_t total = 8 + (12 + 13) + (12 + (size_t)packed_size) + 12;
    uint8_t *png = malloc(total);
    if (!png) {
        free(packed);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory encoding a PNG image");
    }
    size_t at = 8;
    memcpy(png, signature, 8);
    put_chunk(png, &at, "IHDR", header, 13);
    put_chunk(png, &at, "IDAT", packed, (uint32_t)packed_size);
    put_chunk(png, &at, "IEND", NULL, 0);
    free(packed);
    *out = png;
    *out_size = at;
    return MG_OK;
}

mg_status mg_png_write(const char *path, const uint8_t *rgba, uint32_t width, uint32_t height, mg_diag *diag)
{
    uint8_t *png = NULL;
    size_t size = 0;
    mg_status status = mg_png_encode(rgba, width, height, &png, &size, diag);
    if (status != MG_OK)
        return status;
    size_t n = strlen(path) + 16;
    char *temp = malloc(n);
    if (!temp) {
        free(png);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
    }
    snprintf(temp, n, "%s.partial", path);
    FILE *f = fopen(temp, "wb");
    if (!f)
        status = mg_fail(diag, MG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    else {
        bool ok = fwrite(png, 1, size, f) == size;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(temp, path) != 0) {
            status = mg_fail(diag, MG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
            remove(temp);
        }
    }
    free(temp);
    free(png);
    return status;
}
