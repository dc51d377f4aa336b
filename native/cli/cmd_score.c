/* meshgpt score: the transformer's teacher-forced loss (and logits) on a token file. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: meshgpt score TOKENS.json [-m MODEL] [\"TEXT\" [--text-encoder DIR] | --text-embedding F.npy]\n"
                 "                    [--logits-out LOGITS.npy] [-d DEVICE]\n"
                 "\n"
                 "Prints the MeshTransformer's mean cross-entropy on the tokens with EOS appended\n"
                 "(meshgpt-pytorch's forward_on_codes loss) and its perplexity. --logits-out writes the\n"
                 "teacher-forced logits as float32 [tokens + 1, vocabulary]: row i predicts token i, the\n"
                 "last row what follows the sequence (EOS is the last column). A prompt is encoded by\n"
                 "--text-encoder DIR, or by the model's built-in text encoder when it has one.\n");
}

int cmd_score(int argc, char **argv)
{
    cli_common common;
    cli_text text;
    memset(&common, 0, sizeof common);
    memset(&text, 0, sizeof text);
    const char *tokens_path = NULL, *model_path = NULL, *logits_path = NULL;
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *arg = argv[i];
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
        } else if (cli_parse_text_option(argc, argv, &i, &text)) {
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(arg, "-m") == 0 || strcmp(arg, "--model") == 0) && i + 1 < argc) {
            model_path = argv[++i];
        } else if (strcmp(arg, "--logits-out") == 0 && i + 1 < argc) {
            logits_path = argv[++i];
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "meshgpt score: unknown option %s (or it lacks its value)\n\n", arg);
            usage(stderr);
            return 2;
        } else if (!tokens_path) {
            tokens_path = arg;
        } else if (!text.prompt) {
            text.prompt = arg;
        } else {
            fprintf(stderr, "meshgpt score: one token file and one prompt only (\"%s\" is extra)\n", arg);
            return 2;
        }
    }
    if (tokens_path && !cli_default_model(&model_path))
        return 1;
    if (!tokens_path || !model_path) {
        fprintf(stderr, "meshgpt score: give a token file and a model (-m)\n\n");
        usage(stderr);
        return 2;
    }
    mg_tokens tokens;
    char error[1024];
    if (mg_tokens_read_json(tokens_path, &tokens, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    mg_context *ctx = cli_open_context(&common);
    if (!ctx) {
        mg_tokens_free(&tokens);
        return 1;
    }
    mg_model *model = NULL;
    float *logits = NULL;
    mg_text_condition condition;
    int rc = 0;
    if (mg_model_load(ctx, model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the model: %s\n", mg_context_last_error(ctx));
        rc = 1;
    }
    if (rc == 0)
        rc = cli_text_open(&text, ctx, &condition);
    const size_t count = tokens.num_faces * tokens.face_size * tokens.levels;
    const size_t vocab = model ? mg_model_vocabulary_size(model) : 0;
    if (rc == 0 && logits_path && vocab > 0 && !(logits = malloc((count + 1) * vocab * sizeof *logits))) {
        fprintf(stderr, "meshgpt: out of memory for the logits\n");
        rc = 1;
    }
    double loss = 0.0;
    if (rc == 0 && mg_score(model, &tokens, &condition, &loss, logits) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot score %s: %s\n", tokens_path, mg_context_last_error(ctx));
        rc = 1;
    }
    if (rc == 0) {
        printf("%s: %zu faces, %zu tokens + EOS: loss %.6f (perplexity %.2f)\n", tokens_path, tokens.num_faces, count,
               loss, exp(loss));
        if (logits) {
            const size_t shape[2] = {count + 1, vocab};
            if (cli_npy_write_f32(logits_path, logits, shape, 2) != 0) {
                fprintf(stderr, "meshgpt: cannot write %s\n", logits_path);
                rc = 1;
            } else {
                printf("logits [%zu, %zu] written to %s\n", count + 1, vocab, logits_path);
            }
        }
    }
    free(logits);
    cli_text_close(&text);
    mg_tokens_free(&tokens);
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}
