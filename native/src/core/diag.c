#include "core/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void default_log(mg_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    /* stderr only: the library never writes to stdout. */
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "meshgpt %s: %s\n", names[level < MG_LOG_NONE ? level : MG_LOG_ERROR], message);
}

void mg_diag_init(mg_diag *diag, mg_log_fn callback, void *user_data, mg_log_level level)
{
    diag->log_callback = callback ? callback : default_log;
    diag->log_user_data = callback ? user_data : NULL;
    /* The default sink is stderr, so keep it quiet unless asked otherwise. */
    diag->log_level = level;
    mg_mutex_init(&diag->lock);
    diag->last_error[0] = '\0';
}

void mg_diag_destroy(mg_diag *diag)
{
    mg_mutex_destroy(&diag->lock);
}

static void log_va(mg_diag *diag, mg_log_level level, const char *fmt, va_list args)
{
    if (!diag || level < diag->log_level || level >= MG_LOG_NONE)
        return;
    char message[MG_ERROR_MESSAGE_MAX];
    vsnprintf(message, sizeof message, fmt, args);
    diag->log_callback(level, message, diag->log_user_data);
}

void mg_log(mg_diag *diag, mg_log_level level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_va(diag, level, fmt, args);
    va_end(args);
}

mg_status mg_fail(mg_diag *diag, mg_status status, const char *fmt, ...)
{
    if (!diag)
        return status;
    char message[MG_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    mg_mutex_lock(&diag->lock);
    memcpy(diag->last_error, message, sizeof message);
    mg_mutex_unlock(&diag->lock);
    mg_log(diag, MG_LOG_DEBUG, "%s: %s", mg_status_string(status), message);
    return status;
}

void mg_diag_copy_error(mg_diag *diag, char *buffer, size_t buffer_size)
{
    if (!buffer || buffer_size == 0)
        return;
    mg_mutex_lock(&diag->lock);
    snprintf(buffer, buffer_size, "%s", diag->last_error);
    mg_mutex_unlock(&diag->lock);
}

void mg_format(char *buffer, size_t buffer_size, const char *fmt, ...)
{
    if (!buffer || buffer_size == 0)
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buffer, buffer_size, fmt, args);
    va_end(args);
}
