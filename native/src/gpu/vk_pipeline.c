/*
 * Pipelines from the embedded SPIR-V: one descriptor-set layout (MG_GPU_MAX_BINDINGS
 * storage buffers) and one pipeline layout (128 bytes of push constants) shared by
 * every shader, pipelines created on first use per (shader, specialization
 * constants) and kept for the life of the device.
 */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

mg_status mg_gpu_pipelines_init(mg_gpu *gpu)
{
    mg_vk_functions *vk = gpu->vk;
    VkDescriptorSetLayoutBinding bindings[MG_GPU_MAX_BINDINGS];
    for (uint32_t i = 0; i < MG_GPU_MAX_BINDINGS; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo set_info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = MG_GPU_MAX_BINDINGS,
        .pBindings = bindings,
    };
    MG_VK_TRY(gpu, vk->vkCreateDescriptorSetLayout(gpu->device, &set_info, NULL, &gpu->set_layout));
    VkPushConstantRange push = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = MG_GPU_MAX_PUSH};
    VkPipelineLayoutCreateInfo layout_info = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &gpu->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &push,
    };
    MG_VK_TRY(gpu, vk->vkCreatePipelineLayout(gpu->device, &layout_info, NULL, &gpu->pipeline_layout));
    return mg_gpu_pipeline_cache_open(gpu);
}

void mg_gpu_pipelines_release(mg_gpu *gpu)
{
    mg_vk_functions *vk = gpu->vk;
    if (gpu->pipeline_cache) {
        mg_gpu_pipeline_cache_save(gpu);
        vk->vkDestroyPipelineCache(gpu->device, gpu->pipeline_cache, NULL);
        gpu->pipeline_cache = VK_NULL_HANDLE;
    }
    for (size_t i = 0; i < gpu->pipeline_count; i++)
        vk->vkDestroyPipeline(gpu->device, gpu->pipelines[i].pipeline, NULL);
    free(gpu->pipelines);
    gpu->pipelines = NULL;
    gpu->pipeline_count = 0;
    for (size_t i = 0; i < MG_SHADER_COUNT; i++)
        if (gpu->modules[i])
            vk->vkDestroyShaderModule(gpu->device, gpu->modules[i], NULL);
    memset(gpu->modules, 0, sizeof gpu->modules);
    if (gpu->pipeline_layout)
        vk->vkDestroyPipelineLayout(gpu->device, gpu->pipeline_layout, NULL);
    if (gpu->set_layout)
        vk->vkDestroyDescriptorSetLayout(gpu->device, gpu->set_layout, NULL);
    gpu->pipeline_layout = VK_NULL_HANDLE;
    gpu->set_layout = VK_NULL_HANDLE;
}

static mg_status get_module(mg_gpu *gpu, mg_shader_id shader, VkShaderModule *out)
{
    if ((unsigned)shader >= MG_SHADER_COUNT)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "unknown shader id %d", (int)shader);
    if (!gpu->modules[shader]) {
        const mg_shader_blob *blob = &mg_shader_blobs[shader];
        VkShaderModuleCreateInfo info = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = blob->size_bytes,
            .pCode = blob->words,
        };
        MG_VK_TRY(gpu, gpu->vk->vkCreateShaderModule(gpu->device, &info, NULL, &gpu->modules[shader]));
    }
    *out = gpu->modules[shader];
    return MG_OK;
}

mg_status mg_gpu_get_pipeline(mg_gpu *gpu, const mg_gpu_dispatch *d, VkPipeline *out)
{
    for (size_t i = 0; i < gpu->pipeline_count; i++) {
        const mg_gpu_pipeline *p = &gpu->pipelines[i];
        if (p->shader == d->shader && p->spec_count == d->spec_count &&
            memcmp(p->spec, d->spec, d->spec_count * sizeof(uint32_t)) == 0) {
            *out = p->pipeline;
            return MG_OK;
        }
    }
    if (d->spec_count > MG_GPU_MAX_SPEC)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "too many specialization constants (%u)", d->spec_count);
    VkShaderModule module = VK_NULL_HANDLE;
    mg_status status = get_module(gpu, d->shader, &module);
    if (status != MG_OK)
        return status;
    if (gpu->pipeline_count == gpu->pipeline_capacity) {
        size_t capacity = gpu->pipeline_capacity ? gpu->pipeline_capacity * 2 : 32;
        mg_gpu_pipeline *grown = realloc(gpu->pipelines, capacity * sizeof *grown);
        if (!grown)
            return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
        gpu->pipelines = grown;
        gpu->pipeline_capacity = capacity;
    }
    VkSpecializationMapEntry entries[MG_GPU_MAX_SPEC];
    for (uint32_t i = 0; i < d->spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
    VkSpecializationInfo spec = {
        .mapEntryCount = d->spec_count,
        .pMapEntries = entries,
        .dataSize = d->spec_count * 4,
        .pData = d->spec,
    };
    VkComputePipelineCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = module,
            .pName = "main",
            .pSpecializationInfo = d->spec_count ? &spec : NULL,
        },
        .layout = gpu->pipeline_layout,
    };
    mg_gpu_pipeline *p = &gpu->pipelines[gpu->pipeline_count];
    VkResult result = gpu->vk->vkCreateComputePipelines(gpu->device, gpu->pipeline_cache, 1, &info, NULL,
                                                        &p->pipeline);
    if (result != VK_SUCCESS)
        return mg_fail(gpu->diag, result == VK_ERROR_OUT_OF_DEVICE_MEMORY ? MG_ERR_DEVICE_OUT_OF_MEMORY : MG_ERR_VULKAN,
                       "creating the pipeline of shader %s failed: %s", mg_shader_blobs[d->shader].name,
                       mg_vk_result_string(result));
    p->shader = d->shader;
    p->spec_count = d->spec_count;
    memcpy(p->spec, d->spec, d->spec_count * sizeof(uint32_t));
    gpu->pipeline_count++;
    gpu->pipelines_created++;
    *out = p->pipeline;
    return MG_OK;
}
