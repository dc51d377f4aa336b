/*
 * Vulkan entry points, loaded at run time with dlopen.
 *
 * The library does not link libvulkan: a machine without a Vulkan loader must
 * still load libmeshgpt and run on the CPU reference backend (and Blender must be
 * able to import the add-on to show a clear message instead of an ImportError).
 */
#ifndef MG_GPU_VK_LOADER_H
#define MG_GPU_VK_LOADER_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdbool.h>
#include <stddef.h>

#define MG_VK_GLOBAL_FUNCTIONS(X)            \
    X(vkCreateInstance)                      \
    X(vkEnumerateInstanceExtensionProperties) \
    X(vkEnumerateInstanceLayerProperties)    \
    X(vkEnumerateInstanceVersion)

#define MG_VK_INSTANCE_FUNCTIONS(X)               \
    X(vkDestroyInstance)                          \
    X(vkEnumeratePhysicalDevices)                 \
    X(vkGetPhysicalDeviceProperties)              \
    X(vkGetPhysicalDeviceProperties2)             \
    X(vkGetPhysicalDeviceFeatures2)               \
    X(vkGetPhysicalDeviceMemoryProperties)        \
    X(vkGetPhysicalDeviceQueueFamilyProperties)   \
    X(vkEnumerateDeviceExtensionProperties)       \
    X(vkCreateDevice)                             \
    X(vkGetDeviceProcAddr)

#define MG_VK_DEBUG_FUNCTIONS(X)         \
    X(vkCreateDebugUtilsMessengerEXT)    \
    X(vkDestroyDebugUtilsMessengerEXT)

#define MG_VK_DEVICE_FUNCTIONS(X)          \
    X(vkDestroyDevice)                     \
    X(vkGetDeviceQueue)                    \
    X(vkQueueSubmit)                       \
    X(vkQueueWaitIdle)                     \
    X(vkDeviceWaitIdle)                    \
    X(vkAllocateMemory)                    \
    X(vkFreeMemory)                        \
    X(vkMapMemory)                         \
    X(vkUnmapMemory)                       \
    X(vkCreateBuffer)                      \
    X(vkDestroyBuffer)                     \
    X(vkGetBufferMemoryRequirements)       \
    X(vkBindBufferMemory)                  \
    X(vkCreateShaderModule)                \
    X(vkDestroyShaderModule)               \
    X(vkCreateDescriptorSetLayout)         \
    X(vkDestroyDescriptorSetLayout)        \
    X(vkCreatePipelineLayout)              \
    X(vkDestroyPipelineLayout)             \
    X(vkCreateComputePipelines)            \
    X(vkDestroyPipeline)                   \
    X(vkCreatePipelineCache)               \
    X(vkDestroyPipelineCache)              \
    X(vkGetPipelineCacheData)              \
    X(vkCreateDescriptorPool)              \
    X(vkDestroyDescriptorPool)             \
    X(vkResetDescriptorPool)               \
    X(vkAllocateDescriptorSets)            \
    X(vkUpdateDescriptorSets)              \
    X(vkCreateCommandPool)                 \
    X(vkDestroyCommandPool)                \
    X(vkResetCommandPool)                  \
    X(vkAllocateCommandBuffers)            \
    X(vkBeginCommandBuffer)                \
    X(vkEndCommandBuffer)                  \
    X(vkCmdBindPipeline)                   \
    X(vkCmdBindDescriptorSets)             \
    X(vkCmdPushConstants)                  \
    X(vkCmdDispatch)                       \
    X(vkCmdPipelineBarrier)                \
    X(vkCmdCopyBuffer)                     \
    X(vkCmdFillBuffer)                     \
    X(vkCreateFence)                       \
    X(vkDestroyFence)                      \
    X(vkWaitForFences)                     \
    X(vkResetFences)

#define MG_VK_DECLARE(name) PFN_##name name;

typedef struct mg_vk_functions {
    void *library;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    MG_VK_GLOBAL_FUNCTIONS(MG_VK_DECLARE)
    MG_VK_INSTANCE_FUNCTIONS(MG_VK_DECLARE)
    MG_VK_DEBUG_FUNCTIONS(MG_VK_DECLARE)
    MG_VK_DEVICE_FUNCTIONS(MG_VK_DECLARE)
} mg_vk_functions;

/* Opens the Vulkan loader library and resolves the global functions.
 * Returns false with a reason in `why` when there is no usable loader. */
bool mg_vk_load_library(mg_vk_functions *vk, char *why, size_t why_size);
/* Resolves instance-level functions (debug-utils ones may stay NULL). */
bool mg_vk_load_instance(mg_vk_functions *vk, VkInstance instance, char *why, size_t why_size);
/* Resolves device-level functions. */
bool mg_vk_load_device(mg_vk_functions *vk, VkDevice device, char *why, size_t why_size);
void mg_vk_unload_library(mg_vk_functions *vk);

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc. */
const char *mg_vk_result_string(VkResult result);

#endif
