/* The decoder: (optional attention blocks) -> Conv1d(k=7) + SiLU + LayerNorm
 * -> ResNet blocks of Conv1d(k=3) + PixelNorm + SiLU with squeeze-excite ->
 * coordinate logits. Activations are channels-last [B, N, C]; pad faces are
 * zeroed before every convolution exactly where meshgpt-pytorch does. */
#include "model/autoencoder.h"

#include "model/ae_attention.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>

/* Block: mask -> Conv1d(k=3) -> mask -> PixelNorm -> SiLU (dropout is 0 in eval). */
static mg_status conv_block(const mg_autoencoder *ae, mg_scratch *scratch, const char *name, mg_tensor *x,
                            mg_tensor *mask, mg_tensor **out)
{
    mg_context *ctx = ae->ctx;
    mg_tensor *weight = mg_ae_weight(ae, "%s.proj.weight", name);
    if (!weight)
        return MG_ERR_INTERNAL;
    const int64_t channels = weight->shape[0];
    mg_tensor *y = mg_scratch_3d(scratch, MG_DTYPE_F32, x->shape[0], x->shape[1], channels);
    if (!y)
        return scratch->status;
    mg_status status = mg_op_conv1d(ctx, x, weight, mg_ae_weight(ae, "%s.proj.bias", name), mask, y);
    if (status == MG_OK)
        status = mg_op_mask_rows(ctx, y, mask, y);
    /* PixelNorm: F.normalize over channels (eps 1e-4) times sqrt(C). */
    if (status == MG_OK)
        status = mg_op_l2_normalize(ctx, y, NULL, 1e-4f, sqrtf((float)channels), 0.0f, y);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_SILU, y, y);
    *out = y;
    return status;
}

/* SqueezeExcite: gates from the masked mean over faces; the masked x is what is gated. */
static mg_status squeeze_excite(const mg_autoencoder *ae, mg_scratch *scratch, const char *name, mg_tensor *h,
                                mg_tensor *mask)
{
    mg_context *ctx = ae->ctx;
    mg_tensor *w0 = mg_ae_weight(ae, "%s.excite.net.0.weight", name);
    if (!w0)
        return MG_ERR_INTERNAL;
    const int64_t batch = h->shape[0], channels = h->shape[2], inner = w0->shape[0];
    mg_tensor *mean = mg_scratch_2d(scratch, MG_DTYPE_F32, batch, channels);
    mg_tensor *hidden = mg_scratch_2d(scratch, MG_DTYPE_F32, batch, inner);
    mg_tensor *gate = mg_scratch_2d(scratch, MG_DTYPE_F32, batch, channels);
    if (!mean || !hidden || !gate)
        return scratch->status;
    mg_status status = mg_op_mask_rows(ctx, h, mask, h);
    if (status == MG_OK)
        status = mg_op_masked_mean(ctx, h, mask, 1e-5f, mean);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, mean, w0, mg_ae_weight(ae, "%s.excite.net.0.bias", name), true, hidden);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_SILU, hidden, hidden);
    if (status == MG_OK)
        status = mg_op_matmul(ctx, hidden, mg_ae_weight(ae, "%s.excite.net.2.weight", name),
                              mg_ae_weight(ae, "%s.excite.net.2.bias", name), true, gate);
    if (status == MG_OK)
        status = mg_op_unary(ctx, MG_UNARY_SIGMOID, gate, gate);
    if (status == MG_OK)
        status = mg_op_scale_channels(ctx, h, gate, h);
    return status;
}

/* ResnetBlock: block2(block1(x)) gated by squeeze-excite, plus x (or a k=1 conv of x). */
static mg_status resnet_block(const mg_autoencoder *ae, mg_scratch *scratch, int index, mg_tensor *x,
                              mg_tensor *mask, mg_tensor **out)
{
    mg_context *ctx = ae->ctx;
    char name[32], block1[48], block2[48];
    snprintf(name, sizeof name, "decoders.%d", index);
    snprintf(block1, sizeof block1, "%s.block1", name);
    snprintf(block2, sizeof block2, "%s.block2", name);
    const int64_t in_channels = x->shape[2], out_channels = ae->config.decoder_dims[index + 1];
    mg_scratch local;
    mg_scratch_init(&local, ctx);
    mg_tensor *h1 = NULL, *h2 = NULL;
    mg_tensor *y = mg_scratch_3d(scratch, MG_DTYPE_F32, x->shape[0], x->shape[1], out_channels);
    mg_status status = y ? MG_OK : scratch->status;
    if (status == MG_OK)
        status = conv_block(ae, &local, block1, x, mask, &h1);
    if (status == MG_OK)
        status = conv_block(ae, &local, block2, h1, mask, &h2);
    if (status == MG_OK)
        status = squeeze_excite(ae, &local, name, h2, mask);
    if (status == MG_OK && in_channels != out_channels) {
        status = mg_op_conv1d(ctx, x, mg_ae_weight(ae, "%s.residual_conv.weight", name),
                              mg_ae_weight(ae, "%s.residual_conv.bias", name), NULL, y);
        if (status == MG_OK)
            status = mg_op_add(ctx, y, h2, y);
    } else if (status == MG_OK) {
        status = mg_op_add(ctx, h2, x, y);
    }
    mg_scratch_release(&local);
    *out = y;
    return status;
}

mg_status mg_ae_decode_faces(const mg_autoencoder *ae, mg_scratch *scratch, mg_tensor *quantized, mg_tensor *mask,
                             mg_tensor **logits, const mg_ae_probe *probe)
{
    mg_context *ctx = ae->ctx;
    const mg_ae_config *c = &ae->config;
    const int64_t batch = quantized->shape[0], faces = quantized->shape[1];
    mg_tensor *x = quantized;
    mg_status status = MG_OK;
    for (int i = 0; i < c->attn_decoder_depth && status == MG_OK; i++) {
        char prefix[MG_WEIGHT_NAME_MAX];
        snprintf(prefix, sizeof prefix, "%sdecoder_attn_blocks.%d.", ae->prefix, i);
        mg_tensor *y = mg_scratch_3d(scratch, MG_DTYPE_F32, batch, faces, x->shape[2]);
        if (!y)
            return scratch->status;
        status = mg_ae_attn_block_forward(ctx, ae->weights, prefix, c, x, mask, y);
        x = y;
    }
    if (status != MG_OK)
        return status;
    mg_tensor *h = mg_scratch_3d(scratch, MG_DTYPE_F32, batch, faces, c->decoder_dims[0]);
    if (!h)
        return scratch->status;
    if ((status = mg_op_conv1d(ctx, x, mg_ae_weight(ae, "init_decoder_conv.0.weight"),
                               mg_ae_weight(ae, "init_decoder_conv.0.bias"), mask, h)) != MG_OK ||
        (status = mg_op_unary(ctx, MG_UNARY_SILU, h, h)) != MG_OK ||
        (status = mg_op_layer_norm(ctx, h, mg_ae_weight(ae, "init_decoder_conv.3.weight"),
                                   mg_ae_weight(ae, "init_decoder_conv.3.bias"), 1e-5f, 0.0f, h)) != MG_OK)
        return status;
    if (probe)
        probe->fn(probe->user, "init_decoder_conv_out", h);
    for (int i = 0; i + 1 < c->decoder_depth; i++) {
        mg_tensor *next = NULL;
        if ((status = resnet_block(ae, scratch, i, h, mask, &next)) != MG_OK)
            return status;
        mg_scratch_drop(scratch, h);
        h = next;
    }
    /* decode_from_codes_to_faces zeroes pad faces before the logits. */
    if ((status = mg_op_mask_rows(ctx, h, mask, h)) != MG_OK)
        return status;
    if (probe)
        probe->fn(probe->user, "decoded", h);
    const int64_t outputs = (int64_t)mg_ae_config_face_size(c) * 3 * c->num_discrete_coors;
    *logits = mg_scratch_3d(scratch, MG_DTYPE_F32, batch, faces, outputs);
    if (!*logits)
        return scratch->status;
    status = mg_op_matmul(ctx, h, mg_ae_weight(ae, "to_coor_logits.0.weight"), mg_ae_weight(ae, "to_coor_logits.0.bias"),
                          true, *logits);
    if (status == MG_OK && probe)
        probe->fn(probe->user, "coor_logits", *logits);
    return status;
}
