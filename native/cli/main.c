/* meshgpt: the command line front end of libmeshgpt. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt <command> [options]\n"
            "\n"
            "commands:\n"
            "  devices              list the Vulkan devices and the CPU reference backend\n"
            "  tokenize             turn a mesh file into MeshGPT tokens (JSON)\n"
            "  decode               turn tokens back into a mesh file\n"
            "  reconstruct          tokenize and decode a mesh, report the reconstruction error\n"
            "  bench ops            time every op on the device and on the CPU reference\n"
            "  bench tokenize       meshes/s and faces/s of the tokenizer on each device\n"
            "  bench generate       tokens/s of generation on random weights (default and preview sizes)\n"
            "  info MODEL           describe a model file: config, parameters, dtypes\n"
            "  generate \"TEXT\"      generate meshes from a prompt with a MeshTransformer model\n"
            "  score TOKENS.json    the transformer's loss (and logits) on a token file\n"
            "  convert IN -o OUT    write a PyTorch checkpoint (.pt/.bin/.ckpt) as a .safetensors model\n"
            "  render MESH -o PNG   a shaded preview image of a mesh (four views)\n"
            "  dataset primitives   write a labelled set of procedural low-poly shapes\n"
            "  eval                 mesh validity, tokenizer reconstruction and generation metrics\n"
            "  train autoencoder    train a MeshAutoencoder on a folder of meshes\n"
            "  train transformer    train a MeshTransformer on the tokens of a trained autoencoder\n"
            "  bench train          steps/s and samples/s of training both models at two sizes, peak memory\n"
            "  version              print the library version\n"
            "\n"
            "common options:\n"
            "  -d, --device DEVICE  auto (default), cpu, a device index, or part of a device name;\n"
            "                       MESHGPT_DEVICE sets the default\n"
            "  --validation         enable the Khronos validation layer (MESHGPT_VALIDATION=1)\n"
            "  -v, --verbose        log informational messages to stderr\n"
            "\n"
            "environment: MESHGPT_DISABLE_SUBGROUPS=1 makes the shaders use shared-memory\n"
            "reductions instead of subgroup operations (a workaround for driver bugs)\n"
            "\n"
            "`meshgpt <command> --help` describes a command.\n");
}

bool cli_parse_common(int argc, char **argv, int *i, cli_common *common, bool *error)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-d") == 0 || strcmp(arg, "--device") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "meshgpt: %s needs a value (auto, cpu, an index or a name)\n", arg);
            *error = true;
            return true;
        }
        common->device = argv[++*i];
        return true;
    }
    if (strncmp(arg, "--device=", 9) == 0) {
        common->device = arg + 9;
        return true;
    }
    if (strcmp(arg, "--validation") == 0) {
        common->validation = true;
        return true;
    }
    if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
        common->verbose = true;
        return true;
    }
    return false;
}

mg_context *cli_open_context(const cli_common *common)
{
    mg_context_params params = mg_context_default_params();
    params.device = common->device;
    params.enable_validation = common->validation;
    params.log_level = common->verbose ? MG_LOG_INFO : MG_LOG_WARN;
    mg_context *ctx = NULL;
    char error[1024];
    mg_status status = mg_context_create(&params, &ctx, error, sizeof error);
    if (status != MG_OK) {
        /* The library already logged the message to stderr. */
        (void)error;
        return NULL;
    }
    return ctx;
}

int cli_write_mesh(const char *path, const mg_mesh *mesh, bool weld)
{
    char error[1024];
    mg_mesh welded;
    memset(&welded, 0, sizeof welded);
    if (weld && mg_mesh_weld(mesh, &welded, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    mg_status status = mg_mesh_write(path, weld ? &welded : mesh, MG_MESH_FORMAT_AUTO, error, sizeof error);
    mg_mesh_free(&welded);
    if (status != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    return 0;
}

bool cli_default_model(const char **model_path)
{
    static char path[4096];
    if (*model_path)
        return true;
    char error[3000];
    if (mg_default_model_path(path, sizeof path, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: no model given (-m MODEL) and %s\n", error);
        return false;
    }
    *model_path = path;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("meshgpt %s\n", mg_version());
        return 0;
    }
    if (strcmp(command, "devices") == 0)
        return cmd_devices(argc - 1, argv + 1);
    if (strcmp(command, "tokenize") == 0 || strcmp(command, "decode") == 0 || strcmp(command, "reconstruct") == 0)
        return cmd_tokenizer(command, argc - 1, argv + 1);
    if (strcmp(command, "bench") == 0 && argc >= 3 && strcmp(argv[2], "train") == 0)
        return cmd_bench_train(argc - 1, argv + 1);
    if (strcmp(command, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(command, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(command, "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    if (strcmp(command, "score") == 0)
        return cmd_score(argc - 1, argv + 1);
    if (strcmp(command, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    if (strcmp(command, "render") == 0)
        return cmd_render(argc - 1, argv + 1);
    if (strcmp(command, "dataset") == 0)
        return cmd_dataset(argc - 1, argv + 1);
    if (strcmp(command, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(command, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    fprintf(stderr, "meshgpt: unknown command \"%s\"\n\n", command);
    usage(stderr);
    return 2;
}
