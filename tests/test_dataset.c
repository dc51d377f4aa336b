/*
 * The procedural data set (`meshgpt dataset primitives`): every class over several seeds is a valid
 * closed surface by the eval's own checks (mg_mesh_check), stays valid after the tokenizer's 128-bin
 * preprocessing, is deterministic per seed, and its caption names the parameters it was drawn with
 * (the thresholds are re-derived here from labels' parameters, independently of shapes.c's words).
 */
#include "mesh/mesh_alloc.h"
#include "mesh/preprocess.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEEDS 40

static void quiet_log(mg_log_level level, const char *message, void *user_data)
{
    (void)level, (void)message, (void)user_data;
}

static size_t expected_components(const char *name, const cJSON *params)
{
    if (strcmp(name, "table") == 0)
        return 5;
    if (strcmp(name, "chair") == 0)
        return 6;
    if (strcmp(name, "stool") == 0)
        return 1 + (size_t)cJSON_GetObjectItem(params, "legs")->valuedouble;
    return 1;
}

Test(dataset, every_class_is_a_valid_closed_outward_surface)
{
    const size_t classes = mg_primitive_class_count();
    cr_assert_eq(classes, 19);
    size_t total_faces = 0, shapes = 0, largest = 0;
    for (size_t k = 0; k < classes; k++) {
        for (uint64_t seed = 0; seed < SEEDS; seed++) {
            char error[256];
            mg_primitive p;
            cr_assert_eq(mg_primitive_generate(k, seed * 7919 + 1, &p, error, sizeof error), MG_OK, "%s", error);
            const char *name = mg_primitive_class_name(k);
            mg_mesh_validity v;
            cr_assert_eq(mg_mesh_check(&p.mesh, &v, error, sizeof error), MG_OK, "%s", error);
            cr_expect(v.valid, "%s seed %d: not valid (%zu degenerate, %zu duplicate, %zu non-manifold edges)", name,
                      (int)seed, v.degenerate_faces, v.duplicate_faces, v.non_manifold_edges);
            cr_expect(v.watertight, "%s seed %d: %zu boundary edges", name, (int)seed, v.boundary_edges);
            cr_expect(v.consistently_oriented, "%s seed %d: %zu inconsistent edges", name, (int)seed,
                      v.inconsistent_edges);
            cr_expect_eq(v.inward_components, 0, "%s seed %d: %zu parts wound inward", name, (int)seed,
                         v.inward_components);
            cr_expect_gt(v.signed_volume, 0.0, "%s: volume %g", name, v.signed_volume);
            cr_expect_eq(v.unreferenced_vertices, 0, "%s", name);
            cr_expect_leq(p.mesh.num_faces, 800, "%s: %zu faces", name, p.mesh.num_faces);
            cJSON *params = cJSON_Parse(p.parameters_json);
            cr_assert(cJSON_IsObject(params), "%s: parameters are not a JSON object: %s", name, p.parameters_json);
            cr_expect_eq(v.components, expected_components(name, params), "%s seed %d: %zu components", name,
                         (int)seed, v.components);
            cJSON_Delete(params);
            total_faces += p.mesh.num_faces;
            largest = p.mesh.num_faces > largest ? p.mesh.num_faces : largest;
            shapes++;
            mg_primitive_free(&p);
        }
    }
    /* Small meshes: the default model trains on these on a CPU. */
    cr_log_info("mean faces %.1f, largest %zu", (double)total_faces / (double)shapes, largest);
    cr_expect_lt((double)total_faces / (double)shapes, 120.0);
    cr_expect_leq(largest, 260);
}

/* The tokenizer sees shapes normalized and snapped to 128 bins: they must stay valid surfaces there. */
Test(dataset, shapes_survive_the_tokenizer_grid)
{
    mg_diag diag;
    mg_diag_init(&diag, quiet_log, NULL, MG_LOG_NONE);
    mg_preprocess_config config = {.normalize = true, .normalize_scale = 0.95f, .merge_vertices = true,
                                   .drop_degenerate = true, .order = MG_ORDER_ZYX,
                                   .rotation = MG_FACE_ROTATE_CYCLIC, .sort_faces = true};
    const float range[2] = {-1.0f, 1.0f};
    for (size_t k = 0; k < mg_primitive_class_count(); k++) {
        for (uint64_t seed = 0; seed < SEEDS; seed++) {
            char error[256];
            mg_primitive p;
            cr_assert_eq(mg_primitive_generate(k, seed * 7919 + 1, &p, error, sizeof error), MG_OK);
            mg_mesh q;
            cr_assert_eq(mg_mesh_preprocess(&p.mesh, &config, 128, range, &q, &diag), MG_OK, "%s", diag.last_error);
            mg_mesh_validity v;
            cr_assert_eq(mg_mesh_check(&q, &v, error, sizeof error), MG_OK);
            const char *name = mg_primitive_class_name(k);
            cr_expect_eq(q.num_faces, p.mesh.num_faces, "%s seed %d: %zu of %zu faces left on the grid", name,
                         (int)seed, q.num_faces, p.mesh.num_faces);
            cr_expect(v.valid && v.watertight && v.consistently_oriented && v.inward_components == 0,
                      "%s seed %d on the grid: %zu degenerate, %zu non-manifold, %zu boundary, %zu inconsistent, "
                      "%zu inward", name, (int)seed, v.degenerate_faces, v.non_manifold_edges, v.boundary_edges,
                      v.inconsistent_edges, v.inward_components);
            mg_mesh_release(&q);
            mg_primitive_free(&p);
        }
    }
    mg_diag_destroy(&diag);
}

Test(dataset, deterministic_per_seed)
{
    for (size_t k = 0; k < mg_primitive_class_count(); k++) {
        mg_primitive a, b, c;
        cr_assert_eq(mg_primitive_generate(k, 42, &a, NULL, 0), MG_OK);
        cr_assert_eq(mg_primitive_generate(k, 42, &b, NULL, 0), MG_OK);
        cr_assert_eq(mg_primitive_generate(k, 43, &c, NULL, 0), MG_OK);
        cr_expect_eq(a.mesh.num_vertices, b.mesh.num_vertices);
        cr_expect_eq(a.mesh.num_faces, b.mesh.num_faces);
        cr_expect(memcmp(a.mesh.vertices, b.mesh.vertices, a.mesh.num_vertices * 3 * sizeof(float)) == 0);
        cr_expect(memcmp(a.mesh.faces, b.mesh.faces, a.mesh.num_faces * 3 * sizeof(int32_t)) == 0);
        cr_expect_str_eq(a.caption, b.caption);
        cr_expect_str_eq(a.parameters_json, b.parameters_json);
        /* another seed draws other values */
        cr_expect_str_neq(a.parameters_json, c.parameters_json, "%s", mg_primitive_class_name(k));
        mg_primitive_free(&a);
        mg_primitive_free(&b);
        mg_primitive_free(&c);
    }
}

static double number(const cJSON *params, const char *key)
{
    const cJSON *item = cJSON_GetObjectItem(params, key);
    cr_assert(cJSON_IsNumber(item), "no parameter %s", key);
    return item->valuedouble;
}

static bool has(const char *caption, const char *word)
{
    return strstr(caption, word) != NULL;
}

/* The adjective an upright shape's caption must carry for height h and width w (or none of them). */
static void expect_upright_words(const char *caption, double h, double w)
{
    const double r = h / w;
    if (r >= 1.8)
        cr_expect(has(caption, "tall thin "), "\"%s\" for h/w %.3f", caption, r);
    else if (r >= 1.25)
        cr_expect(has(caption, "tall ") && !has(caption, "tall thin "), "\"%s\" for h/w %.3f", caption, r);
    else if (r <= 0.45)
        cr_expect(has(caption, "flat wide"), "\"%s\" for h/w %.3f", caption, r);
    else if (r <= 0.8)
        cr_expect(has(caption, "short wide"), "\"%s\" for h/w %.3f", caption, r);
    else
        cr_expect(!has(caption, "tall") && !has(caption, "wide") && !has(caption, "flat"), "\"%s\" for h/w %.3f",
                  caption, r);
}

Test(dataset, captions_name_the_drawn_parameters)
{
    size_t checked = 0;
    for (size_t k = 0; k < mg_primitive_class_count(); k++) {
        const char *name = mg_primitive_class_name(k);
        for (uint64_t seed = 0; seed < 40; seed++) {
            mg_primitive p;
            cr_assert_eq(mg_primitive_generate(k, seed, &p, NULL, 0), MG_OK);
            cJSON *q = cJSON_Parse(p.parameters_json);
            const char *c = p.caption;
            char want[64] = "";
            if (!strcmp(name, "cylinder") || !strcmp(name, "cone") || !strcmp(name, "truncated_cone") ||
                !strcmp(name, "tube")) {
                snprintf(want, sizeof want, "with %d sides", (int)number(q, "segments"));
                const double w = 2 * number(q, strcmp(name, "truncated_cone") ? "radius" : "bottom_radius");
                expect_upright_words(c, number(q, "height"), w);
            } else if (!strcmp(name, "prism") || !strcmp(name, "pyramid")) {
                static const char *const words[] = {"", "", "", "triangular", "square", "pentagonal", "hexagonal"};
                snprintf(want, sizeof want, "%s %s", words[(int)number(q, "sides")], name);
                expect_upright_words(c, number(q, "height"),
                                     2 * number(q, strcmp(name, "prism") ? "base_radius" : "radius"));
            } else if (!strcmp(name, "uv_sphere")) {
                snprintf(want, sizeof want, "with %d segments and %d rings", (int)number(q, "segments"),
                         (int)number(q, "rings"));
            } else if (!strcmp(name, "torus")) {
                snprintf(want, sizeof want, "with %d segments", (int)number(q, "segments"));
                const double t = number(q, "thickness");
                cr_expect(t < 0.25 ? has(c, "thin") : t > 0.35 ? has(c, "thick") : !has(c, "thi"), "\"%s\" %g", c, t);
            } else if (!strcmp(name, "stairs")) {
                snprintf(want, sizeof want, "staircase with %d steps", (int)number(q, "steps"));
                const double slope = number(q, "rise") / number(q, "run");
                cr_expect(slope >= 1.2 ? has(c, "steep") : slope <= 0.6 ? has(c, "shallow") : !has(c, "st") ||
                          !has(c, "steep"), "\"%s\" slope %g", c, slope);
            } else if (!strcmp(name, "star_prism")) {
                static const char *const words[] = {"", "", "", "", "four", "five", "six", "seven", "eight"};
                snprintf(want, sizeof want, "%s-pointed star", words[(int)number(q, "points")]);
            } else if (!strcmp(name, "stool")) {
                snprintf(want, sizeof want, "%s-legged stool", (int)number(q, "legs") == 3 ? "three" : "four");
            } else if (!strcmp(name, "icosphere")) {
                snprintf(want, sizeof want, "with %d faces", (int)number(q, "subdivisions") ? 80 : 20);
            } else if (!strcmp(name, "table")) {
                snprintf(want, sizeof want, "table with four legs");
                const double w = number(q, "width"), d = number(q, "depth"), h = number(q, "height");
                const double side = fmax(w, d);
                cr_expect(h <= 0.5 * side ? has(c, "low") : h >= side ? has(c, "tall") : !has(c, "low") &&
                          !has(c, "tall"), "\"%s\" h %g side %g", c, h, side);
                cr_expect(w >= 1.6 * d ? has(c, "long") : w <= 1.15 * d ? has(c, "square") : !has(c, "long") &&
                          !has(c, "square"), "\"%s\" w %g d %g", c, w, d);
            } else if (!strcmp(name, "box")) {
                const double w = number(q, "width"), h = number(q, "height"), d = number(q, "depth");
                snprintf(want, sizeof want, "box");
                cr_expect(fmax(w, d) >= 2 * fmin(w, d) ? has(c, "long") : !has(c, "long"), "\"%s\"", c);
                cr_expect(h >= 1.6 * fmax(w, d) ? has(c, "tall") : h <= 0.5 * fmin(w, d) ? has(c, "flat") :
                          !has(c, "tall") && !has(c, "flat"), "\"%s\"", c);
            } else if (!strcmp(name, "chair")) {
                const double back = number(q, "back_height"), d = number(q, "depth");
                snprintf(want, sizeof want, "%s", back >= 1.2 * d ? "chair with a tall back" :
                         back <= 0.6 * d ? "chair with a low back" : "chair with a back");
            } else {
                /* cube, capsule, wedge, arch: the class's own word */
                snprintf(want, sizeof want, "%s", name);
            }
            cr_expect(has(c, want), "%s: caption \"%s\" lacks \"%s\" (%s)", name, c, want, p.parameters_json);
            checked++;
            cJSON_Delete(q);
            mg_primitive_free(&p);
        }
    }
    cr_expect_eq(checked, 19 * 40);
}

/* Whether the words of `shorter` appear in `caption` in the same order (articles aside). */
static bool words_in_order(const char *shorter, const char *caption)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", shorter);
    const char *at = caption;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (strcmp(w, "a") == 0 || strcmp(w, "an") == 0)
            continue;
        const char *found = strstr(at, w);
        if (!found)
            return false;
        at = found + strlen(w);
    }
    return true;
}

Test(dataset, caption_variants_are_shorter_true_forms_down_to_the_class_prompt)
{
    for (size_t k = 0; k < mg_primitive_class_count(); k++) {
        const char *prompt = mg_primitive_class_prompt(k);
        size_t prompt_seen = 0;
        for (uint64_t seed = 0; seed < 20; seed++) {
            mg_primitive p;
            cr_assert_eq(mg_primitive_generate(k, seed, &p, NULL, 0), MG_OK);
            const char *c = p.caption;
            /* The bare class noun is the last form (or the caption itself, when it has no modifier). */
            const char *bare = p.caption_variant_count ? p.caption_variants[p.caption_variant_count - 1] : c;
            cr_expect(strncmp(bare, "a ", 2) == 0 || strncmp(bare, "an ", 3) == 0, "\"%s\"", bare);
            cr_expect(strncmp(prompt, bare, strlen(bare)) == 0, "%s: bare form \"%s\" against prompt \"%s\"",
                      mg_primitive_class_name(k), bare, prompt);
            cr_expect_leq(p.caption_variant_count, 7);
            prompt_seen += strcmp(c, prompt) == 0;
            for (size_t v = 0; v < p.caption_variant_count; v++) {
                const char *form = p.caption_variants[v];
                cr_expect_lt(strlen(form), strlen(c), "\"%s\" is not shorter than \"%s\"", form, c);
                cr_expect(words_in_order(form, c), "\"%s\" is not a part of \"%s\"", form, c);
                cr_expect_str_neq(form, c);
                for (size_t u = 0; u < v; u++)
                    cr_expect_str_neq(form, p.caption_variants[u], "a repeated form of \"%s\"", c);
                /* The article agrees with the first word after it. */
                const char *word = strchr(form, ' ') + 1;
                cr_expect_eq(strncmp(form, "an ", 3) == 0, strchr("aeio", word[0]) != NULL, "\"%s\"", form);
                prompt_seen += strcmp(form, prompt) == 0;
            }
            mg_primitive_free(&p);
        }
        /* What `meshgpt eval generate` prompts with is among the captions trained on. */
        cr_expect_eq(prompt_seen, 20, "%s: the prompt \"%s\" is a caption or form of %zu of 20 shapes",
                     mg_primitive_class_name(k), prompt, prompt_seen);
    }
}

Test(dataset, writes_and_reads_a_folder)
{
    char dir[] = "/tmp/mg-dataset-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/set", dir);
    char error[512];
    cr_assert_eq(mg_dataset_write_primitives(sub, 40, 5, error, sizeof error), MG_OK, "%s", error);
    mg_dataset set;
    cr_assert_eq(mg_dataset_read(sub, &set, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(set.count, 40);
    size_t per_class[19] = {0};
    for (size_t i = 0; i < set.count; i++) {
        int k = mg_primitive_class_find(set.entries[i].class_name);
        cr_assert_geq(k, 0, "unknown class %s", set.entries[i].class_name);
        per_class[k]++;
        cr_expect(strncmp(set.entries[i].name, set.entries[i].class_name, strlen(set.entries[i].class_name)) == 0);
        mg_mesh m;
        cr_assert_eq(mg_mesh_read(set.entries[i].file, NULL, &m, error, sizeof error), MG_OK, "%s", error);
        mg_mesh_validity v;
        cr_assert_eq(mg_mesh_check(&m, &v, error, sizeof error), MG_OK);
        cr_expect(v.valid && v.watertight, "%s", set.entries[i].file);
        mg_mesh_free(&m);
    }
    for (size_t k = 0; k < 19; k++)
        cr_expect_geq(per_class[k], 2, "class %zu has %zu shapes", k, per_class[k]);
    /* captions.json: the caption first, then its shorter forms (a tube always has a tail to drop). */
    char path[256];
    snprintf(path, sizeof path, "%s/captions.json", sub);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *captions = cJSON_Parse(text);
    const cJSON *tube = cJSON_GetObjectItem(captions, "tube_0007.obj");
    cr_assert(cJSON_IsArray(tube), "%s", text);
    const int forms = cJSON_GetArraySize(tube);
    cr_expect_geq(forms, 2);
    cr_expect_str_eq(cJSON_GetArrayItem(tube, forms - 1)->valuestring, "a tube");
    for (size_t i = 0; i < set.count; i++)
        if (strcmp(set.entries[i].name, "tube_0007.obj") == 0)
            cr_expect_str_eq(set.entries[i].caption, cJSON_GetArrayItem(tube, 0)->valuestring);
    cJSON_Delete(captions);
    /* The same seed again writes the same files. */
    char again[128], command[512];
    snprintf(again, sizeof again, "%s/missing/parents/again", dir); /* parents are created, as mkdir -p */
    cr_assert_eq(mg_dataset_write_primitives(again, 40, 5, error, sizeof error), MG_OK, "%s", error);
    snprintf(command, sizeof command, "diff -r %s %s >/dev/null", sub, again);
    cr_expect_eq(system(command), 0, "two runs with seed 5 differ");
    /* A smaller count writes the first files of the larger set (the default model's recipe trains its
       autoencoder on such a prefix), and no others. */
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/prefix", dir);
    cr_assert_eq(mg_dataset_write_primitives(prefix, 25, 5, error, sizeof error), MG_OK, "%s", error);
    snprintf(command, sizeof command,
             "n=0; for f in %s/*.obj; do cmp -s \"$f\" %s/\"$(basename \"$f\")\" || exit 1; n=$((n+1)); done; "
             "test $n -eq 25", prefix, sub);
    cr_expect_eq(system(command), 0, "the 25 shapes of seed 5 are not the first 25 of its 40");
    mg_dataset_free(&set);
    /* A folder without labels is reported by name. */
    cr_expect_eq(mg_dataset_read(dir, &set, error, sizeof error), MG_ERR_IO);
    cr_expect(strstr(error, "labels.json") != NULL, "%s", error);
    snprintf(command, sizeof command, "rm -rf %s", dir);
    cr_expect_eq(system(command), 0);
}
