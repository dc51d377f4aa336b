/*
 * Training an autoencoder with the ResidualVQ quantizer (use_residual_lfq =
 * false): the commitment loss and the codebook's EMA update equal their
 * formulas computed here from the quantizer's input (nearest codes found by
 * brute force), the gradients match central finite differences (decoder
 * side: the loss; encoder side: the straight-through surrogate with the codes
 * fixed), k-means initialises an empty codebook, Vulkan equals the CPU, and a
 * small model memorises meshes and saves a loadable file.
 */
#include "test_ae_train_common.h"

#include <criterion/criterion.h>

static void rvq_config(mg_model_config *config, bool small)
{
    if (small)
        small_config(config, 64);
    else
        tiny_config(config, 16);
    config->autoencoder.use_residual_lfq = false;
}

static mg_tensor *param(mg_trainable *tr, const char *name)
{
    long i = mg_ae_trainable_find(tr, name);
    cr_assert_geq(i, 0, "no parameter %s", name);
    return tr->params[i].value;
}

static mg_tensor *grad_of(mg_trainable *tr, const char *name)
{
    return tr->grads[mg_ae_trainable_find(tr, name)];
}

static void zero_all(mg_trainable *tr)
{
    for (size_t i = 0; i < tr->count; i++)
        if (tr->grads[i])
            cr_assert_eq(mg_tensor_fill_u32(tr->grads[i], 0), MG_OK);
}

static void adam_trained(mg_trainable *tr, double lr, uint64_t step)
{
    mg_adam_config config = mg_adam_default_config();
    config.lr = lr;
    for (size_t i = 0; i < tr->count; i++) {
        mg_train_param *p = &tr->params[i];
        if (!tr->grads[i])
            continue; /* the codebook: EMA-updated, not by the optimizer */
        mg_adam_step s = mg_adam_step_for(&config, step, 0, p->value->ndim);
        cr_assert_eq(mg_op_adam_step(tr->ctx, &s, p->value, tr->grads[i], p->adam_m, p->adam_v), MG_OK);
    }
}

static const char *const buffer_names[4] = {"quantizer.layers.0._codebook.initted",
                                            "quantizer.layers.0._codebook.cluster_size",
                                            "quantizer.layers.0._codebook.embed_avg",
                                            "quantizer.layers.0._codebook.embed"};

typedef struct codebook_copy {
    float *values[4];
} codebook_copy;

static codebook_copy save_codebook(mg_trainable *tr)
{
    codebook_copy c;
    for (int i = 0; i < 4; i++)
        c.values[i] = test_read(param(tr, buffer_names[i]));
    return c;
}

static void restore_codebook(mg_trainable *tr, codebook_copy *c)
{
    for (int i = 0; i < 4; i++) {
        mg_tensor *t = param(tr, buffer_names[i]);
        cr_assert_eq(mg_tensor_write_f32(t, c->values[i], t->count), MG_OK);
        free(c->values[i]);
    }
}

/* The quantizer's input [V, D] and the used-vertex mask, from an eval-mode forward. */
static float *quantizer_input(mg_trainable *tr, const mg_train_batch *batch, int32_t **mask, size_t *vertices)
{
    ae_train *t = tr->impl;
    ae_forward f;
    cr_assert_eq(ae_forward_run(t, batch, &f), MG_OK, "%s", mg_context_last_error(tr->ctx));
    float *x = test_read(f.vertex_embed);
    *vertices = f.vertices;
    *mask = malloc(f.vertices * sizeof **mask);
    memcpy(*mask, f.vertex_mask, f.vertices * sizeof **mask);
    ae_forward_free(&f);
    return x;
}

/* Brute-force residual quantization: codes [V, levels], level inputs [levels][V, D]; returns the commitment
 * loss (sum over levels of the mean squared remainder over used rows and channels). */
static double reference_rvq(const float *x, const int32_t *mask, size_t V, size_t D, const float *codebook, size_t K,
                            int levels, int32_t *codes, double *inputs)
{
    double commit = 0.0;
    size_t used = 0;
    for (size_t v = 0; v < V; v++)
        used += mask[v] != 0;
    for (size_t v = 0; v < V; v++) {
        double r[64];
        for (size_t d = 0; d < D; d++)
            r[d] = x[v * D + d];
        for (int q = 0; q < levels; q++) {
            for (size_t d = 0; d < D; d++)
                inputs[((size_t)q * V + v) * D + d] = r[d];
            size_t best = 0;
            double best_dist = INFINITY;
            for (size_t k = 0; k < K; k++) {
                double dist = 0.0;
                for (size_t d = 0; d < D; d++)
                    dist += (r[d] - codebook[k * D + d]) * (r[d] - codebook[k * D + d]);
                if (dist < best_dist) {
                    best_dist = dist;
                    best = k;
                }
            }
            codes[v * (size_t)levels + (size_t)q] = (int32_t)best;
            for (size_t d = 0; d < D; d++)
                r[d] -= codebook[best * D + d];
            if (mask[v])
                for (size_t d = 0; d < D; d++)
                    commit += r[d] * r[d] / ((double)used * (double)D);
        }
    }
    return commit;
}

/* A known, initialised codebook with every cluster_size high enough that no code dies in one update. */
static void set_codebook(mg_trainable *tr, size_t K, size_t D, uint32_t seed)
{
    float *embed = malloc(K * D * sizeof *embed), *avg = malloc(K * D * sizeof *avg), *cluster = malloc(K * 4);
    test_fill_uniform(embed, K * D, seed, -1.0f, 1.0f);
    test_fill_uniform(cluster, K, seed + 1, 5.0f, 10.0f);
    for (size_t k = 0; k < K; k++)
        for (size_t d = 0; d < D; d++)
            avg[k * D + d] = embed[k * D + d] * cluster[k];
    const float one = 1.0f;
    cr_assert_eq(mg_tensor_write_f32(param(tr, buffer_names[0]), &one, 1), MG_OK);
    cr_assert_eq(mg_tensor_write_f32(param(tr, buffer_names[1]), cluster, K), MG_OK);
    cr_assert_eq(mg_tensor_write_f32(param(tr, buffer_names[2]), avg, K * D), MG_OK);
    cr_assert_eq(mg_tensor_write_f32(param(tr, buffer_names[3]), embed, K * D), MG_OK);
    free(embed);
    free(avg);
    free(cluster);
}

Test(train_variants_rvq, commitment_loss_and_ema_update_match_their_formulas, .timeout = 120)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    rvq_config(&config, false);
    const size_t K = (size_t)config.autoencoder.codebook_size, D = (size_t)config.autoencoder.dim_codebook;
    const int levels = config.autoencoder.num_quantizers;
    mg_trainable *tr = fresh_trainable(ctx, &config, 3);
    mg_mesh meshes[2] = {test_tetra(), test_pyramid()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 2, &batch);
    set_codebook(tr, K, D, 5);

    int32_t *mask = NULL;
    size_t V = 0;
    float *x = quantizer_input(tr, &batch, &mask, &V);
    float *codebook = test_read(param(tr, buffer_names[3]));
    float *cluster0 = test_read(param(tr, buffer_names[1])), *avg0 = test_read(param(tr, buffer_names[2]));
    int32_t *codes = malloc(V * (size_t)levels * sizeof *codes);
    double *inputs = malloc((size_t)levels * V * D * sizeof *inputs);
    const double commit = reference_rvq(x, mask, V, D, codebook, K, levels, codes, inputs);

    /* eval: the loss, and the codebook untouched */
    mg_train_losses eval = run_step(tr, &batch, false, 1.0f);
    const double want = config.autoencoder.commit_loss_weight * commit;
    cr_log_info("quantizer loss %.8f, formula %.8f", eval.values[1], want);
    cr_expect_leq(fabs(eval.values[1] - want), 1e-6 + 1e-5 * want, "quantizer loss %.8f, formula %.8f",
                  eval.values[1], want);
    float *unchanged = test_read(param(tr, buffer_names[3]));
    cr_expect_eq(memcmp(unchanged, codebook, K * D * sizeof(float)), 0, "an eval pass changed the codebook");

    /* training: per level, cluster_size and embed_avg move 20 % toward this batch's counts and sums; then
     * embed = embed_avg / laplace-smoothed cluster size (no code falls below 2 here) */
    zero_all(tr);
    mg_train_losses train = run_step(tr, &batch, true, 1.0f);
    cr_expect_leq(fabs(train.values[1] - eval.values[1]), 1e-7, "training and eval losses differ");
    double *cluster = malloc(K * sizeof *cluster), *avg = malloc(K * D * sizeof *avg);
    for (size_t k = 0; k < K; k++) {
        cluster[k] = cluster0[k];
        for (size_t d = 0; d < D; d++)
            avg[k * D + d] = avg0[k * D + d];
    }
    for (int q = 0; q < levels; q++) {
        double *count = calloc(K, sizeof *count), *sum = calloc(K * D, sizeof *sum);
        for (size_t v = 0; v < V; v++) {
            if (!mask[v])
                continue;
            size_t k = (size_t)codes[v * (size_t)levels + (size_t)q];
            count[k] += 1.0;
            for (size_t d = 0; d < D; d++)
                sum[k * D + d] += inputs[((size_t)q * V + v) * D + d];
        }
        for (size_t k = 0; k < K; k++) {
            cluster[k] = 0.8 * cluster[k] + 0.2 * count[k];
            for (size_t d = 0; d < D; d++)
                avg[k * D + d] = 0.8 * avg[k * D + d] + 0.2 * sum[k * D + d];
        }
        free(count);
        free(sum);
    }
    double n = 0.0;
    for (size_t k = 0; k < K; k++)
        n += cluster[k];
    float *got_cluster = test_read(param(tr, buffer_names[1]));
    float *got_avg = test_read(param(tr, buffer_names[2])), *got_embed = test_read(param(tr, buffer_names[3]));
    for (size_t k = 0; k < K; k++) {
        cr_expect_leq(fabs(got_cluster[k] - cluster[k]), 1e-5, "cluster_size[%zu] %.6f, formula %.6f", k,
                      got_cluster[k], cluster[k]);
        const double smoothed = (cluster[k] + 1e-5) / (n + (double)K * 1e-5) * n;
        for (size_t d = 0; d < D; d++) {
            cr_expect_leq(fabs(got_avg[k * D + d] - avg[k * D + d]), 1e-5);
            cr_expect_leq(fabs(got_embed[k * D + d] - avg[k * D + d] / smoothed), 1e-5, "embed[%zu, %zu]", k, d);
        }
    }
    free(got_cluster);
    free(got_avg);
    free(got_embed);
    free(cluster);
    free(avg);
    free(unchanged);
    free(codebook);
    free(cluster0);
    free(avg0);
    free(codes);
    free(inputs);
    free(x);
    free(mask);
    test_batch_free(&batch);
    trainable_free(tr);
    test_close(ctx);
}

Test(train_variants_rvq, dead_codes_are_replaced_and_kmeans_initialises, .timeout = 120)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    rvq_config(&config, false);
    const size_t K = (size_t)config.autoencoder.codebook_size, D = (size_t)config.autoencoder.dim_codebook;
    mg_trainable *tr = fresh_trainable(ctx, &config, 4);
    mg_mesh meshes[2] = {test_tetra(), test_pyramid()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 2, &batch);
    float initted = -1.0f;
    cr_assert_eq(mg_tensor_read_f32(param(tr, buffer_names[0]), &initted, 1), MG_OK);
    cr_expect_eq(initted, 0.0f, "a fresh codebook is uninitialised (kmeans_init)");

    int32_t *mask = NULL;
    size_t V = 0;
    float *x = quantizer_input(tr, &batch, &mask, &V); /* this eval pass runs k-means, as upstream */
    cr_assert_eq(mg_tensor_read_f32(param(tr, buffer_names[0]), &initted, 1), MG_OK);
    cr_expect_eq(initted, 1.0f);
    size_t used = 0;
    for (size_t v = 0; v < V; v++)
        used += mask[v] != 0;
    float *cluster = test_read(param(tr, buffer_names[1]));
    float *avg = test_read(param(tr, buffer_names[2])), *embed = test_read(param(tr, buffer_names[3]));
    double total = 0.0;
    for (size_t k = 0; k < K; k++) {
        total += cluster[k];
        for (size_t d = 0; d < D; d++)
            cr_expect_leq(fabs(avg[k * D + d] - embed[k * D + d] * cluster[k]), 1e-5);
    }
    cr_expect_eq(total, (double)used, "k-means bins hold %.1f of %zu vectors", total, used);
    /* every k-means centre with members is the mean of some of the inputs: inside their bounding box */
    for (size_t k = 0; k < K; k++)
        for (size_t d = 0; d < D && cluster[k] > 0.0f; d++) {
            float lo = INFINITY, hi = -INFINITY;
            for (size_t v = 0; v < V; v++)
                if (mask[v]) {
                    lo = fminf(lo, x[v * D + d]);
                    hi = fmaxf(hi, x[v * D + d]);
                }
            cr_expect(embed[k * D + d] >= lo - 1e-6f && embed[k * D + d] <= hi + 1e-6f);
        }
    free(cluster);
    free(avg);
    free(embed);

    /* 9 vertices, 16 codes: after a training step the codes that fell below 2 hold one of the batch's
     * level inputs, with cluster_size 2 and embed_avg = 2 * embed */
    zero_all(tr);
    run_step(tr, &batch, true, 1.0f);
    cluster = test_read(param(tr, buffer_names[1]));
    avg = test_read(param(tr, buffer_names[2]));
    embed = test_read(param(tr, buffer_names[3]));
    size_t replaced = 0;
    for (size_t k = 0; k < K; k++) {
        cr_expect_geq(cluster[k], 2.0f - 1e-6f, "code %zu stayed dead (%.4f)", k, cluster[k]);
        if (cluster[k] != 2.0f)
            continue;
        replaced++;
        for (size_t d = 0; d < D; d++)
            cr_expect_leq(fabs(avg[k * D + d] - 2.0f * embed[k * D + d]), 1e-6);
    }
    cr_log_info("%zu of %zu codes replaced", replaced, K);
    cr_expect_gt(replaced, 0u);
    free(cluster);
    free(avg);
    free(embed);
    free(x);
    free(mask);
    test_batch_free(&batch);
    trainable_free(tr);
    test_close(ctx);
}

/* Finite differences, with the codebook as the analytic pass saw it. Decoder-side parameters: the total loss.
 * Encoder-side: the commitment loss plus <levels * d_quantized, x> (the straight-through surrogate), valid
 * while the codes do not change. */
static double objective(mg_trainable *tr, const mg_train_batch *batch, const float *d_quantized, bool decoder_side,
                        const int32_t *base_codes, bool *same)
{
    ae_train *t = tr->impl;
    ae_forward f;
    cr_assert_eq(ae_forward_run(t, batch, &f), MG_OK);
    const size_t n = f.vertices * (size_t)t->config.num_quantizers;
    *same = memcmp(f.rvq_ids, base_codes, n * sizeof(int32_t)) == 0;
    double value = f.recon + f.quantizer;
    if (!decoder_side) {
        float *x = test_read(f.vertex_embed);
        value = f.quantizer;
        for (size_t i = 0; i < f.vertex_embed->count; i++)
            value += (double)t->config.num_quantizers * d_quantized[i] * x[i];
        free(x);
    }
    ae_forward_free(&f);
    return value;
}

static bool is_decoder_side(const char *name)
{
    return strncmp(name, "init_decoder_conv", 17) == 0 || strncmp(name, "decoders.", 9) == 0 ||
           strncmp(name, "to_coor_logits", 14) == 0;
}

Test(train_variants_rvq, gradients_match_finite_differences, .timeout = 180)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    rvq_config(&config, false);
    config.autoencoder.commit_loss_weight = 1.0f; /* a commitment gradient as large as the rest */
    mg_trainable *tr = fresh_trainable(ctx, &config, 11);
    ae_train *t = tr->impl;
    mg_mesh meshes[2] = {test_tetra(), test_pyramid()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 2, &batch);
    run_step(tr, &batch, false, 1.0f); /* k-means */
    /* the decoder's gradient at the quantized vectors (the surrogate's weights), then the analytic gradients
     * of one training step, whose EMA update of the codebook is undone */
    ae_forward f;
    cr_assert_eq(ae_forward_run(t, &batch, &f), MG_OK);
    mg_tensor *d_q = NULL;
    cr_assert_eq(ae_backward_decoder(t, &f, 1.0f, &d_q), MG_OK);
    float *d_quantized = test_read(d_q);
    const size_t n_codes = f.vertices * (size_t)config.autoencoder.num_quantizers;
    int32_t *base_codes = malloc(n_codes * sizeof *base_codes);
    memcpy(base_codes, f.rvq_ids, n_codes * sizeof *base_codes);
    ae_forward_free(&f);
    codebook_copy saved = save_codebook(tr);
    zero_all(tr);
    run_step(tr, &batch, true, 1.0f);
    restore_codebook(tr, &saved);

    const float eps = 1e-3f;
    size_t checked = 0, skipped = 0;
    for (size_t i = 0; i < tr->count; i++) {
        if (!tr->grads[i])
            continue;
        const bool decoder_side = is_decoder_side(tr->params[i].name);
        mg_tensor *value = tr->params[i].value;
        float *grad = test_read(tr->grads[i]), *values = test_read(value);
        size_t largest = 0;
        for (size_t k = 1; k < value->count; k++)
            largest = fabsf(grad[k]) > fabsf(grad[largest]) ? k : largest;
        size_t picks[2] = {largest, (i * 7919u + 5u) % value->count};
        for (int pi = 0; pi < 2; pi++) {
            const size_t k = picks[pi];
            const float base = values[k];
            bool same_plus, same_minus;
            values[k] = base + eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            double plus = objective(tr, &batch, d_quantized, decoder_side, base_codes, &same_plus);
            values[k] = base - eps;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            double minus = objective(tr, &batch, d_quantized, decoder_side, base_codes, &same_minus);
            values[k] = base;
            cr_assert_eq(mg_tensor_write_f32(value, values, value->count), MG_OK);
            if (!same_plus || !same_minus) {
                skipped++;
                continue;
            }
            const double fd = (plus - minus) / (2.0 * eps), an = grad[k];
            cr_expect_leq(fabs(fd - an), 2e-3 + 2e-2 * fabs(an), "%s[%zu]: analytic %.6g, finite difference %.6g",
                          tr->params[i].name, k, an, fd);
            checked++;
        }
        free(grad);
        free(values);
    }
    cr_log_info("%zu gradients checked, %zu skipped (a code changed)", checked, skipped);
    cr_expect_gt(checked, 40u);
    cr_expect_null(grad_of(tr, "quantizer.layers.0._codebook.embed"), "the codebook has no gradient");
    free(base_codes);
    free(d_quantized);
    test_batch_free(&batch);
    trainable_free(tr);
    test_close(ctx);
}

Test(train_variants_rvq, vulkan_matches_cpu, .timeout = 300)
{
    mg_context *cpu = test_cpu_context(), *gpu = test_vulkan_context();
    mg_model_config config;
    rvq_config(&config, false);
    mg_trainable *a = fresh_trainable(cpu, &config, 6), *b = fresh_trainable(gpu, &config, 6);
    mg_mesh meshes[2] = {test_tetra(), test_cube()};
    mg_train_batch ba, bb;
    test_batch(cpu, meshes, 2, &ba);
    test_batch(gpu, meshes, 2, &bb);
    zero_all(a);
    zero_all(b);
    mg_rng ra, rb;
    mg_rng_seed(&ra, 77);
    mg_rng_seed(&rb, 77);
    mg_train_losses la, lb;
    cr_assert_eq(a->step(a, &ba, true, 1.0f, &ra, &la), MG_OK, "%s", mg_context_last_error(cpu));
    cr_assert_eq(b->step(b, &bb, true, 1.0f, &rb, &lb), MG_OK, "%s", mg_context_last_error(gpu));
    cr_log_info("cpu recon %.6f commit %.6f, vulkan %.6f %.6f", la.values[0], la.values[1], lb.values[0],
                lb.values[1]);
    cr_expect_leq(fabs(la.total - lb.total), 1e-5 * fabs(la.total));
    size_t compared = 0;
    for (size_t i = 0; i < a->count; i++) {
        mg_tensor *ta = a->grads[i] ? a->grads[i] : a->params[i].value;
        mg_tensor *tb = b->grads[i] ? b->grads[i] : b->params[i].value; /* the codebook after its update */
        float *va = test_read(ta), *vb = test_read(tb);
        double norm = 0.0;
        for (size_t k = 0; k < ta->count; k++)
            norm += (double)va[k] * va[k];
        if (norm > 0.0) {
            test_compare(a->params[i].name, vb, va, ta->count, 1e-6);
            compared++;
        }
        free(va);
        free(vb);
    }
    cr_log_info("%zu tensors compared", compared);
    cr_expect_gt(compared, 20u);
    test_batch_free(&ba);
    test_batch_free(&bb);
    trainable_free(a);
    trainable_free(b);
    test_close(cpu);
    test_close(gpu);
}

/* A small ResidualVQ autoencoder memorises three meshes; its saved file loads, tokenizes and decodes. */
Test(train_variants_rvq, overfits_and_saves_a_loadable_model, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    rvq_config(&config, true);
    mg_trainable *tr = fresh_trainable(ctx, &config, 2);
    mg_mesh meshes[3] = {test_cube(), test_pyramid(), test_tetra()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 3, &batch);
    double first = 0.0, last = 0.0;
    enum { STEPS = 200 };
    for (int step = 1; step <= STEPS; step++) {
        zero_all(tr);
        mg_train_losses l = run_step(tr, &batch, true, 1.0f);
        if (step == 1)
            first = l.values[0];
        adam_trained(tr, 3e-3, (uint64_t)step);
    }
    mg_train_losses final = run_step(tr, &batch, false, 1.0f);
    last = final.values[0];
    cr_log_info("recon %.4f -> %.4f, commitment term %.5f", first, last, final.values[1]);
    cr_expect_lt(last, 0.25 * first, "recon %.4f -> %.4f", first, last);

    char path[] = "test_rvq_overfit.safetensors";
    cr_assert_eq(tr->save_model(tr, path, false), MG_OK, "%s", mg_context_last_error(ctx));
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = MG_PREPROCESS_NONE;
    mg_tokens tokens[3];
    mg_mesh decoded[3];
    cr_assert_eq(mg_tokenize(model, meshes, 3, &params, tokens, NULL), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_decode(model, tokens, 3, decoded), MG_OK, "%s", mg_context_last_error(ctx));
    size_t faces = 0, exact = 0;
    for (int m = 0; m < 3; m++) {
        cr_assert_eq(decoded[m].num_faces, meshes[m].num_faces);
        for (size_t f = 0; f < meshes[m].num_faces; f++) {
            bool same = true;
            for (size_t k = 0; k < 9; k++) {
                float want = meshes[m].vertices[meshes[m].faces[f * 3 + k / 3] * 3 + k % 3];
                float got = decoded[m].vertices[decoded[m].faces[f * 3 + k / 3] * 3 + k % 3];
                same &= mg_discretize(want, -1.0f, 1.0f, 64) == mg_discretize(got, -1.0f, 1.0f, 64);
            }
            faces++;
            exact += same;
        }
        mg_tokens_free(&tokens[m]);
        mg_mesh_free(&decoded[m]);
    }
    cr_log_info("%zu of %zu faces recovered exactly by the saved model", exact, faces);
    cr_expect_geq(exact * 10, faces * 7, "%zu of %zu faces recovered", exact, faces);
    mg_model_free(model);
    remove(path);
    test_batch_free(&batch);
    trainable_free(tr);
    test_close(ctx);
}
