#include "train/captions.h"

#include "io/file_read.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void mg_caption_list_free(mg_caption_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->entries[i].file);
        free(list->entries[i].text);
    }
    free(list->entries);
    list->entries = NULL;
    list->count = 0;
}

static char *copy_n(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

static bool append(mg_caption_list *list, size_t *capacity, char *file, char *text)
{
    if (!file || !text) {
        free(file);
        free(text);
        return false;
    }
    if (list->count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 16;
        mg_caption *entries = realloc(list->entries, grown * sizeof *entries);
        if (!entries) {
            free(file);
            free(text);
            return false;
        }
        list->entries = entries;
        *capacity = grown;
    }
    list->entries[list->count++] = (mg_caption){file, text};
    return true;
}

mg_status mg_captions_parse_json(const char *text, size_t size, const char *source, mg_caption_list *out,
                                 mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(text, size);
    if (!root)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: not valid JSON (near byte %zu); captions.json must be an object "
                       "mapping file names to texts", source, (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text
                                                                                          : 0));
    mg_status status = MG_OK;
    if (!cJSON_IsObject(root)) {
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the top level must be an object mapping file names to texts, "
                         "e.g. {\"chair.obj\": \"a wooden chair\"}", source);
        goto done;
    }
    size_t capacity = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        /* One text, or an array of texts: several captions of one mesh, each an entry of its own. */
        const bool several = cJSON_IsArray(item);
        const cJSON *text_item = several ? item->child : item;
        if (several && !text_item) {
            status = mg_fail(diag, MG_ERR_FORMAT, "%s: the caption array of '%.200s' is empty; give at least one "
                             "text", source, item->string);
            goto done;
        }
        for (; text_item; text_item = several ? text_item->next : NULL) {
            if (!cJSON_IsString(text_item)) {
                status = mg_fail(diag, MG_ERR_FORMAT, "%s: the caption of '%.200s' is not a string%s", source,
                                 item->string, several ? " (its array must hold only strings)"
                                                       : " (give a text or an array of texts)");
                goto done;
            }
            if (!append(out, &capacity, copy_n(item->string, strlen(item->string)),
                        copy_n(text_item->valuestring, strlen(text_item->valuestring)))) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory", source);
                goto done;
            }
        }
    }
done:
    cJSON_Delete(root);
    if (status != MG_OK)
        mg_caption_list_free(out);
    return status;
}

/* One CSV field starting at *pos; advances past it and its separator. *end_of_row tells whether the row
 * ended. Returns NULL (with *bad set) on an unterminated quote, or on out of memory. */
static char *csv_field(const char *text, size_t size, size_t *pos, bool *end_of_row, bool *bad)
{
    size_t i = *pos;
    char *out = malloc(size - i + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    if (i < size && text[i] == '"') {
        i++;
        for (;;) {
            if (i >= size) {
                *bad = true;
                free(out);
                return NULL;
            }
            if (text[i] == '"') {
                if (i + 1 < size && text[i + 1] == '"') {
                    out[n++] = '"';
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            out[n++] = text[i++];
        }
        /* Anything between the closing quote and the separator is kept, as most readers do. */
    }
    while (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
        out[n++] = text[i++];
    out[n] = '\0';
    *end_of_row = i >= size || text[i] != ',';
    if (i < size && text[i] == ',')
        i++;
    else {
        if (i < size && text[i] == '\r')
            i++;
        if (i < size && text[i] == '\n')
            i++;
    }
    *pos = i;
    return out;
}

mg_status mg_captions_parse_csv(const char *text, size_t size, const char *source, mg_caption_list *out,
                                mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    size_t pos = 0, capacity = 0, row = 0;
    if (size >= 3 && (unsigned char)text[0] == 0xef && (unsigned char)text[1] == 0xbb &&
        (unsigned char)text[2] == 0xbf)
        pos = 3; /* UTF-8 byte-order mark, as spreadsheet programs write */
    while (pos < size) {
        row++;
        if (text[pos] == '\n' || text[pos] == '\r') {
            pos++;
            continue;
        }
        bool end = false, bad = false;
        char *file = csv_field(text, size, &pos, &end, &bad);
        char *caption = NULL;
        if (file && !end) {
            caption = csv_field(text, size, &pos, &end, &bad);
            /* More fields: they belong to the text (an unquoted comma). */
            while (caption && !end) {
                char *more = csv_field(text, size, &pos, &end, &bad);
                char *joined = more ? malloc(strlen(caption) + strlen(more) + 2) : NULL;
                if (joined)
                    strcat(strcat(strcpy(joined, caption), ","), more);
                free(more);
                free(caption);
                caption = joined;
            }
        } else if (file) {
            free(file);
            mg_caption_list_free(out);
            return mg_fail(diag, MG_ERR_FORMAT, "%s: row %zu has no comma; each row must be file,text", source, row);
        }
        if (bad || !file || !caption) {
            free(file);
            free(caption);
            mg_caption_list_free(out);
            if (bad)
                return mg_fail(diag, MG_ERR_FORMAT, "%s: row %zu has a quote that is never closed", source, row);
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory", source);
        }
        if (row == 1 && strcmp(file, "file") == 0 && strcmp(caption, "text") == 0) {
            free(file);
            free(caption);
            continue;
        }
        if (!append(out, &capacity, file, caption)) {
            mg_caption_list_free(out);
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of host memory", source);
        }
    }
    return MG_OK;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m)
        return false;
    for (size_t i = 0; i < m; i++) {
        char c = s[n - m + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return false;
    }
    return true;
}

mg_status mg_captions_read(const char *path, mg_caption_list *out, mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    bool json = ends_with_ci(path, ".json");
    if (!json && !ends_with_ci(path, ".csv"))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%s: a captions file must end in .json or .csv", path);
    uint8_t *data = NULL;
    size_t size = 0;
    mg_status status = mg_read_whole_file(path, &data, &size, diag);
    if (status != MG_OK)
        return status;
    status = json ? mg_captions_parse_json((const char *)data, size, path, out, diag)
                  : mg_captions_parse_csv((const char *)data, size, path, out, diag);
    free(data);
    return status;
}
