/* meshgpt train autoencoder|transformer, and meshgpt bench train. */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meshgpt train autoencoder --data DIR -o AE.safetensors [options]\n"
            "       meshgpt train transformer --data DIR --autoencoder AE.safetensors -o MODEL.safetensors [options]\n"
            "\n"
            "Trains on the mesh files of DIR (.obj .ply .stl .gltf .glb; unreadable ones are skipped and counted).\n"
            "The output is a checkpoint: a model file that also holds the optimizer state, so --resume goes on\n"
            "exactly where it stopped; a loss curve (OUT.loss.svg) is written beside it. Ctrl-C saves and stops.\n"
            "\n"
            "  --steps N            optimizer steps in all (1000; 0 writes the starting weights)\n"
            "  --batch B            meshes per micro-batch (4)\n"
            "  --accum A            micro-batches per step (gradient accumulation, 1)\n"
            "  --lr LR              learning rate (autoencoder 1e-4, transformer 2e-4)\n"
            "  --warmup W           linear warm-up steps (1000)\n"
            "  --lr-schedule S      after the warm-up: constant (upstream's) or cosine (down to --final-lr)\n"
            "  --final-lr F         cosine: the last step's rate as a share of --lr (0.05)\n"
            "  --weight-decay WD    AdamW decay (0: Adam)\n"
            "  --max-grad-norm G    clip the global gradient norm (autoencoder 0 = off, transformer 0.5)\n"
            "  --ema / --no-ema     keep an EMA of the weights (autoencoder: on)\n"
            "  --augment / --no-augment   scale, shift and jitter meshes (autoencoder: on)\n"
            "  --group-by-length / --no-group-by-length   batches of meshes with similar face counts, so\n"
            "                       less of each batch is padding and a step is cheaper (off: random batches)\n"
            "  --embedding-init I   autoencoder: how fresh tables of coordinate, angle, area and normal\n"
            "                       bins start: normal (N(0, 1), upstream's) or sinusoid (neighbouring\n"
            "                       bins alike; learns to place unseen shapes sooner, see the README)\n"
            "  --init S             how fresh weights start: random (upstream's); autoencoder: coordinate-code\n"
            "                       (set by hand to tokenize every mesh exactly: a vertex's first code is a\n"
            "                       coarse grid cell, its second the place in it); transformer: code-bits (the\n"
            "                       codebook rows of its token embedding and output start from the codes'\n"
            "                       bits, so codes that share bits start alike; LFQ only); README\n"
            "  --seed S             data order, split, augmentation and fresh weights (0)\n"
            "  --val-every N        validation loss every N steps (100; 0 = never)\n"
            "  --val-fraction F     share of the meshes held out for validation (0.05)\n"
            "  --save-every N       checkpoint every N steps (1000; also at the end and when stopped)\n"
            "  --resume             continue the checkpoint at -o (with its own configuration)\n"
            "  --from MODEL         fine-tune this model (any loadable model, meshgpt-pytorch checkpoints too)\n"
            "  --config FILE        config.json for fresh weights (meshgpt-pytorch's constructor arguments)\n"
            "  --captions FILE      captions (JSON or CSV; default: captions.json in DIR when present); a\n"
            "                       mesh with several (a JSON array, repeated CSV rows) trains on a random one\n"
            "  --text-encoder DIR   transformer: a BERT folder used frozen (default: a built-in encoder)\n"
            "  --max-faces N        skip meshes with more faces (default: the model's limit)\n"
            "  --loss-curve FILE    where the SVG goes (\"none\": not written)\n");
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void format_duration(double seconds, char *out, size_t size)
{
    if (!(seconds >= 0) || !isfinite(seconds)) {
        snprintf(out, size, "?");
        return;
    }
    unsigned long s = (unsigned long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%luh%02lum", s / 3600, (s / 60) % 60);
    else if (s >= 60)
        snprintf(out, size, "%lum%02lus", s / 60, s % 60);
    else
        snprintf(out, size, "%lus", s);
}

typedef struct bar {
    bool tty;
    bool on_line;        /* a progress line without its newline is on the terminal */
    double last_print;
    uint64_t last_step;
} bar;

static void end_line(bar *b)
{
    if (b->on_line)
        fputc('\n', stderr);
    b->on_line = false;
}

static bool on_progress(const mg_train_progress *p, void *user)
{
    bar *b = user;
    if (p->event == MG_TRAIN_STARTED) {
        fprintf(stderr, "meshgpt: %zu meshes for training, %zu held out for validation", p->train_meshes,
                p->validation_meshes);
        if (p->skipped_meshes)
            fprintf(stderr, ", %zu skipped (see the warnings above)", p->skipped_meshes);
        fprintf(stderr, "\n");
        if (p->step)
            fprintf(stderr, "meshgpt: resuming at step %llu of %llu\n", (unsigned long long)p->step,
                    (unsigned long long)p->total_steps);
        return !interrupted;
    }
    if (p->event == MG_TRAIN_SAVED) {
        end_line(b);
        fprintf(stderr, "saved %s (step %llu)\n", p->saved_path, (unsigned long long)p->step);
        return true;
    }
    double now = now_seconds();
    bool last = p->step == p->total_steps;
    /* A terminal gets a live bar (at most 10 redraws a second); a log gets a line every 1% or 10 s. */
    uint64_t every = p->total_steps / 100 ? p->total_steps / 100 : 1;
    bool due = b->tty ? now - b->last_print >= 0.1 : (p->step - b->last_step >= every || now - b->last_print >= 10);
    if (due || last || p->has_validation || interrupted) {
        char eta[32];
        double remaining = p->steps_per_second > 0 ? (double)(p->total_steps - p->step) / p->steps_per_second : NAN;
        format_duration(remaining, eta, sizeof eta);
        char parts[160] = "";
        size_t used = 0;
        for (size_t k = 0; k < p->loss_terms && k < 4 && used < sizeof parts; k++)
            used += (size_t)snprintf(parts + used, sizeof parts - used, "%s%s %.4g", k ? ", " : " (", p->loss_names[k],
                                     p->loss_values[k]);
        if (p->loss_terms && used < sizeof parts)
            snprintf(parts + used, sizeof parts - used, ")");
        int width = 24, filled = (int)((double)width * (double)p->step / (double)p->total_steps);
        char fill[32];
        for (int i = 0; i < width; i++)
            fill[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        fill[width] = 0;
        fprintf(stderr, "%s[%s] %llu/%llu loss %.4f%s lr %.2e %.2f steps/s ETA %s%s", b->tty ? "\r" : "", fill,
                (unsigned long long)p->step, (unsigned long long)p->total_steps, p->loss, parts, p->learning_rate,
                p->steps_per_second, eta, b->tty ? "\033[K" : "\n");
        b->on_line = b->tty;
        b->last_print = now;
        b->last_step = p->step;
    }
    if (p->has_validation) {
        end_line(b);
        fprintf(stderr, "step %llu: validation loss %.4f\n", (unsigned long long)p->step, p->validation_loss);
    }
    fflush(stderr);
    return !interrupted;
}

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (!end || *end || text[0] == '-' || !text[0])
        return false;
    *out = v;
    return true;
}

static bool parse_size(const char *text, size_t *out)
{
    uint64_t v;
    if (!parse_u64(text, &v))
        return false;
    *out = (size_t)v;
    return true;
}

static bool parse_double(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || *end || !text[0] || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool is_automatic(const char *spec)
{
    return !spec || !*spec || strcasecmp(spec, "auto") == 0;
}

/* The device for training. A Vulkan driver that runs on the CPU (lavapipe, SwiftShader) trains far more slowly
 * than the CPU backend on the same cores (README, "Speed"), so when the automatic choice (no -d, -d auto, no
 * MESHGPT_DEVICE) lands on one, training goes to the CPU backend instead; naming the device uses it anyway. */
static mg_context *open_training_context(const cli_common *common)
{
    mg_context *ctx = cli_open_context(common);
    if (!ctx || !is_automatic(common->device) || !is_automatic(getenv("MESHGPT_DEVICE")))
        return ctx;
    mg_device_info info;
    if (mg_context_device_info(ctx, &info) != MG_OK || info.type != MG_DEVICE_VULKAN_CPU)
        return ctx;
    fprintf(stderr, "meshgpt: training on the CPU backend rather than on %s, a Vulkan driver running on the CPU, "
                    "which trains far more slowly (-d %d uses it anyway)\n", info.name, info.index);
    mg_context_destroy(ctx);
    cli_common cpu = *common;
    cpu.device = "cpu";
    return cli_open_context(&cpu);
}

/* Consumes one option of `train`; 1 when argv[*i] was one, 0 when not, 2 after printing a bad value. */
static int parse_option(int argc, char **argv, int *i, mg_train_params *p)
{
    const char *arg = argv[*i];
    const char *value = *i + 1 < argc ? argv[*i + 1] : NULL;
    bool ok = true;
    /* Switches. */
    if (strcmp(arg, "--resume") == 0)
        return p->resume = true, 1;
    if (strcmp(arg, "--ema") == 0 || strcmp(arg, "--no-ema") == 0)
        return p->ema = arg[2] == 'e', 1;
    if (strcmp(arg, "--augment") == 0 || strcmp(arg, "--no-augment") == 0)
        return p->augment = arg[2] == 'a', 1;
    if (strcmp(arg, "--group-by-length") == 0 || strcmp(arg, "--no-group-by-length") == 0)
        return p->group_by_length = arg[2] == 'g', 1;
    static const char *const with_value[] = {"--data", "-o", "--output", "--steps", "--batch", "--accum", "--lr",
                                             "--warmup", "--weight-decay", "--max-grad-norm", "--seed",
                                             "--val-every", "--val-fraction", "--save-every", "--from", "--config",
                                             "--captions", "--text-encoder", "--autoencoder", "--max-faces",
                                             "--loss-curve", "--lr-schedule", "--final-lr", "--embedding-init", "--init"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        known = known || strcmp(arg, with_value[k]) == 0;
    if (!known)
        return 0;
    if (!value) {
        fprintf(stderr, "meshgpt train: %s needs a value\n", arg);
        return 2;
    }
    ++*i;
    if (strcmp(arg, "--data") == 0)
        p->data = value;
    else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0)
        p->output = value;
    else if (strcmp(arg, "--from") == 0)
        p->from = value;
    else if (strcmp(arg, "--config") == 0)
        p->config = value;
    else if (strcmp(arg, "--captions") == 0)
        p->captions = value;
    else if (strcmp(arg, "--text-encoder") == 0)
        p->text_encoder = value;
    else if (strcmp(arg, "--autoencoder") == 0)
        p->autoencoder = value;
    else if (strcmp(arg, "--loss-curve") == 0)
        p->loss_curve = strcmp(value, "none") == 0 ? "" : value;
    else if (strcmp(arg, "--steps") == 0)
        ok = parse_u64(value, &p->steps);
    else if (strcmp(arg, "--batch") == 0)
        ok = parse_size(value, &p->batch_size) && p->batch_size > 0;
    else if (strcmp(arg, "--accum") == 0)
        ok = parse_size(value, &p->grad_accum) && p->grad_accum > 0;
    else if (strcmp(arg, "--lr") == 0)
        ok = parse_double(value, &p->learning_rate) && p->learning_rate > 0;
    else if (strcmp(arg, "--lr-schedule") == 0) {
        ok = strcmp(value, "constant") == 0 || strcmp(value, "cosine") == 0;
        p->lr_schedule = strcmp(value, "cosine") == 0 ? MG_LR_COSINE : MG_LR_CONSTANT;
    } else if (strcmp(arg, "--embedding-init") == 0) {
        ok = strcmp(value, "normal") == 0 || strcmp(value, "sinusoid") == 0;
        p->embedding_init = strcmp(value, "sinusoid") == 0 ? MG_EMBEDDING_INIT_SINUSOID : MG_EMBEDDING_INIT_NORMAL;
    } else if (strcmp(arg, "--init") == 0) {
        ok = strcmp(value, "random") == 0 || strcmp(value, "coordinate-code") == 0 || strcmp(value, "code-bits") == 0;
        p->autoencoder_start = strcmp(value, "coordinate-code") == 0 ? MG_AUTOENCODER_START_COORDINATE_CODE
                                                                     : MG_AUTOENCODER_START_RANDOM;
        p->transformer_start = strcmp(value, "code-bits") == 0 ? MG_TRANSFORMER_START_CODE_BITS
                                                               : MG_TRANSFORMER_START_RANDOM;
    } else if (strcmp(arg, "--final-lr") == 0)
        ok = parse_double(value, &p->final_lr_fraction) && p->final_lr_fraction >= 0 && p->final_lr_fraction <= 1;
    else if (strcmp(arg, "--warmup") == 0)
        ok = parse_u64(value, &p->warmup_steps);
    else if (strcmp(arg, "--weight-decay") == 0)
        ok = parse_double(value, &p->weight_decay);
    else if (strcmp(arg, "--max-grad-norm") == 0)
        ok = parse_double(value, &p->max_grad_norm);
    else if (strcmp(arg, "--seed") == 0)
        ok = parse_u64(value, &p->seed);
    else if (strcmp(arg, "--val-every") == 0)
        ok = parse_u64(value, &p->val_every);
    else if (strcmp(arg, "--val-fraction") == 0)
        ok = parse_double(value, &p->val_fraction) && p->val_fraction < 1;
    else if (strcmp(arg, "--save-every") == 0)
        ok = parse_u64(value, &p->save_every);
    else if (strcmp(arg, "--max-faces") == 0)
        ok = parse_size(value, &p->max_faces);
    if (!ok) {
        const char *choices = strcmp(arg, "--lr-schedule") == 0      ? " (constant or cosine)"
                              : strcmp(arg, "--embedding-init") == 0 ? " (normal or sinusoid)"
                              : strcmp(arg, "--init") == 0           ? " (random, coordinate-code or code-bits)"
                                                                     : "";
        fprintf(stderr, "meshgpt train: bad value \"%s\" for %s%s\n", value, arg, choices);
        return 2;
    }
    return 1;
}

int cmd_train(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    bool transformer = argc >= 2 && strcmp(argv[1], "transformer") == 0;
    if (argc < 2 || (!transformer && strcmp(argv[1], "autoencoder") != 0)) {
        usage(stderr);
        return 2;
    }
    mg_train_params params = mg_train_default_params(transformer ? MG_TRAIN_TRANSFORMER : MG_TRAIN_AUTOENCODER);
    cli_common common = {0};
    for (int i = 2; i < argc; i++) {
        bool error = false;
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
            continue;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int r = parse_option(argc, argv, &i, &params);
        if (r == 2)
            return 2;
        if (r == 0) {
            fprintf(stderr, "meshgpt train: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!params.data || !params.output) {
        fprintf(stderr, "meshgpt train: --data DIR and -o OUTPUT are required\n");
        return 2;
    }
    if (transformer && !params.autoencoder && !params.from) {
        fprintf(stderr, "meshgpt train transformer: --autoencoder AE.safetensors (a trained autoencoder) is "
                        "required\n");
        return 2;
    }
    mg_context *ctx = open_training_context(&common);
    if (!ctx)
        return 1;
    bar b = {.tty = isatty(2) != 0};
    interrupted = 0;
    void (*previous)(int) = signal(SIGINT, on_interrupt);
    mg_status status = transformer ? mg_train_transformer(ctx, &params, on_progress, &b)
                                   : mg_train_autoencoder(ctx, &params, on_progress, &b);
    signal(SIGINT, previous);
    end_line(&b);
    int rc = 0;
    if (status == MG_ERR_CANCELLED) {
        fprintf(stderr, "meshgpt: %s; continue with --resume\n", mg_context_last_error(ctx));
        rc = 130;
    } else if (status != MG_OK) {
        fprintf(stderr, "meshgpt: training failed: %s\n", mg_context_last_error(ctx));
        rc = 1;
    } else {
        fprintf(stderr, "meshgpt: wrote %s\n", params.output);
    }
    mg_context_destroy(ctx);
    return rc;
}

/* ---- meshgpt bench train ---- */

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: meshgpt bench train [--model autoencoder|transformer|both] [--size small|default|both]\n"
                 "                           [--batch B] [--faces F] [--steps N] [-d DEVICE]\n"
                 "\n"
                 "Optimizer steps per second and meshes per second of training on random weights and synthetic\n"
                 "meshes, with the device's peak memory (defaults: both models, both sizes, batch 4, 100 faces,\n"
                 "3 timed steps after one untimed step).\n");
}

int cmd_bench_train(int argc, char **argv)
{
    mg_bench_train_params params = mg_bench_train_default_params();
    const char *model = "both", *size = "both";
    cli_common common = {0};
    for (int i = 2; i < argc; i++) {
        bool error = false;
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_parse_common(argc, argv, &i, &common, &error)) {
            if (error)
                return 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            bench_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--model") == 0 && value) {
            model = argv[++i];
        } else if (strcmp(argv[i], "--size") == 0 && value) {
            size = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && value) {
            if (!parse_size(argv[++i], &params.batch_size) || !params.batch_size)
                return fprintf(stderr, "meshgpt bench train: bad --batch\n"), 2;
        } else if (strcmp(argv[i], "--faces") == 0 && value) {
            if (!parse_size(argv[++i], &params.faces) || params.faces < 2)
                return fprintf(stderr, "meshgpt bench train: bad --faces\n"), 2;
        } else if (strcmp(argv[i], "--steps") == 0 && value) {
            if (!parse_size(argv[++i], &params.steps) || !params.steps)
                return fprintf(stderr, "meshgpt bench train: bad --steps\n"), 2;
        } else {
            fprintf(stderr, "meshgpt bench train: unknown option \"%s\"\n", argv[i]);
            bench_usage(stderr);
            return 2;
        }
    }
    bool models[2] = {strcmp(model, "both") == 0 || strcmp(model, "autoencoder") == 0,
                      strcmp(model, "both") == 0 || strcmp(model, "transformer") == 0};
    bool sizes[2] = {strcmp(size, "both") == 0 || strcmp(size, "small") == 0,
                     strcmp(size, "both") == 0 || strcmp(size, "default") == 0};
    if ((!models[0] && !models[1]) || (!sizes[0] && !sizes[1])) {
        bench_usage(stderr);
        return 2;
    }
    mg_context *ctx = cli_open_context(&common);
    if (!ctx)
        return 1;
    mg_device_info info;
    mg_context_device_info(ctx, &info);
    printf("device: %s (%s)\n", info.name, mg_device_type_string(info.type));
    printf("%-12s %-8s %6s %6s %12s %10s %12s %14s\n", "model", "size", "batch", "faces", "parameters", "steps/s",
           "samples/s", "peak memory");
    int rc = 0;
    static const char *const model_names[2] = {"autoencoder", "transformer"};
    static const char *const size_names[2] = {"small", "default"};
    for (int m = 0; m < 2; m++)
        for (int s = 0; s < 2; s++) {
            if (!models[m] || !sizes[s])
                continue;
            params.kind = m ? MG_TRAIN_TRANSFORMER : MG_TRAIN_AUTOENCODER;
            params.size = size_names[s];
            mg_bench_train_result r;
            mg_status status = mg_bench_train(ctx, &params, &r);
            if (status != MG_OK) {
                printf("%-12s %-8s failed: %s\n", model_names[m], size_names[s], mg_context_last_error(ctx));
                rc = 1;
                continue;
            }
            printf("%-12s %-8s %6zu %6zu %12llu %10.3f %12.3f %11.1f MiB\n", model_names[m], size_names[s],
                   params.batch_size, params.faces, (unsigned long long)r.parameters, r.steps_per_second,
                   r.samples_per_second, (double)r.device_bytes_peak / (1024.0 * 1024.0));
            fflush(stdout);
        }
    mg_context_destroy(ctx);
    return rc;
}
