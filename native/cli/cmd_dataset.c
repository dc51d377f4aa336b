/* meshgpt dataset primitives: a labelled set of procedural low-poly shapes. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt dataset primitives -o DIR [--count N] [--seed S]\n"
            "\n"
            "Writes N labelled low-poly shapes (default 380: 20 of each class, the classes in turn) to DIR:\n"
            "CLASS_NNNN.obj, captions.json (file -> [caption, its shorter forms down to the bare noun]; training\n"
            "draws one each time) and labels.json (file -> class, caption, caption_variants, faces, drawn\n"
            "parameters). The same seed (default 0) writes the same files. Classes:\n ");
    for (size_t k = 0; k < mg_primitive_class_count(); k++)
        fprintf(out, " %s", mg_primitive_class_name(k));
    fprintf(out, "\n");
}

static int parse_count(const char *option, const char *text, unsigned long long *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-') {
        fprintf(stderr, "meshgpt dataset: %s takes a whole number, not \"%s\"\n", option, text);
        return 2;
    }
    *out = v;
    return 0;
}

int cmd_dataset(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "primitives") != 0) {
        fprintf(stderr, "meshgpt dataset: unknown data set \"%s\" (only \"primitives\")\n", argv[1]);
        return 2;
    }
    const char *dir = NULL;
    unsigned long long count = 380, seed = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const bool has_value = i + 1 < argc;
        int rc = 0;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) && has_value) {
            dir = argv[++i];
        } else if (strcmp(arg, "--count") == 0 && has_value) {
            rc = parse_count(arg, argv[++i], &count);
            if (rc == 0 && (count == 0 || count > 1000000)) {
                fprintf(stderr, "meshgpt dataset: --count takes 1 to 1000000\n");
                rc = 2;
            }
        } else if (strcmp(arg, "--seed") == 0 && has_value) {
            rc = parse_count(arg, argv[++i], &seed);
        } else {
            fprintf(stderr, "meshgpt dataset: unknown option %s (or it lacks its value)\n\n", arg);
            usage(stderr);
            return 2;
        }
        if (rc != 0)
            return rc;
    }
    if (!dir) {
        fprintf(stderr, "meshgpt dataset: give an output folder (-o DIR)\n");
        return 2;
    }
    char error[1024];
    if (mg_dataset_write_primitives(dir, (size_t)count, (uint64_t)seed, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    printf("wrote %llu shapes of %zu classes (seed %llu) to %s, with captions.json and labels.json\n", count,
           mg_primitive_class_count(), seed, dir);
    return 0;
}
