/*
 * Token files (see README, "Token files"): the parser on bytes in memory, so
 * that mg_tokens_read_json and the fuzz harness run the very same code.
 */
#ifndef MG_IO_TOKENS_JSON_H
#define MG_IO_TOKENS_JSON_H

#include "meshgpt.h"

#include <stddef.h>

/*
 * Parses `size` bytes of a token file (need not be NUL-terminated) into *out
 * (zeroed first; its array is malloc'ed, freed with mg_tokens_free). On
 * failure *out stays empty and `error` (may be NULL) says what is wrong,
 * starting with `name` (the file name, or any label for messages):
 * MG_ERR_FORMAT for anything malformed, MG_ERR_OUT_OF_MEMORY, or
 * MG_ERR_INVALID_ARGUMENT for NULL arguments.
 */
mg_status mg_tokens_parse_json(const char *data, size_t size, const char *name, mg_tokens *out, char *error,
                               size_t error_size);

#endif
