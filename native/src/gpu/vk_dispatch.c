/* Recording one compute dispatch: pipeline, descriptors, push constants. */
#include "gpu/gpu_internal.h"

#include <string.h>

static mg_status check_dispatch(mg_gpu *gpu, const mg_gpu_dispatch *d)
{
    if (d->buffer_count > MG_GPU_MAX_BINDINGS || d->push_size > MG_GPU_MAX_PUSH || d->push_size % 4 != 0)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "malformed dispatch (%u buffers, %u push bytes)",
                       d->buffer_count, d->push_size);
    for (int i = 0; i < 3; i++)
        if (d->groups[i] > gpu->limits.max_workgroup_count[i])
            return mg_fail(gpu->diag, MG_ERR_INTERNAL, "dispatch of %u workgroups in dimension %d exceeds the "
                           "device limit %u", d->groups[i], i, gpu->limits.max_workgroup_count[i]);
    for (uint32_t i = 0; i < d->buffer_count; i++) {
        const mg_gpu_range *r = &d->buffers[i];
        if (!r->block || r->size == 0 || r->offset + r->size > r->block->size)
            return mg_fail(gpu->diag, MG_ERR_INTERNAL, "binding %u is outside its memory block", i);
        if (r->size > gpu->limits.max_storage_buffer_range)
            return mg_fail(gpu->diag, MG_ERR_UNSUPPORTED, "a tensor of about %llu bytes exceeds the device's "
                           "maxStorageBufferRange (%llu bytes); use a smaller batch or model",
                           (unsigned long long)r->size, (unsigned long long)gpu->limits.max_storage_buffer_range);
        if (r->offset % gpu->properties.limits.minStorageBufferOffsetAlignment != 0)
            return mg_fail(gpu->diag, MG_ERR_INTERNAL, "binding %u offset %llu is misaligned", i,
                           (unsigned long long)r->offset);
    }
    return MG_OK;
}

mg_status mg_gpu_record_dispatch(mg_gpu *gpu, const mg_gpu_dispatch *d)
{
    mg_status status = check_dispatch(gpu, d);
    if (status != MG_OK)
        return status;
    if (d->groups[0] == 0 || d->groups[1] == 0 || d->groups[2] == 0)
        return MG_OK; /* nothing to do */
    VkPipeline pipeline;
    if ((status = mg_gpu_get_pipeline(gpu, d, &pipeline)) != MG_OK)
        return status;
    VkCommandBuffer cmd;
    if ((status = mg_gpu_stream_begin(gpu, &cmd)) != MG_OK)
        return status;
    if ((status = mg_gpu_stream_track(gpu, cmd, d->buffers, d->writes, d->buffer_count)) != MG_OK)
        return status;
    VkDescriptorSet set;
    if ((status = mg_gpu_stream_allocate_set(gpu, &set)) != MG_OK)
        return status;

    VkDescriptorBufferInfo infos[MG_GPU_MAX_BINDINGS];
    VkWriteDescriptorSet writes[MG_GPU_MAX_BINDINGS];
    for (uint32_t i = 0; i < MG_GPU_MAX_BINDINGS; i++) {
        const mg_gpu_range *r = i < d->buffer_count ? &d->buffers[i] : NULL;
        infos[i] = r ? (VkDescriptorBufferInfo){r->block->buffer, r->offset, r->size}
                     : (VkDescriptorBufferInfo){gpu->dummy.block->buffer, gpu->dummy.offset, gpu->dummy.size};
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    }
    gpu->vk->vkUpdateDescriptorSets(gpu->device, MG_GPU_MAX_BINDINGS, writes, 0, NULL);
    gpu->vk->vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    gpu->vk->vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, gpu->pipeline_layout, 0, 1, &set, 0, NULL);
    /* Always push the whole range: shaders may declare a larger block than this op fills. */
    uint8_t push[MG_GPU_MAX_PUSH];
    memset(push, 0, sizeof push);
    memcpy(push, d->push, d->push_size);
    gpu->vk->vkCmdPushConstants(cmd, gpu->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, MG_GPU_MAX_PUSH, push);
    gpu->vk->vkCmdDispatch(cmd, d->groups[0], d->groups[1], d->groups[2]);
    if (gpu->capture)
        gpu->capture->dispatches++; /* counted at each replay */
    else
        gpu->dispatches++;
    return mg_gpu_stream_commit(gpu);
}
