/*
 * The public generation API (mg_generate, mg_score, mg_text_encoder) on the
 * meshgpt-pytorch fixture model, CPU reference: greedy generation and shape
 * completion reproduce meshgpt-pytorch's tokens, the loss its tf_loss_cube
 * and the logits its tf_logits_cs1; seeds reproduce; samples, progress and
 * cancellation; every bad input is refused with a message.
 */
#include "core/context.h"
#include "model/model.h"
#include "model/model_write.h"
#include "test_npy.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mg_model *load_fixture(mg_context *ctx)
{
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, test_fixture_path("meshgpt-pytorch-a/model.safetensors"), &model), MG_OK, "%s",
                 mg_context_last_error(ctx));
    return model;
}

/* The fixture's text_embeds [1, 10, 768] as a text condition (the array stays owned by `npy`). */
static mg_text_condition fixture_text(test_npy *npy)
{
    *npy = test_npy_load("text_embeds");
    mg_text_condition text = {0};
    text.embedding = npy->f32;
    text.embedding_tokens = (size_t)npy->shape[1];
    text.embedding_width = (size_t)npy->shape[2];
    return text;
}

/* An upstream token case ([1, n, 2] int64, -1 after EOS) as int32 and its length before EOS. */
static int32_t *load_tokens(const char *name, size_t *count, size_t *length)
{
    test_npy npy = test_npy_load(name);
    int32_t *tokens = malloc(npy.count * sizeof *tokens);
    *length = 0;
    for (size_t i = 0; i < npy.count; i++) {
        tokens[i] = (int32_t)npy.i64[i];
        if (tokens[i] >= 0 && *length == i)
            (*length)++;
    }
    *count = npy.count;
    test_npy_free(&npy);
    return tokens;
}

typedef struct progress_log {
    size_t calls, last_faces, last_tokens, cancel_at;
    bool monotonic;
} progress_log;

static bool record_progress(size_t faces, size_t tokens, void *user)
{
    progress_log *log = user;
    log->monotonic = log->monotonic && faces > log->last_faces && tokens == faces * 6;
    log->calls++;
    log->last_faces = faces;
    log->last_tokens = tokens;
    return log->cancel_at == 0 || faces < log->cancel_at;
}

static void expect_tokens(const mg_tokens *got, const int32_t *want, size_t want_length, const char *what)
{
    cr_assert_eq(got->num_faces * 6, want_length, "%s: %zu faces, meshgpt-pytorch %zu tokens", what, got->num_faces,
                 want_length);
    cr_expect_eq(got->face_size, 3);
    cr_expect_eq(got->levels, 2);
    size_t differ = 0;
    for (size_t i = 0; i < want_length; i++)
        differ += got->tokens[i] != want[i];
    cr_expect_eq(differ, 0, "%s: %zu tokens differ from meshgpt-pytorch", what, differ);
}

Test(generate_api, greedy_reproduces_meshgpt_pytorch)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    size_t count, length;
    int32_t *want = load_tokens("gen_cs1_kv1", &count, &length);
    cr_assert_eq(length, 60, "the fixture case has 10 whole faces");

    mg_generate_params p = mg_generate_default_params();
    p.text = fixture_text(&text_npy);
    p.temperature = 0.0f;
    p.unconstrained = true; /* upstream keeps every token */
    p.max_faces = 10; /* upstream ran with max_seq_len 60 */
    progress_log log = {.monotonic = true};
    p.progress = record_progress;
    p.progress_user_data = &log;
    mg_mesh mesh;
    mg_tokens tokens;
    cr_assert_eq(mg_generate(model, &p, &mesh, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    expect_tokens(&tokens, want, length, "gen_cs1_kv1");
    cr_expect_eq(mesh.num_faces, 10);
    cr_expect_eq(mesh.face_size, 3);
    for (size_t f = 0; f < mesh.num_faces; f++)
        cr_expect_eq(mesh.face_mask[f], 1, "face %zu is masked", f);
    for (size_t v = 0; v < mesh.num_vertices * 3; v++)
        cr_expect(isfinite(mesh.vertices[v]) && fabsf(mesh.vertices[v]) <= 1.0f, "coordinate %zu: %g", v,
                  (double)mesh.vertices[v]);
    /* The same tokens decoded on their own give the same mesh. */
    mg_mesh again;
    cr_assert_eq(mg_decode(model, &tokens, 1, &again), MG_OK);
    cr_expect_eq(memcmp(again.vertices, mesh.vertices, mesh.num_vertices * 3 * sizeof(float)), 0);
    cr_expect_eq(log.calls, 10, "one progress call per face, got %zu", log.calls);
    cr_expect(log.monotonic, "progress must count whole faces upwards");
    cr_expect_eq(log.last_faces, 10);
    mg_mesh_free(&again);
    mg_mesh_free(&mesh);
    mg_tokens_free(&tokens);
    free(want);
    test_npy_free(&text_npy);
    mg_model_free(model);
    test_close(ctx);
}

Test(generate_api, completion_reproduces_meshgpt_pytorch)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    size_t prompt_count, prompt_length, count, length;
    int32_t *prompt = load_tokens("gen_prompt", &prompt_count, &prompt_length);
    int32_t *want = load_tokens("genp_cs1_kv1", &count, &length);
    cr_assert_eq(prompt_length, 12);
    mg_tokens partial = {.tokens = prompt, .num_faces = 2, .face_size = 3, .levels = 2};
    mg_generate_params p = mg_generate_default_params();
    p.text = fixture_text(&text_npy);
    p.temperature = 0.0f;
    p.unconstrained = true; /* upstream keeps every token */
    p.max_faces = 10;
    p.completion = &partial;
    mg_tokens tokens;
    cr_assert_eq(mg_generate(model, &p, NULL, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    expect_tokens(&tokens, want, length, "genp_cs1_kv1");
    cr_expect_eq(memcmp(tokens.tokens, prompt, 12 * sizeof(int32_t)), 0, "the completion keeps the partial mesh");
    mg_tokens_free(&tokens);
    free(prompt);
    free(want);
    test_npy_free(&text_npy);
    mg_model_free(model);
    test_close(ctx);
}

/* Sampled generation of 3 faces: same seed, same tokens; samples 2 gives two meshes. */
Test(generate_api, seeds_and_samples)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    mg_generate_params p = mg_generate_default_params();
    p.text = fixture_text(&text_npy);
    p.max_faces = 3;
    p.seed = 11;
    mg_tokens a, b, c;
    cr_assert_eq(mg_generate(model, &p, NULL, &a), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_generate(model, &p, NULL, &b), MG_OK);
    cr_assert_eq(a.num_faces, b.num_faces);
    cr_expect(a.num_faces >= 1 && a.num_faces <= 3, "%zu faces", a.num_faces);
    cr_expect_eq(memcmp(a.tokens, b.tokens, a.num_faces * 6 * sizeof(int32_t)), 0, "a seed must reproduce");
    p.seed = 12;
    cr_assert_eq(mg_generate(model, &p, NULL, &c), MG_OK);
    cr_expect(c.num_faces != a.num_faces || memcmp(a.tokens, c.tokens, a.num_faces * 6 * sizeof(int32_t)) != 0,
              "another seed should give other tokens");
    for (size_t i = 0; i < a.num_faces * 6; i++)
        cr_expect(a.tokens[i] >= 0 && a.tokens[i] < 256, "token %zu is %d", i, a.tokens[i]);

    p.seed = 11;
    p.samples = 2;
    mg_mesh meshes[2];
    mg_tokens tokens[2];
    int ends[2] = {-1, -1};
    p.out_ends = ends;
    cr_assert_eq(mg_generate(model, &p, meshes, tokens), MG_OK, "%s", mg_context_last_error(ctx));
    for (int s = 0; s < 2; s++) {
        cr_expect_eq(meshes[s].num_faces, tokens[s].num_faces, "sample %d", s);
        cr_expect(tokens[s].num_faces >= 1 && tokens[s].num_faces <= 3);
        cr_expect_not_null(meshes[s].vertices);
        /* Why each ended: three faces is the limit; fewer, the model's EOS or the validity constraint. */
        if (tokens[s].num_faces == 3)
            cr_expect_eq(ends[s], MG_GENERATE_END_LIMIT, "sample %d: 3 faces, end %d", s, ends[s]);
        else
            cr_expect(ends[s] == MG_GENERATE_END_EOS || ends[s] == MG_GENERATE_END_REFUSED, "sample %d: %zu faces, "
                      "end %d", s, tokens[s].num_faces, ends[s]);
    }
    cr_expect(tokens[0].num_faces != tokens[1].num_faces ||
                  memcmp(tokens[0].tokens, tokens[1].tokens, tokens[0].num_faces * 6 * sizeof(int32_t)) != 0,
              "two samples should differ");
    for (int s = 0; s < 2; s++) {
        mg_mesh_free(&meshes[s]);
        mg_tokens_free(&tokens[s]);
    }
    mg_tokens_free(&a);
    mg_tokens_free(&b);
    mg_tokens_free(&c);
    test_npy_free(&text_npy);
    mg_model_free(model);
    test_close(ctx);
}

Test(generate_api, cancel_from_progress)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    mg_generate_params p = mg_generate_default_params();
    p.text = fixture_text(&text_npy);
    p.temperature = 0.0f;
    p.max_faces = 6;
    p.samples = 2;
    progress_log log = {.monotonic = true, .cancel_at = 2};
    p.progress = record_progress;
    p.progress_user_data = &log;
    mg_mesh meshes[2];
    mg_tokens tokens[2];
    memset(meshes, 0, sizeof meshes);
    memset(tokens, 0, sizeof tokens);
    cr_assert_eq(mg_generate(model, &p, meshes, tokens), MG_ERR_CANCELLED);
    cr_expect(strstr(mg_context_last_error(ctx), "cancelled"), "%s", mg_context_last_error(ctx));
    cr_expect_eq(log.calls, 2, "cancelled at the second face, %zu calls", log.calls);
    for (int s = 0; s < 2; s++) {
        cr_expect_null(tokens[s].tokens, "no tokens are returned after cancelling");
        cr_expect_null(meshes[s].vertices, "no mesh is returned after cancelling");
    }
    test_npy_free(&text_npy);
    mg_model_free(model);
    test_close(ctx);
}

Test(generate_api, score_matches_meshgpt_pytorch)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    mg_text_condition text = fixture_text(&text_npy);
    test_npy codes = test_npy_load("tf_codes");
    test_npy want = test_npy_load("tf_logits_cs1");
    cr_assert_eq(codes.count, 72);
    int32_t ids[72];
    for (size_t i = 0; i < 72; i++)
        ids[i] = (int32_t)codes.i64[i];
    mg_tokens tokens = {.tokens = ids, .num_faces = 12, .face_size = 3, .levels = 2};
    cr_assert_eq(mg_model_vocabulary_size(model), 257);
    float *logits = malloc(73 * 257 * sizeof *logits);
    double loss = 0.0;
    cr_assert_eq(mg_score(model, &tokens, &text, &loss, logits), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(fabs(loss - 5.750859260559082) < 1e-5, "loss %.9f, meshgpt-pytorch 5.750859260559082", loss);
    double worst = 0.0;
    for (size_t i = 0; i < 73 * 257; i++)
        worst = fmax(worst, fabs((double)logits[i] - want.f32[i]));
    cr_expect(worst < 1e-4, "logits differ from meshgpt-pytorch's by %g", worst);
    /* The loss alone. */
    double loss_only = 0.0;
    cr_assert_eq(mg_score(model, &tokens, &text, &loss_only, NULL), MG_OK);
    cr_expect_eq(loss_only, loss);
    free(logits);
    test_npy_free(&codes);
    test_npy_free(&want);
    test_npy_free(&text_npy);
    mg_model_free(model);
    test_close(ctx);
}

/* ---- bad input ---- */

static char temp_dir[64];

static const char *temp_path(const char *name)
{
    if (!temp_dir[0]) {
        snprintf(temp_dir, sizeof temp_dir, "/tmp/mg-generate-test-XXXXXX");
        cr_assert_not_null(mkdtemp(temp_dir));
    }
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    return path;
}

static int mkdir_p(const char *path)
{
    char command[320];
    snprintf(command, sizeof command, "mkdir -p '%s'", path);
    return system(command);
}

static void cleanup_temp(void)
{
    if (!temp_dir[0])
        return;
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    cr_assert_eq(system(command), 0);
}

/* A small random model: autoencoder only, or with an unconditioned transformer. */
static mg_model *random_model(mg_context *ctx, bool transformer, const char *name)
{
    mg_model_config config = {0};
    mg_ae_config *c = &config.autoencoder;
    mg_ae_config_defaults(c);
    c->dim_coor_embed = 8;
    c->dim_area_embed = 4;
    c->dim_normal_embed = 4;
    c->dim_angle_embed = 4;
    c->encoder_depth = 2;
    c->encoder_dims[0] = 16;
    c->encoder_dims[1] = 24;
    c->decoder_depth = 3;
    c->decoder_dims[0] = 16;
    c->decoder_dims[1] = 16;
    c->decoder_dims[2] = 32;
    c->dim_codebook = 16;
    c->codebook_size = 64;
    c->local_attn_dim_head = 8;
    c->local_attn_heads = 2;
    c->linear_attn_dim_head = 4;
    c->linear_attn_heads = 2;
    config.has_transformer = transformer;
    config.transformer_json = transformer ? (char *)"{\"dim\":32,\"max_seq_len\":60,\"attn_depth\":1,"
                                                    "\"attn_dim_head\":8,\"attn_heads\":2,\"fine_attn_depth\":1,"
                                                    "\"coarse_pre_gateloop_depth\":1,\"fine_pre_gateloop_depth\":1}"
                                          : NULL;
    const char *path = temp_path(name);
    cr_assert_eq(mg_model_write_random(path, &config, 3, 0.1f, MG_ST_F32, &ctx->diag), MG_OK, "%s",
                 ctx->diag.last_error);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    return model;
}

static void expect_refused(mg_model *model, const mg_generate_params *p, const char *fragment)
{
    mg_mesh mesh;
    mg_tokens tokens;
    memset(&mesh, 0, sizeof mesh);
    memset(&tokens, 0, sizeof tokens);
    mg_context *ctx = model->ctx;
    mg_status status = mg_generate(model, p, &mesh, &tokens);
    cr_expect_eq(status, MG_ERR_INVALID_ARGUMENT, "expected a refusal mentioning \"%s\", got %s (%s)", fragment,
                 mg_status_string(status), mg_context_last_error(ctx));
    cr_expect(strstr(mg_context_last_error(ctx), fragment), "message \"%s\" lacks \"%s\"", mg_context_last_error(ctx),
              fragment);
    cr_expect_null(tokens.tokens);
    cr_expect_null(mesh.vertices);
}

Test(generate_api, bad_input, .fini = cleanup_temp)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = load_fixture(ctx);
    test_npy text_npy;
    mg_text_condition text = fixture_text(&text_npy);
    mg_generate_params p;

    /* No text for a text-conditioned model. */
    p = mg_generate_default_params();
    expect_refused(model, &p, "conditioned on text");
    /* A text embedding of the wrong width. */
    p = mg_generate_default_params();
    p.text = text;
    p.text.embedding_width = 767;
    p.text.embedding_tokens = 1;
    expect_refused(model, &p, "767 wide but the model's dim_text is 768");
    /* Both a prompt and an embedding. */
    p = mg_generate_default_params();
    p.text = text;
    p.text.prompt = "a chair";
    expect_refused(model, &p, "not both");
    /* A prompt without a text encoder. */
    p = mg_generate_default_params();
    p.text.prompt = "a chair";
    expect_refused(model, &p, "needs a text encoder");
    /* max_faces beyond the position table (600 positions = 100 faces). */
    p = mg_generate_default_params();
    p.text = text;
    p.max_faces = 101;
    expect_refused(model, &p, "beyond the model's position table");
    p.max_faces = 0;
    p.max_tokens = 601;
    expect_refused(model, &p, "max_seq_len");
    p.max_tokens = 5;
    expect_refused(model, &p, "no room for one face");
    /* A completion longer than the limit. */
    int32_t partial_ids[12] = {0};
    mg_tokens partial = {.tokens = partial_ids, .num_faces = 2, .face_size = 3, .levels = 2};
    p = mg_generate_default_params();
    p.text = text;
    p.max_faces = 1;
    p.completion = &partial;
    expect_refused(model, &p, "more than the limit of 1 faces");
    /* A completion with a token outside the codebook, or made for another model. */
    p.max_faces = 5;
    partial_ids[3] = 256;
    expect_refused(model, &p, "outside the codebook");
    partial_ids[3] = 0;
    partial.levels = 3;
    expect_refused(model, &p, "another model");
    /* Sampling parameters. */
    p = mg_generate_default_params();
    p.text = text;
    p.samples = 0;
    expect_refused(model, &p, "samples");
    p = mg_generate_default_params();
    p.text = text;
    p.temperature = -1.0f;
    expect_refused(model, &p, "temperature");
    p = mg_generate_default_params();
    p.text = text;
    p.top_p = 1.5f;
    expect_refused(model, &p, "top_p");

    /* A prompt through a text encoder: invalid UTF-8 first, then the encoder's width (bert-tiny: 32, not 768). */
    mg_text_encoder *encoder = NULL;
    cr_assert_eq(mg_text_encoder_load(ctx, test_fixture_path("bert-tiny"), &encoder), MG_OK, "%s",
                 mg_context_last_error(ctx));
    cr_expect_eq(mg_text_encoder_width(encoder), 32);
    p = mg_generate_default_params();
    p.text.encoder = encoder;
    p.text.prompt = "a \xff chair";
    expect_refused(model, &p, "UTF-8");
    p.text.prompt = "a chair";
    expect_refused(model, &p, "32 wide but the model's dim_text is 768");
    mg_text_encoder_free(encoder);
    cr_expect_neq(mg_text_encoder_load(ctx, "/nonexistent-bert", &encoder), MG_OK);
    cr_expect_null(encoder);

    /* mg_score refuses the same text mistakes and tokens of another model. */
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    mg_tokens one_face = {.tokens = ids, .num_faces = 1, .face_size = 3, .levels = 2};
    double loss;
    cr_expect_eq(mg_score(model, &one_face, NULL, &loss, NULL), MG_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(mg_context_last_error(ctx), "conditioned on text"), "%s", mg_context_last_error(ctx));
    one_face.levels = 1;
    cr_expect_eq(mg_score(model, &one_face, &text, &loss, NULL), MG_ERR_INVALID_ARGUMENT);
    one_face.levels = 2;
    cr_expect_eq(mg_score(model, &one_face, &text, NULL, NULL), MG_ERR_INVALID_ARGUMENT);
    mg_model_free(model);

    /* An autoencoder-only model cannot generate; an unconditioned one refuses text. */
    mg_model *autoencoder = random_model(ctx, false, "ae.safetensors");
    p = mg_generate_default_params();
    expect_refused(autoencoder, &p, "no MeshTransformer");
    cr_expect_eq(mg_model_vocabulary_size(autoencoder), 0);
    mg_model_free(autoencoder);
    mg_model *plain = random_model(ctx, true, "plain.safetensors");
    p = mg_generate_default_params();
    p.text = text;
    expect_refused(plain, &p, "not conditioned on text");
    /* ... and generates without it (unconstrained: its random autoencoder decodes most vertices alike, so the
     * validity constraint would end the sample at once). */
    p = mg_generate_default_params();
    p.unconstrained = true;
    p.max_faces = 2;
    p.seed = 3;
    mg_tokens tokens;
    mg_mesh mesh;
    cr_assert_eq(mg_generate(plain, &p, &mesh, &tokens), MG_OK, "%s", mg_context_last_error(ctx));
    cr_expect(tokens.num_faces >= 1 && tokens.num_faces <= 2);
    cr_expect_eq(mesh.num_faces, tokens.num_faces);
    mg_tokens_free(&tokens);
    mg_mesh_free(&mesh);
    mg_model_free(plain);
    test_npy_free(&text_npy);
    test_close(ctx);
}

/* ---- the prompt path: text encoder -> conditioner -> transformer ---- */

#include "api/text_encoder.h"
#include "io/safetensors.h"
#include "test_synthetic_bert.h"

#define SYN_HIDDEN 512 /* a 'clip' model's dim_text */

static void write_synthetic_bert(const char *folder)
{
    test_write_synthetic_bert(folder, SYN_HIDDEN, 1);
}

static mg_model *clip_conditioned_model(mg_context *ctx)
{
    const char *path = temp_path("clip.safetensors");
    /* Large enough weights that the text moves the logits visibly. */
    test_write_clip_conditioned_model(path, 5, 0.5f);
    mg_model *model = NULL;
    cr_assert_eq(mg_model_load(ctx, path, &model), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(model->transformer.config.dim_text, SYN_HIDDEN);
    return model;
}

/* A prompt gives what its encoder states, projected by to_latent_dims.0 in this test, give as an embedding. */
Test(generate_api, prompt_goes_through_the_conditioner, .fini = cleanup_temp)
{
    mg_context *ctx = test_cpu_context();
    mg_model *model = clip_conditioned_model(ctx);
    char folder[256];
    snprintf(folder, sizeof folder, "%s", temp_path("bert"));
    cr_assert_eq(mkdir_p(folder), 0);
    write_synthetic_bert(folder);
    mg_text_encoder *encoder = NULL;
    cr_assert_eq(mg_text_encoder_load(ctx, folder, &encoder), MG_OK, "%s", mg_context_last_error(ctx));

    /* "A Chair" -> [CLS] a chair [SEP] by hand; BERT's states; the Linear in double precision. */
    const int32_t ids[4] = {2, 5, 6, 3};
    mg_tensor *states_tensor = NULL;
    cr_assert_eq(mg_bert_encode(encoder->bert, ids, NULL, 1, 4, &states_tensor), MG_OK);
    float *states = test_read(states_tensor);
    mg_tensor_free(states_tensor);
    const size_t w = SYN_HIDDEN;
    float *weight = test_read(mg_weights_tensor(&model->weights, "conditioner.to_latent_dims.0.weight"));
    float *bias = test_read(mg_weights_tensor(&model->weights, "conditioner.to_latent_dims.0.bias"));
    float projected[4 * SYN_HIDDEN];
    for (size_t t = 0; t < 4; t++)
        for (size_t o = 0; o < w; o++) {
            double sum = bias[o];
            for (size_t i = 0; i < w; i++)
                sum += (double)weight[o * w + i] * states[t * w + i];
            projected[t * w + o] = (float)sum;
        }

    int32_t codes[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    mg_tokens tokens = {.tokens = codes, .num_faces = 2, .face_size = 3, .levels = 2};
    const size_t n = 13 * mg_model_vocabulary_size(model);
    float *by_prompt = malloc(n * sizeof(float)), *by_embedding = malloc(n * sizeof(float));
    float *unprojected = malloc(n * sizeof(float));
    mg_text_condition prompt = {.prompt = "A Chair", .encoder = encoder};
    mg_text_condition embedding = {.embedding = projected, .embedding_tokens = 4, .embedding_width = w};
    mg_text_condition raw = {.embedding = states, .embedding_tokens = 4, .embedding_width = w};
    cr_assert_eq(mg_score(model, &tokens, &prompt, NULL, by_prompt), MG_OK, "%s", mg_context_last_error(ctx));
    cr_assert_eq(mg_score(model, &tokens, &embedding, NULL, by_embedding), MG_OK);
    cr_assert_eq(mg_score(model, &tokens, &raw, NULL, unprojected), MG_OK);
    double worst = 0.0, moved = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)by_prompt[i] - by_embedding[i]));
        moved = fmax(moved, fabs((double)by_prompt[i] - unprojected[i]));
    }
    cr_expect(worst < 1e-4, "prompt vs projected embedding: logits differ by %g", worst);
    cr_expect(moved > 1e-3, "the conditioner should change the logits (%g)", moved);

    /* Generation from the prompt equals generation from the embedding. */
    mg_generate_params p = mg_generate_default_params();
    p.max_faces = 3;
    p.seed = 9;
    p.text = prompt;
    mg_tokens a, b;
    cr_assert_eq(mg_generate(model, &p, NULL, &a), MG_OK, "%s", mg_context_last_error(ctx));
    p.text = embedding;
    cr_assert_eq(mg_generate(model, &p, NULL, &b), MG_OK);
    cr_expect_eq(a.num_faces, b.num_faces);
    cr_expect_eq(memcmp(a.tokens, b.tokens, a.num_faces * 6 * sizeof(int32_t)), 0);
    mg_tokens_free(&a);
    mg_tokens_free(&b);
    free(by_prompt);
    free(by_embedding);
    free(unprojected);
    free(states);
    free(weight);
    free(bias);
    mg_text_encoder_free(encoder);
    mg_model_free(model);
    test_close(ctx);
}
