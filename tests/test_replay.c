/*
 * Work recorded once and replayed (ops/recording.h, gpu.h recordings) and the
 * ops whose per-step values come from a device buffer (the *_at ops):
 *  - a KV-cached attention loop captured once and replayed at every position
 *    equals the full causal pass, as the freshly recorded loop does;
 *  - a recording that feeds its own input replays 100 times under the
 *    validation layer (synchronization validation on) without a message and
 *    with hand-computed results;
 *  - incremental decoding with replay gives the same logits, bit for bit, as
 *    with every step recorded anew (MESHGPT_REPLAY=0), on the fixture model;
 *  - host transfers while capturing are refused; recordings and decoding
 *    streams may be freed after their context is destroyed.
 */
#include "model/model.h"
#include "model/tf_incremental.h"
#include "ops/ops_transformer.h"
#include "ops/recording.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(ctx, call) cr_assert_eq((call), MG_OK, "%s", mg_context_last_error(ctx))

/* Writing K/V rows into a cache and attending, one position per step, with the
 * position in a step tensor: captured once and replayed (record = true), or
 * run directly (the CPU backend, or record = false). Returns [batch, n, inner]. */
static float *cached_steps(mg_context *ctx, bool record, const float *q, const float *k, const float *v,
                           const float *mk, const float *mv, int64_t batch, int64_t n, int64_t heads, int64_t dh,
                           int64_t mems)
{
    const int64_t inner = heads * dh, rows = n + 3;
    int64_t cache_shape[3] = {batch, rows, inner}, mem_shape[3] = {heads, mems, dh}, step_shape[3] = {batch, 1, inner};
    int64_t one = 1;
    mg_tensor *tmk = test_tensor(ctx, MG_DTYPE_F32, 3, mem_shape, mk), *tmv = test_tensor(ctx, MG_DTYPE_F32, 3, mem_shape, mv);
    mg_tensor *ck = test_empty(ctx, MG_DTYPE_F32, 3, cache_shape), *cv = test_empty(ctx, MG_DTYPE_F32, 3, cache_shape);
    CHECK(ctx, mg_tensor_fill_u32(ck, 0x7fc00000u)); /* NaN in rows not written yet */
    CHECK(ctx, mg_tensor_fill_u32(cv, 0x7fc00000u));
    mg_tensor *sq = test_empty(ctx, MG_DTYPE_F32, 3, step_shape), *sk = test_empty(ctx, MG_DTYPE_F32, 3, step_shape);
    mg_tensor *sv = test_empty(ctx, MG_DTYPE_F32, 3, step_shape), *so = test_empty(ctx, MG_DTYPE_F32, 3, step_shape);
    /* The step value 2 elements into its buffer: an element offset inside the binding. */
    int32_t zeros[3] = {0, 0, 0};
    mg_tensor *step = test_offset_ids(ctx, 1, &one, zeros, 2);
    mg_recording *recording = NULL;
    float *slice = malloc((size_t)(batch * inner) * 4), *got = malloc((size_t)(batch * n * inner) * 4);
    for (int64_t t = 0; t < n; t++) {
        const float *sources[3] = {q, k, v};
        mg_tensor *targets[3] = {sq, sk, sv};
        for (int s = 0; s < 3; s++) {
            for (int64_t b = 0; b < batch; b++)
                memcpy(slice + b * inner, sources[s] + (b * n + t) * inner, (size_t)inner * 4);
            CHECK(ctx, mg_tensor_write_f32(targets[s], slice, (size_t)(batch * inner)));
        }
        int32_t position = (int32_t)t;
        CHECK(ctx, mg_tensor_write(step, &position, sizeof position));
        if (!record || !recording) {
            if (record)
                CHECK(ctx, mg_recording_begin(ctx));
            CHECK(ctx, mg_op_copy_rows_at(ctx, sk, ck, 0, step));
            CHECK(ctx, mg_op_copy_rows_at(ctx, sv, cv, 0, step));
            mg_attention_params ps = {.heads = (size_t)heads, .scale = 0.35f, .keys = 1, .causal = true};
            CHECK(ctx, mg_op_attention_at(ctx, sq, ck, cv, tmk, tmv, NULL, &ps, step, so));
            if (record)
                CHECK(ctx, mg_recording_end(ctx, &recording));
        }
        if (record)
            CHECK(ctx, mg_recording_replay(recording));
        CHECK(ctx, mg_tensor_read_f32(so, slice, (size_t)(batch * inner)));
        for (int64_t b = 0; b < batch; b++)
            memcpy(got + (b * n + t) * inner, slice + b * inner, (size_t)inner * 4);
    }
    mg_recording_free(recording);
    mg_tensor *all[] = {tmk, tmv, ck, cv, sq, sk, sv, so, step};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
    free(slice);
    return got;
}

Test(replay, cached_attention_replayed_equals_full_pass_and_fresh_recording)
{
    const int64_t batch = 2, n = 13, heads = 3, dh = 8, mems = 2, inner = heads * dh;
    test_pair pair = test_open_pair();
    const size_t count = (size_t)(batch * n * inner), mem_count = (size_t)(heads * mems * dh);
    float *q = malloc(count * 4), *k = malloc(count * 4), *v = malloc(count * 4);
    float *mk = malloc(mem_count * 4), *mv = malloc(mem_count * 4);
    test_fill_uniform(q, count, 21, -2, 2);
    test_fill_uniform(k, count, 22, -2, 2);
    test_fill_uniform(v, count, 23, -1, 1);
    test_fill_uniform(mk, mem_count, 24, -2, 2);
    test_fill_uniform(mv, mem_count, 25, -1, 1);

    /* The reference: the whole causal pass on the CPU. */
    int64_t seq_shape[3] = {batch, n, inner}, mem_shape[3] = {heads, mems, dh};
    mg_tensor *tq = test_tensor(pair.ref, MG_DTYPE_F32, 3, seq_shape, q);
    mg_tensor *tk = test_tensor(pair.ref, MG_DTYPE_F32, 3, seq_shape, k);
    mg_tensor *tv = test_tensor(pair.ref, MG_DTYPE_F32, 3, seq_shape, v);
    mg_tensor *tmk = test_tensor(pair.ref, MG_DTYPE_F32, 3, mem_shape, mk);
    mg_tensor *tmv = test_tensor(pair.ref, MG_DTYPE_F32, 3, mem_shape, mv);
    mg_tensor *full = test_empty(pair.ref, MG_DTYPE_F32, 3, seq_shape);
    mg_attention_params p = {.heads = (size_t)heads, .scale = 0.35f, .keys = (size_t)n, .causal = true};
    CHECK(pair.ref, mg_op_attention(pair.ref, tq, tk, tv, tmk, tmv, NULL, &p, full));
    float *want = test_read(full);

    float *cpu = cached_steps(pair.ref, false, q, k, v, mk, mv, batch, n, heads, dh, mems);
    float *fresh = cached_steps(pair.vk, false, q, k, v, mk, mv, batch, n, heads, dh, mems);
    float *replayed = cached_steps(pair.vk, true, q, k, v, mk, mv, batch, n, heads, dh, mems);
    test_compare("CPU steps with a step tensor vs full pass", cpu, want, count, 1e-12);
    test_compare("replayed steps vs full pass", replayed, want, count, 1e-10);
    cr_expect_eq(memcmp(replayed, fresh, count * 4), 0, "replayed steps must equal freshly recorded ones bit for bit");

    mg_tensor *all[] = {tq, tk, tv, tmk, tmv, full};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mg_tensor_free(all[i]);
    free(q), free(k), free(v), free(mk), free(mv), free(want), free(cpu), free(fresh), free(replayed);
    test_close_pair(pair);
}

/* x += table[((t + offset + s) / divisor) % period] for the step value s, and the result copied back into x
 * by the same recording: each replay reads what the last one wrote (hazards across submissions). */
Test(replay, recording_replayed_100_times_without_validation_messages)
{
    const int64_t n = 5, dim = 7, rows = 6;
    const size_t offset = 3, divisor = 2, period = 5, replays = 100;
    mg_context *ctx = test_vulkan_context();
    float x0[5 * 7], table[6 * 7];
    test_fill_uniform(x0, (size_t)(n * dim), 31, -1, 1);
    test_fill_uniform(table, (size_t)(rows * dim), 32, -1, 1);
    int64_t x_shape[2] = {n, dim}, table_shape[2] = {rows, dim}, one = 1;
    mg_tensor *x = test_tensor(ctx, MG_DTYPE_F32, 2, x_shape, x0);
    mg_tensor *tt = test_tensor(ctx, MG_DTYPE_F16, 2, table_shape, table);
    test_round_to_f16(table, (size_t)(rows * dim));
    int32_t zero = 0;
    mg_tensor *step = test_tensor_i32(ctx, 1, &one, &zero);

    CHECK(ctx, mg_recording_begin(ctx));
    cr_expect(mg_gpu_capturing(ctx->gpu));
    mg_tensor *y = test_empty(ctx, MG_DTYPE_F32, 2, x_shape); /* a temporary freed during the capture */
    CHECK(ctx, mg_op_add_table_rows_at(ctx, x, tt, (int64_t)offset, divisor, period, step, y));
    CHECK(ctx, mg_op_scale(ctx, y, 1.0f, 0.0f, x));
    mg_tensor_free(y);
    mg_recording *recording = NULL;
    CHECK(ctx, mg_recording_end(ctx, &recording));
    cr_expect(!mg_gpu_capturing(ctx->gpu));

    mg_context_stats before, after;
    CHECK(ctx, mg_context_get_stats(ctx, &before));
    double want[5 * 7];
    for (size_t i = 0; i < (size_t)(n * dim); i++)
        want[i] = x0[i];
    for (size_t r = 0; r < replays; r++) {
        int32_t s = (int32_t)(r * 7 % 23);
        CHECK(ctx, mg_tensor_write(step, &s, sizeof s));
        CHECK(ctx, mg_recording_replay(recording));
        for (int64_t t = 0; t < n; t++) {
            size_t row = ((size_t)t + offset + (size_t)s) / divisor % period;
            for (int64_t c = 0; c < dim; c++)
                want[t * dim + c] = (float)((float)want[t * dim + c] + table[row * (size_t)dim + (size_t)c]);
        }
        if (r % 10 == 9) { /* read back now and then; otherwise replays follow each other on the queue */
            float got[5 * 7];
            CHECK(ctx, mg_tensor_read_f32(x, got, (size_t)(n * dim)));
            test_assert_close(got, want, (size_t)(n * dim), 0.0);
        }
    }
    CHECK(ctx, mg_context_get_stats(ctx, &after));
    cr_expect_eq(after.dispatches - before.dispatches, 2 * replays, "each replay runs the 2 recorded dispatches");
    cr_expect_eq(after.validation_messages, 0);
    mg_recording_free(recording);
    mg_tensor_free(x);
    mg_tensor_free(tt);
    mg_tensor_free(step);
    test_close(ctx);
}

Test(replay, transfers_while_capturing_are_refused)
{
    mg_context *ctx = test_vulkan_context();
    int64_t shape[1] = {4};
    float values[4] = {1, 2, 3, 4}, got[4];
    mg_tensor *a = test_tensor(ctx, MG_DTYPE_F32, 1, shape, values);
    CHECK(ctx, mg_recording_begin(ctx));
    cr_expect_eq(mg_recording_begin(ctx), MG_ERR_INTERNAL, "a second capture must be refused");
    cr_expect_eq(mg_tensor_write_f32(a, values, 4), MG_ERR_INTERNAL);
    cr_expect(strstr(mg_context_last_error(ctx), "capturing") != NULL, "%s", mg_context_last_error(ctx));
    cr_expect_eq(mg_tensor_read_f32(a, got, 4), MG_ERR_INTERNAL);
    CHECK(ctx, mg_op_scale(ctx, a, 2.0f, 0.0f, a));
    mg_recording_abort(ctx); /* discarded: never runs */
    CHECK(ctx, mg_tensor_read_f32(a, got, 4));
    for (int i = 0; i < 4; i++)
        cr_expect_eq(got[i], values[i], "an aborted capture must not run");
    mg_tensor_free(a);
    test_close(ctx);
}

Test(replay, recordings_are_refused_on_the_cpu_and_when_switched_off)
{
    mg_context *cpu = test_cpu_context();
    cr_expect(!mg_recording_available(cpu));
    cr_expect_eq(mg_recording_begin(cpu), MG_ERR_UNSUPPORTED);
    mg_context_destroy(cpu);
    mg_context *ctx = test_vulkan_context();
    cr_expect(mg_recording_available(ctx));
    setenv("MESHGPT_REPLAY", "0", 1);
    cr_expect(!mg_recording_available(ctx));
    unsetenv("MESHGPT_REPLAY");
    test_close(ctx);
}

/* A recording, the tensors it binds, and a decoding stream with recorded steps, all freed after the context is
 * destroyed: nothing may touch the released device (the sanitizer build checks memory). */
Test(replay, freeing_after_context_destroy_is_safe)
{
    mg_context *ctx = test_vulkan_context();
    int64_t shape[1] = {8};
    float values[8] = {0};
    mg_tensor *a = test_tensor(ctx, MG_DTYPE_F32, 1, shape, values);
    CHECK(ctx, mg_recording_begin(ctx));
    mg_tensor *temporary = test_empty(ctx, MG_DTYPE_F32, 1, shape);
    CHECK(ctx, mg_op_scale(ctx, a, 2.0f, 1.0f, temporary));
    CHECK(ctx, mg_op_scale(ctx, temporary, 1.0f, 0.0f, a));
    mg_tensor_free(temporary);
    mg_recording *recording = NULL;
    CHECK(ctx, mg_recording_end(ctx, &recording));
    CHECK(ctx, mg_recording_replay(recording)); /* still in flight when the context goes */

    mg_model *model = NULL;
    CHECK(ctx, mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model));
    test_npy text = test_npy_load("text_embeds");
    mg_tf_text t = {.embeds = text.f32, .tokens = (size_t)text.shape[1]};
    mg_tf_stream *stream = NULL;
    CHECK(ctx, mg_tf_stream_create(&model->transformer, 1, 12, &t, &stream));
    int32_t tokens[12] = {3, 9, 27, 81, 243, 217, 139, 161, 227, 169, 251, 241};
    float logits[257];
    for (size_t i = 0; i < 8; i++) /* a start, token and face step: both kinds recorded */
        CHECK(ctx, mg_tf_stream_step(stream, tokens, 12, i, logits));

    mg_context_stats stats;
    CHECK(ctx, mg_context_get_stats(ctx, &stats));
    cr_expect_eq(stats.validation_messages, 0);
    mg_context_destroy(ctx);
    cr_expect_eq(mg_recording_replay(recording), MG_ERR_CONTEXT_DESTROYED);
    mg_recording_free(recording);
    mg_tf_stream_free(stream);
    mg_model_free(model);
    mg_tensor_free(a);
    test_npy_free(&text);
}

static size_t argmax(const float *row, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

/* Two streams over the fixture model stepped with the same tokens (greedy from the replayed stream's logits,
 * so faces complete and both step kinds repeat): one replays recorded steps, the other records every step anew
 * (MESHGPT_REPLAY=0). Logits must be identical bit for bit, batch 3 with text. The fresh stream is made after
 * the replayed one has captured both kinds of step, so its caches may take memory the captures freed: the
 * recordings must keep what they bind. */
Test(replay, replayed_decoding_equals_fresh_recording)
{
    enum { BATCH = 3, TOKENS = 48, VOCAB = 257, FRESH_FROM = 8 };
    mg_context *ctx = test_vulkan_context();
    mg_model *model = NULL;
    CHECK(ctx, mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model));
    test_npy text = test_npy_load("text_embeds_batch");
    mg_tf_text t = {.embeds = text.f32, .tokens = (size_t)text.shape[1]};
    mg_tf_stream *replayed = NULL, *fresh = NULL;
    CHECK(ctx, mg_tf_stream_create(&model->transformer, BATCH, TOKENS, &t, &replayed));
    static int32_t tokens[BATCH * TOKENS];
    static float a[TOKENS][BATCH * VOCAB], b[BATCH * VOCAB];
    size_t differing_steps = 0, fresh_steps = 0;
    for (size_t step = 0; step < TOKENS; step++) {
        CHECK(ctx, mg_tf_stream_step(replayed, tokens, TOKENS, step, a[step]));
        for (size_t r = 0; r < BATCH; r++) /* never EOS (256): keep decoding whole faces */
            tokens[r * TOKENS + step] = (int32_t)argmax(a[step] + r * VOCAB, VOCAB - 1);
        if (step + 1 == FRESH_FROM)
            CHECK(ctx, mg_tf_stream_create(&model->transformer, BATCH, TOKENS, &t, &fresh));
        for (; fresh && fresh_steps <= step; fresh_steps++) { /* catch up, then step along */
            setenv("MESHGPT_REPLAY", "0", 1);
            mg_status status = mg_tf_stream_step(fresh, tokens, TOKENS, fresh_steps, b);
            unsetenv("MESHGPT_REPLAY");
            CHECK(ctx, status);
            differing_steps += memcmp(a[fresh_steps], b, sizeof b) != 0;
        }
    }
    cr_expect_eq(fresh_steps, TOKENS);
    cr_expect_eq(differing_steps, 0, "%zu of %d steps gave other logits when replayed", differing_steps, TOKENS);
    mg_tf_stream_free(replayed);
    mg_tf_stream_free(fresh);
    mg_model_free(model);
    test_npy_free(&text);
    test_close(ctx);
}
