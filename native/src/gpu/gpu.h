/*
 * The Vulkan compute runtime, as seen by the op layer.
 *
 * One mg_gpu owns an instance, a logical device with one compute queue, memory
 * arenas, the pipelines of the embedded shaders and one command stream. Ops
 * describe a dispatch (shader, specialization constants, buffers, push
 * constants, grid); the stream records it, inserts a barrier only where it
 * reads or writes what an earlier dispatch of the same barrier interval wrote
 * (or writes what one read), and submits in batches. Transfers to and from the
 * host are synchronisation points: they wait for all recorded work.
 *
 * An mg_gpu is used by one thread at a time (the context serialises callers).
 */
#ifndef MG_GPU_GPU_H
#define MG_GPU_GPU_H

#include "core/diag.h"
#include "meshgpt.h"
#include "shaders_embedded.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_gpu mg_gpu;
typedef struct mg_gpu_block mg_gpu_block;

/* A sub-allocation of device memory. */
typedef struct mg_gpu_alloc {
    mg_gpu_block *block;
    uint64_t offset;
    uint64_t size;
} mg_gpu_alloc;

/* A byte range of an allocation's block, as bound to a shader or copied. */
typedef struct mg_gpu_range {
    mg_gpu_block *block;
    uint64_t offset;
    uint64_t size;
} mg_gpu_range;

typedef struct mg_gpu_options {
    const char *device;           /* selection string, as mg_context_params.device (never "cpu") */
    bool validation;
    bool use_pipeline_cache;
    const char *pipeline_cache_dir; /* NULL: the default user cache folder */
    uint64_t memory_limit;        /* 0: none */
} mg_gpu_options;

/* Lists Vulkan devices into a new array (caller frees with free()).
 * Returns MG_ERR_NO_DEVICE with the reason when Vulkan is unavailable. */
mg_status mg_gpu_list_devices(mg_diag *diag, mg_device_info **out, size_t *out_count);

mg_status mg_gpu_create(const mg_gpu_options *options, mg_diag *diag, mg_gpu **out);
/* Waits for the device, saves the pipeline cache, releases everything. */
void mg_gpu_destroy(mg_gpu *gpu);

const mg_device_info *mg_gpu_device_info(const mg_gpu *gpu);
void mg_gpu_get_stats(const mg_gpu *gpu, mg_context_stats *stats);

/* Limits the op layer needs to choose tile sizes and check shapes. */
typedef struct mg_gpu_limits {
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size_x;
    uint32_t max_workgroup_count[3];
    uint32_t max_shared_memory_bytes;
    uint64_t max_storage_buffer_range;
    uint64_t storage_buffer_alignment;
    uint32_t subgroup_size;
    /* Bytes by which bindings are widened on each side (MESHGPT_BINDING_SLACK,
     * 0 by default). Lavapipe drops writes outside a descriptor's range, so
     * tests widen bindings to let an overflowing shader hit their guard words. */
    uint32_t binding_slack;
    /* VkSubgroupFeatureFlags the device supports in compute shaders (0 when it
     * supports none in the compute stage, or when MESHGPT_DISABLE_SUBGROUPS=1
     * asks for the shared-memory fallbacks: drivers have had subgroup bugs). */
    uint32_t subgroup_operations;
    mg_device_type device_type;
} mg_gpu_limits;
const mg_gpu_limits *mg_gpu_get_limits(const mg_gpu *gpu);
/* Bits of mg_gpu_limits.subgroup_operations (= VkSubgroupFeatureFlagBits). */
#define MG_GPU_SUBGROUP_BASIC 0x1u
#define MG_GPU_SUBGROUP_ARITHMETIC 0x4u

/* ---- memory ---- */
mg_status mg_gpu_alloc_memory(mg_gpu *gpu, uint64_t size, mg_gpu_alloc *out);
uint64_t mg_gpu_block_size(const mg_gpu_block *block);
void mg_gpu_free_memory(mg_gpu *gpu, mg_gpu_alloc *alloc);

/* ---- transfers (synchronous: they wait for recorded work first) ---- */
mg_status mg_gpu_write(mg_gpu *gpu, mg_gpu_range dst, const void *src);
mg_status mg_gpu_read(mg_gpu *gpu, mg_gpu_range src, void *dst);
/* Records a fill of `dst` (offset and size multiples of 4) with a 32-bit pattern. */
mg_status mg_gpu_fill(mg_gpu *gpu, mg_gpu_range dst, uint32_t pattern);
/* Records a device-side copy (sizes equal). */
mg_status mg_gpu_copy(mg_gpu *gpu, mg_gpu_range src, mg_gpu_range dst);

/* ---- dispatch ---- */
#define MG_GPU_MAX_BINDINGS 8
#define MG_GPU_MAX_SPEC 8
#define MG_GPU_MAX_PUSH 128

typedef struct mg_gpu_dispatch {
    mg_shader_id shader;
    /* Specialization constants by constant_id; by convention id 0 is the
     * workgroup size in x (local_size_x_id = 0). */
    uint32_t spec[MG_GPU_MAX_SPEC];
    uint32_t spec_count;
    /* Bound at bindings 0..n-1. Hazards are tracked on these same ranges: the
     * validation layer (and a driver) may assume a shader touches all of them. */
    mg_gpu_range buffers[MG_GPU_MAX_BINDINGS];
    bool writes[MG_GPU_MAX_BINDINGS];          /* the shader writes this binding */
    uint32_t buffer_count;
    uint8_t push[MG_GPU_MAX_PUSH];
    uint32_t push_size;
    uint32_t groups[3];
} mg_gpu_dispatch;

mg_status mg_gpu_record_dispatch(mg_gpu *gpu, const mg_gpu_dispatch *dispatch);
/* Submits what is recorded without waiting. */
mg_status mg_gpu_flush(mg_gpu *gpu);
/* Submits what is recorded and waits until the device is done with everything. */
mg_status mg_gpu_finish(mg_gpu *gpu);

/* ---- recordings: work captured once, replayed many times ----
 *
 * Between mg_gpu_capture_begin and mg_gpu_capture_end, dispatches, copies and
 * fills go into a recording of its own (its own command buffer and descriptor
 * sets, barriers from the same hazard tracking) instead of the stream; nothing
 * runs. Transfers, flushes and finishes are refused while capturing (a
 * recording cannot contain host work). Memory freed while capturing is held
 * by the recording until it is freed: the temporaries of the captured work
 * stay where the recorded descriptors point. Memory allocated before the
 * capture and bound by it (weights, caches, inputs, outputs) must outlive the
 * recording: that is the caller's job.
 *
 * mg_gpu_replay submits the recording after what the stream holds, without
 * waiting; transfers and mg_gpu_finish wait for replays as for batches, so
 * the host may write a recording's inputs and read its outputs with
 * mg_gpu_write / mg_gpu_read around replays. A replay waits for the previous
 * replay of the same recording to finish.
 *
 * A recording belongs to the mg_gpu it was captured on; mg_gpu_destroy
 * releases its device objects, after which mg_gpu_recording_free only frees
 * the host struct (so a model freed after its context is destroyed is safe). */
typedef struct mg_gpu_recording mg_gpu_recording;

mg_status mg_gpu_capture_begin(mg_gpu *gpu);
/* Ends the capture; *out owns the recording. */
mg_status mg_gpu_capture_end(mg_gpu *gpu, mg_gpu_recording **out);
/* Ends a capture that failed half-way, releasing what it recorded (no-op when not capturing). */
void mg_gpu_capture_abort(mg_gpu *gpu);
bool mg_gpu_capturing(const mg_gpu *gpu);
mg_status mg_gpu_replay(mg_gpu *gpu, mg_gpu_recording *recording);
/* Waits for the recording's replays, releases it and the memory it holds. NULL ok. */
void mg_gpu_recording_free(mg_gpu_recording *recording);

#endif
