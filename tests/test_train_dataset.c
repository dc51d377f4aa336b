/*
 * Training folders (train/dataset.h): listing and preparing meshes, captions
 * (JSON and CSV), bad input (empty or missing folder, unreadable meshes
 * skipped with a warning and counted, captions for missing files), seeded
 * shuffling and augmentation, padded and packed batches.
 */
#include "test_util.h"
#include "train/captions.h"
#include "train/dataset.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- folders ---- */

static char *make_folder(void)
{
    char *dir = strdup("/tmp/mg-test-data-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void remove_folder(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static const char *TETRA = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n";
static const char *PYRAMID = "v -1 0 -1\nv 1 0 -1\nv 1 0 1\nv -1 0 1\nv 0 1.5 0\n"
                             "f 1 2 3 4\nf 1 5 2\nf 2 5 3\nf 3 5 4\nf 4 5 1\n"; /* a quad base: 6 triangles */
static const char *CUBE = "v -1 -1 -1\nv 1 -1 -1\nv 1 1 -1\nv -1 1 -1\nv -1 -1 1\nv 1 -1 1\nv 1 1 1\nv -1 1 1\n"
                          "f 1 4 3 2\nf 5 6 7 8\nf 1 2 6 5\nf 2 3 7 6\nf 3 4 8 7\nf 4 1 5 8\n"; /* 12 triangles */
static const char *OCTA = "v 1 0 0\nv -1 0 0\nv 0 1 0\nv 0 -1 0\nv 0 0 1\nv 0 0 -1\n"
                          "f 1 3 5\nf 3 2 5\nf 2 4 5\nf 4 1 5\nf 3 1 6\nf 2 3 6\nf 4 2 6\nf 1 4 6\n";

typedef struct log_capture {
    char text[8192];
    int warnings;
} log_capture;

static void capture(mg_log_level level, const char *message, void *user)
{
    log_capture *c = user;
    if (level != MG_LOG_WARN)
        return;
    c->warnings++;
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s\n", message);
}

static mg_train_dataset_params params_for(const char *dir)
{
    mg_ae_config config;
    mg_ae_config_defaults(&config);
    mg_train_dataset_params p = mg_train_dataset_default_params(&config);
    p.folder = dir;
    return p;
}

Test(train_dataset, empty_or_missing_folder_is_a_clear_error)
{
    char *dir = make_folder();
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "has no mesh files"), "%s", diag.last_error);
    /* Captions and other files are not meshes. */
    write_file(dir, "captions.json", "{\"a.obj\": \"a chair\"}");
    write_file(dir, "notes.txt", "v 0 0 0\n");
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "has no mesh files"), "%s", diag.last_error);
    /* Only unreadable meshes. */
    write_file(dir, "broken.obj", "this is not a mesh\n");
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(diag.last_error, "none of the 1 mesh files"), "%s", diag.last_error);
    p.folder = "/nonexistent/meshgpt/data";
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_IO);
    cr_assert(strstr(diag.last_error, "/nonexistent/meshgpt/data"), "%s", diag.last_error);
    cr_assert_eq(ds.count, 0);
    mg_diag_destroy(&diag);
    remove_folder(dir);
}

Test(train_dataset, unreadable_and_oversized_meshes_are_skipped_warned_and_counted)
{
    char *dir = make_folder();
    write_file(dir, "a_tetra.obj", TETRA);
    write_file(dir, "b_broken.obj", "v 0 0 0\nv 1 0 0\nf 1 2 9\n");
    write_file(dir, "c_noise.ply", "hello\n");
    write_file(dir, "d_cube.OBJ", CUBE);
    write_file(dir, "e_octa.obj", OCTA);
    log_capture log = {"", 0};
    mg_diag diag;
    mg_diag_init(&diag, capture, &log, MG_LOG_INFO);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    p.max_faces = 10; /* the cube has 12 triangles */
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(ds.mesh_files, 5);
    cr_assert_eq(ds.count, 2);
    cr_assert_eq(ds.skipped_unreadable, 2);
    cr_assert_eq(ds.skipped_too_large, 1);
    cr_assert_str_eq(ds.items[0].name, "a_tetra.obj");
    cr_assert_str_eq(ds.items[1].name, "e_octa.obj");
    cr_assert(strstr(log.text, "b_broken.obj") && strstr(log.text, "c_noise.ply") && strstr(log.text, "d_cube.OBJ"),
              "%s", log.text);
    cr_assert(strstr(log.text, "using 2 of 5 mesh files"), "%s", log.text);
    /* Prepared as the tokenizer prepares them, with the adjacency cached. */
    cr_assert_eq(ds.items[0].mesh.num_faces, 4);
    cr_assert_eq(ds.items[1].mesh.num_faces, 8);
    cr_assert_eq(ds.items[1].adjacency.num_faces, 8);
    cr_assert_eq(ds.items[1].adjacency.offsets[8], 8 * 4, "each octahedron face: itself + 3 edge neighbours");
    cr_assert_null(ds.items[0].caption);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    remove_folder(dir);
}

Test(train_dataset, captions_json_by_name_or_stem_and_missing_files_reported)
{
    char *dir = make_folder();
    write_file(dir, "tetra.obj", TETRA);
    write_file(dir, "cube.obj", CUBE);
    write_file(dir, "octa.obj", OCTA);
    write_file(dir, "broken.obj", "nonsense\n");
    write_file(dir, "captions.json", "{\"tetra.obj\": \"a tetrahedron\", \"cube\": \"a cube\", "
                                     "\"ghost.obj\": \"never there\", \"broken.obj\": \"skipped, not missing\"}");
    log_capture log = {"", 0};
    mg_diag diag;
    mg_diag_init(&diag, capture, &log, MG_LOG_INFO);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(ds.count, 3);
    cr_assert_str_eq(ds.items[0].name, "cube.obj");
    cr_assert_str_eq(ds.items[0].caption, "a cube");
    cr_assert_null(ds.items[1].caption);
    cr_assert_str_eq(ds.items[2].caption, "a tetrahedron");
    cr_assert_eq(ds.captions_without_mesh, 1);
    cr_assert_eq(ds.meshes_without_caption, 1);
    cr_assert(strstr(log.text, "ghost.obj"), "%s", log.text);
    cr_assert(strstr(log.text, "1 caption names no mesh file"), "%s", log.text);
    mg_train_dataset_free(&ds);
    /* A malformed captions file is an error naming it. */
    write_file(dir, "captions.json", "[\"tetra.obj\"]");
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "captions.json"), "%s", diag.last_error);
    mg_diag_destroy(&diag);
    remove_folder(dir);
}

Test(train_dataset, captions_csv_with_header_quotes_and_commas)
{
    const char *csv = "\xef\xbb\xbf" "file,text\r\n"
                      "chair.obj,a wooden chair\r\n"
                      "\n"
                      "table.obj,\"a table, round, with \"\"legs\"\"\"\n"
                      "lamp.obj,tall, thin lamp\n";
    mg_caption_list list;
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    cr_assert_eq(mg_captions_parse_csv(csv, strlen(csv), "captions.csv", &list, &diag), MG_OK, "%s",
                 diag.last_error);
    cr_assert_eq(list.count, 3);
    cr_assert_str_eq(list.entries[0].file, "chair.obj");
    cr_assert_str_eq(list.entries[0].text, "a wooden chair");
    cr_assert_str_eq(list.entries[1].file, "table.obj");
    cr_assert_str_eq(list.entries[1].text, "a table, round, with \"legs\"");
    cr_assert_str_eq(list.entries[2].text, "tall, thin lamp");
    mg_caption_list_free(&list);
    const char *bad = "chair.obj,\"never closed\n";
    cr_assert_eq(mg_captions_parse_csv(bad, strlen(bad), "captions.csv", &list, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "row 1"), "%s", diag.last_error);
    const char *no_comma = "chair.obj\n";
    cr_assert_eq(mg_captions_parse_csv(no_comma, strlen(no_comma), "captions.csv", &list, &diag), MG_ERR_FORMAT);

    /* Picked up from the folder when there is no captions.json. */
    char *dir = make_folder();
    write_file(dir, "chair.obj", TETRA);
    write_file(dir, "captions.csv", csv);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_str_eq(ds.items[0].caption, "a wooden chair");
    cr_assert_eq(ds.captions_without_mesh, 2);
    mg_train_dataset_free(&ds);
    mg_diag_destroy(&diag);
    remove_folder(dir);
}

Test(train_dataset, several_captions_per_mesh_are_drawn_in_training_and_the_first_in_validation)
{
    char *dir = make_folder();
    write_file(dir, "tetra.obj", TETRA);
    write_file(dir, "cube.obj", CUBE);
    write_file(dir, "captions.json", "{\"tetra.obj\": [\"a small tetrahedron\", \"a tetrahedron\", \"a shape\"], "
                                     "\"cube.obj\": \"a cube\"}");
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_str_eq(ds.items[1].caption, "a small tetrahedron");
    cr_assert_eq(ds.items[1].more_caption_count, 2);
    cr_assert_str_eq(ds.items[1].more_captions[0], "a tetrahedron");
    cr_assert_str_eq(ds.items[1].more_captions[1], "a shape");
    cr_assert_eq(ds.items[0].more_caption_count, 0);

    /* Without an RNG (validation): always the first caption. */
    const size_t both[] = {0, 1};
    mg_train_batch batch;
    cr_assert_eq(mg_train_batch_make(&ds, both, 2, NULL, NULL, &batch, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_str_eq(batch.captions[0], "a cube");
    cr_assert_str_eq(batch.captions[1], "a small tetrahedron");
    mg_train_batch_free(&batch);

    /* With one (training): each of the three, about a third of the time each, the same for the same seed. */
    size_t seen[3] = {0, 0, 0};
    const char *texts[3] = {"a small tetrahedron", "a tetrahedron", "a shape"};
    for (uint64_t seed = 0; seed < 300; seed++) {
        mg_rng rng, again;
        mg_rng_seed(&rng, seed);
        again = rng;
        mg_train_batch other;
        cr_assert_eq(mg_train_batch_make(&ds, both, 2, NULL, &rng, &batch, &diag), MG_OK, "%s", diag.last_error);
        cr_assert_eq(mg_train_batch_make(&ds, both, 2, NULL, &again, &other, &diag), MG_OK);
        cr_assert_str_eq(batch.captions[0], "a cube");
        cr_assert_str_eq(batch.captions[1], other.captions[1]);
        size_t k = 0;
        while (k < 3 && strcmp(batch.captions[1], texts[k]) != 0)
            k++;
        cr_assert_lt(k, 3, "drew '%s'", batch.captions[1]);
        seen[k]++;
        mg_train_batch_free(&batch);
        mg_train_batch_free(&other);
    }
    for (size_t k = 0; k < 3; k++)
        cr_expect(seen[k] > 70 && seen[k] < 130, "'%s' drawn %zu times of 300", texts[k], seen[k]);

    /* Drawing a caption leaves the augmentation's draws as they were: the same mesh as with one caption. */
    mg_augment_params aug = mg_augment_default_params();
    mg_rng r1, r2;
    mg_rng_seed(&r1, 7);
    r2 = r1;
    mg_train_batch with_caption, without;
    const size_t tetra_only[] = {1};
    cr_assert_eq(mg_train_batch_make(&ds, tetra_only, 1, &aug, &r1, &with_caption, &diag), MG_OK);
    mg_train_item *tetra = &ds.items[1];
    size_t kept_count = tetra->more_caption_count;
    tetra->more_caption_count = 0;
    cr_assert_eq(mg_train_batch_make(&ds, tetra_only, 1, &aug, &r2, &without, &diag), MG_OK);
    tetra->more_caption_count = kept_count;
    cr_assert_eq(with_caption.meshes[0].num_vertices, without.meshes[0].num_vertices);
    cr_assert_eq(memcmp(with_caption.meshes[0].vertices, without.meshes[0].vertices,
                        3 * without.meshes[0].num_vertices * sizeof(float)), 0);
    mg_train_batch_free(&with_caption);
    mg_train_batch_free(&without);
    mg_train_dataset_free(&ds);

    /* CSV: a file's rows in order; an empty JSON array and a non-string in one are errors naming the file. */
    write_file(dir, "captions.json", "{\"tetra.obj\": []}");
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "tetra.obj") && strstr(diag.last_error, "empty"), "%s", diag.last_error);
    write_file(dir, "captions.json", "{\"tetra.obj\": [\"a tetrahedron\", 3]}");
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_ERR_FORMAT);
    cr_assert(strstr(diag.last_error, "only strings"), "%s", diag.last_error);
    remove_folder(dir);
    const char *csv = "tetra.obj,a tetrahedron\ncube.obj,a cube\ntetra.obj,a pyramid\n";
    mg_caption_list list;
    cr_assert_eq(mg_captions_parse_csv(csv, strlen(csv), "captions.csv", &list, &diag), MG_OK);
    cr_assert_eq(list.count, 3);
    cr_assert_str_eq(list.entries[2].file, "tetra.obj");
    cr_assert_str_eq(list.entries[2].text, "a pyramid");
    mg_caption_list_free(&list);
    mg_diag_destroy(&diag);
}

/* ---- shuffling, augmentation, batches ---- */

static mg_train_dataset load_four(char **dir_out)
{
    char *dir = make_folder();
    write_file(dir, "1.obj", TETRA);
    write_file(dir, "2.obj", PYRAMID);
    write_file(dir, "3.obj", CUBE);
    write_file(dir, "4.obj", OCTA);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_train_dataset ds;
    mg_train_dataset_params p = params_for(dir);
    cr_assert_eq(mg_train_dataset_load(&p, &ds, &diag), MG_OK, "%s", diag.last_error);
    mg_diag_destroy(&diag);
    *dir_out = dir;
    return ds;
}

Test(train_dataset, shuffling_is_deterministic_per_seed)
{
    char *dir;
    mg_train_dataset ds = load_four(&dir);
    cr_assert_eq(ds.count, 4);
    /* Over a few epochs: the same seed gives the same orders, another seed other orders. */
    mg_rng a, b, c;
    mg_rng_seed(&a, 9);
    mg_rng_seed(&b, 9);
    mg_rng_seed(&c, 10);
    int differs = 0;
    for (int epoch = 0; epoch < 6; epoch++) {
        size_t *x, *y, *z;
        cr_assert_eq(mg_train_epoch_order(&ds, &a, true, &x, NULL), MG_OK);
        cr_assert_eq(mg_train_epoch_order(&ds, &b, true, &y, NULL), MG_OK);
        cr_assert_eq(mg_train_epoch_order(&ds, &c, true, &z, NULL), MG_OK);
        cr_assert(memcmp(x, y, 4 * sizeof *x) == 0);
        differs += memcmp(x, z, 4 * sizeof *x) != 0;
        free(x), free(y), free(z);
    }
    cr_assert(differs >= 3, "seeds 9 and 10 gave the same order in %d of 6 epochs", 6 - differs);
    size_t *plain;
    cr_assert_eq(mg_train_epoch_order(&ds, NULL, false, &plain, NULL), MG_OK);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(plain[i], i);
    free(plain);
    mg_train_dataset_free(&ds);
    remove_folder(dir);
}

static void bbox(const mg_mesh *m, float lo[3], float hi[3])
{
    for (int a = 0; a < 3; a++) {
        lo[a] = INFINITY;
        hi[a] = -INFINITY;
    }
    for (size_t v = 0; v < m->num_vertices; v++)
        for (int a = 0; a < 3; a++) {
            float x = m->vertices[v * 3 + (size_t)a];
            lo[a] = fminf(lo[a], x);
            hi[a] = fmaxf(hi[a], x);
        }
}

Test(train_dataset, augmentation_is_deterministic_per_seed_and_stays_in_range)
{
    char *dir;
    mg_train_dataset ds = load_four(&dir);
    const mg_mesh *cube = &ds.items[2].mesh;
    cr_assert_eq(cube->num_faces, 12);
    mg_augment_params aug = mg_augment_default_params();
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    float lo0[3], hi0[3];
    bbox(cube, lo0, hi0);
    int anisotropic = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        mg_rng r1, r2, r3;
        mg_rng_seed(&r1, seed);
        mg_rng_seed(&r2, seed);
        mg_rng_seed(&r3, seed + 100);
        mg_mesh m1, m2, m3;
        cr_assert_eq(mg_train_augment(cube, &aug, &ds.params.preprocess, ds.params.num_discrete, ds.params.range, &r1,
                                      &m1, &diag), MG_OK, "%s", diag.last_error);
        cr_assert_eq(mg_train_augment(cube, &aug, &ds.params.preprocess, ds.params.num_discrete, ds.params.range, &r2,
                                      &m2, &diag), MG_OK);
        cr_assert_eq(mg_train_augment(cube, &aug, &ds.params.preprocess, ds.params.num_discrete, ds.params.range, &r3,
                                      &m3, &diag), MG_OK);
        cr_assert(memcmp(&r1, &r2, sizeof r1) == 0);
        cr_assert_eq(m1.num_vertices, m2.num_vertices);
        cr_assert(memcmp(m1.vertices, m2.vertices, m1.num_vertices * 3 * sizeof(float)) == 0);
        cr_assert(memcmp(m1.faces, m2.faces, m1.num_faces * 3 * sizeof(int32_t)) == 0);
        cr_assert(m1.num_vertices != m3.num_vertices ||
                  memcmp(m1.vertices, m3.vertices, m1.num_vertices * 3 * sizeof(float)) != 0);
        /* Still a cube (nothing merged), inside the range. */
        cr_assert_eq(m1.num_faces, 12);
        float lo[3], hi[3];
        bbox(&m1, lo, hi);
        for (int a = 0; a < 3; a++)
            cr_assert(lo[a] >= -1.0f && hi[a] <= 1.0f, "axis %d: [%g, %g]", a, (double)lo[a], (double)hi[a]);
        /* The three axes were scaled by different factors (per-axis scale), beyond the jitter. */
        float r0 = (hi[0] - lo[0]) / (hi0[0] - lo0[0]), r1s = (hi[1] - lo[1]) / (hi0[1] - lo0[1]);
        anisotropic += fabsf(r0 - r1s) > 0.02f;
        mg_mesh_free(&m1), mg_mesh_free(&m2), mg_mesh_free(&m3);
    }
    cr_assert(anisotropic >= 4, "only %d of 8 augmentations scaled x and y differently", anisotropic);
    mg_diag_destroy(&diag);
    mg_train_dataset_free(&ds);
    remove_folder(dir);
}

Test(train_dataset, batches_are_padded_by_face_count_and_packed)
{
    char *dir;
    mg_train_dataset ds = load_four(&dir);
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    size_t indices[3] = {3, 0, 2}; /* octahedron 8, tetrahedron 4, cube 12 faces */
    mg_train_batch b;
    cr_assert_eq(mg_train_batch_make(&ds, indices, 3, NULL, NULL, &b, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(b.count, 3);
    cr_assert_eq(b.max_faces, 12);
    cr_assert_eq(b.face_counts[0], 8);
    cr_assert_eq(b.face_counts[1], 4);
    cr_assert_eq(b.face_counts[2], 12);
    for (size_t m = 0; m < 3; m++)
        for (size_t f = 0; f < 12; f++)
            for (size_t c = 0; c < 3; c++) {
                int32_t v = b.padded_faces[(m * 12 + f) * 3 + c];
                if (f < b.face_counts[m])
                    cr_assert_eq(v, b.meshes[m].faces[f * 3 + c]);
                else
                    cr_assert_eq(v, -1, "pad face of mesh %zu", m);
            }
    cr_assert_eq(b.packed.num_faces, 24);
    cr_assert_eq(b.packed.num_meshes, 3);
    /* The cached adjacency of each item is its block of the packed adjacency (offset by its first face). */
    for (size_t m = 0; m < 3; m++) {
        const mg_face_adjacency *cached = &ds.items[indices[m]].adjacency;
        size_t base = b.packed.face_offsets[m];
        for (size_t f = 0; f < cached->num_faces; f++) {
            int32_t n = cached->offsets[f + 1] - cached->offsets[f];
            const int32_t *packed_row = b.packed.adjacency.neighbors + b.packed.adjacency.offsets[base + f];
            cr_assert_eq(b.packed.adjacency.offsets[base + f + 1] - b.packed.adjacency.offsets[base + f], n);
            for (int32_t k = 0; k < n; k++)
                cr_assert_eq(packed_row[k], cached->neighbors[cached->offsets[f] + k] + (int32_t)base);
        }
    }
    mg_train_batch_free(&b);
    /* Augmented batches: reproducible from the RNG state. */
    mg_augment_params aug = mg_augment_default_params();
    mg_rng r1, r2;
    mg_rng_seed(&r1, 3);
    mg_rng_seed(&r2, 3);
    mg_train_batch b1, b2;
    cr_assert_eq(mg_train_batch_make(&ds, indices, 3, &aug, &r1, &b1, &diag), MG_OK, "%s", diag.last_error);
    cr_assert_eq(mg_train_batch_make(&ds, indices, 3, &aug, &r2, &b2, &diag), MG_OK);
    cr_assert_eq(b1.max_vertices, b2.max_vertices);
    cr_assert(memcmp(b1.padded_vertices, b2.padded_vertices, 3 * b1.max_vertices * 3 * sizeof(float)) == 0);
    mg_train_batch_free(&b1);
    mg_train_batch_free(&b2);
    size_t bad[1] = {4};
    cr_assert_eq(mg_train_batch_make(&ds, bad, 1, NULL, NULL, &b, &diag), MG_ERR_INVALID_ARGUMENT);
    mg_diag_destroy(&diag);
    mg_train_dataset_free(&ds);
    remove_folder(dir);
}
