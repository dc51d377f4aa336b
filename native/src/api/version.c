/* Version, status names and device listing: the handle-free part of the API. */
#include "core/device_select.h"
#include "core/diag.h"
#include "gpu/gpu.h"
#include "meshgpt.h"

#include <stdlib.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

const char *mg_version(void)
{
    return STRINGIFY(MG_VERSION_MAJOR) "." STRINGIFY(MG_VERSION_MINOR) "." STRINGIFY(MG_VERSION_PATCH);
}

int mg_version_number(void)
{
    return MG_VERSION_MAJOR * 10000 + MG_VERSION_MINOR * 100 + MG_VERSION_PATCH;
}

const char *mg_status_string(mg_status status)
{
    switch (status) {
    case MG_OK: return "ok";
    case MG_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MG_ERR_OUT_OF_MEMORY: return "out of host memory";
    case MG_ERR_DEVICE_OUT_OF_MEMORY: return "out of device memory";
    case MG_ERR_NO_DEVICE: return "no such device";
    case MG_ERR_VULKAN: return "Vulkan error";
    case MG_ERR_UNSUPPORTED: return "unsupported";
    case MG_ERR_CONTEXT_DESTROYED: return "context destroyed";
    case MG_ERR_IO: return "input/output error";
    case MG_ERR_FORMAT: return "malformed data";
    case MG_ERR_CANCELLED: return "cancelled";
    case MG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mg_device_type_string(mg_device_type type)
{
    switch (type) {
    case MG_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case MG_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case MG_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case MG_DEVICE_VULKAN_CPU: return "Vulkan on CPU";
    case MG_DEVICE_CPU_REFERENCE: return "CPU reference";
    default: return "other";
    }
}

mg_status mg_devices_list(mg_device_info **out_devices, size_t *out_count, char *error, size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    if (!out_devices || !out_count) {
        mg_format(error, error_size, "mg_devices_list: out_devices and out_count must not be NULL");
        return MG_ERR_INVALID_ARGUMENT;
    }
    *out_devices = NULL;
    *out_count = 0;
    mg_diag diag;
    /* Quiet: a missing Vulkan is reported through `error`, not as a log line. */
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_device_info *vulkan = NULL;
    size_t vulkan_count = 0;
    mg_status status = mg_gpu_list_devices(&diag, &vulkan, &vulkan_count);
    if (status != MG_OK)
        mg_diag_copy_error(&diag, error, error_size);
    mg_diag_destroy(&diag);
    if (status != MG_OK && status != MG_ERR_NO_DEVICE) {
        free(vulkan);
        return status;
    }
    mg_device_info *all = calloc(vulkan_count + 1, sizeof *all);
    if (!all) {
        free(vulkan);
        mg_format(error, error_size, "out of host memory");
        return MG_ERR_OUT_OF_MEMORY;
    }
    if (vulkan_count)
        memcpy(all, vulkan, vulkan_count * sizeof *all);
    free(vulkan);
    mg_cpu_reference_info(&all[vulkan_count]);
    int preferred = -1;
    mg_diag quiet;
    mg_diag_init(&quiet, NULL, NULL, MG_LOG_NONE);
    if (mg_select_device(all, vulkan_count, "auto", &quiet, &preferred) == MG_OK)
        all[preferred].preferred = true;
    else
        all[vulkan_count].preferred = true;
    mg_diag_destroy(&quiet);
    *out_devices = all;
    *out_count = vulkan_count + 1;
    return MG_OK;
}

void mg_devices_free(mg_device_info *devices)
{
    free(devices);
}
