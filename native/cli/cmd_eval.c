/* meshgpt eval: mesh validity (`eval mesh`), and the dispatch to `eval tokenizer` and `eval generate`. */
#include "eval_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt eval mesh FILE... [--json OUT.json]\n"
            "       meshgpt eval tokenizer -m MODEL --data DIR [options]   (see --help)\n"
            "       meshgpt eval generate -m MODEL --data DIR [options]    (see --help)\n"
            "\n"
            "mesh: validity of mesh files: degenerate faces (a repeated vertex or zero area), duplicate faces\n"
            "(the same vertices), unreferenced vertices, boundary edges (one face), non-manifold edges (more\n"
            "than two), inconsistently oriented edges, connected components and parts wound inward.\n"
            "watertight = no boundary or non-manifold edges; valid = faces, none degenerate or duplicate, manifold.\n");
}

int eval_read_mesh(const char *path, mg_mesh *out)
{
    char error[1024];
    mg_mesh_read_params params = mg_mesh_read_default_params();
    if (mg_mesh_read(path, &params, out, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    return 0;
}

int eval_normalized_copy(const mg_mesh *mesh, mg_mesh *out)
{
    memset(out, 0, sizeof *out);
    out->vertices = malloc((mesh->num_vertices + 1) * 3 * sizeof(float));
    out->faces = malloc((mesh->num_faces * mesh->face_size + 1) * sizeof(int32_t));
    if (!out->vertices || !out->faces) {
        mg_mesh_free(out);
        fprintf(stderr, "meshgpt: out of memory\n");
        return 1;
    }
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < mesh->num_vertices; v++)
        for (int k = 0; k < 3; k++) {
            lo[k] = fminf(lo[k], mesh->vertices[v * 3 + k]);
            hi[k] = fmaxf(hi[k], mesh->vertices[v * 3 + k]);
        }
    const float side = fmaxf(hi[0] - lo[0], fmaxf(hi[1] - lo[1], hi[2] - lo[2]));
    const float scale = side > 0 ? 1.0f / side : 1.0f;
    for (size_t v = 0; v < mesh->num_vertices; v++)
        for (int k = 0; k < 3; k++)
            out->vertices[v * 3 + k] = (mesh->vertices[v * 3 + k] - 0.5f * (lo[k] + hi[k])) * scale;
    memcpy(out->faces, mesh->faces, mesh->num_faces * mesh->face_size * sizeof(int32_t));
    out->num_vertices = mesh->num_vertices;
    out->num_faces = mesh->num_faces;
    out->face_size = mesh->face_size;
    return 0;
}

void eval_json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void eval_json_number(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.9g", value);
    else
        fputs("null", out);
}

int eval_parse_size(const char *option, const char *text, size_t lo, size_t hi, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "meshgpt eval: %s takes a whole number in [%zu, %zu], not \"%s\"\n", option, lo, hi, text);
        return 2;
    }
    *out = (size_t)v;
    return 0;
}

int eval_parse_double(const char *option, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "meshgpt eval: %s takes a number in [%g, %g], not \"%s\"\n", option, lo, hi, text);
        return 2;
    }
    *out = v;
    return 0;
}

void eval_print_validity_json(FILE *out, const mg_mesh_validity *v)
{
    fprintf(out,
            "{\"faces\": %zu, \"vertices\": %zu, \"degenerate_faces\": %zu, \"duplicate_faces\": %zu, "
            "\"unreferenced_vertices\": %zu, \"edges\": %zu, \"boundary_edges\": %zu, \"non_manifold_edges\": %zu, "
            "\"inconsistent_edges\": %zu, \"components\": %zu, \"inward_components\": %zu, \"signed_volume\": ",
            v->faces, v->vertices, v->degenerate_faces, v->duplicate_faces, v->unreferenced_vertices, v->edges,
            v->boundary_edges, v->non_manifold_edges, v->inconsistent_edges, v->components, v->inward_components);
    eval_json_number(out, v->signed_volume);
    fprintf(out, ", \"manifold\": %s, \"watertight\": %s, \"consistently_oriented\": %s, \"valid\": %s}",
            v->manifold ? "true" : "false", v->watertight ? "true" : "false",
            v->consistently_oriented ? "true" : "false", v->valid ? "true" : "false");
}

static int eval_mesh(int argc, char **argv)
{
    const char *json_path = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    size_t count = 0;
    if (!files) {
        fprintf(stderr, "meshgpt: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(files);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "meshgpt eval mesh: unknown option %s (or it lacks its value)\n", argv[i]);
            free(files);
            return 2;
        } else {
            files[count++] = argv[i];
        }
    }
    if (count == 0) {
        fprintf(stderr, "meshgpt eval mesh: give one or more mesh files\n");
        free(files);
        return 2;
    }
    FILE *json = NULL;
    if (json_path && !(json = fopen(json_path, "w"))) {
        fprintf(stderr, "meshgpt: cannot write %s\n", json_path);
        free(files);
        return 1;
    }
    if (json)
        fprintf(json, "{\n  \"meshes\": [\n");
    printf("%-32s %6s %6s %5s %5s %5s %6s %6s %6s %5s %5s  %-10s %-8s %s\n", "file", "faces", "verts", "degen", "dup",
           "unref", "bound", "nonman", "incons", "comps", "inwd", "watertight", "oriented", "valid");
    int rc = 0;
    size_t valid = 0, written = 0;
    for (size_t i = 0; i < count; i++) {
        mg_mesh mesh;
        if (eval_read_mesh(files[i], &mesh) != 0) {
            rc = 1;
            continue;
        }
        mg_mesh_validity v;
        char error[1024];
        if (mg_mesh_check(&mesh, &v, error, sizeof error) != MG_OK) {
            fprintf(stderr, "meshgpt: %s: %s\n", files[i], error);
            mg_mesh_free(&mesh);
            rc = 1;
            continue;
        }
        const char *name = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];
        printf("%-32s %6zu %6zu %5zu %5zu %5zu %6zu %6zu %6zu %5zu %5zu  %-10s %-8s %s\n", name, v.faces, v.vertices,
               v.degenerate_faces, v.duplicate_faces, v.unreferenced_vertices, v.boundary_edges, v.non_manifold_edges,
               v.inconsistent_edges, v.components, v.inward_components, v.watertight ? "yes" : "no",
               v.consistently_oriented ? "yes" : "no", v.valid ? "yes" : "no");
        valid += v.valid;
        if (json) {
            fprintf(json, "%s    {\"file\": ", written ? ",\n" : "");
            eval_json_string(json, files[i]);
            fprintf(json, ", \"validity\": ");
            eval_print_validity_json(json, &v);
            fputc('}', json);
            written++;
        }
        mg_mesh_free(&mesh);
    }
    printf("valid: %zu of %zu\n", valid, count);
    if (json) {
        fprintf(json, "\n  ],\n  \"valid\": %zu,\n  \"count\": %zu\n}\n", valid, count);
        if (fclose(json) != 0) {
            fprintf(stderr, "meshgpt: cannot write %s\n", json_path);
            rc = 1;
        }
    }
    free(files);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "mesh") == 0)
        return eval_mesh(argc - 1, argv + 1);
    if (strcmp(argv[1], "tokenizer") == 0)
        return cmd_eval_tokenizer(argc - 1, argv + 1);
    if (strcmp(argv[1], "generate") == 0)
        return cmd_eval_generate(argc - 1, argv + 1);
    fprintf(stderr, "meshgpt eval: unknown subcommand \"%s\" (mesh, tokenizer or generate)\n\n", argv[1]);
    usage(stderr);
    return 2;
}
