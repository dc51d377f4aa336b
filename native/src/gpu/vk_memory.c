/*
 * Device memory: a few large blocks (one VkDeviceMemory + one VkBuffer each),
 * sub-allocated first-fit with aligned sizes and coalescing frees. Large tensors
 * get a dedicated block that is released as soon as it is empty. The context's
 * memory limit is enforced here, which also lets tests simulate running out.
 */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BLOCK_SIZE (64ull << 20)

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

static const VkBufferUsageFlags buffer_usage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static int find_memory_type(const mg_gpu *gpu, uint32_t allowed, VkMemoryPropertyFlags required,
                            VkMemoryPropertyFlags forbidden)
{
    const VkPhysicalDeviceMemoryProperties *m = &gpu->memory_properties;
    for (uint32_t i = 0; i < m->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = m->memoryTypes[i].propertyFlags;
        if ((allowed & (1u << i)) && (f & required) == required && !(f & forbidden))
            return (int)i;
    }
    return -1;
}

static mg_status create_block(mg_gpu *gpu, uint64_t size, uint32_t memory_type, mg_gpu_block **out)
{
    mg_vk_functions *vk = gpu->vk;
    mg_gpu_block *block = calloc(1, sizeof *block);
    if (!block)
        return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    block->size = size;
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = buffer_usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult result = vk->vkCreateBuffer(gpu->device, &info, NULL, &block->buffer);
    VkMemoryRequirements req = {0};
    if (result == VK_SUCCESS) {
        vk->vkGetBufferMemoryRequirements(gpu->device, block->buffer, &req);
        VkMemoryAllocateInfo alloc = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = memory_type,
        };
        result = vk->vkAllocateMemory(gpu->device, &alloc, NULL, &block->memory);
    }
    if (result == VK_SUCCESS)
        result = vk->vkBindBufferMemory(gpu->device, block->buffer, block->memory, 0);
    VkMemoryPropertyFlags flags = gpu->memory_properties.memoryTypes[memory_type].propertyFlags;
    if (result == VK_SUCCESS && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        result = vk->vkMapMemory(gpu->device, block->memory, 0, VK_WHOLE_SIZE, 0, &block->mapped);
    if (result != VK_SUCCESS) {
        if (block->memory)
            vk->vkFreeMemory(gpu->device, block->memory, NULL);
        if (block->buffer)
            vk->vkDestroyBuffer(gpu->device, block->buffer, NULL);
        free(block);
        if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
            return mg_fail(gpu->diag, MG_ERR_DEVICE_OUT_OF_MEMORY,
                           "the device could not allocate %llu bytes (%s); free other models or use a "
                           "smaller batch", (unsigned long long)size, mg_vk_result_string(result));
        return mg_gpu_fail_vk(gpu, result, "allocating a device memory block");
    }
    block->free_ranges = malloc(4 * sizeof *block->free_ranges);
    if (!block->free_ranges) {
        vk->vkDestroyBuffer(gpu->device, block->buffer, NULL);
        vk->vkFreeMemory(gpu->device, block->memory, NULL);
        free(block);
        return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    block->free_capacity = 4;
    block->free_ranges[0] = (mg_free_range){0, size};
    block->free_count = 1;
    *out = block;
    return MG_OK;
}

static void destroy_block(mg_gpu *gpu, mg_gpu_block *block)
{
    if (block->mapped)
        gpu->vk->vkUnmapMemory(gpu->device, block->memory);
    gpu->vk->vkDestroyBuffer(gpu->device, block->buffer, NULL);
    gpu->vk->vkFreeMemory(gpu->device, block->memory, NULL);
    free(block->free_ranges);
    free(block);
}

mg_status mg_gpu_create_staging_block(mg_gpu *gpu, uint64_t size, mg_gpu_block **out)
{
    return create_block(gpu, size, gpu->staging_memory_type, out);
}

mg_status mg_gpu_memory_init(mg_gpu *gpu)
{
    /* Which memory types can back our storage buffers? Ask with a probe buffer. */
    VkBufferCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = 256,
        .usage = buffer_usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkBuffer probe;
    MG_VK_TRY(gpu, gpu->vk->vkCreateBuffer(gpu->device, &info, NULL, &probe));
    VkMemoryRequirements req;
    gpu->vk->vkGetBufferMemoryRequirements(gpu->device, probe, &req);
    gpu->vk->vkDestroyBuffer(gpu->device, probe, NULL);

    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags mappable = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = -1;
    if (gpu->info.type == MG_DEVICE_DISCRETE_GPU) {
        /* Keep the small host-visible (BAR) heap for the staging buffer. */
        type = find_memory_type(gpu, req.memoryTypeBits, local, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    } else {
        /* Unified memory: map tensors directly and skip staging copies. */
        type = find_memory_type(gpu, req.memoryTypeBits, local | mappable, 0);
    }
    if (type < 0)
        type = find_memory_type(gpu, req.memoryTypeBits, local, 0);
    if (type < 0)
        type = find_memory_type(gpu, req.memoryTypeBits, 0, 0);
    if (type < 0)
        return mg_fail(gpu->diag, MG_ERR_UNSUPPORTED, "the device offers no memory type for storage buffers");
    gpu->tensor_memory_type = (uint32_t)type;
    VkMemoryPropertyFlags flags = gpu->memory_properties.memoryTypes[type].propertyFlags;
    gpu->tensor_memory_mapped = (flags & mappable) == mappable;
    /* A switch to bisect driver bugs, and to test the staging path on machines
     * whose memory is all mapped (lavapipe, integrated GPUs). */
    const char *force = getenv("MESHGPT_FORCE_STAGING");
    if (force && *force && strcmp(force, "0") != 0)
        gpu->tensor_memory_mapped = false;

    int staging = find_memory_type(gpu, req.memoryTypeBits, mappable | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (staging < 0)
        staging = find_memory_type(gpu, req.memoryTypeBits, mappable, 0);
    if (staging < 0 && !gpu->tensor_memory_mapped)
        return mg_fail(gpu->diag, MG_ERR_UNSUPPORTED, "the device offers no host-visible coherent memory");
    gpu->staging_memory_type = staging < 0 ? 0 : (uint32_t)staging;

    gpu->block_size = DEFAULT_BLOCK_SIZE;
    if (gpu->info.max_allocation_bytes && gpu->block_size > gpu->info.max_allocation_bytes)
        gpu->block_size = gpu->info.max_allocation_bytes;
    if (gpu->limits.max_storage_buffer_range < gpu->block_size)
        gpu->block_size = align_up(gpu->limits.max_storage_buffer_range / 2, 1u << 20);

    /* Unused bindings of the shared descriptor layout point here. */
    return mg_gpu_alloc_memory(gpu, 256, &gpu->dummy);
}

void mg_gpu_memory_release(mg_gpu *gpu)
{
    for (size_t i = 0; i < gpu->block_count; i++)
        destroy_block(gpu, gpu->blocks[i]);
    free(gpu->blocks);
    gpu->blocks = NULL;
    gpu->block_count = 0;
    if (gpu->staging)
        destroy_block(gpu, gpu->staging);
    gpu->staging = NULL;
}

static bool carve(mg_gpu_block *block, uint64_t size, uint64_t *out_offset)
{
    for (size_t i = 0; i < block->free_count; i++) {
        mg_free_range *r = &block->free_ranges[i];
        if (r->size < size)
            continue;
        *out_offset = r->offset;
        r->offset += size;
        r->size -= size;
        if (r->size == 0) {
            memmove(r, r + 1, (block->free_count - i - 1) * sizeof *r);
            block->free_count--;
        }
        block->used += size;
        return true;
    }
    return false;
}

/* Returns false only when the free list cannot grow (host out of memory). */
static bool give_back(mg_gpu_block *block, uint64_t offset, uint64_t size)
{
    size_t i = 0;
    while (i < block->free_count && block->free_ranges[i].offset < offset)
        i++;
    bool joins_previous = i > 0 && block->free_ranges[i - 1].offset + block->free_ranges[i - 1].size == offset;
    bool joins_next = i < block->free_count && offset + size == block->free_ranges[i].offset;
    block->used -= size;
    if (joins_previous && joins_next) {
        block->free_ranges[i - 1].size += size + block->free_ranges[i].size;
        memmove(&block->free_ranges[i], &block->free_ranges[i + 1], (block->free_count - i - 1) * sizeof(mg_free_range));
        block->free_count--;
    } else if (joins_previous) {
        block->free_ranges[i - 1].size += size;
    } else if (joins_next) {
        block->free_ranges[i].offset = offset;
        block->free_ranges[i].size += size;
    } else {
        if (block->free_count == block->free_capacity) {
            size_t capacity = block->free_capacity * 2;
            mg_free_range *grown = realloc(block->free_ranges, capacity * sizeof *grown);
            if (!grown)
                return false; /* the range leaks inside the block until the block goes */
            block->free_ranges = grown;
            block->free_capacity = capacity;
        }
        memmove(&block->free_ranges[i + 1], &block->free_ranges[i], (block->free_count - i) * sizeof(mg_free_range));
        block->free_ranges[i] = (mg_free_range){offset, size};
        block->free_count++;
    }
    return true;
}

mg_status mg_gpu_alloc_memory(mg_gpu *gpu, uint64_t size, mg_gpu_alloc *out)
{
    memset(out, 0, sizeof *out);
    if (size == 0)
        return mg_fail(gpu->diag, MG_ERR_INVALID_ARGUMENT, "cannot allocate zero bytes of device memory");
    uint64_t alignment = gpu->limits.storage_buffer_alignment;
    uint64_t rounded = align_up(size, alignment);
    for (size_t i = 0; i < gpu->block_count; i++) {
        uint64_t offset;
        if (carve(gpu->blocks[i], rounded, &offset)) {
            *out = (mg_gpu_alloc){gpu->blocks[i], offset, rounded};
            goto done;
        }
    }
    {
        /* A new block: the default size, or exactly the request for large tensors. */
        uint64_t block_size = rounded > gpu->block_size / 2 ? rounded : gpu->block_size;
        if (gpu->memory_limit) {
            uint64_t left = gpu->memory_limit > gpu->bytes_allocated ? gpu->memory_limit - gpu->bytes_allocated : 0;
            if (rounded > left)
                return mg_fail(gpu->diag, MG_ERR_DEVICE_OUT_OF_MEMORY,
                               "the context's device memory limit of %llu bytes is reached: %llu bytes are "
                               "allocated and %llu more were requested; raise device_memory_limit or free tensors",
                               (unsigned long long)gpu->memory_limit, (unsigned long long)gpu->bytes_allocated,
                               (unsigned long long)rounded);
            if (block_size > left)
                block_size = left / alignment * alignment; /* >= rounded: both are aligned */
        }
        if (gpu->info.max_allocation_bytes && block_size > gpu->info.max_allocation_bytes) {
            if (rounded > gpu->info.max_allocation_bytes)
                return mg_fail(gpu->diag, MG_ERR_DEVICE_OUT_OF_MEMORY,
                               "%llu bytes exceed the device's largest allocation (%llu bytes)",
                               (unsigned long long)rounded, (unsigned long long)gpu->info.max_allocation_bytes);
            block_size = rounded;
        }
        if (gpu->block_count == gpu->block_capacity) {
            size_t capacity = gpu->block_capacity ? gpu->block_capacity * 2 : 8;
            mg_gpu_block **grown = realloc(gpu->blocks, capacity * sizeof *grown);
            if (!grown)
                return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
            gpu->blocks = grown;
            gpu->block_capacity = capacity;
        }
        mg_gpu_block *block;
        mg_status status = create_block(gpu, block_size, gpu->tensor_memory_type, &block);
        if (status != MG_OK)
            return status;
        gpu->blocks[gpu->block_count++] = block;
        gpu->bytes_allocated += block_size;
        uint64_t offset = 0;
        carve(block, rounded, &offset);
        *out = (mg_gpu_alloc){block, offset, rounded};
    }
done:
    gpu->bytes_in_use += rounded;
    if (gpu->bytes_in_use > gpu->bytes_peak)
        gpu->bytes_peak = gpu->bytes_in_use;
    return MG_OK;
}

uint64_t mg_gpu_block_size(const mg_gpu_block *block)
{
    return block->size;
}

void mg_gpu_free_memory(mg_gpu *gpu, mg_gpu_alloc *alloc)
{
    if (!alloc || !alloc->block)
        return;
    if (mg_gpu_capture_hold(gpu, alloc)) { /* the recording binds it: freed with the recording */
        memset(alloc, 0, sizeof *alloc);
        return;
    }
    mg_gpu_release_memory(gpu, alloc);
}

void mg_gpu_release_memory(mg_gpu *gpu, mg_gpu_alloc *alloc)
{
    if (!alloc || !alloc->block)
        return;
    mg_gpu_block *block = alloc->block;
    give_back(block, alloc->offset, alloc->size);
    gpu->bytes_in_use -= alloc->size;
    memset(alloc, 0, sizeof *alloc);
    /* Dedicated blocks go back to the driver at once; default-size ones are kept
     * for the next temporaries. */
    if (block->used == 0 && block->size != gpu->block_size) {
        /* The GPU may still read it: wait before releasing (only for what is
         * submitted while a capture holds the stream). */
        if (gpu->capture)
            mg_gpu_stream_wait_submitted(gpu);
        else
            mg_gpu_finish(gpu);
        for (size_t i = 0; i < gpu->block_count; i++) {
            if (gpu->blocks[i] == block) {
                gpu->blocks[i] = gpu->blocks[--gpu->block_count];
                break;
            }
        }
        gpu->bytes_allocated -= block->size;
        destroy_block(gpu, block);
    }
}
