/* Tile sizes of the tiled 1-D convolution shaders (conv1d.comp, and grad_conv1d_dx.comp, which is the same
 * product with the roles of the channels swapped). */
#ifndef MG_OPS_CONV_TILES_H
#define MG_OPS_CONV_TILES_H

#include "ops/op_common.h"

typedef struct mg_conv_tiles {
    uint32_t bm, bn, bk, tm, tn;
} mg_conv_tiles;

/* Shared memory a tile uses. */
uint32_t mg_conv_tiles_shared_bytes(const mg_conv_tiles *c, size_t kernel);

/* The best tiles for `batch` sequences of `n` rows, `out_channels` outputs and `reduction_channels` summed
 * channels per tap; `op` names the op in the message when nothing fits the device's shared memory. */
mg_status mg_conv_choose_tiles(mg_context *ctx, size_t batch, size_t n, size_t out_channels,
                               size_t reduction_channels, size_t kernel, const char *op, mg_conv_tiles *out);

#endif
