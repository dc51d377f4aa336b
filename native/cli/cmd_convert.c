/* meshgpt convert IN -o OUT.safetensors: a PyTorch checkpoint (or any model file) in this project's format. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void convert_usage(FILE *out)
{
    fprintf(out, "usage: meshgpt convert IN [--config config.json] -o OUT.safetensors [--dtype f32|f16|bf16]\n"
                 "                       [--weights auto|model|ema] [--allow-missing] [--text-encoder DIR]\n"
                 "                       [--sampling K=V,...] [-v]\n\n"
                 "Writes a model file (.safetensors with its configuration in the metadata) from a\n"
                 "meshgpt-pytorch checkpoint saved by torch.save (.pt/.bin/.ckpt: model.save() files,\n"
                 "trainer checkpoints, state dicts) or another model file; later loads are instant.\n"
                 "Nothing in the checkpoint is executed.\n\n"
                 "  --config FILE   meshgpt-pytorch constructor arguments as JSON (default: config.json\n"
                 "                  beside IN; without one the configuration is inferred from the tensor\n"
                 "                  shapes, with defaults for the rest, listed with -v)\n"
                 "  --dtype T       store the float tensors as f32, f16 or bf16 (default: as stored)\n"
                 "  --weights W     trainer checkpoints: auto (EMA weights when present), model or ema\n"
                 "  --allow-missing write tensors IN lacks at their initial values (norm gains neutral,\n"
                 "                  the rest 0) and drop unexpected ones, with a warning naming them\n"
                 "                  (default: refuse; mis-shaped tensors are always refused)\n"
                 "  --text-encoder DIR  store a Hugging Face BERT folder (config.json, vocab.txt,\n"
                 "                  model.safetensors) in the file as its built-in text encoder, so prompts\n"
                 "                  need no --text-encoder later (its width must be the model's dim_text)\n"
                 "  --sampling K=V,...  recommend sampling settings in the file (temperature, top_k_fraction,\n"
                 "                  top_p, min_p, cond_scale, vertex_reuse): `generate` and the add-on use\n"
                 "                  them unless told otherwise; \"none\" drops them\n"
                 "  -v, --verbose   say what was inferred and converted\n");
}

int cmd_convert(int argc, char **argv)
{
    const char *input = NULL, *output = NULL;
    mg_convert_params params = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **value = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            convert_usage(stdout);
            return 0;
        }
        if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            params.verbose = true;
            continue;
        }
        if (strcmp(arg, "--allow-missing") == 0) {
            params.allow_missing = true;
            continue;
        }
        if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0)
            value = &output;
        else if (strcmp(arg, "--config") == 0)
            value = &params.config_path;
        else if (strcmp(arg, "--dtype") == 0)
            value = &params.dtype;
        else if (strcmp(arg, "--weights") == 0)
            value = &params.weights;
        else if (strcmp(arg, "--text-encoder") == 0)
            value = &params.text_encoder;
        else if (strcmp(arg, "--sampling") == 0)
            value = &params.sampling;
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "meshgpt convert: %s needs a value\n", arg);
                return 2;
            }
            *value = argv[++i];
            continue;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "meshgpt convert: unknown option \"%s\"\n", arg);
            return 2;
        }
        if (input) {
            fprintf(stderr, "meshgpt convert: one input at a time (got \"%s\" and \"%s\")\n", input, arg);
            return 2;
        }
        input = arg;
    }
    if (!input || !output) {
        convert_usage(stderr);
        return 2;
    }
    char error[1024];
    mg_status status = mg_model_convert(input, output, &params, error, sizeof error);
    if (status != MG_OK) {
        fprintf(stderr, "meshgpt convert: %s\n", error);
        return 1;
    }
    fprintf(stderr, "meshgpt convert: wrote %s\n", output);
    return 0;
}
