/*
 * torch.save checkpoints as model files: find the state dict in the pickle,
 * check every tensor against its storage in the zip, make the tensors dense,
 * apply the version conversions, and attach a configuration.
 */
#include "model/model_torch.h"

#include "core/half.h"
#include "io/torch_pickle.h"
#include "model/config_json.h"
#include "model/model_torch_infer.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_FILE_BYTES (16u << 20)
#define EMA_PREFIX "ema_model."
#define ARENA_ALIGN 64

bool mg_torch_has_magic(const void *bytes, size_t size)
{
    return mg_zip_has_magic(bytes, size);
}

/* torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False): a bare pickle stream. */
static bool is_legacy_pickle(const uint8_t *head, size_t n)
{
    return n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
}

bool mg_torch_is_checkpoint_file(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return false;
    uint8_t head[4];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return mg_torch_has_magic(head, n) || is_legacy_pickle(head, n);
}

/* ---- finding the state dict ---- */

typedef struct picked {
    const mg_pk_value *dict;
    const char *strip; /* a prefix the wanted names carry (EMA wrapper), others skipped; "" for none */
    const char *what;  /* for messages */
} picked;

static bool is_state_dict(const mg_pk_value *v)
{
    if (!v || v->kind != MG_PK_DICT || v->as.seq.count == 0)
        return false;
    for (size_t i = 0; i < v->as.seq.count / 2; i++)
        if (v->as.seq.items[2 * i]->kind != MG_PK_STRING)
            return false;
    for (size_t i = 0; i < v->as.seq.count / 2; i++)
        if (v->as.seq.items[2 * i + 1]->kind == MG_PK_TENSOR)
            return true;
    return false;
}

static void list_keys(const mg_pk_value *dict, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; dict && dict->kind == MG_PK_DICT && i < dict->as.seq.count / 2 && used + 1 < size; i++) {
        const mg_pk_value *k = dict->as.seq.items[2 * i];
        used += (size_t)snprintf(out + used, size - used, "%s'%.40s'", i ? ", " : "",
                                 k->kind == MG_PK_STRING ? k->as.text.data : mg_pk_kind_name(k->kind));
    }
}

static mg_status pick_state_dict(const mg_pk_value *root, mg_torch_weights choice, const char *source, picked *out,
                                 mg_diag *diag)
{
    if (!root || root->kind != MG_PK_DICT)
        return mg_fail(diag, MG_ERR_FORMAT, "%s holds a %s, not a dict: not a model checkpoint", source,
                       mg_pk_kind_name(root ? root->kind : MG_PK_NONE));
    const mg_pk_value *model = mg_pk_dict_get(root, "model");
    const mg_pk_value *ema = mg_pk_dict_get(root, "ema_model");
    if (!is_state_dict(ema))
        ema = NULL;
    if (choice == MG_TORCH_WEIGHTS_EMA && !ema)
        return mg_fail(diag, MG_ERR_FORMAT, "%s has no EMA weights ('ema_model'): load its 'model' weights instead",
                       source);
    if (ema && choice != MG_TORCH_WEIGHTS_MODEL) {
        /* ema-pytorch's EMA module: 'ema_model.*' (the averaged copy), 'online_model.*', 'initted', 'step'. */
        bool wrapped = false;
        for (size_t i = 0; i < ema->as.seq.count / 2 && !wrapped; i++)
            wrapped = strncmp(ema->as.seq.items[2 * i]->as.text.data, EMA_PREFIX, sizeof EMA_PREFIX - 1) == 0;
        *out = (picked){ema, wrapped ? EMA_PREFIX : "", "the EMA weights ('ema_model')"};
        mg_log(diag, MG_LOG_INFO, "%s: a trainer checkpoint; using %s%s", source, out->what,
               is_state_dict(model) ? " (choose the online model's with the 'model' weights option)" : "");
        return MG_OK;
    }
    if (is_state_dict(model)) {
        *out = (picked){model, "", "the model's weights ('model')"};
        return MG_OK;
    }
    const mg_pk_value *state = mg_pk_dict_get(root, "state_dict");
    if (is_state_dict(state)) {
        *out = (picked){state, "", "'state_dict'"};
        return MG_OK;
    }
    if (is_state_dict(root)) {
        *out = (picked){root, "", "the state dict"};
        return MG_OK;
    }
    char keys[400];
    list_keys(root, keys, sizeof keys);
    return mg_fail(diag, MG_ERR_FORMAT, "%s holds no state dict of tensors (top-level keys: %s): expected a "
                   "meshgpt-pytorch model.save() file, a trainer checkpoint or a state_dict()", source, keys);
}

/* ---- tensors ---- */

/* x-transformers < 1.31 LayerNorm: `<stack>.layers.<j>.0.0.weight` and `<stack>.final_norm.weight` of the
 * transformer's decoders hold the effective scale; 1.7.2 names it gamma and adds 1. */
static bool is_old_layer_norm(const char *name, char *gamma_name, size_t size)
{
    static const char *const stacks[] = {"decoder.", "fine_decoder."};
    for (size_t s = 0; s < 2; s++) {
        size_t n = strlen(stacks[s]);
        if (strncmp(name, stacks[s], n) != 0)
            continue;
        const char *rest = name + n;
        bool match = strcmp(rest, "final_norm.weight") == 0;
        if (!match && strncmp(rest, "layers.", 7) == 0) {
            const char *p = rest + 7;
            const char *digits = p;
            while (*p >= '0' && *p <= '9')
                p++;
            match = p > digits && strcmp(p, ".0.0.weight") == 0;
        }
        if (match) {
            size_t len = strlen(name) - strlen("weight");
            if (len + sizeof "gamma" > size)
                return false;
            memcpy(gamma_name, name, len);
            memcpy(gamma_name + len, "gamma", sizeof "gamma");
            return true;
        }
    }
    return false;
}

typedef struct planned {
    char *name;
    const mg_pk_tensor *tensor;
    const mg_zip_entry *entry;
    uint64_t count, nbytes;
    bool contiguous, to_gamma;
    uint64_t arena_offset; /* UINT64_MAX: used in place */
} planned;

static bool mul_overflows(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

static mg_status plan_tensor(const mg_zip *zip, const char *archive, const char *name, const mg_pk_tensor *t,
                             planned *p, mg_diag *diag)
{
    const char *source = zip->source;
    size_t elem = mg_st_dtype_size(t->dtype);
    if (t->offset < 0)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' has a negative storage offset", source, name);
    uint64_t count = 1, last = 0;
    bool empty = false;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || t->stride[d] < 0)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' has a negative size or stride", source, name);
        if (t->shape[d] == 0)
            empty = true;
    }
    for (int d = 0; d < t->ndim && !empty; d++) {
        uint64_t reach;
        if (mul_overflows(count, (uint64_t)t->shape[d], &count) ||
            mul_overflows((uint64_t)(t->shape[d] - 1), (uint64_t)t->stride[d], &reach) ||
            __builtin_add_overflow(last, reach, &last))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' has a size or stride too large for any file",
                           source, name);
    }
    if (empty)
        count = 0;
    uint64_t nbytes;
    if (mul_overflows(count, elem, &nbytes))
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' is too large for any file", source, name);
    char entry_name[512];
    mg_format(entry_name, sizeof entry_name, "%sdata/%s", archive, t->storage->as.storage.key);
    const mg_zip_entry *entry = mg_zip_find(zip, entry_name);
    if (!entry)
        return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' uses storage '%.60s', which the archive lacks "
                       "(%.200s): the file is incomplete", source, name, t->storage->as.storage.key, entry_name);
    if (count > 0) {
        uint64_t end_elem, end_byte;
        if (__builtin_add_overflow((uint64_t)t->offset, last, &end_elem) ||
            __builtin_add_overflow(end_elem, 1, &end_elem) || mul_overflows(end_elem, elem, &end_byte) ||
            end_byte > entry->size)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' reaches past the end of its storage '%.60s' "
                           "(%llu bytes): the file is corrupt", source, name, t->storage->as.storage.key,
                           (unsigned long long)entry->size);
    }
    bool contiguous = true;
    int64_t expected = 1;
    for (int d = t->ndim; d-- > 0;) {
        if (t->shape[d] != 1 && t->stride[d] != expected)
            contiguous = false;
        expected *= t->shape[d];
    }
    p->tensor = t;
    p->entry = entry;
    p->count = count;
    p->nbytes = nbytes;
    p->contiguous = contiguous || count == 0;
    p->arena_offset = UINT64_MAX;
    return MG_OK;
}

/* Copies the strided elements of `t` from `base` (its storage) densely into `out`. */
static void gather(const mg_pk_tensor *t, const uint8_t *base, size_t elem, uint64_t count, uint8_t *out)
{
    if (count == 0)
        return;
    int64_t index[MG_PK_MAX_DIMS] = {0};
    int nd = t->ndim;
    uint64_t inner = nd ? (uint64_t)t->shape[nd - 1] : 1;
    int64_t inner_stride = nd ? t->stride[nd - 1] : 1;
    for (uint64_t done = 0; done < count; done += inner) {
        int64_t at = t->offset;
        for (int d = 0; d < nd - 1; d++)
            at += index[d] * t->stride[d];
        if (inner_stride == 1) {
            memcpy(out, base + (uint64_t)at * elem, inner * elem);
        } else {
            for (uint64_t i = 0; i < inner; i++)
                memcpy(out + i * elem, base + ((uint64_t)at + i * (uint64_t)inner_stride) * elem, elem);
        }
        out += inner * elem;
        for (int d = nd - 2; d >= 0; d--) {
            if (++index[d] < t->shape[d])
                break;
            index[d] = 0;
        }
    }
}

/* value - 1 as F32, from F32, F16, BF16 or F64. */
static void to_gamma(mg_st_dtype dtype, const uint8_t *dense, uint64_t count, float *out)
{
    for (uint64_t i = 0; i < count; i++) {
        float v = 0.0f;
        if (dtype == MG_ST_F32) {
            memcpy(&v, dense + 4 * i, 4);
        } else if (dtype == MG_ST_F16) {
            uint16_t h;
            memcpy(&h, dense + 2 * i, 2);
            v = mg_half_to_float(h);
        } else if (dtype == MG_ST_BF16) {
            uint16_t h;
            memcpy(&h, dense + 2 * i, 2);
            uint32_t wide = (uint32_t)h << 16;
            memcpy(&v, &wide, 4);
        } else {
            double d;
            memcpy(&d, dense + 8 * i, 8);
            v = (float)d;
        }
        out[i] = v - 1.0f;
    }
}

static int compare_planned(const void *a, const void *b)
{
    const planned *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y);
}

static char *duplicate(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

/* The archive's folder: the entry "<archive>/data.pkl" (PyTorch names the folder after the file, or "archive"). */
static mg_status find_pickle(const mg_zip *zip, const mg_zip_entry **entry, char *archive, size_t size,
                             mg_diag *diag)
{
    *entry = NULL;
    for (size_t i = 0; i < zip->count; i++) {
        const char *name = zip->entries[i].name;
        size_t n = strlen(name);
        if (n < 8 || strcmp(name + n - 8, "data.pkl") != 0 || (n > 8 && name[n - 9] != '/'))
            continue;
        const char *slash = strchr(name, '/');
        if (slash && slash != name + n - 9)
            continue; /* only <folder>/data.pkl or data.pkl */
        if (*entry)
            return mg_fail(diag, MG_ERR_FORMAT, "%s holds two pickles ('%.100s' and '%.100s'): not one checkpoint",
                           zip->source, (*entry)->name, name);
        if (n - 8 >= size)
            return mg_fail(diag, MG_ERR_FORMAT, "%s: archive folder name too long", zip->source);
        *entry = &zip->entries[i];
        memcpy(archive, name, n - 8);
        archive[n - 8] = '\0';
    }
    if (!*entry)
        return mg_fail(diag, MG_ERR_FORMAT, "%s is a zip archive without data.pkl: not a PyTorch checkpoint",
                       zip->source);
    return MG_OK;
}

mg_status mg_torch_read_tensors(mg_zip *zip, const mg_torch_options *options, mg_safetensors *out, mg_diag *diag)
{
    if (!zip || !out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_torch_read_tensors: NULL argument");
    memset(out, 0, sizeof *out);
    mg_torch_weights choice = options ? options->weights : MG_TORCH_WEIGHTS_AUTO;
    const char *source = zip->source;
    char archive[256];
    const mg_zip_entry *pkl_entry;
    mg_status status = find_pickle(zip, &pkl_entry, archive, sizeof archive, diag);
    if (status != MG_OK)
        return status;
    void *pkl_scratch = NULL;
    if (pkl_entry->method != 0) {
        if (pkl_entry->size > ((uint64_t)1 << 32))
            return mg_fail(diag, MG_ERR_FORMAT, "%s: data.pkl claims %llu bytes: not a state dict", source,
                           (unsigned long long)pkl_entry->size);
        pkl_scratch = malloc(pkl_entry->size ? (size_t)pkl_entry->size : 1);
        if (!pkl_scratch)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading data.pkl", source);
    }
    const uint8_t *pkl_bytes;
    mg_pickle pickle = {0};
    planned *plan = NULL;
    size_t planned_count = 0;
    uint8_t *arena = NULL;
    void **inflated = NULL; /* by entry index */
    status = mg_zip_entry_data(zip, pkl_entry, pkl_scratch, &pkl_bytes, diag);
    if (status == MG_OK)
        status = mg_pickle_load(pkl_bytes, (size_t)pkl_entry->size, source, &pickle, diag);
    picked pick = {0};
    if (status == MG_OK)
        status = pick_state_dict(pickle.root, choice, source, &pick, diag);
    size_t pairs = status == MG_OK ? pick.dict->as.seq.count / 2 : 0;
    if (status == MG_OK && !(plan = calloc(pairs ? pairs : 1, sizeof *plan)))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
    size_t strip = status == MG_OK ? strlen(pick.strip) : 0;
    size_t skipped = 0;
    for (size_t i = 0; status == MG_OK && i < pairs; i++) {
        const char *key = pick.dict->as.seq.items[2 * i]->as.text.data;
        const mg_pk_value *value = pick.dict->as.seq.items[2 * i + 1];
        if (strncmp(key, pick.strip, strip) != 0)
            continue;
        if (value->kind != MG_PK_TENSOR) {
            skipped++;
            continue;
        }
        const char *name = key + strip;
        char gamma_name[MG_ST_MAX_DIMS * 40];
        bool convert = is_old_layer_norm(name, gamma_name, sizeof gamma_name);
        planned *p = &plan[planned_count];
        status = plan_tensor(zip, archive, name, &value->as.tensor, p, diag);
        if (status != MG_OK)
            break;
        if (convert && p->tensor->dtype != MG_ST_F32 && p->tensor->dtype != MG_ST_F16 &&
            p->tensor->dtype != MG_ST_BF16 && p->tensor->dtype != MG_ST_F64) {
            status = mg_fail(diag, MG_ERR_FORMAT, "%s: LayerNorm '%.100s' is not a float tensor", source, name);
            break;
        }
        p->to_gamma = convert;
        p->name = duplicate(convert ? gamma_name : name);
        if (!p->name) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
            break;
        }
        planned_count++;
    }
    if (status == MG_OK && skipped)
        mg_log(diag, MG_LOG_INFO, "%s: %zu entries of %s are not tensors and are ignored", source, skipped, pick.what);
    size_t converted = 0;
    if (status == MG_OK) {
        qsort(plan, planned_count, sizeof *plan, compare_planned);
        for (size_t i = 1; i < planned_count && status == MG_OK; i++)
            if (strcmp(plan[i - 1].name, plan[i].name) == 0)
                status = mg_fail(diag, MG_ERR_FORMAT, "%s: tensor '%.100s' appears twice%s", source, plan[i].name,
                                 plan[i].to_gamma || plan[i - 1].to_gamma
                                     ? " (as an x-transformers < 1.31 'weight' and a newer 'gamma')"
                                     : "");
    }
    /* Bytes that cannot be used in place go to one arena: strided tensors, converted norms, inflated storages,
     * and everything when the file bytes are not ours to keep (read into memory rather than mapped). */
    bool borrow = zip->owned == NULL;
    uint64_t arena_size = 0;
    for (size_t i = 0; status == MG_OK && i < planned_count; i++) {
        planned *p = &plan[i];
        uint64_t need = p->to_gamma ? p->count * 4 : p->nbytes;
        if (borrow && p->contiguous && !p->to_gamma && p->entry->method == 0)
            continue;
        p->arena_offset = arena_size;
        arena_size += (need + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        if (p->to_gamma)
            converted++;
    }
    /* Views that overlap (stride 0, or many views of one storage) could make the copies far larger than the
     * file; an honest checkpoint copies at most about what its storages hold. */
    uint64_t storage_bytes = 0;
    bool *seen = status == MG_OK ? calloc(zip->count ? zip->count : 1, sizeof *seen) : NULL;
    if (status == MG_OK && !seen)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
    for (size_t i = 0; status == MG_OK && i < planned_count; i++) {
        size_t e = (size_t)(plan[i].entry - zip->entries);
        if (!seen[e])
            storage_bytes += plan[i].entry->size;
        seen[e] = true;
    }
    free(seen);
    if (status == MG_OK && arena_size > 2 * storage_bytes + ((uint64_t)16 << 20))
        status = mg_fail(diag, MG_ERR_FORMAT, "%s: the tensors view their storages so that copying them would take "
                         "%llu bytes from %llu stored: overlapping or broadcast views are not a state dict (save "
                         "tensors with .contiguous())", source, (unsigned long long)arena_size,
                         (unsigned long long)storage_bytes);
    if (status == MG_OK && arena_size && (arena_size > SIZE_MAX || !(arena = malloc((size_t)arena_size))))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory for %llu bytes of copied tensors", source,
                         (unsigned long long)arena_size);
    if (status == MG_OK && !(out->tensors = calloc(planned_count ? planned_count : 1, sizeof *out->tensors)))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
    for (size_t i = 0; status == MG_OK && i < planned_count; i++) {
        planned *p = &plan[i];
        const mg_pk_tensor *t = p->tensor;
        size_t elem = mg_st_dtype_size(t->dtype);
        const uint8_t *storage = NULL;
        static const uint8_t nothing[1];
        if (p->count == 0) {
            storage = nothing; /* an empty tensor reads no bytes */
        } else if (p->entry->method == 0) {
            status = mg_zip_entry_data(zip, p->entry, NULL, &storage, diag);
        } else {
            /* Each deflated storage is inflated once, however many tensors view it. */
            size_t e = (size_t)(p->entry - zip->entries);
            if (!inflated && !(inflated = calloc(zip->count, sizeof *inflated)))
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
            if (status == MG_OK && !inflated[e]) {
                inflated[e] = p->entry->size <= SIZE_MAX ? malloc(p->entry->size ? (size_t)p->entry->size : 1) : NULL;
                if (!inflated[e])
                    status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory inflating '%.100s'", source,
                                     p->name);
                else
                    status = mg_zip_entry_data(zip, p->entry, inflated[e], &storage, diag);
            } else if (status == MG_OK) {
                storage = inflated[e];
            }
        }
        mg_st_tensor *o = &out->tensors[out->count];
        if (status == MG_OK) {
            o->dtype = p->to_gamma ? MG_ST_F32 : t->dtype;
            o->ndim = t->ndim;
            memcpy(o->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
            o->count = p->count;
            o->begin = 0;
            o->end = p->to_gamma ? p->count * 4 : p->nbytes;
            if (p->count == 0) {
                o->data = storage;
            } else if (p->arena_offset == UINT64_MAX) {
                o->data = storage + (uint64_t)t->offset * elem;
            } else {
                uint8_t *dst = arena + p->arena_offset;
                if (p->to_gamma) {
                    uint8_t *dense = malloc(p->nbytes ? (size_t)p->nbytes : 1);
                    if (!dense) {
                        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", source);
                    } else {
                        gather(t, storage, elem, p->count, dense);
                        to_gamma(t->dtype, dense, p->count, (float *)(void *)dst);
                        free(dense);
                    }
                } else {
                    gather(t, storage, elem, p->count, dst);
                }
                o->data = dst;
            }
            o->name = p->name;
            p->name = NULL;
            out->count++;
            out->data_size += o->end;
        }
    }
    if (status == MG_OK && converted)
        mg_log(diag, MG_LOG_INFO, "%s: %zu x-transformers < 1.31 LayerNorm weights converted to gamma = weight - 1",
               source, converted);
    for (size_t i = 0; i < planned_count; i++)
        free(plan[i].name);
    free(plan);
    for (size_t i = 0; inflated && i < zip->count; i++)
        free(inflated[i]);
    free(inflated);
    mg_pickle_free(&pickle);
    free(pkl_scratch);
    if (status != MG_OK) {
        free(arena);
        mg_safetensors_close(out);
        return status;
    }
    out->owned = arena;
    if (zip->mapped) {
        /* The tensors point into the mapping: it now lives as long as `out`. */
        out->mapped = zip->mapped;
        out->mapped_size = zip->mapped_size;
        zip->mapped = NULL;
    }
    return MG_OK;
}

/* ---- configuration ---- */

static mg_status read_config_file(const char *path, char **text, size_t *size, bool *missing, mg_diag *diag)
{
    *text = NULL;
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            *missing = true;
            return MG_ERR_IO;
        }
        return mg_fail(diag, MG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    char *buffer = malloc(MAX_CONFIG_FILE_BYTES + 1);
    size_t n = buffer ? fread(buffer, 1, MAX_CONFIG_FILE_BYTES + 1, f) : 0;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (!buffer)
        return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
    if (failed || n > MAX_CONFIG_FILE_BYTES) {
        free(buffer);
        return mg_fail(diag, failed ? MG_ERR_IO : MG_ERR_FORMAT, failed ? "cannot read %s" : "%s is over 16 MiB: not "
                       "a model config", path);
    }
    buffer[n] = '\0';
    *text = buffer;
    *size = n;
    return MG_OK;
}

/* A bare kwargs object of MeshTransformer (a Hugging Face config.json), as opposed to MeshAutoencoder's. */
static bool looks_like_transformer_kwargs(const char *text, size_t size)
{
    cJSON *root = cJSON_ParseWithLength(text, size);
    bool transformer = false;
    static const char *const keys[] = {"attn_depth", "max_seq_len", "coarse_pre_gateloop_depth", "condition_on_text",
                                       "fine_attn_depth"};
    for (size_t i = 0; root && cJSON_IsObject(root) && i < sizeof keys / sizeof keys[0]; i++)
        transformer = transformer || cJSON_GetObjectItemCaseSensitive(root, keys[i]) != NULL;
    bool wrapped = root && cJSON_GetObjectItemCaseSensitive(root, "autoencoder_kwargs") != NULL;
    cJSON_Delete(root);
    return transformer && !wrapped;
}

static char *config_path_beside(const char *path)
{
    size_t folder = 0;
    for (size_t i = 0; path[i]; i++)
        if (path[i] == '/' || path[i] == '\\')
            folder = i + 1;
    char *out = malloc(folder + sizeof "config.json");
    if (out) {
        memcpy(out, path, folder);
        memcpy(out + folder, "config.json", sizeof "config.json");
    }
    return out;
}

static bool has_prefix(const mg_safetensors *file, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < file->count; i++)
        if (strncmp(file->tensors[i].name, prefix, n) == 0)
            return true;
    return false;
}

/* Value-residual mixers (meshgpt >= 1.7.1) change the attention math. Upstream's default attn_kwargs turn them
 * on, and passing attn_kwargs replaces that whole default dict (so a dict without the key turns them off). A
 * config.json from before 1.7.1 relies on the old default (no mixers), so the tensors decide where the kwargs
 * are silent or wrong, and the kwargs are rewritten to say what the tensors hold. */
static mg_status settle_value_residual(const mg_safetensors *file, const char *source, char **transformer_json,
                                       mg_diag *diag)
{
    bool mixers = false;
    for (size_t i = 0; i < file->count && !mixers; i++)
        mixers = strstr(file->tensors[i].name, ".to_value_residual_mix.") != NULL;
    cJSON *kwargs = cJSON_Parse(*transformer_json);
    if (!cJSON_IsObject(kwargs)) {
        cJSON_Delete(kwargs);
        return MG_OK; /* the transformer's own parser reports a bad object */
    }
    cJSON *attn = cJSON_GetObjectItemCaseSensitive(kwargs, "attn_kwargs");
    if (attn && !cJSON_IsObject(attn)) {
        cJSON_Delete(kwargs);
        return MG_OK;
    }
    const cJSON *given = attn ? cJSON_GetObjectItemCaseSensitive(attn, "add_value_residual") : NULL;
    bool says = attn ? cJSON_IsTrue(given) : true; /* no attn_kwargs: upstream 1.7.2's default, mixers on */
    mg_status status = MG_OK;
    if (says != mixers) {
        if (!attn) {
            /* The pre-1.7.1 default dict. */
            attn = cJSON_AddObjectToObject(kwargs, "attn_kwargs");
            if (attn) {
                cJSON_AddBoolToObject(attn, "ff_glu", true);
                cJSON_AddNumberToObject(attn, "attn_num_mem_kv", 4);
            }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(attn, "add_value_residual");
        cJSON_DeleteItemFromObjectCaseSensitive(attn, "learned_value_residual_mix");
        bool ok = attn && cJSON_AddBoolToObject(attn, "add_value_residual", mixers) &&
                  (!mixers || cJSON_AddBoolToObject(attn, "learned_value_residual_mix", true));
        char *printed = ok ? cJSON_PrintUnformatted(kwargs) : NULL;
        char *copy = printed ? duplicate(printed) : NULL;
        cJSON_free(printed);
        if (!copy) {
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            free(*transformer_json);
            *transformer_json = copy;
            mg_log(diag, given ? MG_LOG_WARN : MG_LOG_INFO, "%s: the transformer config %s value-residual mixers but "
                   "the checkpoint %s them%s; following the checkpoint (attn_kwargs.add_value_residual = %s)", source,
                   says ? "implies" : "has no", mixers ? "has" : "lacks",
                   mixers ? "" : " (saved before meshgpt-pytorch 1.7.1)", mixers ? "true" : "false");
        }
    }
    cJSON_Delete(kwargs);
    return status;
}

/* Where the configuration came from, in words, for `meshgpt info` (*source malloc'ed). */
static char *describe_config_source(const char *config_path, bool given, bool inferred_ae,
                                    bool inferred_transformer, bool has_transformer)
{
    static const char ae_defaults[] = "coor_continuous_range, bin_smooth_blur_sigma, commit_loss_weight, "
                                      "local_attn_window_size, linear_attn_dim_head, the LFQ soft clamp and the "
                                      "preprocessing";
    static const char tf_defaults[] = "text_condition_model_types, dropout and pad_id";
    char file[600];
    if (given)
        mg_format(file, sizeof file, "%s, given with --config", config_path);
    else
        mg_format(file, sizeof file, "config.json beside the file (%s)", config_path);
    char text[1600];
    if (!inferred_ae)
        mg_format(text, sizeof text, "%s", file);
    else if (!has_transformer)
        mg_format(text, sizeof text, "inferred from tensor shapes (defaults taken for %s)", ae_defaults);
    else if (inferred_transformer)
        mg_format(text, sizeof text, "inferred from tensor shapes (defaults taken for the autoencoder's %s; for the "
                  "transformer's %s)", ae_defaults, tf_defaults);
    else
        mg_format(text, sizeof text, "transformer from %s; autoencoder inferred from tensor shapes (defaults taken "
                  "for %s)", file, ae_defaults);
    return duplicate(text);
}

static mg_status build_config(const char *path, const mg_torch_options *options, const mg_safetensors *file,
                              mg_model_config *config, char **source, mg_diag *diag)
{
    memset(config, 0, sizeof *config);
    *source = NULL;
    bool transformer_file = has_prefix(file, "autoencoder.");
    const char *ae_prefix = transformer_file ? "autoencoder." : "";
    char *beside = NULL;
    const char *config_path = options ? options->config_path : NULL;
    if (!config_path) {
        beside = config_path_beside(path);
        if (!beside)
            return mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
        config_path = beside;
    }
    char *text = NULL;
    size_t size = 0;
    bool missing = false;
    mg_status status = read_config_file(config_path, &text, &size, &missing, diag);
    if (missing && options && options->config_path)
        status = mg_fail(diag, MG_ERR_IO, "cannot open %s: no such file", config_path);
    else if (missing)
        status = MG_OK; /* nothing beside: infer */
    bool inferred_ae = false;
    if (status == MG_OK && text && !looks_like_transformer_kwargs(text, size)) {
        status = mg_model_config_parse_kwargs_file(text, size, config_path, config, diag);
        if (status == MG_OK)
            mg_log(diag, MG_LOG_INFO, "%s: configuration from %s", path, config_path);
    } else if (status == MG_OK) {
        /* No autoencoder kwargs anywhere but in the pickled config, which only Python can read. */
        mg_ae_config_defaults(&config->autoencoder);
        status = mg_infer_ae_config(file, ae_prefix, path, &config->autoencoder, diag);
        inferred_ae = true;
        if (status == MG_OK && text) {
            cJSON *kwargs = cJSON_ParseWithLength(text, size);
            char *compact = kwargs ? cJSON_PrintUnformatted(kwargs) : NULL;
            cJSON_Delete(kwargs);
            config->has_transformer = true;
            config->transformer_json = compact ? duplicate(compact) : NULL;
            cJSON_free(compact);
            if (!config->transformer_json)
                status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
            else
                mg_log(diag, MG_LOG_INFO, "%s: transformer configuration from %s", path, config_path);
        }
    }
    bool inferred_transformer = false;
    if (status == MG_OK && transformer_file && !config->has_transformer) {
        config->has_transformer = true;
        inferred_transformer = true;
        status = mg_infer_transformer_kwargs(file, path, &config->transformer_json, diag);
    }
    if (status == MG_OK && !transformer_file && config->has_transformer) {
        /* An autoencoder saved on its own, beside a config that also describes the transformer. */
        mg_log(diag, MG_LOG_INFO, "%s holds only an autoencoder: the transformer part of %s is ignored", path,
               config_path);
        config->has_transformer = false;
        free(config->transformer_json);
        config->transformer_json = NULL;
    }
    if (status == MG_OK && config->has_transformer && config->transformer_json)
        status = settle_value_residual(file, path, &config->transformer_json, diag);
    if (status == MG_OK && inferred_ae)
        status = mg_ae_config_validate(&config->autoencoder, diag);
    if (status == MG_OK &&
        !(*source = describe_config_source(config_path, options && options->config_path, inferred_ae,
                                           inferred_transformer, config->has_transformer)))
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    free(text);
    free(beside);
    if (status != MG_OK)
        mg_model_config_free(config);
    return status;
}

mg_status mg_torch_checkpoint_open(const char *path, const mg_torch_options *options, mg_safetensors *out,
                                   mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_torch_checkpoint_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_torch_checkpoint_open: path is NULL");
    FILE *f = fopen(path, "rb");
    uint8_t head[4];
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    if (is_legacy_pickle(head, n))
        return mg_fail(diag, MG_ERR_UNSUPPORTED, "%s was saved in PyTorch's legacy format (before 1.6, or with "
                       "_use_new_zipfile_serialization=False), which is not read: load and save it again with a "
                       "current PyTorch (torch.save(torch.load(path), path))", path);
    mg_zip zip;
    mg_status status = mg_zip_open(path, &zip, diag);
    if (status != MG_OK)
        return status;
    status = mg_torch_read_tensors(&zip, options, out, diag);
    mg_zip_close(&zip);
    if (status != MG_OK)
        return status;
    mg_model_config config;
    char *source = NULL;
    status = build_config(path, options, out, &config, &source, diag);
    bool have_config = status == MG_OK;
    char *json = status == MG_OK ? mg_model_config_to_json(&config, false) : NULL;
    if (status == MG_OK && !json)
        status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
    if (status == MG_OK) {
        out->metadata = calloc(2, sizeof *out->metadata);
        char *key = duplicate(MG_MODEL_METADATA_KEY), *source_key = duplicate(MG_TORCH_CONFIG_SOURCE_KEY);
        if (!out->metadata || !key || !source_key) {
            free(key);
            free(source_key);
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            out->metadata[0] = (mg_st_metadata){key, json};
            out->metadata[1] = (mg_st_metadata){source_key, source};
            out->metadata_count = 2;
            json = NULL;
            source = NULL;
        }
    }
    free(json);
    free(source);
    if (have_config)
        mg_model_config_free(&config);
    if (status != MG_OK)
        mg_safetensors_close(out);
    return status;
}
