/* Token files: {"format": "meshgpt-tokens", "version": 1, "levels": Q, "face_size": 3 or 4,
 * "faces": F, "tokens": [...], "model": optional, "text": optional}. */
#include "io/tokens_json.h"

#include "core/diag.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_FILE_MAX_BYTES (256u << 20)

static mg_status report(char *buffer, size_t size, mg_status status, const char *fmt, const char *path,
                        const char *detail)
{
    if (buffer && size)
        mg_format(buffer, size, fmt, path, detail ? detail : "");
    return status;
}

mg_status mg_tokens_write_json(const char *path, const mg_tokens *tokens, const char *model_name, const char *text,
                               char *error_buffer, size_t error_buffer_size)
{
    if (!path || !tokens || (!tokens->tokens && tokens->num_faces))
        return report(error_buffer, error_buffer_size, MG_ERR_INVALID_ARGUMENT,
                      "mg_tokens_write_json: path and tokens must not be NULL%s%s", "", NULL);
    const size_t count = tokens->num_faces * tokens->face_size * tokens->levels;
    /* Written by hand: one line per face keeps large files readable and diffable. */
    char temp[4096];
    mg_format(temp, sizeof temp, "%s.tmp", path);
    FILE *file = fopen(temp, "wb");
    if (!file)
        return report(error_buffer, error_buffer_size, MG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fprintf(file, "{\n  \"format\": \"meshgpt-tokens\",\n  \"version\": 1,\n");
    if (model_name || text) {
        cJSON *extra = cJSON_CreateObject();
        if (model_name)
            cJSON_AddStringToObject(extra, "model", model_name);
        if (text)
            cJSON_AddStringToObject(extra, "text", text);
        for (cJSON *item = extra->child; item; item = item->next) {
            char *value = cJSON_PrintUnformatted(item);
            if (value)
                fprintf(file, "  \"%s\": %s,\n", item->string, value);
            cJSON_free(value);
        }
        cJSON_Delete(extra);
    }
    fprintf(file, "  \"levels\": %u,\n  \"face_size\": %u,\n  \"faces\": %zu,\n  \"tokens\": [", tokens->levels,
            tokens->face_size, tokens->num_faces);
    const size_t per_face = (size_t)tokens->face_size * tokens->levels;
    for (size_t i = 0; i < count; i++) {
        if (per_face && i % per_face == 0)
            fprintf(file, "%s\n    ", i ? "," : "");
        else
            fprintf(file, ", ");
        fprintf(file, "%d", (int)tokens->tokens[i]);
    }
    fprintf(file, "\n  ]\n}\n");
    bool failed = ferror(file) != 0;
    failed = fclose(file) != 0 || failed;
    if (failed || rename(temp, path) != 0) {
        int error = errno;
        remove(temp);
        return report(error_buffer, error_buffer_size, MG_ERR_IO, "cannot write %s: %s", path, strerror(error));
    }
    return MG_OK;
}

static char *read_file(const char *path, size_t *size, char *error_buffer, size_t error_buffer_size,
                       mg_status *status)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        *status = report(error_buffer, error_buffer_size, MG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    size_t used = 0, capacity = 0;
    for (;;) {
        if (used == capacity) {
            capacity = capacity ? capacity * 2 : 65536;
            if (capacity > TOKENS_FILE_MAX_BYTES) {
                *status = report(error_buffer, error_buffer_size, MG_ERR_FORMAT,
                                 "%s is larger than 256 MiB: not a token file%s", path, NULL);
                free(data);
                fclose(file);
                return NULL;
            }
            char *grown = realloc(data, capacity + 1);
            if (!grown) {
                *status = report(error_buffer, error_buffer_size, MG_ERR_OUT_OF_MEMORY,
                                 "out of memory reading %s%s", path, NULL);
                free(data);
                fclose(file);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + used, 1, capacity - used, file);
        used += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        *status = report(error_buffer, error_buffer_size, MG_ERR_IO, "cannot read %s%s", path, NULL);
        free(data);
        return NULL;
    }
    data[used] = '\0';
    *size = used;
    return data;
}

static mg_status parse_error(char *error, size_t error_size, mg_status status, const char *fmt, ...)
    MG_PRINTF(4, 5);

static mg_status parse_error(char *error, size_t error_size, mg_status status, const char *fmt, ...)
{
    if (error && error_size) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(error, error_size, fmt, args);
        va_end(args);
    }
    return status;
}

/* Whether a JSON number is an integer in [lo, hi]. Checked on the double before any
 * cast: converting 1e300 to an integer type is undefined behaviour. */
static bool is_integer_in(double value, double lo, double hi)
{
    return isfinite(value) && value >= lo && value <= hi && value == floor(value);
}

/* A JSON value in a few characters for messages: a number as written, else its type. */
static void describe(const cJSON *item, char *out, size_t out_size)
{
    if (!item)
        mg_format(out, out_size, "missing");
    else if (cJSON_IsNumber(item))
        mg_format(out, out_size, "%.17g", item->valuedouble);
    else if (cJSON_IsString(item))
        mg_format(out, out_size, "the string \"%.40s\"", item->valuestring);
    else if (cJSON_IsBool(item))
        mg_format(out, out_size, "%s", cJSON_IsTrue(item) ? "true" : "false");
    else if (cJSON_IsNull(item))
        mg_format(out, out_size, "null");
    else if (cJSON_IsArray(item))
        mg_format(out, out_size, "an array");
    else
        mg_format(out, out_size, "an object");
}

/* An integer field in [lo, hi]; false (with *found described) when it is not one. */
static bool read_count(const cJSON *root, const char *key, double lo, double hi, double *value, char *found,
                       size_t found_size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    describe(item, found, found_size);
    if (!cJSON_IsNumber(item) || !is_integer_in(item->valuedouble, lo, hi))
        return false;
    *value = item->valuedouble;
    return true;
}

mg_status mg_tokens_parse_json(const char *data, size_t size, const char *name, mg_tokens *out, char *error,
                               size_t error_size)
{
    if (!name)
        name = "token data";
    if (!out || (!data && size))
        return parse_error(error, error_size, MG_ERR_INVALID_ARGUMENT,
                           "mg_tokens_parse_json: data and out_tokens must not be NULL");
    memset(out, 0, sizeof *out);
    cJSON *root = data ? cJSON_ParseWithLength(data, size) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return parse_error(error, error_size, MG_ERR_FORMAT,
                           "%s is not a valid token file: it is not a JSON object (a token file starts with "
                           "{\"format\": \"meshgpt-tokens\", ...})",
                           name);
    }
    char found[96];
    double levels = 0, face_size = 0, faces = 0;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    mg_status status = MG_ERR_FORMAT;
    if (!cJSON_IsString(format) || strcmp(format->valuestring, "meshgpt-tokens") != 0) {
        describe(format, found, sizeof found);
        parse_error(error, error_size, status, "%s is not a valid token file: \"format\" is %s, not \"meshgpt-tokens\"",
                    name, found);
    } else if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
        describe(version, found, sizeof found);
        parse_error(error, error_size, status,
                    "%s is not a valid token file: \"version\" is %s; this library reads version 1 (a newer "
                    "meshgpt may have written it)",
                    name, found);
    } else if (!read_count(root, "levels", 1, 64, &levels, found, sizeof found)) {
        parse_error(error, error_size, status,
                    "%s is not a valid token file: \"levels\" is %s; it must be an integer from 1 to 64", name, found);
    } else if (!read_count(root, "face_size", 3, 4, &face_size, found, sizeof found)) {
        parse_error(error, error_size, status, "%s is not a valid token file: \"face_size\" is %s; it must be 3 or 4",
                    name, found);
    } else if (!read_count(root, "faces", 0, 1e8, &faces, found, sizeof found)) {
        parse_error(error, error_size, status,
                    "%s is not a valid token file: \"faces\" is %s; it must be an integer from 0 to 100000000",
                    name, found);
    } else if (!cJSON_IsArray(list)) {
        describe(list, found, sizeof found);
        parse_error(error, error_size, status, "%s is not a valid token file: \"tokens\" is %s, not an array of integers",
                    name, found);
    } else if ((double)cJSON_GetArraySize(list) != faces * face_size * levels) {
        parse_error(error, error_size, status,
                    "%s is not a valid token file: \"tokens\" holds %d values, but faces x face_size x levels is "
                    "%.0f x %.0f x %.0f = %.0f",
                    name, cJSON_GetArraySize(list), faces, face_size, levels, faces * face_size * levels);
    } else {
        status = MG_OK;
    }
    if (status != MG_OK) {
        cJSON_Delete(root);
        return status;
    }
    const size_t count = (size_t)(faces * face_size * levels);
    out->tokens = malloc((count ? count : 1) * sizeof(int32_t));
    if (!out->tokens) {
        cJSON_Delete(root);
        return parse_error(error, error_size, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s (%zu tokens)", name,
                           count);
    }
    const size_t per_face = (size_t)face_size * (size_t)levels;
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsNumber(item) || !is_integer_in(item->valuedouble, -1.0, 2147483647.0)) {
            describe(item, found, sizeof found);
            cJSON_Delete(root);
            mg_tokens_free(out);
            return parse_error(error, error_size, MG_ERR_FORMAT,
                               "%s is not a valid token file: token %zu (face %zu, corner %zu, level %zu) is %s; every "
                               "token must be an integer >= -1 (-1 marks a missing token)",
                               name, i, i / per_face, i % per_face / (size_t)levels, i % (size_t)levels, found);
        }
        out->tokens[i++] = (int32_t)item->valuedouble;
    }
    out->num_faces = (size_t)faces;
    out->face_size = (uint32_t)face_size;
    out->levels = (uint32_t)levels;
    cJSON_Delete(root);
    return MG_OK;
}

mg_status mg_tokens_read_json(const char *path, mg_tokens *out, char *error_buffer, size_t error_buffer_size)
{
    if (!path || !out)
        return report(error_buffer, error_buffer_size, MG_ERR_INVALID_ARGUMENT,
                      "mg_tokens_read_json: path and out_tokens must not be NULL%s%s", "", NULL);
    memset(out, 0, sizeof *out);
    mg_status status = MG_OK;
    size_t size = 0;
    char *data = read_file(path, &size, error_buffer, error_buffer_size, &status);
    if (!data)
        return status;
    status = mg_tokens_parse_json(data, size, path, out, error_buffer, error_buffer_size);
    free(data);
    return status;
}
