/*
 * Recordings (gpu.h): a sequence of dispatches captured once into a command
 * buffer that is never reset, with descriptor sets that persist, and
 * submitted again and again. Token-by-token decoding records the same few
 * hundred small dispatches for every token; recording them costs the host
 * more than the device needs to run them, so the decoder captures each kind
 * of step once and replays it with new inputs in a small buffer.
 */
#include "gpu/gpu_internal.h"

#include <stdlib.h>
#include <string.h>

/* Set when the capture could not keep a freed allocation: that memory was
 * released (safe, since such a recording is never submitted) and
 * mg_gpu_capture_end reports the failure. */
static bool capture_failed(const mg_gpu_recording *r)
{
    return r->held_capacity == SIZE_MAX;
}

static void unlink_recording(mg_gpu *gpu, mg_gpu_recording *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        gpu->recordings = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Device objects and held memory back to the device; the struct stays. */
static void release_device_objects(mg_gpu *gpu, mg_gpu_recording *r)
{
    mg_gpu_slot_destroy(gpu, &r->slot);
    for (size_t i = 0; i < r->held_count; i++)
        mg_gpu_release_memory(gpu, &r->held[i]);
    free(r->held);
    r->held = NULL;
    r->held_count = 0;
    r->held_capacity = 0;
}

bool mg_gpu_capture_hold(mg_gpu *gpu, const mg_gpu_alloc *alloc)
{
    mg_gpu_recording *r = gpu->capture;
    if (!r || capture_failed(r))
        return false;
    if (r->held_count == r->held_capacity) {
        size_t capacity = r->held_capacity ? r->held_capacity * 2 : 32;
        mg_gpu_alloc *grown = realloc(r->held, capacity * sizeof *grown);
        if (!grown) {
            r->held_capacity = SIZE_MAX;
            return false;
        }
        r->held = grown;
        r->held_capacity = capacity;
    }
    r->held[r->held_count++] = *alloc;
    return true;
}

bool mg_gpu_capturing(const mg_gpu *gpu)
{
    return gpu->capture != NULL;
}

mg_status mg_gpu_capture_begin(mg_gpu *gpu)
{
    if (gpu->capture)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "a recording is already being captured");
    /* Submit what the stream holds: its hazards must not leak into the recording. */
    mg_status status = mg_gpu_flush(gpu);
    if (status != MG_OK)
        return status;
    mg_gpu_recording *r = calloc(1, sizeof *r);
    if (!r)
        return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for a recording");
    r->gpu = gpu;
    if ((status = mg_gpu_slot_create(gpu, &r->slot, false)) != MG_OK) {
        mg_gpu_slot_destroy(gpu, &r->slot);
        free(r);
        return status;
    }
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkResult result = gpu->vk->vkBeginCommandBuffer(r->slot.command_buffer, &begin);
    if (result != VK_SUCCESS) {
        mg_gpu_slot_destroy(gpu, &r->slot);
        free(r);
        return mg_gpu_fail_vk(gpu, result, "vkBeginCommandBuffer");
    }
    /* Every replay runs after whatever was submitted before it. */
    mg_gpu_record_start_barrier(gpu, r->slot.command_buffer);
    r->slot.recording = true;
    r->next = gpu->recordings;
    if (gpu->recordings)
        gpu->recordings->prev = r;
    gpu->recordings = r;
    mg_gpu_stream_reset_hazards(gpu);
    gpu->capture = r;
    return MG_OK;
}

void mg_gpu_capture_abort(mg_gpu *gpu)
{
    mg_gpu_recording *r = gpu->capture;
    if (!r)
        return;
    gpu->capture = NULL;
    mg_gpu_stream_reset_hazards(gpu);
    if (r->slot.recording)
        gpu->vk->vkEndCommandBuffer(r->slot.command_buffer);
    /* Never submitted: what it holds may have been used by earlier batches only. */
    mg_gpu_stream_wait_submitted(gpu);
    unlink_recording(gpu, r);
    release_device_objects(gpu, r);
    free(r);
}

mg_status mg_gpu_capture_end(mg_gpu *gpu, mg_gpu_recording **out)
{
    *out = NULL;
    mg_gpu_recording *r = gpu->capture;
    if (!r)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "mg_gpu_capture_end without mg_gpu_capture_begin");
    if (capture_failed(r)) {
        mg_gpu_capture_abort(gpu);
        return mg_fail(gpu->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory while capturing a recording");
    }
    /* Outputs are read by the host once the replay's fence signals. */
    mg_gpu_record_host_barrier(gpu, r->slot.command_buffer);
    r->slot.recording = false;
    VkResult result = gpu->vk->vkEndCommandBuffer(r->slot.command_buffer);
    if (result != VK_SUCCESS) {
        mg_gpu_capture_abort(gpu);
        return mg_gpu_fail_vk(gpu, result, "vkEndCommandBuffer");
    }
    gpu->capture = NULL;
    mg_gpu_stream_reset_hazards(gpu);
    *out = r;
    return MG_OK;
}

mg_status mg_gpu_replay(mg_gpu *gpu, mg_gpu_recording *r)
{
    if (!r || r->gpu != gpu)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "replay of a recording captured on another device (or freed)");
    if (gpu->capture)
        return mg_fail(gpu->diag, MG_ERR_INTERNAL, "a replay while capturing a recording");
    /* Queue order is program order: what the stream recorded goes first. */
    mg_status status = mg_gpu_flush(gpu);
    if (status == MG_OK)
        status = mg_gpu_slot_wait(gpu, &r->slot); /* the previous replay of this command buffer */
    if (status != MG_OK)
        return status;
    VkSubmitInfo submit = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &r->slot.command_buffer,
    };
    MG_VK_TRY(gpu, gpu->vk->vkQueueSubmit(gpu->queue, 1, &submit, r->slot.fence));
    r->slot.in_flight = true;
    gpu->submits++;
    gpu->dispatches += r->dispatches;
    gpu->barriers += r->barriers;
    return MG_OK;
}

void mg_gpu_recording_free(mg_gpu_recording *r)
{
    if (!r)
        return;
    mg_gpu *gpu = r->gpu;
    if (gpu) {
        if (gpu->capture == r) {
            mg_gpu_capture_abort(gpu);
            return;
        }
        /* Its replays and whatever ran before the capture (held memory) must be done. */
        mg_gpu_stream_wait_submitted(gpu);
        unlink_recording(gpu, r);
        release_device_objects(gpu, r);
    }
    free(r);
}

void mg_gpu_recordings_release(mg_gpu *gpu)
{
    mg_gpu_recording *capture = gpu->capture; /* not handed out yet: the device owns it */
    gpu->capture = NULL;
    while (gpu->recordings) {
        mg_gpu_recording *r = gpu->recordings;
        unlink_recording(gpu, r);
        /* The blocks go with the device: only the bookkeeping of held memory is dropped. */
        mg_gpu_slot_destroy(gpu, &r->slot);
        free(r->held);
        r->held = NULL;
        r->held_count = r->held_capacity = 0;
        r->gpu = NULL;
        if (r == capture)
            free(r);
    }
}
