/* The `meshgpt` command: subcommands share these helpers. Uses only meshgpt.h. */
#ifndef MG_CLI_H
#define MG_CLI_H

#include "meshgpt.h"

#include <stdbool.h>

/* Options every subcommand that opens a context understands. */
typedef struct cli_common {
    const char *device;   /* --device / -d */
    bool validation;      /* --validation */
    bool verbose;         /* --verbose / -v */
} cli_common;

/* Consumes argv[*i] (and its value) when it is a common option; returns false otherwise.
 * Sets *error when the option lacks its value. */
bool cli_parse_common(int argc, char **argv, int *i, cli_common *common, bool *error);
/* Creates a context for the common options, printing the reason to stderr on failure. */
mg_context *cli_open_context(const cli_common *common);

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_tokenize(int argc, char **argv);
/* tokenize, decode and reconstruct */
int cmd_tokenizer(const char *command, int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
