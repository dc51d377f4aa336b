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

/* Writes a mesh (format from the extension), welded first unless `weld` is false; prints the reason and
 * returns 1 on failure. */
int cli_write_mesh(const char *path, const mg_mesh *mesh, bool weld);

/* When *model_path is NULL, points it at the shipped default model (mg_default_model_path); prints why and returns
 * false when there is none. */
bool cli_default_model(const char **model_path);

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_tokenize(int argc, char **argv);
int cmd_bench_generate(int argc, char **argv);
/* tokenize, decode and reconstruct */
int cmd_tokenizer(const char *command, int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_score(int argc, char **argv);

/* .npy files (little-endian, C order): reads float32 (or float64, converted) into a new malloc'ed array with its
 * shape (at most 8 dimensions); writes float32. Return 0 on success; the reader fills `error`. */
int cli_npy_read_f32(const char *path, float **out_data, size_t *out_shape, int *out_ndim, char *error,
                     size_t error_size);
int cli_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim);

/* The text of `generate` and `score`: a prompt (with --text-encoder DIR) or --text-embedding FILE.npy. */
typedef struct cli_text {
    const char *prompt;
    const char *embedding_path;
    const char *encoder_dir;
    float *embedding;            /* loaded */
    mg_text_encoder *encoder;    /* loaded */
} cli_text;

/* Loads what `text` names and fills `condition`; prints the reason and returns 1 on failure. */
int cli_text_open(cli_text *text, mg_context *ctx, mg_text_condition *condition);
void cli_text_close(cli_text *text);
/* Consumes --text-encoder DIR / --text-embedding FILE; returns false for any other argument. */
bool cli_parse_text_option(int argc, char **argv, int *i, cli_text *text);

/* Which sampling settings the command line gave; the others follow the model's recommendation. */
typedef struct cli_sampling_given {
    bool temperature, top_k, top_p, min_p, cond_scale, vertex_reuse;
} cli_sampling_given;
/* Sets the settings of params that the command line did not give to the model's (mg_model_generate_params). */
void cli_apply_model_sampling(const mg_model *model, const cli_sampling_given *given, mg_generate_params *params);
int cmd_convert(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* meshgpt render, and the preview of `generate --preview`. */
int cmd_render(int argc, char **argv);
/* Writes the PNG preview of a mesh; prints the reason and returns 1 on failure. */
int cli_render_preview(const char *path, const mg_mesh *mesh, const mg_render_params *params);
/* Consumes --size / --views / --up / --no-edges: 1 if argv[*i] was one, 0 if not, 2 after printing a bad value. */
int cli_parse_render_option(int argc, char **argv, int *i, mg_render_params *params);

/* meshgpt train autoencoder|transformer, and meshgpt bench train. */
int cmd_train(int argc, char **argv);
int cmd_bench_train(int argc, char **argv);

#endif
