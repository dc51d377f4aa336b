/*
 * The on-disk pipeline cache (what ncnn added against slow start-up). Drivers
 * have crashed on stale or corrupt cache blobs, so the file carries our own
 * header, checked field by field before the data reaches the driver:
 *   magic, header version, library version, vendor/device ids, driver version,
 *   pipelineCacheUUID, data size and an FNV-1a hash of the data.
 * Anything that does not match is ignored (and overwritten at the next save).
 * Saves go to a temporary file renamed into place, so a crash never leaves a
 * half-written cache behind.
 */
#include "gpu/gpu_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#if defined(_WIN32)
#include <direct.h>
#include <process.h>
#define mkdir_one(path) _mkdir(path)
#define current_pid() _getpid()
#else
#include <unistd.h>
#define mkdir_one(path) mkdir(path, 0755)
#define current_pid() getpid()
#endif

#define CACHE_MAGIC "MGPLCACH"
#define CACHE_HEADER_VERSION 1u
#define MAX_CACHE_BYTES (256u << 20)

typedef struct cache_header {
    char magic[8];
    uint32_t header_version;
    uint32_t library_version;
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t driver_version;
    uint32_t reserved;
    uint8_t uuid[VK_UUID_SIZE];
    uint64_t data_size;
    uint64_t data_hash;
} cache_header;

static uint64_t fnv1a64(const uint8_t *data, size_t size)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++) {
        hash ^= data[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

static void expected_header(const mg_gpu *gpu, cache_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->header_version = CACHE_HEADER_VERSION;
    h->library_version = (uint32_t)mg_version_number();
    h->vendor_id = gpu->properties.vendorID;
    h->device_id = gpu->properties.deviceID;
    h->driver_version = gpu->properties.driverVersion;
    memcpy(h->uuid, gpu->properties.pipelineCacheUUID, VK_UUID_SIZE);
}

void mg_gpu_pipeline_cache_path(const mg_gpu *gpu, const char *dir, char *path, size_t path_size)
{
    char base[900];
    const char *env;
    if (dir && *dir)
        mg_format(base, sizeof base, "%s", dir);
    else if ((env = getenv("MESHGPT_CACHE_DIR")) && *env)
        mg_format(base, sizeof base, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        mg_format(base, sizeof base, "%s/meshgpt", env);
#if defined(_WIN32)
    else if ((env = getenv("LOCALAPPDATA")) && *env)
        mg_format(base, sizeof base, "%s/meshgpt", env);
#elif defined(__APPLE__)
    else if ((env = getenv("HOME")) && *env)
        mg_format(base, sizeof base, "%s/Library/Caches/meshgpt", env);
#else
    else if ((env = getenv("HOME")) && *env)
        mg_format(base, sizeof base, "%s/.cache/meshgpt", env);
#endif
    else {
        path[0] = '\0'; /* nowhere to keep it: run without a disk cache */
        return;
    }
    mg_format(path, path_size, "%s/pipelines-%08x-%08x.bin", base, gpu->properties.vendorID,
              gpu->properties.deviceID);
}

/* mkdir -p of the folder holding `path`. */
static void make_parent_dirs(const char *path)
{
    char buffer[1024];
    mg_format(buffer, sizeof buffer, "%s", path);
    char *slash = strrchr(buffer, '/');
    if (!slash)
        return;
    *slash = '\0';
    for (char *p = buffer + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir_one(buffer);
            *p = '/';
        }
    }
    mkdir_one(buffer);
}

/* Reads and validates the file; returns the data (malloc'ed) or NULL. */
static uint8_t *load_valid_data(mg_gpu *gpu, size_t *out_size)
{
    *out_size = 0;
    FILE *file = fopen(gpu->pipeline_cache_path, "rb");
    if (!file)
        return NULL;
    cache_header found, expected;
    expected_header(gpu, &expected);
    uint8_t *data = NULL;
    const char *problem = NULL;
    if (fread(&found, sizeof found, 1, file) != 1)
        problem = "it is shorter than its header";
    else if (memcmp(found.magic, CACHE_MAGIC, 8) != 0 || found.header_version != CACHE_HEADER_VERSION)
        problem = "it is not a libmeshgpt pipeline cache of this format";
    else if (found.library_version != expected.library_version)
        problem = "it was written by another libmeshgpt version";
    else if (found.vendor_id != expected.vendor_id || found.device_id != expected.device_id ||
             found.driver_version != expected.driver_version || memcmp(found.uuid, expected.uuid, VK_UUID_SIZE) != 0)
        problem = "it belongs to another device or driver version";
    else if (found.data_size == 0 || found.data_size > MAX_CACHE_BYTES)
        problem = "its data size is implausible";
    else if (!(data = malloc(found.data_size)))
        problem = "out of host memory";
    else if (fread(data, 1, found.data_size, file) != found.data_size)
        problem = "it is truncated";
    else if (fgetc(file) != EOF)
        problem = "it has trailing bytes";
    else if (fnv1a64(data, found.data_size) != found.data_hash)
        problem = "its checksum does not match (corrupt)";
    fclose(file);
    if (problem) {
        mg_log(gpu->diag, MG_LOG_INFO, "ignoring pipeline cache %s: %s", gpu->pipeline_cache_path, problem);
        free(data);
        return NULL;
    }
    *out_size = found.data_size;
    return data;
}

mg_status mg_gpu_pipeline_cache_open(mg_gpu *gpu)
{
    size_t size = 0;
    uint8_t *data = gpu->pipeline_cache_path[0] ? load_valid_data(gpu, &size) : NULL;
    VkPipelineCacheCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = size,
        .pInitialData = data,
    };
    VkResult result = gpu->vk->vkCreatePipelineCache(gpu->device, &info, NULL, &gpu->pipeline_cache);
    if (result != VK_SUCCESS && data) {
        /* The driver refused our (validated) data: start empty rather than fail. */
        info.initialDataSize = 0;
        info.pInitialData = NULL;
        result = gpu->vk->vkCreatePipelineCache(gpu->device, &info, NULL, &gpu->pipeline_cache);
    }
    free(data);
    if (result != VK_SUCCESS)
        return mg_gpu_fail_vk(gpu, result, "vkCreatePipelineCache");
    if (size)
        mg_log(gpu->diag, MG_LOG_DEBUG, "loaded %zu bytes of pipeline cache from %s", size, gpu->pipeline_cache_path);
    return MG_OK;
}

void mg_gpu_pipeline_cache_save(mg_gpu *gpu)
{
    if (!gpu->pipeline_cache_path[0] || gpu->pipelines_created == 0)
        return;
    size_t size = 0;
    if (gpu->vk->vkGetPipelineCacheData(gpu->device, gpu->pipeline_cache, &size, NULL) != VK_SUCCESS || !size ||
        size > MAX_CACHE_BYTES)
        return;
    uint8_t *data = malloc(size);
    if (!data)
        return;
    if (gpu->vk->vkGetPipelineCacheData(gpu->device, gpu->pipeline_cache, &size, data) != VK_SUCCESS) {
        free(data);
        return;
    }
    cache_header header;
    expected_header(gpu, &header);
    header.data_size = size;
    header.data_hash = fnv1a64(data, size);

    make_parent_dirs(gpu->pipeline_cache_path);
    char temporary[1100];
    mg_format(temporary, sizeof temporary, "%s.%d.tmp", gpu->pipeline_cache_path, (int)current_pid());
    FILE *file = fopen(temporary, "wb");
    bool ok = file && fwrite(&header, sizeof header, 1, file) == 1 && fwrite(data, 1, size, file) == size;
    if (file)
        ok = (fclose(file) == 0) && ok;
    free(data);
    if (ok && rename(temporary, gpu->pipeline_cache_path) == 0) {
        mg_log(gpu->diag, MG_LOG_DEBUG, "saved %zu bytes of pipeline cache to %s", size, gpu->pipeline_cache_path);
        return;
    }
    remove(temporary);
    /* A read-only home folder is not an error worth failing for. */
    mg_log(gpu->diag, MG_LOG_INFO, "could not save the pipeline cache to %s: %s", gpu->pipeline_cache_path,
           strerror(errno));
}
