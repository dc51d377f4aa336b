/* Token files: {"format": "meshgpt-tokens", "version": 1, "levels": Q, "face_size": 3 or 4,
 * "faces": F, "tokens": [...], "model": optional, "text": optional}. */
#include "core/diag.h"

#include <cjson/cJSON.h>
#include <errno.h>
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

static bool read_count(const cJSON *root, const char *key, double lo, double hi, double *value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(long long)item->valuedouble ||
        item->valuedouble < lo || item->valuedouble > hi)
        return false;
    *value = item->valuedouble;
    return true;
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
    cJSON *root = cJSON_ParseWithLength(data, size);
    free(data);
    const char *problem = NULL;
    double levels = 0, face_size = 0, faces = 0;
    const cJSON *format = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    const cJSON *version = root ? cJSON_GetObjectItemCaseSensitive(root, "version") : NULL;
    const cJSON *list = root ? cJSON_GetObjectItemCaseSensitive(root, "tokens") : NULL;
    if (!cJSON_IsObject(root))
        problem = "it is not a JSON object";
    else if (!cJSON_IsString(format) || strcmp(format->valuestring, "meshgpt-tokens") != 0)
        problem = "\"format\" is not \"meshgpt-tokens\"";
    else if (!cJSON_IsNumber(version) || version->valuedouble != 1)
        problem = "\"version\" is not 1 (a newer meshgpt may have written it)";
    else if (!read_count(root, "levels", 1, 64, &levels))
        problem = "\"levels\" must be an integer from 1 to 64";
    else if (!read_count(root, "face_size", 3, 4, &face_size))
        problem = "\"face_size\" must be 3 or 4";
    else if (!read_count(root, "faces", 0, 1e8, &faces))
        problem = "\"faces\" must be a non-negative integer";
    else if (!cJSON_IsArray(list))
        problem = "\"tokens\" must be an array of integers";
    else if ((double)cJSON_GetArraySize(list) != faces * face_size * levels)
        problem = "\"tokens\" does not hold faces x face_size x levels values";
    if (problem) {
        cJSON_Delete(root);
        return report(error_buffer, error_buffer_size, MG_ERR_FORMAT, "%s is not a valid token file: %s", path,
                      problem);
    }
    const size_t count = (size_t)(faces * face_size * levels);
    out->tokens = malloc((count ? count : 1) * sizeof(int32_t));
    if (!out->tokens) {
        cJSON_Delete(root);
        return report(error_buffer, error_buffer_size, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s%s", path,
                      NULL);
    }
    size_t i = 0;
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsNumber(item) || item->valuedouble != (double)(long long)item->valuedouble ||
            item->valuedouble < -1 || item->valuedouble > 2147483647.0) {
            cJSON_Delete(root);
            mg_tokens_free(out);
            return report(error_buffer, error_buffer_size, MG_ERR_FORMAT,
                          "%s is not a valid token file: %s", path,
                          "every token must be an integer >= -1 (-1 marks a missing token)");
        }
        out->tokens[i++] = (int32_t)item->valuedouble;
    }
    out->num_faces = (size_t)faces;
    out->face_size = (uint32_t)face_size;
    out->levels = (uint32_t)levels;
    cJSON_Delete(root);
    return MG_OK;
}
