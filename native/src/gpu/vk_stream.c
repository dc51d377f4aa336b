/*
 * The command stream. Dispatches and copies are recorded into a command buffer;
 * a pipeline barrier is inserted only when a command reads or writes a range
 * that a command since the last barrier wrote, or writes a range one read
 * (RAW, WAW, WAR). Batches of `batch_limit` commands are submitted without
 * waiting, rotating over MG_STREAM_SLOTS command buffers so the host records
 * the next batch while the device runs the last one.
 */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

#define SETS_PER_POOL 256u
#define DEFAULT_BATCH_LIMIT 64u

static const VkPipelineStageFlags work_stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
static const VkAccessFlags work_writes = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
static const VkAccessFlags work_accesses = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;

static void record_barrier(mg_gpu *gpu, VkCommandBuffer cmd, VkPipelineStageFlags dst_stages, VkAccessFlags dst_access)
{
    VkMemoryBarrier barrier = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = work_writes,
        .dstAccessMask = dst_access,
    };
    gpu->vk->vkCmdPipelineBarrier(cmd, work_stages, dst_stages, 0, 1, &barrier, 0, NULL, 0, NULL);
}

mg_status mg_gpu_slot_create(mg_gpu *gpu, mg_stream_slot *slot, bool transient)
{
    VkCommandPoolCreateInfo pool = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = transient ? VK_COMMAND_POOL_CREATE_TRANSIENT_BIT : 0,
        .queueFamilyIndex = gpu->queue_family,
    };
    MG_VK_TRY(gpu, gpu->vk->vkCreateCommandPool(gpu->device, &pool, NULL, &slot->command_pool));
    VkCommandBufferAllocateInfo alloc = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = slot->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    MG_VK_TRY(gpu, gpu->vk->vkAllocateCommandBuffers(gpu->device, &alloc, &slot->command_buffer));
    VkFenceCreateInfo fence = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    MG_VK_TRY(gpu, gpu->vk->vkCreateFence(gpu->device, &fence, NULL, &slot->fence));
    return MG_OK;
}

void mg_gpu_slot_destroy(mg_gpu *gpu, mg_stream_slot *slot)
{
    for (size_t p = 0; p < slot->descriptor_pool_count; p++)
        gpu->vk->vkDestroyDescriptorPool(gpu->device, slot->descriptor_pools[p], NULL);
    free(slot->descriptor_pools);
    if (slot->fence)
        gpu->vk->vkDestroyFence(gpu->device, slot->fence, NULL);
    if (slot->command_pool) /* frees its command buffer too */
        gpu->vk->vkDestroyCommandPool(gpu->device, slot->command_pool, NULL);
    memset(slot, 0, sizeof *slot);
}

void mg_gpu_record_start_barrier(mg_gpu *gpu, VkCommandBuffer cmd)
{
    record_barrier(gpu, cmd, work_stages, work_accesses);
}

void mg_gpu_record_host_barrier(mg_gpu *gpu, VkCommandBuffer cmd)
{
    record_barrier(gpu, cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
}

void mg_gpu_stream_reset_hazards(mg_gpu *gpu)
{
    gpu->stream.reads.count = 0;
    gpu->stream.writes.count = 0;
}

mg_status mg_gpu_stream_init(mg_gpu *gpu)
{
    mg_stream *s = &gpu->stream;
    s->batch_limit = DEFAULT_BATCH_LIMIT;
    for (int i = 0; i < MG_STREAM_SLOTS; i++) {
        mg_status status = mg_gpu_slot_create(gpu, &s->slots[i], true);
        if (status != MG_OK)
            return status;
    }
    return MG_OK;
}

void mg_gpu_stream_release(mg_gpu *gpu)
{
    mg_stream *s = &gpu->stream;
    for (int i = 0; i < MG_STREAM_SLOTS; i++)
        mg_gpu_slot_destroy(gpu, &s->slots[i]);
    free(s->reads.items);
    free(s->writes.items);
    memset(s, 0, sizeof *s);
}

mg_status mg_gpu_slot_wait(mg_gpu *gpu, mg_stream_slot *slot)
{
    if (!slot->in_flight)
        return MG_OK;
    MG_VK_TRY(gpu, gpu->vk->vkWaitForFences(gpu->device, 1, &slot->fence, VK_TRUE, UINT64_MAX));
    MG_VK_TRY(gpu, gpu->vk->vkResetFences(gpu->device, 1, &slot->fence));
    slot->in_flight = false;
    return MG_OK;
}

mg_status mg_gpu_stream_begin(mg_gpu *gpu, VkCommandBuffer *out)
{
    if (gpu->capture) { /* begun by mg_gpu_capture_begin */
        *out = gpu->capture->slot.command_buffer;
        return MG_OK;
    }
    mg_stream_slot *slot = &gpu->stream.slots[gpu->stream.current];
    if (!slot->recording) {
        mg_status status = mg_gpu_slot_wait(gpu, slot);
        if (status != MG_OK)
            return status;
        MG_VK_TRY(gpu, gpu->vk->vkResetCommandPool(gpu->device, slot->command_pool, 0));
        for (size_t p = 0; p < slot->descriptor_pool_count; p++)
            MG_VK_TRY(gpu, gpu->vk->vkResetDescriptorPool(gpu->device, slot->descriptor_pools[p], 0));
        slot->descriptor_pool_current = 0;
        slot->sets_in_current_pool = 0;
        VkCommandBufferBeginInfo begin = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        MG_VK_TRY(gpu, gpu->vk->vkBeginCommandBuffer(slot->command_buffer, &begin));
        /* Earlier batches may still run: order this batch after all of them. */
        record_barrier(gpu, slot->command_buffer, work_stages, work_accesses);
        slot->recording = true;
        slot->commands = 0;
    }
    *out = slot->command_buffer;
    return MG_OK;
}

static bool overlaps(const mg_hazard_list *list, VkBuffer buffer, uint64_t begin, uint64_t end)
{
    for (size_t i = 0; i < list->count; i++) {
        const mg_hazard_range *r = &list->items[i];
        if (r->buffer == buffer && r->begin < end && begin < r->end)
            return true;
    }
    return false;
}

static bool push_range(mg_hazard_list *list, VkBuffer buffer, uint64_t begin, uint64_t end)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        mg_hazard_range *grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown)
            return false;
        list->items = grown;
        list->capacity = capacity;
    }
    list->items[list->count++] = (mg_hazard_range){buffer, begin, end};
    return true;
}

mg_status mg_gpu_stream_track(mg_gpu *gpu, VkCommandBuffer cmd, const mg_gpu_range *ranges, const bool *writes,
                              uint32_t count)
{
    mg_stream *s = &gpu->stream;
    bool hazard = false;
    for (uint32_t i = 0; i < count && !hazard; i++) {
        VkBuffer buffer = ranges[i].block->buffer;
        uint64_t begin = ranges[i].offset, end = ranges[i].offset + ranges[i].size;
        hazard = overlaps(&s->writes, buffer, begin, end) || (writes[i] && overlaps(&s->reads, buffer, begin, end));
    }
    if (hazard) {
        record_barrier(gpu, cmd, work_stages, work_accesses);
        if (gpu->capture)
            gpu->capture->barriers++; /* counted at each replay */
        else
            gpu->barriers++;
        s->reads.count = 0;
        s->writes.count = 0;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (ranges[i].size == 0)
            continue;
        mg_hazard_list *list = writes[i] ? &s->writes : &s->reads;
        if (!push_range(list, ranges[i].block->buffer, ranges[i].offset, ranges[i].offset + ranges[i].size))
            return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return MG_OK;
}

static mg_status refuse_while_capturing(mg_gpu *gpu)
{
    return mg_fail(gpu->diag, MG_ERR_INTERNAL, "host work (a transfer, flush or finish) while capturing a "
                   "recording; write inputs before the capture and replay it instead");
}

mg_status mg_gpu_flush(mg_gpu *gpu)
{
    if (gpu->capture)
        return refuse_while_capturing(gpu);
    mg_stream *s = &gpu->stream;
    mg_stream_slot *slot = &s->slots[s->current];
    if (!slot->recording)
        return MG_OK;
    /* Make the batch's writes visible to the host once the fence signals. */
    record_barrier(gpu, slot->command_buffer, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    slot->recording = false;
    MG_VK_TRY(gpu, gpu->vk->vkEndCommandBuffer(slot->command_buffer));
    VkSubmitInfo submit = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &slot->command_buffer,
    };
    MG_VK_TRY(gpu, gpu->vk->vkQueueSubmit(gpu->queue, 1, &submit, slot->fence));
    slot->in_flight = true;
    gpu->submits++;
    s->reads.count = 0;
    s->writes.count = 0;
    s->current = (s->current + 1) % MG_STREAM_SLOTS;
    return MG_OK;
}

mg_status mg_gpu_stream_wait_submitted(mg_gpu *gpu)
{
    mg_status status = MG_OK;
    for (int i = 0; i < MG_STREAM_SLOTS && status == MG_OK; i++)
        status = mg_gpu_slot_wait(gpu, &gpu->stream.slots[i]);
    for (mg_gpu_recording *r = gpu->recordings; r && status == MG_OK; r = r->next)
        status = mg_gpu_slot_wait(gpu, &r->slot);
    return status;
}

mg_status mg_gpu_finish(mg_gpu *gpu)
{
    mg_status status = mg_gpu_flush(gpu);
    return status == MG_OK ? mg_gpu_stream_wait_submitted(gpu) : status;
}

mg_status mg_gpu_stream_commit(mg_gpu *gpu)
{
    if (gpu->capture)
        return MG_OK; /* a recording is one submission, whatever its length */
    mg_stream_slot *slot = &gpu->stream.slots[gpu->stream.current];
    if (++slot->commands >= gpu->stream.batch_limit)
        return mg_gpu_flush(gpu);
    return MG_OK;
}

mg_status mg_gpu_stream_allocate_set(mg_gpu *gpu, VkDescriptorSet *out)
{
    mg_stream_slot *slot = gpu->capture ? &gpu->capture->slot : &gpu->stream.slots[gpu->stream.current];
    if (slot->descriptor_pool_count == 0 || slot->sets_in_current_pool == SETS_PER_POOL) {
        if (slot->descriptor_pool_count > 0)
            slot->descriptor_pool_current++;
        if (slot->descriptor_pool_current == slot->descriptor_pool_count) {
            VkDescriptorPool *grown = realloc(slot->descriptor_pools,
                                              (slot->descriptor_pool_count + 1) * sizeof *grown);
            if (!grown)
                return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            slot->descriptor_pools = grown;
            VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * MG_GPU_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo info = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = SETS_PER_POOL,
                .poolSizeCount = 1,
                .pPoolSizes = &size,
            };
            MG_VK_TRY(gpu, gpu->vk->vkCreateDescriptorPool(gpu->device, &info, NULL,
                                                           &slot->descriptor_pools[slot->descriptor_pool_count]));
            slot->descriptor_pool_count++;
        }
        slot->sets_in_current_pool = 0;
    }
    VkDescriptorSetAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = slot->descriptor_pools[slot->descriptor_pool_current],
        .descriptorSetCount = 1,
        .pSetLayouts = &gpu->set_layout,
    };
    MG_VK_TRY(gpu, gpu->vk->vkAllocateDescriptorSets(gpu->device, &info, out));
    slot->sets_in_current_pool++;
    return MG_OK;
}
