/*
 * The autoencoder config as JSON: upstream defaults, meshgpt-pytorch's
 * config.json, round trips through this project's document, and every kind of
 * bad value named in the message.
 */
#include "model/config_json.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct log_capture {
    int warnings;
    char last[1024];
} log_capture;

static void capture_log(mg_log_level level, const char *message, void *user_data)
{
    log_capture *c = user_data;
    if (level == MG_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

static mg_diag make_diag(log_capture *capture)
{
    mg_diag diag;
    mg_diag_init(&diag, capture_log, capture, MG_LOG_DEBUG);
    return diag;
}

/* Parses `kwargs` (a bare kwargs object) and expects `want`, with `fragment` in the message on failure. */
static void expect_kwargs(const char *kwargs, mg_status want, const char *fragment)
{
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config config;
    mg_status got = mg_model_config_parse_kwargs_file(kwargs, strlen(kwargs), "test.json", &config, &diag);
    cr_assert_eq(got, want, "%s: status %s (%s), expected %s", kwargs, mg_status_string(got), diag.last_error,
                 mg_status_string(want));
    if (fragment)
        cr_assert(strstr(diag.last_error, fragment), "%s: message \"%s\" should mention \"%s\"", kwargs,
                  diag.last_error, fragment);
    if (got == MG_OK)
        mg_model_config_free(&config);
    mg_diag_destroy(&diag);
}

static void expect_document(const char *document, mg_status want, const char *fragment)
{
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config config;
    mg_status got = mg_model_config_parse(document, strlen(document), &config, &diag);
    cr_assert_eq(got, want, "%s: status %s (%s), expected %s", document, mg_status_string(got), diag.last_error,
                 mg_status_string(want));
    if (fragment)
        cr_assert(strstr(diag.last_error, fragment), "%s: message \"%s\" should mention \"%s\"", document,
                  diag.last_error, fragment);
    if (got == MG_OK)
        mg_model_config_free(&config);
    mg_diag_destroy(&diag);
}

static void assert_same_config(const mg_ae_config *a, const mg_ae_config *b)
{
#define SAME(field) cr_assert_eq(a->field, b->field, #field ": %g vs %g", (double)a->field, (double)b->field)
    SAME(num_discrete_coors);
    SAME(coor_range[0]);
    SAME(coor_range[1]);
    SAME(dim_coor_embed);
    SAME(num_discrete_area);
    SAME(dim_area_embed);
    SAME(num_discrete_normals);
    SAME(dim_normal_embed);
    SAME(num_discrete_angle);
    SAME(dim_angle_embed);
    SAME(encoder_depth);
    SAME(init_decoder_conv_kernel);
    SAME(decoder_depth);
    SAME(dim_codebook);
    SAME(num_quantizers);
    SAME(codebook_size);
    SAME(use_residual_lfq);
    SAME(lfq_soft_clamp);
    SAME(attn_encoder_depth);
    SAME(attn_decoder_depth);
    SAME(local_attn_dim_head);
    SAME(local_attn_heads);
    SAME(local_attn_window_size);
    SAME(linear_attn_dim_head);
    SAME(linear_attn_heads);
    SAME(use_linear_attn);
    SAME(bin_smooth_blur_sigma);
    SAME(commit_loss_weight);
    SAME(quads);
    SAME(max_faces);
    SAME(preprocess.normalize);
    SAME(preprocess.normalize_scale);
    SAME(preprocess.merge_vertices);
    SAME(preprocess.drop_degenerate);
    SAME(preprocess.order);
    SAME(preprocess.rotation);
    SAME(preprocess.sort_faces);
#undef SAME
    for (int i = 0; i < a->encoder_depth; i++)
        cr_assert_eq(a->encoder_dims[i], b->encoder_dims[i], "encoder_dims[%d]", i);
    for (int i = 0; i < a->decoder_depth; i++)
        cr_assert_eq(a->decoder_dims[i], b->decoder_dims[i], "decoder_dims[%d]", i);
}

Test(config_json, defaults_are_meshgpt_pytorch_1_7_2)
{
    mg_ae_config c;
    mg_ae_config_defaults(&c);
    /* meshgpt_pytorch.py MeshAutoencoder.__init__ (1.7.2), read by hand */
    cr_assert_eq(c.num_discrete_coors, 128);
    cr_assert_eq(c.coor_range[0], -1.0f);
    cr_assert_eq(c.coor_range[1], 1.0f);
    cr_assert_eq(c.dim_coor_embed, 64);
    cr_assert_eq(c.dim_area_embed, 16);
    cr_assert_eq(c.dim_normal_embed, 64);
    cr_assert_eq(c.dim_angle_embed, 16);
    int encoder[] = {64, 128, 256, 256, 576};
    cr_assert_eq(c.encoder_depth, 5);
    cr_assert_arr_eq(c.encoder_dims, encoder, sizeof encoder);
    cr_assert_eq(c.decoder_depth, 17);
    cr_assert_eq(c.decoder_dims[0], 128);
    cr_assert_eq(c.decoder_dims[4], 192);
    cr_assert_eq(c.decoder_dims[8], 256);
    cr_assert_eq(c.decoder_dims[16], 384);
    cr_assert_eq(c.init_decoder_conv_kernel, 7);
    cr_assert_eq(c.dim_codebook, 192);
    cr_assert_eq(c.num_quantizers, 2);
    cr_assert_eq(c.codebook_size, 16384);
    cr_assert(c.use_residual_lfq);
    cr_assert_eq(c.lfq_soft_clamp, 10.0f);
    cr_assert_eq(c.local_attn_dim_head, 32);
    cr_assert_eq(c.local_attn_heads, 8);
    cr_assert_eq(c.local_attn_window_size, 64);
    cr_assert_eq(c.linear_attn_dim_head, 8);
    cr_assert_eq(c.linear_attn_heads, 16);
    cr_assert(c.use_linear_attn);
    cr_assert_eq(c.bin_smooth_blur_sigma, 0.4f);
    cr_assert_eq(c.commit_loss_weight, 0.1f);
    cr_assert(!c.quads);
    cr_assert_eq(c.max_faces, 800);
    cr_assert(c.preprocess.normalize && c.preprocess.merge_vertices && c.preprocess.drop_degenerate);
    cr_assert_eq(c.preprocess.normalize_scale, 0.95f);
    cr_assert_eq(c.preprocess.order, MG_ORDER_ZYX);
    cr_assert_eq(c.preprocess.rotation, MG_FACE_ROTATE_CYCLIC);
    cr_assert(c.preprocess.sort_faces);
    cr_assert_eq(mg_ae_config_face_size(&c), 3);
    cr_assert_eq(mg_ae_config_code_dim(&c), 14);
    c.codebook_size = 2048;
    cr_assert_eq(mg_ae_config_code_dim(&c), 11);
    c.use_residual_lfq = false;
    cr_assert_eq(mg_ae_config_code_dim(&c), 192);
    c.quads = true;
    cr_assert_eq(mg_ae_config_face_size(&c), 4);
    cr_assert_eq(mg_ae_config_validate(&c, NULL), MG_OK);
}

Test(config_json, bare_kwargs_override_defaults_only_where_given)
{
    const char *kwargs = "{\"dim_codebook\": 64, \"codebook_size\": 256, \"encoder_dims_through_depth\": [32, 64],"
                         " \"rlfq_kwargs\": {\"soft_clamp_input_value\": null, \"frac_per_sample_entropy\": 0.5},"
                         " \"flash_attn\": false, \"pad_id\": -1, \"attn_dropout\": 0.1}";
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config config;
    cr_assert_eq(mg_model_config_parse_kwargs_file(kwargs, strlen(kwargs), "k.json", &config, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(capture.warnings, 0, "training-only keys must not warn: %s", capture.last);
    cr_assert_eq(config.autoencoder.dim_codebook, 64);
    cr_assert_eq(config.autoencoder.codebook_size, 256);
    cr_assert_eq(config.autoencoder.encoder_depth, 2);
    cr_assert_eq(config.autoencoder.encoder_dims[1], 64);
    cr_assert_eq(config.autoencoder.lfq_soft_clamp, 0.0f, "null soft clamp is stored as 0");
    cr_assert_eq(config.autoencoder.decoder_depth, 17, "untouched keys keep their defaults");
    cr_assert_eq(config.autoencoder.dim_coor_embed, 64);
    cr_assert(!config.has_transformer);
    mg_model_config_free(&config);
    mg_diag_destroy(&diag);
}

Test(config_json, unknown_key_warns_and_is_ignored)
{
    const char *kwargs = "{\"dim_codebook\": 64, \"use_super_attention\": true, \"local_attn_kwargs\": {\"heads\": 4,"
                         " \"qk_rmsnorm\": false}}";
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config config;
    cr_assert_eq(mg_model_config_parse_kwargs_file(kwargs, strlen(kwargs), "k.json", &config, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(capture.warnings, 2);
    cr_assert(strstr(capture.last, "local_attn_kwargs.qk_rmsnorm"), "%s", capture.last);
    cr_assert_eq(config.autoencoder.local_attn_heads, 4);
    mg_model_config_free(&config);
    mg_diag_destroy(&diag);
}

Test(config_json, round_trip_through_the_model_document)
{
    mg_model_config config = {0};
    mg_ae_config *c = &config.autoencoder;
    mg_ae_config_defaults(c);
    /* every field away from its default */
    c->num_discrete_coors = 256;
    c->coor_range[0] = -0.5f;
    c->coor_range[1] = 0.75f;
    c->dim_coor_embed = 17;
    c->num_discrete_area = 100;
    c->dim_area_embed = 9;
    c->num_discrete_normals = 99;
    c->dim_normal_embed = 7;
    c->num_discrete_angle = 64;
    c->dim_angle_embed = 5;
    c->encoder_depth = 3;
    c->encoder_dims[0] = 11, c->encoder_dims[1] = 12, c->encoder_dims[2] = 13;
    c->init_decoder_conv_kernel = 5;
    c->decoder_depth = 2;
    c->decoder_dims[0] = 21, c->decoder_dims[1] = 22;
    c->dim_codebook = 33;
    c->num_quantizers = 3;
    c->codebook_size = 1000;
    c->use_residual_lfq = false;
    c->lfq_soft_clamp = 0.0f;
    c->attn_encoder_depth = 2;
    c->attn_decoder_depth = 0;
    c->local_attn_dim_head = 16;
    c->local_attn_heads = 2;
    c->local_attn_window_size = 32;
    c->linear_attn_dim_head = 4;
    c->linear_attn_heads = 3;
    c->use_linear_attn = false;
    c->bin_smooth_blur_sigma = 0.123456789f;
    c->commit_loss_weight = 1e-7f;
    c->quads = true;
    c->max_faces = 1234;
    c->preprocess = (mg_preprocess_config){false, 0.5f, false, false, MG_ORDER_YZX, MG_FACE_SORT_INDICES, false};
    config.has_transformer = true;
    config.transformer_json = (char *)"{\"dim\":128,\"attn_depth\":2}";

    char *json = mg_model_config_to_json(&config, true);
    cr_assert_not_null(json);
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config back;
    cr_assert_eq(mg_model_config_parse(json, strlen(json), &back, &diag), MG_OK, "%s\n%s", diag.last_error, json);
    cr_assert_eq(capture.warnings, 0, "%s", capture.last);
    assert_same_config(c, &back.autoencoder);
    cr_assert(back.has_transformer);
    cr_assert_str_eq(back.transformer_json, "{\"dim\":128,\"attn_depth\":2}");
    cr_assert(strstr(json, "\"bin_smooth_blur_sigma\":\t0.12345679"), "floats are written short: %s", json);

    /* and the defaults, written compactly */
    mg_model_config defaults = {0};
    mg_ae_config_defaults(&defaults.autoencoder);
    char *compact = mg_model_config_to_json(&defaults, false);
    cr_assert(strstr(compact, "\"commit_loss_weight\":0.1,"), "%s", compact);
    mg_model_config again;
    cr_assert_eq(mg_model_config_parse(compact, strlen(compact), &again, &diag), MG_OK, "%s", diag.last_error);
    assert_same_config(&defaults.autoencoder, &again.autoencoder);
    cr_assert(!again.has_transformer);
    free(compact);
    free(json);
    mg_model_config_free(&back);
    mg_model_config_free(&again);
    mg_diag_destroy(&diag);
}

Test(config_json, bad_values_name_the_key)
{
    expect_kwargs("{\"dim_codebook\": -3}", MG_ERR_FORMAT, "\"dim_codebook\"");
    expect_kwargs("{\"dim_codebook\": 2.5}", MG_ERR_FORMAT, "\"dim_codebook\" must be an integer");
    expect_kwargs("{\"dim_coor_embed\": \"16\"}", MG_ERR_FORMAT, "\"dim_coor_embed\" must be an integer, not a string");
    expect_kwargs("{\"codebook_size\": 1000}", MG_ERR_FORMAT, "power of two");
    expect_kwargs("{\"codebook_size\": 1000, \"use_residual_lfq\": false}", MG_OK, NULL);
    expect_kwargs("{\"num_quantizers\": 9}", MG_ERR_FORMAT, "\"num_quantizers\" must be an integer from 1 to 8");
    expect_kwargs("{\"encoder_dims_through_depth\": []}", MG_ERR_FORMAT, "encoder_dims_through_depth");
    expect_kwargs("{\"decoder_dims_through_depth\": [64, 0]}", MG_ERR_FORMAT, "decoder_dims_through_depth[1]");
    expect_kwargs("{\"init_decoder_conv_kernel\": 6}", MG_ERR_FORMAT, "odd");
    expect_kwargs("{\"quads\": 1}", MG_ERR_FORMAT, "\"quads\" must be true or false");
    expect_kwargs("{\"coor_continuous_range\": [1, -1]}", MG_ERR_FORMAT, "coor_continuous_range");
    expect_kwargs("{\"coor_continuous_range\": [1]}", MG_ERR_FORMAT, "coor_continuous_range");
    expect_kwargs("{\"local_attn_kwargs\": {\"heads\": 0}}", MG_ERR_FORMAT, "local_attn_kwargs.heads");
    expect_kwargs("{\"linear_attn_kwargs\": 3}", MG_ERR_FORMAT, "linear_attn_kwargs");
    expect_kwargs("{\"attn_encoder_depth\": 1, \"local_attn_kwargs\": {\"dim_head\": 31}}", MG_ERR_FORMAT, "even");
    expect_kwargs("{\"rlfq_kwargs\": {\"soft_clamp_input_value\": 0.5}}", MG_ERR_FORMAT, "soft_clamp_input_value");
    expect_kwargs("{\"attn_decoder_depth\": 65}", MG_ERR_FORMAT, "attn_decoder_depth");
    expect_kwargs("{\"sageconv_kwargs\": {\"project\": false}}", MG_ERR_UNSUPPORTED, "sageconv_kwargs.project");
    expect_kwargs("{\"use_residual_lfq\": false, \"rvq_kwargs\": {\"codebook_dim\": 32}}", MG_ERR_UNSUPPORTED,
                  "codebook_dim");
    expect_kwargs("{\"quads\": true, \"attn_decoder_depth\": 1}", MG_ERR_UNSUPPORTED, "quads");
    expect_kwargs("[1, 2]", MG_ERR_FORMAT, "JSON object");
    expect_kwargs("{\"dim_codebook\": 64", MG_ERR_FORMAT, "not valid JSON");
    expect_kwargs("{} trailing", MG_ERR_FORMAT, "stray bytes");
    expect_kwargs("{\"transformer_kwargs\": {}}", MG_ERR_FORMAT, "no \"autoencoder_kwargs\"");
}

Test(config_json, bad_documents)
{
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}}", MG_OK, NULL);
    expect_document("{\"format\": \"other\", \"version\": 1, \"autoencoder\": {}}", MG_ERR_FORMAT, "\"format\"");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 2, \"autoencoder\": {}}", MG_ERR_UNSUPPORTED,
                    "newer");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1}", MG_ERR_FORMAT, "no \"autoencoder\"");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}, \"max_faces\": 0}",
                    MG_ERR_FORMAT, "max_faces");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}, \"preprocess\": "
                    "{\"vertex_order\": \"xyz\"}}", MG_ERR_FORMAT, "\"vertex_order\" must be one of \"none\", "
                    "\"zyx\", \"yzx\"");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}, \"preprocess\": "
                    "{\"normalize_scale\": 1.5}}", MG_ERR_FORMAT, "normalize_scale");
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}, \"transformer\": []}",
                    MG_ERR_FORMAT, "\"transformer\" must be an object");
    /* found by fuzz_model_config: the first copy leaked */
    expect_document("{\"format\": \"meshgpt-model\", \"version\": 1, \"autoencoder\": {}, \"transformer\": {},"
                    " \"transformer\": {\"dim\": 1}}", MG_ERR_FORMAT, "\"transformer\" appears twice");
}

Test(config_json, meshgpt_pytorch_config_json_of_the_fixture)
{
    FILE *f = fopen(MG_FIXTURE_DIR "/meshgpt-pytorch-a/config.json", "rb");
    cr_assert_not_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    log_capture capture = {0};
    mg_diag diag = make_diag(&capture);
    mg_model_config config;
    cr_assert_eq(mg_model_config_parse_kwargs_file(text, n, "config.json", &config, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(capture.warnings, 0, "%s", capture.last);
    const mg_ae_config *c = &config.autoencoder;
    /* the fixture's autoencoder_kwargs */
    cr_assert_eq(c->dim_coor_embed, 16);
    cr_assert_eq(c->dim_area_embed, 8);
    cr_assert_eq(c->dim_normal_embed, 8);
    cr_assert_eq(c->dim_angle_embed, 8);
    cr_assert_eq(c->encoder_depth, 2);
    cr_assert_eq(c->encoder_dims[0], 32);
    cr_assert_eq(c->encoder_dims[1], 64);
    cr_assert_eq(c->decoder_depth, 3);
    cr_assert_eq(c->decoder_dims[2], 128);
    cr_assert_eq(c->dim_codebook, 64);
    cr_assert_eq(c->codebook_size, 256);
    cr_assert_eq(c->num_quantizers, 2);
    cr_assert(c->use_residual_lfq);
    cr_assert_eq(mg_ae_config_code_dim(c), 8);
    cr_assert(config.has_transformer);
    cr_assert(strstr(config.transformer_json, "\"attn_depth\":2"), "%s", config.transformer_json);
    mg_model_config_free(&config);
    mg_diag_destroy(&diag);
}
