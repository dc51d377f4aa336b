/* Helpers the `meshgpt eval` subcommands share (cmd_eval*.c). */
#ifndef MG_CLI_EVAL_COMMON_H
#define MG_CLI_EVAL_COMMON_H

#include "cli.h"

#include <stdio.h>

int cmd_eval_tokenizer(int argc, char **argv);
int cmd_eval_generate(int argc, char **argv);

/* Reads a mesh as triangles; prints the reason and returns 1 on failure. */
int eval_read_mesh(const char *path, mg_mesh *out);
/* A copy with the bounding box centred at 0 and its longest side 1 (shapes compared whatever their scale). */
int eval_normalized_copy(const mg_mesh *mesh, mg_mesh *out);
/* A JSON string literal. */
void eval_json_string(FILE *out, const char *text);
/* A JSON number (null for NaN or infinity). */
void eval_json_number(FILE *out, double value);
/* One option of the form "--name VALUE" as an unsigned count / a double; prints and returns 2 when bad. */
int eval_parse_size(const char *option, const char *text, size_t lo, size_t hi, size_t *out);
int eval_parse_double(const char *option, const char *text, double lo, double hi, double *out);
void eval_print_validity_json(FILE *out, const mg_mesh_validity *v);
/* out[r * col_count + c]: the Chamfer distance of rows[r] and cols[c] (mg_mesh_compare; infinity where it
 * fails), on up to MESHGPT_CPU_THREADS threads (default: the cores). symmetric: rows and cols are one list,
 * and only pairs r < c are measured (the diagonal is 0). */
void eval_distance_matrix(const mg_mesh *rows, size_t row_count, const mg_mesh *cols, size_t col_count,
                          bool symmetric, size_t points, uint64_t seed, double threshold, double *out);

#endif
