/* Public tokenizer entry points: meshes -> tokens and tokens -> meshes. */
#include "core/context.h"
#include "mesh/discretize.h"
#include "mesh/mesh_batch.h"
#include "mesh/preprocess.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mg_tokenize_params mg_tokenize_default_params(void)
{
    mg_tokenize_params params;
    memset(&params, 0, sizeof params);
    params.preprocess = MG_PREPROCESS_MODEL;
    return params;
}

void mg_tokens_free(mg_tokens *tokens)
{
    if (!tokens)
        return;
    free(tokens->tokens);
    memset(tokens, 0, sizeof *tokens);
}

static mg_status check_model(mg_model *model, const char *what)
{
    if (!model)
        return MG_ERR_INVALID_ARGUMENT;
    return mg_context_check(model->ctx, what);
}

/* A deep copy, so that the tokenizer always works on meshes it owns. */
static mg_status copy_mesh(const mg_mesh *in, mg_mesh *out, mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    out->vertices = malloc(in->num_vertices * 3 * sizeof(float));
    out->faces = malloc(in->num_faces * in->face_size * sizeof(int32_t));
    if (!out->vertices || !out->faces) {
        mg_mesh_free(out);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory copying a mesh");
    }
    memcpy(out->vertices, in->vertices, in->num_vertices * 3 * sizeof(float));
    memcpy(out->faces, in->faces, in->num_faces * in->face_size * sizeof(int32_t));
    out->num_vertices = in->num_vertices;
    out->num_faces = in->num_faces;
    out->face_size = in->face_size;
    return MG_OK;
}

static mg_status prepare_mesh(mg_model *model, const mg_mesh *mesh, size_t index, const mg_tokenize_params *params,
                              mg_mesh *out)
{
    mg_diag *diag = &model->ctx->diag;
    const mg_ae_config *config = &model->autoencoder.config;
    const uint32_t face_size = (uint32_t)mg_ae_config_face_size(config);
    if (mesh->face_size != face_size)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mesh %zu has faces of %u vertices but the model takes %s: read the file with %s", index,
                       mesh->face_size, face_size == 3 ? "triangles" : "quads",
                       face_size == 3 ? "MG_POLYGONS_TRIANGULATE" : "MG_POLYGONS_QUADS");
    mg_status status = mg_mesh_validate(mesh, diag);
    if (status != MG_OK)
        return status;
    if (params->preprocess == MG_PREPROCESS_MODEL)
        status = mg_mesh_preprocess(mesh, &config->preprocess, config->num_discrete_coors, config->coor_range, out,
                                    diag);
    else
        status = copy_mesh(mesh, out, diag);
    if (status != MG_OK)
        return status;
    if (out->num_faces > (size_t)config->max_faces) {
        size_t faces = out->num_faces;
        mg_mesh_free(out);
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "mesh %zu has %zu faces after preprocessing; this model takes at most %d: simplify the "
                       "mesh (for example with Blender's Decimate modifier)",
                       index, faces, config->max_faces);
    }
    return MG_OK;
}

mg_status mg_tokenize(mg_model *model, const mg_mesh *meshes, size_t count, const mg_tokenize_params *params,
                      mg_tokens *out_tokens, mg_mesh *out_meshes)
{
    mg_status status = check_model(model, "mg_tokenize");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &model->ctx->diag;
    if (!meshes || count == 0 || !out_tokens)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_tokenize: give at least one mesh and an output array");
    mg_tokenize_params defaults = mg_tokenize_default_params();
    if (!params)
        params = &defaults;
    if (params->preprocess != MG_PREPROCESS_MODEL && params->preprocess != MG_PREPROCESS_NONE)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_tokenize: unknown preprocess mode %d",
                       (int)params->preprocess);
    memset(out_tokens, 0, count * sizeof *out_tokens);
    const mg_ae_config *config = &model->autoencoder.config;
    const size_t face_size = (size_t)mg_ae_config_face_size(config), levels = (size_t)config->num_quantizers;
    mg_mesh *prepared = calloc(count, sizeof *prepared);
    int32_t *codes = NULL;
    mg_mesh_batch batch;
    memset(&batch, 0, sizeof batch);
    if (!prepared)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < count && status == MG_OK; i++)
        status = prepare_mesh(model, &meshes[i], i, params, &prepared[i]);
    if (status == MG_OK)
        status = mg_mesh_batch_build(prepared, count, &batch, diag);
    if (status == MG_OK) {
        codes = malloc(batch.num_faces * face_size * levels * sizeof *codes);
        if (!codes)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the codes");
    }
    if (status == MG_OK)
        status = mg_ae_tokenize(&model->autoencoder, &batch, codes, NULL);
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        const size_t first = batch.face_offsets[i], faces = batch.face_offsets[i + 1] - first;
        const size_t n = faces * face_size * levels;
        out_tokens[i].tokens = malloc(n * sizeof(int32_t));
        if (!out_tokens[i].tokens) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the tokens");
            break;
        }
        memcpy(out_tokens[i].tokens, codes + first * face_size * levels, n * sizeof(int32_t));
        out_tokens[i].num_faces = faces;
        out_tokens[i].face_size = (uint32_t)face_size;
        out_tokens[i].levels = (uint32_t)levels;
    }
    for (size_t i = 0; i < count; i++) {
        if (status == MG_OK && out_meshes)
            out_meshes[i] = prepared[i];
        else
            mg_mesh_free(&prepared[i]);
    }
    if (status != MG_OK) {
        for (size_t i = 0; i < count; i++)
            mg_tokens_free(&out_tokens[i]);
    }
    free(prepared);
    free(codes);
    mg_mesh_batch_free(&batch);
    return status;
}

static mg_status check_tokens(mg_model *model, const mg_tokens *tokens, size_t index)
{
    const mg_ae_config *config = &model->autoencoder.config;
    mg_diag *diag = &model->ctx->diag;
    if (!tokens->tokens || tokens->num_faces == 0)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "token sequence %zu is empty", index);
    if (tokens->face_size != (uint32_t)mg_ae_config_face_size(config) ||
        tokens->levels != (uint32_t)config->num_quantizers)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT,
                       "token sequence %zu has %u vertices per face and %u levels, but the model uses %d and %d: "
                       "were the tokens made with another model?",
                       index, tokens->face_size, tokens->levels, mg_ae_config_face_size(config),
                       config->num_quantizers);
    if (tokens->num_faces > (size_t)config->max_faces)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "token sequence %zu has %zu faces; this model takes at most %d",
                       index, tokens->num_faces, config->max_faces);
    return MG_OK;
}

mg_status mg_decode(mg_model *model, const mg_tokens *tokens, size_t count, mg_mesh *out_meshes)
{
    mg_status status = check_model(model, "mg_decode");
    if (status != MG_OK)
        return status;
    mg_diag *diag = &model->ctx->diag;
    if (!tokens || count == 0 || !out_meshes)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_decode: give at least one token sequence and an output array");
    memset(out_meshes, 0, count * sizeof *out_meshes);
    const mg_ae_config *config = &model->autoencoder.config;
    const size_t face_size = (size_t)mg_ae_config_face_size(config), levels = (size_t)config->num_quantizers;
    const size_t per_face = face_size * levels;
    size_t longest = 0;
    for (size_t i = 0; i < count; i++) {
        if ((status = check_tokens(model, &tokens[i], i)) != MG_OK)
            return status;
        longest = tokens[i].num_faces > longest ? tokens[i].num_faces : longest;
    }
    const size_t slots = count * longest;
    int32_t *codes = malloc(slots * per_face * sizeof *codes);
    uint8_t *mask = calloc(slots, 1);
    int32_t *discrete = malloc(slots * face_size * 3 * sizeof *discrete);
    if (!codes || !mask || !discrete) {
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for decoding");
        goto done;
    }
    for (size_t i = 0; i < slots * per_face; i++)
        codes[i] = -1;
    for (size_t i = 0; i < count; i++) {
        for (size_t f = 0; f < tokens[i].num_faces; f++) {
            const int32_t *face_tokens = tokens[i].tokens + f * per_face;
            bool valid = true;
            for (size_t t = 0; t < per_face; t++) {
                /* meshgpt-pytorch masks faces holding the pad id; an id the codebook does not
                 * have is no better, so it is masked too instead of read out of bounds. */
                valid = valid && face_tokens[t] >= 0 && face_tokens[t] < config->codebook_size;
            }
            mask[i * longest + f] = valid;
            memcpy(codes + (i * longest + f) * per_face, face_tokens, per_face * sizeof(int32_t));
        }
    }
    if ((status = mg_ae_decode(&model->autoencoder, codes, count, longest, mask, discrete, NULL, NULL)) != MG_OK)
        goto done;
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        mg_mesh *mesh = &out_meshes[i];
        const size_t faces = tokens[i].num_faces;
        mesh->vertices = malloc(faces * face_size * 3 * sizeof(float));
        mesh->faces = malloc(faces * face_size * sizeof(int32_t));
        mesh->face_mask = malloc(faces);
        if (!mesh->vertices || !mesh->faces || !mesh->face_mask) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory for the decoded mesh");
            break;
        }
        mesh->num_vertices = faces * face_size;
        mesh->num_faces = faces;
        mesh->face_size = (uint32_t)face_size;
        for (size_t f = 0; f < faces; f++) {
            const size_t slot = i * longest + f;
            mesh->face_mask[f] = mask[slot];
            for (size_t c = 0; c < face_size; c++) {
                mesh->faces[f * face_size + c] = (int32_t)(f * face_size + c);
                for (size_t axis = 0; axis < 3; axis++) {
                    int32_t d = discrete[(slot * face_size + c) * 3 + axis];
                    mesh->vertices[(f * face_size + c) * 3 + axis] =
                        mask[slot] ? mg_undiscretize(d, config->coor_range[0], config->coor_range[1],
                                                     config->num_discrete_coors)
                                   : NAN;
                }
            }
        }
    }
    if (status != MG_OK) {
        for (size_t i = 0; i < count; i++)
            mg_mesh_free(&out_meshes[i]);
    }
done:
    free(codes);
    free(mask);
    free(discrete);
    return status;
}
