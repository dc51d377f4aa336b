/* mg_bench_generate: tokens/s of the incremental decoder on random weights of a named size. */
#include "core/context.h"
#include "model/tf_generate.h"
#include "model/tf_weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

mg_bench_generate_params mg_bench_generate_default_params(void)
{
    mg_bench_generate_params p;
    memset(&p, 0, sizeof p);
    p.config = "default";
    p.batch = 1;
    p.tokens = 60;
    p.seed = 1;
    return p;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The named configurations (upstream defaults with text, the community preview size, the test size). */
static bool named_config(const char *name, mg_tf_config *c)
{
    memset(c, 0, sizeof *c);
    c->attn_num_mem_kv = 4;
    c->cross_attn_num_mem_kv = 4;
    c->ff_glu = true;
    c->add_value_residual = true;
    c->learned_value_residual_mix = true;
    c->condition_on_text = true;
    c->dim_text = 768;
    c->text_embed_pad_value = -1.0f;
    c->norm_gain_offset = 1.0f;
    c->num_quantizers = 2;
    c->face_size = 3;
    c->num_sos_tokens = 4;
    if (strcmp(name, "default") == 0) {
        c->dim = 512, c->max_seq_len = 8190, c->attn_depth = 12, c->attn_dim_head = 64, c->attn_heads = 16;
        c->coarse_pre_gateloop_depth = 2, c->fine_pre_gateloop_depth = 2, c->fine_attn_depth = 2;
        c->codebook_size = 16384;
    } else if (strcmp(name, "preview") == 0) {
        c->dim = 768, c->max_seq_len = 1500, c->attn_depth = 12, c->attn_dim_head = 64, c->attn_heads = 12;
        c->coarse_pre_gateloop_depth = 3, c->fine_pre_gateloop_depth = 3, c->fine_attn_depth = 2;
        c->codebook_size = 2048;
    } else if (strcmp(name, "small") == 0) {
        c->dim = 128, c->max_seq_len = 600, c->attn_depth = 2, c->attn_dim_head = 32, c->attn_heads = 4;
        c->coarse_pre_gateloop_depth = 1, c->fine_pre_gateloop_depth = 1, c->fine_attn_depth = 1;
        c->fine_cross_attend_text = true, c->num_sos_tokens = 1;
        c->codebook_size = 256;
    } else {
        return false;
    }
    c->dim_fine = c->dim;
    return true;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random weights of the right scale: gains near 1, linear layers uniform within 1/sqrt(fan-in). */
static mg_status random_weights(mg_context *ctx, const mg_tf_config *c, bool fp16, uint64_t seed,
                                mg_weights *weights, uint64_t *parameters)
{
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    mg_status status = mg_tf_weight_specs(c, &specs, &count, &ctx->diag);
    if (status != MG_OK)
        return status;
    weights->items = calloc(count, sizeof *weights->items);
    weights->count = 0;
    *parameters = 0;
    if (!weights->items) {
        free(specs);
        return mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the benchmark weights");
    }
    uint64_t state = seed;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        const mg_weight_spec *s = &specs[i];
        size_t n = 1;
        for (int d = 0; d < s->ndim; d++)
            n *= (size_t)s->shape[d];
        float *values = malloc(n * sizeof *values);
        if (!values) {
            status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the benchmark weights");
            break;
        }
        const bool gain = s->ndim == 1 && strstr(s->name, "bias") == NULL;
        const float bound = s->ndim >= 2 ? 1.0f / sqrtf((float)s->shape[s->ndim - 1]) : 0.02f;
        for (size_t k = 0; k < n; k++) {
            float u = (float)((double)(next_random(&state) >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
            values[k] = gain ? 0.02f * u : bound * u;
        }
        mg_weight *w = &weights->items[weights->count];
        memcpy(w->name, s->name, sizeof w->name);
        w->count = n;
        status = mg_tensor_create(ctx, fp16 ? MG_DTYPE_F16 : MG_DTYPE_F32, s->ndim, s->shape,
                                  &w->tensor);
        if (status == MG_OK) {
            weights->count++;
            status = mg_tensor_write_f32(w->tensor, values, n);
        }
        *parameters += n;
        free(values);
    }
    free(specs);
    return status;
}

static bool count_step(size_t tokens, const int32_t *rows, const bool *finished, void *user)
{
    (void)rows;
    (void)finished;
    *(size_t *)user = tokens;
    return true;
}

mg_status mg_bench_generate(mg_context *ctx, const mg_bench_generate_params *params, mg_bench_generate_result *out)
{
    mg_status status = mg_context_check(ctx, "mg_bench_generate");
    if (status != MG_OK)
        return status;
    mg_bench_generate_params p = params ? *params : mg_bench_generate_default_params();
    mg_tf_config config;
    if (!out || !p.config || !named_config(p.config, &config))
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_bench_generate: config must be \"default\", \"preview\" or \"small\"");
    if (p.batch == 0 || p.batch > 64 || p.tokens == 0 || p.tokens % 6 != 0 || p.tokens > (size_t)config.max_seq_len)
        return mg_fail(&ctx->diag, MG_ERR_INVALID_ARGUMENT,
                       "mg_bench_generate: batch 1..64 and tokens a multiple of 6 within %d", config.max_seq_len);
    memset(out, 0, sizeof *out);
    mg_weights weights;
    memset(&weights, 0, sizeof weights);
    uint64_t parameters = 0;
    float *text = NULL;
    int32_t *codes = NULL;
    size_t *lengths = NULL;
    status = random_weights(ctx, &config, p.fp16, p.seed, &weights, &parameters);
    /* A 10-token prompt embedding, as a text encoder would give. */
    const size_t text_tokens = 10;
    text = malloc(p.batch * text_tokens * (size_t)config.dim_text * sizeof *text);
    codes = malloc(p.batch * p.tokens * sizeof *codes);
    lengths = malloc(p.batch * sizeof *lengths);
    if (status == MG_OK && (!text || !codes || !lengths))
        status = mg_fail(&ctx->diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the benchmark");
    if (status == MG_OK) {
        uint64_t state = p.seed + 7;
        for (size_t i = 0; i < p.batch * text_tokens * (size_t)config.dim_text; i++)
            text[i] = (float)((double)(next_random(&state) >> 11) / 9007199254740992.0) - 0.5f;
        mg_transformer tf;
        mg_transformer_init(&tf, ctx, &config, &weights);
        mg_tf_text t = {.embeds = text, .tokens = text_tokens};
        mg_tf_sampling sampling = mg_tf_default_sampling();
        sampling.seed = p.seed;
        sampling.allow_eos = false; /* every row makes all its tokens */
        size_t steps = 0;
        double start = now_seconds();
        status = mg_tf_generate(&tf, &t, p.batch, NULL, 0, p.tokens, &sampling, count_step, &steps, codes, lengths);
        out->seconds = now_seconds() - start;
        out->tokens = steps;
        out->tokens_per_second = (double)(steps * p.batch) / out->seconds;
        out->faces_per_second = out->tokens_per_second / 6.0;
        out->parameters = parameters;
        mg_context_stats stats;
        if (status == MG_OK && mg_context_get_stats(ctx, &stats) == MG_OK)
            out->device_bytes_peak = stats.device_bytes_peak;
    }
    mg_weights_free(&weights);
    free(text);
    free(codes);
    free(lengths);
    return status;
}
