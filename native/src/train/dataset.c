/* Training folders (train/dataset.h): listing, captions, reading and preparing meshes, the adjacency cache. */
#include "train/dataset.h"

#include "mesh/mesh_alloc.h"
#include "mesh/preprocess.h"
#include "train/captions.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WARN_LISTED 5 /* names listed in one warning before "and N more" */

mg_train_dataset_params mg_train_dataset_default_params(const mg_ae_config *config)
{
    mg_train_dataset_params p;
    memset(&p, 0, sizeof p);
    p.preprocess = config->preprocess;
    p.num_discrete = config->num_discrete_coors;
    p.range[0] = config->coor_range[0];
    p.range[1] = config->coor_range[1];
    p.max_faces = 800;
    /* A quad model reads quads (files with other polygons are skipped); a triangle model triangulates. */
    p.polygons = config->quads ? MG_POLYGONS_QUADS : MG_POLYGONS_TRIANGULATE;
    p.cache_adjacency = true;
    return p;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_mesh_name(const char *name)
{
    static const char *const extensions[] = {".obj", ".ply", ".stl", ".gltf", ".glb"};
    size_t n = strlen(name);
    for (size_t e = 0; e < sizeof extensions / sizeof extensions[0]; e++) {
        size_t m = strlen(extensions[e]);
        if (n <= m)
            continue;
        size_t i = 0;
        while (i < m && lower(name[n - m + i]) == extensions[e][i])
            i++;
        if (i == m)
            return true;
    }
    return false;
}

static char *path_join(const char *folder, const char *name)
{
    size_t a = strlen(folder), b = strlen(name);
    char *out = malloc(a + b + 2);
    if (out) {
        memcpy(out, folder, a);
        out[a] = '/';
        memcpy(out + a + 1, name, b + 1);
    }
    return out;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* The mesh files of `folder`, sorted by name. */
static mg_status list_meshes(const char *folder, char ***out, size_t *out_count, mg_diag *diag)
{
    *out = NULL;
    *out_count = 0;
    DIR *dir = opendir(folder);
    if (!dir)
        return mg_fail(diag, MG_ERR_IO, "cannot open the data folder '%s': %s", folder, strerror(errno));
    char **names = NULL;
    size_t count = 0, capacity = 0;
    mg_status status = MG_OK;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.' || !is_mesh_name(entry->d_name))
            continue;
        char *path = path_join(folder, entry->d_name);
        bool regular = path && file_exists(path);
        free(path);
        if (!regular)
            continue;
        if (count == capacity) {
            size_t grown = capacity ? capacity * 2 : 64;
            char **more = realloc(names, grown * sizeof *more);
            if (!more) {
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory listing '%s'", folder);
                break;
            }
            names = more;
            capacity = grown;
        }
        if (!(names[count] = strdup(entry->d_name))) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory listing '%s'", folder);
            break;
        }
        count++;
    }
    closedir(dir);
    if (status != MG_OK) {
        free_names(names, count);
        return status;
    }
    if (count > 1)
        qsort(names, count, sizeof *names, compare_names);
    *out = names;
    *out_count = count;
    return MG_OK;
}

void mg_train_dataset_free(mg_train_dataset *dataset)
{
    if (!dataset)
        return;
    for (size_t i = 0; i < dataset->count; i++) {
        free(dataset->items[i].name);
        free(dataset->items[i].caption);
        for (size_t c = 0; c < dataset->items[i].more_caption_count; c++)
            free(dataset->items[i].more_captions[c]);
        free(dataset->items[i].more_captions);
        mg_mesh_release(&dataset->items[i].mesh);
        mg_face_adjacency_free(&dataset->items[i].adjacency);
    }
    free(dataset->items);
    memset(dataset, 0, sizeof *dataset);
}

/* Index of the item a caption key names: the file name, or its stem when only one file has that stem. */
static size_t find_item(const mg_train_dataset *ds, const char *key)
{
    size_t stem_match = SIZE_MAX, stem_matches = 0, key_length = strlen(key);
    for (size_t i = 0; i < ds->count; i++) {
        const char *name = ds->items[i].name;
        if (strcmp(name, key) == 0)
            return i;
        const char *dot = strrchr(name, '.');
        if (dot && (size_t)(dot - name) == key_length && strncmp(name, key, key_length) == 0) {
            stem_match = i;
            stem_matches++;
        }
    }
    return stem_matches == 1 ? stem_match : SIZE_MAX;
}

/* Where the captions are: the parameter, else captions.json, else captions.csv in the folder; NULL for none. */
static mg_status captions_path(const mg_train_dataset_params *params, char **out, mg_diag *diag)
{
    *out = NULL;
    if (params->captions_path) {
        if (!(*out = strdup(params->captions_path)))
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        return MG_OK;
    }
    char *json = path_join(params->folder, "captions.json"), *csv = path_join(params->folder, "captions.csv");
    if (!json || !csv) {
        free(json);
        free(csv);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    bool has_json = file_exists(json), has_csv = file_exists(csv);
    if (has_json && has_csv)
        mg_log(diag, MG_LOG_WARN, "%s and %s both exist: using the JSON file, ignoring the CSV", json, csv);
    if (has_json) {
        *out = json;
        free(csv);
    } else if (has_csv) {
        *out = csv;
        free(json);
    } else {
        free(json);
        free(csv);
    }
    return MG_OK;
}

static mg_status attach_captions(mg_train_dataset *ds, const mg_train_dataset_params *params,
                                 const char *const *all_files, size_t all_count, mg_diag *diag)
{
    char *path = NULL;
    mg_status status = captions_path(params, &path, diag);
    if (status != MG_OK || !path)
        return status;
    mg_caption_list list;
    status = mg_captions_read(path, &list, diag);
    if (status != MG_OK) {
        free(path);
        return status;
    }
    char listed[512] = "";
    for (size_t c = 0; c < list.count && status == MG_OK; c++) {
        size_t i = find_item(ds, list.entries[c].file);
        if (i != SIZE_MAX) {
            mg_train_item *item = &ds->items[i];
            if (!item->caption) {
                item->caption = list.entries[c].text;
            } else { /* another caption of the same mesh */
                char **grown = realloc(item->more_captions, (item->more_caption_count + 1) * sizeof *grown);
                if (!grown) {
                    status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the captions");
                    break;
                }
                item->more_captions = grown;
                item->more_captions[item->more_caption_count++] = list.entries[c].text;
            }
            list.entries[c].text = NULL;
            continue;
        }
        /* A caption of a file that exists but was skipped is not "missing": that file was already reported. */
        bool exists = false;
        for (size_t f = 0; f < all_count && !exists; f++)
            exists = strcmp(all_files[f], list.entries[c].file) == 0;
        if (exists)
            continue;
        if (ds->captions_without_mesh++ < WARN_LISTED) {
            size_t n = strlen(listed);
            mg_format(listed + n, sizeof listed - n, "%s'%.100s'", n ? ", " : "", list.entries[c].file);
        }
    }
    if (ds->captions_without_mesh) {
        char more[64] = "";
        if (ds->captions_without_mesh > WARN_LISTED)
            mg_format(more, sizeof more, " and %zu more", ds->captions_without_mesh - WARN_LISTED);
        mg_log(diag, MG_LOG_WARN, "%s: %zu caption%s name%s no mesh file in '%s': %s%s", path,
               ds->captions_without_mesh, ds->captions_without_mesh == 1 ? "" : "s",
               ds->captions_without_mesh == 1 ? "s" : "", params->folder, listed, more);
    }
    for (size_t i = 0; i < ds->count; i++)
        ds->meshes_without_caption += ds->items[i].caption == NULL;
    if (ds->meshes_without_caption)
        mg_log(diag, MG_LOG_WARN, "%s: %zu of %zu meshes have no caption", path, ds->meshes_without_caption,
               ds->count);
    mg_caption_list_free(&list);
    free(path);
    return status;
}

/* Reads and prepares one file; MG_OK with *skip set when it is to be skipped (warned here). */
static mg_status load_item(const mg_train_dataset_params *params, const char *name, mg_train_item *item,
                           mg_train_dataset *ds, mg_diag *diag)
{
    char *path = path_join(params->folder, name);
    if (!path)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    mg_mesh_read_params read = mg_mesh_read_default_params();
    read.polygons = params->polygons;
    mg_mesh raw;
    char error[MG_ERROR_MESSAGE_MAX];
    mg_status status = mg_mesh_read(path, &read, &raw, error, sizeof error);
    if (status == MG_OK) {
        status = mg_mesh_preprocess(&raw, &params->preprocess, params->num_discrete, params->range, &item->mesh,
                                    diag);
        if (status != MG_OK)
            mg_diag_copy_error(diag, error, sizeof error);
        mg_mesh_release(&raw);
    }
    if (status == MG_OK && params->max_faces && item->mesh.num_faces > params->max_faces) {
        mg_log(diag, MG_LOG_WARN, "skipping %s: %zu faces after preparation, more than the limit of %zu", path,
               item->mesh.num_faces, params->max_faces);
        ds->skipped_too_large++;
        mg_mesh_release(&item->mesh);
        free(path);
        return MG_OK;
    }
    if (status == MG_ERR_OUT_OF_MEMORY) {
        free(path);
        return mg_fail(diag, status, "%s", error);
    }
    if (status != MG_OK) {
        mg_log(diag, MG_LOG_WARN, "skipping %s: %s", path, error);
        ds->skipped_unreadable++;
        free(path);
        return MG_OK;
    }
    free(path);
    if (params->cache_adjacency) {
        status = mg_face_adjacency_build(item->mesh.faces, item->mesh.num_faces, item->mesh.face_size,
                                         &item->adjacency, diag);
        if (status != MG_OK) {
            mg_mesh_release(&item->mesh);
            return status;
        }
    }
    if (!(item->name = strdup(name))) {
        mg_mesh_release(&item->mesh);
        mg_face_adjacency_free(&item->adjacency);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return MG_OK;
}

mg_status mg_train_dataset_load(const mg_train_dataset_params *params, mg_train_dataset *out, mg_diag *diag)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!params || !out || !params->folder)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_dataset_load: params, folder and out must be set");
    if (params->num_discrete < 2 || !(params->range[1] > params->range[0]))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_dataset_load: the grid (%d cells over [%g, %g]) is "
                       "not valid: take the parameters from the model config", params->num_discrete,
                       (double)params->range[0], (double)params->range[1]);
    char **names = NULL;
    size_t name_count = 0;
    mg_status status = list_meshes(params->folder, &names, &name_count, diag);
    if (status != MG_OK)
        return status;
    if (name_count == 0) {
        free_names(names, name_count);
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the data folder '%s' has no mesh files (.obj, .ply, .stl, "
                       ".gltf or .glb): put the training meshes there", params->folder);
    }
    mg_train_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.params = *params;
    ds.params.folder = NULL;
    ds.params.captions_path = NULL;
    ds.mesh_files = name_count;
    ds.items = calloc(name_count, sizeof *ds.items);
    if (!ds.items)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < name_count && status == MG_OK; i++) {
        mg_train_item *item = &ds.items[ds.count];
        status = load_item(params, names[i], item, &ds, diag);
        if (status == MG_OK && item->name) {
            if (ds.count > 0 && item->mesh.face_size != ds.face_size) {
                mg_log(diag, MG_LOG_WARN, "skipping %s/%s: its faces have %u corners, the others %u", params->folder,
                       item->name, item->mesh.face_size, ds.face_size);
                ds.skipped_unreadable++;
                free(item->name);
                mg_mesh_release(&item->mesh);
                mg_face_adjacency_free(&item->adjacency);
                memset(item, 0, sizeof *item);
                continue;
            }
            ds.face_size = item->mesh.face_size;
            ds.count++;
        }
    }
    if (status == MG_OK && ds.count == 0)
        status = mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "none of the %zu mesh files in '%s' could be used (%zu "
                         "unreadable, %zu over the face limit): see the warnings", name_count, params->folder,
                         ds.skipped_unreadable, ds.skipped_too_large);
    if (status == MG_OK && (ds.skipped_unreadable || ds.skipped_too_large))
        mg_log(diag, MG_LOG_WARN, "%s: using %zu of %zu mesh files (%zu unreadable, %zu over the face limit)",
               params->folder, ds.count, name_count, ds.skipped_unreadable, ds.skipped_too_large);
    if (status == MG_OK)
        status = attach_captions(&ds, params, (const char *const *)names, name_count, diag);
    free_names(names, name_count);
    if (status != MG_OK) {
        mg_train_dataset_free(&ds);
        return status;
    }
    *out = ds;
    return MG_OK;
}
