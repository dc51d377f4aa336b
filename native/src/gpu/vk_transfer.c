/*
 * Host <-> device transfers. They wait for all recorded work first, so they are
 * ordered with the ops around them without any bookkeeping by callers. Mapped
 * (unified) memory is copied directly; otherwise through a staging buffer in
 * chunks.
 */
#include "gpu/gpu_internal.h"

#include <string.h>

#define STAGING_SIZE (32ull << 20)

static mg_status ensure_staging(mg_gpu *gpu)
{
    if (gpu->staging)
        return MG_OK;
    /* Not counted against the context's limit: it is host memory. */
    mg_gpu_block *block = NULL;
    mg_status status = mg_gpu_create_staging_block(gpu, STAGING_SIZE, &block);
    if (status == MG_OK)
        gpu->staging = block;
    return status;
}

static mg_status record_copy(mg_gpu *gpu, mg_gpu_range src, mg_gpu_range dst)
{
    VkCommandBuffer cmd;
    mg_status status = mg_gpu_stream_begin(gpu, &cmd);
    if (status != MG_OK)
        return status;
    mg_gpu_range ranges[2] = {src, dst};
    bool writes[2] = {false, true};
    if ((status = mg_gpu_stream_track(gpu, cmd, ranges, writes, 2)) != MG_OK)
        return status;
    VkBufferCopy region = {src.offset, dst.offset, src.size};
    gpu->vk->vkCmdCopyBuffer(cmd, src.block->buffer, dst.block->buffer, 1, &region);
    return mg_gpu_stream_commit(gpu);
}

mg_status mg_gpu_copy(mg_gpu *gpu, mg_gpu_range src, mg_gpu_range dst)
{
    if (src.size != dst.size || !src.block || !dst.block)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "copy between ranges of different sizes");
    return record_copy(gpu, src, dst);
}

mg_status mg_gpu_fill(mg_gpu *gpu, mg_gpu_range dst, uint32_t pattern)
{
    if (dst.offset % 4 || dst.size % 4 || !dst.block)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "fill range must be 4-byte aligned");
    VkCommandBuffer cmd;
    mg_status status = mg_gpu_stream_begin(gpu, &cmd);
    if (status != MG_OK)
        return status;
    bool write = true;
    if ((status = mg_gpu_stream_track(gpu, cmd, &dst, &write, 1)) != MG_OK)
        return status;
    gpu->vk->vkCmdFillBuffer(cmd, dst.block->buffer, dst.offset, dst.size, pattern);
    return mg_gpu_stream_commit(gpu);
}

mg_status mg_gpu_write(mg_gpu *gpu, mg_gpu_range dst, const void *src)
{
    mg_status status = mg_gpu_finish(gpu);
    if (status != MG_OK)
        return status;
    if (gpu->tensor_memory_mapped && dst.block->mapped) {
        memcpy((uint8_t *)dst.block->mapped + dst.offset, src, dst.size);
        return MG_OK;
    }
    if ((status = ensure_staging(gpu)) != MG_OK)
        return status;
    for (uint64_t done = 0; done < dst.size; done += STAGING_SIZE) {
        uint64_t chunk = dst.size - done < STAGING_SIZE ? dst.size - done : STAGING_SIZE;
        memcpy(gpu->staging->mapped, (const uint8_t *)src + done, chunk);
        mg_gpu_range from = {gpu->staging, 0, chunk};
        mg_gpu_range to = {dst.block, dst.offset + done, chunk};
        if ((status = record_copy(gpu, from, to)) != MG_OK || (status = mg_gpu_finish(gpu)) != MG_OK)
            return status;
    }
    return MG_OK;
}

mg_status mg_gpu_read(mg_gpu *gpu, mg_gpu_range src, void *dst)
{
    mg_status status = mg_gpu_finish(gpu);
    if (status != MG_OK)
        return status;
    if (gpu->tensor_memory_mapped && src.block->mapped) {
        memcpy(dst, (const uint8_t *)src.block->mapped + src.offset, src.size);
        return MG_OK;
    }
    if ((status = ensure_staging(gpu)) != MG_OK)
        return status;
    for (uint64_t done = 0; done < src.size; done += STAGING_SIZE) {
        uint64_t chunk = src.size - done < STAGING_SIZE ? src.size - done : STAGING_SIZE;
        mg_gpu_range from = {src.block, src.offset + done, chunk};
        mg_gpu_range to = {gpu->staging, 0, chunk};
        if ((status = record_copy(gpu, from, to)) != MG_OK || (status = mg_gpu_finish(gpu)) != MG_OK)
            return status;
        memcpy((uint8_t *)dst + done, gpu->staging->mapped, chunk);
    }
    return MG_OK;
}
