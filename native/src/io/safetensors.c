/*
 * safetensors reader and writer. The header is untrusted input: every number
 * is checked for range and integrality before it is used as an offset, and
 * every failure names the tensor and says what is wrong and what it means.
 */
#include "io/safetensors.h"

#include "io/file_read.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#include <process.h>
#endif

/* Largest integer a JSON number (a double) holds exactly. */
#define MAX_EXACT_INTEGER 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtype_table[MG_ST_DTYPE_COUNT] = {
    [MG_ST_F32] = {"F32", 4}, [MG_ST_F16] = {"F16", 2}, [MG_ST_BF16] = {"BF16", 2}, [MG_ST_F64] = {"F64", 8},
    [MG_ST_I64] = {"I64", 8}, [MG_ST_I32] = {"I32", 4}, [MG_ST_I16] = {"I16", 2},   [MG_ST_I8] = {"I8", 1},
    [MG_ST_U8] = {"U8", 1},   [MG_ST_BOOL] = {"BOOL", 1},
};

const char *mg_st_dtype_name(mg_st_dtype dtype)
{
    return (unsigned)dtype < MG_ST_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

size_t mg_st_dtype_size(mg_st_dtype dtype)
{
    return (unsigned)dtype < MG_ST_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

bool mg_st_dtype_parse(const char *text, mg_st_dtype *out)
{
    for (int i = 0; i < MG_ST_DTYPE_COUNT; i++) {
        if (text && strcmp(text, dtype_table[i].name) == 0) {
            *out = (mg_st_dtype)i;
            return true;
        }
    }
    return false;
}

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void free_contents(mg_safetensors *file)
{
    for (size_t i = 0; i < file->count; i++)
        free(file->tensors[i].name);
    free(file->tensors);
    for (size_t i = 0; i < file->metadata_count; i++) {
        free(file->metadata[i].key);
        free(file->metadata[i].value);
    }
    free(file->metadata);
    file->tensors = NULL;
    file->metadata = NULL;
    file->count = file->metadata_count = 0;
}

void mg_safetensors_close(mg_safetensors *file)
{
    if (!file)
        return;
    free_contents(file);
    free(file->owned);
    mg_file_unmap(file->mapped, file->mapped_size);
    memset(file, 0, sizeof *file);
}

static char *duplicate(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static bool json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!(v >= 0.0 && v <= MAX_EXACT_INTEGER) || v != (double)(uint64_t)v)
        return false;
    *out = (uint64_t)v;
    return true;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const mg_st_tensor *)a)->name, ((const mg_st_tensor *)b)->name);
}

static int compare_ranges(const void *a, const void *b)
{
    const mg_st_tensor *x = *(const mg_st_tensor *const *)a, *y = *(const mg_st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static mg_status parse_metadata(const char *source, const cJSON *object, mg_safetensors *out, mg_diag *diag)
{
    if (!cJSON_IsObject(object))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: \"__metadata__\" must be an object of strings", source);
    size_t n = (size_t)cJSON_GetArraySize(object);
    out->metadata = calloc(n ? n : 1, sizeof *out->metadata);
    if (!out->metadata)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the metadata", source);
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        if (!cJSON_IsString(item))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: metadata entry \"%.100s\" is not a string (safetensors metadata "
                           "maps strings to strings)", source, item->string);
        mg_st_metadata *m = &out->metadata[out->metadata_count];
        m->key = duplicate(item->string);
        m->value = duplicate(item->valuestring);
        if (!m->key || !m->value) {
            free(m->key);
            free(m->value);
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the metadata", source);
        }
        out->metadata_count++;
    }
    return MG_OK;
}

static mg_status parse_tensor(const char *source, const cJSON *entry, mg_st_tensor *t, uint64_t data_size,
                              mg_diag *diag)
{
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': entry is not an object with dtype, shape and "
                       "data_offsets", source, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': \"dtype\" is missing or not a string", source, name);
    if (!mg_st_dtype_parse(dtype->valuestring, &t->dtype))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': unknown dtype \"%.20s\" (this reader knows F32, "
                       "F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL)", source, name, dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': \"shape\" is missing or not an array", source, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > MG_ST_MAX_DIMS)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': %d dimensions (at most %d are supported)", source,
                       name, ndim, MG_ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t count = 1;
    bool overflow = false;
    for (int i = 0; i < ndim; i++) {
        uint64_t extent;
        if (!json_uint(cJSON_GetArrayItem(shape, i), &extent))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': shape entry %d is not a non-negative integer",
                           source, name, i);
        t->shape[i] = (int64_t)extent;
        if (extent != 0 && count > UINT64_MAX / extent)
            overflow = true;
        else
            count *= extent;
    }
    size_t elem = mg_st_dtype_size(t->dtype);
    if (count == 0)
        overflow = false; /* a zero extent anywhere makes the tensor empty */
    if (overflow || count > UINT64_MAX / elem)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': its shape holds more bytes than any file can",
                       source, name);
    t->count = count;
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(cJSON_GetArrayItem(offsets, 0), &begin) || !json_uint(cJSON_GetArrayItem(offsets, 1), &end))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': \"data_offsets\" must be [begin, end], two "
                       "non-negative integers", source, name);
    if (begin > end)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': data_offsets [%llu, %llu] end before they begin",
                       source, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': data_offsets [%llu, %llu] go past the end of the "
                       "file (%llu bytes of data): the file is truncated or its header lies", source, name,
                       (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != count * elem) {
        char dims[160] = "";
        size_t used = 0;
        for (int i = 0; i < ndim && used < sizeof dims; i++)
            used += (size_t)snprintf(dims + used, sizeof dims - used, "%s%lld", i ? ", " : "",
                                     (long long)t->shape[i]);
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s': shape [%s] of %s needs %llu bytes but "
                       "data_offsets [%llu, %llu] hold %llu: the header is inconsistent", source, name, dims,
                       mg_st_dtype_name(t->dtype), (unsigned long long)(count * elem), (unsigned long long)begin,
                       (unsigned long long)end, (unsigned long long)(end - begin));
    }
    t->begin = begin;
    t->end = end;
    return MG_OK;
}

static mg_status check_overlaps(const char *source, mg_safetensors *out, mg_diag *diag)
{
    if (out->count < 2)
        return MG_OK;
    const mg_st_tensor **order = malloc(out->count * sizeof *order);
    if (!order)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory checking the header", source);
    size_t n = 0;
    for (size_t i = 0; i < out->count; i++)
        if (out->tensors[i].end > out->tensors[i].begin) /* empty tensors occupy nothing */
            order[n++] = &out->tensors[i];
    qsort(order, n, sizeof *order, compare_ranges);
    mg_status status = MG_OK;
    const mg_st_tensor *furthest = NULL;
    for (size_t i = 0; i < n && status == MG_OK; i++) {
        if (furthest && order[i]->begin < furthest->end)
            status = mg_fail(diag, MG_ERR_FORMAT, "%s: tensors '%.100s' [%llu, %llu] and '%.100s' [%llu, %llu] "
                             "overlap: the header is corrupt", source, furthest->name,
                             (unsigned long long)furthest->begin, (unsigned long long)furthest->end, order[i]->name,
                             (unsigned long long)order[i]->begin, (unsigned long long)order[i]->end);
        if (!furthest || order[i]->end > furthest->end)
            furthest = order[i];
    }
    free(order);
    return status;
}

static mg_status parse_header(const char *source, const uint8_t *bytes, size_t size, mg_safetensors *out,
                              mg_diag *diag)
{
    if (size < 8)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file (8 bytes of header "
                       "length come first): the file is truncated", source, size);
    uint64_t header_size = read_le64(bytes);
    if (header_size > MG_ST_MAX_HEADER_BYTES)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit: this is not a "
                       "safetensors file, or a corrupt one", source, (unsigned long long)header_size);
    if (header_size > size - 8)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: header length %llu goes past the end of the file (%zu bytes): the "
                       "file is truncated or is not a safetensors file", source, (unsigned long long)header_size,
                       size);
    if (header_size < 2 || bytes[8] != '{')
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the header does not start with '{': not a safetensors file",
                       source);
    out->data = bytes + 8 + header_size;
    out->data_size = size - 8 - header_size;

    const char *text = (const char *)bytes + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)header_size, &end, false);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return mg_fail(diag, MG_ERR_FORMAT, "%s: the header is not valid JSON (error near byte %zu of %llu)", source,
                       at, (unsigned long long)header_size);
    }
    /* Only padding may follow the object. */
    const char *stop = text + header_size;
    while (end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    mg_status status = MG_OK;
    if (end != stop)
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the header has %zu stray bytes after its JSON object", source,
                         (size_t)(stop - end));
    else if (!cJSON_IsObject(root))
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the header is JSON but not an object", source);
    size_t entries = status == MG_OK ? (size_t)cJSON_GetArraySize(root) : 0;
    if (status == MG_OK) {
        out->tensors = calloc(entries ? entries : 1, sizeof *out->tensors);
        if (!out->tensors)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", source);
    }
    bool seen_metadata = false;
    const cJSON *entry;
    if (status == MG_OK) {
        cJSON_ArrayForEach(entry, root)
        {
            if (strcmp(entry->string, "__metadata__") == 0) {
                if (seen_metadata) {
                    status = mg_fail(diag, MG_ERR_FORMAT, "%s: \"__metadata__\" appears twice", source);
                    break;
                }
                seen_metadata = true;
                status = parse_metadata(source, entry, out, diag);
                if (status != MG_OK)
                    break;
                continue;
            }
            mg_st_tensor *t = &out->tensors[out->count];
            status = parse_tensor(source, entry, t, out->data_size, diag);
            if (status != MG_OK)
                break;
            t->name = duplicate(entry->string);
            if (!t->name) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", source);
                break;
            }
            t->data = out->data + t->begin;
            out->count++;
        }
    }
    cJSON_Delete(root);
    if (status != MG_OK)
        return status;
    qsort(out->tensors, out->count, sizeof *out->tensors, compare_names);
    for (size_t i = 1; i < out->count; i++)
        if (strcmp(out->tensors[i - 1].name, out->tensors[i].name) == 0)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' appears twice in the header", source,
                           out->tensors[i].name);
    return check_overlaps(source, out, diag);
}

mg_status mg_safetensors_parse(const void *bytes, size_t size, mg_safetensors *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_safetensors_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && size)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_safetensors_parse: bytes is NULL");
    mg_status status = parse_header("safetensors buffer", bytes, size, out, diag);
    if (status != MG_OK)
        mg_safetensors_close(out);
    return status;
}

mg_status mg_safetensors_open(const char *path, mg_safetensors *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_safetensors_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_safetensors_open: path is NULL");
    mg_file_bytes file;
    mg_status status = mg_file_bytes_open(path, &file, diag);
    out->mapped = file.mapped;
    out->mapped_size = file.mapped_size;
    out->owned = file.owned;
    const uint8_t *bytes = file.data;
    size_t size = file.size;
    if (status == MG_OK)
        status = parse_header(path, bytes, size, out, diag);
    if (status != MG_OK)
        mg_safetensors_close(out);
    return status;
}

const mg_st_tensor *mg_safetensors_find(const mg_safetensors *file, const char *name)
{
    if (!file || !name || file->count == 0)
        return NULL;
    mg_st_tensor key = {.name = (char *)name};
    return bsearch(&key, file->tensors, file->count, sizeof key, compare_names);
}

const char *mg_safetensors_metadata(const mg_safetensors *file, const char *key)
{
    if (!file || !key)
        return NULL;
    for (size_t i = 0; i < file->metadata_count; i++)
        if (strcmp(file->metadata[i].key, key) == 0)
            return file->metadata[i].value;
    return NULL;
}

/* ---- writer ---- */

static int compare_write_names(const void *a, const void *b)
{
    return strcmp((*(const mg_st_write_tensor *const *)a)->name, (*(const mg_st_write_tensor *const *)b)->name);
}

static int compare_metadata_keys(const void *a, const void *b)
{
    return strcmp((*(const mg_st_metadata *const *)a)->key, (*(const mg_st_metadata *const *)b)->key);
}

static mg_status check_write_tensor(const mg_st_write_tensor *t, size_t index, uint64_t *nbytes, mg_diag *diag)
{
    if (!t->name || !t->name[0])
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor %zu has no name", index);
    if (strcmp(t->name, "__metadata__") == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: \"__metadata__\" is not a tensor name");
    if ((unsigned)t->dtype >= MG_ST_DTYPE_COUNT)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '%.100s' has an unknown dtype",
                       t->name);
    if (t->ndim < 0 || t->ndim > MG_ST_MAX_DIMS)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '%.100s' has %d dimensions (0 to "
                       "%d)", t->name, t->ndim, MG_ST_MAX_DIMS);
    uint64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || (double)t->shape[i] > MAX_EXACT_INTEGER)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '%.100s' has a negative or "
                           "huge extent", t->name);
        count *= (uint64_t)t->shape[i];
    }
    *nbytes = count * mg_st_dtype_size(t->dtype);
    if (*nbytes && !t->data)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '%.100s' has no data", t->name);
    return MG_OK;
}

static cJSON *build_header(const mg_st_write_tensor *const *order, size_t count, const mg_st_metadata *const *meta,
                           size_t metadata_count, const uint64_t *sizes)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = true;
    if (metadata_count > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (size_t i = 0; ok && i < metadata_count; i++)
            ok = cJSON_AddStringToObject(m, meta[i]->key, meta[i]->value) != NULL;
    }
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < count; i++) {
        const mg_st_write_tensor *t = order[i];
        cJSON *entry = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = entry ? cJSON_AddArrayToObject(entry, "shape") : NULL;
        cJSON *offsets = NULL;
        ok = entry && cJSON_AddStringToObject(entry, "dtype", mg_st_dtype_name(t->dtype)) && shape;
        for (int d = 0; ok && d < t->ndim; d++) {
            cJSON *n = cJSON_CreateNumber((double)t->shape[d]);
            ok = n && cJSON_AddItemToArray(shape, n);
        }
        if (ok)
            offsets = cJSON_AddArrayToObject(entry, "data_offsets");
        cJSON *b = offsets ? cJSON_CreateNumber((double)offset) : NULL;
        ok = b && cJSON_AddItemToArray(offsets, b);
        cJSON *e = ok ? cJSON_CreateNumber((double)(offset + sizes[i])) : NULL;
        ok = e && cJSON_AddItemToArray(offsets, e);
        offset += sizes[i];
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static int current_pid(void)
{
#if defined(_WIN32)
    return _getpid();
#else
    return (int)getpid();
#endif
}

mg_status mg_safetensors_write(const char *path, const mg_st_write_tensor *tensors, size_t count,
                               const mg_st_metadata *metadata, size_t metadata_count, mg_diag *diag)
{
    if (!path || (!tensors && count) || (!metadata && metadata_count))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_safetensors_write: NULL argument");
    const mg_st_write_tensor **order = malloc((count ? count : 1) * sizeof *order);
    uint64_t *sizes = malloc((count ? count : 1) * sizeof *sizes);
    const mg_st_metadata **meta = malloc((metadata_count ? metadata_count : 1) * sizeof *meta);
    char *json = NULL;
    cJSON *root = NULL;
    mg_status status = MG_OK;
    if (!order || !sizes || !meta) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory writing the header", path);
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        order[i] = &tensors[i];
    qsort(order, count, sizeof *order, compare_write_names);
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        status = check_write_tensor(order[i], i, &sizes[i], diag);
        if (status == MG_OK && i > 0 && strcmp(order[i - 1]->name, order[i]->name) == 0)
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: tensor '%.100s' is given twice",
                             order[i]->name);
    }
    for (size_t i = 0; i < metadata_count && status == MG_OK; i++) {
        meta[i] = &metadata[i];
        if (!metadata[i].key || !metadata[i].value)
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: metadata entry %zu is NULL", i);
    }
    if (status != MG_OK)
        goto done;
    qsort(meta, metadata_count, sizeof *meta, compare_metadata_keys);
    for (size_t i = 1; i < metadata_count; i++)
        if (strcmp(meta[i - 1]->key, meta[i]->key) == 0) {
            status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "safetensors writer: metadata key \"%.100s\" is given "
                             "twice", meta[i]->key);
            goto done;
        }
    root = build_header(order, count, meta, metadata_count, sizes);
    json = root ? cJSON_PrintUnformatted(root) : NULL;
    if (!json) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory writing the header", path);
        goto done;
    }
    size_t json_size = strlen(json);
    size_t padded = (json_size + 7) / 8 * 8; /* data starts 8-byte aligned */
    uint8_t length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    char temporary[4096];
    mg_format(temporary, sizeof temporary, "%s.%d.tmp", path, current_pid());
    FILE *f = fopen(temporary, "wb");
    if (!f) {
        status = mg_fail(diag, MG_ERR_IO, "cannot create %s: %s", temporary, strerror(errno));
        goto done;
    }
    bool ok = fwrite(length, 1, 8, f) == 8 && fwrite(json, 1, json_size, f) == json_size;
    for (size_t i = json_size; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    /* The data is written as given: callers hold little-endian bytes (every supported host is little-endian). */
    for (size_t i = 0; ok && i < count; i++)
        ok = sizes[i] == 0 || fwrite(order[i]->data, 1, (size_t)sizes[i], f) == (size_t)sizes[i];
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        status = mg_fail(diag, MG_ERR_IO, "cannot write %s: %s", temporary, strerror(errno));
        remove(temporary);
    } else if (rename(temporary, path) != 0) {
        status = mg_fail(diag, MG_ERR_IO, "cannot rename %s to %s: %s", temporary, path, strerror(errno));
        remove(temporary);
    }
done:
    cJSON_free(json);
    cJSON_Delete(root);
    free(order);
    free(sizes);
    free(meta);
    return status;
}
