/*
 * The MeshAutoencoder's configuration: meshgpt-pytorch's constructor arguments
 * (names as upstream, defaults of version 1.7.2) plus this project's
 * preprocessing convention, which upstream leaves to the user.
 */
#ifndef MG_MODEL_AE_CONFIG_H
#define MG_MODEL_AE_CONFIG_H

#include "core/diag.h"

#include <stdbool.h>
#include <stddef.h>

#define MG_AE_MAX_DEPTH 64     /* entries of encoder/decoder_dims_through_depth */
#define MG_AE_MAX_QUANTIZERS 8

typedef enum mg_vertex_order {
    MG_ORDER_NONE = 0,  /* keep the order of the file */
    MG_ORDER_ZYX = 1,   /* paper: sort by z, then y, then x (z up) */
    MG_ORDER_YZX = 2    /* MeshGPT-preview community checkpoints: y, then z, then x */
} mg_vertex_order;

typedef enum mg_face_rotation {
    MG_FACE_ROTATE_CYCLIC = 0, /* paper: rotate each face so its lowest index comes first (keeps winding) */
    MG_FACE_SORT_INDICES = 1   /* community: sort each face's indices ascending (may flip winding) */
} mg_face_rotation;

typedef struct mg_preprocess_config {
    bool normalize;            /* centre the bounding box, scale the longest side to the range */
    float normalize_scale;     /* fraction of the coordinate range the longest side fills (0.95) */
    bool merge_vertices;       /* vertices in the same discrete cell become one */
    bool drop_degenerate;      /* faces that repeat a vertex, and duplicate faces, are dropped */
    mg_vertex_order order;
    mg_face_rotation rotation;
    bool sort_faces;           /* faces sorted by their lowest index, then the next ... */
} mg_preprocess_config;

typedef struct mg_ae_config {
    int num_discrete_coors;            /* 128 */
    float coor_range[2];               /* (-1, 1) */
    int dim_coor_embed;                /* 64 */
    int num_discrete_area;             /* 128 */
    int dim_area_embed;                /* 16 */
    int num_discrete_normals;          /* 128 */
    int dim_normal_embed;              /* 64 */
    int num_discrete_angle;            /* 128 */
    int dim_angle_embed;               /* 16 */
    int encoder_dims[MG_AE_MAX_DEPTH]; /* encoder_dims_through_depth (64,128,256,256,576) */
    int encoder_depth;
    int init_decoder_conv_kernel;      /* 7 */
    int decoder_dims[MG_AE_MAX_DEPTH]; /* decoder_dims_through_depth */
    int decoder_depth;
    int dim_codebook;                  /* 192 */
    int num_quantizers;                /* 2 */
    int codebook_size;                 /* 16384 */
    bool use_residual_lfq;             /* true; false = ResidualVQ with a shared codebook */
    float lfq_soft_clamp;              /* rlfq_kwargs.soft_clamp_input_value (10) */
    int attn_encoder_depth;            /* 0 */
    int attn_decoder_depth;            /* 0 */
    int local_attn_dim_head;           /* 32 */
    int local_attn_heads;              /* 8 */
    int local_attn_window_size;        /* 64 */
    int linear_attn_dim_head;          /* 8 */
    int linear_attn_heads;             /* 16 */
    bool use_linear_attn;              /* true */
    float bin_smooth_blur_sigma;       /* 0.4 */
    float commit_loss_weight;          /* 0.1 */
    bool quads;                        /* false: 3 vertices per face, true: 4 */
    int max_faces;                     /* this project's limit on faces per mesh (not upstream) */
    mg_preprocess_config preprocess;
} mg_ae_config;

/* meshgpt-pytorch 1.7.2 defaults and the paper's preprocessing. */
void mg_ae_config_defaults(mg_ae_config *config);

/* Vertices per face (3 or 4). */
int mg_ae_config_face_size(const mg_ae_config *config);
/* log2(codebook_size) for LFQ (the width of each code), dim_codebook for VQ. */
int mg_ae_config_code_dim(const mg_ae_config *config);

#endif
