/*
 * The MeshTransformer's configuration: meshgpt-pytorch 1.7.2 constructor
 * arguments (names and defaults as upstream) plus the x-transformers settings
 * in effect (attn_kwargs) and the norm convention of the checkpoint.
 */
#ifndef MG_MODEL_TF_CONFIG_H
#define MG_MODEL_TF_CONFIG_H

#include "core/diag.h"
#include "model/ae_config.h"

#include <stdbool.h>

typedef struct mg_tf_config {
    int dim;                        /* coarse width (512) */
    int dim_fine;                   /* fine width (= dim unless dim is a pair): the fine decoder and logits;
                                       the fine gateloops stay at dim, as upstream builds them */
    int max_seq_len;                /* 8192 */
    int attn_depth;                 /* 12 */
    int attn_dim_head;              /* 64 */
    int attn_heads;                 /* 16: the fine decoder uses these too (upstream ignores fine_attn_*) */
    int attn_num_mem_kv;            /* 4 */
    int cross_attn_num_mem_kv;      /* 4 */
    bool ff_glu;                    /* true */
    bool add_value_residual;        /* true (meshgpt >= 1.7.1) */
    bool learned_value_residual_mix;/* true */
    int coarse_pre_gateloop_depth;  /* 2 */
    int coarse_post_gateloop_depth; /* 0 (its output is never used upstream) */
    int fine_pre_gateloop_depth;    /* 2 */
    int fine_attn_depth;            /* 2 */
    bool condition_on_text;         /* false */
    bool text_cond_with_film;       /* false */
    bool fine_cross_attend_text;    /* false */
    bool coarse_adaptive_rmsnorm;   /* false: true makes every norm of the coarse decoder an x-transformers
                                       AdaptiveRMSNorm conditioned on the pooled text (needs text) */
    int num_sos_tokens;             /* 1, or 4 with text */
    int dim_text;                   /* 768 for t5 / bge, 512 for clip */
    float text_embed_pad_value;     /* -1 */
    float cond_drop_prob;           /* 0.25 (training only) */
    float norm_gain_offset;         /* 1: x-transformers >= 1.31.3 stores gamma with a +1 offset */
    /* derived from the autoencoder */
    int codebook_size;
    int num_quantizers;
    int face_size;
} mg_tf_config;

/* Parses meshgpt-pytorch MeshTransformer kwargs (JSON object text); unknown keys are logged and ignored. */
mg_status mg_tf_config_parse(const char *kwargs_json, const mg_ae_config *autoencoder, mg_tf_config *out,
                             mg_diag *diag);

/* Tokens per face: face_size * num_quantizers. */
int mg_tf_config_tokens_per_face(const mg_tf_config *config);

#endif
