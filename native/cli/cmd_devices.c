/* meshgpt devices: the device table. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void format_bytes(uint64_t bytes, char *out, size_t size)
{
    if (bytes == 0)
        snprintf(out, size, "-");
    else if (bytes >= (1ull << 30))
        snprintf(out, size, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else if (bytes >= (1ull << 20))
        snprintf(out, size, "%.0f MiB", (double)bytes / (double)(1ull << 20));
    else
        snprintf(out, size, "%.0f KiB", (double)bytes / 1024.0);
}

int cmd_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: meshgpt devices\n\n"
                   "Lists the Vulkan devices (the index is what --device takes) and the CPU\n"
                   "reference backend (--device cpu). '*' marks what --device auto picks.\n");
            return 0;
        }
        fprintf(stderr, "meshgpt devices: unknown option \"%s\"\n", argv[i]);
        return 2;
    }
    mg_device_info *devices = NULL;
    size_t count = 0;
    char error[512];
    mg_status status = mg_devices_list(&devices, &count, error, sizeof error);
    if (status != MG_OK) {
        fprintf(stderr, "meshgpt devices: %s\n", error);
        return 1;
    }
    printf("%-6s %-34s %-14s %-9s %-5s %-5s %-8s %-7s %-9s %s\n", "device", "name", "type", "memory", "fp16", "int8",
           "subgroup", "shared", "max range", "driver");
    for (size_t i = 0; i < count; i++) {
        const mg_device_info *d = &devices[i];
        char index[16], memory[32] = "host", shared[32] = "-", range[32] = "-", subgroup[16] = "-";
        const char *fp16 = "-", *int8 = "-";
        if (d->type == MG_DEVICE_CPU_REFERENCE) {
            snprintf(index, sizeof index, "cpu%s", d->preferred ? "*" : "");
        } else {
            snprintf(index, sizeof index, "%d%s", d->index, d->preferred ? "*" : "");
            format_bytes(d->device_local_bytes, memory, sizeof memory);
            format_bytes(d->max_shared_memory_bytes, shared, sizeof shared);
            format_bytes(d->max_storage_buffer_range, range, sizeof range);
            snprintf(subgroup, sizeof subgroup, "%u", d->subgroup_size);
            fp16 = d->supports_fp16 ? "yes" : "no";
            int8 = d->supports_int8 ? "yes" : "no";
        }
        printf("%-6s %-34.34s %-14s %-9s %-5s %-5s %-8s %-7s %-9s %s", index, d->name, mg_device_type_string(d->type),
               memory, fp16, int8, subgroup, shared, range, d->driver_info);
        if (!d->usable)
            printf("  [unusable: %s]", d->unusable_reason);
        printf("\n");
    }
    if (error[0])
        fprintf(stderr, "note: %s\n", error);
    mg_devices_free(devices);
    return 0;
}
