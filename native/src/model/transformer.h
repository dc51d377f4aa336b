/*
 * The MeshTransformer of meshgpt-pytorch 1.7.2: a coarse decoder over face
 * tokens and a fine decoder over the tokens of each face, conditioned on text
 * through cross-attention. Built from ops only (Vulkan or CPU reference).
 */
#ifndef MG_MODEL_TRANSFORMER_H
#define MG_MODEL_TRANSFORMER_H

#include "model/scratch.h"
#include "model/tf_config.h"
#include "model/weights.h"

typedef struct mg_transformer {
    mg_context *ctx;
    mg_tf_config config;
    const mg_weights *weights; /* not owned */
} mg_transformer;

mg_status mg_transformer_init(mg_transformer *tf, mg_context *ctx, const mg_tf_config *config,
                              const mg_weights *weights);

/* Text conditioning of one batch: precomputed token embeddings, as meshgpt-pytorch's `text_embeds`
 * (the conditioner's output, dim_text wide). */
typedef struct mg_tf_text {
    const float *embeds;   /* [batch, tokens, dim_text]; rows equal to the pad value everywhere are masked */
    size_t tokens;
    bool drop;             /* true: every text token masked (the unconditional pass of guidance) */
} mg_tf_text;

/*
 * Teacher-forced logits (meshgpt-pytorch forward_on_codes with append_eos
 * False): codes [batch, length] (-1 = pad), logits [batch, length + 1,
 * codebook_size + 1]; row i predicts token i, the last row what follows.
 * text may be NULL for unconditional models.
 */
mg_status mg_tf_logits(const mg_transformer *tf, const int32_t *codes, size_t batch, size_t length,
                       const mg_tf_text *text, float *logits);

/* The mean cross-entropy meshgpt-pytorch's forward_on_codes(return_loss=True) computes: EOS appended after
 * each sequence (and read as input there), pads ignored. */
mg_status mg_tf_loss(const mg_transformer *tf, const int32_t *codes, size_t batch, size_t length,
                     const mg_tf_text *text, double *loss);

#endif
