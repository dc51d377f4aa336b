/*
 * Training data: a folder of mesh files with optional captions, prepared the
 * way the model's configuration says (as the tokenizer prepares meshes), then
 * augmented, shuffled and batched with the trainer's seeded RNG.
 *
 * Folder: every *.obj, *.ply, *.stl, *.gltf, *.glb (case-insensitive, hidden
 * files and sub-folders ignored), in byte order of the names so runs do not
 * depend on the file system's listing order. Captions: `captions.json` (an
 * object mapping file name -> text) or `captions.csv` (rows `file,text`, an
 * optional `file,text` header, RFC 4180 quoting) in the folder, or a file named
 * in the parameters. A caption key is a file name ("chair.obj") or its stem
 * ("chair") when that is unambiguous. A mesh may have several captions (a JSON
 * array of texts, or several CSV rows): the first is its caption, and each
 * training batch draws one of them at random (validation uses the first).
 *
 * Bad input: a missing or empty folder (no mesh files) and a folder where no
 * mesh could be read are errors; an unreadable mesh (or one the preprocessing
 * refuses, or one over max_faces) is skipped with a warning through the diag's
 * log callback and counted; captions naming no file in the folder are
 * reported the same way and counted.
 */
#ifndef MG_TRAIN_DATASET_H
#define MG_TRAIN_DATASET_H

#include "core/diag.h"
#include "mesh/adjacency.h"
#include "mesh/mesh_batch.h"
#include "model/ae_config.h"
#include "train/rng.h"

typedef struct mg_train_dataset_params {
    const char *folder;
    const char *captions_path;       /* NULL: captions.json, else captions.csv in the folder, when present */
    mg_preprocess_config preprocess; /* the model config's convention */
    int num_discrete;                /* the model's num_discrete_coors */
    float range[2];                  /* the model's coor_continuous_range */
    size_t max_faces;                /* 0: no limit; larger meshes are skipped and counted */
    mg_polygon_mode polygons;        /* how polygons become faces (default: quads for a quad model, else triangulate) */
    bool cache_adjacency;            /* compute each mesh's face adjacency once, at load */
} mg_train_dataset_params;

/* The parameters for a model with autoencoder configuration `config` (preprocessing, grid, range, faces of
 * its face size). `folder` is still to be set. */
mg_train_dataset_params mg_train_dataset_default_params(const mg_ae_config *config);

typedef struct mg_train_item {
    char *name;                  /* the file name within the folder */
    char *caption;               /* NULL when the captions file has none for it */
    char **more_captions;        /* further captions of the same mesh (a JSON array, repeated CSV rows) */
    size_t more_caption_count;
    mg_mesh mesh;                /* preprocessed */
    mg_face_adjacency adjacency; /* of `mesh` when cached (num_faces 0 otherwise) */
} mg_train_item;

typedef struct mg_train_dataset {
    mg_train_item *items;
    size_t count;
    uint32_t face_size;
    mg_train_dataset_params params;   /* as loaded (folder and captions_path not kept) */
    size_t mesh_files;                /* mesh files found */
    size_t skipped_unreadable;        /* files that did not read or that preprocessing refused */
    size_t skipped_too_large;         /* meshes over max_faces after preprocessing */
    size_t captions_without_mesh;     /* caption entries naming no mesh file of the folder */
    size_t meshes_without_caption;    /* (only counted when there is a captions file) */
} mg_train_dataset;

mg_status mg_train_dataset_load(const mg_train_dataset_params *params, mg_train_dataset *out, mg_diag *diag);
/* Frees everything and zeroes the struct; a zeroed struct is fine. */
void mg_train_dataset_free(mg_train_dataset *dataset);

/* ---- augmentation ---- */

/* The paper's augmentation (MeshGPT's official code): per-axis scale, shift, and a per-vertex jitter
 * (Marcus's notebook). Shift and jitter are fractions of the coordinate range's width. */
typedef struct mg_augment_params {
    float scale_min, scale_max; /* 0.75, 1.25: each axis scaled by U[min, max) about the range's centre */
    float shift[3];             /* 0.1, 0.1, 0.075: each axis shifted by U[-shift, shift) x width */
    float jitter;               /* 0.005: each vertex coordinate moved by U[-jitter, jitter) x width */
} mg_augment_params;

mg_augment_params mg_augment_default_params(void);

/*
 * Draws one augmentation of `mesh` (prepared, inside `range`) with `rng` and prepares the result again
 * (snapping, merging, ordering as `preprocess` says, without re-normalizing): scale per axis (an axis that
 * would leave the range is shrunk to fit), shift clamped so the box stays inside the range, jitter clamped
 * into the range. The same RNG state gives the same mesh. Draws a fixed number of values per call
 * (6 + 3 per vertex), so later draws do not depend on the result.
 */
mg_status mg_train_augment(const mg_mesh *mesh, const mg_augment_params *params,
                           const mg_preprocess_config *preprocess, int num_discrete, const float range[2],
                           mg_rng *rng, mg_mesh *out, mg_diag *diag);

/* ---- epochs and batches ---- */

/* The item order of one epoch: 0..count-1, shuffled with rng when `shuffle` (malloc'ed). */
mg_status mg_train_epoch_order(const mg_train_dataset *dataset, mg_rng *rng, bool shuffle, size_t **out_order,
                               mg_diag *diag);

typedef struct mg_train_batch {
    size_t count;
    size_t *indices;          /* dataset items */
    mg_mesh *meshes;          /* the meshes as trained on (augmented copies, or copies of the items) */
    const char **captions;    /* the items' captions (NULL entries where none), owned by the dataset: with an
                               * RNG, one drawn from each item's captions, else its first */
    size_t max_faces;         /* the padded length: the most faces of a mesh in the batch */
    size_t max_vertices;
    /* Padded as upstream's collate pads: [count, max_faces, face_size] with -1 for pad faces, and
     * [count, max_vertices, 3] with 0 for pad vertices. */
    int32_t *padded_faces;
    float *padded_vertices;
    size_t *face_counts;      /* [count] */
    mg_mesh_batch packed;     /* the same meshes packed for the encoder (face adjacency included) */
} mg_train_batch;

/* A batch of the items `indices`, augmented with rng when `augment` is non-NULL. With an rng (training), an
 * item with several captions gets one drawn at random from a stream of its own; without (validation), its
 * first. */
mg_status mg_train_batch_make(const mg_train_dataset *dataset, const size_t *indices, size_t count,
                              const mg_augment_params *augment, mg_rng *rng, mg_train_batch *out, mg_diag *diag);
void mg_train_batch_free(mg_train_batch *batch);

#endif
