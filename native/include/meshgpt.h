/*
 * meshgpt.h: the one public C API of libmeshgpt.
 *
 * MeshGPT (arXiv 2311.15475) on any Vulkan GPU, with a plain-C CPU reference
 * of every operation as the fallback where no GPU exists.
 *
 * Conventions (see README.md, "C API"):
 *  - every public name starts with mg_ / MG_; handles are opaque;
 *  - every fallible function returns an mg_status; MG_OK is zero;
 *  - the message of the last error on a handle is read with mg_context_last_error();
 *    functions that have no handle yet take an optional (error, error_size) buffer;
 *  - the library never aborts, exits or prints to stdout: diagnostics go to the
 *    log callback given at context creation (default: warnings and errors to stderr);
 *  - parameter structs come with mg_*_default_params() and are passed by pointer;
 *  - outputs are owned by the caller and freed with the matching mg_*_free().
 */
#ifndef MESHGPT_H
#define MESHGPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(MESHGPT_BUILDING_LIBRARY)
#    define MG_API __declspec(dllexport)
#  else
#    define MG_API __declspec(dllimport)
#  endif
#else
#  define MG_API __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------- */
/* Version                                                                   */
/* ------------------------------------------------------------------------- */

#define MG_VERSION_MAJOR 0
#define MG_VERSION_MINOR 1
#define MG_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library actually loaded (may differ from the header). */
MG_API const char *mg_version(void);
/* The same as MAJOR * 10000 + MINOR * 100 + PATCH. */
MG_API int mg_version_number(void);

/* ------------------------------------------------------------------------- */
/* Status codes                                                              */
/* ------------------------------------------------------------------------- */

typedef enum mg_status {
    MG_OK = 0,
    MG_ERR_INVALID_ARGUMENT = 1,   /* a NULL where a value is needed, a bad option, a bad shape */
    MG_ERR_OUT_OF_MEMORY = 2,      /* host memory */
    MG_ERR_DEVICE_OUT_OF_MEMORY = 3, /* device memory, or the context's device_memory_limit */
    MG_ERR_NO_DEVICE = 4,          /* the requested device does not exist or cannot be used */
    MG_ERR_VULKAN = 5,             /* the Vulkan driver reported an unexpected failure */
    MG_ERR_UNSUPPORTED = 6,        /* the device or build lacks a needed capability */
    MG_ERR_CONTEXT_DESTROYED = 7,  /* an object is used after its context was destroyed */
    MG_ERR_IO = 8,                 /* a file could not be read or written */
    MG_ERR_FORMAT = 9,             /* a file or buffer is malformed */
    MG_ERR_CANCELLED = 10,         /* a progress callback asked to stop */
    MG_ERR_INTERNAL = 11           /* a bug in libmeshgpt: please report it */
} mg_status;

/* A short constant English name for a status ("invalid argument"). Never NULL. */
MG_API const char *mg_status_string(mg_status status);

/* ------------------------------------------------------------------------- */
/* Logging                                                                   */
/* ------------------------------------------------------------------------- */

typedef enum mg_log_level {
    MG_LOG_DEBUG = 0,
    MG_LOG_INFO = 1,
    MG_LOG_WARN = 2,
    MG_LOG_ERROR = 3,
    MG_LOG_NONE = 4
} mg_log_level;

/* Called from the thread that triggered the message. `message` has no trailing newline. */
typedef void (*mg_log_fn)(mg_log_level level, const char *message, void *user_data);

/* ------------------------------------------------------------------------- */
/* Devices                                                                   */
/* ------------------------------------------------------------------------- */

typedef enum mg_device_type {
    MG_DEVICE_OTHER = 0,
    MG_DEVICE_INTEGRATED_GPU = 1,
    MG_DEVICE_DISCRETE_GPU = 2,
    MG_DEVICE_VIRTUAL_GPU = 3,
    MG_DEVICE_VULKAN_CPU = 4,     /* a Vulkan driver running on the CPU (Mesa lavapipe, SwiftShader) */
    MG_DEVICE_CPU_REFERENCE = 5   /* the library's plain-C reference backend (no Vulkan) */
} mg_device_type;

MG_API const char *mg_device_type_string(mg_device_type type);

typedef struct mg_device_info {
    int index;                       /* Vulkan device index; -1 for the CPU reference */
    char name[256];
    mg_device_type type;
    char driver_name[64];
    char driver_info[128];
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t api_version;            /* Vulkan version the device supports (VK_MAKE_API_VERSION) */
    uint64_t device_local_bytes;     /* sum of device-local heaps */
    bool supports_fp16;              /* shaderFloat16 + 16-bit storage buffers */
    bool supports_int8;              /* shaderInt8 + 8-bit storage buffers */
    bool unified_memory;             /* device-local memory is host visible */
    uint32_t subgroup_size;
    uint32_t max_shared_memory_bytes;
    uint32_t max_workgroup_invocations;
    uint64_t max_storage_buffer_range;
    uint64_t max_allocation_bytes;
    bool usable;                     /* meets the library's minimum (Vulkan 1.1, a compute queue) */
    bool preferred;                  /* what "auto" picks when MESHGPT_DEVICE is unset */
    char unusable_reason[128];       /* why not, when !usable */
} mg_device_info;

/*
 * Lists the Vulkan devices (in the loader's order, index 0..n-1) followed by the
 * CPU reference backend. *out_devices is allocated by the library; free it with
 * mg_devices_free(). Without a Vulkan loader or driver the list holds only the
 * CPU reference and the call still succeeds (the reason is logged to `error`).
 */
MG_API mg_status mg_devices_list(mg_device_info **out_devices, size_t *out_count,
                                 char *error, size_t error_size);
MG_API void mg_devices_free(mg_device_info *devices);

/* ------------------------------------------------------------------------- */
/* Context                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct mg_context mg_context;

typedef struct mg_context_params {
    /*
     * Which device to run on:
     *   NULL or "" or "auto": the MESHGPT_DEVICE environment variable when set, else the
     *                         best usable device: discrete GPU > integrated > virtual >
     *                         Vulkan-on-CPU > the CPU reference backend;
     *   "cpu":                the plain-C CPU reference backend;
     *   "0", "1", ...:        the Vulkan device with that index (see mg_devices_list);
     *   anything else:        the first Vulkan device whose name contains it (case-insensitive).
     */
    const char *device;
    mg_log_fn log_callback;          /* NULL: warnings and errors go to stderr */
    void *log_user_data;
    mg_log_level log_level;          /* messages below this level are dropped */
    bool enable_validation;          /* Khronos validation layer (+ synchronization validation);
                                        creation fails if the layer is not installed.
                                        Also enabled by MESHGPT_VALIDATION=1. */
    bool disable_pipeline_cache;     /* do not read or write the on-disk pipeline cache */
    const char *pipeline_cache_dir;  /* NULL: $MESHGPT_CACHE_DIR, else $XDG_CACHE_HOME/meshgpt,
                                        else ~/.cache/meshgpt */
    uint64_t device_memory_limit;    /* bytes of device memory the context may allocate; 0 = no limit */
} mg_context_params;

MG_API mg_context_params mg_context_default_params(void);

/*
 * Creates a context on the chosen device. On failure *out_context is NULL and the
 * reason is written to `error` (may be NULL) and to the log callback.
 */
MG_API mg_status mg_context_create(const mg_context_params *params, mg_context **out_context,
                                   char *error, size_t error_size);

/* Releases the device and everything allocated on it; objects still referring to the
 * context answer MG_ERR_CONTEXT_DESTROYED afterwards. NULL is ignored. */
MG_API void mg_context_destroy(mg_context *context);

/* The message of the last failed call on this context ("" if none). The pointer stays
 * valid until the next failing call on the context from any thread; copy it if needed. */
MG_API const char *mg_context_last_error(mg_context *context);

/* The device the context runs on. */
MG_API mg_status mg_context_device_info(mg_context *context, mg_device_info *out_info);

typedef struct mg_context_stats {
    uint64_t dispatches;             /* compute dispatches recorded */
    uint64_t barriers;               /* pipeline barriers inserted for hazards */
    uint64_t submits;                /* command-buffer submissions */
    uint64_t pipelines_created;      /* pipelines compiled (cache hits included) */
    uint64_t validation_messages;    /* validation-layer warnings and errors seen */
    uint64_t device_bytes_allocated; /* device memory currently held in arenas */
    uint64_t device_bytes_in_use;    /* of which sub-allocated to live tensors */
    uint64_t device_bytes_peak;      /* high-water mark of device_bytes_in_use */
} mg_context_stats;

MG_API mg_status mg_context_get_stats(mg_context *context, mg_context_stats *out_stats);

/* ------------------------------------------------------------------------- */
/* Benchmarks (`meshgpt bench ops`)                                          */
/* ------------------------------------------------------------------------- */

typedef struct mg_bench_params {
    bool include_cpu_reference;      /* also time the CPU reference for each case */
    bool quick;                      /* smaller sizes and fewer repetitions */
    double min_seconds;              /* time each case for at least this long (default 0.25) */
    const char *filter;              /* run only ops whose name contains this; NULL = all */
} mg_bench_params;

MG_API mg_bench_params mg_bench_default_params(void);

typedef struct mg_bench_result {
    char op[32];                     /* "matmul", "layer_norm", ... */
    char shape[64];                  /* human-readable sizes, e.g. "1024x1024x1024 f32" */
    char backend[16];                /* "vulkan" or "cpu-ref" */
    double seconds_per_call;
    double gflops;                   /* useful floating-point work per second, 1e9 units */
    double gbytes_per_second;        /* bytes the op must read and write, per second */
    double max_abs_diff;             /* Vulkan vs CPU reference on this case (NAN if not compared) */
} mg_bench_result;

/* Progress: called before each case; return false to cancel (MG_ERR_CANCELLED). */
typedef bool (*mg_bench_progress_fn)(size_t case_index, size_t case_count, const char *name,
                                     void *user_data);

MG_API mg_status mg_bench_ops(mg_context *context, const mg_bench_params *params,
                              mg_bench_progress_fn progress, void *user_data,
                              mg_bench_result **out_results, size_t *out_count);
MG_API void mg_bench_results_free(mg_bench_result *results);

/* ---- `meshgpt bench generate`: token generation speed on random weights ---- */

typedef struct mg_bench_generate_params {
    const char *config;              /* "default" (meshgpt-pytorch's MeshTransformer defaults, text-conditioned),
                                        "preview" (MeshGPT-preview size: dim 768, 12 layers, codebook 2048),
                                        or "small" (the test model's size) */
    size_t batch;                    /* rows generated together (default 1) */
    size_t tokens;                   /* tokens per row, a multiple of 6 (default 60) */
    bool fp16;                       /* weights stored as f16 on the device */
    uint64_t seed;
} mg_bench_generate_params;

MG_API mg_bench_generate_params mg_bench_generate_default_params(void);

typedef struct mg_bench_generate_result {
    double seconds;                  /* generation only (weights made and uploaded before the clock starts) */
    size_t tokens;                   /* generated per row */
    double tokens_per_second;        /* all rows together */
    double faces_per_second;
    uint64_t parameters;             /* of the transformer */
    uint64_t device_bytes_peak;      /* the context's high-water mark after the run (0 on the CPU reference) */
} mg_bench_generate_result;

MG_API mg_status mg_bench_generate(mg_context *context, const mg_bench_generate_params *params,
                                   mg_bench_generate_result *out_result);


/* ------------------------------------------------------------------------- */
/* Meshes and mesh files                                                     */
/* ------------------------------------------------------------------------- */

/*
 * A polygon mesh with faces of one size: triangles (face_size 3) or quads (4).
 * Arrays a library function fills are allocated by the library and released
 * with mg_mesh_free(); a mesh the caller builds may point at any memory.
 */
typedef struct mg_mesh {
    float *vertices;        /* [num_vertices * 3]: x, y, z */
    size_t num_vertices;
    int32_t *faces;         /* [num_faces * face_size]: vertex indices */
    size_t num_faces;
    uint32_t face_size;     /* 3 or 4 */
    uint8_t *face_mask;     /* [num_faces], 1 = valid face; NULL = all valid (decoding fills it) */
} mg_mesh;

/* Frees the arrays of a mesh filled by the library and zeroes the struct. */
MG_API void mg_mesh_free(mg_mesh *mesh);

typedef enum mg_mesh_format {
    MG_MESH_FORMAT_AUTO = 0,   /* from the file name's extension (reading: also the content) */
    MG_MESH_FORMAT_OBJ = 1,
    MG_MESH_FORMAT_PLY = 2,    /* reading: ASCII and binary; writing: binary little-endian */
    MG_MESH_FORMAT_PLY_ASCII = 3,
    MG_MESH_FORMAT_STL = 4,    /* reading: ASCII and binary; writing: binary */
    MG_MESH_FORMAT_STL_ASCII = 5,
    MG_MESH_FORMAT_GLTF = 6,   /* .gltf with embedded (data URI) buffers */
    MG_MESH_FORMAT_GLB = 7
} mg_mesh_format;

typedef enum mg_polygon_mode {
    MG_POLYGONS_TRIANGULATE = 0, /* every face with more than 3 corners becomes a triangle fan */
    MG_POLYGONS_QUADS = 1,       /* all faces must be quads (4 corners) */
    MG_POLYGONS_AS_IS = 2        /* all faces must have the same size, 3 or 4 */
} mg_polygon_mode;

typedef struct mg_mesh_read_params {
    mg_mesh_format format;       /* MG_MESH_FORMAT_AUTO */
    mg_polygon_mode polygons;    /* MG_POLYGONS_TRIANGULATE */
} mg_mesh_read_params;

MG_API mg_mesh_read_params mg_mesh_read_default_params(void);

/* Reads a mesh file; errors name the file, the line or byte offset and what is wrong. */
MG_API mg_status mg_mesh_read(const char *path, const mg_mesh_read_params *params, mg_mesh *out_mesh,
                              char *error_buffer, size_t error_buffer_size);
/* The same from bytes in memory (format must not be AUTO unless the content tells it). */
MG_API mg_status mg_mesh_read_memory(const void *data, size_t size, const mg_mesh_read_params *params,
                                     mg_mesh *out_mesh, char *error_buffer, size_t error_buffer_size);
/* Writes a mesh; faces whose face_mask entry is 0 are left out. */
MG_API mg_status mg_mesh_write(const char *path, const mg_mesh *mesh, mg_mesh_format format,
                               char *error_buffer, size_t error_buffer_size);

/*
 * A connected copy of a decoded mesh: faces whose face_mask is 0 are dropped
 * and corners at bit-identical positions become one vertex (first-seen order).
 * Decoding gives one vertex per face corner, as meshgpt-pytorch does.
 */
MG_API mg_status mg_mesh_weld(const mg_mesh *mesh, mg_mesh *out_mesh, char *error_buffer, size_t error_buffer_size);

/* ------------------------------------------------------------------------- */
/* Models                                                                    */
/* ------------------------------------------------------------------------- */

typedef struct mg_model mg_model;

/*
 * Loads a model file: a .safetensors holding meshgpt-pytorch state-dict names
 * with the configuration in its metadata, or with meshgpt-pytorch's
 * constructor arguments in a config.json beside it. Every expected tensor is
 * checked (name, dtype, shape); the error lists what is missing, unexpected
 * or mis-shaped. Weights are uploaded to the context's device once.
 */
MG_API mg_status mg_model_load(mg_context *context, const char *path, mg_model **out_model);
/*
 * The model shipped with the project (text to mesh with a built-in text
 * encoder): its file is looked for at $MESHGPT_DEFAULT_MODEL when set, else
 * beside the library (an installed share/meshgpt/models/, or the Blender
 * add-on's assets/models/), in the install folder and in the source tree the
 * library was built from. MG_ERR_IO with the places tried when none has it.
 */
MG_API mg_status mg_default_model_path(char *path_buffer, size_t path_buffer_size, char *error_buffer,
                                       size_t error_buffer_size);
MG_API void mg_model_free(mg_model *model);
/* The model's configuration as JSON (owned by the model). */
MG_API const char *mg_model_config_json(const mg_model *model);
/* The largest number of faces one mesh may have for this model. */
MG_API size_t mg_model_max_faces(const mg_model *model);
/* Vertices per face the model works with: 3 (triangles) or 4 (quads). */
MG_API uint32_t mg_model_face_size(const mg_model *model);
/* The coordinate grid of the tokenizer: coordinates in [lo, hi] fall into `bins` equal bins. */
MG_API mg_status mg_model_coordinate_grid(const mg_model *model, float *out_lo, float *out_hi, int *out_bins);

/*
 * A human-readable report on a model file, without loading it on a device:
 * the file, where its configuration came from, the configuration (JSON),
 * parameter counts per top-level module, the dtypes, and whether every
 * tensor matches the configuration (`meshgpt info`). *out_text is allocated
 * by the library; free it with mg_string_free(). A file that cannot be read
 * or has no valid configuration is an error; tensors that do not match the
 * configuration are reported in the text.
 */
MG_API mg_status mg_model_inspect(const char *path, char **out_text, char *error, size_t error_size);
/* Frees a string the library allocated. NULL is ignored. */
MG_API void mg_string_free(char *text);

/* Options of mg_model_convert; zeroed (or NULL) means the defaults. */
typedef struct mg_convert_params {
    const char *config_path; /* meshgpt-pytorch kwargs JSON; NULL: config.json beside the input, else inferred */
    const char *dtype;       /* float tensors as "f32", "f16" or "bf16"; NULL: as stored */
    const char *weights;     /* trainer checkpoints: "auto" (EMA when present, default), "model" or "ema" */
    bool verbose;            /* also log what was inferred or converted (info level) to stderr */
    bool allow_missing;      /* write the tensors the input lacks as mg_model_load_params.allow_missing
                                initialises them (and drop unexpected ones), with a warning */
    const char *text_encoder; /* a Hugging Face BERT folder (config.json, vocab.txt, model.safetensors) to store
                                 in the file as its built-in text encoder (replacing any it has); NULL: none */
    const char *sampling;     /* "key=value,...": sampling settings to recommend in the file (temperature,
                                 top_k_fraction, top_p, min_p, cond_scale, vertex_reuse), replacing those
                                 named; "none" drops every recommendation; NULL: kept as the input has them */
} mg_convert_params;

/*
 * Writes a model file in this project's format (.safetensors with the
 * configuration in its metadata) from a PyTorch checkpoint (torch.save zip:
 * model.save() files, trainer checkpoints, state dicts) or another model
 * file, so later loads are instant. The tensors are checked against the
 * configuration first; nothing is executed from the checkpoint.
 */
MG_API mg_status mg_model_convert(const char *input, const char *output, const mg_convert_params *params,
                                  char *error, size_t error_size);

/* ------------------------------------------------------------------------- */
/* Tokens: the autoencoder as a mesh tokenizer                               */
/* ------------------------------------------------------------------------- */

/*
 * Tokens of one mesh, in meshgpt-pytorch's order: face, corner, level; so
 * tokens[(f * face_size + c) * levels + q]. -1 marks a missing token.
 */
typedef struct mg_tokens {
    int32_t *tokens;        /* [num_faces * face_size * levels] */
    size_t num_faces;
    uint32_t face_size;
    uint32_t levels;
} mg_tokens;

MG_API void mg_tokens_free(mg_tokens *tokens);

typedef enum mg_preprocess {
    MG_PREPROCESS_MODEL = 0, /* the model config's preprocessing (normalize, merge, order) */
    MG_PREPROCESS_NONE = 1   /* the mesh exactly as given, only discretized (meshgpt-pytorch's own behaviour) */
} mg_preprocess;

typedef struct mg_tokenize_params {
    mg_preprocess preprocess;   /* MG_PREPROCESS_MODEL */
} mg_tokenize_params;

MG_API mg_tokenize_params mg_tokenize_default_params(void);

/*
 * Tokenizes `count` meshes in one batch. out_tokens[count] receive the tokens;
 * out_meshes (NULL if not wanted) receive each mesh as the tokenizer saw it
 * (after preprocessing), whose faces the tokens follow.
 */
MG_API mg_status mg_tokenize(mg_model *model, const mg_mesh *meshes, size_t count,
                             const mg_tokenize_params *params, mg_tokens *out_tokens, mg_mesh *out_meshes);

/*
 * Decodes token sequences back to meshes (one vertex per face corner, faces in
 * token order). A face with any missing (-1) or out-of-range token is kept
 * with face_mask 0 and NaN coordinates, as meshgpt-pytorch does.
 */
MG_API mg_status mg_decode(mg_model *model, const mg_tokens *tokens, size_t count, mg_mesh *out_meshes);

/* Token files: {"format": "meshgpt-tokens", "version": 1, ...} (see README). */
MG_API mg_status mg_tokens_write_json(const char *path, const mg_tokens *tokens, const char *model_name,
                                      const char *text, char *error_buffer, size_t error_buffer_size);
MG_API mg_status mg_tokens_read_json(const char *path, mg_tokens *out_tokens, char *error_buffer,
                                     size_t error_buffer_size);


/* ------------------------------------------------------------------------- */
/* Generation: text -> tokens -> mesh                                        */
/* ------------------------------------------------------------------------- */

/*
 * A text encoder for prompts: a Hugging Face BERT folder (config.json,
 * vocab.txt, model.safetensors), for example BAAI/bge-base-en-v1.5, run on the
 * context's device. Its hidden size must equal the model's dim_text.
 */
typedef struct mg_text_encoder mg_text_encoder;

MG_API mg_status mg_text_encoder_load(mg_context *context, const char *folder, mg_text_encoder **out_encoder);
MG_API void mg_text_encoder_free(mg_text_encoder *encoder);
/* The width of the encoder's token states (BERT's hidden_size). */
MG_API size_t mg_text_encoder_width(const mg_text_encoder *encoder);
/*
 * Whether the model file carries its own text encoder (written by
 * `meshgpt convert --text-encoder DIR` or by training): then a prompt needs no
 * mg_text_encoder, and mg_generate / mg_score use the built-in one whenever
 * mg_text_condition.encoder is NULL.
 */
MG_API bool mg_model_has_text_encoder(const mg_model *model);

/*
 * What a text-conditioned model is conditioned on: either a prompt with an
 * encoder (its token states pass through the model's conditioner), or a
 * precomputed embedding as meshgpt-pytorch's `text_embeds` (already in the
 * conditioner's space; token rows equal to -1 everywhere are padding).
 */
typedef struct mg_text_condition {
    const char *prompt;              /* UTF-8 text; needs `encoder` or a model with a built-in one */
    mg_text_encoder *encoder;        /* NULL: the model's built-in encoder */
    const float *embedding;          /* [embedding_tokens * embedding_width], row-major */
    size_t embedding_tokens;
    size_t embedding_width;          /* must equal the model's dim_text */
} mg_text_condition;

/* Called when a face completes: faces and tokens in the sequence so far (a completion prompt
 * included). Return false to cancel: mg_generate then returns MG_ERR_CANCELLED. */
typedef bool (*mg_generate_progress_fn)(size_t faces, size_t tokens, void *user_data);
/*
 * Streaming: called when a face of sample `sample` completes, with that
 * sample's tokens so far (completion included, whole faces). The tokens are a
 * view valid only during the call: copy what you keep. A viewer can decode
 * them (mg_decode on the same model is allowed from inside the callback) to
 * show the mesh growing. Return false to cancel (MG_ERR_CANCELLED).
 */
typedef bool (*mg_generate_face_fn)(size_t sample, const mg_tokens *tokens_so_far, void *user_data);

/* Why a generated sample ended (mg_generate_params.out_ends). */
typedef enum mg_generate_end {
    MG_GENERATE_END_EOS = 0,     /* the model ended the mesh */
    MG_GENERATE_END_LIMIT = 1,   /* it reached max_faces, max_tokens or the model's positions */
    /* the validity constraint refused every candidate for a vertex, so the mesh ends at its last whole face
     * (the model wanted a vertex that would break the surface; another seed, a lower temperature or
     * `unconstrained` behave differently) */
    MG_GENERATE_END_REFUSED = 2,
} mg_generate_end;

typedef struct mg_generate_params {
    float temperature;               /* 1; 0 = arg-max (greedy) */
    int top_k;                       /* keep the k most likely tokens; 0 = use top_k_fraction */
    float top_k_fraction;            /* 0.1 (meshgpt-pytorch's default): keep ceil(fraction * vocabulary); 0 = off */
    float top_p;                     /* 0 = off; else nucleus sampling */
    float min_p;                     /* 0 = off; else drop tokens below min_p * the top probability */
    float cond_scale;                /* 1 = no classifier-free guidance */
    uint64_t seed;                   /* 0 */
    size_t max_faces;                /* 0 = as many as the model's positions allow; includes the completion */
    size_t max_tokens;               /* 0 = no further limit; else at most this many tokens (whole faces kept) */
    size_t samples;                  /* 1: meshes generated for the same text in one batch */
    mg_text_condition text;          /* required for text-conditioned models, refused otherwise */
    const mg_tokens *completion;     /* NULL, or the tokens of a partial mesh to continue */
    mg_generate_progress_fn progress;
    void *progress_user_data;
    /* Guidance refinement (arXiv 2410.02416, as classifier-free-guidance-pytorch): with cond_scale != 1
     * the guidance update loses its component parallel to the conditional logits, all but
     * keep_parallel_frac (in [0, 1]) of it. Default off / 0. */
    bool remove_parallel_component;
    float keep_parallel_frac;
    mg_generate_face_fn on_face;     /* NULL, or called after every completed face of every running sample */
    void *on_face_user_data;
    /* false (default): each sampled vertex is checked against the sample so far, and one that would make a
     * degenerate face (repeated or collinear corners), a copy of an earlier face, an edge shared by three
     * faces or an edge run twice the same way is refused and another token drawn (a sample left with no
     * acceptable token ends at its last whole face). So samples are valid, consistently oriented meshes
     * (exactly so when the autoencoder decodes each face on its own, as the coordinate code does).
     * true: every sampled token is kept, as meshgpt-pytorch does. */
    bool unconstrained;
    /* >= 1: the probability of each token that continues the codes of a vertex the sample already has is
     * multiplied by this (at temperature 1), before filtering: most vertex mentions in a mesh repeat one,
     * and a repeat missed by one code leaves a loose triangle. 1 (default) or 0: off (meshgpt-pytorch). */
    float vertex_reuse;
    /* NULL, or [samples]: why each sample ended (mg_generate_end values), written when mg_generate succeeds. */
    int *out_ends;
} mg_generate_params;

MG_API mg_generate_params mg_generate_default_params(void);
/* mg_generate_default_params() with the sampling settings the model file recommends laid over it (the
 * "sampling" object of its configuration: temperature, top_k_fraction, top_p, min_p, cond_scale,
 * vertex_reuse; `meshgpt info` lists them, `meshgpt convert --sampling` sets them). NULL: the defaults. */
MG_API mg_generate_params mg_model_generate_params(const mg_model *model);

/*
 * Generates params->samples meshes with the model's transformer and decodes
 * them with its autoencoder. out_meshes[samples] (NULL if not wanted) receive
 * the meshes (decoded as mg_decode does), out_tokens[samples] (NULL if not
 * wanted) the tokens, completion included. Each sample ends at its EOS or at
 * the limit. Free them with mg_mesh_free() / mg_tokens_free().
 */
MG_API mg_status mg_generate(mg_model *model, const mg_generate_params *params, mg_mesh *out_meshes,
                             mg_tokens *out_tokens);

/* Tokens the transformer chooses from: the codebook plus EOS (0 for a model without a transformer). */
MG_API size_t mg_model_vocabulary_size(const mg_model *model);

/*
 * Teacher-forced scoring of one token sequence: *out_loss (NULL if not
 * wanted) is meshgpt-pytorch's forward_on_codes loss (mean cross-entropy
 * with EOS appended); out_logits (NULL if not wanted) receives
 * [(tokens + 1) * mg_model_vocabulary_size()] logits, row i predicting token i
 * and the last row what follows the sequence. text may be NULL for
 * unconditioned models.
 */
MG_API mg_status mg_score(mg_model *model, const mg_tokens *tokens, const mg_text_condition *text, double *out_loss,
                          float *out_logits);

/* ------------------------------------------------------------------------- */
/* Previews                                                                  */
/* ------------------------------------------------------------------------- */

/* Options of mg_render_image / mg_render_png; start from mg_render_default_params(). */
typedef struct mg_render_params {
    uint32_t size;   /* 256: pixels per view side (16 to 4096) */
    uint32_t views;  /* 4: a 2 x 2 grid (three-quarter, front, side, top); 1: the three-quarter view */
    char up;         /* 'y' (default; OBJ's usual convention) or 'z' (Blender's) */
    bool edges;      /* true: face edges drawn darker */
} mg_render_params;

MG_API mg_render_params mg_render_default_params(void);
/*
 * A shaded preview of a mesh on the CPU (no GPU needed): orthographic views
 * fitted to the mesh's bounding sphere, the same scale in every view, front
 * faces blue-grey and back faces red (flipped winding shows), faces whose
 * face_mask entry is 0 left out. *out_rgba is a new width x height RGBA image
 * (rows top to bottom), freed with mg_image_free().
 */
MG_API mg_status mg_render_image(const mg_mesh *mesh, const mg_render_params *params, uint8_t **out_rgba,
                                 uint32_t *out_width, uint32_t *out_height, char *error_buffer,
                                 size_t error_buffer_size);
/* The same written as a PNG file. */
MG_API mg_status mg_render_png(const mg_mesh *mesh, const mg_render_params *params, const char *path,
                               char *error_buffer, size_t error_buffer_size);
MG_API void mg_image_free(uint8_t *rgba);

/* ------------------------------------------------------------------------- */
/* Model loading options                                                     */
/* ------------------------------------------------------------------------- */

/* Options of mg_model_load_with and mg_model_inspect_with; start from mg_model_load_default_params(). */
typedef struct mg_model_load_params {
    /*
     * false (default): strict, a file lacking any tensor its configuration
     * expects is refused (MG_ERR_FORMAT naming them). true: load anyway, the
     * missing tensors initialised (LayerNorm/RMSNorm gains neutral: 1, or 0
     * for x-transformers' gamma applied as gamma + 1; rotary frequencies and
     * LFQ masks as upstream computes them; every other weight and bias 0) and
     * named in a warning; unexpected tensors are ignored with a warning.
     * Mis-shaped or wrong-dtype tensors are refused either way.
     */
    bool allow_missing;
} mg_model_load_params;

MG_API mg_model_load_params mg_model_load_default_params(void);
/* mg_model_load with options; params NULL means the defaults (mg_model_load itself). */
MG_API mg_status mg_model_load_with(mg_context *context, const char *path, const mg_model_load_params *params,
                                    mg_model **out_model);
/* mg_model_inspect with options: with allow_missing the check says what a load with it would initialise. */
MG_API mg_status mg_model_inspect_with(const char *path, const mg_model_load_params *params, char **out_text,
                                       char *error, size_t error_size);

/* ------------------------------------------------------------------------- */
/* Procedural shapes: a labelled training set (`meshgpt dataset primitives`) */
/* ------------------------------------------------------------------------- */

/* The shape classes: cube, box, pyramid, prism, cylinder, cone, truncated_cone, tube, uv_sphere, icosphere,
 * torus, capsule, wedge, star_prism, stairs, arch, table, chair, stool (in that order). */
MG_API size_t mg_primitive_class_count(void);
/* The class's name ("truncated_cone"), or NULL past the last class. */
MG_API const char *mg_primitive_class_name(size_t class_index);
/* A plain prompt for the class ("a truncated cone"), or NULL past the last class. */
MG_API const char *mg_primitive_class_prompt(size_t class_index);
/* The class index of a name, or -1. */
MG_API int mg_primitive_class_find(const char *name);

/*
 * One generated shape: closed low-poly triangle parts (y up), every part wound outward,
 * at most 800 faces, a caption that names its drawn proportions ("a tall thin cylinder with 8 sides") and
 * the drawn parameters as a JSON object.
 */
typedef struct mg_primitive {
    mg_mesh mesh;
    size_t class_index;
    char *caption;           /* UTF-8, owned */
    /* The caption's shorter true forms, owned: some of its modifiers left out ("a tube with 8 sides",
     * "a thin-walled tube"), the last one the bare noun ("a tube"); none for a caption that is already bare. */
    char **caption_variants;
    size_t caption_variant_count;
    char *parameters_json;   /* {"height": 2.1, ...}, owned */
} mg_primitive;

/* Draws one shape of a class; the same (class_index, seed) gives the same shape on every machine. */
MG_API mg_status mg_primitive_generate(size_t class_index, uint64_t seed, mg_primitive *out, char *error,
                                       size_t error_size);
MG_API void mg_primitive_free(mg_primitive *primitive);

/*
 * Writes `count` shapes (the classes in turn, each drawn from `seed` and its index) into `dir` (created if
 * missing): CLASS_NNNN.obj, captions.json ({"file": ["caption", its shorter forms...]}, a plain string where
 * there are none) and labels.json ({"file": {"class": ..., "caption": ..., "caption_variants": [...],
 * "parameters": {...}}}). Deterministic per seed.
 */
MG_API mg_status mg_dataset_write_primitives(const char *dir, size_t count, uint64_t seed, char *error,
                                             size_t error_size);

/* A labelled data set as written above: labels.json (or only captions.json, classes then empty). */
typedef struct mg_dataset_entry {
    char *file;              /* path of the mesh file (the folder joined with the name in the JSON) */
    char *name;              /* the name as in the JSON */
    char *caption;
    char *class_name;        /* "" when unknown */
} mg_dataset_entry;

typedef struct mg_dataset {
    mg_dataset_entry *entries;   /* sorted by name */
    size_t count;
} mg_dataset;

MG_API mg_status mg_dataset_read(const char *dir, mg_dataset *out, char *error, size_t error_size);
MG_API void mg_dataset_free(mg_dataset *dataset);

/* ------------------------------------------------------------------------- */
/* Evaluation: mesh validity and distances (`meshgpt eval`)                  */
/* ------------------------------------------------------------------------- */

typedef struct mg_mesh_validity {
    size_t faces;                    /* faces checked (face_mask 0 left out) */
    size_t vertices;
    size_t degenerate_faces;         /* a repeated vertex, or (near) zero area */
    size_t duplicate_faces;          /* the same vertex set as an earlier face, any winding */
    size_t unreferenced_vertices;
    size_t edges;                    /* distinct undirected edges */
    size_t boundary_edges;           /* used by one face */
    size_t non_manifold_edges;       /* used by more than two faces */
    size_t inconsistent_edges;       /* used by two faces in the same direction (opposite windings) */
    size_t components;               /* groups of faces connected through shared vertices */
    size_t inward_components;        /* closed components whose signed volume is negative */
    double signed_volume;            /* sum over faces (positive: wound outward) */
    bool manifold;                   /* no non-manifold edges */
    bool watertight;                 /* manifold and no boundary edges */
    bool consistently_oriented;      /* no inconsistent edges */
    bool valid;                      /* faces, no degenerate or duplicate faces, manifold */
} mg_mesh_validity;

/* Checks a mesh (triangles or quads); fails only on malformed input (bad face_size, an index out of range). */
MG_API mg_status mg_mesh_check(const mg_mesh *mesh, mg_mesh_validity *out, char *error, size_t error_size);

/* `count` points on the surface, area-weighted, from a seeded generator (points[count * 3]). */
MG_API mg_status mg_mesh_sample_points(const mg_mesh *mesh, size_t count, uint64_t seed, float *points,
                                       char *error, size_t error_size);

typedef struct mg_mesh_distance {
    double chamfer;      /* (mean distance a -> b + mean distance b -> a) / 2, point to surface */
    double precision;    /* share of a's points within `threshold` of b's surface */
    double recall;       /* share of b's points within `threshold` of a's surface */
    double fscore;       /* 2 P R / (P + R); 0 when both are 0 */
} mg_mesh_distance;

/*
 * Compares two meshes in their own coordinates: `points` area-weighted samples on each (seeded), each
 * point's distance to the other mesh's surface (exact point-to-triangle distance).
 */
MG_API mg_status mg_mesh_compare(const mg_mesh *a, const mg_mesh *b, size_t points, uint64_t seed,
                                 double threshold, mg_mesh_distance *out, char *error, size_t error_size);

typedef struct mg_set_metrics {
    double coverage;     /* share of reference shapes that are the nearest reference of some sample */
    double mmd;          /* mean over references of the distance to the nearest sample */
    double nna;          /* 1-NN accuracy (leave one out) over samples + references; 0.5 is ideal */
} mg_set_metrics;

/*
 * Coverage, minimum matching distance and 1-NNA (Achlioptas et al. 2018; Yang et al. 2019) from distance
 * matrices, row-major: gen_ref[G * R], gen_gen[G * G], ref_ref[R * R] (diagonals ignored).
 */
MG_API mg_status mg_set_metrics_compute(const double *gen_ref, const double *gen_gen, const double *ref_ref,
                                        size_t generated, size_t references, mg_set_metrics *out, char *error,
                                        size_t error_size);

/*
 * How varied one set is, from its distance matrix dist[n * n] (row-major, diagonal ignored): the mean
 * distance over its n(n-1)/2 pairs (pairs at a non-finite distance, such as a member with no surface to
 * measure, left out; 0 without a pair), and how many members have no earlier member within
 * `tolerance` (distinct shapes; 1 means every member repeats the first). A generator that has collapsed
 * onto a few shapes shows few distinct members and a mean distance far below its data's.
 */
MG_API mg_status mg_set_diversity(const double *dist, size_t n, double tolerance, double *mean_distance,
                                  size_t *distinct, char *error, size_t error_size);

/* ------------------------------------------------------------------------- */
/* Training (`meshgpt train`, `meshgpt bench train`)                         */
/* ------------------------------------------------------------------------- */

typedef enum mg_train_kind {
    MG_TRAIN_AUTOENCODER = 0,
    MG_TRAIN_TRANSFORMER = 1
} mg_train_kind;

/*
 * A training run, as meshgpt-pytorch's trainers run it: Adam (AdamW when
 * weight_decay > 0, biases and norms not decayed) with linear warm-up,
 * gradient accumulation, optional global gradient-norm clipping, an EMA of the
 * weights (the autoencoder trainer's), validation on a held-out share of the
 * meshes, and checkpoints. The checkpoint at `output` is a model file (it
 * loads anywhere a model does) that also holds the optimizer state, the step,
 * the RNG state and the loss history, written atomically: a crash or a full
 * disk while saving keeps the previous one. `resume` continues it exactly as
 * an unbroken run would have gone on. Start from mg_train_default_params().
 */
/* How the learning rate moves after its warm-up. */
typedef enum mg_lr_schedule {
    MG_LR_CONSTANT = 0,          /* stays at learning_rate (upstream's trainers) */
    MG_LR_COSINE = 1             /* half a cosine from learning_rate down to final_lr_fraction of it at the
                                    last step: a short run ends on small steps, which settles the weights */
} mg_lr_schedule;

/* How a fresh autoencoder's embeddings of discretized values start: the tables `coor_embed`, `angle_embed`,
 * `area_embed` and `normal_embed`, one row per bin. */
typedef enum mg_embedding_init {
    MG_EMBEDDING_INIT_NORMAL = 0,   /* N(0, 1), torch's nn.Embedding default (upstream's) */
    MG_EMBEDDING_INIT_SINUSOID = 1  /* sines and cosines of the bin's position at geometrically spaced
                                       frequencies, so neighbouring bins start alike and the encoder sees how
                                       far apart two values are from the first step; the autoencoder then
                                       learns to place unseen shapes' vertices much sooner (README) */
} mg_embedding_init;

/* How a fresh autoencoder starts. */
typedef enum mg_autoencoder_start {
    MG_AUTOENCODER_START_RANDOM = 0,          /* torch's default initialisation of each layer (upstream's) */
    MG_AUTOENCODER_START_COORDINATE_CODE = 1  /* weights set by hand so that the autoencoder tokenizes every mesh
                                                exactly: a vertex's first code holds the high bits of its
                                                discretized x, y and z, the second the low bits. Needs a
                                                configuration wide enough to carry them (the error names the
                                                sizes). steps = 0 writes it as it is; training from it loses
                                                exactness (README, "Coordinate-code autoencoder") */
} mg_autoencoder_start;

/* How a fresh transformer starts. */
typedef enum mg_transformer_start {
    MG_TRANSFORMER_START_RANDOM = 0,    /* torch's default initialisation of each layer (upstream's) */
    MG_TRANSFORMER_START_CODE_BITS = 1  /* the token-embedding and output rows of the codebook entries start as one
                                           random linear map of the code's bits (LFQ codes are bit patterns; with
                                           the coordinate code each bit is a coordinate bit), so codes that share
                                           bits start alike; needs an LFQ autoencoder (README, "Training") */
} mg_transformer_start;

typedef struct mg_train_params {
    const char *data;            /* folder of mesh files (.obj .ply .stl .gltf .glb); required */
    const char *captions;        /* NULL: captions.json (or captions.csv) in the folder when present */
    const char *output;          /* the checkpoint to write (required), e.g. "AE.safetensors" */
    const char *from;            /* NULL: fresh weights; else a model to fine-tune (any loadable model,
                                    meshgpt-pytorch checkpoints included) */
    const char *config;          /* fresh weights: a config.json of meshgpt-pytorch's constructor arguments
                                    (NULL: upstream's defaults) */
    const char *autoencoder;     /* transformer: the trained autoencoder's model file (kept frozen) */
    const char *text_encoder;    /* transformer: a BERT folder used frozen; NULL: a built-in encoder trained
                                    with the transformer */
    const char *loss_curve;      /* NULL: beside the checkpoint ("AE.safetensors" -> "AE.loss.svg"); "": none */
    uint64_t steps;              /* optimizer steps in all (1000); a resumed run goes on up to this many; 0
                                    writes the starting weights untrained */
    size_t batch_size;           /* meshes per micro-batch (4) */
    size_t grad_accum;           /* micro-batches per optimizer step (1) */
    double learning_rate;        /* autoencoder 1e-4, transformer 2e-4 (upstream's trainers) */
    double weight_decay;         /* 0 */
    uint64_t warmup_steps;       /* 1000: the learning rate rises linearly over these steps */
    double max_grad_norm;        /* autoencoder 0 (off), transformer 0.5 */
    bool ema;                    /* autoencoder true (beta 0.9999, after step 100, every 10 steps); the
                                    validation loss is then the EMA weights' */
    bool augment;                /* autoencoder true (scale, shift, jitter as the paper); transformer false */
    uint64_t seed;               /* 0; data order, split, augmentation and fresh weights follow from it */
    double val_fraction;         /* 0.05 of the meshes held out for validation (at least 1 when > 0) */
    size_t val_max_meshes;       /* 64: at most this many held out (0: no limit) */
    uint64_t val_every;          /* 100 steps (0: never) */
    uint64_t save_every;         /* 1000 steps (0: only at the end); also saved when stopped */
    bool resume;                 /* continue the checkpoint at `output` (its configuration is used when
                                    `config` is NULL) */
    size_t max_faces;            /* 0: the model's limit; larger meshes are skipped and counted */
    mg_lr_schedule lr_schedule;  /* MG_LR_CONSTANT */
    double final_lr_fraction;    /* MG_LR_COSINE: the last step's rate as a share of learning_rate (0.05) */
    bool group_by_length;        /* false (upstream's random batches). true: each batch holds meshes of similar
                                    face counts (sorted within shuffled chunks of 32 batches), so less of it is
                                    padding and a step costs less; every mesh is still seen once per epoch,
                                    but batches are less mixed (see the README for the measured trade-off) */
    mg_embedding_init embedding_init; /* MG_EMBEDDING_INIT_NORMAL; a fresh autoencoder's embedding tables
                                    (fine-tuning and resuming keep the weights they load; a transformer has
                                    none, and refuses anything but the default) */
    mg_autoencoder_start autoencoder_start; /* MG_AUTOENCODER_START_RANDOM; fresh autoencoder weights only */
    mg_transformer_start transformer_start; /* MG_TRANSFORMER_START_RANDOM; fresh transformer weights only */
} mg_train_params;

MG_API mg_train_params mg_train_default_params(mg_train_kind kind);

typedef enum mg_train_event {
    MG_TRAIN_STARTED = 0,        /* before the first step: the data set's sizes, the step to start from */
    MG_TRAIN_STEPPED = 1,        /* after every optimizer step */
    MG_TRAIN_SAVED = 2           /* after a checkpoint was written (the return value is ignored) */
} mg_train_event;

typedef struct mg_train_progress {
    mg_train_event event;
    uint64_t step;               /* optimizer steps done */
    uint64_t total_steps;
    uint64_t epoch;              /* from 0 */
    double loss;                 /* this step's loss (mean over its micro-batches) */
    size_t loss_terms;           /* its named parts, e.g. "recon" and "commit" */
    const char *loss_names[4];
    double loss_values[4];
    double learning_rate;        /* this step's (warm-up applied) */
    double grad_norm;            /* before clipping */
    double steps_per_second;     /* since this run (or resume) began */
    double samples_per_second;
    bool has_validation;         /* validation_loss was computed at this step */
    double validation_loss;      /* the latest validation loss (NaN before the first) */
    size_t train_meshes;         /* meshes trained on / held out for validation */
    size_t validation_meshes;
    size_t skipped_meshes;       /* mesh files skipped (unreadable, refused, or over max_faces) */
    const char *saved_path;      /* MG_TRAIN_SAVED: the checkpoint written */
} mg_train_progress;

/* Return false to stop: the run saves a checkpoint of the steps done, then returns MG_ERR_CANCELLED. */
typedef bool (*mg_train_progress_fn)(const mg_train_progress *progress, void *user_data);

/*
 * Trains a MeshAutoencoder on the meshes of params->data. Errors (an empty
 * folder, a folder where no mesh reads, a batch larger than the data, a NaN or
 * infinite loss: the run stops before the weights change and the last good
 * checkpoint stays) are reported through mg_context_last_error(). Unreadable
 * meshes are skipped with a warning through the log callback and counted.
 */
MG_API mg_status mg_train_autoencoder(mg_context *context, const mg_train_params *params,
                                      mg_train_progress_fn progress, void *user_data);
/* Trains a MeshTransformer on the tokens of params->data's meshes under params->autoencoder (frozen), with
 * their captions (classifier-free guidance drops some) when the model is text-conditioned. */
MG_API mg_status mg_train_transformer(mg_context *context, const mg_train_params *params,
                                      mg_train_progress_fn progress, void *user_data);

/* ---- `meshgpt bench train`: training speed on random weights and synthetic meshes ---- */

typedef struct mg_bench_train_params {
    mg_train_kind kind;
    const char *size;            /* "small" (the test model's size) or "default" (meshgpt-pytorch's defaults) */
    size_t batch_size;           /* 4 */
    size_t faces;                /* faces per synthetic mesh (100) */
    size_t steps;                /* timed optimizer steps (3), after one untimed warm-up step */
    uint64_t seed;
} mg_bench_train_params;

MG_API mg_bench_train_params mg_bench_train_default_params(void);

typedef struct mg_bench_train_result {
    double seconds;              /* the timed steps */
    double steps_per_second;
    double samples_per_second;
    uint64_t parameters;         /* trained parameters */
    uint64_t device_bytes_peak;  /* the context's high-water mark after the run (0 on the CPU reference) */
} mg_bench_train_result;

/* MG_ERR_UNSUPPORTED when this build lacks the model's training. */
MG_API mg_status mg_bench_train(mg_context *context, const mg_bench_train_params *params,
                                mg_bench_train_result *out_result);

#ifdef __cplusplus
}
#endif

#endif /* MESHGPT_H */
