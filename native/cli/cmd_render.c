/* meshgpt render MESH -o PREVIEW.png: a shaded preview image of a mesh, on the CPU. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: meshgpt render MESH -o PREVIEW.png [--size N] [--views 1|4] [--up y|z] [--no-edges]\n"
                 "\n"
                 "Writes a shaded preview of a mesh file (OBJ, PLY, STL, glTF/GLB): four orthographic views\n"
                 "(three-quarter, front, side, top) in a 2 x 2 grid, the same scale in each. Front faces are\n"
                 "blue-grey, back faces red (flipped winding shows), edges darker.\n"
                 "  --size N     pixels per view side (default 256)\n"
                 "  --views V    4 (default) or 1 (the three-quarter view alone)\n"
                 "  --up A       the mesh's up axis: y (default, OBJ's usual) or z (Blender's)\n"
                 "  --no-edges   shading only\n");
}

int cli_render_preview(const char *path, const mg_mesh *mesh, const mg_render_params *params)
{
    char error[1024];
    if (mg_render_png(mesh, params, path, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot render %s: %s\n", path, error);
        return 1;
    }
    return 0;
}

/* Consumes --size / --views / --up / --no-edges; returns 1 when argv[*i] was one, 0 if not, 2 on a bad value. */
int cli_parse_render_option(int argc, char **argv, int *i, mg_render_params *params)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--no-edges") == 0) {
        params->edges = false;
        return 1;
    }
    bool size = strcmp(arg, "--size") == 0, views = strcmp(arg, "--views") == 0, up = strcmp(arg, "--up") == 0;
    if (!size && !views && !up)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "meshgpt: %s needs a value\n", arg);
        return 2;
    }
    const char *value = argv[++*i];
    if (up) {
        if (strcmp(value, "y") != 0 && strcmp(value, "z") != 0) {
            fprintf(stderr, "meshgpt: --up takes y or z, not \"%s\"\n", value);
            return 2;
        }
        params->up = value[0];
        return 1;
    }
    char *end;
    unsigned long number = strtoul(value, &end, 10);
    if (end == value || *end || (size && (number < 16 || number > 4096)) || (views && number != 1 && number != 4)) {
        fprintf(stderr, "meshgpt: %s takes %s, not \"%s\"\n", arg, size ? "16 to 4096" : "1 or 4", value);
        return 2;
    }
    if (size)
        params->size = (uint32_t)number;
    else
        params->views = (uint32_t)number;
    return 1;
}

int cmd_render(int argc, char **argv)
{
    const char *input = NULL, *output = NULL;
    mg_render_params params = mg_render_default_params();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int parsed = cli_parse_render_option(argc, argv, &i, &params);
        if (parsed == 2)
            return 2;
        if (parsed == 1)
            continue;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) && i + 1 < argc) {
            output = argv[++i];
        } else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "meshgpt render: unknown option %s\n\n", arg);
            usage(stderr);
            return 2;
        } else if (!input) {
            input = arg;
        } else {
            fprintf(stderr, "meshgpt render: one mesh only (\"%s\" is extra)\n", arg);
            return 2;
        }
    }
    if (!input || !output) {
        fprintf(stderr, "meshgpt render: give a mesh file and an output image (-o PREVIEW.png)\n\n");
        usage(stderr);
        return 2;
    }
    /* An all-quad mesh stays quads in the picture (no diagonals); mixed polygons are triangulated. */
    mg_mesh_read_params read = mg_mesh_read_default_params();
    read.polygons = MG_POLYGONS_AS_IS;
    mg_mesh mesh;
    char error[1024];
    if (mg_mesh_read(input, &read, &mesh, error, sizeof error) != MG_OK &&
        mg_mesh_read(input, NULL, &mesh, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    int rc = cli_render_preview(output, &mesh, &params);
    if (rc == 0)
        printf("%s: %zu faces rendered\n", output, mesh.num_faces);
    mg_mesh_free(&mesh);
    return rc;
}
