/* Helpers shared by the autoencoder's backward-op entries (ops_grad_ae.h). */
#ifndef MG_OPS_GRAD_AE_COMMON_H
#define MG_OPS_GRAD_AE_COMMON_H

#include "ops/op_common.h"
#include "ops/ops_grad_ae.h"

/* Every non-NULL output must not overlap any non-NULL input nor another output. */
mg_status mg_grad_ae_check_outputs(mg_context *ctx, const char *op, const mg_tensor *const *inputs, size_t n_inputs,
                                   mg_tensor *const *outputs, size_t n_outputs);
/* Copies the push constants and records the dispatch. */
mg_status mg_grad_ae_record(mg_context *ctx, mg_gpu_dispatch *d, const void *push, size_t size);
/* grad_sum_rows.comp: y[b, c] (= or +=) sum over the n rows of batch element b of a (* m when m is given);
 * a and m hold batch * n * c elements, y batch * c (Vulkan only). */
mg_status mg_grad_ae_sum_rows(mg_context *ctx, const mg_tensor *a, const mg_tensor *m, size_t batch, size_t n, size_t c,
                              bool accumulate, mg_tensor *y);

#endif
