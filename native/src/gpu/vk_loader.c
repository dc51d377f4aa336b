#include "gpu/vk_loader.h"

#include "core/diag.h"

#include <string.h>

#if defined(_WIN32)
#include <windows.h>
static void *open_library(const char *name) { return (void *)LoadLibraryA(name); }
static void *find_symbol(void *lib, const char *name) { return (void *)GetProcAddress((HMODULE)lib, name); }
static void close_library(void *lib) { FreeLibrary((HMODULE)lib); }
static const char *const library_names[] = {"vulkan-1.dll", NULL};
#else
#include <dlfcn.h>
static void *open_library(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
static void *find_symbol(void *lib, const char *name) { return dlsym(lib, name); }
static void close_library(void *lib) { dlclose(lib); }
#if defined(__APPLE__)
/* MoltenVK directly when no loader is installed. */
static const char *const library_names[] = {"libvulkan.1.dylib", "libvulkan.dylib", "libMoltenVK.dylib", NULL};
#else
static const char *const library_names[] = {"libvulkan.so.1", "libvulkan.so", NULL};
#endif
#endif

bool mg_vk_load_library(mg_vk_functions *vk, char *why, size_t why_size)
{
    memset(vk, 0, sizeof *vk);
    for (size_t i = 0; library_names[i] && !vk->library; i++)
        vk->library = open_library(library_names[i]);
    if (!vk->library) {
        mg_format(why, why_size, "no Vulkan loader found (tried %s); install the Vulkan loader "
                  "(Debian: apt-get install libvulkan1) and a driver (mesa-vulkan-drivers)",
                  library_names[0]);
        return false;
    }
    /* POSIX allows converting dlsym's void* to a function pointer; go through memcpy
     * so that -Wpedantic compilers do not complain. */
    void *symbol = find_symbol(vk->library, "vkGetInstanceProcAddr");
    if (!symbol) {
        mg_format(why, why_size, "the Vulkan loader has no vkGetInstanceProcAddr");
        close_library(vk->library);
        vk->library = NULL;
        return false;
    }
    memcpy(&vk->vkGetInstanceProcAddr, &symbol, sizeof symbol);
#define LOAD_GLOBAL(name) vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(NULL, #name);
    MG_VK_GLOBAL_FUNCTIONS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    if (!vk->vkCreateInstance || !vk->vkEnumerateInstanceExtensionProperties ||
        !vk->vkEnumerateInstanceLayerProperties) {
        mg_format(why, why_size, "the Vulkan loader lacks core 1.0 entry points");
        mg_vk_unload_library(vk);
        return false;
    }
    return true;
}

bool mg_vk_load_instance(mg_vk_functions *vk, VkInstance instance, char *why, size_t why_size)
{
    const char *missing = NULL;
#define LOAD_INSTANCE(name)                                                   \
    vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(instance, #name);        \
    if (!vk->name && !missing)                                                \
        missing = #name;
    MG_VK_INSTANCE_FUNCTIONS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
#define LOAD_OPTIONAL(name) vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(instance, #name);
    MG_VK_DEBUG_FUNCTIONS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
    if (missing) {
        mg_format(why, why_size, "the Vulkan instance lacks %s (Vulkan 1.1 is required)", missing);
        return false;
    }
    return true;
}

bool mg_vk_load_device(mg_vk_functions *vk, VkDevice device, char *why, size_t why_size)
{
    const char *missing = NULL;
#define LOAD_DEVICE(name)                                                     \
    vk->name = (PFN_##name)vk->vkGetDeviceProcAddr(device, #name);            \
    if (!vk->name && !missing)                                                \
        missing = #name;
    MG_VK_DEVICE_FUNCTIONS(LOAD_DEVICE)
#undef LOAD_DEVICE
    if (missing) {
        mg_format(why, why_size, "the Vulkan device lacks %s", missing);
        return false;
    }
    return true;
}

void mg_vk_unload_library(mg_vk_functions *vk)
{
    if (vk->library)
        close_library(vk->library);
    memset(vk, 0, sizeof *vk);
}

const char *mg_vk_result_string(VkResult result)
{
    switch (result) {
#define CASE(x) case x: return #x;
    CASE(VK_SUCCESS)
    CASE(VK_NOT_READY)
    CASE(VK_TIMEOUT)
    CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED)
    CASE(VK_ERROR_DEVICE_LOST)
    CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CASE(VK_ERROR_FRAGMENTED_POOL)
    CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    CASE(VK_ERROR_FRAGMENTATION)
    CASE(VK_ERROR_INVALID_SHADER_NV)
#undef CASE
    default:
        return "unknown VkResult";
    }
}
