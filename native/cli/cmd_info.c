/* meshgpt info MODEL: what a model file holds, without opening a device. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    mg_model_load_params params = mg_model_load_default_params();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: meshgpt info MODEL [--allow-missing]\n\n"
                   "Describes a model file (.safetensors with its config in the metadata, or with\n"
                   "meshgpt-pytorch's config.json beside it): the configuration, parameter counts\n"
                   "per module, the dtypes, and whether every tensor matches the configuration.\n"
                   "Needs no GPU.\n\n"
                   "  --allow-missing  report what loading with --allow-missing would initialise\n"
                   "                   (missing tensors) or ignore (unexpected ones)\n");
            return 0;
        }
        if (strcmp(argv[i], "--allow-missing") == 0) {
            params.allow_missing = true;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "meshgpt info: unknown option \"%s\"\n", argv[i]);
            return 2;
        }
        if (path) {
            fprintf(stderr, "meshgpt info: one model at a time (got \"%s\" and \"%s\")\n", path, argv[i]);
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: meshgpt info MODEL\n");
        return 2;
    }
    char *report = NULL;
    char error[1024];
    mg_status status = mg_model_inspect_with(path, &params, &report, error, sizeof error);
    if (status != MG_OK) {
        fprintf(stderr, "meshgpt info: %s\n", error);
        return 1;
    }
    fputs(report, stdout);
    mg_string_free(report);
    return 0;
}
