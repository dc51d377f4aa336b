/* mg_recording: a gpu recording plus a reference to its context (ops/recording.h). */
#include "ops/recording.h"

#include <stdlib.h>
#include <string.h>

struct mg_recording {
    mg_context *ctx;
    mg_gpu_recording *gpu;
};

bool mg_recording_available(mg_context *ctx)
{
    if (!ctx || atomic_load(&ctx->destroyed) || !ctx->gpu)
        return false;
    const char *replay = getenv("MESHGPT_REPLAY");
    return !(replay && strcmp(replay, "0") == 0);
}

static mg_status need_gpu(mg_context *ctx, const char *what)
{
    mg_status status = mg_context_check(ctx, what);
    if (status == MG_OK && !ctx->gpu)
        status = mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED, "%s: recordings need a Vulkan context", what);
    return status;
}

mg_status mg_recording_begin(mg_context *ctx)
{
    mg_status status = need_gpu(ctx, "mg_recording_begin");
    return status == MG_OK ? mg_gpu_capture_begin(ctx->gpu) : status;
}

void mg_recording_abort(mg_context *ctx)
{
    if (ctx && !atomic_load(&ctx->destroyed) && ctx->gpu)
        mg_gpu_capture_abort(ctx->gpu);
}

mg_status mg_recording_end(mg_context *ctx, mg_recording **out)
{
    *out = NULL;
    mg_status status = need_gpu(ctx, "mg_recording_end");
    if (status != MG_OK)
        return status;
    mg_recording *r = calloc(1, sizeof *r);
    if (!r) {
        mg_gpu_capture_abort(ctx->gpu);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for a recording");
    }
    if ((status = mg_gpu_capture_end(ctx->gpu, &r->gpu)) != MG_OK) {
        free(r);
        return status;
    }
    mg_context_retain(ctx);
    r->ctx = ctx;
    *out = r;
    return MG_OK;
}

mg_status mg_recording_replay(mg_recording *r)
{
    if (!r)
        return MG_ERR_INVALID_ARGUMENT;
    mg_status status = mg_context_check(r->ctx, "mg_recording_replay");
    return status == MG_OK ? mg_gpu_replay(r->ctx->gpu, r->gpu) : status;
}

void mg_recording_free(mg_recording *r)
{
    if (!r)
        return;
    /* After mg_context_destroy the gpu layer has already released the device objects. */
    mg_gpu_recording_free(r->gpu);
    mg_context_release(r->ctx);
    free(r);
}
