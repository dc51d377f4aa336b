/* meshgpt bench ops: op timings on the device and the CPU reference. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: meshgpt bench ops [--quick] [--filter OP] [--min-seconds S] [--no-cpu] [-d DEVICE]\n"
                 "\n"
                 "Times each op at realistic sizes on the chosen device and on the CPU reference,\n"
                 "and prints time per call, GFLOP/s, GB/s and the largest difference between the two.\n"
                 "  --quick          smaller sizes\n"
                 "  --filter OP      only ops whose name contains OP (matmul, softmax, ...)\n"
                 "  --min-seconds S  time each case for at least S seconds (default 0.25)\n"
                 "  --no-cpu         skip the CPU reference\n");
}

static bool on_progress(size_t index, size_t count, const char *name, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "\r[%zu/%zu] %-16s", index + 1, count, name);
    fflush(stderr);
    return true;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "tokenize") == 0)
        return cmd_bench_tokenize(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "generate") == 0)
        return cmd_bench_generate(argc, argv);
    if (argc < 2 || strcmp(argv[1], "ops") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    cli_common common = {0};
    mg_bench_params params = mg_bench_default_params();
    for (int i = 2; i < argc; i++) {
        bool error = false;
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
        } else if (strcmp(argv[i], "--quick") == 0) {
            params.quick = true;
        } else if (strcmp(argv[i], "--no-cpu") == 0) {
            params.include_cpu_reference = false;
        } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            params.filter = argv[++i];
        } else if (strcmp(argv[i], "--min-seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            params.min_seconds = strtod(argv[++i], &end);
            if (!end || *end || !(params.min_seconds > 0)) {
                fprintf(stderr, "meshgpt bench ops: --min-seconds needs a positive number\n");
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "meshgpt bench ops: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    mg_context *ctx = cli_open_context(&common);
    if (!ctx)
        return 1;
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    printf("device: %s (%s, %s)\n", info.name, mg_device_type_string(info.type), info.driver_info);
    if (info.type != MG_DEVICE_CPU_REFERENCE)
        printf("limits: subgroup %u, shared memory %u bytes, workgroup %u invocations, storage range %llu bytes, "
               "largest allocation %llu bytes, fp16 %s, int8 %s\n",
               info.subgroup_size, info.max_shared_memory_bytes, info.max_workgroup_invocations,
               (unsigned long long)info.max_storage_buffer_range, (unsigned long long)info.max_allocation_bytes,
               info.supports_fp16 ? "yes" : "no", info.supports_int8 ? "yes" : "no");

    mg_bench_result *results = NULL;
    size_t count = 0;
    mg_status status = mg_bench_ops(ctx, &params, on_progress, NULL, &results, &count);
    fprintf(stderr, "\r%40s\r", "");
    if (status != MG_OK) {
        fprintf(stderr, "meshgpt bench ops: %s\n", mg_context_last_error(ctx));
        mg_context_destroy(ctx);
        return 1;
    }
    printf("%-13s %-30s %-8s %12s %10s %9s %10s\n", "op", "shape", "backend", "time/call", "GFLOP/s", "GB/s",
           "max diff");
    for (size_t i = 0; i < count; i++) {
        const mg_bench_result *r = &results[i];
        char time[32], diff[32];
        if (r->seconds_per_call >= 1e-3)
            snprintf(time, sizeof time, "%.3f ms", r->seconds_per_call * 1e3);
        else
            snprintf(time, sizeof time, "%.1f us", r->seconds_per_call * 1e6);
        if (isnan(r->max_abs_diff))
            snprintf(diff, sizeof diff, "-");
        else
            snprintf(diff, sizeof diff, "%.2e", r->max_abs_diff);
        printf("%-13s %-30s %-8s %12s %10.2f %9.2f %10s\n", r->op, r->shape, r->backend, time, r->gflops,
               r->gbytes_per_second, diff);
    }
    mg_bench_results_free(results);
    mg_context_destroy(ctx);
    return 0;
}
