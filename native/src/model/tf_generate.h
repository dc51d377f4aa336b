/*
 * Token generation with the MeshTransformer, as meshgpt-pytorch's generate():
 * one token per step, EOS allowed only at face boundaries, logit filtering and
 * sampling, classifier-free guidance, an optional prompt (shape completion).
 */
#ifndef MG_MODEL_TF_GENERATE_H
#define MG_MODEL_TF_GENERATE_H

#include "model/transformer.h"

#include <stdint.h>

/*
 * Asked about each sampled token (EOS excepted) before it is kept: may row `row`, whose tokens so far are
 * tokens[0, length), take `token`? Sets *accept. A refused token is dropped from the row's candidates and
 * another is drawn; a row left without candidates ends at its last whole face. A status other than MG_OK
 * stops the generation with that status.
 */
typedef mg_status (*mg_tf_accept_fn)(void *user, size_t row, const int32_t *tokens, size_t length, int32_t token,
                                     bool *accept);
/* Called with row `row`'s logits for token `length` (after guidance, before any filter; EOS last) to change
 * them in place. */
typedef mg_status (*mg_tf_adjust_fn)(void *user, size_t row, const int32_t *tokens, size_t length, float *logits);

/* How a generated row ended. */
typedef enum mg_tf_row_end {
    MG_TF_END_EOS = 0,   /* the model chose EOS */
    MG_TF_END_LIMIT,     /* max_tokens reached */
    MG_TF_END_REFUSED,   /* the accept callback refused every candidate (the row ends at its last whole face) */
} mg_tf_row_end;

typedef struct mg_tf_sampling {
    float temperature;      /* 0: arg-max (greedy) */
    float top_k_fraction;   /* keep ceil(fraction * vocabulary) logits (upstream default 0.1); 0: off */
    int top_k;              /* keep this many logits (overrides the fraction when > 0) */
    float top_p;            /* nucleus: keep the smallest set with probability >= top_p; 0 or 1: off */
    float min_p;            /* keep logits with probability >= min_p * the largest; 0: off */
    float cond_scale;       /* classifier-free guidance; 1: conditional pass only */
    uint64_t seed;
    bool allow_eos;         /* false: never end early (benchmarks); default true */
    bool whole_sequence;    /* recompute the whole sequence every step (meshgpt-pytorch's cache_kv=False; slow) */
    /* Guidance refinement of arXiv 2410.02416 (APG) as classifier-free-guidance-pytorch applies it: the
     * update cond - uncond loses its component parallel to cond, all but keep_parallel_frac of it. */
    bool remove_parallel_component; /* false */
    float keep_parallel_frac;       /* 0 */
    mg_tf_adjust_fn adjust;         /* NULL: the logits as the model gives them */
    mg_tf_accept_fn accept;         /* NULL: every token is kept */
    void *hook_user;                /* adjust's and accept's user pointer */
    mg_tf_row_end *row_ends;        /* NULL, or [batch]: written with how each row ended */
} mg_tf_sampling;

mg_tf_sampling mg_tf_default_sampling(void);

/* Called after each step with the tokens so far: rows [batch, tokens] (row b at rows + b * tokens), finished[b]
 * once row b has produced EOS (its later tokens mean nothing). Return false to cancel. */
typedef bool (*mg_tf_step_fn)(size_t tokens, const int32_t *rows, const bool *finished, void *user);

/*
 * Generates for `batch` rows. prompt [batch * prompt_length] (may be NULL when
 * prompt_length is 0); max_tokens includes the prompt and is at most the
 * model's max_seq_len. On return codes[b * max_tokens + i] holds row b's tokens
 * (-1 from its EOS on) and lengths[b] its length: tokens before EOS, cut to
 * whole faces.
 */
mg_status mg_tf_generate(const mg_transformer *tf, const mg_tf_text *text, size_t batch, const int32_t *prompt,
                         size_t prompt_length, size_t max_tokens, const mg_tf_sampling *sampling, mg_tf_step_fn step,
                         void *user, int32_t *codes, size_t *lengths);

/*
 * Classifier-free guidance of one row of n logits: out = cond + update * (cond_scale - 1) with
 * update = cond - uncond; with remove_parallel the update is split (in double precision) into its
 * projection onto cond and the rest, and becomes rest + keep_parallel_frac * projection.
 * out may alias cond or uncond.
 */
void mg_tf_guide_logits(const float *cond, const float *uncond, size_t n, float cond_scale, bool remove_parallel,
                        float keep_parallel_frac, float *out);

/* The logit filters and the choice of one token (exposed for tests): returns the chosen id. */
int32_t mg_tf_choose_token(float *logits, size_t vocab, const mg_tf_sampling *sampling, uint64_t *rng_state);

#endif
