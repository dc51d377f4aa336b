/*
 * Zip reader for PyTorch checkpoints. The central directory is the truth (as
 * for every zip reader); each entry's local header is read only to find where
 * its data starts (PyTorch pads it with an extra field for alignment).
 */
#include "io/torch_zip.h"

#include "io/file_read.h"

#include <zlib.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_END64_LOCATOR 0x07064b50u
#define END_SIZE 22u
#define END64_LOCATOR_SIZE 20u
#define END64_MIN_SIZE 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u
#define MAX_COMMENT 65535u
#define METHOD_STORED 0
#define METHOD_DEFLATE 8

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

bool mg_zip_has_magic(const void *bytes, size_t size)
{
    const uint8_t *b = bytes;
    return bytes && size >= 4 && (le32(b) == SIG_LOCAL || le32(b) == SIG_END);
}

void mg_zip_close(mg_zip *zip)
{
    if (!zip)
        return;
    for (size_t i = 0; i < zip->count; i++)
        free(zip->entries[i].name);
    free(zip->entries);
    free(zip->source);
    free(zip->owned);
    mg_file_unmap(zip->mapped, zip->mapped_size);
    memset(zip, 0, sizeof *zip);
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const mg_zip_entry *)a)->name, ((const mg_zip_entry *)b)->name);
}

/* The end-of-central-directory record: the last signature that fits with its comment. */
static bool find_end(const uint8_t *b, size_t size, size_t *at)
{
    if (size < END_SIZE)
        return false;
    size_t lowest = size - END_SIZE > MAX_COMMENT ? size - END_SIZE - MAX_COMMENT : 0;
    for (size_t i = size - END_SIZE + 1; i-- > lowest;) {
        if (le32(b + i) == SIG_END && i + END_SIZE + le16(b + i + 20) <= size) {
            *at = i;
            return true;
        }
    }
    return false;
}

typedef struct directory {
    uint64_t entries, offset, size;
    uint64_t limit; /* the central directory must end before this (the end records) */
} directory;

static mg_status read_directory_location(const mg_zip *zip, size_t end, directory *dir, mg_diag *diag)
{
    const uint8_t *b = zip->bytes;
    const uint8_t *e = b + end;
    if (le16(e + 4) != 0 || le16(e + 6) != 0 || le16(e + 8) != le16(e + 10))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: a multi-part zip archive is not a PyTorch checkpoint", zip->source);
    dir->entries = le16(e + 10);
    dir->size = le32(e + 12);
    dir->offset = le32(e + 16);
    dir->limit = end;
    bool wide = dir->entries == 0xFFFF || dir->size == 0xFFFFFFFFu || dir->offset == 0xFFFFFFFFu;
    if (!wide)
        return MG_OK;
    /* zip64: the locator sits just before the classic record and points at the zip64 record. */
    if (end < END64_LOCATOR_SIZE || le32(b + end - END64_LOCATOR_SIZE) != SIG_END64_LOCATOR)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the zip directory needs zip64 records that are missing: the file is "
                       "corrupt", zip->source);
    uint64_t at = le64(b + end - END64_LOCATOR_SIZE + 8);
    if (at > end - END64_LOCATOR_SIZE || end - END64_LOCATOR_SIZE - at < END64_MIN_SIZE ||
        le32(b + at) != SIG_END64)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the zip64 end record is out of place: the file is corrupt",
                       zip->source);
    const uint8_t *z = b + at;
    if (le32(z + 16) != 0 || le32(z + 20) != 0 || le64(z + 24) != le64(z + 32))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: a multi-part zip archive is not a PyTorch checkpoint", zip->source);
    dir->entries = le64(z + 32);
    dir->size = le64(z + 40);
    dir->offset = le64(z + 48);
    dir->limit = at;
    return MG_OK;
}

/* Fills in the 64-bit sizes and offset from a zip64 extra field where the 32-bit ones are saturated. */
static bool apply_zip64_extra(const uint8_t *extra, size_t length, mg_zip_entry *e, uint64_t *local_offset)
{
    bool need_size = e->size == 0xFFFFFFFFu, need_csize = e->compressed_size == 0xFFFFFFFFu;
    bool need_offset = *local_offset == 0xFFFFFFFFu;
    if (!need_size && !need_csize && !need_offset)
        return true;
    for (size_t at = 0; at + 4 <= length;) {
        uint16_t id = le16(extra + at), field = le16(extra + at + 2);
        if (field > length - at - 4)
            return false;
        if (id == 0x0001) {
            const uint8_t *p = extra + at + 4;
            size_t left = field;
            if (need_size) {
                if (left < 8)
                    return false;
                e->size = le64(p), p += 8, left -= 8;
            }
            if (need_csize) {
                if (left < 8)
                    return false;
                e->compressed_size = le64(p), p += 8, left -= 8;
            }
            if (need_offset) {
                if (left < 8)
                    return false;
                *local_offset = le64(p);
            }
            return true;
        }
        at += 4 + (size_t)field;
    }
    return false;
}

static mg_status read_entry(const mg_zip *zip, const directory *dir, uint64_t *cursor, mg_zip_entry *e,
                            mg_diag *diag)
{
    const uint8_t *b = zip->bytes;
    uint64_t at = *cursor;
    uint64_t end = dir->offset + dir->size;
    if (end - at < CENTRAL_SIZE || le32(b + at) != SIG_CENTRAL)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the zip directory is corrupt at byte %llu (the file is truncated "
                       "or damaged)", zip->source, (unsigned long long)at);
    const uint8_t *c = b + at;
    uint16_t flags = le16(c + 8);
    e->method = le16(c + 10);
    e->crc32 = le32(c + 16);
    e->compressed_size = le32(c + 20);
    e->size = le32(c + 24);
    size_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
    uint64_t local = le32(c + 42);
    if (end - at - CENTRAL_SIZE < (uint64_t)name_len + extra_len + comment_len)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: a zip directory entry runs past the directory: the file is corrupt",
                       zip->source);
    const uint8_t *name = c + CENTRAL_SIZE;
    if (memchr(name, '\0', name_len))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: a zip entry name holds a NUL byte: the file is corrupt",
                       zip->source);
    e->name = malloc(name_len + 1);
    if (!e->name)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the zip directory", zip->source);
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';
    *cursor = at + CENTRAL_SIZE + name_len + extra_len + comment_len;
    if (!apply_zip64_extra(name + name_len, extra_len, e, &local))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' lacks its zip64 sizes: the file is corrupt",
                       zip->source, e->name);
    if (flags & 1u)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: zip entry '%.200s' is encrypted", zip->source, e->name);
    if (e->method != METHOD_STORED && e->method != METHOD_DEFLATE)
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s: zip entry '%.200s' uses compression method %u (only stored "
                       "and deflate are read; PyTorch writes stored entries)", zip->source, e->name, e->method);
    if (e->method == METHOD_STORED && e->compressed_size != e->size)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: stored zip entry '%.200s' has sizes %llu and %llu that differ: the "
                       "file is corrupt", zip->source, e->name, (unsigned long long)e->compressed_size,
                       (unsigned long long)e->size);
    /* Deflate expands at most 1032-fold: a larger claim would only make the reader allocate for nothing. */
    if (e->method == METHOD_DEFLATE && e->size / 1032 > e->compressed_size + 1)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' claims %llu bytes from %llu deflated ones, more "
                       "than deflate can produce: the file is corrupt", zip->source, e->name,
                       (unsigned long long)e->size, (unsigned long long)e->compressed_size);
    /* The local header: its name and extra field lengths may differ from the directory's. */
    if (local > dir->offset || dir->offset - local < LOCAL_SIZE || le32(b + local) != SIG_LOCAL)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' points at byte %llu, where no entry starts: the "
                       "file is truncated or corrupt", zip->source, e->name, (unsigned long long)local);
    uint64_t data = local + LOCAL_SIZE + le16(b + local + 26) + le16(b + local + 28);
    if (data > dir->offset || dir->offset - data < e->compressed_size)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' (%llu bytes at %llu) runs into the directory: the "
                       "file is truncated or corrupt", zip->source, e->name, (unsigned long long)e->compressed_size,
                       (unsigned long long)data);
    e->data_offset = data;
    return MG_OK;
}

static mg_status parse(mg_zip *zip, mg_diag *diag)
{
    size_t end;
    if (!find_end(zip->bytes, zip->size, &end))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: no zip directory at the end of the file: the file is truncated (or "
                       "not a zip archive)", zip->source);
    directory dir = {0};
    mg_status status = read_directory_location(zip, end, &dir, diag);
    if (status != MG_OK)
        return status;
    if (dir.offset > dir.limit || dir.limit - dir.offset < dir.size)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the zip directory (%llu bytes at %llu) lies outside the file: the "
                       "file is truncated or corrupt", zip->source, (unsigned long long)dir.size,
                       (unsigned long long)dir.offset);
    if (dir.entries > dir.size / CENTRAL_SIZE)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the zip directory claims %llu entries in %llu bytes: the file is "
                       "corrupt", zip->source, (unsigned long long)dir.entries, (unsigned long long)dir.size);
    zip->entries = calloc(dir.entries ? (size_t)dir.entries : 1, sizeof *zip->entries);
    if (!zip->entries)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the zip directory", zip->source);
    uint64_t cursor = dir.offset;
    for (uint64_t i = 0; i < dir.entries; i++) {
        status = read_entry(zip, &dir, &cursor, &zip->entries[zip->count], diag);
        if (zip->entries[zip->count].name)
            zip->count++; /* owned from here on, even on failure */
        if (status != MG_OK)
            return status;
    }
    qsort(zip->entries, zip->count, sizeof *zip->entries, compare_entries);
    for (size_t i = 1; i < zip->count; i++)
        if (strcmp(zip->entries[i - 1].name, zip->entries[i].name) == 0)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' appears twice", zip->source,
                           zip->entries[i].name);
    return MG_OK;
}

static char *duplicate(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

mg_status mg_zip_parse(const void *bytes, size_t size, const char *source, mg_zip *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_zip_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && size)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_zip_parse: bytes is NULL");
    out->bytes = bytes;
    out->size = size;
    out->source = duplicate(source ? source : "zip buffer");
    mg_status status = out->source ? parse(out, diag)
                                   : mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory opening a zip archive");
    if (status != MG_OK)
        mg_zip_close(out);
    return status;
}

mg_status mg_zip_open(const char *path, mg_zip *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_zip_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_zip_open: path is NULL");
    out->source = duplicate(path);
    if (!out->source)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory opening %s", path);
    mg_file_bytes file;
    mg_status status = mg_file_bytes_open(path, &file, diag);
    out->mapped = file.mapped;
    out->mapped_size = file.mapped_size;
    out->owned = file.owned;
    out->bytes = file.data;
    out->size = file.size;
    if (status == MG_OK)
        status = parse(out, diag);
    if (status != MG_OK)
        mg_zip_close(out);
    return status;
}

const mg_zip_entry *mg_zip_find(const mg_zip *zip, const char *name)
{
    if (!zip || !name || zip->count == 0)
        return NULL;
    mg_zip_entry key = {.name = (char *)name};
    return bsearch(&key, zip->entries, zip->count, sizeof key, compare_entries);
}

mg_status mg_zip_entry_data(const mg_zip *zip, const mg_zip_entry *entry, void *scratch, const uint8_t **data,
                            mg_diag *diag)
{
    *data = NULL;
    const uint8_t *raw = zip->bytes + entry->data_offset;
    if (entry->method == METHOD_STORED) {
        *data = raw;
        return MG_OK;
    }
    if (!scratch && entry->size)
        return mg_fail(diag, MG_ERR_INTERNAL, "%s: no buffer to inflate '%.200s' into", zip->source, entry->name);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) /* raw deflate: zip entries carry no zlib header */
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: cannot start inflating '%.200s'", zip->source, entry->name);
    uint64_t in_left = entry->compressed_size, out_left = entry->size;
    const uint8_t *in = raw;
    uint8_t *out = scratch;
    int rc = Z_OK;
    while (rc == Z_OK) {
        /* zlib counts in unsigned int: feed at most 1 GiB at a time. */
        if (z.avail_in == 0 && in_left) {
            z.next_in = (Bytef *)(uintptr_t)in;
            z.avail_in = (uInt)(in_left < (1u << 30) ? in_left : (1u << 30));
            in += z.avail_in;
            in_left -= z.avail_in;
        }
        if (z.avail_out == 0 && out_left) {
            z.next_out = out;
            z.avail_out = (uInt)(out_left < (1u << 30) ? out_left : (1u << 30));
            out += z.avail_out;
            out_left -= z.avail_out;
        }
        uInt before_in = z.avail_in, before_out = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == before_in && z.avail_out == before_out))
            break; /* no progress: the stream wants more input or more room than the entry has */
    }
    uint64_t produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != entry->size)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' does not inflate to its %llu bytes: the file is "
                       "corrupt", zip->source, entry->name, (unsigned long long)entry->size);
    uLong crc = crc32(0L, Z_NULL, 0);
    const uint8_t *p = scratch;
    for (uint64_t left = entry->size; left;) {
        uInt n = (uInt)(left < (1u << 30) ? left : (1u << 30));
        crc = crc32(crc, p, n);
        p += n;
        left -= n;
    }
    if ((uint32_t)crc != entry->crc32)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: zip entry '%.200s' fails its CRC-32 check: the file is corrupt",
                       zip->source, entry->name);
    *data = scratch;
    return MG_OK;
}
