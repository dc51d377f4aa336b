/*
 * meshgpt eval tokenizer: reconstruction by the model's autoencoder on a labelled data set. Each mesh is
 * tokenized and decoded; the decoded mesh is compared with the mesh as the tokenizer saw it (after the
 * model's preprocessing, in the model's coordinates): the share of faces whose every coordinate lands in
 * the same bin, the Chamfer distance and F-score of the surfaces, and the validity of the decoded mesh.
 */
#include "eval_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tokenizer_args {
    cli_common common;
    const char *model_path, *data_dir, *json_path;
    size_t limit, points;
    double threshold;
    uint64_t seed;
} tokenizer_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt eval tokenizer [-m MODEL] --data DIR [options]\n"
            "\n"
            "Tokenizes and decodes every mesh of a data set (labels.json or captions.json in DIR; use shapes\n"
            "the model was not trained on) and reports, per class and in total: faces recovered exactly (every\n"
            "coordinate in the same bin), Chamfer distance and F-score between the preprocessed and the decoded\n"
            "surface (model coordinates, [-1, 1]), and the share of decoded meshes that are valid.\n"
            "  --limit N          the first N meshes only\n"
            "  --points N         samples per surface for Chamfer / F-score (default 2000)\n"
            "  --threshold T      F-score distance (default 0.02, about 1.3 bins of a 128-bin grid)\n"
            "  --seed S           sampling seed (default 0)\n"
            "  --json OUT.json    also write the results as JSON\n");
}

static long coordinate_bin(float value, double lo, double hi, double bins)
{
    double u = (value - lo) / (hi - lo) * bins - 0.5;
    return lrint(u < 0 ? 0 : u > bins - 1 ? bins - 1 : u);
}

typedef struct class_sum {
    char name[64];
    size_t meshes, faces, exact, valid;
    double chamfer, fscore;
    size_t compared;
} class_sum;

static class_sum *class_slot(class_sum *sums, size_t *count, const char *name)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(sums[i].name, name) == 0)
            return &sums[i];
    class_sum *s = &sums[(*count)++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name[0] ? name : "(none)");
    return s;
}

static void print_row(const class_sum *s)
{
    printf("%-16s %6zu %7zu %8.2f%% %10.5f %8.4f %7.1f%%\n", s->name, s->meshes, s->faces,
           s->faces ? 100.0 * (double)s->exact / (double)s->faces : 0.0,
           s->compared ? s->chamfer / (double)s->compared : NAN, s->compared ? s->fscore / (double)s->compared : NAN,
           s->meshes ? 100.0 * (double)s->valid / (double)s->meshes : 0.0);
}

static void json_row(FILE *json, const class_sum *s)
{
    fprintf(json, "{\"class\": ");
    eval_json_string(json, s->name);
    fprintf(json, ", \"meshes\": %zu, \"faces\": %zu, \"exact_faces\": %zu, \"exact_face_share\": ", s->meshes, s->faces,
            s->exact);
    eval_json_number(json, s->faces ? (double)s->exact / (double)s->faces : NAN);
    fprintf(json, ", \"chamfer\": ");
    eval_json_number(json, s->compared ? s->chamfer / (double)s->compared : NAN);
    fprintf(json, ", \"fscore\": ");
    eval_json_number(json, s->compared ? s->fscore / (double)s->compared : NAN);
    fprintf(json, ", \"valid_share\": ");
    eval_json_number(json, s->meshes ? (double)s->valid / (double)s->meshes : NAN);
    fprintf(json, "}");
}

static int parse(int argc, char **argv, tokenizer_args *a)
{
    memset(a, 0, sizeof *a);
    a->points = 2000;
    a->threshold = 0.02;
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *arg = argv[i];
        const bool has_value = i + 1 < argc;
        int rc = 0;
        size_t n = 0;
        if (cli_parse_common(argc, argv, &i, &a->common, &error)) {
            if (error)
                return 2;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if ((strcmp(arg, "-m") == 0 || strcmp(arg, "--model") == 0) && has_value) {
            a->model_path = argv[++i];
        } else if (strcmp(arg, "--data") == 0 && has_value) {
            a->data_dir = argv[++i];
        } else if (strcmp(arg, "--json") == 0 && has_value) {
            a->json_path = argv[++i];
        } else if (strcmp(arg, "--limit") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, (size_t)1 << 40, &a->limit);
        } else if (strcmp(arg, "--points") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 1000000, &a->points);
        } else if (strcmp(arg, "--seed") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 0, (size_t)-1, &n);
            a->seed = n;
        } else if (strcmp(arg, "--threshold") == 0 && has_value) {
            rc = eval_parse_double(arg, argv[++i], 0, 1e9, &a->threshold);
        } else {
            fprintf(stderr, "meshgpt eval tokenizer: unknown option %s (or it lacks its value)\n\n", arg);
            usage(stderr);
            return 2;
        }
        if (rc != 0)
            return rc;
    }
    if (a->data_dir && !cli_default_model(&a->model_path))
        return 1;
    if (!a->model_path || !a->data_dir) {
        fprintf(stderr, "meshgpt eval tokenizer: give a model (-m) and a data set (--data DIR)\n");
        return 2;
    }
    return 0;
}

int cmd_eval_tokenizer(int argc, char **argv)
{
    tokenizer_args a;
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    char error[1024];
    mg_dataset set;
    if (mg_dataset_read(a.data_dir, &set, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    const size_t count = a.limit && a.limit < set.count ? a.limit : set.count;
    mg_context *ctx = cli_open_context(&a.common);
    mg_model *model = NULL;
    class_sum *sums = calloc(count + 1, sizeof *sums);
    size_t classes = 0;
    if (!ctx || !sums)
        rc = 1;
    if (rc == 0 && mg_model_load(ctx, a.model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the model: %s\n", mg_context_last_error(ctx));
        rc = 1;
    }
    float grid_lo = -1.0f, grid_hi = 1.0f;
    int bins = 128;
    if (rc == 0)
        mg_model_coordinate_grid(model, &grid_lo, &grid_hi, &bins);
    class_sum total;
    memset(&total, 0, sizeof total);
    snprintf(total.name, sizeof total.name, "all");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        mg_mesh mesh, processed, decoded, welded;
        mg_tokens tokens;
        memset(&processed, 0, sizeof processed);
        memset(&decoded, 0, sizeof decoded);
        memset(&welded, 0, sizeof welded);
        memset(&tokens, 0, sizeof tokens);
        if (eval_read_mesh(set.entries[i].file, &mesh) != 0) {
            rc = 1;
            break;
        }
        mg_tokenize_params params = mg_tokenize_default_params();
        if (mg_tokenize(model, &mesh, 1, &params, &tokens, &processed) != MG_OK ||
            mg_decode(model, &tokens, 1, &decoded) != MG_OK) {
            fprintf(stderr, "meshgpt: cannot reconstruct %s: %s\n", set.entries[i].file, mg_context_last_error(ctx));
            rc = 1;
        }
        class_sum *s = rc == 0 ? class_slot(sums, &classes, set.entries[i].class_name) : NULL;
        if (rc == 0) {
            const size_t fs = processed.face_size;
            size_t exact_faces = 0;
            for (size_t f = 0; f < processed.num_faces && f < decoded.num_faces; f++) {
                bool exact = !decoded.face_mask || decoded.face_mask[f];
                for (size_t c = 0; c < fs && exact; c++) {
                    const float *p = processed.vertices + (size_t)processed.faces[f * fs + c] * 3;
                    const float *q = decoded.vertices + (size_t)decoded.faces[f * fs + c] * 3;
                    for (int k = 0; k < 3; k++)
                        exact = exact && coordinate_bin(p[k], grid_lo, grid_hi, bins) ==
                                             coordinate_bin(q[k], grid_lo, grid_hi, bins);
                }
                exact_faces += exact;
            }
            mg_mesh_validity v;
            bool valid = mg_mesh_weld(&decoded, &welded, error, sizeof error) == MG_OK &&
                         mg_mesh_check(&welded, &v, error, sizeof error) == MG_OK && v.valid;
            mg_mesh_distance d;
            bool compared = welded.num_faces > 0 &&
                            mg_mesh_compare(&welded, &processed, a.points, a.seed, a.threshold, &d, error,
                                            sizeof error) == MG_OK &&
                            isfinite(d.chamfer) && isfinite(d.fscore); /* a decoded mesh of zero area has no samples */
            class_sum *targets[2] = {s, &total};
            for (int t = 0; t < 2; t++) {
                targets[t]->meshes++;
                targets[t]->faces += processed.num_faces;
                targets[t]->exact += exact_faces;
                targets[t]->valid += valid;
                if (compared) {
                    targets[t]->chamfer += d.chamfer;
                    targets[t]->fscore += d.fscore;
                    targets[t]->compared++;
                }
            }
        }
        if (a.common.verbose || ((i + 1) % 50 == 0))
            fprintf(stderr, "\r%zu of %zu meshes", i + 1, count);
        mg_mesh_free(&mesh);
        mg_mesh_free(&processed);
        mg_mesh_free(&decoded);
        mg_mesh_free(&welded);
        mg_tokens_free(&tokens);
    }
    if (count >= 50 || a.common.verbose)
        fputc('\n', stderr);
    if (rc == 0) {
        printf("%-16s %6s %7s %9s %10s %8s %8s\n", "class", "meshes", "faces", "exact", "chamfer", "F-score", "valid");
        for (size_t k = 0; k < classes; k++)
            print_row(&sums[k]);
        print_row(&total);
        printf("(exact: faces with every coordinate in the same of %d bins; chamfer and F-score at %g on %zu points "
               "per surface, model coordinates)\n", bins, a.threshold, a.points);
    }
    if (rc == 0 && a.json_path) {
        FILE *json = fopen(a.json_path, "w");
        if (!json) {
            fprintf(stderr, "meshgpt: cannot write %s\n", a.json_path);
            rc = 1;
        } else {
            fprintf(json, "{\n  \"eval\": \"tokenizer\",\n  \"model\": ");
            eval_json_string(json, a.model_path);
            fprintf(json, ",\n  \"data\": ");
            eval_json_string(json, a.data_dir);
            fprintf(json, ",\n  \"points\": %zu,\n  \"threshold\": ", a.points);
            eval_json_number(json, a.threshold);
            fprintf(json, ",\n  \"seed\": %llu,\n  \"bins\": %d,\n  \"total\": ", (unsigned long long)a.seed, bins);
            json_row(json, &total);
            fprintf(json, ",\n  \"classes\": [\n");
            for (size_t k = 0; k < classes; k++) {
                fprintf(json, "    ");
                json_row(json, &sums[k]);
                fprintf(json, "%s\n", k + 1 < classes ? "," : "");
            }
            fprintf(json, "  ]\n}\n");
            if (fclose(json) != 0) {
                fprintf(stderr, "meshgpt: cannot write %s\n", a.json_path);
                rc = 1;
            }
        }
    }
    free(sums);
    mg_model_free(model);
    if (ctx)
        mg_context_destroy(ctx);
    mg_dataset_free(&set);
    return rc;
}
