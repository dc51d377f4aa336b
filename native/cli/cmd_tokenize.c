/* meshgpt tokenize / decode / reconstruct: the autoencoder as a mesh tokenizer. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct tokenizer_args {
    cli_common common;
    const char *input;
    const char *model_path;
    const char *output;
    mg_preprocess preprocess;
    bool weld;
} tokenizer_args;

static void usage(FILE *out, const char *command)
{
    if (strcmp(command, "tokenize") == 0)
        fprintf(out, "usage: meshgpt tokenize IN.obj [-m MODEL] -o TOKENS.json [--preprocess model|none] [-d DEVICE]\n"
                     "\n"
                     "Turns a mesh (OBJ, PLY, STL, glTF/GLB) into MeshGPT tokens: face_size x levels per face.\n"
                     "  --preprocess model  normalize, merge vertices and order faces as the model's config says\n"
                     "                      (default)\n"
                     "  --preprocess none   take the mesh exactly as given, only discretized (what\n"
                     "                      meshgpt-pytorch's tokenize does)\n");
    else if (strcmp(command, "decode") == 0)
        fprintf(out, "usage: meshgpt decode TOKENS.json [-m MODEL] -o OUT.obj [--no-weld] [-d DEVICE]\n"
                     "\n"
                     "Turns tokens back into a mesh. Faces with missing tokens are left out; corners at the same\n"
                     "position are merged into one vertex unless --no-weld is given.\n");
    else
        fprintf(out, "usage: meshgpt reconstruct IN.obj [-m MODEL] -o OUT.obj [--preprocess model|none] [-d DEVICE]\n"
                     "\n"
                     "Tokenizes a mesh and decodes the tokens again, writes the result and prints how far\n"
                     "each decoded corner is from the input (after preprocessing) and the share of faces\n"
                     "recovered exactly (every coordinate in the same discrete bin).\n");
}

static int parse_args(int argc, char **argv, const char *command, tokenizer_args *args)
{
    memset(args, 0, sizeof *args);
    args->preprocess = MG_PREPROCESS_MODEL;
    args->weld = true;
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *arg = argv[i];
        if (cli_parse_common(argc, argv, &i, &args->common, &error)) {
            if (error)
                return 2;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout, command);
            return -1;
        } else if ((strcmp(arg, "-m") == 0 || strcmp(arg, "--model") == 0) && i + 1 < argc) {
            args->model_path = argv[++i];
        } else if ((strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) && i + 1 < argc) {
            args->output = argv[++i];
        } else if (strcmp(arg, "--preprocess") == 0 && i + 1 < argc) {
            const char *mode = argv[++i];
            if (strcmp(mode, "model") == 0) {
                args->preprocess = MG_PREPROCESS_MODEL;
            } else if (strcmp(mode, "none") == 0) {
                args->preprocess = MG_PREPROCESS_NONE;
            } else {
                fprintf(stderr, "meshgpt %s: --preprocess takes \"model\" or \"none\", not \"%s\"\n", command, mode);
                return 2;
            }
        } else if (strcmp(arg, "--no-weld") == 0) {
            args->weld = false;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "meshgpt %s: unknown option %s (or it lacks its value)\n\n", command, arg);
            usage(stderr, command);
            return 2;
        } else if (!args->input) {
            args->input = arg;
        } else {
            fprintf(stderr, "meshgpt %s: one input file only (got \"%s\" and \"%s\")\n", command, args->input, arg);
            return 2;
        }
    }
    if (args->input && args->output && !cli_default_model(&args->model_path))
        return 1;
    if (!args->input || !args->model_path || !args->output) {
        fprintf(stderr, "meshgpt %s: give an input file, a model (-m) and an output file (-o)\n\n", command);
        usage(stderr, command);
        return 2;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Context + model, or a message on stderr and NULL. */
static mg_model *open_model(const tokenizer_args *args, mg_context **ctx)
{
    *ctx = cli_open_context(&args->common);
    if (!*ctx)
        return NULL;
    mg_model *model = NULL;
    if (mg_model_load(*ctx, args->model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the model: %s\n", mg_context_last_error(*ctx));
        mg_context_destroy(*ctx);
        *ctx = NULL;
        return NULL;
    }
    return model;
}

static int read_mesh(const char *path, const mg_model *model, mg_mesh *mesh)
{
    mg_mesh_read_params params = mg_mesh_read_default_params();
    params.polygons = mg_model_face_size(model) == 4 ? MG_POLYGONS_QUADS : MG_POLYGONS_TRIANGULATE;
    char error[1024];
    if (mg_mesh_read(path, &params, mesh, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    return 0;
}

static int run_tokenize(const tokenizer_args *args)
{
    mg_context *ctx = NULL;
    mg_model *model = open_model(args, &ctx);
    if (!model)
        return 1;
    mg_mesh mesh;
    mg_tokens tokens;
    memset(&mesh, 0, sizeof mesh);
    memset(&tokens, 0, sizeof tokens);
    int rc = read_mesh(args->input, model, &mesh);
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = args->preprocess;
    double start = now_seconds();
    if (rc == 0 && mg_tokenize(model, &mesh, 1, &params, &tokens, NULL) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot tokenize %s: %s\n", args->input, mg_context_last_error(ctx));
        rc = 1;
    }
    double seconds = now_seconds() - start;
    char error[1024];
    if (rc == 0 && mg_tokens_write_json(args->output, &tokens, args->model_path, NULL, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        rc = 1;
    }
    if (rc == 0)
        printf("%s: %zu faces -> %zu tokens in %.1f ms, written to %s\n", args->input, tokens.num_faces,
               tokens.num_faces * tokens.face_size * tokens.levels, seconds * 1e3, args->output);
    mg_tokens_free(&tokens);
    mg_mesh_free(&mesh);
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}

static int run_decode(const tokenizer_args *args)
{
    mg_tokens tokens;
    char error[1024];
    if (mg_tokens_read_json(args->input, &tokens, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    mg_context *ctx = NULL;
    mg_model *model = open_model(args, &ctx);
    if (!model) {
        mg_tokens_free(&tokens);
        return 1;
    }
    mg_mesh mesh;
    memset(&mesh, 0, sizeof mesh);
    int rc = 0;
    double start = now_seconds();
    if (mg_decode(model, &tokens, 1, &mesh) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot decode %s: %s\n", args->input, mg_context_last_error(ctx));
        rc = 1;
    }
    double seconds = now_seconds() - start;
    if (rc == 0)
        rc = cli_write_mesh(args->output, &mesh, args->weld);
    if (rc == 0) {
        size_t valid = 0;
        for (size_t f = 0; f < mesh.num_faces; f++)
            valid += mesh.face_mask[f] != 0;
        printf("%s: %zu faces decoded (%zu with missing tokens left out) in %.1f ms, written to %s\n", args->input,
               valid, mesh.num_faces - valid, seconds * 1e3, args->output);
    }
    mg_mesh_free(&mesh);
    mg_tokens_free(&tokens);
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}

/* The bin of a coordinate on the model's grid, from the model's range and bin count. */
static long coordinate_bin(float value, double lo, double hi, double bins)
{
    double u = (value - lo) / (hi - lo) * bins - 0.5;
    return lrint(u < 0 ? 0 : u > bins - 1 ? bins - 1 : u);
}

static int run_reconstruct(const tokenizer_args *args)
{
    mg_context *ctx = NULL;
    mg_model *model = open_model(args, &ctx);
    if (!model)
        return 1;
    mg_mesh mesh, processed, decoded;
    mg_tokens tokens;
    memset(&mesh, 0, sizeof mesh);
    memset(&processed, 0, sizeof processed);
    memset(&decoded, 0, sizeof decoded);
    memset(&tokens, 0, sizeof tokens);
    int rc = read_mesh(args->input, model, &mesh);
    mg_tokenize_params params = mg_tokenize_default_params();
    params.preprocess = args->preprocess;
    if (rc == 0 && (mg_tokenize(model, &mesh, 1, &params, &tokens, &processed) != MG_OK ||
                    mg_decode(model, &tokens, 1, &decoded) != MG_OK)) {
        fprintf(stderr, "meshgpt: cannot reconstruct %s: %s\n", args->input, mg_context_last_error(ctx));
        rc = 1;
    }
    if (rc == 0) {
        /* Grid of the model: the bin width tells how close "exact" is. */
        float grid_lo = -1.0f, grid_hi = 1.0f;
        int grid_bins = 128;
        mg_model_coordinate_grid(model, &grid_lo, &grid_hi, &grid_bins);
        const double lo = grid_lo, hi = grid_hi, bins = grid_bins;
        const size_t fs = processed.face_size;
        double sum = 0.0, worst = 0.0;
        size_t exact_faces = 0;
        for (size_t f = 0; f < processed.num_faces; f++) {
            bool exact = true;
            for (size_t c = 0; c < fs; c++) {
                const float *a = processed.vertices + (size_t)processed.faces[f * fs + c] * 3;
                const float *b = decoded.vertices + (size_t)decoded.faces[f * fs + c] * 3;
                double d2 = 0.0;
                for (int axis = 0; axis < 3; axis++) {
                    d2 += ((double)a[axis] - b[axis]) * ((double)a[axis] - b[axis]);
                    exact = exact && coordinate_bin(a[axis], lo, hi, bins) == coordinate_bin(b[axis], lo, hi, bins);
                }
                double d = sqrt(d2);
                sum += d;
                worst = d > worst ? d : worst;
            }
            exact_faces += exact;
        }
        const size_t corners = processed.num_faces * fs;
        printf("%s: %zu faces, %zu tokens\n", args->input, processed.num_faces,
               tokens.num_faces * tokens.face_size * tokens.levels);
        printf("per-vertex reconstruction error: mean %.6f, max %.6f (bin width %.6f)\n",
               corners ? sum / (double)corners : 0.0, worst, (hi - lo) / bins);
        printf("faces recovered exactly: %zu of %zu (%.1f%%)\n", exact_faces, processed.num_faces,
               processed.num_faces ? 100.0 * (double)exact_faces / (double)processed.num_faces : 0.0);
        rc = cli_write_mesh(args->output, &decoded, true);
        if (rc == 0)
            printf("written to %s\n", args->output);
    }
    mg_mesh_free(&mesh);
    mg_mesh_free(&processed);
    mg_mesh_free(&decoded);
    mg_tokens_free(&tokens);
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}

int cmd_tokenizer(const char *command, int argc, char **argv)
{
    tokenizer_args args;
    int rc = parse_args(argc, argv, command, &args);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (strcmp(command, "tokenize") == 0)
        return run_tokenize(&args);
    if (strcmp(command, "decode") == 0)
        return run_decode(&args);
    return run_reconstruct(&args);
}
