/* Public context API: creation with device choice, destruction, errors, stats. */
#include "core/context.h"

#include "core/device_select.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_context_params mg_context_default_params(void)
{
    mg_context_params params;
    memset(&params, 0, sizeof params);
    params.log_level = MG_LOG_WARN;
    return params;
}

static bool env_flag(const char *name)
{
    const char *value = getenv(name);
    return value && *value && strcmp(value, "0") != 0 && strcmp(value, "false") != 0;
}

mg_status mg_context_create(const mg_context_params *params, mg_context **out_context, char *error,
                            size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    if (!out_context) {
        mg_format(error, error_size, "mg_context_create: out_context is NULL");
        return MG_ERR_INVALID_ARGUMENT;
    }
    *out_context = NULL;
    mg_context_params defaults = mg_context_default_params();
    if (!params)
        params = &defaults;

    mg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        mg_format(error, error_size, "out of host memory");
        return MG_ERR_OUT_OF_MEMORY;
    }
    atomic_init(&ctx->references, 1);
    atomic_init(&ctx->destroyed, false);
    mg_diag_init(&ctx->diag, params->log_callback, params->log_user_data, params->log_level);
    ctx->memory_limit = params->device_memory_limit;

    const char *spec = params->device;
    const char *env_device = getenv("MESHGPT_DEVICE");
    if (mg_device_spec_is_auto(spec) && env_device && *env_device)
        spec = env_device;

    mg_status status = MG_OK;
    if (mg_device_spec_is_cpu(spec)) {
        mg_cpu_reference_info(&ctx->device);
    } else {
        mg_gpu_options options = {
            .device = spec,
            .validation = params->enable_validation || env_flag("MESHGPT_VALIDATION"),
            .use_pipeline_cache = !params->disable_pipeline_cache,
            .pipeline_cache_dir = params->pipeline_cache_dir,
            .memory_limit = params->device_memory_limit,
        };
        status = mg_gpu_create(&options, &ctx->diag, &ctx->gpu);
        if (status == MG_OK) {
            ctx->device = *mg_gpu_device_info(ctx->gpu);
        } else if (status == MG_ERR_NO_DEVICE && mg_device_spec_is_auto(spec)) {
            /* Automatic choice and no Vulkan at all: the CPU reference still works. */
            mg_log(&ctx->diag, MG_LOG_WARN, "no Vulkan device (%s); running on the CPU reference backend",
                   ctx->diag.last_error);
            mg_cpu_reference_info(&ctx->device);
            ctx->diag.last_error[0] = '\0';
            status = MG_OK;
        }
    }
    if (status != MG_OK) {
        mg_diag_copy_error(&ctx->diag, error, error_size);
        mg_log(&ctx->diag, MG_LOG_ERROR, "%s", ctx->diag.last_error);
        mg_diag_destroy(&ctx->diag);
        free(ctx);
        return status;
    }
    *out_context = ctx;
    return MG_OK;
}

void mg_context_retain(mg_context *ctx)
{
    atomic_fetch_add(&ctx->references, 1);
}

void mg_context_release(mg_context *ctx)
{
    if (atomic_fetch_sub(&ctx->references, 1) == 1) {
        mg_diag_destroy(&ctx->diag);
        free(ctx);
    }
}

void mg_context_destroy(mg_context *ctx)
{
    if (!ctx || atomic_exchange(&ctx->destroyed, true))
        return;
    mg_gpu_destroy(ctx->gpu);
    ctx->gpu = NULL;
    mg_context_release(ctx);
}

mg_status mg_context_check(mg_context *ctx, const char *what)
{
    if (!ctx)
        return MG_ERR_INVALID_ARGUMENT;
    if (atomic_load(&ctx->destroyed))
        return mg_fail(&ctx->diag, MG_ERR_CONTEXT_DESTROYED,
                       "%s: the context was destroyed; create a new context and reload what it held", what);
    return MG_OK;
}

const char *mg_context_last_error(mg_context *ctx)
{
    return ctx ? ctx->diag.last_error : "mg_context_last_error: context is NULL";
}

mg_status mg_context_device_info(mg_context *ctx, mg_device_info *out_info)
{
    mg_status status = mg_context_check(ctx, "mg_context_device_info");
    if (status != MG_OK)
        return status;
    if (!out_info)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_context_device_info: out_info is NULL");
    *out_info = ctx->device;
    return MG_OK;
}

mg_status mg_context_get_stats(mg_context *ctx, mg_context_stats *out_stats)
{
    mg_status status = mg_context_check(ctx, "mg_context_get_stats");
    if (status != MG_OK)
        return status;
    if (!out_stats)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT, "mg_context_get_stats: out_stats is NULL");
    memset(out_stats, 0, sizeof *out_stats);
    if (ctx->gpu) {
        mg_gpu_get_stats(ctx->gpu, out_stats);
    } else {
        out_stats->device_bytes_allocated = ctx->host_bytes_in_use;
        out_stats->device_bytes_in_use = ctx->host_bytes_in_use;
        out_stats->device_bytes_peak = ctx->host_bytes_peak;
    }
    return MG_OK;
}
