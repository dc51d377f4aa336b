/* Generation loop over the transformer (whole-sequence forward per step). */
#include "model/tf_generate.h"

#include "model/tf_incremental.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

mg_tf_sampling mg_tf_default_sampling(void)
{
    mg_tf_sampling s;
    memset(&s, 0, sizeof s);
    s.temperature = 1.0f;
    s.top_k_fraction = 0.1f;
    s.cond_scale = 1.0f;
    s.allow_eos = true;
    return s;
}

/* splitmix64: small, fast, and the same sequence on every platform. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int compare_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Sets every logit below the k-th largest to -inf (ties at the threshold kept). */
static void keep_top_k(float *logits, size_t vocab, size_t k, float *sorted)
{
    if (k == 0 || k >= vocab)
        return;
    memcpy(sorted, logits, vocab * sizeof *sorted);
    qsort(sorted, vocab, sizeof *sorted, compare_desc);
    const float threshold = sorted[k - 1];
    for (size_t i = 0; i < vocab; i++)
        if (logits[i] < threshold)
            logits[i] = -INFINITY;
}

int32_t mg_tf_choose_token(float *logits, size_t vocab, const mg_tf_sampling *s, uint64_t *rng_state)
{
    float *sorted = malloc(vocab * sizeof *sorted);
    size_t k = s->top_k > 0 ? (size_t)s->top_k
                            : s->top_k_fraction > 0.0f ? (size_t)ceil((double)s->top_k_fraction * (double)vocab) : 0;
    if (sorted)
        keep_top_k(logits, vocab, k, sorted);
    size_t best = 0;
    for (size_t i = 1; i < vocab; i++)
        if (logits[i] > logits[best])
            best = i; /* ties: the first index, as torch.argmax */
    if (s->temperature <= 0.0f || !sorted) {
        free(sorted);
        return (int32_t)best;
    }
    /* Probabilities at the temperature. */
    double total = 0.0;
    for (size_t i = 0; i < vocab; i++)
        total += isinf(logits[i]) ? 0.0 : exp(((double)logits[i] - logits[best]) / s->temperature);
    if (s->min_p > 0.0f) {
        for (size_t i = 0; i < vocab; i++) {
            double p = isinf(logits[i]) ? 0.0 : exp(((double)logits[i] - logits[best]) / s->temperature);
            if (p < s->min_p)
                logits[i] = -INFINITY; /* relative to the top probability, whose ratio is 1 */
        }
    }
    if (s->top_p > 0.0f && s->top_p < 1.0f) {
        memcpy(sorted, logits, vocab * sizeof *sorted);
        qsort(sorted, vocab, sizeof *sorted, compare_desc);
        double cumulative = 0.0;
        float threshold = sorted[0];
        for (size_t i = 0; i < vocab && !isinf(sorted[i]); i++) {
            threshold = sorted[i];
            cumulative += exp(((double)sorted[i] - logits[best]) / s->temperature) / total;
            if (cumulative >= s->top_p)
                break;
        }
        for (size_t i = 0; i < vocab; i++)
            if (logits[i] < threshold)
                logits[i] = -INFINITY;
    }
    total = 0.0;
    for (size_t i = 0; i < vocab; i++)
        total += isinf(logits[i]) ? 0.0 : exp(((double)logits[i] - logits[best]) / s->temperature);
    double u = (double)(next_random(rng_state) >> 11) / 9007199254740992.0 * total;
    size_t chosen = best;
    for (size_t i = 0; i < vocab; i++) {
        if (isinf(logits[i]))
            continue;
        u -= exp(((double)logits[i] - logits[best]) / s->temperature);
        if (u <= 0.0) {
            chosen = i;
            break;
        }
    }
    free(sorted);
    return (int32_t)chosen;
}

void mg_tf_guide_logits(const float *cond, const float *uncond, size_t n, float cond_scale, bool remove_parallel,
                        float keep_parallel_frac, float *out)
{
    const float factor = cond_scale - 1.0f;
    if (!remove_parallel) {
        for (size_t i = 0; i < n; i++)
            out[i] = cond[i] + (cond[i] - uncond[i]) * factor;
        return;
    }
    /* Upstream: the update in the logits' precision, its projection onto cond / max(|cond|, 1e-12) in
     * float64, both parts back in the logits' precision. */
    double norm = 0.0, dot = 0.0;
    for (size_t i = 0; i < n; i++)
        norm += (double)cond[i] * (double)cond[i];
    norm = sqrt(norm);
    if (norm < 1e-12)
        norm = 1e-12;
    for (size_t i = 0; i < n; i++)
        dot += (double)(cond[i] - uncond[i]) * ((double)cond[i] / norm);
    for (size_t i = 0; i < n; i++) {
        const float update = cond[i] - uncond[i];
        const double parallel_d = dot * ((double)cond[i] / norm);
        const float parallel = (float)parallel_d, orthogonal = (float)((double)update - parallel_d);
        out[i] = cond[i] + (orthogonal + parallel * keep_parallel_frac) * factor;
    }
}

/*
 * Draws again until the accept callback takes the token, each refused token removed from the (already
 * filtered) row; *token becomes -1 when no candidate is left. At most MAX_REFUSALS draws are refused, so a
 * callback that refuses nearly everything costs bounded time.
 */
#define MAX_REFUSALS 256
static mg_status draw_accepted(const mg_tf_sampling *sampling, size_t b, const int32_t *tokens, size_t length,
                               float *row, size_t vocab, uint64_t *rng, int32_t *token)
{
    for (int refusals = 0;; refusals++) {
        bool accept = false;
        mg_status status = sampling->accept(sampling->hook_user, b, tokens, length, *token, &accept);
        if (status != MG_OK)
            return status;
        if (accept)
            return MG_OK;
        row[*token] = -INFINITY;
        row[vocab - 1] = -INFINITY; /* EOS is not a way out of a face half made */
        size_t left = 0;
        for (size_t i = 0; i < vocab; i++)
            left += !isinf(row[i]) && row[i] > -FLT_MAX;
        if (left == 0 || refusals + 1 >= MAX_REFUSALS) {
            *token = -1;
            return MG_OK;
        }
        *token = mg_tf_choose_token(row, vocab, sampling, rng);
    }
}

mg_status mg_tf_generate(const mg_transformer *tf, const mg_tf_text *text, size_t batch, const int32_t *prompt,
                         size_t prompt_length, size_t max_tokens, const mg_tf_sampling *sampling, mg_tf_step_fn step,
                         void *user, int32_t *codes, size_t *lengths)
{
    const mg_tf_config *c = &tf->config;
    mg_diag *diag = &tf->ctx->diag;
    const size_t vocab = (size_t)c->codebook_size + 1, per_face = (size_t)mg_tf_config_tokens_per_face(c);
    const int32_t eos = c->codebook_size;
    if (max_tokens > (size_t)c->max_seq_len)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "%zu tokens exceed the model's %d positions (%d faces)",
                       max_tokens, c->max_seq_len, c->max_seq_len / (int)per_face);
    if (prompt_length > max_tokens)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "the prompt (%zu tokens) is longer than the %zu tokens allowed",
                       prompt_length, max_tokens);
    const bool guided = sampling->cond_scale != 1.0f && text != NULL;
    float *cond = malloc(batch * (max_tokens + 1) * vocab * sizeof *cond);
    float *uncond = guided ? malloc(batch * (max_tokens + 1) * vocab * sizeof *uncond) : NULL;
    int32_t *work = malloc(batch * (max_tokens ? max_tokens : 1) * sizeof *work);
    float *row = malloc(vocab * sizeof *row);
    bool *finished = calloc(batch, sizeof *finished), *refused = calloc(batch, sizeof *refused);
    mg_tf_stream *cond_stream = NULL, *uncond_stream = NULL;
    mg_status status = MG_OK;
    if (!cond || (guided && !uncond) || !work || !row || !finished || !refused) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for generation");
        goto done;
    }
    uint64_t rng = sampling->seed;
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < prompt_length; i++)
            work[b * prompt_length + i] = prompt[b * prompt_length + i];
    size_t length = prompt_length;
    mg_tf_text cond_init, uncond_init;
    if (text) {
        cond_init = *text;
        cond_init.drop = false;
        uncond_init = *text;
        uncond_init.drop = true;
    }
    if (!sampling->whole_sequence) {
        if ((status = mg_tf_stream_create(tf, batch, max_tokens, text ? &cond_init : NULL, &cond_stream)) != MG_OK)
            goto done;
        if (guided && (status = mg_tf_stream_create(tf, batch, max_tokens, &uncond_init, &uncond_stream)) != MG_OK)
            goto done;
        /* The prompt's positions enter the streams; their logits are not needed. */
        for (size_t t = 0; t < prompt_length; t++) {
            if ((status = mg_tf_stream_step(cond_stream, work, prompt_length, t, cond)) != MG_OK)
                goto done;
            if (guided && (status = mg_tf_stream_step(uncond_stream, work, prompt_length, t, uncond)) != MG_OK)
                goto done;
        }
    }
    /* Rows are packed [batch, length] and grow by one column per step. */
    while (length < max_tokens) {
        mg_tf_text cond_text, uncond_text;
        if (text) {
            cond_text = *text;
            cond_text.drop = false;
            uncond_text = *text;
            uncond_text.drop = true;
        }
        /* Logits for token `length`: from the streams (one new position each), or the whole sequence again. */
        const float *cond_rows = cond, *uncond_rows = uncond;
        size_t stride = length + 1, row_index = length;
        if (sampling->whole_sequence) {
            if ((status = mg_tf_logits(tf, work, batch, length, text ? &cond_text : NULL, cond)) != MG_OK)
                goto done;
            if (guided && (status = mg_tf_logits(tf, work, batch, length, &uncond_text, uncond)) != MG_OK)
                goto done;
        } else {
            if ((status = mg_tf_stream_step(cond_stream, work, length, length, cond)) != MG_OK)
                goto done;
            if (guided && (status = mg_tf_stream_step(uncond_stream, work, length, length, uncond)) != MG_OK)
                goto done;
            stride = 1;
            row_index = 0;
        }
        int32_t *grown = malloc(batch * (length + 1) * sizeof *grown);
        if (!grown) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for generation");
            goto done;
        }
        bool all_done = true;
        for (size_t b = 0; b < batch; b++) {
            const float *c_row = cond_rows + (b * stride + row_index) * vocab;
            if (guided)
                mg_tf_guide_logits(c_row, uncond_rows + (b * stride + row_index) * vocab, vocab, sampling->cond_scale,
                                   sampling->remove_parallel_component, sampling->keep_parallel_frac, row);
            else
                memcpy(row, c_row, vocab * sizeof *row);
            /* EOS only where a face is complete (and never as the first token). */
            if (!sampling->allow_eos || !(length > 0 && length % per_face == 0))
                row[eos] = -FLT_MAX;
            memcpy(grown + b * (length + 1), work + b * length, length * sizeof *grown);
            if (sampling->adjust && !finished[b] &&
                (status = sampling->adjust(sampling->hook_user, b, work + b * length, length, row)) != MG_OK) {
                free(grown);
                goto done;
            }
            int32_t token = mg_tf_choose_token(row, vocab, sampling, &rng);
            if (sampling->accept && !finished[b] && token != eos &&
                (status = draw_accepted(sampling, b, work + b * length, length, row, vocab, &rng, &token)) != MG_OK) {
                free(grown);
                goto done;
            }
            if (token < 0) {
                token = eos; /* no acceptable token: the row ends at its last whole face */
                refused[b] = true;
                mg_log(diag, MG_LOG_INFO, "sample %zu: every candidate for token %zu was refused (it would break "
                       "the surface), so the sample ends at %zu faces", b, length, length / per_face);
            }
            grown[b * (length + 1) + length] = token;
            finished[b] = finished[b] || token == eos;
            all_done = all_done && finished[b];
        }
        free(work);
        work = grown;
        length++;
        if (step && !step(length, work, finished, user)) {
            status = mg_fail(diag, MG_ERR_CANCELLED, "generation cancelled after %zu tokens", length);
            goto done;
        }
        if (all_done)
            break;
    }
    for (size_t b = 0; b < batch; b++) {
        size_t used = 0;
        while (used < length && work[b * length + used] != eos)
            used++;
        used -= used % per_face; /* whole faces only */
        lengths[b] = used;
        for (size_t i = 0; i < max_tokens; i++)
            codes[b * max_tokens + i] = i < used ? work[b * length + i] : -1;
        if (sampling->row_ends)
            sampling->row_ends[b] = refused[b] ? MG_TF_END_REFUSED : finished[b] ? MG_TF_END_EOS : MG_TF_END_LIMIT;
    }
done:
    mg_tf_stream_free(cond_stream);
    mg_tf_stream_free(uncond_stream);
    free(cond);
    free(uncond);
    free(work);
    free(row);
    free(finished);
    free(refused);
    return status;
}
