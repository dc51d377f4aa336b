/*
 * The code-bits start of a new transformer (train/tf_code_bits.c), on a tiny transformer over the fixture's LFQ
 * autoencoder (codebook 256, 8 bits). Checked against the structure the start promises, computed here from the
 * rows alone: flipping bit k of a code moves its row by the same vector whatever the other bits (a linear map
 * of +-1 bits), so a code and its complement have opposite rows; the EOS row is left as the default start
 * made it; the default start has none of this structure; the rows keep about the default's scale; and the
 * start is refused for a ResidualVQ autoencoder and for an autoencoder run.
 */
#include "test_ae_train_common.h"
#include "test_tf_train_util.h"

#include <math.h>

static mg_trainable *tiny(mg_context *ctx, bool code_bits)
{
    mg_tf_train_params params = mg_tf_train_default_params();
    params.model_path = test_fixture_path("meshgpt-pytorch-a/model.safetensors");
    params.transformer_json = TINY_TRANSFORMER_JSON(false);
    params.init_seed = 3;
    params.code_bits_start = code_bits;
    mg_trainable *tr = NULL;
    cr_assert_eq(mg_tf_trainable_create(ctx, &params, &tr), MG_OK, "%s", mg_context_last_error(ctx));
    return tr;
}

static float *param(mg_trainable *tr, const char *name, int64_t *rows, int64_t *cols)
{
    for (size_t i = 0; i < tr->count; i++)
        if (strcmp(tr->params[i].name, name) == 0) {
            *rows = tr->params[i].value->shape[0];
            *cols = tr->params[i].value->shape[1];
            return test_read(tr->params[i].value);
        }
    cr_assert_fail("no parameter %s", name);
    return NULL;
}

/* The largest deviation from "row(c) - row(c ^ bit) is the same for every c with that bit set", over all bits,
 * relative to the rows' largest entry; and the same for "row(c) + row(~c) = 0". */
static void structure(const float *rows, int64_t codes, int64_t dim, double *linear, double *complement)
{
    double largest = 0.0;
    for (int64_t i = 0; i < codes * dim; i++)
        largest = fmax(largest, fabs((double)rows[i]));
    *linear = *complement = 0.0;
    for (int64_t bit = 1; bit < codes; bit <<= 1)
        for (int64_t c = 0; c < codes; c++) {
            if (!(c & bit))
                continue;
            for (int64_t j = 0; j < dim; j++) {
                const double step = (double)rows[c * dim + j] - rows[(c ^ bit) * dim + j];
                const double first = (double)rows[bit * dim + j] - rows[0 * dim + j];
                *linear = fmax(*linear, fabs(step - first) / largest);
            }
        }
    for (int64_t c = 0; c < codes; c++)
        for (int64_t j = 0; j < dim; j++)
            *complement = fmax(*complement, fabs((double)rows[c * dim + j] + rows[(codes - 1 - c) * dim + j]) / largest);
}

Test(tf_code_bits, codebook_rows_are_a_linear_map_of_the_bits)
{
    mg_context *ctx = test_cpu_context();
    mg_trainable *bits = tiny(ctx, true), *plain = tiny(ctx, false);
    const char *names[] = {"token_embed.weight", "to_logits.weight"};
    for (int n = 0; n < 2; n++) {
        int64_t rows = 0, dim = 0;
        float *b = param(bits, names[n], &rows, &dim), *p = param(plain, names[n], &rows, &dim);
        const int64_t codes = rows - 1; /* the last row is EOS */
        cr_assert_eq(codes, 256, "the fixture's codebook");
        double linear, complement;
        structure(b, codes, dim, &linear, &complement);
        cr_expect_lt(linear, 1e-5, "%s: flipping a bit moves rows by one vector (deviation %g)", names[n], linear);
        cr_expect_lt(complement, 1e-6, "%s: complementary codes have opposite rows (deviation %g)", names[n],
                     complement);
        structure(p, codes, dim, &linear, &complement);
        cr_expect_gt(linear, 0.1, "%s: the default start has no such structure (%g)", names[n], linear);
        /* Scale: the rows' mean square within a factor 2 of the default start's. */
        double sb = 0.0, sp = 0.0;
        for (int64_t i = 0; i < codes * dim; i++) {
            sb += (double)b[i] * b[i];
            sp += (double)p[i] * p[i];
        }
        cr_expect(sb > 0.5 * sp && sb < 2.0 * sp, "%s: mean square %g against the default's %g", names[n],
                  sb / (double)(codes * dim), sp / (double)(codes * dim));
        /* EOS: neither zero nor on the bit map (its own default draw). */
        double eos = 0.0;
        for (int64_t j = 0; j < dim; j++)
            eos += (double)b[codes * dim + j] * b[codes * dim + j];
        cr_expect_gt(eos, 0.0, "%s: the EOS row keeps a default start", names[n]);
        free(b);
        free(p);
    }
    mg_trainable_free(bits);
    mg_trainable_free(plain);
    test_close(ctx);
}

Test(tf_code_bits, refused_where_codes_are_not_bits)
{
    mg_context *ctx = test_cpu_context();
    mg_train_params p = mg_train_default_params(MG_TRAIN_AUTOENCODER);
    p.data = "/nonexistent";
    p.output = "/tmp/never.safetensors";
    p.transformer_start = MG_TRANSFORMER_START_CODE_BITS;
    cr_expect_eq(mg_train_autoencoder(ctx, &p, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "code-bits start is a transformer's"), "%s",
              mg_context_last_error(ctx));
    /* A ResidualVQ autoencoder's codes are rows of a codebook, not bit patterns. */
    mg_model_config config;
    tiny_config(&config, 16);
    config.autoencoder.use_residual_lfq = false;
    mg_trainable *ae = fresh_trainable(ctx, &config, 1);
    char path[] = "test_tf_code_bits_rvq.safetensors";
    cr_assert_eq(ae->save_model(ae, path, false), MG_OK, "%s", mg_context_last_error(ctx));
    trainable_free(ae);
    mg_tf_train_params params = mg_tf_train_default_params();
    params.model_path = path;
    params.transformer_json = TINY_TRANSFORMER_JSON(false);
    params.code_bits_start = true;
    mg_trainable *tr = NULL;
    cr_expect_eq(mg_tf_trainable_create(ctx, &params, &tr), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "needs an LFQ autoencoder"), "%s", mg_context_last_error(ctx));
    remove(path);
    p.transformer_start = (mg_transformer_start)7;
    cr_expect_eq(mg_train_autoencoder(ctx, &p, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "unknown transformer start 7"), "%s", mg_context_last_error(ctx));
    test_close(ctx);
}
