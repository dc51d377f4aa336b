/* The synthetic BERT folder of test_synthetic_bert.h. Tensor names are spelled out here, independently of the
 * library's own list, so a wrong name in the library fails the tests. */
#include "test_synthetic_bert.h"

#include "io/safetensors.h"
#include "model/model_write.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bert_spec {
    char name[96];
    int ndim;
    int64_t d0, d1;
    float center;
} bert_spec;

static const struct {
    const char *suffix;
    int rows; /* 0: hidden, 1: intermediate */
    int cols; /* -1: a vector, 0: hidden, 1: intermediate */
    float center;
} layer_specs[] = {
    {"attention.self.query.weight", 0, 0, 0},       {"attention.self.query.bias", 0, -1, 0},
    {"attention.self.key.weight", 0, 0, 0},         {"attention.self.key.bias", 0, -1, 0},
    {"attention.self.value.weight", 0, 0, 0},       {"attention.self.value.bias", 0, -1, 0},
    {"attention.output.dense.weight", 0, 0, 0},     {"attention.output.dense.bias", 0, -1, 0},
    {"attention.output.LayerNorm.weight", 0, -1, 1}, {"attention.output.LayerNorm.bias", 0, -1, 0},
    {"intermediate.dense.weight", 1, 0, 0},         {"intermediate.dense.bias", 1, -1, 0},
    {"output.dense.weight", 0, 1, 0},               {"output.dense.bias", 0, -1, 0},
    {"output.LayerNorm.weight", 0, -1, 1},          {"output.LayerNorm.bias", 0, -1, 0},
};
enum { LAYER_SPECS = sizeof layer_specs / sizeof layer_specs[0] };

void test_write_synthetic_bert(const char *folder, size_t hidden, size_t layers)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", folder);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"hidden_size\": %zu, \"num_hidden_layers\": %zu, \"num_attention_heads\": 8, "
               "\"intermediate_size\": %d, \"vocab_size\": %d, \"max_position_embeddings\": %d, "
               "\"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}\n",
            hidden, layers, TEST_BERT_INTER, TEST_BERT_VOCAB, TEST_BERT_POSITIONS);
    fclose(f);
    snprintf(path, sizeof path, "%s/vocab.txt", folder);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nchair\ntable\n", f);
    fclose(f);

    const int64_t h = (int64_t)hidden, sizes[2] = {h, TEST_BERT_INTER};
    size_t n = 5 + LAYER_SPECS * layers;
    bert_spec *specs = calloc(n, sizeof *specs);
    cr_assert_not_null(specs);
    bert_spec embeddings[5] = {
        {"embeddings.word_embeddings.weight", 2, TEST_BERT_VOCAB, h, 0},
        {"embeddings.position_embeddings.weight", 2, TEST_BERT_POSITIONS, h, 0},
        {"embeddings.token_type_embeddings.weight", 2, 2, h, 0},
        {"embeddings.LayerNorm.weight", 1, h, 0, 1},
        {"embeddings.LayerNorm.bias", 1, h, 0, 0},
    };
    memcpy(specs, embeddings, sizeof embeddings);
    for (size_t l = 0; l < layers; l++)
        for (size_t j = 0; j < LAYER_SPECS; j++) {
            bert_spec *s = &specs[5 + l * LAYER_SPECS + j];
            snprintf(s->name, sizeof s->name, "encoder.layer.%zu.%s", l, layer_specs[j].suffix);
            s->ndim = layer_specs[j].cols < 0 ? 1 : 2;
            s->d0 = sizes[layer_specs[j].rows];
            s->d1 = layer_specs[j].cols < 0 ? 0 : sizes[layer_specs[j].cols];
            s->center = layer_specs[j].center;
        }
    mg_st_write_tensor *tensors = calloc(n, sizeof *tensors);
    float **data = calloc(n, sizeof *data);
    cr_assert(tensors && data);
    for (size_t i = 0; i < n; i++) {
        size_t count = (size_t)specs[i].d0 * (size_t)(specs[i].ndim == 2 ? specs[i].d1 : 1);
        data[i] = malloc(count * sizeof(float));
        cr_assert_not_null(data[i]);
        test_fill_uniform(data[i], count, (uint32_t)(100 + i), specs[i].center - 0.1f, specs[i].center + 0.1f);
        tensors[i].name = specs[i].name;
        tensors[i].dtype = MG_ST_F32;
        tensors[i].ndim = specs[i].ndim;
        tensors[i].shape[0] = specs[i].d0;
        tensors[i].shape[1] = specs[i].d1;
        tensors[i].data = data[i];
    }
    snprintf(path, sizeof path, "%s/model.safetensors", folder);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_safetensors_write(path, tensors, n, NULL, 0, &diag), MG_OK, "%s", diag.last_error);
    mg_diag_destroy(&diag);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    free(data);
    free(tensors);
    free(specs);
}

void test_write_clip_conditioned_model(const char *path, unsigned seed, float scale)
{
    mg_model_config config = {0};
    mg_ae_config *c = &config.autoencoder;
    mg_ae_config_defaults(c);
    c->dim_coor_embed = 8;
    c->dim_area_embed = 4;
    c->dim_normal_embed = 4;
    c->dim_angle_embed = 4;
    c->encoder_depth = 1;
    c->encoder_dims[0] = 16;
    c->decoder_depth = 1;
    c->decoder_dims[0] = 16;
    c->dim_codebook = 16;
    c->codebook_size = 64;
    c->local_attn_dim_head = 8;
    c->local_attn_heads = 2;
    c->linear_attn_dim_head = 4;
    c->linear_attn_heads = 2;
    config.has_transformer = true;
    config.transformer_json = (char *)"{\"dim\":32,\"max_seq_len\":60,\"attn_depth\":1,\"attn_dim_head\":8,"
                                      "\"attn_heads\":2,\"fine_attn_depth\":1,\"coarse_pre_gateloop_depth\":1,"
                                      "\"fine_pre_gateloop_depth\":1,\"condition_on_text\":true,"
                                      "\"text_condition_model_types\":[\"clip\"]}";
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_model_write_random(path, &config, seed, scale, MG_ST_F32, &diag), MG_OK, "%s", diag.last_error);
    mg_diag_destroy(&diag);
}
