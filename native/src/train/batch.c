/* Augmentation, epoch order and batches of training meshes (train/dataset.h). */
#include "train/dataset.h"

#include "mesh/mesh_alloc.h"
#include "mesh/preprocess.h"

#include <stdlib.h>
#include <string.h>

#define CAPTION_STREAM 0xCA97000000000000ull

mg_augment_params mg_augment_default_params(void)
{
    return (mg_augment_params){.scale_min = 0.75f, .scale_max = 1.25f, .shift = {0.1f, 0.1f, 0.075f},
                               .jitter = 0.005f};
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

mg_status mg_train_augment(const mg_mesh *mesh, const mg_augment_params *params,
                           const mg_preprocess_config *preprocess, int num_discrete, const float range[2],
                           mg_rng *rng, mg_mesh *out, mg_diag *diag)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!mesh || !params || !preprocess || !range || !rng || !out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_augment: NULL argument");
    if (!(params->scale_min > 0.0f && params->scale_max >= params->scale_min) || !(params->jitter >= 0.0f))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_augment: scales must satisfy 0 < min <= max and "
                       "jitter must be >= 0");
    size_t nv = mesh->num_vertices;
    if (nv == 0 || !mesh->vertices)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_augment: the mesh has no vertices");
    float lo = range[0], hi = range[1], width = hi - lo, centre = 0.5f * (lo + hi);
    /* A fixed number of draws per call: 3 scales, 3 shifts, 3 per vertex. */
    float scale[3], shift_draw[3];
    for (int a = 0; a < 3; a++)
        scale[a] = (float)mg_rng_uniform_range(rng, params->scale_min, params->scale_max);
    for (int a = 0; a < 3; a++)
        shift_draw[a] = (float)mg_rng_uniform_range(rng, -1.0, 1.0);
    mg_mesh work = *mesh;
    work.face_mask = NULL;
    work.vertices = malloc(nv * 3 * sizeof *work.vertices);
    if (!work.vertices) {
        for (size_t i = 0; i < nv * 3; i++)
            mg_rng_next_u64(rng);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory augmenting a mesh");
    }
    for (int a = 0; a < 3; a++) {
        float mn = mesh->vertices[a], mx = mesh->vertices[a];
        for (size_t v = 1; v < nv; v++) {
            float x = mesh->vertices[v * 3 + (size_t)a];
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
        }
        /* Scale about the range's centre; shrink to fit when the scaled box would leave the range. */
        float s = scale[a];
        float far = (mx - centre) > (centre - mn) ? mx - centre : centre - mn;
        if (far * s > 0.5f * width && far > 0.0f)
            s = 0.5f * width / far;
        float smin = centre + (mn - centre) * s, smax = centre + (mx - centre) * s;
        /* Shift, clamped so the box stays inside the range. */
        float shift = shift_draw[a] * params->shift[a] * width;
        shift = clampf(shift, lo - smin, hi - smax);
        for (size_t v = 0; v < nv; v++) {
            float x = mesh->vertices[v * 3 + (size_t)a];
            work.vertices[v * 3 + (size_t)a] = centre + (x - centre) * s + shift;
        }
    }
    for (size_t i = 0; i < nv * 3; i++) {
        float j = (float)mg_rng_uniform_range(rng, -1.0, 1.0) * params->jitter * width;
        work.vertices[i] = clampf(work.vertices[i] + j, lo, hi);
    }
    mg_preprocess_config again = *preprocess;
    again.normalize = false; /* keep the augmentation's scale and place */
    mg_status status = mg_mesh_preprocess(&work, &again, num_discrete, range, out, diag);
    free(work.vertices);
    return status;
}

mg_status mg_train_epoch_order(const mg_train_dataset *dataset, mg_rng *rng, bool shuffle, size_t **out_order,
                               mg_diag *diag)
{
    if (!dataset || !out_order || (shuffle && !rng))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_epoch_order: NULL argument");
    *out_order = NULL;
    size_t *order = malloc((dataset->count ? dataset->count : 1) * sizeof *order);
    if (!order)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < dataset->count; i++)
        order[i] = i;
    if (shuffle)
        mg_rng_shuffle_sizes(rng, order, dataset->count);
    *out_order = order;
    return MG_OK;
}

void mg_train_batch_free(mg_train_batch *batch)
{
    if (!batch)
        return;
    for (size_t i = 0; batch->meshes && i < batch->count; i++)
        mg_mesh_release(&batch->meshes[i]);
    free(batch->meshes);
    free(batch->indices);
    free(batch->captions);
    free(batch->padded_faces);
    free(batch->padded_vertices);
    free(batch->face_counts);
    mg_mesh_batch_free(&batch->packed);
    memset(batch, 0, sizeof *batch);
}

static mg_status copy_mesh(const mg_mesh *src, mg_mesh *dst, mg_diag *diag)
{
    memset(dst, 0, sizeof *dst);
    dst->vertices = malloc(src->num_vertices * 3 * sizeof *dst->vertices);
    dst->faces = malloc(src->num_faces * src->face_size * sizeof *dst->faces);
    if (!dst->vertices || !dst->faces) {
        mg_mesh_release(dst);
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    memcpy(dst->vertices, src->vertices, src->num_vertices * 3 * sizeof *dst->vertices);
    memcpy(dst->faces, src->faces, src->num_faces * src->face_size * sizeof *dst->faces);
    dst->num_vertices = src->num_vertices;
    dst->num_faces = src->num_faces;
    dst->face_size = src->face_size;
    return MG_OK;
}

mg_status mg_train_batch_make(const mg_train_dataset *dataset, const size_t *indices, size_t count,
                              const mg_augment_params *augment, mg_rng *rng, mg_train_batch *out, mg_diag *diag)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!dataset || !indices || !out || count == 0 || (augment && !rng))
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_batch_make: needs a dataset, at least one index, "
                       "an output and, to augment, an RNG");
    for (size_t i = 0; i < count; i++)
        if (indices[i] >= dataset->count)
            return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_train_batch_make: index %zu is past the %zu items",
                           indices[i], dataset->count);
    mg_train_batch b;
    memset(&b, 0, sizeof b);
    b.indices = malloc(count * sizeof *b.indices);
    b.meshes = calloc(count, sizeof *b.meshes);
    b.captions = calloc(count, sizeof *b.captions);
    b.face_counts = calloc(count, sizeof *b.face_counts);
    mg_status status = MG_OK;
    if (!b.indices || !b.meshes || !b.captions || !b.face_counts)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    /* Its own stream, so that drawing captions leaves the augmentation's draws as they were. */
    mg_rng caption_rng = rng ? mg_rng_fork(rng, CAPTION_STREAM) : (mg_rng){{0}};
    for (size_t i = 0; i < count && status == MG_OK; i++) {
        const mg_train_item *item = &dataset->items[indices[i]];
        b.indices[i] = indices[i];
        b.captions[i] = item->caption;
        if (rng && item->more_caption_count) {
            uint64_t pick = mg_rng_below(&caption_rng, 1 + (uint64_t)item->more_caption_count);
            if (pick)
                b.captions[i] = item->more_captions[pick - 1];
        }
        status = augment ? mg_train_augment(&item->mesh, augment, &dataset->params.preprocess,
                                            dataset->params.num_discrete, dataset->params.range, rng, &b.meshes[i],
                                            diag)
                         : copy_mesh(&item->mesh, &b.meshes[i], diag);
        b.count = i + 1;
        if (status == MG_OK) {
            b.face_counts[i] = b.meshes[i].num_faces;
            if (b.meshes[i].num_faces > b.max_faces)
                b.max_faces = b.meshes[i].num_faces;
            if (b.meshes[i].num_vertices > b.max_vertices)
                b.max_vertices = b.meshes[i].num_vertices;
        }
    }
    uint32_t fs = dataset->face_size;
    if (status == MG_OK) {
        b.padded_faces = malloc(count * b.max_faces * fs * sizeof *b.padded_faces);
        b.padded_vertices = calloc(count * b.max_vertices * 3, sizeof *b.padded_vertices);
        if (!b.padded_faces || !b.padded_vertices)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    if (status == MG_OK) {
        for (size_t i = 0; i < count * b.max_faces * fs; i++)
            b.padded_faces[i] = -1;
        for (size_t i = 0; i < count; i++) {
            const mg_mesh *m = &b.meshes[i];
            memcpy(b.padded_faces + i * b.max_faces * fs, m->faces, m->num_faces * fs * sizeof *m->faces);
            memcpy(b.padded_vertices + i * b.max_vertices * 3, m->vertices, m->num_vertices * 3 * sizeof(float));
        }
        status = mg_mesh_batch_build(b.meshes, count, &b.packed, diag);
    }
    if (status != MG_OK) {
        mg_train_batch_free(&b);
        return status;
    }
    *out = b;
    return MG_OK;
}
