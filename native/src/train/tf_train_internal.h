/*
 * The transformer trainable's insides, shared by tf_train.c (the mg_trainable
 * glue: parameters, batches, text, saving), tf_backward.c (the forward pass
 * that keeps its activations and the backward pass through every layer),
 * tf_train_text.c (text conditions, the built-in BERT encoder's forward and
 * backward) and tf_train_init.c (upstream's initialisation).
 */
#ifndef MG_TRAIN_TF_TRAIN_INTERNAL_H
#define MG_TRAIN_TF_TRAIN_INTERNAL_H

#include "api/text_encoder.h"
#include "model/autoencoder.h"
#include "model/transformer.h"
#include "train/tf_train.h"

/* ---- a growable list of temporary tensors, freed together (a pass keeps more than a scratch holds) ---- */

typedef struct tft_arena {
    mg_context *ctx;
    mg_tensor **items;
    size_t count, capacity;
    mg_status status;    /* of the first failure */
} tft_arena;

void tft_arena_init(tft_arena *arena, mg_context *ctx);
mg_tensor *tft_tensor(tft_arena *arena, int ndim, const int64_t *shape);   /* f32 */
mg_tensor *tft_2d(tft_arena *arena, int64_t d0, int64_t d1);
mg_tensor *tft_3d(tft_arena *arena, int64_t d0, int64_t d1, int64_t d2);
mg_tensor *tft_zeros_like(tft_arena *arena, const mg_tensor *like);
mg_tensor *tft_copy(tft_arena *arena, const mg_tensor *src);
mg_tensor *tft_view(tft_arena *arena, mg_tensor *parent, size_t byte_offset, int ndim, const int64_t *shape);
mg_tensor *tft_i32(tft_arena *arena, const int32_t *values, int ndim, const int64_t *shape);
void tft_arena_free(tft_arena *arena);

/* ---- cached tokens and text states ---- */

typedef struct tft_token_entry {
    uint64_t hash;       /* of the mesh the tokens belong to (0: empty slot) */
    size_t faces;
    int32_t *codes;      /* [faces * per_face] */
} tft_token_entry;

typedef struct tft_text_entry {
    char *caption;
    size_t tokens;
    float *states;       /* [tokens, dim_text]: the frozen encoder's output, before to_latent_dims */
} tft_text_entry;

typedef enum tft_text_mode {
    TFT_TEXT_NONE = 0,       /* not conditioned on text */
    TFT_TEXT_FROZEN,         /* an encoder whose states are computed once per caption and cached */
    TFT_TEXT_TRAINED         /* the built-in encoder, trained with the transformer */
} tft_text_mode;

typedef struct tf_train {
    mg_context *ctx;
    mg_model_config model_config;   /* what save_model writes */
    mg_tf_config config;
    mg_weights master;              /* every tensor as f32 under its model-file name (AE under "autoencoder.") */
    mg_tensor **grads;              /* [master.count]: f32 gradient, NULL where frozen or not a parameter */
    mg_transformer tf;              /* over `master` */
    mg_autoencoder ae;              /* over `master`, prefix "autoencoder." */
    int32_t ae_levels, per_face;

    tft_text_mode text_mode;
    mg_text_encoder *frozen_encoder;/* an external folder's encoder, or the built-in one over `master` */
    mg_bert_config bert;            /* the built-in encoder's config (TFT_TEXT_TRAINED) */
    mg_wordpiece_vocab *vocab;      /* its vocabulary (TFT_TEXT_TRAINED) */
    size_t bert_max_length;

    tft_token_entry *token_cache;   /* [token_cache_size], by dataset item index */
    size_t token_cache_size;
    tft_text_entry *text_cache;     /* open addressing by caption hash */
    size_t text_cache_size, text_cache_used;
} tf_train;

/* The master tensor / gradient named by the format (no error when absent: NULL). */
mg_tensor *tft_param(const tf_train *t, const char *fmt, ...) MG_PRINTF(2, 3);
mg_tensor *tft_grad(const tf_train *t, const char *fmt, ...) MG_PRINTF(2, 3);

/* ---- the transformer's forward with activations and its backward (tf_backward.c) ---- */

typedef struct tft_text_input {
    mg_tensor *context;      /* [B, T, dim_text]: the conditioner's output (pad tokens hold the pad value) */
    const int32_t *mask;     /* host [B * T]: 1 where a token is visible (pads and dropped rows 0) */
    size_t tokens;
    mg_tensor *d_context;    /* NULL: no gradient wanted; else [B, T, dim_text], overwritten */
} tft_text_input;

/*
 * Cross-entropy of `codes` [batch, length] (-1 pads) as mg_tf_loss computes it (EOS appended after each
 * sequence and read as input there; upstream's label 0 at `length` for shorter rows), and with `backward`
 * grad_scale * its gradient added to every trainable parameter's gradient (and d_context written).
 */
mg_status tft_pass(tf_train *t, const int32_t *codes, size_t batch, size_t length, const tft_text_input *text,
                   bool backward, float grad_scale, double *loss);

/* ---- FiLM text conditioning (tf_film.c) ---- */

/* What the backward of one FiLM module keeps: y = x * gamma + beta per batch row. */
typedef struct tft_film {
    const char *name;            /* text_coarse_film_cond or text_fine_film_cond */
    float gamma_mult, beta_mult; /* the learned multipliers, read at the forward */
    mg_tensor *gamma_pre, *beta_pre; /* [B, d] the projections before tanh */
    mg_tensor *gamma, *beta;     /* [B, d] */
    mg_tensor *x_in;             /* the input x [B, N, d] */
} tft_film;

/* Applies FiLM `name` to x [B, N, d] in place, from the pooled text [B, dim_text]. */
mg_status tft_film_forward(tf_train *t, tft_arena *arena, const char *name, mg_tensor *pooled, mg_tensor *x,
                           tft_film *f);
/* d_x: the gradient of FiLM's output on entry, of its input on return; parameter gradients accumulated;
 * d_pooled (NULL: not wanted) [B, dim_text] ACCUMULATES the pooled text's gradient. */
mg_status tft_film_backward(tf_train *t, tft_arena *arena, const tft_film *f, mg_tensor *pooled, mg_tensor *d_x,
                            mg_tensor *d_pooled);

/* ---- text (tf_train_text.c) ---- */

/*
 * The conditioner's output for `batch` captions (NULL entries: no caption, then the row is dropped), rows
 * dropped where drop[b]: to_latent_dims over the encoder's states, pad tokens set to the pad value. With
 * `backward` the context's gradient is taken through to_latent_dims (and the built-in encoder when
 * trained) by tft_text_backward after the pass.
 */
typedef struct tft_text_batch {
    tft_text_input input;
    int32_t *mask;            /* owned host mask */
    /* activations for the backward */
    mg_tensor *states;        /* [B, T, dim_text] the encoder's output (pad tokens 0) */
    int32_t *ids;             /* [B * T] the built-in encoder's token ids (TFT_TEXT_TRAINED) */
    int32_t *id_mask;         /* [B * T] 1 for real tokens */
    void *bert_acts;          /* the built-in encoder's saved activations */
    size_t batch;
} tft_text_batch;

mg_status tft_text_prepare(tf_train *t, tft_arena *arena, const char *const *captions, const bool *drop,
                           size_t batch, bool backward, tft_text_batch *out);
mg_status tft_text_backward(tf_train *t, tft_arena *arena, tft_text_batch *text);
void tft_text_batch_free(tft_text_batch *text);
void tft_text_cache_free(tf_train *t);

/* ---- initialisation (tf_train_init.c) ---- */

/* Fills `values` (count elements) with upstream's initial values for the transformer or built-in text-encoder
 * tensor `name` of `shape` (see tf_train_init.c); fan_in: a Linear bias's weight's input width (0 otherwise). */
void tft_init_values(const char *name, int ndim, const int64_t *shape, size_t fan_in, mg_rng *rng, float *values,
                     size_t count);
/* A standard normal draw from the trainer's RNG (Box-Muller; the fresh starts' one source of normals). */
double tft_normal(mg_rng *rng);
/* The code-bits start (tf_code_bits.c): whether it sets this tensor, and its rows of the codebook entries
 * (after tft_init_values gave the whole tensor its default start, whose draws it follows). */
bool tft_code_bits_applies(const char *name);
mg_status tft_init_code_bits(const char *name, const int64_t *shape, int codebook_size, mg_rng *rng, float *values,
                             mg_diag *diag);

/* Exits to `done` of the training passes (they keep `status` and an `arena`): a failed op, or a NULL tensor. */
#define CHECK(expr)                                                                                                \
    do {                                                                                                           \
        status = (expr);                                                                                           \
        if (status != MG_OK)                                                                                       \
            goto done;                                                                                             \
    } while (0)
#define HAVE(tensor)                                                                                               \
    do {                                                                                                           \
        if (!(tensor)) {                                                                                           \
            status = arena->status != MG_OK ? arena->status : MG_ERR_OUT_OF_MEMORY;                                \
            goto done;                                                                                             \
        }                                                                                                          \
    } while (0)

#endif
