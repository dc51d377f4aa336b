/* meshgpt bench generate: tokens/s and faces/s of generation on random weights. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: meshgpt bench generate [--config default|preview|small] [--batch N] [--tokens N] [--fp16]\n"
                 "                              [-d DEVICE]\n"
                 "\n"
                 "Generates with random weights of a model size and prints tokens/s, faces/s and peak device\n"
                 "memory. Without --config and --batch: default and preview sizes at batch 1 and 8, fp32.\n"
                 "  --tokens N   tokens per row, a multiple of 6 (default 60)\n");
}

static int run_one(mg_context *ctx, const char *config, size_t batch, size_t tokens, bool fp16)
{
    mg_bench_generate_params p = mg_bench_generate_default_params();
    p.config = config;
    p.batch = batch;
    p.tokens = tokens;
    p.fp16 = fp16;
    mg_bench_generate_result r;
    fprintf(stderr, "generating: %s, batch %zu, %zu tokens, %s ...\r", config, batch, tokens, fp16 ? "fp16" : "fp32");
    fflush(stderr);
    mg_status status = mg_bench_generate(ctx, &p, &r);
    fprintf(stderr, "%70s\r", "");
    if (status != MG_OK) {
        fprintf(stderr, "\nmeshgpt bench generate: %s\n", mg_context_last_error(ctx));
        return 1;
    }
    printf("%-8s %5.1fM params  %-4s  batch %2zu  %4zu tokens  %9.2f tokens/s  %8.2f faces/s  peak %7.1f MiB\n",
           config, (double)r.parameters / 1e6, fp16 ? "fp16" : "fp32", batch, r.tokens, r.tokens_per_second,
           r.faces_per_second, (double)r.device_bytes_peak / (1024.0 * 1024.0));
    fflush(stdout);
    return 0;
}

int cmd_bench_generate(int argc, char **argv)
{
    cli_common common = {0};
    const char *config = NULL;
    long batch = 0, tokens = 60;
    bool fp16 = false;
    for (int i = 2; i < argc; i++) {
        bool error = false;
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            tokens = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--fp16") == 0) {
            fp16 = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "meshgpt bench generate: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (batch < 0 || batch > 64 || tokens < 6 || tokens % 6 != 0) {
        usage(stderr);
        return 2;
    }
    mg_context *ctx = cli_open_context(&common);
    if (!ctx)
        return 1;
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    printf("device: %s\n", info.name);
    static const char *const configs[] = {"default", "preview"};
    static const size_t batches[] = {1, 8};
    int rc = 0;
    for (size_t c = 0; c < 2 && rc == 0; c++) {
        if (config && c > 0)
            break;
        for (size_t b = 0; b < 2 && rc == 0; b++) {
            if (batch && b > 0)
                break;
            rc = run_one(ctx, config ? config : configs[c], batch ? (size_t)batch : batches[b], (size_t)tokens, fp16);
        }
    }
    mg_context_destroy(ctx);
    return rc;
}
