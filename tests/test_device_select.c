/* Device choice from a selection string, on made-up device lists. */
#include "core/device_select.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static mg_device_info device(int index, const char *name, mg_device_type type, bool usable)
{
    mg_device_info d;
    memset(&d, 0, sizeof d);
    d.index = index;
    snprintf(d.name, sizeof d.name, "%s", name);
    d.type = type;
    d.usable = usable;
    if (!usable)
        snprintf(d.unusable_reason, sizeof d.unusable_reason, "supports only Vulkan 1.0");
    return d;
}

static mg_diag diag;

static void setup(void)
{
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
}

static void teardown(void)
{
    mg_diag_destroy(&diag);
}

TestSuite(device_select, .init = setup, .fini = teardown);

Test(device_select, auto_prefers_discrete_then_integrated_then_cpu)
{
    mg_device_info list[3] = {device(0, "llvmpipe (LLVM 15)", MG_DEVICE_VULKAN_CPU, true),
                              device(1, "Intel(R) UHD Graphics", MG_DEVICE_INTEGRATED_GPU, true),
                              device(2, "NVIDIA H100", MG_DEVICE_DISCRETE_GPU, true)};
    int index = -1;
    cr_assert_eq(mg_select_device(list, 3, NULL, &diag, &index), MG_OK);
    cr_assert_eq(index, 2);
    cr_assert_eq(mg_select_device(list, 2, "AUTO", &diag, &index), MG_OK);
    cr_assert_eq(index, 1);
    cr_assert_eq(mg_select_device(list, 1, "", &diag, &index), MG_OK);
    cr_assert_eq(index, 0);
}

Test(device_select, auto_skips_unusable_devices)
{
    mg_device_info list[2] = {device(0, "old GPU", MG_DEVICE_DISCRETE_GPU, false),
                              device(1, "llvmpipe", MG_DEVICE_VULKAN_CPU, true)};
    int index = -1;
    cr_assert_eq(mg_select_device(list, 2, "auto", &diag, &index), MG_OK);
    cr_assert_eq(index, 1);
    cr_assert_eq(mg_select_device(list, 1, "auto", &diag, &index), MG_ERR_NO_DEVICE);
    cr_assert(strstr(diag.last_error, "no usable Vulkan device"), "%s", diag.last_error);
}

Test(device_select, by_index)
{
    mg_device_info list[2] = {device(0, "llvmpipe", MG_DEVICE_VULKAN_CPU, true),
                              device(1, "Radeon RX 7900", MG_DEVICE_DISCRETE_GPU, true)};
    int index = -1;
    cr_assert_eq(mg_select_device(list, 2, "0", &diag, &index), MG_OK);
    cr_assert_eq(index, 0);
    cr_assert_eq(mg_select_device(list, 2, " 1 ", &diag, &index), MG_OK);
    cr_assert_eq(index, 1);
    cr_assert_eq(mg_select_device(list, 2, "7", &diag, &index), MG_ERR_NO_DEVICE);
    cr_assert(strstr(diag.last_error, "no Vulkan device 7"), "%s", diag.last_error);
    cr_assert(strstr(diag.last_error, "1: Radeon RX 7900"), "the message lists the devices: %s", diag.last_error);
}

Test(device_select, by_name_substring_case_insensitive)
{
    mg_device_info list[2] = {device(0, "llvmpipe (LLVM 15.0.6, 256 bits)", MG_DEVICE_VULKAN_CPU, true),
                              device(1, "AMD Radeon Pro", MG_DEVICE_DISCRETE_GPU, true)};
    int index = -1;
    cr_assert_eq(mg_select_device(list, 2, "LLVMPIPE", &diag, &index), MG_OK);
    cr_assert_eq(index, 0);
    cr_assert_eq(mg_select_device(list, 2, "radeon", &diag, &index), MG_OK);
    cr_assert_eq(index, 1);
    cr_assert_eq(mg_select_device(list, 2, "GeForce", &diag, &index), MG_ERR_NO_DEVICE);
    cr_assert(strstr(diag.last_error, "GeForce"), "%s", diag.last_error);
}

Test(device_select, unusable_index_is_refused_with_reason)
{
    mg_device_info list[1] = {device(0, "old GPU", MG_DEVICE_DISCRETE_GPU, false)};
    int index = -1;
    cr_assert_eq(mg_select_device(list, 1, "0", &diag, &index), MG_ERR_NO_DEVICE);
    cr_assert(strstr(diag.last_error, "Vulkan 1.0"), "%s", diag.last_error);
}

Test(device_select, keywords)
{
    cr_assert(mg_device_spec_is_cpu("cpu"));
    cr_assert(mg_device_spec_is_cpu(" CPU "));
    cr_assert(!mg_device_spec_is_cpu("cpus"));
    cr_assert(mg_device_spec_is_auto(NULL));
    cr_assert(mg_device_spec_is_auto("Auto"));
    cr_assert(!mg_device_spec_is_auto("0"));
}
