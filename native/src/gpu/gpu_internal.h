/* The mg_gpu object, shared by the files of native/src/gpu only. */
#ifndef MG_GPU_INTERNAL_H
#define MG_GPU_INTERNAL_H

#include "gpu/gpu.h"
#include "gpu/vk_loader.h"

#include <stdatomic.h>

/* Check a VkResult; on failure record an error naming the call and return. */
#define MG_VK_TRY(gpu, call)                                                            \
    do {                                                                                \
        VkResult mg_vk_result_ = (call);                                                \
        if (mg_vk_result_ != VK_SUCCESS)                                                \
            return mg_gpu_fail_vk((gpu), mg_vk_result_, #call);                         \
    } while (0)

typedef struct mg_free_range {
    uint64_t offset;
    uint64_t size;
} mg_free_range;

struct mg_gpu_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    uint64_t size;
    void *mapped;              /* non-NULL when the memory is host visible */
    mg_free_range *free_ranges; /* sorted by offset, never adjacent (coalesced) */
    size_t free_count;
    size_t free_capacity;
    uint64_t used;
};

/* Everything the validation layer's messenger callback needs. */
typedef struct mg_gpu_messenger_state {
    mg_diag *diag;
    atomic_uint_fast64_t messages;
} mg_gpu_messenger_state;

typedef struct mg_gpu_instance {
    mg_vk_functions vk;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    mg_gpu_messenger_state *messenger_state; /* heap: its address is given to the driver */
    uint32_t api_version;
} mg_gpu_instance;

typedef struct mg_gpu_pipeline {
    mg_shader_id shader;
    uint32_t spec[MG_GPU_MAX_SPEC];
    uint32_t spec_count;
    VkPipeline pipeline;
} mg_gpu_pipeline;

/* A byte interval of one VkBuffer touched since the last barrier. */
typedef struct mg_hazard_range {
    VkBuffer buffer;
    uint64_t begin;
    uint64_t end;
} mg_hazard_range;

typedef struct mg_hazard_list {
    mg_hazard_range *items;
    size_t count;
    size_t capacity;
} mg_hazard_list;

#define MG_STREAM_SLOTS 3

/* One command buffer with the descriptor pools its dispatches allocate from. */
typedef struct mg_stream_slot {
    VkCommandPool command_pool;
    VkCommandBuffer command_buffer;
    VkFence fence;
    VkDescriptorPool *descriptor_pools;
    size_t descriptor_pool_count;
    size_t descriptor_pool_current;
    uint32_t sets_in_current_pool;
    bool recording;
    bool in_flight;
    uint32_t commands;
} mg_stream_slot;

/* A recording: a slot of its own that is never reset, plus the memory freed
 * while it was captured (gpu.h). Linked into gpu->recordings while the device
 * lives. */
struct mg_gpu_recording {
    mg_gpu *gpu;               /* NULL once the device is destroyed */
    mg_gpu_recording *prev, *next;
    mg_stream_slot slot;
    mg_gpu_alloc *held;
    size_t held_count, held_capacity;
    uint64_t dispatches, barriers; /* per replay, for the statistics */
};

typedef struct mg_stream {
    mg_stream_slot slots[MG_STREAM_SLOTS];
    uint32_t current;
    uint32_t batch_limit;      /* submit after this many commands */
    mg_hazard_list reads;      /* since the last barrier */
    mg_hazard_list writes;
} mg_stream;

struct mg_gpu {
    mg_diag *diag;
    mg_gpu_instance inst;
    mg_vk_functions *vk;       /* = &inst.vk */

    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    mg_device_info info;
    mg_gpu_limits limits;
    VkPhysicalDeviceProperties properties;
    VkPhysicalDeviceMemoryProperties memory_properties;

    /* memory */
    uint32_t tensor_memory_type;
    bool tensor_memory_mapped;
    uint32_t staging_memory_type;
    mg_gpu_block **blocks;
    size_t block_count;
    size_t block_capacity;
    uint64_t block_size;       /* default size of a new arena block */
    uint64_t memory_limit;
    uint64_t bytes_allocated;
    uint64_t bytes_in_use;
    uint64_t bytes_peak;
    mg_gpu_block *staging;     /* host-visible bounce buffer (NULL when tensors are mapped) */
    mg_gpu_alloc dummy;        /* bound to unused bindings */

    /* pipelines */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    char pipeline_cache_path[1024]; /* "" when the disk cache is off */
    VkShaderModule modules[MG_SHADER_COUNT];
    mg_gpu_pipeline *pipelines;
    size_t pipeline_count;
    size_t pipeline_capacity;

    mg_stream stream;
    mg_gpu_recording *capture;    /* the recording being captured, or NULL */
    mg_gpu_recording *recordings; /* every live recording (capture included) */

    /* statistics */
    uint64_t dispatches;
    uint64_t barriers;
    uint64_t submits;
    uint64_t pipelines_created;
};

mg_status mg_gpu_fail_vk(mg_gpu *gpu, VkResult result, const char *what);

/* vk_instance.c */
mg_status mg_gpu_instance_create(mg_gpu_instance *inst, bool validation, mg_diag *diag);
void mg_gpu_instance_destroy(mg_gpu_instance *inst);

/* vk_device_info.c */
/* The queue family to compute on: a compute-only one when there is one (it runs
 * beside graphics work such as Blender's viewport), else any with compute;
 * UINT32_MAX when the device has none. */
uint32_t mg_gpu_compute_queue_family(const mg_vk_functions *vk, VkPhysicalDevice physical);
void mg_gpu_describe_device(const mg_vk_functions *vk, VkPhysicalDevice physical, int index,
                            mg_device_info *info);

/* vk_memory.c */
mg_status mg_gpu_memory_init(mg_gpu *gpu);
void mg_gpu_memory_release(mg_gpu *gpu);
/* A host-visible block for transfers, outside the arenas and the memory limit. */
mg_status mg_gpu_create_staging_block(mg_gpu *gpu, uint64_t size, mg_gpu_block **out);

/* vk_pipeline.c */
mg_status mg_gpu_pipelines_init(mg_gpu *gpu);
void mg_gpu_pipelines_release(mg_gpu *gpu);
mg_status mg_gpu_get_pipeline(mg_gpu *gpu, const mg_gpu_dispatch *dispatch, VkPipeline *out);

/* vk_pipeline_cache.c */
void mg_gpu_pipeline_cache_path(const mg_gpu *gpu, const char *dir, char *path, size_t path_size);
/* Creates gpu->pipeline_cache, seeded from the file when it is valid. */
mg_status mg_gpu_pipeline_cache_open(mg_gpu *gpu);
void mg_gpu_pipeline_cache_save(mg_gpu *gpu);

/* vk_stream.c */
mg_status mg_gpu_stream_init(mg_gpu *gpu);
void mg_gpu_stream_release(mg_gpu *gpu);
/* The command buffer to record into, begun if needed. */
mg_status mg_gpu_stream_begin(mg_gpu *gpu, VkCommandBuffer *out);
/* Registers the ranges a command touches; records a barrier first if needed. */
mg_status mg_gpu_stream_track(mg_gpu *gpu, VkCommandBuffer cmd, const mg_gpu_range *ranges,
                              const bool *writes, uint32_t count);
/* Counts a recorded command and submits when the batch is full. */
mg_status mg_gpu_stream_commit(mg_gpu *gpu);
mg_status mg_gpu_stream_allocate_set(mg_gpu *gpu, VkDescriptorSet *out);
/* Waits for every submitted batch and replay, submitting nothing. */
mg_status mg_gpu_stream_wait_submitted(mg_gpu *gpu);

/* vk_recording.c */
/* Releases the device objects of every recording (device destruction); they stay as host structs. */
void mg_gpu_recordings_release(mg_gpu *gpu);
/* While capturing, keeps `alloc` for the recording and returns true (mg_gpu_free_memory). */
bool mg_gpu_capture_hold(mg_gpu *gpu, const mg_gpu_alloc *alloc);
/* mg_gpu_free_memory without the capture's hold. */
void mg_gpu_release_memory(mg_gpu *gpu, mg_gpu_alloc *alloc);

/* vk_stream.c, shared with vk_recording.c */
mg_status mg_gpu_slot_create(mg_gpu *gpu, mg_stream_slot *slot, bool transient);
void mg_gpu_slot_destroy(mg_gpu *gpu, mg_stream_slot *slot);
mg_status mg_gpu_slot_wait(mg_gpu *gpu, mg_stream_slot *slot);
/* The full barrier that starts a batch or recording, and the host-read barrier that ends one. */
void mg_gpu_record_start_barrier(mg_gpu *gpu, VkCommandBuffer cmd);
void mg_gpu_record_host_barrier(mg_gpu *gpu, VkCommandBuffer cmd);
void mg_gpu_stream_reset_hazards(mg_gpu *gpu);

#endif
