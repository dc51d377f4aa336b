/* mg_conv_choose_tiles: see conv_tiles.h. */
#include "ops/conv_tiles.h"

uint32_t mg_conv_tiles_shared_bytes(const mg_conv_tiles *c, size_t kernel)
{
    return (uint32_t)((c->bk * (c->bm + kernel - 1) + c->bk * kernel * c->bn) * 4);
}

mg_status mg_conv_choose_tiles(mg_context *ctx, size_t batch, size_t n, size_t out_channels,
                               size_t reduction_channels, size_t kernel, const char *op, mg_conv_tiles *out)
{
    const mg_gpu_limits *limits = mg_gpu_get_limits(ctx->gpu);
    uint32_t max_wg = mg_workgroup_size(ctx, 1024);
    /* Candidates, best first (as matmul):
     *  - GPUs: 64 x 64 tiles of 4 x 4 per invocation (256 invocations) when the
     *    output gives enough of them to fill a large device, otherwise 32 x 32
     *    tiles (64 invocations): a decoder conv of one mesh is only ~800 x 384.
     *  - CPU devices (lavapipe): shared-memory reads are loops over the SIMD
     *    lanes, so 8 x 8 outputs per invocation (64 invocations). */
    static const mg_conv_tiles gpu_big[] = {{64, 64, 0, 4, 4}, {32, 32, 0, 4, 4}};
    static const mg_conv_tiles gpu_small[] = {{32, 32, 0, 4, 4}};
    static const mg_conv_tiles cpu_list[] = {{64, 64, 0, 8, 8}, {32, 32, 0, 4, 4}};
    const mg_conv_tiles *list;
    size_t count;
    if (mg_device_is_cpu(ctx)) {
        list = cpu_list;
        count = sizeof cpu_list / sizeof cpu_list[0];
    } else if (batch * ((n + 63) / 64) * ((out_channels + 63) / 64) >= 256) {
        list = gpu_big;
        count = sizeof gpu_big / sizeof gpu_big[0];
    } else {
        list = gpu_small;
        count = sizeof gpu_small / sizeof gpu_small[0];
    }
    for (size_t i = 0; i < count; i++) {
        mg_conv_tiles c = list[i];
        if ((c.bm / c.tm) * (c.bn / c.tn) > max_wg)
            continue;
        /* About 32 multiply-adds of the reduction per step (BK channels times K taps), fewer channels where
         * shared memory is short. */
        c.bk = kernel >= 32 ? 1u : (uint32_t)(32 / kernel);
        if (c.bk > reduction_channels)
            c.bk = (uint32_t)reduction_channels;
        while (c.bk > 1 && mg_conv_tiles_shared_bytes(&c, kernel) > limits->max_shared_memory_bytes)
            c.bk--;
        if (mg_conv_tiles_shared_bytes(&c, kernel) <= limits->max_shared_memory_bytes) {
            *out = c;
            return MG_OK;
        }
    }
    return mg_fail(&ctx->diag, MG_ERR_UNSUPPORTED,
                   "%s: a kernel of %zu taps needs more shared memory than this device has (%u bytes)", op, kernel,
                   limits->max_shared_memory_bytes);
}
