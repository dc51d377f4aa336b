/* The coordinate-code start of an autoencoder (train/ae_coordinate_code.c). Each check is against values
 * computed here from the vertices' bins alone: every vertex's codes hold its bits in the documented layout,
 * and every decoded coordinate is the input's bin, with a clear margin. The meshes put vertices in every bin
 * of every axis; two configurations (two levels with a residual conv in the decoder; three levels with three
 * encoder layers) and both backends. A configuration too narrow for the code is refused with its sizes. */
#include "test_ae_train_common.h"

enum { TWO_LEVELS, THREE_LEVELS };

static void code_config(mg_model_config *model_config, int variant)
{
    mg_ae_config *c = &model_config->autoencoder;
    if (variant == TWO_LEVELS) {
        /* 32 bins: 5 bits per coordinate; codes of 9 bits (3 per axis) at 2 levels; 45 bits per face */
        tiny_config(model_config, 32);
        c->dim_coor_embed = 6;
        c->codebook_size = 512;
        c->num_quantizers = 2;
        c->dim_codebook = 48;
        c->encoder_dims[0] = 96;
        c->encoder_dims[1] = 48;
        c->encoder_depth = 2;
        /* 3 corners x 9 dims x 3 ReLU units + 2 constants = 83; the last layer widens (a residual conv) */
        c->decoder_dims[0] = 84;
        c->decoder_dims[1] = 84;
        c->decoder_dims[2] = 96;
        c->decoder_depth = 3;
    } else {
        /* 16 bins: 4 bits; codes of 6 bits (2 per axis) at 3 levels; 36 bits per face */
        tiny_config(model_config, 16);
        c->dim_coor_embed = 4;
        c->codebook_size = 64;
        c->num_quantizers = 3;
        c->dim_codebook = 40;
        c->encoder_dims[0] = 72;
        c->encoder_dims[1] = 40;
        c->encoder_dims[2] = 36;
        c->encoder_depth = 3;
        /* 3 x 6 x 7 + 2 = 128 */
        c->decoder_dims[0] = 128;
        c->decoder_dims[1] = 128;
        c->decoder_depth = 2;
    }
}

/* 2 * bins vertices at bin centres, every bin on every axis (x runs through them in order, y and z in other
 * orders), joined by a strip of triangles (v, v + 1, v + 2) that uses every vertex. */
typedef struct bin_mesh {
    float *vertices;
    int32_t *faces;
    mg_mesh mesh;
} bin_mesh;

static bin_mesh every_bin_mesh(int bins, int shift)
{
    bin_mesh m;
    const size_t n = (size_t)(2 * bins);
    m.vertices = malloc(n * 3 * sizeof(float));
    m.faces = malloc((n - 2) * 3 * sizeof(int32_t));
    cr_assert(m.vertices && m.faces);
    for (size_t v = 0; v < n; v++) {
        int b[3] = {(int)v % bins, (int)(7 * v + 3 + (size_t)shift) % bins, (int)(11 * v + v / (size_t)bins) % bins};
        for (int a = 0; a < 3; a++)
            m.vertices[v * 3 + (size_t)a] = -1.0f + (2.0f * (float)b[a] + 1.0f) / (float)bins;
    }
    for (size_t f = 0; f + 2 < n; f++)
        for (int k = 0; k < 3; k++)
            m.faces[f * 3 + (size_t)k] = (int32_t)(f + (size_t)k);
    m.mesh = test_mesh(m.vertices, n, m.faces, n - 2);
    return m;
}

static void bin_mesh_free(bin_mesh *m)
{
    free(m->vertices);
    free(m->faces);
}

static mg_trainable *coordinate_code_trainable(mg_context *ctx, const mg_model_config *config, uint64_t seed)
{
    mg_ae_train_params params = mg_ae_train_default_params();
    params.config = config;
    params.seed = seed;
    params.autoencoder_start = MG_AUTOENCODER_START_COORDINATE_CODE;
    mg_trainable *trainable = NULL;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_OK, "%s", mg_context_last_error(ctx));
    return trainable;
}

static void expect_exact(mg_context *ctx, int variant)
{
    mg_model_config config;
    code_config(&config, variant);
    const mg_ae_config *c = &config.autoencoder;
    const int bins = c->num_discrete_coors, levels = c->num_quantizers;
    int bits = 0;
    while ((1 << bits) < bins)
        bits++;
    const int code_dim = mg_ae_config_code_dim(c), per_axis = code_dim / 3;
    mg_trainable *trainable = coordinate_code_trainable(ctx, &config, 17);
    bin_mesh meshes[2] = {every_bin_mesh(bins, 0), every_bin_mesh(bins, 5)};
    mg_mesh batch_meshes[3] = {meshes[0].mesh, test_cube(), meshes[1].mesh};
    mg_train_batch batch;
    test_batch(ctx, batch_meshes, 3, &batch);
    ae_forward f;
    cr_assert_eq(ae_forward_run(trainable->impl, &batch, &f), MG_OK, "%s", mg_context_last_error(ctx));

    /* The codes: level l of axis a's dimension i holds bit l * per_axis + i of its bin (most significant first);
     * slots past the last bit are set. LFQ numbers dimension d as bit (code_dim - 1 - d) of the index. */
    int32_t *indices = malloc(f.lfq_indices->nbytes);
    cr_assert(indices);
    cr_assert_eq(mg_tensor_read(f.lfq_indices, indices, f.lfq_indices->nbytes), MG_OK);
    const mg_mesh_batch *p = &batch.packed;
    size_t checked_codes = 0;
    for (size_t face = 0; face < p->num_faces; face++)
        for (int corner = 0; corner < 3; corner++) {
            const int32_t vertex = p->faces[face * 3 + (size_t)corner];
            const int32_t *bin = &f.ids.coords[face * 9 + (size_t)corner * 3];
            for (int l = 0; l < levels; l++) {
                int32_t want = 0;
                for (int d = 0; d < code_dim; d++) {
                    const int a = d / per_axis, j = l * per_axis + d % per_axis;
                    const bool set = a < 3 && j < bits ? (bin[a] >> (bits - 1 - j)) & 1 : true;
                    want |= set ? (int32_t)(1u << (code_dim - 1 - d)) : 0;
                }
                const int32_t got = indices[(size_t)vertex * (size_t)levels + (size_t)l];
                cr_expect_eq(got, want, "face %zu corner %d (bins %d %d %d) level %d: code %d, want %d", face, corner,
                             bin[0], bin[1], bin[2], l, got, want);
                checked_codes++;
            }
        }
    cr_assert_gt(checked_codes, 0);

    /* The decoded coordinates: every row's best bin is its target, by a margin. */
    const int64_t rows = f.logits->shape[0];
    float *logits = test_read(f.logits);
    size_t checked = 0;
    double smallest_margin = INFINITY;
    bool seen[3][64] = {{false}};
    for (int64_t r = 0; r < rows; r++) {
        const int32_t target = f.targets[r];
        if (target < 0)
            continue;
        const float *row = logits + r * bins;
        float second = -INFINITY;
        for (int b = 0; b < bins; b++)
            if (b != target && row[b] > second)
                second = row[b];
        cr_expect_gt(row[target], second, "row %ld: bin %d scores %g, another bin %g", (long)r, target,
                     row[target], second);
        smallest_margin = fmin(smallest_margin, (double)(row[target] - second));
        seen[r % 3][target] = true;
        checked++;
    }
    cr_expect_gt(smallest_margin, 1.0, "the winning bin's smallest margin %g should be clear", smallest_margin);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < bins; b++)
            cr_expect(seen[a][b], "axis %d bin %d never decoded: the meshes should cover every bin", a, b);
    cr_expect_eq(checked, (size_t)(p->num_faces * 9));
    free(logits);
    free(indices);
    ae_forward_free(&f);
    test_batch_free(&batch);
    bin_mesh_free(&meshes[0]);
    bin_mesh_free(&meshes[1]);
    trainable_free(trainable);
}

Test(coordinate_code, tokenizes_every_bin_exactly_at_two_levels)
{
    mg_context *ctx = test_cpu_context();
    expect_exact(ctx, TWO_LEVELS);
    mg_context_destroy(ctx);
}

Test(coordinate_code, tokenizes_every_bin_exactly_at_three_levels)
{
    mg_context *ctx = test_cpu_context();
    expect_exact(ctx, THREE_LEVELS);
    mg_context_destroy(ctx);
}

Test(coordinate_code, tokenizes_every_bin_exactly_on_vulkan, .timeout = 300)
{
    mg_context *ctx = test_vulkan_context();
    expect_exact(ctx, TWO_LEVELS);
    mg_context_destroy(ctx);
}

Test(coordinate_code, a_config_too_narrow_names_the_sizes_it_needs)
{
    mg_context *ctx = test_cpu_context();
    mg_model_config config;
    code_config(&config, TWO_LEVELS);
    config.autoencoder.decoder_dims[0] = 64;
    mg_ae_train_params params = mg_ae_train_default_params();
    params.config = &config;
    params.autoencoder_start = MG_AUTOENCODER_START_COORDINATE_CODE;
    mg_trainable *trainable = NULL;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_ERR_UNSUPPORTED);
    cr_expect(strstr(mg_context_last_error(ctx), "decoder layers at least 83 wide"), "%s",
              mg_context_last_error(ctx));
    cr_expect_null(trainable);
    code_config(&config, TWO_LEVELS);
    config.autoencoder.codebook_size = 64; /* 6-bit codes: 2 per axis, 2 levels = 4 < 5 bits */
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_ERR_UNSUPPORTED);
    cr_expect(strstr(mg_context_last_error(ctx), "the bits of a coordinate of 32 bins; this config gives 2 x 2"),
              "%s", mg_context_last_error(ctx));
    code_config(&config, TWO_LEVELS);
    config.autoencoder.encoder_dims[0] = 64;
    cr_assert_eq(mg_ae_trainable_create(ctx, &params, &trainable), MG_ERR_UNSUPPORTED);
    cr_expect(strstr(mg_context_last_error(ctx), "the first at least 90 wide"), "%s", mg_context_last_error(ctx));
    mg_context_destroy(ctx);
}
