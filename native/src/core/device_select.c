#include "core/device_select.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_spaces(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static bool equals_ignoring_case(const char *a, const char *b)
{
    a = skip_spaces(a);
    size_t n = strlen(b);
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return false;
    return *skip_spaces(a + n) == '\0';
}

bool mg_device_spec_is_auto(const char *spec)
{
    return !spec || *skip_spaces(spec) == '\0' || equals_ignoring_case(spec, "auto");
}

bool mg_device_spec_is_cpu(const char *spec)
{
    return spec && equals_ignoring_case(spec, "cpu");
}

static bool contains_ignoring_case(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return false;
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static int rank_of(mg_device_type type)
{
    switch (type) {
    case MG_DEVICE_DISCRETE_GPU: return 0;
    case MG_DEVICE_INTEGRATED_GPU: return 1;
    case MG_DEVICE_VIRTUAL_GPU: return 2;
    case MG_DEVICE_OTHER: return 3;
    case MG_DEVICE_VULKAN_CPU: return 4;
    default: return 5;
    }
}

static void describe_list(const mg_device_info *devices, size_t count, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count && used + 1 < out_size; i++) {
        int written = snprintf(out + used, out_size - used, "%s%d: %s%s", i ? ", " : "", devices[i].index,
                               devices[i].name, devices[i].usable ? "" : " (unusable)");
        if (written < 0)
            break;
        used += (size_t)written;
    }
    if (count == 0)
        snprintf(out, out_size, "none");
}

mg_status mg_select_device(const mg_device_info *devices, size_t count, const char *spec,
                           mg_diag *diag, int *out_index)
{
    char list[512];
    describe_list(devices, count, list, sizeof list);
    *out_index = -1;

    if (mg_device_spec_is_auto(spec)) {
        int best = -1;
        for (size_t i = 0; i < count; i++)
            if (devices[i].usable && (best < 0 || rank_of(devices[i].type) < rank_of(devices[best].type)))
                best = (int)i;
        if (best < 0)
            return mg_fail(diag, MG_ERR_NO_DEVICE, "no usable Vulkan device (devices: %s)", list);
        *out_index = devices[best].index;
        return MG_OK;
    }

    const char *s = skip_spaces(spec);
    if (isdigit((unsigned char)*s)) {
        char *end = NULL;
        errno = 0;
        long value = strtol(s, &end, 10);
        if (errno == 0 && *skip_spaces(end) == '\0') {
            for (size_t i = 0; i < count; i++) {
                if (devices[i].index == value) {
                    if (!devices[i].usable)
                        return mg_fail(diag, MG_ERR_NO_DEVICE, "Vulkan device %ld (%s) cannot be used: %s",
                                       value, devices[i].name, devices[i].unusable_reason);
                    *out_index = (int)value;
                    return MG_OK;
                }
            }
            return mg_fail(diag, MG_ERR_NO_DEVICE,
                           "there is no Vulkan device %ld (devices: %s); run `meshgpt devices` to list them, "
                           "or use \"cpu\" or \"auto\"", value, list);
        }
    }

    for (size_t i = 0; i < count; i++) {
        if (contains_ignoring_case(devices[i].name, s)) {
            if (!devices[i].usable)
                continue;
            *out_index = devices[i].index;
            return MG_OK;
        }
    }
    return mg_fail(diag, MG_ERR_NO_DEVICE,
                   "no usable Vulkan device name contains \"%s\" (devices: %s); use an index, a part of a "
                   "name, \"cpu\" or \"auto\"", s, list);
}

void mg_cpu_reference_info(mg_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = -1;
    mg_format(info->name, sizeof info->name, "CPU reference (plain C)");
    info->type = MG_DEVICE_CPU_REFERENCE;
    mg_format(info->driver_name, sizeof info->driver_name, "libmeshgpt");
    mg_format(info->driver_info, sizeof info->driver_info, "libmeshgpt %s", mg_version());
    info->unified_memory = true;
    info->usable = true;
}
