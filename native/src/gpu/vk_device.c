/* Device listing, choice and the lifetime of an mg_gpu. */
#include "gpu/gpu_internal.h"

#include "core/device_select.h"

#include <stdlib.h>
#include <string.h>

mg_status mg_gpu_fail_vk(mg_gpu *gpu, VkResult result, const char *what)
{
    mg_status status = MG_ERR_VULKAN;
    if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        status = MG_ERR_DEVICE_OUT_OF_MEMORY;
    else if (result == VK_ERROR_OUT_OF_HOST_MEMORY)
        status = MG_ERR_OUT_OF_MEMORY;
    return mg_fail(gpu->diag, status, "%s failed: %s%s", what, mg_vk_result_string(result),
                   result == VK_ERROR_DEVICE_LOST ? " (the GPU driver reset the device; "
                   "recreate the context)" : "");
}

static mg_status enumerate(mg_gpu_instance *inst, mg_diag *diag, VkPhysicalDevice **out_physical,
                           mg_device_info **out_infos, size_t *out_count)
{
    *out_physical = NULL;
    *out_infos = NULL;
    *out_count = 0;
    uint32_t count = 0;
    VkResult result = inst->vk.vkEnumeratePhysicalDevices(inst->instance, &count, NULL);
    if (result != VK_SUCCESS)
        return mg_fail(diag, MG_ERR_VULKAN, "vkEnumeratePhysicalDevices failed: %s", mg_vk_result_string(result));
    if (count == 0)
        return mg_fail(diag, MG_ERR_NO_DEVICE, "the Vulkan loader found no device (install a driver: Debian "
                       "mesa-vulkan-drivers for lavapipe, or your GPU vendor's driver)");
    VkPhysicalDevice *physical = calloc(count, sizeof *physical);
    mg_device_info *infos = calloc(count, sizeof *infos);
    if (!physical || !infos) {
        free(physical);
        free(infos);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    result = inst->vk.vkEnumeratePhysicalDevices(inst->instance, &count, physical);
    if (result != VK_SUCCESS && result != VK_INCOMPLETE) {
        free(physical);
        free(infos);
        return mg_fail(diag, MG_ERR_VULKAN, "vkEnumeratePhysicalDevices failed: %s", mg_vk_result_string(result));
    }
    for (uint32_t i = 0; i < count; i++)
        mg_gpu_describe_device(&inst->vk, physical[i], (int)i, &infos[i]);
    *out_physical = physical;
    *out_infos = infos;
    *out_count = count;
    return MG_OK;
}

mg_status mg_gpu_list_devices(mg_diag *diag, mg_device_info **out, size_t *out_count)
{
    *out = NULL;
    *out_count = 0;
    mg_gpu_instance inst;
    mg_status status = mg_gpu_instance_create(&inst, false, diag);
    if (status != MG_OK)
        return status;
    VkPhysicalDevice *physical = NULL;
    status = enumerate(&inst, diag, &physical, out, out_count);
    free(physical);
    mg_gpu_instance_destroy(&inst);
    return status;
}

static mg_status create_logical_device(mg_gpu *gpu)
{
    mg_vk_functions *vk = gpu->vk;
    gpu->queue_family = mg_gpu_compute_queue_family(vk, gpu->physical);
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = gpu->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    /* MoltenVK requires VK_KHR_portability_subset to be enabled when it is offered. */
    const char *extensions[1];
    uint32_t extension_count = 0;
    uint32_t count = 0;
    vk->vkEnumerateDeviceExtensionProperties(gpu->physical, NULL, &count, NULL);
    VkExtensionProperties *exts = calloc(count ? count : 1, sizeof *exts);
    if (!exts)
        return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    vk->vkEnumerateDeviceExtensionProperties(gpu->physical, NULL, &count, exts);
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(exts[i].extensionName, "VK_KHR_portability_subset") == 0)
            extensions[extension_count++] = "VK_KHR_portability_subset";
    free(exts);

    VkDeviceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &queue,
        .enabledExtensionCount = extension_count,
        .ppEnabledExtensionNames = extensions,
    };
    MG_VK_TRY(gpu, vk->vkCreateDevice(gpu->physical, &info, NULL, &gpu->device));
    char why[256];
    if (!mg_vk_load_device(vk, gpu->device, why, sizeof why))
        return mg_fail(gpu->diag, MG_ERR_NO_DEVICE, "%s", why);
    vk->vkGetDeviceQueue(gpu->device, gpu->queue_family, 0, &gpu->queue);
    return MG_OK;
}

static void fill_limits(mg_gpu *gpu)
{
    const VkPhysicalDeviceLimits *l = &gpu->properties.limits;
    mg_gpu_limits *out = &gpu->limits;
    out->max_workgroup_invocations = l->maxComputeWorkGroupInvocations;
    out->max_workgroup_size_x = l->maxComputeWorkGroupSize[0];
    for (int i = 0; i < 3; i++)
        out->max_workgroup_count[i] = l->maxComputeWorkGroupCount[i];
    out->max_shared_memory_bytes = l->maxComputeSharedMemorySize;
    out->max_storage_buffer_range = l->maxStorageBufferRange;
    /* 64 bytes at least keeps tensors on cache lines even where the driver allows less. */
    out->storage_buffer_alignment = l->minStorageBufferOffsetAlignment > 64 ? l->minStorageBufferOffsetAlignment : 64;
    out->subgroup_size = gpu->info.subgroup_size ? gpu->info.subgroup_size : 1;
    const char *slack = getenv("MESHGPT_BINDING_SLACK");
    out->binding_slack = slack ? (uint32_t)strtoul(slack, NULL, 10) / 4 * 4 : 0;
    out->device_type = gpu->info.type;

    /* Vulkan 1.1 (required) always has VkPhysicalDeviceSubgroupProperties. */
    VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
    gpu->vk->vkGetPhysicalDeviceProperties2(gpu->physical, &props2);
    out->subgroup_operations =
        (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? (uint32_t)subgroup.supportedOperations : 0;
    const char *disable = getenv("MESHGPT_DISABLE_SUBGROUPS");
    if (disable && *disable && strcmp(disable, "0") != 0) {
        out->subgroup_operations = 0;
        mg_log(gpu->diag, MG_LOG_INFO, "MESHGPT_DISABLE_SUBGROUPS is set: using shared-memory reductions");
    }
}

mg_status mg_gpu_create(const mg_gpu_options *options, mg_diag *diag, mg_gpu **out)
{
    *out = NULL;
    mg_gpu *gpu = calloc(1, sizeof *gpu);
    if (!gpu)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    gpu->diag = diag;
    gpu->memory_limit = options->memory_limit;
    mg_status status = mg_gpu_instance_create(&gpu->inst, options->validation, diag);
    if (status != MG_OK) {
        free(gpu);
        return status;
    }
    gpu->vk = &gpu->inst.vk;

    VkPhysicalDevice *physical = NULL;
    mg_device_info *infos = NULL;
    size_t count = 0;
    int index = -1;
    status = enumerate(&gpu->inst, diag, &physical, &infos, &count);
    if (status == MG_OK)
        status = mg_select_device(infos, count, options->device, diag, &index);
    if (status == MG_OK) {
        gpu->physical = physical[index];
        gpu->info = infos[index];
    }
    free(physical);
    free(infos);
    if (status != MG_OK) {
        mg_gpu_destroy(gpu);
        return status;
    }
    gpu->vk->vkGetPhysicalDeviceProperties(gpu->physical, &gpu->properties);
    gpu->vk->vkGetPhysicalDeviceMemoryProperties(gpu->physical, &gpu->memory_properties);
    fill_limits(gpu);

    if ((status = create_logical_device(gpu)) != MG_OK || (status = mg_gpu_memory_init(gpu)) != MG_OK ||
        (status = mg_gpu_stream_init(gpu)) != MG_OK) {
        mg_gpu_destroy(gpu);
        return status;
    }
    if (options->use_pipeline_cache)
        mg_gpu_pipeline_cache_path(gpu, options->pipeline_cache_dir, gpu->pipeline_cache_path,
                                   sizeof gpu->pipeline_cache_path);
    if ((status = mg_gpu_pipelines_init(gpu)) != MG_OK) {
        mg_gpu_destroy(gpu);
        return status;
    }
    mg_log(diag, MG_LOG_INFO, "using Vulkan device %d: %s (%s)", gpu->info.index, gpu->info.name,
           gpu->info.driver_info);
    *out = gpu;
    return MG_OK;
}

void mg_gpu_destroy(mg_gpu *gpu)
{
    if (!gpu)
        return;
    if (gpu->device) {
        gpu->vk->vkDeviceWaitIdle(gpu->device);
        mg_gpu_recordings_release(gpu);
        mg_gpu_stream_release(gpu);
        mg_gpu_pipelines_release(gpu);
        mg_gpu_memory_release(gpu);
        gpu->vk->vkDestroyDevice(gpu->device, NULL);
    }
    mg_gpu_instance_destroy(&gpu->inst);
    free(gpu);
}

const mg_device_info *mg_gpu_device_info(const mg_gpu *gpu)
{
    return &gpu->info;
}

const mg_gpu_limits *mg_gpu_get_limits(const mg_gpu *gpu)
{
    return &gpu->limits;
}

void mg_gpu_get_stats(const mg_gpu *gpu, mg_context_stats *stats)
{
    stats->dispatches = gpu->dispatches;
    stats->barriers = gpu->barriers;
    stats->submits = gpu->submits;
    stats->pipelines_created = gpu->pipelines_created;
    stats->validation_messages =
        gpu->inst.messenger_state ? (uint64_t)atomic_load(&gpu->inst.messenger_state->messages) : 0;
    stats->device_bytes_allocated = gpu->bytes_allocated;
    stats->device_bytes_in_use = gpu->bytes_in_use;
    stats->device_bytes_peak = gpu->bytes_peak;
}
