/*
 * The mg_context object. A context owns one backend: a Vulkan device (gpu) or,
 * when gpu is NULL, the plain-C CPU reference. Objects created on a context
 * (tensors, later models) hold a reference, so the struct outlives
 * mg_context_destroy() until they are freed; the device itself is released at
 * destroy time and those objects then answer MG_ERR_CONTEXT_DESTROYED.
 */
#ifndef MG_CORE_CONTEXT_H
#define MG_CORE_CONTEXT_H

#include "core/diag.h"
#include "meshgpt.h"

#include <stdatomic.h>

struct mg_gpu;

struct mg_context {
    atomic_int references;
    atomic_bool destroyed;
    mg_diag diag;
    struct mg_gpu *gpu;           /* NULL: CPU reference backend */
    mg_device_info device;
    /* CPU-backend memory accounting (the GPU keeps its own) */
    uint64_t memory_limit;
    uint64_t host_bytes_in_use;
    uint64_t host_bytes_peak;
};

void mg_context_retain(mg_context *ctx);
void mg_context_release(mg_context *ctx);

/* MG_OK, or an error recorded on ctx when it is NULL or destroyed. */
mg_status mg_context_check(mg_context *ctx, const char *what);

#endif
