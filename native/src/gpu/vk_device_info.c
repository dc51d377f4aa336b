/* What a physical device is and can do, as the public mg_device_info. */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

static bool device_has_extension(const mg_vk_functions *vk, VkPhysicalDevice physical, const char *name)
{
    uint32_t count = 0;
    if (vk->vkEnumerateDeviceExtensionProperties(physical, NULL, &count, NULL) != VK_SUCCESS || !count)
        return false;
    VkExtensionProperties *exts = calloc(count, sizeof *exts);
    if (!exts)
        return false;
    bool found = false;
    if (vk->vkEnumerateDeviceExtensionProperties(physical, NULL, &count, exts) == VK_SUCCESS)
        for (uint32_t i = 0; i < count && !found; i++)
            found = strcmp(exts[i].extensionName, name) == 0;
    free(exts);
    return found;
}

uint32_t mg_gpu_compute_queue_family(const mg_vk_functions *vk, VkPhysicalDevice physical)
{
    uint32_t count = 0;
    vk->vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, NULL);
    VkQueueFamilyProperties families[16];
    if (count > 16)
        count = 16;
    vk->vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, families);
    uint32_t any = UINT32_MAX;
    for (uint32_t i = 0; i < count; i++) {
        if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
            continue;
        if (!(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
            return i;
        if (any == UINT32_MAX)
            any = i;
    }
    return any;
}

static mg_device_type map_type(VkPhysicalDeviceType type)
{
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return MG_DEVICE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return MG_DEVICE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return MG_DEVICE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return MG_DEVICE_VULKAN_CPU;
    default: return MG_DEVICE_OTHER;
    }
}

void mg_gpu_describe_device(const mg_vk_functions *vk, VkPhysicalDevice physical, int index,
                            mg_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;

    VkPhysicalDeviceProperties props;
    vk->vkGetPhysicalDeviceProperties(physical, &props);
    bool is_1_2 = props.apiVersion >= VK_API_VERSION_1_2;
    bool driver_props_ok = is_1_2 || device_has_extension(vk, physical, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    bool f16i8_ok = is_1_2 || device_has_extension(vk, physical, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    bool storage8_ok = is_1_2 || device_has_extension(vk, physical, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);

    /* Only chain structures the device knows: chaining others is invalid usage. */
    VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
    if (driver_props_ok) {
        driver.pNext = props2.pNext;
        props2.pNext = &driver;
    }
    bool have_props2 = props.apiVersion >= VK_API_VERSION_1_1;
    if (have_props2)
        vk->vkGetPhysicalDeviceProperties2(physical, &props2);

    VkPhysicalDevice16BitStorageFeatures storage16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDevice8BitStorageFeatures storage8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16i8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceFeatures2 features2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &storage16};
    if (storage8_ok) {
        storage8.pNext = features2.pNext;
        features2.pNext = &storage8;
    }
    if (f16i8_ok) {
        f16i8.pNext = features2.pNext;
        features2.pNext = &f16i8;
    }
    if (have_props2)
        vk->vkGetPhysicalDeviceFeatures2(physical, &features2);

    mg_format(info->name, sizeof info->name, "%s", props.deviceName);
    info->type = map_type(props.deviceType);
    info->vendor_id = props.vendorID;
    info->device_id = props.deviceID;
    info->api_version = props.apiVersion;
    if (driver_props_ok && have_props2) {
        mg_format(info->driver_name, sizeof info->driver_name, "%s", driver.driverName);
        mg_format(info->driver_info, sizeof info->driver_info, "%s", driver.driverInfo);
    } else {
        mg_format(info->driver_name, sizeof info->driver_name, "unknown");
        mg_format(info->driver_info, sizeof info->driver_info, "driver version 0x%x", props.driverVersion);
    }
    info->supports_fp16 = f16i8.shaderFloat16 && storage16.storageBuffer16BitAccess;
    info->supports_int8 = f16i8.shaderInt8 && storage8.storageBuffer8BitAccess;
    info->subgroup_size = subgroup.subgroupSize;
    info->max_shared_memory_bytes = props.limits.maxComputeSharedMemorySize;
    info->max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
    info->max_storage_buffer_range = props.limits.maxStorageBufferRange;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props_m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    if (have_props2) {
        vk->vkGetPhysicalDeviceProperties2(physical, &props_m3);
        info->max_allocation_bytes = m3.maxMemoryAllocationSize;
    }

    VkPhysicalDeviceMemoryProperties memory;
    vk->vkGetPhysicalDeviceMemoryProperties(physical, &memory);
    for (uint32_t h = 0; h < memory.memoryHeapCount; h++)
        if (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            info->device_local_bytes += memory.memoryHeaps[h].size;
    /* Unified: every device-local type is also host visible (integrated GPUs, CPUs). */
    bool any_local = false, all_local_visible = true;
    for (uint32_t t = 0; t < memory.memoryTypeCount; t++) {
        VkMemoryPropertyFlags f = memory.memoryTypes[t].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            any_local = true;
            if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
                all_local_visible = false;
        }
    }
    info->unified_memory = any_local && all_local_visible;

    bool has_compute = mg_gpu_compute_queue_family(vk, physical) != UINT32_MAX;

    info->usable = true;
    if (props.apiVersion < VK_API_VERSION_1_1) {
        info->usable = false;
        mg_format(info->unusable_reason, sizeof info->unusable_reason,
                  "supports only Vulkan %u.%u (1.1 needed)", VK_API_VERSION_MAJOR(props.apiVersion),
                  VK_API_VERSION_MINOR(props.apiVersion));
    } else if (!has_compute) {
        info->usable = false;
        mg_format(info->unusable_reason, sizeof info->unusable_reason, "has no compute queue");
    }
}
