/*
 * The MeshTransformer as an mg_trainable (train/trainable.h): token
 * cross-entropy with padding ignored (meshgpt-pytorch forward_on_codes with
 * return_loss, the same loss as mg_tf_loss), text conditions dropped for
 * classifier-free guidance, the frozen autoencoder kept to tokenize batches.
 *
 * Parameters (mg_trainable.params, in this order): the autoencoder's float
 * tensors under "autoencoder." (frozen: adam_m NULL, grads NULL; kept so a
 * checkpoint is a whole model file), every transformer tensor (trained), then
 * the built-in text encoder's tensors under "text_encoder." when the model
 * has one (trained unless freeze_text_encoder).
 *
 * Text conditions of a text-conditioned model come from, in this order of
 * preference: text_encoder_folder (an external Hugging Face BERT folder,
 * frozen: each caption encoded once and cached; conditioner.to_latent_dims
 * trained), else the model's built-in encoder (or a new one given here),
 * trained jointly (or frozen and cached with freeze_text_encoder). A batch
 * item without a caption trains the unconditional stream (its text is masked
 * as if dropped).
 *
 * Condition dropout: when step() runs with backward and the config's
 * text_condition_cond_drop_prob > 0, one mg_rng_uniform draw per batch item
 * (in batch order) from the rng passed to step; u < p drops that item's text
 * (every key masked, as generation's unconditional stream). Validation
 * (backward false) never drops and draws nothing.
 *
 * Tokens: each batch's meshes are tokenized with the frozen autoencoder and
 * cached per dataset item index together with a hash of the mesh, so an
 * unaugmented item is encoded once and an augmented one is re-encoded.
 */
#ifndef MG_TRAIN_TF_TRAIN_H
#define MG_TRAIN_TF_TRAIN_H

#include "train/trainable.h"

typedef struct mg_tf_train_params {
    const char *model_path;            /* required: any loadable model file (a MeshTransformer checkpoint of
                                          meshgpt-pytorch or of this project, or an autoencoder alone) */
    const char *transformer_json;      /* NULL: fine-tune the file's transformer; else the kwargs (JSON object,
                                          meshgpt-pytorch names) of a new transformer initialised as upstream
                                          does (nn.Linear / nn.Embedding defaults, randn parameters) */
    uint64_t init_seed;                /* the random initialisation's seed (new transformer / text encoder) */
    const char *text_encoder_folder;   /* an external BERT folder (frozen), or NULL */
    const mg_bert_config *new_text_encoder; /* a new built-in encoder (with new_text_vocab), replacing the
                                               file's; initialised as Hugging Face's BertModel (normal 0.02) */
    const char *new_text_vocab;        /* its vocab.txt content */
    bool freeze_text_encoder;          /* built-in encoder: computed once per caption instead of trained */
    bool code_bits_start;              /* a new transformer's codebook rows start from the codes' bits
                                          (tf_code_bits.c); needs an LFQ autoencoder */
} mg_tf_train_params;

mg_tf_train_params mg_tf_train_default_params(void);

/* Loads params->model_path on ctx and builds the trainable (errors on ctx's diag). Unsupported by the
 * backward pass (refused here): adaptive RMSNorm conditioning (coarse_adaptive_rmsnorm) and different coarse
 * and fine widths. FiLM text conditioning (text_cond_with_film) trains. */
mg_status mg_tf_trainable_create(mg_context *ctx, const mg_tf_train_params *params, mg_trainable **out);

/* The text of mg_tf_trainable_codes_step: precomputed conditioner outputs, or captions through the trainable's
 * text encoder (as step() does), and which rows are dropped. */
typedef struct mg_tf_train_text {
    const float *embeds;            /* [batch, tokens, dim_text] as mg_tf_text takes them (NULL: use captions); they
                                       are constants (to_latent_dims gets no gradient from them) */
    size_t tokens;
    const char *const *captions;    /* [batch] (NULL entries: no caption) */
    const bool *drop;               /* [batch] or NULL: rows whose text is hidden */
} mg_tf_train_text;

/*
 * The loss of token sequences directly (tests, and callers with tokens of their own): codes [batch, length]
 * with -1 pads; text NULL for an unconditioned model. With backward, grad_scale * d(loss) is added to the
 * gradients.
 */
mg_status mg_tf_trainable_codes_step(mg_trainable *trainable, const int32_t *codes, size_t batch, size_t length,
                                     const mg_tf_train_text *text, bool backward, float grad_scale, double *loss);

/*
 * A new built-in text encoder for a dataset's captions: a word-level vocabulary ([PAD] [UNK] [CLS] [SEP]
 * [MASK], then every distinct lower-cased word and punctuation mark of the captions as BERT's basic
 * tokenizer splits them, in order of first appearance) that WordPiece reads back unchanged, and a BERT
 * config of `hidden` width with `layers` layers (0: embeddings + LayerNorm only), heads = hidden / 64 (at
 * least 1), intermediate 4 * hidden, 512 positions. *vocab_text is malloc'ed.
 */
mg_status mg_tf_text_encoder_from_captions(const char *const *captions, size_t count, size_t hidden, size_t layers,
                                           mg_bert_config *config, char **vocab_text, mg_diag *diag);

#endif
