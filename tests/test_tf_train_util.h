/* Helpers of the transformer-trainable tests (test_tf_train*.c): a tiny random transformer over the fixture's
 * autoencoder, a small batch of token sequences with text, and one training pass over it. */
#ifndef MG_TEST_TF_TRAIN_UTIL_H
#define MG_TEST_TF_TRAIN_UTIL_H

#include "test_npy.h"
#include "test_util.h"
#include "train/tf_train.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* Two coarse and two fine layers (so value residual mixes are learned), gateloops, memories, 2 sos tokens;
 * with text: CLIP-width (512) cross-attention in both decoders. */
#define TINY_TRANSFORMER_JSON(text)                                                                               \
    ((text) ? "{\"dim\": 16, \"max_seq_len\": 120, \"attn_depth\": 2, \"attn_dim_head\": 8, \"attn_heads\": 2, "  \
              "\"fine_attn_depth\": 2, \"coarse_pre_gateloop_depth\": 1, \"fine_pre_gateloop_depth\": 1, "         \
              "\"num_sos_tokens\": 2, \"cross_attn_num_mem_kv\": 2, \"attn_kwargs\": {\"attn_num_mem_kv\": 2, \"ff_glu\": true, \"add_value_residual\": true, \"learned_value_residual_mix\": true}, "    \
              "\"condition_on_text\": true, \"text_condition_model_types\": [\"clip\"], "                          \
              "\"fine_cross_attend_text\": true, \"text_condition_cond_drop_prob\": 0.5}"                          \
            : "{\"dim\": 16, \"max_seq_len\": 120, \"attn_depth\": 2, \"attn_dim_head\": 8, \"attn_heads\": 2, "  \
              "\"fine_attn_depth\": 2, \"coarse_pre_gateloop_depth\": 1, \"fine_pre_gateloop_depth\": 1, "         \
              "\"num_sos_tokens\": 2, \"attn_kwargs\": {\"attn_num_mem_kv\": 2, \"ff_glu\": true, \"add_value_residual\": true, \"learned_value_residual_mix\": true}}")

#define TINY_WIDTH_TEXT 512
#define TINY_BATCH 2
#define TINY_LENGTH 18
#define TINY_TOKENS 3

typedef struct tiny_text_encoder {
    size_t layers;
} tiny_text_encoder;

static const char *const tiny_captions[TINY_BATCH] = {"A red chair", "small table, round"};

/* A new tiny transformer (and, with `encoder`, a new built-in text encoder made from the captions). */
static inline mg_trainable *tiny_trainable(mg_context *ctx, const char *json, const tiny_text_encoder *encoder,
                                           uint64_t seed)
{
    mg_tf_train_params params = mg_tf_train_default_params();
    params.model_path = test_fixture_path("meshgpt-pytorch-a/model.safetensors");
    params.transformer_json = json;
    params.init_seed = seed;
    mg_bert_config config;
    char *vocab = NULL;
    if (encoder) {
        cr_assert_eq(mg_tf_text_encoder_from_captions(tiny_captions, TINY_BATCH, TINY_WIDTH_TEXT, encoder->layers,
                                                      &config, &vocab, &ctx->diag),
                     MG_OK);
        params.new_text_encoder = &config;
        params.new_text_vocab = vocab;
    }
    mg_trainable *tr = NULL;
    cr_assert_eq(mg_tf_trainable_create(ctx, &params, &tr), MG_OK, "%s", mg_context_last_error(ctx));
    free(vocab);
    return tr;
}

typedef struct tiny_batch {
    int32_t codes[TINY_BATCH * TINY_LENGTH];
    float *embeds; /* [TINY_BATCH, TINY_TOKENS, TINY_WIDTH_TEXT] or NULL */
} tiny_batch;

/* Random codes, the second sequence two faces long (padded), and random text with one pad token. */
static inline tiny_batch tiny_batch_make(bool with_embeds, uint32_t seed)
{
    tiny_batch b;
    float u[TINY_BATCH * TINY_LENGTH];
    test_fill_uniform(u, TINY_BATCH * TINY_LENGTH, seed, 0.0f, 256.0f);
    for (size_t i = 0; i < TINY_BATCH * TINY_LENGTH; i++)
        b.codes[i] = (int32_t)u[i];
    for (size_t i = 12; i < TINY_LENGTH; i++)
        b.codes[TINY_LENGTH + i] = -1;
    b.embeds = NULL;
    if (with_embeds) {
        const size_t n = TINY_BATCH * TINY_TOKENS * TINY_WIDTH_TEXT;
        b.embeds = malloc(n * sizeof *b.embeds);
        test_fill_uniform(b.embeds, n, seed + 1, -1.0f, 1.0f);
        for (size_t i = 0; i < TINY_WIDTH_TEXT; i++) /* second row's last token: padding */
            b.embeds[(TINY_TOKENS + 2) * TINY_WIDTH_TEXT + i] = -1.0f;
    }
    return b;
}

static inline void tiny_batch_free(tiny_batch *b)
{
    free(b->embeds);
    b->embeds = NULL;
}

static inline mg_status tiny_step(mg_trainable *tr, const tiny_batch *b, bool captions, bool backward, double *loss)
{
    mg_tf_train_text text = {.embeds = b->embeds, .tokens = b->embeds ? TINY_TOKENS : 0,
                             .captions = captions ? tiny_captions : NULL};
    return mg_tf_trainable_codes_step(tr, b->codes, TINY_BATCH, TINY_LENGTH, b->embeds || captions ? &text : NULL,
                                      backward, 1.0f, loss);
}

/* Compares every non-zero gradient of b (Vulkan) with a's (CPU reference), parameter by parameter, at relative
 * tolerance `tolerance`. Returns how many were compared; *matching (when not NULL) counts those whose name
 * contains `name_part`. */
static inline size_t compare_nonzero_grads(mg_trainable *a, mg_trainable *b, double tolerance, const char *name_part,
                                           size_t *matching)
{
    size_t compared = 0;
    if (matching)
        *matching = 0;
    for (size_t i = 0; i < a->count; i++) {
        if (!a->grads[i])
            continue;
        cr_assert(b->grads[i] && strcmp(a->params[i].name, b->params[i].name) == 0);
        float *ga = test_read(a->grads[i]), *gb = test_read(b->grads[i]);
        double norm = 0.0;
        for (size_t k = 0; k < a->grads[i]->count; k++)
            norm += (double)ga[k] * ga[k];
        if (norm > 0.0) {
            test_compare(a->params[i].name, gb, ga, a->grads[i]->count, tolerance);
            compared++;
            if (matching && name_part && strstr(a->params[i].name, name_part))
                ++*matching;
        }
        free(ga);
        free(gb);
    }
    return compared;
}

#endif
