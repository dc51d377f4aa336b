#include "model/ae_config.h"

#include <string.h>

void mg_ae_config_defaults(mg_ae_config *config)
{
    /* meshgpt-pytorch 1.7.2, MeshAutoencoder.__init__ */
    static const int encoder[] = {64, 128, 256, 256, 576};
    static const int decoder[] = {128, 128, 128, 128, 192, 192, 192, 192, 256, 256, 256, 256, 256, 256, 384, 384, 384};
    memset(config, 0, sizeof *config);
    config->num_discrete_coors = 128;
    config->coor_range[0] = -1.0f;
    config->coor_range[1] = 1.0f;
    config->dim_coor_embed = 64;
    config->num_discrete_area = 128;
    config->dim_area_embed = 16;
    config->num_discrete_normals = 128;
    config->dim_normal_embed = 64;
    config->num_discrete_angle = 128;
    config->dim_angle_embed = 16;
    config->encoder_depth = (int)(sizeof encoder / sizeof encoder[0]);
    memcpy(config->encoder_dims, encoder, sizeof encoder);
    config->init_decoder_conv_kernel = 7;
    config->decoder_depth = (int)(sizeof decoder / sizeof decoder[0]);
    memcpy(config->decoder_dims, decoder, sizeof decoder);
    config->dim_codebook = 192;
    config->num_quantizers = 2;
    config->codebook_size = 16384;
    config->use_residual_lfq = true;
    config->lfq_soft_clamp = 10.0f;
    config->attn_encoder_depth = 0;
    config->attn_decoder_depth = 0;
    config->local_attn_dim_head = 32;
    config->local_attn_heads = 8;
    config->local_attn_window_size = 64;
    config->linear_attn_dim_head = 8;
    config->linear_attn_heads = 16;
    config->use_linear_attn = true;
    config->bin_smooth_blur_sigma = 0.4f;
    config->commit_loss_weight = 0.1f;
    config->quads = false;
    /* this project: the paper's preprocessing and its face limit */
    config->max_faces = 800;
    config->preprocess.normalize = true;
    config->preprocess.normalize_scale = 0.95f;
    config->preprocess.merge_vertices = true;
    config->preprocess.drop_degenerate = true;
    config->preprocess.order = MG_ORDER_ZYX;
    config->preprocess.rotation = MG_FACE_ROTATE_CYCLIC;
    config->preprocess.sort_faces = true;
}

int mg_ae_config_face_size(const mg_ae_config *config)
{
    return config->quads ? 4 : 3;
}

int mg_ae_config_code_dim(const mg_ae_config *config)
{
    if (!config->use_residual_lfq)
        return config->dim_codebook;
    int bits = 0;
    while (bits < 31 && (1 << bits) < config->codebook_size)
        bits++;
    return bits;
}
