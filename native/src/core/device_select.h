/* Choosing a device from a selection string. Pure: testable without Vulkan. */
#ifndef MG_CORE_DEVICE_SELECT_H
#define MG_CORE_DEVICE_SELECT_H

#include "core/diag.h"
#include "meshgpt.h"

/* True for NULL, "", "auto" (any case). */
bool mg_device_spec_is_auto(const char *spec);
/* True for "cpu" (any case, surrounding spaces ignored). */
bool mg_device_spec_is_cpu(const char *spec);

/*
 * Picks a Vulkan device from `devices` for `spec` (see mg_context_params.device;
 * "cpu" is handled by the caller). Auto: discrete > integrated > virtual > other >
 * Vulkan-on-CPU, among usable devices. Fails with MG_ERR_NO_DEVICE and a message
 * listing the devices when nothing matches.
 */
mg_status mg_select_device(const mg_device_info *devices, size_t count, const char *spec,
                           mg_diag *diag, int *out_index);

/* The description of the plain-C CPU reference backend (index -1). */
void mg_cpu_reference_info(mg_device_info *info);

#endif
