/*
 * Reading hyper-parameters off state-dict shapes (names and shapes as in
 * weights.c and the reference's section 5). The loader checks every tensor
 * against the inferred config afterwards, so a wrong guess is reported by
 * name rather than run.
 */
#include "model/model_torch_infer.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mg_st_tensor *find(const mg_safetensors *file, const char *fmt, ...) MG_PRINTF(2, 3);

static const mg_st_tensor *find(const mg_safetensors *file, const char *fmt, ...)
{
    char name[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(name, sizeof name, fmt, args);
    va_end(args);
    return mg_safetensors_find(file, name);
}

/* A dimension of a tensor, or -1 when the tensor is absent or has too few dimensions. */
static int64_t dim_of(const mg_st_tensor *t, int d)
{
    return t && d < t->ndim ? t->shape[d] : -1;
}

static bool fits_int(int64_t v)
{
    return v > 0 && v <= (1 << 24);
}

mg_status mg_infer_ae_config(const mg_safetensors *file, const char *prefix, const char *source, mg_ae_config *c,
                             mg_diag *diag)
{
    const char *p = prefix;
    const mg_st_tensor *coor = find(file, "%scoor_embed.weight", p), *angle = find(file, "%sangle_embed.weight", p);
    const mg_st_tensor *area = find(file, "%sarea_embed.weight", p), *normal = find(file, "%snormal_embed.weight", p);
    const mg_st_tensor *project_in = find(file, "%sproject_in.weight", p);
    const mg_st_tensor *sage0 = find(file, "%sinit_sage_conv.lin_l.weight", p);
    const mg_st_tensor *to_codebook = find(file, "%sproject_dim_codebook.weight", p);
    const mg_st_tensor *init_dec = find(file, "%sinit_decoder_conv.0.weight", p);
    if (!coor || !angle || !area || !normal || !project_in || !sage0 || !to_codebook || !init_dec ||
        coor->ndim != 2 || angle->ndim != 2 || area->ndim != 2 || normal->ndim != 2 || project_in->ndim != 2 ||
        init_dec->ndim != 3 || to_codebook->ndim != 2)
        return mg_fail(diag, MG_ERR_FORMAT, "%s has no config.json beside it and its tensors are not a "
                       "meshgpt-pytorch MeshAutoencoder's (no '%scoor_embed.weight', '%sinit_sage_conv.*', ...): "
                       "pass the model's config.json, or check that this is a MeshGPT checkpoint", source, p, p);
    c->num_discrete_coors = (int)coor->shape[0];
    c->dim_coor_embed = (int)coor->shape[1];
    c->num_discrete_angle = (int)angle->shape[0];
    c->dim_angle_embed = (int)angle->shape[1];
    c->num_discrete_area = (int)area->shape[0];
    c->dim_area_embed = (int)area->shape[1];
    c->num_discrete_normals = (int)normal->shape[0];
    c->dim_normal_embed = (int)normal->shape[1];
    c->dim_codebook = (int)project_in->shape[0];
    if (!fits_int(c->dim_codebook) || to_codebook->shape[0] % c->dim_codebook != 0)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: '%sproject_dim_codebook.weight' is not a multiple of the codebook "
                       "width: not a MeshAutoencoder", source, p);
    c->quads = to_codebook->shape[0] / c->dim_codebook == 4;

    c->encoder_dims[0] = (int)dim_of(sage0, 0);
    c->encoder_depth = 1;
    const mg_st_tensor *t;
    while (c->encoder_depth < MG_AE_MAX_DEPTH && (t = find(file, "%sencoders.%d.lin_l.weight", p,
                                                           c->encoder_depth - 1)) != NULL)
        c->encoder_dims[c->encoder_depth++] = (int)dim_of(t, 0);

    c->decoder_dims[0] = (int)init_dec->shape[0];
    c->init_decoder_conv_kernel = (int)init_dec->shape[2];
    c->decoder_depth = 1;
    while (c->decoder_depth < MG_AE_MAX_DEPTH && (t = find(file, "%sdecoders.%d.block1.proj.weight", p,
                                                           c->decoder_depth - 1)) != NULL)
        c->decoder_dims[c->decoder_depth++] = (int)dim_of(t, 0);

    /* Quantizer: LFQ keeps a bit mask per level, the VQ a codebook per level. */
    int levels = 0;
    const mg_st_tensor *mask = find(file, "%squantizer.layers.0.mask", p);
    const mg_st_tensor *embed = find(file, "%squantizer.layers.0._codebook.embed", p);
    if (mask) {
        c->use_residual_lfq = true;
        while (levels < MG_AE_MAX_QUANTIZERS && find(file, "%squantizer.layers.%d.mask", p, levels))
            levels++;
        int64_t bits = dim_of(mask, 0);
        if (bits < 1 || bits > 30)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: '%squantizer.layers.0.mask' has %lld bits: not an LFQ mask",
                           source, p, (long long)bits);
        c->codebook_size = 1 << bits;
    } else if (embed && embed->ndim == 3) {
        c->use_residual_lfq = false;
        while (levels < MG_AE_MAX_QUANTIZERS && find(file, "%squantizer.layers.%d._codebook.embed", p, levels))
            levels++;
        c->codebook_size = (int)embed->shape[1];
    } else {
        return mg_fail(diag, MG_ERR_FORMAT, "%s: no quantizer tensors ('%squantizer.layers.0.mask' for LFQ or "
                       "'._codebook.embed' for VQ): pass the model's config.json", source, p);
    }
    c->num_quantizers = levels;

    /* Attention blocks: LocalMHA is in every block; Taylor linear attention only when enabled. */
    int enc = 0, dec = 0;
    while (enc < MG_AE_MAX_DEPTH && find(file, "%sencoder_attn_blocks.%d.1.to_qkv.weight", p, enc))
        enc++;
    while (dec < MG_AE_MAX_DEPTH && find(file, "%sdecoder_attn_blocks.%d.1.to_qkv.weight", p, dec))
        dec++;
    c->attn_encoder_depth = enc;
    c->attn_decoder_depth = dec;
    if (enc || dec) {
        const char *blocks = enc ? "encoder_attn_blocks" : "decoder_attn_blocks";
        const mg_st_tensor *inv_freq = find(file, "%s%s.0.1.attn_fn.rel_pos.inv_freq", p, blocks);
        const mg_st_tensor *qkv = find(file, "%s%s.0.1.to_qkv.weight", p, blocks);
        int64_t half = dim_of(inv_freq, 0);
        if (half > 0 && dim_of(qkv, 0) % (3 * 2 * half) == 0) {
            c->local_attn_dim_head = (int)(2 * half);
            c->local_attn_heads = (int)(dim_of(qkv, 0) / (3 * 2 * half));
        }
        const mg_st_tensor *linear_q = find(file, "%s%s.0.0.to_q.0.weight", p, blocks);
        c->use_linear_attn = linear_q != NULL;
        if (linear_q && dim_of(linear_q, 0) % c->linear_attn_dim_head == 0)
            c->linear_attn_heads = (int)(dim_of(linear_q, 0) / c->linear_attn_dim_head);
        mg_log(diag, MG_LOG_INFO, "%s: attention inferred as %d local heads of %d (window %d, the default) and "
               "%s", source, c->local_attn_heads, c->local_attn_dim_head, c->local_attn_window_size,
               c->use_linear_attn ? "linear attention heads of 8 (the default split)" : "no linear attention");
    }
    for (int i = 0; i < c->encoder_depth; i++)
        if (!fits_int(c->encoder_dims[i]))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: encoder widths do not read as a MeshAutoencoder's", source);
    for (int i = 0; i < c->decoder_depth; i++)
        if (!fits_int(c->decoder_dims[i]))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: decoder widths do not read as a MeshAutoencoder's", source);
    mg_log(diag, MG_LOG_INFO, "%s: no config.json: autoencoder configuration inferred from tensor shapes "
           "(%s, codebook %d x %d levels, %d encoder and %d decoder layers); defaults taken for "
           "coor_continuous_range (-1, 1), bin_smooth_blur_sigma, commit_loss_weight, local_attn_window_size, the "
           "LFQ soft clamp and the preprocessing", source, c->use_residual_lfq ? "LFQ" : "VQ", c->codebook_size,
           c->num_quantizers, c->encoder_depth, c->decoder_depth);
    return MG_OK;
}

/* Layers of an x-transformers Decoder: 'a' (self), 'c' (cross) and 'f' (feed-forward) in order. */
static void count_layers(const mg_safetensors *file, const char *stack, int *layers, int *ff)
{
    *layers = *ff = 0;
    for (int j = 0; j < 4096; j++) {
        bool attn = find(file, "%s.layers.%d.1.to_q.weight", stack, j) != NULL;
        bool feed = find(file, "%s.layers.%d.1.ff.0.proj.weight", stack, j) != NULL ||
                    find(file, "%s.layers.%d.1.ff.0.0.weight", stack, j) != NULL;
        if (!attn && !feed)
            break;
        (*layers)++;
        *ff += feed;
    }
}

static int count_gateloops(const mg_safetensors *file, const char *block)
{
    int n = 0;
    while (n < 4096 && find(file, "%s.gateloops.%d.to_qkva.0.weight", block, n))
        n++;
    return n;
}

mg_status mg_infer_transformer_kwargs(const mg_safetensors *file, const char *source, char **json, mg_diag *diag)
{
    *json = NULL;
    const mg_st_tensor *token_embed = find(file, "token_embed.weight");
    if (!token_embed || token_embed->ndim != 2)
        return mg_fail(diag, MG_ERR_FORMAT, "%s holds 'autoencoder.*' tensors but no 'token_embed.weight': not a "
                       "MeshTransformer checkpoint, or pass its config.json", source);
    cJSON *k = cJSON_CreateObject();
    cJSON *attn_kwargs = k ? cJSON_AddObjectToObject(k, "attn_kwargs") : NULL;
    if (!attn_kwargs) {
        cJSON_Delete(k);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int64_t dim = token_embed->shape[1];
    cJSON_AddNumberToObject(k, "dim", (double)dim);
    int64_t seq = dim_of(find(file, "abs_pos_emb.weight"), 0);
    if (seq > 0)
        cJSON_AddNumberToObject(k, "max_seq_len", (double)seq);
    int64_t sos = dim_of(find(file, "sos_token"), 0);
    if (sos > 0)
        cJSON_AddNumberToObject(k, "num_sos_tokens", (double)sos);
    int layers, ff;
    count_layers(file, "decoder", &layers, &ff);
    cJSON_AddNumberToObject(k, "attn_depth", ff);
    bool cross = ff > 0 && layers == 3 * ff;
    cJSON_AddBoolToObject(k, "condition_on_text", cross);
    const mg_st_tensor *mem_k = find(file, "decoder.layers.0.1.mem_k");
    if (mem_k && mem_k->ndim == 3) {
        cJSON_AddNumberToObject(k, "attn_heads", (double)mem_k->shape[0]);
        cJSON_AddNumberToObject(k, "attn_dim_head", (double)mem_k->shape[2]);
        cJSON_AddNumberToObject(attn_kwargs, "attn_num_mem_kv", (double)mem_k->shape[1]);
    }
    const mg_st_tensor *cross_mem = cross ? find(file, "decoder.layers.1.1.mem_k") : NULL;
    if (cross_mem && cross_mem->ndim == 3)
        cJSON_AddNumberToObject(k, "cross_attn_num_mem_kv", (double)cross_mem->shape[1]);
    const mg_st_tensor *ff_in = find(file, "decoder.layers.%d.1.ff.0.proj.weight", cross ? 2 : 1);
    cJSON_AddBoolToObject(attn_kwargs, "ff_glu", ff_in != NULL);
    bool value_residual = false;
    for (size_t i = 0; i < file->count && !value_residual; i++)
        value_residual = strstr(file->tensors[i].name, ".to_value_residual_mix.") != NULL;
    cJSON_AddBoolToObject(attn_kwargs, "add_value_residual", value_residual);
    if (value_residual)
        cJSON_AddBoolToObject(attn_kwargs, "learned_value_residual_mix", true);
    int fine_layers, fine_ff;
    count_layers(file, "fine_decoder", &fine_layers, &fine_ff);
    cJSON_AddNumberToObject(k, "fine_attn_depth", fine_ff);
    cJSON_AddBoolToObject(k, "fine_cross_attend_text", fine_ff > 0 && fine_layers == 3 * fine_ff);
    cJSON_AddNumberToObject(k, "coarse_pre_gateloop_depth", count_gateloops(file, "coarse_gateloop_block"));
    cJSON_AddNumberToObject(k, "coarse_post_gateloop_depth", count_gateloops(file, "coarse_post_gateloop_block"));
    cJSON_AddNumberToObject(k, "fine_pre_gateloop_depth", count_gateloops(file, "fine_gateloop_block"));
    cJSON_AddBoolToObject(k, "text_cond_with_film", find(file, "text_coarse_film_cond.to_gamma.weight") != NULL);
    char *printed = cJSON_PrintUnformatted(k);
    cJSON_Delete(k);
    if (!printed)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = strlen(printed) + 1;
    *json = malloc(n);
    if (*json)
        memcpy(*json, printed, n);
    cJSON_free(printed);
    if (!*json)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    mg_log(diag, MG_LOG_INFO, "%s: transformer configuration inferred from tensor shapes: %s; the text encoder "
           "(text_condition_model_types), dropout and pad_id cannot be read off shapes and take the defaults",
           source, *json);
    return MG_OK;
}
