/*
 * libFuzzer harness: model configuration JSON (the "meshgpt" metadata document
 * and meshgpt-pytorch's config.json). An accepted config must write back to
 * JSON that parses to the same config, and must list its tensors.
 */
#include "model/config_json.h"
#include "model/weights.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const mg_model_config *config, mg_diag *diag)
{
    char *json = mg_model_config_to_json(config, false);
    if (!json)
        return; /* out of memory */
    mg_model_config back;
    if (mg_model_config_parse(json, strlen(json), &back, diag) != MG_OK)
        __builtin_trap();
    const mg_ae_config *a = &config->autoencoder, *b = &back.autoencoder;
    if (a->dim_codebook != b->dim_codebook || a->codebook_size != b->codebook_size || a->quads != b->quads ||
        a->encoder_depth != b->encoder_depth || a->decoder_depth != b->decoder_depth ||
        a->coor_range[0] != b->coor_range[0] || a->lfq_soft_clamp != b->lfq_soft_clamp ||
        a->bin_smooth_blur_sigma != b->bin_smooth_blur_sigma || a->max_faces != b->max_faces ||
        a->preprocess.order != b->preprocess.order || back.has_transformer != config->has_transformer)
        __builtin_trap();
    mg_weight_spec *specs = NULL;
    size_t count = 0;
    if (mg_ae_weight_specs(b, back.has_transformer ? "autoencoder." : "", &specs, &count, diag) == MG_OK && count == 0)
        __builtin_trap();
    free(specs);
    mg_model_config_free(&back);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_model_config config;
    if (mg_model_config_parse((const char *)data, size, &config, &diag) == MG_OK) {
        check_round_trip(&config, &diag);
        mg_model_config_free(&config);
    }
    if (mg_model_config_parse_kwargs_file((const char *)data, size, "fuzz.json", &config, &diag) == MG_OK) {
        check_round_trip(&config, &diag);
        mg_model_config_free(&config);
    }
    mg_diag_destroy(&diag);
    return 0;
}
