/* meshgpt bench tokenize: meshes/s and faces/s of tokenize and decode on every device. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A wavy height field of columns x rows quads split into 2 triangles each. */
static void make_grid(size_t columns, size_t rows, mg_mesh *mesh)
{
    memset(mesh, 0, sizeof *mesh);
    mesh->num_vertices = (columns + 1) * (rows + 1);
    mesh->num_faces = columns * rows * 2;
    mesh->face_size = 3;
    mesh->vertices = malloc(mesh->num_vertices * 3 * sizeof(float));
    mesh->faces = malloc(mesh->num_faces * 3 * sizeof(int32_t));
    if (!mesh->vertices || !mesh->faces) {
        mg_mesh_free(mesh);
        return;
    }
    for (size_t r = 0; r <= rows; r++)
        for (size_t c = 0; c <= columns; c++) {
            float *v = mesh->vertices + (r * (columns + 1) + c) * 3;
            v[0] = -0.9f + 1.8f * (float)c / (float)columns;
            v[1] = -0.9f + 1.8f * (float)r / (float)rows;
            v[2] = 0.3f * sinf(3.0f * v[0]) * cosf(2.0f * v[1]);
        }
    size_t f = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < columns; c++) {
            int32_t a = (int32_t)(r * (columns + 1) + c), b = a + 1, d = a + (int32_t)columns + 1, e = d + 1;
            int32_t *face = mesh->faces + f * 3;
            face[0] = a, face[1] = b, face[2] = e;
            face[3] = a, face[4] = e, face[5] = d;
            f += 2;
        }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: meshgpt bench tokenize -m MODEL [--min-seconds S] [--batch N] [-d DEVICE]\n"
                 "\n"
                 "Tokenizes and decodes 100- and 800-face meshes (wavy grids) on every usable device and\n"
                 "the CPU reference (or only on -d DEVICE), and prints meshes/s and faces/s.\n"
                 "  --min-seconds S  time each case for at least S seconds (default 1)\n"
                 "  --batch N        meshes per call (default 1)\n");
}

typedef struct bench_case {
    double tokenize_seconds, decode_seconds;
} bench_case;

static int run_case(mg_context *ctx, mg_model *model, const mg_mesh *mesh, size_t batch, double min_seconds,
                    bench_case *out)
{
    mg_mesh *meshes = calloc(batch, sizeof *meshes);
    mg_tokens *tokens = calloc(batch, sizeof *tokens);
    mg_mesh *decoded = calloc(batch, sizeof *decoded);
    int rc = meshes && tokens && decoded ? 0 : 1;
    for (size_t i = 0; i < batch && rc == 0; i++)
        meshes[i] = *mesh;
    mg_tokenize_params params = mg_tokenize_default_params();
    for (int phase = 0; phase < 2 && rc == 0; phase++) {
        /* One untimed call compiles the pipelines and fills the allocator. */
        size_t calls = 0;
        double start = 0, elapsed = 0;
        for (int warm = 1; rc == 0; warm = 0) {
            if (warm == 0 && calls == 0)
                start = now_seconds();
            if (phase == 0) {
                for (size_t i = 0; i < batch; i++)
                    mg_tokens_free(&tokens[i]);
                rc = mg_tokenize(model, meshes, batch, &params, tokens, NULL) != MG_OK;
            } else {
                for (size_t i = 0; i < batch; i++)
                    mg_mesh_free(&decoded[i]);
                rc = mg_decode(model, tokens, batch, decoded) != MG_OK;
            }
            if (warm)
                continue;
            calls++;
            elapsed = now_seconds() - start;
            if (elapsed >= min_seconds && calls >= 3)
                break;
        }
        if (rc == 0) {
            if (phase == 0)
                out->tokenize_seconds = elapsed / (double)calls;
            else
                out->decode_seconds = elapsed / (double)calls;
        }
    }
    if (rc != 0)
        fprintf(stderr, "meshgpt bench tokenize: %s\n", mg_context_last_error(ctx));
    for (size_t i = 0; i < batch && tokens && decoded; i++) {
        mg_tokens_free(&tokens[i]);
        mg_mesh_free(&decoded[i]);
    }
    free(meshes);
    free(tokens);
    free(decoded);
    return rc;
}

static int bench_device(const char *device, const char *model_path, size_t batch, double min_seconds,
                        const cli_common *common)
{
    cli_common options = *common;
    options.device = device;
    mg_context *ctx = cli_open_context(&options);
    if (!ctx)
        return 1;
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    mg_model *model = NULL;
    if (mg_model_load(ctx, model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt bench tokenize: %s\n", mg_context_last_error(ctx));
        mg_context_destroy(ctx);
        return 1;
    }
    static const size_t sizes[2][2] = {{5, 10}, {20, 20}}; /* 100 and 800 triangles */
    int rc = 0;
    for (int s = 0; s < 2 && rc == 0; s++) {
        mg_mesh mesh;
        make_grid(sizes[s][0], sizes[s][1], &mesh);
        if (!mesh.vertices) {
            rc = 1;
            break;
        }
        bench_case result = {0};
        if (mesh.num_faces > mg_model_max_faces(model)) {
            printf("%-40s %6zu faces: skipped (the model takes at most %zu faces)\n", info.name, mesh.num_faces,
                   mg_model_max_faces(model));
        } else if ((rc = run_case(ctx, model, &mesh, batch, min_seconds, &result)) == 0) {
            double meshes = (double)batch;
            printf("%-40s %6zu faces x %zu: tokenize %8.2f meshes/s %10.0f faces/s | decode %8.2f meshes/s "
                   "%10.0f faces/s\n",
                   info.name, mesh.num_faces, batch, meshes / result.tokenize_seconds,
                   meshes * (double)mesh.num_faces / result.tokenize_seconds, meshes / result.decode_seconds,
                   meshes * (double)mesh.num_faces / result.decode_seconds);
            fflush(stdout);
        }
        mg_mesh_free(&mesh);
    }
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}

int cmd_bench_tokenize(int argc, char **argv)
{
    cli_common common = {0};
    const char *model_path = NULL;
    double min_seconds = 1.0;
    long batch = 1;
    for (int i = 2; i < argc; i++) {
        bool error = false;
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
        } else if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) {
            model_path = argv[++i];
        } else if (strcmp(argv[i], "--min-seconds") == 0 && i + 1 < argc) {
            min_seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "meshgpt bench tokenize: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !(min_seconds > 0) || batch < 1 || batch > 4096) {
        usage(stderr);
        return 2;
    }
    if (common.device)
        return bench_device(common.device, model_path, (size_t)batch, min_seconds, &common);
    mg_device_info *devices = NULL;
    size_t count = 0;
    char error[512];
    if (mg_devices_list(&devices, &count, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt bench tokenize: %s\n", error);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char device[32];
        if (devices[i].type == MG_DEVICE_CPU_REFERENCE)
            snprintf(device, sizeof device, "cpu");
        else if (devices[i].usable)
            snprintf(device, sizeof device, "%d", devices[i].index);
        else
            continue;
        rc = bench_device(device, model_path, (size_t)batch, min_seconds, &common);
    }
    mg_devices_free(devices);
    return rc;
}
