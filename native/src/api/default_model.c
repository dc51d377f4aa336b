/*
 * mg_default_model_path: where the model shipped with the project is. Looked
 * for, in order: $MESHGPT_DEFAULT_MODEL (only there when set), beside the
 * library itself (an installed tree: lib/../share/meshgpt/models/; the
 * Blender add-on: lib/../assets/models/), the configured install folder, and
 * the source tree the library was built from (running from a build folder).
 */
#define _GNU_SOURCE /* dladdr */
#include "core/diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

#define FILE_NAME "meshgpt-default.safetensors"

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder of the file this code was loaded from (libmeshgpt.so, or a program linking it statically). */
static bool library_folder(char *out, size_t size)
{
#if !defined(_WIN32)
    Dl_info info;
    if (dladdr((void *)&library_folder, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        const char *slash = strrchr(info.dli_fname, '/');
        size_t length = (size_t)(slash - info.dli_fname);
        if (length + 1 <= size) {
            memcpy(out, info.dli_fname, length);
            out[length] = '\0';
            return true;
        }
    }
#endif
    (void)out;
    (void)size;
    return false;
}

mg_status mg_default_model_path(char *path_buffer, size_t path_buffer_size, char *error, size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    char candidates[4][4096];
    size_t count = 0;
    const char *env = getenv("MESHGPT_DEFAULT_MODEL");
    if (env && env[0]) {
        mg_format(candidates[count++], sizeof candidates[0], "%s", env);
    } else {
        char folder[3800];
        if (library_folder(folder, sizeof folder)) {
            mg_format(candidates[count++], sizeof candidates[0], "%s/../share/meshgpt/models/" FILE_NAME, folder);
            mg_format(candidates[count++], sizeof candidates[0], "%s/../assets/models/" FILE_NAME, folder);
        }
        mg_format(candidates[count++], sizeof candidates[0], "%s", MG_DEFAULT_MODEL_INSTALLED);
        mg_format(candidates[count++], sizeof candidates[0], "%s", MG_DEFAULT_MODEL_SOURCE_TREE);
    }
    for (size_t i = 0; i < count; i++) {
        if (!is_file(candidates[i]))
            continue;
        if (!path_buffer || strlen(candidates[i]) + 1 > path_buffer_size) {
            if (error && error_size)
                mg_format(error, error_size, "the default model's path (%s) does not fit in the buffer",
                          candidates[i]);
            return MG_ERR_INVALID_ARGUMENT;
        }
        memcpy(path_buffer, candidates[i], strlen(candidates[i]) + 1);
        return MG_OK;
    }
    if (error && error_size) {
        char tried[2048] = "";
        for (size_t i = 0; i < count; i++)
            mg_format(tried + strlen(tried), sizeof tried - strlen(tried), "%s%s", i ? ", " : "", candidates[i]);
        mg_format(error, error_size, "no default model found (looked at %s): give a model file, or set "
                  "MESHGPT_DEFAULT_MODEL to one", tried);
    }
    return MG_ERR_IO;
}
