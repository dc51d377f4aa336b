/* Writing a procedural data set to a folder, and reading a labelled data set back (labels.json). */
#include "core/diag.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t mix(uint64_t seed, uint64_t index)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static mg_status write_json(const char *path, cJSON *root, char *error, size_t error_size)
{
    char *text = cJSON_Print(root);
    if (!text) {
        mg_format(error, error_size, "out of host memory writing %s", path);
        return MG_ERR_OUT_OF_MEMORY;
    }
    FILE *f = fopen(path, "wb");
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    cJSON_free(text);
    if (!ok) {
        mg_format(error, error_size, "cannot write %s: %s", path, strerror(errno));
        return MG_ERR_IO;
    }
    return MG_OK;
}

/* mkdir -p: the folder and any missing parents (a data set often goes to data/train in a fresh work folder). */
static bool make_folders(const char *dir)
{
    char *path = malloc(strlen(dir) + 1);
    if (!path) {
        errno = ENOMEM;
        return false;
    }
    strcpy(path, dir);
    bool ok = true;
    for (char *p = path + 1; ok && *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ok = mkdir(path, 0777) == 0 || errno == EEXIST;
        *p = '/';
    }
    ok = ok && (mkdir(path, 0777) == 0 || errno == EEXIST);
    free(path);
    return ok;
}

/* The shape's captions.json value: its caption, or an array of it and its shorter forms (the trainer draws
 * one of them each time it uses the shape; train/dataset.h). */
static cJSON *caption_json(const mg_primitive *shape)
{
    if (shape->caption_variant_count == 0)
        return cJSON_CreateString(shape->caption);
    cJSON *all = cJSON_CreateArray(), *first = cJSON_CreateString(shape->caption);
    if (!all || !first) {
        cJSON_Delete(all);
        cJSON_Delete(first);
        return NULL;
    }
    cJSON_AddItemToArray(all, first);
    for (size_t v = 0; v < shape->caption_variant_count; v++) {
        cJSON *text = cJSON_CreateString(shape->caption_variants[v]);
        if (!text) {
            cJSON_Delete(all);
            return NULL;
        }
        cJSON_AddItemToArray(all, text);
    }
    return all;
}

mg_status mg_dataset_write_primitives(const char *dir, size_t count, uint64_t seed, char *error, size_t error_size)
{
    if (!dir || !dir[0] || count == 0) {
        mg_format(error, error_size, "mg_dataset_write_primitives: give a folder and a count above 0");
        return MG_ERR_INVALID_ARGUMENT;
    }
    if (!make_folders(dir)) {
        mg_format(error, error_size, "cannot create the folder %s: %s", dir, strerror(errno));
        return MG_ERR_IO;
    }
    cJSON *captions = cJSON_CreateObject(), *labels = cJSON_CreateObject();
    mg_status status = captions && labels ? MG_OK : MG_ERR_OUT_OF_MEMORY;
    if (status != MG_OK)
        mg_format(error, error_size, "out of host memory");
    const size_t classes = mg_primitive_class_count();
    const size_t path_size = strlen(dir) + 64;
    char *path = malloc(path_size);
    if (status == MG_OK && !path) {
        mg_format(error, error_size, "out of host memory");
        status = MG_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; status == MG_OK && i < count; i++) {
        const size_t k = i % classes;
        mg_primitive shape;
        status = mg_primitive_generate(k, mix(seed, i), &shape, error, error_size);
        if (status != MG_OK)
            break;
        char name[64];
        snprintf(name, sizeof name, "%s_%04zu.obj", mg_primitive_class_name(k), i);
        snprintf(path, path_size, "%s/%s", dir, name);
        status = mg_mesh_write(path, &shape.mesh, MG_MESH_FORMAT_OBJ, error, error_size);
        cJSON *label = status == MG_OK ? cJSON_CreateObject() : NULL;
        cJSON *parameters = status == MG_OK ? cJSON_Parse(shape.parameters_json) : NULL;
        cJSON *caption_entry = status == MG_OK ? caption_json(&shape) : NULL;
        cJSON *variants = status == MG_OK ? cJSON_CreateStringArray((const char *const *)shape.caption_variants,
                                                                    (int)shape.caption_variant_count) : NULL;
        if (status == MG_OK &&
            (!label || !parameters || !caption_entry || !variants ||
             !cJSON_AddStringToObject(label, "class", mg_primitive_class_name(k)) ||
             !cJSON_AddStringToObject(label, "caption", shape.caption) ||
             !cJSON_AddNumberToObject(label, "faces", (double)shape.mesh.num_faces))) {
            mg_format(error, error_size, "out of host memory");
            status = MG_ERR_OUT_OF_MEMORY;
        }
        if (status == MG_OK) {
            cJSON_AddItemToObject(label, "caption_variants", variants);
            cJSON_AddItemToObject(label, "parameters", parameters);
            cJSON_AddItemToObject(labels, name, label);
            cJSON_AddItemToObject(captions, name, caption_entry);
        } else {
            cJSON_Delete(variants);
            cJSON_Delete(caption_entry);
            cJSON_Delete(parameters);
            cJSON_Delete(label);
        }
        mg_primitive_free(&shape);
    }
    if (status == MG_OK) {
        snprintf(path, path_size, "%s/captions.json", dir);
        status = write_json(path, captions, error, error_size);
    }
    if (status == MG_OK) {
        snprintf(path, path_size, "%s/labels.json", dir);
        status = write_json(path, labels, error, error_size);
    }
    free(path);
    cJSON_Delete(captions);
    cJSON_Delete(labels);
    return status;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t size = 0, capacity = 4096;
    char *text = malloc(capacity);
    while (text) {
        size_t n = fread(text + size, 1, capacity - size - 1, f);
        size += n;
        if (size + 1 < capacity)
            break;
        char *bigger = realloc(text, capacity * 2);
        if (!bigger) {
            free(text);
            text = NULL;
            break;
        }
        text = bigger;
        capacity *= 2;
    }
    fclose(f);
    if (text)
        text[size] = '\0';
    return text;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, name);
    return out;
}

static char *copy_text(const char *text)
{
    size_t n = strlen(text) + 1;
    char *out = malloc(n);
    if (out)
        memcpy(out, text, n);
    return out;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const mg_dataset_entry *)a)->name, ((const mg_dataset_entry *)b)->name);
}

void mg_dataset_free(mg_dataset *dataset)
{
    if (!dataset)
        return;
    for (size_t i = 0; i < dataset->count; i++) {
        free(dataset->entries[i].file);
        free(dataset->entries[i].name);
        free(dataset->entries[i].caption);
        free(dataset->entries[i].class_name);
    }
    free(dataset->entries);
    memset(dataset, 0, sizeof *dataset);
}

mg_status mg_dataset_read(const char *dir, mg_dataset *out, char *error, size_t error_size)
{
    if (!dir || !out) {
        mg_format(error, error_size, "mg_dataset_read: give a folder and an output");
        return MG_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    bool labelled = true;
    char *path = join(dir, "labels.json");
    char *text = path ? read_text(path) : NULL;
    if (!text) {
        labelled = false;
        free(path);
        path = join(dir, "captions.json");
        text = path ? read_text(path) : NULL;
    }
    if (!text) {
        mg_format(error, error_size, "%s holds neither labels.json nor captions.json (make one with `meshgpt dataset "
                  "primitives -o %s`)", dir, dir);
        free(path);
        return MG_ERR_IO;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        mg_format(error, error_size, "%s is not a JSON object of file names", path);
        cJSON_Delete(root);
        free(path);
        return MG_ERR_FORMAT;
    }
    const size_t count = (size_t)cJSON_GetArraySize(root);
    out->entries = calloc(count ? count : 1, sizeof *out->entries);
    mg_status status = out->entries ? MG_OK : MG_ERR_OUT_OF_MEMORY;
    if (status != MG_OK)
        mg_format(error, error_size, "out of host memory reading %s", path);
    for (cJSON *item = root->child; status == MG_OK && item; item = item->next) {
        const char *caption = NULL, *class_name = "";
        if (labelled) {
            cJSON *c = cJSON_GetObjectItemCaseSensitive(item, "caption");
            cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "class");
            caption = cJSON_IsString(c) ? c->valuestring : NULL;
            class_name = cJSON_IsString(k) ? k->valuestring : NULL;
        } else {
            /* A caption, or an array of captions whose first is the main one (as primitives writes). */
            const cJSON *first = cJSON_IsArray(item) ? cJSON_GetArrayItem(item, 0) : item;
            caption = cJSON_IsString(first) ? first->valuestring : NULL;
        }
        if (!caption || !class_name) {
            mg_format(error, error_size, "%s: the entry \"%s\" lacks a caption%s", path, item->string,
                      labelled ? " or a class (strings)" : " (a string, or an array of strings)");
            status = MG_ERR_FORMAT;
            break;
        }
        mg_dataset_entry *e = &out->entries[out->count++];
        e->file = join(dir, item->string);
        e->name = copy_text(item->string);
        e->caption = copy_text(caption);
        e->class_name = copy_text(class_name);
        if (!e->file || !e->name || !e->caption || !e->class_name) {
            mg_format(error, error_size, "out of host memory reading %s", path);
            status = MG_ERR_OUT_OF_MEMORY;
        }
    }
    cJSON_Delete(root);
    free(path);
    if (status != MG_OK) {
        mg_dataset_free(out);
        return status;
    }
    qsort(out->entries, out->count, sizeof *out->entries, by_name);
    return MG_OK;
}
