/* meshgpt generate: text -> MeshTransformer tokens -> meshes. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct generate_args {
    cli_common common;
    cli_text text;
    const char *model_path;
    const char *output;
    const char *tokens_out;
    const char *complete;
    mg_generate_params params;
    bool weld;
    bool preview;               /* --preview: a PNG beside each mesh */
    cli_sampling_given given;   /* sampling options on the command line */
    mg_render_params render;
} generate_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt generate [\"TEXT\"] [-m MODEL] -o OUT.obj [options]\n"
            "\n"
            "Generates meshes with a MeshTransformer model and decodes them with its autoencoder. Without -m,\n"
            "the model shipped with the project (see mg_default_model_path; MESHGPT_DEFAULT_MODEL overrides).\n"
            "A text-conditioned model needs the text: a prompt (encoded by the model's built-in text encoder,\n"
            "or by --text-encoder DIR), or --text-embedding.\n"
            "  --text-encoder DIR      Hugging Face BERT folder (config.json, vocab.txt, model.safetensors);\n"
            "                          default: the model file's own encoder, when it has one\n"
            "  --text-embedding F.npy  precomputed text embedding, float32 [tokens, dim_text] (or [1, tokens,\n"
            "                          dim_text]), as meshgpt-pytorch's text_embeds; rows of -1 are padding\n"
            "  --seed N                random seed (default 0)\n"
            "  Sampling options left out take the model's recommended values when its file has them (meshgpt\n"
            "  info lists them), else the defaults below.\n"
            "  --temperature T         1 (default); 0 picks the most likely token (greedy)\n"
            "  --top-k K               keep the K most likely tokens, or a fraction of the vocabulary when\n"
            "                          below 1 (default 0.1, as meshgpt-pytorch); 0 turns it off\n"
            "  --top-p P               nucleus sampling (default off)\n"
            "  --min-p P               drop tokens below P x the top probability (default off)\n"
            "  --cond-scale S          classifier-free guidance (default 1: off)\n"
            "  --remove-parallel       guidance without the update's part parallel to the conditional\n"
            "                          logits (arXiv 2410.02416; with --cond-scale)\n"
            "  --keep-parallel-frac F  keep this fraction of that parallel part (default 0)\n"
            "  --unconstrained         keep every sampled token, as meshgpt-pytorch does; by default a vertex\n"
            "                          that would make a degenerate or repeated face, or an edge shared by\n"
            "                          three faces or run twice the same way, is drawn again\n"
            "  --max-faces N           at most N faces (default: what the model's positions allow)\n"
            "  --max-tokens N          at most N tokens (whole faces kept)\n"
            "  --samples N             N meshes for the same text: OUT_0.obj, OUT_1.obj, ...\n"
            "  --complete PARTIAL.obj  continue a partial mesh (tokenized with the model's autoencoder)\n"
            "  --tokens-out T.json     also write the tokens (T_0.json, ... with --samples)\n"
            "  --no-weld               keep one vertex per face corner\n"
            "  --preview               also write a PNG preview beside each mesh (OUT.png; see meshgpt render:\n"
            "                          --size, --views, --up and --no-edges apply)\n");
}

static int parse_number(const char *option, const char *text, double lo, double hi, double *out)
{
    char *end;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || !(value >= lo && value <= hi)) {
        fprintf(stderr, "meshgpt generate: %s takes a number in [%g, %g], not \"%s\"\n", option, lo, hi, text);
        return 2;
    }
    *out = value;
    return 0;
}

/* Options `generate` and `score` share: the text. Returns true when argv[*i] was one. */
static bool parse_text_option(int argc, char **argv, int *i, cli_text *text)
{
    const char *arg = argv[*i];
    if (*i + 1 >= argc)
        return false;
    if (strcmp(arg, "--text-encoder") == 0) {
        text->encoder_dir = argv[++*i];
        return true;
    }
    if (strcmp(arg, "--text-embedding") == 0) {
        text->embedding_path = argv[++*i];
        return true;
    }
    return false;
}

static int parse_args(int argc, char **argv, generate_args *a)
{
    memset(a, 0, sizeof *a);
    a->params = mg_generate_default_params();
    a->weld = true;
    a->render = mg_render_default_params();
    for (int i = 1; i < argc; i++) {
        bool error = false;
        const char *arg = argv[i];
        const bool has_value = i + 1 < argc;
        double v = 0.0;
        int rc = 0;
        if (cli_parse_common(argc, argv, &i, &a->common, &error)) {
            if (error)
                return 2;
        } else if (parse_text_option(argc, argv, &i, &a->text)) {
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if ((strcmp(arg, "-m") == 0 || strcmp(arg, "--model") == 0) && has_value) {
            a->model_path = argv[++i];
        } else if ((strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) && has_value) {
            a->output = argv[++i];
        } else if (strcmp(arg, "--tokens-out") == 0 && has_value) {
            a->tokens_out = argv[++i];
        } else if (strcmp(arg, "--complete") == 0 && has_value) {
            a->complete = argv[++i];
        } else if (strcmp(arg, "--no-weld") == 0) {
            a->weld = false;
        } else if (strcmp(arg, "--preview") == 0) {
            a->preview = true;
        } else if ((rc = cli_parse_render_option(argc, argv, &i, &a->render)) != 0) {
            if (rc == 2)
                return 2;
            rc = 0;
        } else if (strcmp(arg, "--seed") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 18446744073709551615.0, &v);
            a->params.seed = (uint64_t)v;
        } else if (strcmp(arg, "--temperature") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 1e6, &v);
            a->params.temperature = (float)v;
            a->given.temperature = true;
        } else if (strcmp(arg, "--top-k") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 1e9, &v);
            a->given.top_k = true;
            if (rc == 0 && v > 0 && v < 1) {
                a->params.top_k = 0;
                a->params.top_k_fraction = (float)v;
            } else if (rc == 0 && v != (double)(int)v) {
                fprintf(stderr, "meshgpt generate: --top-k takes a count or a fraction below 1, not %g\n", v);
                rc = 2;
            } else {
                a->params.top_k = (int)v;
                a->params.top_k_fraction = 0.0f; /* 0: no filter at all */
            }
        } else if (strcmp(arg, "--top-p") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 1, &v);
            a->params.top_p = (float)v;
            a->given.top_p = true;
        } else if (strcmp(arg, "--min-p") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 1, &v);
            a->params.min_p = (float)v;
            a->given.min_p = true;
        } else if (strcmp(arg, "--cond-scale") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], -1e6, 1e6, &v);
            a->params.cond_scale = (float)v;
            a->given.cond_scale = true;
        } else if (strcmp(arg, "--vertex-reuse") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 1, 1e6, &v);
            a->params.vertex_reuse = (float)v;
            a->given.vertex_reuse = true;
        } else if (strcmp(arg, "--unconstrained") == 0) {
            a->params.unconstrained = true;
        } else if (strcmp(arg, "--remove-parallel") == 0) {
            a->params.remove_parallel_component = true;
        } else if (strcmp(arg, "--keep-parallel-frac") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 0, 1, &v);
            a->params.keep_parallel_frac = (float)v;
        } else if (strcmp(arg, "--max-faces") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 1, 1e9, &v);
            a->params.max_faces = (size_t)v;
        } else if (strcmp(arg, "--max-tokens") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 1, 1e9, &v);
            a->params.max_tokens = (size_t)v;
        } else if (strcmp(arg, "--samples") == 0 && has_value) {
            rc = parse_number(arg, argv[++i], 1, 4096, &v);
            a->params.samples = (size_t)v;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "meshgpt generate: unknown option %s (or it lacks its value)\n\n", arg);
            usage(stderr);
            return 2;
        } else if (!a->text.prompt) {
            a->text.prompt = arg;
        } else {
            fprintf(stderr, "meshgpt generate: one prompt only (got \"%s\" and \"%s\"): quote the text\n",
                    a->text.prompt, arg);
            return 2;
        }
        if (rc != 0)
            return rc;
    }
    if (a->output && !cli_default_model(&a->model_path))
        return 1;
    if (!a->model_path || !a->output) {
        fprintf(stderr, "meshgpt generate: give a model (-m) and an output file (-o)\n\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

void cli_apply_model_sampling(const mg_model *model, const cli_sampling_given *given, mg_generate_params *params)
{
    const mg_generate_params recommended = mg_model_generate_params(model);
    if (!given->temperature)
        params->temperature = recommended.temperature;
    if (!given->top_k) {
        params->top_k = recommended.top_k;
        params->top_k_fraction = recommended.top_k_fraction;
    }
    if (!given->top_p)
        params->top_p = recommended.top_p;
    if (!given->min_p)
        params->min_p = recommended.min_p;
    if (!given->cond_scale)
        params->cond_scale = recommended.cond_scale;
    if (!given->vertex_reuse)
        params->vertex_reuse = recommended.vertex_reuse;
}

int cli_text_open(cli_text *text, mg_context *ctx, mg_text_condition *condition)
{
    memset(condition, 0, sizeof *condition);
    if (text->embedding_path) {
        size_t shape[8];
        int ndim = 0;
        char error[1024];
        if (cli_npy_read_f32(text->embedding_path, &text->embedding, shape, &ndim, error, sizeof error) != 0) {
            fprintf(stderr, "meshgpt: %s\n", error);
            return 1;
        }
        if (!(ndim == 2 || (ndim == 3 && shape[0] == 1))) {
            fprintf(stderr, "meshgpt: %s must be [tokens, width] or [1, tokens, width]\n", text->embedding_path);
            return 1;
        }
        condition->embedding = text->embedding;
        condition->embedding_tokens = shape[ndim - 2];
        condition->embedding_width = shape[ndim - 1];
    }
    if (text->encoder_dir && mg_text_encoder_load(ctx, text->encoder_dir, &text->encoder) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the text encoder: %s\n", mg_context_last_error(ctx));
        return 1;
    }
    condition->prompt = text->prompt;
    condition->encoder = text->encoder;
    return 0;
}

void cli_text_close(cli_text *text)
{
    free(text->embedding);
    text->embedding = NULL;
    mg_text_encoder_free(text->encoder);
    text->encoder = NULL;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

typedef struct progress {
    double start;
    size_t first_tokens; /* tokens of the partial mesh: not generated */
    size_t max_faces;
    bool tty;
    bool printed;
} progress;

static bool on_progress(size_t faces, size_t tokens, void *user)
{
    progress *p = user;
    const double seconds = now_seconds() - p->start;
    const double rate = seconds > 0 ? (double)(tokens - p->first_tokens) / seconds : 0.0;
    if (p->tty) {
        fprintf(stderr, "\rfaces %zu", faces);
        if (p->max_faces)
            fprintf(stderr, " of at most %zu", p->max_faces);
        fprintf(stderr, ", %zu tokens, %.1f tokens/s ", tokens, rate);
        p->printed = true;
    }
    return !interrupted;
}

/* OUT.obj -> OUT_3.obj (the index before the extension) when there are several samples. */
static void sample_path(const char *path, size_t index, size_t count, char *out, size_t size)
{
    if (count == 1) {
        snprintf(out, size, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
        snprintf(out, size, "%s_%zu", path, index);
    else
        snprintf(out, size, "%.*s_%zu%s", (int)(dot - path), path, index, dot);
}

/* Tokenizes the partial mesh of --complete with the model's autoencoder. */
static int tokenize_partial(const char *path, mg_model *model, mg_context *ctx, mg_tokens *out)
{
    mg_mesh_read_params read = mg_mesh_read_default_params();
    read.polygons = mg_model_face_size(model) == 4 ? MG_POLYGONS_QUADS : MG_POLYGONS_TRIANGULATE;
    char error[1024];
    mg_mesh mesh;
    if (mg_mesh_read(path, &read, &mesh, error, sizeof error) != MG_OK) {
        fprintf(stderr, "meshgpt: %s\n", error);
        return 1;
    }
    mg_tokenize_params params = mg_tokenize_default_params();
    int rc = 0;
    if (mg_tokenize(model, &mesh, 1, &params, out, NULL) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot tokenize %s: %s\n", path, mg_context_last_error(ctx));
        rc = 1;
    }
    mg_mesh_free(&mesh);
    return rc;
}

static int run(generate_args *a)
{
    mg_context *ctx = cli_open_context(&a->common);
    if (!ctx)
        return 1;
    mg_model *model = NULL;
    mg_tokens partial;
    memset(&partial, 0, sizeof partial);
    const size_t samples = a->params.samples;
    mg_mesh *meshes = calloc(samples, sizeof *meshes);
    mg_tokens *tokens = calloc(samples, sizeof *tokens);
    int *ends = calloc(samples, sizeof *ends);
    a->params.out_ends = ends;
    int rc = 0;
    if (!meshes || !tokens || !ends) {
        fprintf(stderr, "meshgpt: out of memory\n");
        rc = 1;
    }
    if (rc == 0 && mg_model_load(ctx, a->model_path, &model) != MG_OK) {
        fprintf(stderr, "meshgpt: cannot load the model: %s\n", mg_context_last_error(ctx));
        rc = 1;
    }
    if (rc == 0) {
        cli_apply_model_sampling(model, &a->given, &a->params);
        rc = cli_text_open(&a->text, ctx, &a->params.text);
    }
    if (rc == 0 && a->complete) {
        rc = tokenize_partial(a->complete, model, ctx, &partial);
        a->params.completion = &partial;
    }
    progress state = {.start = now_seconds(), .first_tokens = partial.num_faces * partial.face_size * partial.levels,
                      .max_faces = a->params.max_faces, .tty = isatty(2) != 0};
    a->params.progress = on_progress;
    a->params.progress_user_data = &state;
    void (*previous)(int) = signal(SIGINT, on_interrupt);
    mg_status status = MG_OK;
    if (rc == 0) {
        status = mg_generate(model, &a->params, meshes, tokens);
        if (state.printed)
            fputc('\n', stderr);
        if (status != MG_OK) {
            fprintf(stderr, "meshgpt: %s: %s\n", status == MG_ERR_CANCELLED ? "stopped" : "cannot generate",
                    mg_context_last_error(ctx));
            rc = status == MG_ERR_CANCELLED ? 130 : 1;
        }
    }
    signal(SIGINT, previous);
    const double seconds = now_seconds() - state.start;
    size_t generated = 0;
    for (size_t s = 0; rc == 0 && s < samples; s++)
        generated += tokens[s].num_faces * tokens[s].face_size * tokens[s].levels - state.first_tokens;
    if (rc == 0)
        printf("generated %zu mesh%s in %.2f s (%zu new tokens, %.1f tokens/s)\n", samples, samples == 1 ? "" : "es",
               seconds, generated, seconds > 0 ? (double)generated / seconds : 0.0);
    for (size_t s = 0; rc == 0 && s < samples; s++) {
        char path[4096], tokens_path[4096];
        sample_path(a->output, s, samples, path, sizeof path);
        /* Why a mesh is short, when the sampler's validity check ended it rather than the model. */
        const char *ended = ends[s] == MG_GENERATE_END_REFUSED
                                ? " (ended early: every vertex the model offered next would have broken the surface; "
                                  "try another --seed or a lower --temperature)"
                                : ends[s] == MG_GENERATE_END_LIMIT ? " (stopped at the face limit)" : "";
        if (meshes[s].num_faces == 0) {
            printf("%s: no faces (%s), not written\n", path,
                   ends[s] == MG_GENERATE_END_REFUSED ? "no first face kept the surface valid"
                                                       : "the model ended the mesh at once");
            continue;
        }
        rc = cli_write_mesh(path, &meshes[s], a->weld);
        if (rc == 0 && a->tokens_out) {
            char error[1024];
            sample_path(a->tokens_out, s, samples, tokens_path, sizeof tokens_path);
            if (mg_tokens_write_json(tokens_path, &tokens[s], a->model_path, a->text.prompt, error, sizeof error) !=
                MG_OK) {
                fprintf(stderr, "meshgpt: %s\n", error);
                rc = 1;
            }
        }
        char preview_path[4200] = "";
        if (rc == 0 && a->preview) {
            const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
            int stem = dot && (!slash || dot > slash + 1) ? (int)(dot - path) : (int)strlen(path);
            snprintf(preview_path, sizeof preview_path, "%.*s.png", stem, path);
            rc = cli_render_preview(preview_path, &meshes[s], &a->render);
        }
        if (rc == 0)
            printf("%s: %zu faces%s%s%s%s%s\n", path, meshes[s].num_faces, a->tokens_out ? ", tokens in " : "",
                   a->tokens_out ? tokens_path : "", a->preview ? ", preview in " : "", preview_path, ended);
    }
    for (size_t s = 0; s < samples && meshes && tokens; s++) {
        mg_mesh_free(&meshes[s]);
        mg_tokens_free(&tokens[s]);
    }
    free(meshes);
    free(tokens);
    free(ends);
    mg_tokens_free(&partial);
    cli_text_close(&a->text);
    mg_model_free(model);
    mg_context_destroy(ctx);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    generate_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    return run(&args);
}

/* Exposed for cmd_score.c through cli.h's text helpers only; the option parser is shared here. */
bool cli_parse_text_option(int argc, char **argv, int *i, cli_text *text)
{
    return parse_text_option(argc, argv, i, text);
}
