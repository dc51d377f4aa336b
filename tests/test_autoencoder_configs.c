/*
 * The whole autoencoder on Vulkan against the CPU reference, on random weights,
 * for the configurations users meet: lookup-free and vector quantization,
 * with and without attention blocks, triangles and quads. Plus structural
 * properties of the public tokenizer: decode(tokenize(x)) keeps the face
 * count and mask, and preprocessing makes tokens independent of the input's
 * vertex and face order.
 */
#include "mesh/mesh_batch.h"
#include "model/autoencoder.h"
#include "model/model.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A small config in the spirit of the conformance model. */
static mg_ae_config small_config(bool lfq, bool attention, bool quads)
{
    mg_ae_config c;
    mg_ae_config_defaults(&c);
    c.dim_coor_embed = 16;
    c.dim_area_embed = 8;
    c.dim_normal_embed = 8;
    c.dim_angle_embed = 8;
    c.encoder_depth = 2;
    c.encoder_dims[0] = 32;
    c.encoder_dims[1] = 64;
    c.decoder_depth = 3;
    c.decoder_dims[0] = 64;
    c.decoder_dims[1] = 64;
    c.decoder_dims[2] = 96;
    c.dim_codebook = 48;
    c.codebook_size = 256;
    c.use_residual_lfq = lfq;
    c.attn_encoder_depth = attention ? 1 : 0;
    c.attn_decoder_depth = attention ? 1 : 0;
    c.local_attn_heads = 2;
    c.local_attn_dim_head = 16;
    c.local_attn_window_size = 8;
    c.linear_attn_heads = 2;
    c.linear_attn_dim_head = 4;
    c.quads = quads;
    return c;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Deterministic random weights for every tensor the config has, on ctx. */
static void random_weights(mg_context *ctx, const mg_ae_config *config, mg_weights *weights)
{
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    cr_assert_eq(mg_ae_weight_specs(config, "", &specs, &count, &ctx->diag), MG_OK);
    weights->items = calloc(count, sizeof *weights->items);
    weights->count = count;
    for (size_t i = 0; i < count; i++) {
        const mg_weight_spec *s = &specs[i];
        mg_weight *w = &weights->items[i];
        snprintf(w->name, sizeof w->name, "%s", s->name);
        size_t n = 1;
        for (int d = 0; d < s->ndim; d++)
            n *= (size_t)s->shape[d];
        w->count = n;
        if (s->kind == MG_WEIGHT_INT) {
            w->ints = calloc(n, sizeof(int64_t));
            for (size_t k = 0; k < n; k++)
                w->ints[k] = (int64_t)1 << (n - 1 - k);
            continue;
        }
        float *values = malloc(n * sizeof(float));
        float fan_in = s->ndim >= 2 ? (float)s->shape[1] * (s->ndim == 3 ? (float)s->shape[2] : 1.0f) : 1.0f;
        float bound = 1.0f / sqrtf(fan_in);
        if (s->ndim == 1 && ends_with(s->name, "bias"))
            test_fill_uniform(values, n, (uint32_t)i + 1, -0.1f, 0.1f);
        else if (s->ndim == 1)
            test_fill_uniform(values, n, (uint32_t)i + 1, 0.8f, 1.2f);
        else if (strstr(s->name, "_embed.weight") || strstr(s->name, "_codebook.embed"))
            test_fill_uniform(values, n, (uint32_t)i + 1, -1.0f, 1.0f);
        else
            test_fill_uniform(values, n, (uint32_t)i + 1, -bound, bound);
        if (strstr(s->name, "quantizer.project_in.weight"))
            for (size_t k = 0; k < n; k++)
                values[k] *= 12.0f; /* informative codes, as in the conformance model */
        w->tensor = test_tensor(ctx, MG_DTYPE_F32, s->ndim, s->shape, values);
        free(values);
    }
    free(specs);
}

/* A wavy grid of quads (or their triangles): faces share edges, vertices are shared. */
static mg_mesh grid_mesh(size_t columns, size_t rows, bool quads, float phase)
{
    mg_mesh mesh = {0};
    mesh.num_vertices = (columns + 1) * (rows + 1);
    mesh.face_size = quads ? 4 : 3;
    mesh.num_faces = columns * rows * (quads ? 1 : 2);
    mesh.vertices = malloc(mesh.num_vertices * 3 * sizeof(float));
    mesh.faces = malloc(mesh.num_faces * mesh.face_size * sizeof(int32_t));
    for (size_t r = 0; r <= rows; r++)
        for (size_t c = 0; c <= columns; c++) {
            float *v = mesh.vertices + (r * (columns + 1) + c) * 3;
            v[0] = -0.8f + 1.6f * (float)c / (float)columns;
            v[1] = -0.7f + 1.4f * (float)r / (float)rows;
            v[2] = 0.4f * sinf(2.5f * v[0] + phase) * cosf(1.5f * v[1]);
        }
    int32_t *f = mesh.faces;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < columns; c++) {
            int32_t a = (int32_t)(r * (columns + 1) + c), b = a + 1, d = a + (int32_t)columns + 1, e = d + 1;
            if (quads) {
                *f++ = a, *f++ = b, *f++ = e, *f++ = d;
            } else {
                *f++ = a, *f++ = b, *f++ = e;
                *f++ = a, *f++ = e, *f++ = d;
            }
        }
    return mesh;
}

typedef struct run_result {
    int32_t *codes;
    size_t code_count;
    float *logits;
    size_t logit_count;
} run_result;

/* Tokenize two meshes, then decode their codes padded to the longer one. */
static run_result run_config(mg_context *ctx, const mg_ae_config *config)
{
    mg_weights weights = {0};
    random_weights(ctx, config, &weights);
    mg_autoencoder ae;
    cr_assert_eq(mg_autoencoder_init(&ae, ctx, config, &weights, ""), MG_OK, "%s", mg_context_last_error(ctx));
    mg_mesh meshes[2] = {grid_mesh(4, 3, config->quads, 0.0f), grid_mesh(6, 5, config->quads, 1.0f)};
    mg_mesh_batch batch;
    cr_assert_eq(mg_mesh_batch_build(meshes, 2, &batch, &ctx->diag), MG_OK, "%s", mg_context_last_error(ctx));
    const size_t fs = batch.face_size, levels = (size_t)config->num_quantizers;
    run_result result = {0};
    result.code_count = batch.num_faces * fs * levels;
    result.codes = malloc(result.code_count * sizeof(int32_t));
    cr_assert_eq(mg_ae_tokenize(&ae, &batch, result.codes, NULL), MG_OK, "%s", mg_context_last_error(ctx));

    const size_t longest = meshes[1].num_faces, per_face = fs * levels;
    int32_t *padded = malloc(2 * longest * per_face * sizeof(int32_t));
    uint8_t *mask = calloc(2 * longest, 1);
    for (size_t i = 0; i < 2 * longest * per_face; i++)
        padded[i] = -1;
    for (size_t m = 0; m < 2; m++)
        for (size_t f = batch.face_offsets[m]; f < batch.face_offsets[m + 1]; f++) {
            size_t slot = m * longest + (f - batch.face_offsets[m]);
            memcpy(padded + slot * per_face, result.codes + f * per_face, per_face * sizeof(int32_t));
            mask[slot] = 1;
        }
    result.logit_count = 2 * longest * fs * 3 * (size_t)config->num_discrete_coors;
    result.logits = malloc(result.logit_count * sizeof(float));
    int32_t *discrete = malloc(2 * longest * fs * 3 * sizeof(int32_t));
    cr_assert_eq(mg_ae_decode(&ae, padded, 2, longest, mask, discrete, result.logits, NULL), MG_OK, "%s",
                 mg_context_last_error(ctx));
    /* Pad faces carry no meaning: compare valid faces only. */
    for (size_t s = 0; s < 2 * longest; s++)
        if (!mask[s])
            memset(result.logits + s * fs * 3 * (size_t)config->num_discrete_coors, 0,
                   fs * 3 * (size_t)config->num_discrete_coors * sizeof(float));
    free(discrete);
    free(padded);
    free(mask);
    mg_mesh_batch_free(&batch);
    for (int m = 0; m < 2; m++) {
        free(meshes[m].vertices);
        free(meshes[m].faces);
    }
    mg_weights_free(&weights);
    return result;
}

static void compare_config(const mg_ae_config *config_in, bool lfq, bool attention, bool quads)
{
    mg_ae_config config = *config_in;
    mg_context *cpu = test_cpu_context();
    mg_context *gpu = test_vulkan_context();
    run_result a = run_config(cpu, &config);
    run_result b = run_config(gpu, &config);
    cr_assert_eq(a.code_count, b.code_count);
    size_t differ = 0;
    for (size_t i = 0; i < a.code_count; i++)
        differ += a.codes[i] != b.codes[i];
    cr_expect_eq(differ, 0, "%zu of %zu codes differ between Vulkan and the CPU reference", differ, a.code_count);
    /* Codes must carry information: not all equal. */
    size_t distinct = 0;
    for (size_t i = 1; i < a.code_count; i++)
        distinct += a.codes[i] != a.codes[0];
    cr_expect_gt(distinct, 0, "every code is the same: the test would not notice a broken quantizer");
    double nmse = test_nmse(b.logits, a.logits, a.logit_count);
    cr_log_info("lfq %d attention %d quads %d: logits NMSE %.3g", lfq, attention, quads, nmse);
    cr_expect_leq(nmse, 1e-7, "coordinate logits NMSE %g", nmse);
    test_assert_finite_like(b.logits, a.logits, a.logit_count);
    free(a.codes);
    free(a.logits);
    free(b.codes);
    free(b.logits);
    test_close(gpu);
    test_close(cpu);
}

static void compare_backends(bool lfq, bool attention, bool quads)
{
    mg_ae_config config = small_config(lfq, attention, quads);
    compare_config(&config, lfq, attention, quads);
}

/* log2(codebook_size) == dim_codebook: ResidualLFQ has no projections at all. */
Test(autoencoder_configs, lfq_without_projections)
{
    mg_ae_config config = small_config(true, false, false);
    config.dim_codebook = 8;
    compare_config(&config, true, false, false);
}

Test(autoencoder_configs, lfq_triangles) { compare_backends(true, false, false); }
Test(autoencoder_configs, vq_triangles) { compare_backends(false, false, false); }
Test(autoencoder_configs, lfq_quads) { compare_backends(true, false, true); }
Test(autoencoder_configs, lfq_attention) { compare_backends(true, true, false); }
Test(autoencoder_configs, vq_attention) { compare_backends(false, true, false); }
