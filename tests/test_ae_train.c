/*
 * The autoencoder trainable on the CPU reference: its reconstruction loss
 * against the eval path (mg_ae_recon_loss of decoded logits) and
 * meshgpt-pytorch's, whole-model gradients against central finite
 * differences, accumulation, fresh initialisation, saving, and what it
 * refuses.
 */
#include "model/model.h"
#include "test_ae_train_common.h"
#include "test_npy.h"

#include <criterion/criterion.h>
#include <stdio.h>

/* ---- the fixture model (meshgpt-pytorch-a) ---- */

#define FIXTURE_MESHES 3
#define FIXTURE_PAD 32
static const char *const FIXTURE_NAMES[FIXTURE_MESHES] = {"cube", "tetra", "cone16"};

typedef struct fixture {
    mg_mesh meshes[FIXTURE_MESHES];
    test_npy vertices[FIXTURE_MESHES], faces[FIXTURE_MESHES];
    int32_t *face_storage[FIXTURE_MESHES];
} fixture;

static void fixture_load(fixture *f)
{
    for (int m = 0; m < FIXTURE_MESHES; m++) {
        char name[64];
        snprintf(name, sizeof name, "mesh_%s_vertices", FIXTURE_NAMES[m]);
        f->vertices[m] = test_npy_load(name);
        snprintf(name, sizeof name, "mesh_%s_faces", FIXTURE_NAMES[m]);
        f->faces[m] = test_npy_load(name);
        f->face_storage[m] = malloc(f->faces[m].count * sizeof(int32_t));
        for (size_t i = 0; i < f->faces[m].count; i++)
            f->face_storage[m][i] = (int32_t)f->faces[m].i64[i];
        f->meshes[m] = test_mesh(f->vertices[m].f32, (size_t)f->vertices[m].shape[0], f->face_storage[m],
                                 (size_t)f->faces[m].shape[0]);
    }
}

static void fixture_free(fixture *f)
{
    for (int m = 0; m < FIXTURE_MESHES; m++) {
        test_npy_free(&f->vertices[m]);
        test_npy_free(&f->faces[m]);
        free(f->face_storage[m]);
    }
}

static mg_model *fixture_model(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    return model;
}

static mg_trainable *model_trainable(mg_context *ctx, const mg_model *model)
{
    mg_ae_train_params params = mg_ae_train_default_params();
    params.model = model;
    mg_trainable *trainable = NULL;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_OK, "%s", mg_context_last_error(ctx));
    return trainable;
}

/* The eval path's loss: tokenize, decode the codes padded to 32 faces, mg_ae_recon_loss against the fixture's
 * discrete face coordinates. */
static double eval_recon_loss(mg_model *model, const mg_mesh_batch *packed)
{
    const mg_autoencoder *ae = &model->autoencoder;
    const size_t levels = 2, fs = 3, slots = FIXTURE_MESHES * FIXTURE_PAD;
    int32_t *codes = malloc(packed->num_faces * fs * levels * sizeof *codes);
    int32_t *padded = malloc(slots * fs * levels * sizeof *padded);
    uint8_t mask[FIXTURE_MESHES * FIXTURE_PAD];
    int32_t *discrete = malloc(slots * fs * 3 * sizeof *discrete);
    float *logits = malloc(slots * fs * 3 * 128 * sizeof *logits);
    int32_t *targets = malloc(slots * fs * 3 * sizeof *targets);
    cr_assert_eq(mg_ae_tokenize(ae, packed, codes, NULL), MG_OK, "%s", mg_context_last_error(model->ctx));
    for (size_t m = 0; m < FIXTURE_MESHES; m++) {
        size_t first = packed->face_offsets[m], n = packed->face_offsets[m + 1] - first;
        for (size_t i = 0; i < FIXTURE_PAD; i++) {
            mask[m * FIXTURE_PAD + i] = i < n;
            for (size_t k = 0; k < fs * levels; k++)
                padded[(m * FIXTURE_PAD + i) * fs * levels + k] = i < n ? codes[(first + i) * fs * levels + k] : -1;
        }
    }
    cr_assert_eq(mg_ae_decode(ae, padded, FIXTURE_MESHES, FIXTURE_PAD, mask, discrete, logits, NULL), MG_OK);
    test_npy expected = test_npy_load("ae_discrete_face_coords");
    for (size_t i = 0; i < slots * 9; i++)
        targets[i] = (int32_t)expected.i64[i];
    double loss = mg_ae_recon_loss(&ae->config, logits, targets, mask, slots);
    test_npy_free(&expected);
    free(codes);
    free(padded);
    free(discrete);
    free(logits);
    free(targets);
    return loss;
}

Test(ae_train, recon_loss_matches_eval_and_meshgpt_pytorch)
{
    mg_context *ctx = test_cpu_context();
    fixture f;
    fixture_load(&f);
    mg_model *model = fixture_model(ctx);
    mg_trainable *trainable = model_trainable(ctx, model);
    mg_train_batch batch;
    test_batch(ctx, f.meshes, FIXTURE_MESHES, &batch);
    mg_train_losses losses = run_step(trainable, &batch, false, 1.0f);
    cr_assert_eq(losses.terms, 2);
    cr_assert_str_eq(losses.names[0], "recon");
    cr_assert_str_eq(losses.names[1], "quantizer");
    double eval = eval_recon_loss(model, &batch.packed);
    cr_log_info("train recon %.9f, eval %.9f, meshgpt-pytorch 5.00663948059082; quantizer %.6f (upstream's "
                "0.2717 includes its masking quirks)",
                losses.values[0], eval, losses.values[1]);
    cr_expect_leq(fabs(losses.values[0] - eval), 1e-6, "train %.9f vs eval %.9f", losses.values[0], eval);
    cr_expect_leq(fabs(losses.values[0] - 5.00663948059082), 1e-4, "recon %.9f", losses.values[0]);
    cr_expect_leq(fabs(losses.total - losses.values[0] - losses.values[1]), 1e-12);
    /* the intended quantizer terms: per level 0.1 * softplus(H_sample - H_codebook + 5) + commit >= 0.1 *
     * softplus(5 - log 2^8) > 0, so the weighted sum is positive and below upstream's inflated one */
    cr_expect_gt(losses.values[1], 0.0);
    cr_expect_lt(losses.values[1], 0.2717);
    test_batch_free(&batch);
    trainable_free(trainable);
    mg_model_free(model);
    fixture_free(&f);
    test_close(ctx);
}

/* Saving the fine-tuned (here: unchanged) model writes a file whose tokens are meshgpt-pytorch's. */
Test(ae_train, saved_model_tokenizes_like_the_original)
{
    mg_context *ctx = test_cpu_context();
    fixture f;
    fixture_load(&f);
    mg_model *model = fixture_model(ctx);
    mg_trainable *trainable = model_trainable(ctx, model);
    mg_model_free(model);
    const char *path = "test_ae_train_saved.safetensors";
    cr_assert_eq(trainable->save_model(trainable, path, true), MG_OK, "%s", mg_context_last_error(ctx));
    trainable_free(trainable);
    mg_model *saved = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &saved), MG_OK, "%s", mg_context_last_error(ctx));
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = MG_PREPROCESS_NONE;
    mg_tokens tokens;
    cr_assert_eq(mg_tokenize(saved, &f.meshes[0], 1, &params, &tokens, NULL), MG_OK, "%s",
                 mg_context_last_error(ctx));
    test_npy expected = test_npy_load("ae_tokenize_cube");
    cr_assert_eq(tokens.num_faces * 3 * 2, expected.count);
    for (size_t i = 0; i < expected.count; i++)
        cr_expect_eq(tokens.tokens[i], (int32_t)expected.i64[i], "token %zu", i);
    test_npy_free(&expected);
    mg_tokens_free(&tokens);
    mg_model_free(saved);
    remove(path);
    fixture_free(&f);
    test_close(ctx);
}

/* ---- gradients against finite differences ---- */

typedef struct fd_setup {
    mg_trainable *trainable;
    ae_train *t;
    mg_train_batch batch;
    float *straight_through; /* [V, code_dim]: d(loss)/d(quantized LFQ values), fixed at the base point */
    int32_t *base_indices;
    size_t vertices, code_dim;
} fd_setup;

/* Sum over levels of the soft-clamped residuals xq, the quantity the straight-through estimator passes the
 * decoder's gradient to (the residual walk subtracts the detached +-2^-q values). */
static double clamped_sum_dot(const float *x, const float *weights, size_t rows, size_t d, int levels, float clamp)
{
    double total = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < d; k++) {
            double residual = x[r * d + k], sum = 0.0;
            for (int q = 0; q < levels; q++) {
                double scale = ldexp(1.0, -q), c = (double)clamp * scale;
                double xq = clamp > 0.0f ? c * tanh(residual / c) : residual;
                sum += xq;
                residual -= xq > 0.0 ? scale : -scale;
            }
            total += (double)weights[r * d + k] * sum;
        }
    return total;
}

/*
 * The function whose finite differences the analytic gradient must match:
 *  - decoder-side parameters (nothing upstream of the codes): the total loss itself;
 *  - encoder-side parameters: the quantizer loss plus <straight_through, sum_q xq_q>, the straight-through
 *    surrogate (the real loss is piecewise constant in them through the codes).
 * *same_codes: whether the codes equal those at the base point (a flip invalidates the difference).
 */
static double fd_objective(fd_setup *s, bool decoder_side, bool *same_codes)
{
    ae_forward f;
    cr_assert_eq(ae_forward_run(s->t, &s->batch, &f), MG_OK, "%s", mg_context_last_error(s->trainable->ctx));
    int32_t *indices = malloc(f.lfq_indices->nbytes);
    cr_assert_eq(mg_tensor_read(f.lfq_indices, indices, f.lfq_indices->nbytes), MG_OK);
    *same_codes = memcmp(indices, s->base_indices, f.lfq_indices->nbytes) == 0;
    free(indices);
    double value;
    if (decoder_side) {
        value = f.recon + f.quantizer;
    } else {
        float *x = test_read(f.lfq_in);
        value = f.quantizer + clamped_sum_dot(x, s->straight_through, s->vertices, s->code_dim,
                                              s->t->config.num_quantizers, s->t->config.lfq_soft_clamp);
        free(x);
    }
    ae_forward_free(&f);
    return value;
}

static bool is_decoder_side(const char *name)
{
    return strncmp(name, "init_decoder_conv", 17) == 0 || strncmp(name, "decoders.", 9) == 0 ||
           strncmp(name, "to_coor_logits", 14) == 0 || strncmp(name, "quantizer.project_out", 21) == 0;
}

Test(ae_train, gradients_match_finite_differences, .timeout = 120)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    tiny_config(&config, 16);
    fd_setup s = {0};
    s.trainable = fresh_trainable(ctx, &config, 11);
    s.t = s.trainable->impl;
    mg_mesh meshes[2] = {test_tetra(), test_pyramid()};
    test_batch(ctx, meshes, 2, &s.batch);

    /* analytic gradients of the total loss */
    zero_grads(s.trainable);
    run_step(s.trainable, &s.batch, true, 1.0f);

    /* the straight-through weights: the decoder's gradient at the quantized values, through project_out */
    ae_forward f;
    cr_assert_eq(ae_forward_run(s.t, &s.batch, &f), MG_OK);
    mg_tensor *d_quantized = NULL;
    cr_assert_eq(ae_backward_decoder(s.t, &f, 1.0f, &d_quantized), MG_OK);
    s.vertices = (size_t)f.lfq_in->shape[0];
    s.code_dim = (size_t)f.lfq_in->shape[1];
    const size_t dim = (size_t)config.autoencoder.dim_codebook;
    float *dq = test_read(d_quantized);
    float *w_out = test_read(s.trainable->params[mg_ae_trainable_find(s.trainable, "quantizer.project_out.weight")]
                                 .value); /* [dim, code_dim] */
    s.straight_through = calloc(s.vertices * s.code_dim, sizeof(float));
    for (size_t v = 0; v < s.vertices; v++)
        for (size_t k = 0; k < s.code_dim; k++) {
            double sum = 0.0;
            for (size_t j = 0; j < dim; j++)
                sum += (double)dq[v * dim + j] * w_out[j * s.code_dim + k];
            s.straight_through[v * s.code_dim + k] = (float)sum;
        }
    s.base_indices = malloc(f.lfq_indices->nbytes);
    cr_assert_eq(mg_tensor_read(f.lfq_indices, s.base_indices, f.lfq_indices->nbytes), MG_OK);
    ae_forward_free(&f);
    free(dq);
    free(w_out);
    /* the decoder backward above added to the decoder's gradients: re-run the full step from zero */
    zero_grads(s.trainable);
    run_step(s.trainable, &s.batch, true, 1.0f);

    size_t checked = 0, skipped = 0, strong = 0;
    uint32_t pick = 12345;
    for (size_t i = 0; i < s.trainable->count; i++) {
        mg_train_param *p = &s.trainable->params[i];
        const bool decoder_side = is_decoder_side(p->name);
        float *grad = test_read(s.trainable->grads[i]);
        float *values = test_read(p->value);
        size_t n = p->value->count, largest = 0;
        for (size_t k = 1; k < n; k++)
            largest = fabsf(grad[k]) > fabsf(grad[largest]) ? k : largest;
        size_t samples[3] = {largest, 0, 0};
        for (int j = 1; j < 3; j++) {
            pick = pick * 1664525u + 1013904223u;
            samples[j] = (pick >> 8) % n;
        }
        for (int j = 0; j < 3; j++) {
            size_t k = samples[j];
            const float original = values[k];
            double fd = 0.0;
            bool ok = false;
            for (double h = 1e-2; h >= 2e-3 && !ok; h /= 4.0) {
                bool same_plus, same_minus;
                values[k] = original + (float)h;
                cr_assert_eq(mg_tensor_write_f32(p->value, values, n), MG_OK);
                double plus = fd_objective(&s, decoder_side, &same_plus);
                values[k] = original - (float)h;
                cr_assert_eq(mg_tensor_write_f32(p->value, values, n), MG_OK);
                double minus = fd_objective(&s, decoder_side, &same_minus);
                values[k] = original;
                cr_assert_eq(mg_tensor_write_f32(p->value, values, n), MG_OK);
                if (!same_plus || !same_minus)
                    continue;
                /* the step actually applied is the f32 difference */
                double step = (double)(original + (float)h) - (double)(original - (float)h);
                fd = (plus - minus) / step;
                ok = true;
            }
            if (!ok) {
                skipped++;
                continue;
            }
            checked++;
            double g = grad[k], err = fabs(fd - g);
            strong += fabs(g) > 1e-2;
            cr_expect_leq(err, 2e-4 + 3e-2 * fabs(fd), "%s[%zu] (%s side): analytic %.6g, finite differences %.6g",
                          p->name, k, decoder_side ? "decoder" : "encoder", g, fd);
        }
        free(grad);
        free(values);
    }
    cr_log_info("checked %zu gradient entries (%zu larger than 1e-2) of %zu parameters, %zu skipped for code flips",
                checked, strong, s.trainable->count, skipped);
    cr_expect_leq(skipped * 10, checked, "too many samples flipped a code");
    cr_expect_geq(strong, s.trainable->count / 2, "too few gradients large enough to test well");
    free(s.straight_through);
    free(s.base_indices);
    test_batch_free(&s.batch);
    trainable_free(s.trainable);
    test_close(ctx);
}

/* Gradients accumulate: two half-scaled steps give the gradients of one full step. */
Test(ae_train, gradients_accumulate_and_validation_leaves_them)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    tiny_config(&config, 16);
    mg_trainable *trainable = fresh_trainable(ctx, &config, 5);
    mg_mesh meshes[2] = {test_cube(), test_tetra()};
    mg_train_batch batch;
    test_batch(ctx, meshes, 2, &batch);
    zero_grads(trainable);
    mg_train_losses full = run_step(trainable, &batch, true, 1.0f);
    float **once = malloc(trainable->count * sizeof *once);
    for (size_t i = 0; i < trainable->count; i++)
        once[i] = test_read(trainable->grads[i]);
    zero_grads(trainable);
    run_step(trainable, &batch, true, 0.5f);
    mg_train_losses validation = run_step(trainable, &batch, false, 123.0f);
    mg_train_losses half = run_step(trainable, &batch, true, 0.5f);
    cr_expect_eq(full.total, half.total, "the loss does not depend on the scale");
    cr_expect_eq(full.total, validation.total);
    for (size_t i = 0; i < trainable->count; i++) {
        float *twice = test_read(trainable->grads[i]);
        test_compare(trainable->params[i].name, twice, once[i], trainable->grads[i]->count, 1e-10);
        free(twice);
        free(once[i]);
    }
    free(once);
    test_batch_free(&batch);
    trainable_free(trainable);
    test_close(ctx);
}

/* Fresh weights follow torch's defaults: N(0, 1) embeddings, U(+-1/sqrt(fan_in)) linears and convs, LayerNorm
 * 1 and 0; the same seed gives the same weights. */
Test(ae_train, fresh_initialisation_is_torch_like_and_seeded)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    tiny_config(&config, 64);
    config.autoencoder.dim_coor_embed = 32;
    mg_trainable *a = fresh_trainable(ctx, &config, 3), *b = fresh_trainable(ctx, &config, 3);
    mg_trainable *c = fresh_trainable(ctx, &config, 4);
    for (size_t i = 0; i < a->count; i++) {
        const char *name = a->params[i].name;
        float *va = test_read(a->params[i].value), *vb = test_read(b->params[i].value);
        float *vc = test_read(c->params[i].value);
        size_t n = a->params[i].value->count;
        cr_expect_eq(memcmp(va, vb, n * sizeof *va), 0, "%s differs for the same seed", name);
        double sum = 0.0, squares = 0.0, largest = 0.0;
        bool differs = false;
        for (size_t k = 0; k < n; k++) {
            sum += va[k];
            squares += (double)va[k] * va[k];
            largest = fmax(largest, fabs(va[k]));
            differs |= va[k] != vc[k];
        }
        const mg_tensor *v = a->params[i].value;
        if (strstr(name, "init_encoder_act_and_norm") || strstr(name, "init_decoder_conv.3")) {
            cr_expect_eq(sum, strstr(name, "weight") ? (double)n : 0.0, "%s", name);
        } else if (strcmp(name, "coor_embed.weight") == 0) {
            double mean = sum / n, sd = sqrt(squares / n - mean * mean);
            cr_expect_leq(fabs(mean), 0.1, "%s mean %g", name, mean);
            cr_expect(sd > 0.9 && sd < 1.1, "%s standard deviation %g", name, sd);
            cr_expect(differs, "%s: another seed gives other weights", name);
        } else if (!strstr(name, "_embed.")) {
            int64_t fan = v->ndim >= 2 ? v->shape[1] * (v->ndim == 3 ? v->shape[2] : 1) : 0;
            if (fan > 0)
                cr_expect_leq(largest, 1.0 / sqrt((double)fan) + 1e-7, "%s exceeds 1/sqrt(fan_in)", name);
            cr_expect(differs, "%s: another seed gives other weights", name);
        }
        free(va);
        free(vb);
        free(vc);
    }
    trainable_free(a);
    trainable_free(b);
    trainable_free(c);
    test_close(ctx);
}

static float *read_named(const mg_trainable *trainable, const char *name, int64_t *rows, int64_t *cols)
{
    long index = mg_ae_trainable_find(trainable, name);
    cr_assert_geq(index, 0, "no %s", name);
    const mg_tensor *v = trainable->params[index].value;
    *rows = v->shape[0];
    *cols = v->ndim > 1 ? v->shape[1] : 1;
    return test_read(v);
}

/* The sinusoid embedding start: hand-computed entries of each table, neighbouring bins closer than distant
 * ones, and every other parameter exactly as the default (normal) start of the same seed. */
Test(ae_train, sinusoid_embeddings_start_smooth_and_leave_the_rest_as_torch)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    tiny_config(&config, 64);
    config.autoencoder.dim_coor_embed = 32;
    mg_ae_train_params params = mg_ae_train_default_params();
    cr_expect_eq(params.embedding_init, MG_EMBEDDING_INIT_NORMAL, "upstream's N(0, 1) by default");
    params.config = &config;
    params.seed = 3;
    params.embedding_init = MG_EMBEDDING_INIT_SINUSOID;
    mg_trainable *smooth = NULL;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &smooth), MG_OK, "%s", mg_context_last_error(ctx));
    mg_trainable *normal = fresh_trainable(ctx, &config, 3);

    int64_t rows, cols;
    float *coor = read_named(smooth, "coor_embed.weight", &rows, &cols);
    cr_assert(rows == 64 && cols == 32);
    /* 16 column pairs; pair 0 runs half a cycle over the 64 bins, pair 15 runs 32 (one per two bins), pair 1
     * 0.5 * 64^(1/15) = 0.659754 cycles. Row r is sampled at (r + 0.5) / 64 of the range. */
    cr_expect_float_eq(coor[0], 0.0347065f, 1e-6, "row 0, column 0: sqrt 2 sin(pi / 128), got %g", coor[0]);
    cr_expect_float_eq(coor[1], 1.413788f, 1e-5, "row 0, column 1: sqrt 2 cos(pi / 128), got %g", coor[1]);
    cr_expect_float_eq(coor[10 * 32 + 2], 0.889355f, 1e-5, "row 10, column 2, got %g", coor[10 * 32 + 2]);
    cr_expect_float_eq(coor[10 * 32 + 3], 1.099567f, 1e-5, "row 10, column 3, got %g", coor[10 * 32 + 3]);
    for (int64_t r = 0; r < rows; r++) {
        cr_expect_float_eq(coor[r * 32 + 30], r % 2 ? -1.4142136f : 1.4142136f, 1e-5, "row %ld, column 30",
                           (long)r);
        cr_expect_leq(fabsf(coor[r * 32 + 31]), 1e-6, "row %ld, column 31: the cosine at one cycle per two bins",
                      (long)r);
    }
    /* Neighbouring bins start closer than bins half the range apart. */
    for (int64_t r = 0; r + 32 < rows; r++) {
        double near = 0.0, far = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            near += pow(coor[r * cols + j] - coor[(r + 1) * cols + j], 2);
            far += pow(coor[r * cols + j] - coor[(r + 32) * cols + j], 2);
        }
        cr_expect_lt(near, far, "bins %ld and %ld: %g, against %g for bins %ld and %ld", (long)r, (long)r + 1, near,
                     far, (long)r, (long)r + 32);
    }
    free(coor);
    /* The normals' table: 16 bins, 3 columns, so one pair (half a cycle) and the odd column repeats its sine. */
    float *normals = read_named(smooth, "normal_embed.weight", &rows, &cols);
    cr_assert(rows == 16 && cols == 3);
    cr_expect_float_eq(normals[3 * 3 + 0], 0.897168f, 1e-5, "row 3: sqrt 2 sin(3.5 pi / 16), got %g", normals[9]);
    cr_expect_float_eq(normals[3 * 3 + 1], 1.093202f, 1e-5, "row 3: sqrt 2 cos(3.5 pi / 16), got %g", normals[10]);
    cr_expect_eq(normals[3 * 3 + 2], normals[3 * 3 + 0], "the odd last column repeats the first sine");
    free(normals);

    for (size_t i = 0; i < smooth->count; i++) {
        const char *name = smooth->params[i].name;
        float *a = test_read(smooth->params[i].value), *b = test_read(normal->params[i].value);
        size_t n = smooth->params[i].value->count;
        if (strstr(name, "_embed.")) {
            double squares = 0.0;
            for (size_t k = 0; k < n; k++)
                squares += (double)a[k] * a[k];
            cr_expect(memcmp(a, b, n * sizeof *a) != 0, "%s should not be the normal start", name);
            cr_expect(squares / n > 0.5 && squares / n < 1.5, "%s: mean square %g, about N(0, 1)'s 1", name,
                      squares / n);
        } else {
            cr_expect_eq(memcmp(a, b, n * sizeof *a), 0, "%s differs from the normal start of the same seed", name);
        }
        free(a);
        free(b);
    }
    trainable_free(smooth);
    trainable_free(normal);
    test_close(ctx);
}

Test(ae_train, refuses_what_it_cannot_train)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    tiny_config(&config, 16);
    mg_ae_train_params params = mg_ae_train_default_params();
    params.config = &config;
    mg_trainable *trainable = NULL;
    config.autoencoder.attn_encoder_depth = 1;
    cr_expect_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_ERR_UNSUPPORTED);
    cr_expect(strstr(mg_context_last_error(ctx), "attention") != NULL, "%s", mg_context_last_error(ctx));
    cr_expect_null(trainable);
    config.autoencoder.attn_encoder_depth = 0;
    params.config = NULL;
    cr_expect_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_ERR_INVALID_ARGUMENT);
    /* a batch of quads for a triangle model */
    config.autoencoder.use_residual_lfq = true;
    params.config = &config;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_OK);
    mg_train_batch empty = {0};
    mg_train_losses losses;
    cr_expect_eq(trainable->step(trainable, &empty, true, 1.0f, NULL, &losses), MG_ERR_INVALID_ARGUMENT);
    trainable_free(trainable);
    test_close(ctx);
}

/* A small autoencoder memorises three meshes on the CPU reference (the lavapipe run is in test_ae_train_vulkan). */
Test(ae_train, overfits_a_few_meshes_cpu, .timeout = 300)
{
    mg_context *ctx = test_cpu_context();
    double first = 0.0, last = 0.0, recovered = 0.0;
    overfit_and_check(ctx, 300, 3e-3, &first, &last, &recovered);
    cr_log_info("recon %.4f -> %.4f, %.0f%% of the faces recovered exactly", first, last, 100.0 * recovered);
    cr_expect_lt(last, 0.25 * first, "recon %.4f -> %.4f", first, last);
    cr_expect_geq(recovered, 0.8, "%.0f%% of the faces recovered", 100.0 * recovered);
    test_close(ctx);
}
