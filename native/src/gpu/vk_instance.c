/* Vulkan instance: no surfaces, portability enumeration when the loader has it
 * (MoltenVK), and the Khronos validation layer with synchronization validation
 * when asked for (the test suite fails on any message it reports). */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static bool has_extension(const VkExtensionProperties *list, uint32_t count, const char *name)
{
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(list[i].extensionName, name) == 0)
            return true;
    return false;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user_data)
{
    (void)types;
    mg_gpu_messenger_state *state = user_data;
    /* Only warnings and errors reach here (see the severity mask below). */
    atomic_fetch_add(&state->messages, 1);
    mg_log(state->diag, severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? MG_LOG_ERROR : MG_LOG_WARN,
           "Vulkan validation: %s", data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool layer_available(mg_vk_functions *vk, const char *name)
{
    uint32_t count = 0;
    if (vk->vkEnumerateInstanceLayerProperties(&count, NULL) != VK_SUCCESS || count == 0)
        return false;
    VkLayerProperties *layers = calloc(count, sizeof *layers);
    if (!layers)
        return false;
    bool found = false;
    if (vk->vkEnumerateInstanceLayerProperties(&count, layers) == VK_SUCCESS)
        for (uint32_t i = 0; i < count && !found; i++)
            found = strcmp(layers[i].layerName, name) == 0;
    free(layers);
    return found;
}

mg_status mg_gpu_instance_create(mg_gpu_instance *inst, bool validation, mg_diag *diag)
{
    memset(inst, 0, sizeof *inst);
    char why[512];
    if (!mg_vk_load_library(&inst->vk, why, sizeof why))
        return mg_fail(diag, MG_ERR_NO_DEVICE, "%s", why);
    mg_vk_functions *vk = &inst->vk;

    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vk->vkEnumerateInstanceVersion)
        vk->vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1) {
        mg_vk_unload_library(vk);
        return mg_fail(diag, MG_ERR_NO_DEVICE,
                       "the Vulkan loader supports only Vulkan %u.%u; libmeshgpt needs 1.1 or newer "
                       "(update the Vulkan loader)",
                       VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
    }
    inst->api_version = loader_version >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;

    uint32_t ext_count = 0;
    vk->vkEnumerateInstanceExtensionProperties(NULL, &ext_count, NULL);
    VkExtensionProperties *exts = calloc(ext_count ? ext_count : 1, sizeof *exts);
    if (!exts) {
        mg_vk_unload_library(vk);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory listing Vulkan extensions");
    }
    vk->vkEnumerateInstanceExtensionProperties(NULL, &ext_count, exts);

    const char *enabled_exts[4];
    uint32_t enabled_count = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_extension(exts, ext_count, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        enabled_exts[enabled_count++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    bool debug_utils = false;
    const char *layers[1];
    uint32_t layer_count = 0;
    if (validation) {
        if (!layer_available(vk, VALIDATION_LAYER)) {
            free(exts);
            mg_vk_unload_library(vk);
            return mg_fail(diag, MG_ERR_UNSUPPORTED,
                           "validation was requested but the Khronos validation layer is not installed "
                           "(Debian: apt-get install vulkan-validationlayers)");
        }
        layers[layer_count++] = VALIDATION_LAYER;
        /* The layer provides debug utils itself even when the loader does not list it. */
        enabled_exts[enabled_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        debug_utils = true;
    }
    free(exts);

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "libmeshgpt",
        .applicationVersion = VK_MAKE_API_VERSION(0, MG_VERSION_MAJOR, MG_VERSION_MINOR, MG_VERSION_PATCH),
        .pEngineName = "libmeshgpt",
        .engineVersion = VK_MAKE_API_VERSION(0, MG_VERSION_MAJOR, MG_VERSION_MINOR, MG_VERSION_PATCH),
        .apiVersion = inst->api_version,
    };
    /* Synchronization validation checks the stream's barrier placement. */
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    VkInstanceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validation ? &features : NULL,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = layer_count,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = enabled_count,
        .ppEnabledExtensionNames = enabled_exts,
    };
    VkResult result = vk->vkCreateInstance(&info, NULL, &inst->instance);
    if (result != VK_SUCCESS) {
        mg_vk_unload_library(vk);
        return mg_fail(diag, result == VK_ERROR_INCOMPATIBLE_DRIVER ? MG_ERR_NO_DEVICE : MG_ERR_VULKAN,
                       "vkCreateInstance failed: %s%s", mg_vk_result_string(result),
                       result == VK_ERROR_INCOMPATIBLE_DRIVER ? " (no Vulkan driver is installed; "
                       "Debian: apt-get install mesa-vulkan-drivers)" : "");
    }
    if (!mg_vk_load_instance(vk, inst->instance, why, sizeof why)) {
        mg_gpu_instance_destroy(inst);
        return mg_fail(diag, MG_ERR_NO_DEVICE, "%s", why);
    }
    if (debug_utils && vk->vkCreateDebugUtilsMessengerEXT) {
        inst->messenger_state = calloc(1, sizeof *inst->messenger_state);
        if (!inst->messenger_state) {
            mg_gpu_instance_destroy(inst);
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        inst->messenger_state->diag = diag;
        atomic_init(&inst->messenger_state->messages, 0);
        VkDebugUtilsMessengerCreateInfoEXT messenger = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation_message,
            .pUserData = inst->messenger_state,
        };
        result = vk->vkCreateDebugUtilsMessengerEXT(inst->instance, &messenger, NULL, &inst->messenger);
        if (result != VK_SUCCESS) {
            mg_gpu_instance_destroy(inst);
            return mg_fail(diag, MG_ERR_VULKAN, "vkCreateDebugUtilsMessengerEXT failed: %s",
                           mg_vk_result_string(result));
        }
    }
    return MG_OK;
}

void mg_gpu_instance_destroy(mg_gpu_instance *inst)
{
    if (inst->instance) {
        if (inst->messenger && inst->vk.vkDestroyDebugUtilsMessengerEXT)
            inst->vk.vkDestroyDebugUtilsMessengerEXT(inst->instance, inst->messenger, NULL);
        inst->vk.vkDestroyInstance(inst->instance, NULL);
    }
    free(inst->messenger_state);
    mg_vk_unload_library(&inst->vk);
    memset(inst, 0, sizeof *inst);
}
