/*
 * meshgpt eval generate: for each shape class, generate N samples from the class's prompt and report the
 * share of valid meshes and of samples whose nearest data-set shape (Chamfer distance, both normalized to
 * a unit bounding box) is of the prompted class, and how varied each class's samples are against its data
 * (distinct samples, spread); then coverage, MMD and 1-NNA of all samples against the data set's shapes
 * (which should be held out from training).
 */
#include "eval_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct generate_args {
    cli_common common;
    cli_text text;
    const char *model_path, *data_dir, *json_path, *classes;
    size_t samples, points, per_class, set_per_class; /* per_class 0: all of DIR; set_per_class 0: samples */
    double threshold;
    mg_generate_params params;
    cli_sampling_given given; /* sampling options on the command line; the rest are the model's */
} generate_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt eval generate [-m MODEL] --data DIR [--text-encoder DIR | --text-embedding F.npy] [options]\n"
            "\n"
            "For each class of the data set (labels.json in DIR: shapes the model was not trained on), generates\n"
            "samples from the class's prompt (\"a cylinder\", ...) and reports the valid share (no degenerate or\n"
            "duplicate faces, manifold), the watertight share (valid and closed: a valid mesh may still be loose\n"
            "triangles), the share whose nearest data-set shape (Chamfer distance, unit bounding\n"
            "boxes) is of the prompted class, how varied the samples are (distinct: not a repeat of another sample;\n"
            "spread: their mean Chamfer distance to each other over that of the class's data-set shapes, 1 as varied\n"
            "as the data, near 0 collapsed), and coverage, MMD and 1-NNA of all samples against the data set.\n"
            "--text-embedding gives every class the same text: for smoke tests only.\n"
            "  --samples N        samples per class (default 10)\n"
            "  --classes A,B      these classes only\n"
            "  --per-class N      reference shapes per class for the nearest-class test (default: all in DIR)\n"
            "  --set-per-class N  reference shapes per class for coverage, MMD, 1-NNA and spread (default: as many\n"
            "                     as --samples, so that both sets are the same size and 50%% 1-NNA is ideal)\n"
            "  --points N         surface samples per mesh for the Chamfer distance (default 256)\n"
            "  --threshold T      F-score distance, unit-box coordinates (default 0.02)\n"
            "  --seed S           generation seed (default 0); also the sampling seed\n"
            "  --max-faces N      at most N faces per sample\n"
            "  --temperature T, --cond-scale S, --vertex-reuse W, --unconstrained\n"
            "                     sampling, as `generate` (defaults: the model's recommendation, else the\n"
            "                     library's)\n"
            "  --json OUT.json    also write the results as JSON\n");
}

static int parse(int argc, char **argv, generate_args *a)
{
    memset(a, 0, sizeof *a);
    a->params = mg_generate_default_params();
    a->samples = 10;
    a->points = 256;
    a->threshold = 0.02;
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *arg = argv[i];
        const bool has_value = i + 1 < argc;
        int rc = 0;
        size_t n = 0;
        double v = 0;
        if (cli_parse_common(argc, argv, &i, &a->common, &error)) {
            if (error)
                return 2;
        } else if (cli_parse_text_option(argc, argv, &i, &a->text)) {
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if ((strcmp(arg, "-m") == 0 || strcmp(arg, "--model") == 0) && has_value) {
            a->model_path = argv[++i];
        } else if (strcmp(arg, "--data") == 0 && has_value) {
            a->data_dir = argv[++i];
        } else if (strcmp(arg, "--json") == 0 && has_value) {
            a->json_path = argv[++i];
        } else if (strcmp(arg, "--classes") == 0 && has_value) {
            a->classes = argv[++i];
        } else if (strcmp(arg, "--samples") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 4096, &a->samples);
        } else if (strcmp(arg, "--per-class") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 1000000, &a->per_class);
        } else if (strcmp(arg, "--set-per-class") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 1000000, &a->set_per_class);
        } else if (strcmp(arg, "--points") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 1000000, &a->points);
        } else if (strcmp(arg, "--seed") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 0, (size_t)-1, &n);
            a->params.seed = n;
        } else if (strcmp(arg, "--max-faces") == 0 && has_value) {
            rc = eval_parse_size(arg, argv[++i], 1, 1000000, &a->params.max_faces);
        } else if (strcmp(arg, "--temperature") == 0 && has_value) {
            rc = eval_parse_double(arg, argv[++i], 0, 1e6, &v);
            a->params.temperature = (float)v;
            a->given.temperature = true;
        } else if (strcmp(arg, "--cond-scale") == 0 && has_value) {
            rc = eval_parse_double(arg, argv[++i], -1e6, 1e6, &v);
            a->params.cond_scale = (float)v;
            a->given.cond_scale = true;
        } else if (strcmp(arg, "--vertex-reuse") == 0 && has_value) {
            rc = eval_parse_double(arg, argv[++i], 1, 1e6, &v);
            a->params.vertex_reuse = (float)v;
            a->given.vertex_reuse = true;
        } else if (strcmp(arg, "--unconstrained") == 0) {
            a->params.unconstrained = true;
        } else if (strcmp(arg, "--threshold") == 0 && has_value) {
            rc = eval_parse_double(arg, argv[++i], 0, 1e9, &a->threshold);
        } else {
            fprintf(stderr, "meshgpt eval generate: unknown option %s (or it lacks its value)\n\n", arg);
            usage(stderr);
            return 2;
        }
        if (rc != 0)
            return rc;
    }
    if (a->data_dir && !cli_default_model(&a->model_path))
        return 1;
    if (!a->model_path || !a->data_dir) {
        fprintf(stderr, "meshgpt eval generate: give a model (-m) and a data set (--data DIR)\n");
        return 2;
    }
    return 0;
}

static bool class_listed(const char *list, const char *name)
{
    if (!list)
        return true;
    const size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

typedef struct class_result {
    const char *name;
    size_t samples, valid, watertight, nearest_same, faces, empty;
    size_t refused_ends;               /* samples the validity constraint ended (mg_generate_end) */
    size_t distinct;                   /* non-empty samples that repeat no earlier sample exactly */
    double spread, reference_spread;   /* mean Chamfer distance between samples, between reference shapes */
} class_result;

typedef struct shape_set {
    mg_mesh *meshes;      /* normalized */
    size_t *class_of;     /* index into the class list */
    size_t count;
} shape_set;

static void shape_set_free(shape_set *s)
{
    for (size_t i = 0; s->meshes && i < s->count; i++)
        mg_mesh_free(&s->meshes[i]);
    free(s->meshes);
    free(s->class_of);
    memset(s, 0, sizeof *s);
}

/* Shapes closer than this (unit bounding boxes; a 128-bin cell is 0.008 wide) are the same shape: the same
   tokens give a distance of exactly 0, the same shape from other files (cubes) about 1e-8 from rounding. */
#define SAME_SHAPE_DISTANCE 1e-6

/* Mean pairwise distance and distinct members of the members of class k in a set with distance matrix dist. */
static int class_diversity(const double *dist, const size_t *class_of, size_t n, size_t k, double *spread,
                           size_t *distinct)
{
    *spread = NAN, *distinct = 0; /* no spread without a pair */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += class_of[i] == k;
    if (m == 0)
        return 0;
    size_t *members = malloc(m * sizeof *members);
    double *sub = malloc(m * m * sizeof *sub);
    int rc = 0;
    if (!members || !sub) {
        fprintf(stderr, "meshgpt: out of memory\n");
        rc = 1;
    }
    for (size_t i = 0, j = 0; rc == 0 && i < n; i++)
        if (class_of[i] == k)
            members[j++] = i;
    for (size_t i = 0; rc == 0 && i < m; i++)
        for (size_t j = 0; j < m; j++)
            sub[i * m + j] = dist[members[i] * n + members[j]];
    char error[256];
    if (rc == 0 && mg_set_diversity(sub, m, SAME_SHAPE_DISTANCE, spread, distinct, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        rc = 1;
    }
    if (m < 2)
        *spread = NAN;
    free(members);
    free(sub);
    return rc;
}

/* NaN with fewer than two samples, or for a class whose data-set shapes are all one shape (cubes). */
static double spread_ratio(double spread, double reference_spread)
{
    return isfinite(spread) && reference_spread > SAME_SHAPE_DISTANCE ? spread / reference_spread : NAN;
}

static void print_row(const char *name, size_t samples, size_t valid, size_t watertight, size_t same, size_t faces,
                      size_t empty, size_t distinct, double spread)
{
    printf("%-16s %8zu %7.1f%% %10.1f%% %8.1f%% %10.1f %6zu %9zu", name, samples,
           100.0 * (double)valid / (double)samples, 100.0 * (double)watertight / (double)samples,
           100.0 * (double)same / (double)samples, samples > empty ? (double)faces / (double)(samples - empty) : 0.0,
           empty, distinct);
    if (isfinite(spread))
        printf(" %7.2f\n", spread);
    else
        printf(" %7s\n", "-");
}

static int run(generate_args *a, mg_dataset *set)
{
    /* The classes: those of the data set (in its sorted order), filtered by --classes. */
    const char **names = calloc(set->count + 1, sizeof *names);
    class_result *results = calloc(set->count + 1, sizeof *results);
    shape_set refs = {calloc(set->count + 1, sizeof(mg_mesh)), calloc(set->count + 1, sizeof(size_t)), 0};
    shape_set gens = {0};
    size_t classes = 0;
    int rc = names && results && refs.meshes && refs.class_of ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < set->count; i++) {
        const char *name = set->entries[i].class_name;
        if (!name[0] || !class_listed(a->classes, name))
            continue;
        size_t k = 0;
        while (k < classes && strcmp(names[k], name) != 0)
            k++;
        if (k == classes) {
            names[classes] = name;
            results[classes].name = name;
            classes++;
        }
        size_t have = 0;
        for (size_t r = 0; r < refs.count; r++)
            have += refs.class_of[r] == k;
        if (a->per_class && have >= a->per_class)
            continue;
        mg_mesh mesh;
        memset(&mesh, 0, sizeof mesh);
        if (eval_read_mesh(set->entries[i].file, &mesh) != 0 || eval_normalized_copy(&mesh, &refs.meshes[refs.count]) != 0)
            rc = 1;
        else
            refs.class_of[refs.count++] = k;
        mg_mesh_free(&mesh);
    }
    if (rc == 0 && classes == 0) {
        fprintf(stderr, "meshgpt eval generate: no labelled shapes%s in %s\n", a->classes ? " of those classes" : "",
                a->data_dir);
        rc = 1;
    }
    mg_context *ctx = rc == 0 ? cli_open_context(&a->common) : NULL;
    mg_model *model = NULL;
    if (rc == 0 && !ctx)
        rc = 1;
    if (rc == 0 && mg_model_load(ctx, a->model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the model: %s\n", mg_context_last_error(ctx));
        rc = 1;
    }
    if (rc == 0) {
        cli_apply_model_sampling(model, &a->given, &a->params);
        rc = cli_text_open(&a->text, ctx, &a->params.text);
    }
    if (rc == 0 && a->text.embedding_path)
        fprintf(stderr, "meshgpt eval generate: warning: --text-embedding gives every class the same text\n");
    const size_t S = a->samples;
    a->params.samples = S;
    gens.meshes = calloc(classes * S + 1, sizeof(mg_mesh));
    gens.class_of = calloc(classes * S + 1, sizeof(size_t));
    mg_mesh *out = calloc(S, sizeof *out);
    int *ends = calloc(S, sizeof *ends);
    a->params.out_ends = ends;
    if (rc == 0 && (!gens.meshes || !gens.class_of || !out || !ends)) {
        fprintf(stderr, "meshgpt: out of memory\n");
        rc = 1;
    }
    for (size_t k = 0; rc == 0 && k < classes; k++) {
        const int known = mg_primitive_class_find(names[k]);
        char prompt[128];
        snprintf(prompt, sizeof prompt, "%s", known >= 0 ? mg_primitive_class_prompt((size_t)known) : names[k]);
        for (char *p = prompt; *p; p++)
            *p = *p == '_' ? ' ' : *p;
        /* The class's prompt through the given encoder or the model's own; a text embedding stays as given. */
        if (a->text.encoder || mg_model_has_text_encoder(model))
            a->params.text.prompt = prompt;
        fprintf(stderr, "%s: generating %zu sample%s of \"%s\"\n", names[k], S, S == 1 ? "" : "s", prompt);
        if (mg_generate(model, &a->params, out, NULL) != MG_OK) {
            fprintf(stderr, "meshgpt: cannot generate: %s\n", mg_context_last_error(ctx));
            rc = 1;
            break;
        }
        for (size_t s = 0; s < S; s++) {
            class_result *r = &results[k];
            r->samples++;
            r->refused_ends += ends[s] == MG_GENERATE_END_REFUSED;
            mg_mesh welded;
            mg_mesh_validity v;
            char error[256];
            memset(&welded, 0, sizeof welded);
            if (mg_mesh_weld(&out[s], &welded, error, sizeof error) == MG_OK && welded.num_faces > 0 &&
                mg_mesh_check(&welded, &v, error, sizeof error) == MG_OK) {
                r->valid += v.valid;
                r->watertight += v.valid && v.watertight;
                r->faces += welded.num_faces;
                if (eval_normalized_copy(&welded, &gens.meshes[gens.count]) == 0)
                    gens.class_of[gens.count++] = k;
            } else {
                r->empty++;
            }
            mg_mesh_free(&welded);
            mg_mesh_free(&out[s]);
        }
    }
    /* Nearest class: each sample against every reference shape (a sparse reference set would call a sample of
     * the right class nearer another class's shape for want of one of its own proportions). Coverage, MMD,
     * 1-NNA and the reference spread: against the first set_per_class shapes of each class (default: as many
     * as the samples, which 1-NNA's 50% ideal assumes). */
    const size_t G = gens.count, R = refs.count, set_per_class = a->set_per_class ? a->set_per_class : S;
    size_t *set_index = calloc(R + 1, sizeof *set_index), *taken = calloc(classes + 1, sizeof *taken), Rs = 0;
    size_t *nearest = calloc(classes * classes + 1, sizeof *nearest); /* [prompted class, nearest shape's class] */
    for (size_t r = 0; set_index && taken && r < R; r++)
        if (taken[refs.class_of[r]]++ < set_per_class)
            set_index[Rs++] = r;
    shape_set set_refs = {calloc(Rs + 1, sizeof(mg_mesh)), calloc(Rs + 1, sizeof(size_t)), Rs};
    double *g_all = calloc(G * R + 1, sizeof *g_all), *gr = calloc(G * Rs + 1, sizeof *gr);
    double *gg = calloc(G * G + 1, sizeof *gg), *rr = calloc(Rs * Rs + 1, sizeof *rr);
    if (rc == 0 && (!set_index || !taken || !nearest || !set_refs.meshes || !set_refs.class_of || !g_all || !gr || !gg || !rr)) {
        fprintf(stderr, "meshgpt: out of memory\n");
        rc = 1;
    }
    for (size_t q = 0; rc == 0 && q < Rs; q++) {
        set_refs.meshes[q] = refs.meshes[set_index[q]]; /* shared, freed with refs */
        set_refs.class_of[q] = refs.class_of[set_index[q]];
    }
    if (rc == 0) {
        fprintf(stderr, "distances: %zu samples x %zu reference shapes, and within %zu samples and %zu shapes\n", G,
                R, G, Rs);
        eval_distance_matrix(gens.meshes, G, refs.meshes, R, false, a->points, a->params.seed, a->threshold, g_all);
        eval_distance_matrix(gens.meshes, G, gens.meshes, G, true, a->points, a->params.seed, a->threshold, gg);
        eval_distance_matrix(set_refs.meshes, Rs, set_refs.meshes, Rs, true, a->points, a->params.seed, a->threshold,
                             rr);
    }
    for (size_t g = 0; rc == 0 && g < G; g++) {
        size_t best = 0;
        for (size_t r = 1; r < R; r++)
            if (g_all[g * R + r] < g_all[g * R + best])
                best = r;
        results[gens.class_of[g]].nearest_same += R > 0 && refs.class_of[best] == gens.class_of[g];
        if (R > 0)
            nearest[gens.class_of[g] * classes + refs.class_of[best]]++;
        for (size_t q = 0; q < Rs; q++)
            gr[g * Rs + q] = g_all[g * R + set_index[q]];
    }
    for (size_t k = 0; rc == 0 && k < classes; k++) {
        class_result *r = &results[k];
        size_t reference_distinct = 0;
        rc = class_diversity(gg, gens.class_of, G, k, &r->spread, &r->distinct);
        if (rc == 0)
            rc = class_diversity(rr, set_refs.class_of, Rs, k, &r->reference_spread, &reference_distinct);
    }
    mg_set_metrics m = {NAN, NAN, NAN};
    if (rc == 0 && G > 0 && Rs > 0) {
        char error[256];
        mg_set_metrics_compute(gr, gg, rr, G, Rs, &m, error, sizeof error);
    }
    if (rc == 0) {
        size_t samples = 0, valid = 0, watertight = 0, same = 0, faces = 0, empty = 0, distinct = 0, spread_classes = 0;
        size_t refused = 0;
        double spread_sum = 0.0;
        printf("%-16s %8s %8s %11s %9s %10s %6s %9s %7s\n", "class", "samples", "valid", "watertight", "nearest",
               "mean faces", "empty", "distinct", "spread");
        for (size_t k = 0; k < classes; k++) {
            const class_result *r = &results[k];
            const double spread = spread_ratio(r->spread, r->reference_spread);
            print_row(r->name, r->samples, r->valid, r->watertight, r->nearest_same, r->faces, r->empty, r->distinct,
                      spread);
            samples += r->samples, valid += r->valid, watertight += r->watertight, same += r->nearest_same;
            faces += r->faces, empty += r->empty;
            distinct += r->distinct;
            refused += r->refused_ends;
            if (isfinite(spread))
                spread_sum += spread, spread_classes++;
        }
        const double mean_spread = spread_classes ? spread_sum / (double)spread_classes : NAN;
        print_row("all", samples, valid, watertight, same, faces, empty, distinct, mean_spread);
        printf("nearest: among %zu reference shapes (%s)\n", R,
               a->per_class ? "up to --per-class of each class" : "all of the data set's");
        printf("against %zu reference shapes: coverage %.1f%%, MMD %.5f, 1-NNA %.1f%% (50%% is ideal)\n", Rs,
               100.0 * m.coverage, m.mmd, 100.0 * m.nna);
        /* Where the misses went: which class's shape was nearest instead. */
        bool any_miss = false;
        for (size_t k = 0; k < classes; k++)
            for (size_t c = 0; c < classes; c++)
                if (c != k && nearest[k * classes + c]) {
                    printf("%s %s -> %s %zu", any_miss ? "," : "nearest another class's shape:", names[k], names[c],
                           nearest[k * classes + c]);
                    any_miss = true;
                }
        if (any_miss)
            printf("\n");
        if (!a->params.unconstrained)
            printf("ended by the validity constraint (no acceptable vertex left): %zu of %zu samples\n", refused,
                   samples);
        if (a->json_path) {
            FILE *json = fopen(a->json_path, "w");
            if (!json) {
                fprintf(stderr, "meshgpt: cannot write %s\n", a->json_path);
                rc = 1;
            } else {
                fprintf(json, "{\n  \"eval\": \"generate\",\n  \"model\": ");
                eval_json_string(json, a->model_path);
                fprintf(json, ",\n  \"data\": ");
                eval_json_string(json, a->data_dir);
                fprintf(json, ",\n  \"samples_per_class\": %zu,\n  \"nearest_references\": %zu,\n  \"references\": %zu,\n"
                              "  \"points\": %zu,\n  \"seed\": %llu,\n  \"sampling\": {\"temperature\": %g, "
                              "\"cond_scale\": %g, \"vertex_reuse\": %g, \"constrained\": %s},\n  \"valid_share\": ",
                        S, R, Rs, a->points,
                        (unsigned long long)a->params.seed, (double)a->params.temperature,
                        (double)a->params.cond_scale, (double)a->params.vertex_reuse,
                        a->params.unconstrained ? "false" : "true");
                eval_json_number(json, (double)valid / (double)samples);
                fprintf(json, ",\n  \"watertight_share\": ");
                eval_json_number(json, (double)watertight / (double)samples);
                fprintf(json, ",\n  \"nearest_class_share\": ");
                eval_json_number(json, (double)same / (double)samples);
                fprintf(json, ",\n  \"distinct\": %zu,\n  \"ended_by_constraint\": %zu,\n  \"spread\": ", distinct,
                        refused);
                eval_json_number(json, mean_spread);
                fprintf(json, ",\n  \"coverage\": ");
                eval_json_number(json, m.coverage);
                fprintf(json, ",\n  \"mmd\": ");
                eval_json_number(json, m.mmd);
                fprintf(json, ",\n  \"nna\": ");
                eval_json_number(json, m.nna);
                fprintf(json, ",\n  \"classes\": [\n");
                for (size_t k = 0; k < classes; k++) {
                    const class_result *r = &results[k];
                    fprintf(json, "    {\"class\": ");
                    eval_json_string(json, r->name);
                    fprintf(json, ", \"samples\": %zu, \"valid\": %zu, \"watertight\": %zu, \"nearest_same_class\": %zu, "
                                  "\"empty\": %zu, \"faces\": %zu, \"distinct\": %zu, \"ended_by_constraint\": %zu, "
                                  "\"sample_distance\": ", r->samples, r->valid, r->watertight, r->nearest_same, r->empty,
                            r->faces, r->distinct, r->refused_ends);
                    eval_json_number(json, r->spread);
                    fprintf(json, ", \"reference_distance\": ");
                    eval_json_number(json, r->reference_spread);
                    fprintf(json, ", \"spread\": ");
                    eval_json_number(json, spread_ratio(r->spread, r->reference_spread));
                    fprintf(json, ", \"nearest_class\": {");
                    for (size_t c = 0, listed = 0; c < classes; c++)
                        if (nearest[k * classes + c]) {
                            fprintf(json, "%s", listed++ ? ", " : "");
                            eval_json_string(json, names[c]);
                            fprintf(json, ": %zu", nearest[k * classes + c]);
                        }
                    fprintf(json, "}}%s\n", k + 1 < classes ? "," : "");
                }
                fprintf(json, "  ]\n}\n");
                if (fclose(json) != 0) {
                    fprintf(stderr, "meshgpt: cannot write %s\n", a->json_path);
                    rc = 1;
                }
            }
        }
    }
    free(g_all), free(gr), free(gg), free(rr), free(set_index), free(taken), free(nearest);
    free(set_refs.meshes), free(set_refs.class_of); /* its meshes are refs' */
    free(out);
    free(ends);
    shape_set_free(&gens);
    shape_set_free(&refs);
    free(names);
    free(results);
    cli_text_close(&a->text);
    mg_model_free(model);
    if (ctx)
        mg_context_destroy(ctx);
    return rc;
}

int cmd_eval_generate(int argc, char **argv)
{
    generate_args a;
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    char error[1024];
    mg_dataset set;
    if (mg_dataset_read(a.data_dir, &set, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    rc = run(&a, &set);
    mg_dataset_free(&set);
    return rc;
}
