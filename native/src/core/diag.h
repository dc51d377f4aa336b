/*
 * Diagnostics of one handle: the last error message and the log callback.
 * Every layer (gpu, ops, api) reports through an mg_diag so that the message a
 * user reads from mg_context_last_error() is the one closest to the cause.
 */
#ifndef MG_CORE_DIAG_H
#define MG_CORE_DIAG_H

#include "meshgpt.h"
#include "core/mutex.h"

#define MG_ERROR_MESSAGE_MAX 1024

typedef struct mg_diag {
    mg_log_fn log_callback;
    void *log_user_data;
    mg_log_level log_level;
    mg_mutex lock;
    char last_error[MG_ERROR_MESSAGE_MAX];
} mg_diag;

void mg_diag_init(mg_diag *diag, mg_log_fn callback, void *user_data, mg_log_level level);
void mg_diag_destroy(mg_diag *diag);

#if defined(__GNUC__)
#define MG_PRINTF(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define MG_PRINTF(fmt_index, args_index)
#endif

/* Records `status` with a formatted message as the last error, logs it at debug
 * level and returns `status`, so callers can write `return mg_fail(...)`. */
mg_status mg_fail(mg_diag *diag, mg_status status, const char *fmt, ...) MG_PRINTF(3, 4);

void mg_log(mg_diag *diag, mg_log_level level, const char *fmt, ...) MG_PRINTF(3, 4);

/* Copies the last error into a caller buffer (NULL buffer is fine). */
void mg_diag_copy_error(mg_diag *diag, char *buffer, size_t buffer_size);

/* Formats into a fixed buffer, always NUL-terminated, truncating silently. */
void mg_format(char *buffer, size_t buffer_size, const char *fmt, ...) MG_PRINTF(3, 4);

#endif
