/*
 * A pickle interpreter that only builds data. Opcodes follow Python's
 * pickletools documentation (protocols 0-5 for the binary opcodes torch.save
 * emits); every length is checked against the bytes left, every memo index
 * against what was stored, every stack pop against the stack.
 */
#include "io/torch_pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GLOBAL_PART 128

typedef struct machine {
    const uint8_t *start, *p, *end;
    const char *source;
    mg_diag *diag;
    mg_pk_value **stack;
    size_t depth, stack_capacity;
    mg_pk_value **memo;
    size_t memo_capacity, memo_used;
    mg_pk_value *arena;
    size_t opcode_at; /* offset of the opcode being run, for messages */
} machine;

static mg_pk_value mark_value = {.kind = MG_PK_MARK};

const char *mg_pk_kind_name(mg_pk_kind kind)
{
    static const char *const names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                        "global", "storage", "tensor", "mark"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static mg_status fail_at(machine *m, mg_status status, const char *what)
{
    return mg_fail(m->diag, status, "%s: pickle byte %zu: %s", m->source, m->opcode_at, what);
}

static mg_status corrupt(machine *m, const char *what)
{
    char text[256];
    mg_format(text, sizeof text, "%s: the checkpoint's data.pkl is corrupt", what);
    return fail_at(m, MG_ERR_FORMAT, text);
}

static mg_pk_value *new_value(machine *m, mg_pk_kind kind)
{
    mg_pk_value *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->kind = kind;
    v->arena_next = m->arena;
    m->arena = v;
    return v;
}

static void free_arena(mg_pk_value *v)
{
    while (v) {
        mg_pk_value *next = v->arena_next;
        if (v->kind == MG_PK_STRING || v->kind == MG_PK_BYTES)
            free(v->as.text.data);
        else if (v->kind == MG_PK_TUPLE || v->kind == MG_PK_LIST || v->kind == MG_PK_DICT)
            free(v->as.seq.items);
        free(v);
        v = next;
    }
}

void mg_pickle_free(mg_pickle *pickle)
{
    if (!pickle)
        return;
    free_arena(pickle->arena);
    pickle->arena = NULL;
    pickle->root = NULL;
}

static mg_status out_of_memory(machine *m)
{
    return mg_fail(m->diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading the pickle", m->source);
}

static mg_status push(machine *m, mg_pk_value *v)
{
    if (!v)
        return out_of_memory(m);
    if (m->depth == m->stack_capacity) {
        size_t capacity = m->stack_capacity ? m->stack_capacity * 2 : 64;
        mg_pk_value **grown = realloc(m->stack, capacity * sizeof *grown);
        if (!grown)
            return out_of_memory(m);
        m->stack = grown;
        m->stack_capacity = capacity;
    }
    m->stack[m->depth++] = v;
    return MG_OK;
}

/* The top value (not a mark), or NULL after recording an error. */
static mg_pk_value *pop(machine *m, mg_status *status)
{
    if (m->depth == 0 || m->stack[m->depth - 1]->kind == MG_PK_MARK) {
        *status = corrupt(m, "an opcode needs a value but the stack is empty");
        return NULL;
    }
    return m->stack[--m->depth];
}

static mg_pk_value *top(machine *m, mg_status *status)
{
    if (m->depth == 0 || m->stack[m->depth - 1]->kind == MG_PK_MARK) {
        *status = corrupt(m, "an opcode needs a value but the stack is empty");
        return NULL;
    }
    return m->stack[m->depth - 1];
}

/* Index of the topmost mark; the values above it are stack[mark + 1 .. depth). */
static bool find_mark(machine *m, size_t *mark)
{
    for (size_t i = m->depth; i-- > 0;) {
        if (m->stack[i]->kind == MG_PK_MARK) {
            *mark = i;
            return true;
        }
    }
    return false;
}

static mg_status seq_append(machine *m, mg_pk_value *seq, mg_pk_value *item)
{
    if (seq->as.seq.count == seq->as.seq.capacity) {
        size_t capacity = seq->as.seq.capacity ? seq->as.seq.capacity * 2 : 4;
        mg_pk_value **grown = realloc(seq->as.seq.items, capacity * sizeof *grown);
        if (!grown)
            return out_of_memory(m);
        seq->as.seq.items = grown;
        seq->as.seq.capacity = capacity;
    }
    seq->as.seq.items[seq->as.seq.count++] = item;
    return MG_OK;
}

static bool take(machine *m, size_t n, const uint8_t **bytes)
{
    if ((size_t)(m->end - m->p) < n)
        return false;
    *bytes = m->p;
    m->p += n;
    return true;
}

static uint64_t read_le(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | b[i];
    return v;
}

/* ---- values ---- */

static mg_status push_text(machine *m, mg_pk_kind kind, uint64_t length)
{
    const uint8_t *bytes;
    if (length > (uint64_t)(m->end - m->p) || !take(m, (size_t)length, &bytes))
        return corrupt(m, "a string runs past the end of the pickle");
    mg_pk_value *v = new_value(m, kind);
    char *copy = v ? malloc((size_t)length + 1) : NULL;
    if (!copy)
        return out_of_memory(m);
    memcpy(copy, bytes, (size_t)length);
    copy[length] = '\0';
    v->as.text.data = copy;
    v->as.text.size = (size_t)length;
    return push(m, v);
}

static mg_status push_int(machine *m, int64_t value)
{
    mg_pk_value *v = new_value(m, MG_PK_INT);
    if (v)
        v->as.integer = value;
    return push(m, v);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes; at most 64 bits are kept. */
static mg_status push_long(machine *m, uint64_t n)
{
    const uint8_t *bytes;
    if (n > (uint64_t)(m->end - m->p) || !take(m, (size_t)n, &bytes))
        return corrupt(m, "an integer runs past the end of the pickle");
    if (n > 8)
        return fail_at(m, MG_ERR_UNSUPPORTED, "an integer wider than 64 bits (not something a state dict holds)");
    uint64_t bits = read_le(bytes, (size_t)n);
    if (n > 0 && n < 8 && (bytes[n - 1] & 0x80))
        bits |= ~0ull << (8 * n); /* sign-extend */
    int64_t value;
    memcpy(&value, &bits, sizeof value);
    return push_int(m, value);
}

/* Values above the topmost mark become a new tuple or list; the mark goes. */
static mg_status collect(machine *m, mg_pk_kind kind)
{
    size_t mark;
    if (!find_mark(m, &mark))
        return corrupt(m, "a tuple or list without its MARK");
    mg_pk_value *v = new_value(m, kind);
    if (!v)
        return out_of_memory(m);
    for (size_t i = mark + 1; i < m->depth; i++) {
        mg_status status = seq_append(m, v, m->stack[i]);
        if (status != MG_OK)
            return status;
    }
    m->depth = mark;
    return push(m, v);
}

static mg_status small_tuple(machine *m, size_t n)
{
    if (m->depth < n)
        return corrupt(m, "a tuple of more values than the stack holds");
    for (size_t i = m->depth - n; i < m->depth; i++)
        if (m->stack[i]->kind == MG_PK_MARK)
            return corrupt(m, "a tuple would swallow a MARK");
    mg_pk_value *v = new_value(m, MG_PK_TUPLE);
    if (!v)
        return out_of_memory(m);
    for (size_t i = m->depth - n; i < m->depth; i++) {
        mg_status status = seq_append(m, v, m->stack[i]);
        if (status != MG_OK)
            return status;
    }
    m->depth -= n;
    return push(m, v);
}

/* APPENDS / SETITEMS: the values above the mark go into the container below it. */
static mg_status extend(machine *m, bool dict)
{
    size_t mark;
    if (!find_mark(m, &mark) || mark == 0)
        return corrupt(m, "APPENDS or SETITEMS without its MARK or container");
    mg_pk_value *target = m->stack[mark - 1];
    if (target->kind != (dict ? MG_PK_DICT : MG_PK_LIST))
        return corrupt(m, dict ? "SETITEMS on something that is not a dict" : "APPENDS on something that is not a list");
    size_t n = m->depth - mark - 1;
    if (dict && n % 2)
        return corrupt(m, "SETITEMS with a key but no value");
    for (size_t i = mark + 1; i < m->depth; i++) {
        mg_status status = seq_append(m, target, m->stack[i]);
        if (status != MG_OK)
            return status;
    }
    m->depth = mark;
    return MG_OK;
}

/* ---- globals ---- */

static const struct {
    const char *module, *name;
    mg_pk_global which;
    mg_st_dtype dtype;
} known_globals[] = {
    {"collections", "OrderedDict", MG_PK_G_ORDERED_DICT, MG_ST_F32},
    {"torch._utils", "_rebuild_tensor_v2", MG_PK_G_REBUILD_TENSOR_V2, MG_ST_F32},
    {"torch._utils", "_rebuild_tensor_v3", MG_PK_G_REBUILD_TENSOR_V3, MG_ST_F32},
    {"torch._utils", "_rebuild_parameter", MG_PK_G_REBUILD_PARAMETER, MG_ST_F32},
    {"_codecs", "encode", MG_PK_G_CODECS_ENCODE, MG_ST_F32},
    {"__builtin__", "bytes", MG_PK_G_BYTES, MG_ST_F32}, /* protocol 2 writes b"" as bytes() */
    {"builtins", "bytes", MG_PK_G_BYTES, MG_ST_F32},
    {"torch", "FloatStorage", MG_PK_G_STORAGE_TYPE, MG_ST_F32},
    {"torch", "HalfStorage", MG_PK_G_STORAGE_TYPE, MG_ST_F16},
    {"torch", "BFloat16Storage", MG_PK_G_STORAGE_TYPE, MG_ST_BF16},
    {"torch", "DoubleStorage", MG_PK_G_STORAGE_TYPE, MG_ST_F64},
    {"torch", "LongStorage", MG_PK_G_STORAGE_TYPE, MG_ST_I64},
    {"torch", "IntStorage", MG_PK_G_STORAGE_TYPE, MG_ST_I32},
    {"torch", "ShortStorage", MG_PK_G_STORAGE_TYPE, MG_ST_I16},
    {"torch", "CharStorage", MG_PK_G_STORAGE_TYPE, MG_ST_I8},
    {"torch", "ByteStorage", MG_PK_G_STORAGE_TYPE, MG_ST_U8},
    {"torch", "BoolStorage", MG_PK_G_STORAGE_TYPE, MG_ST_BOOL},
    {"torch", "UntypedStorage", MG_PK_G_STORAGE_TYPE, MG_ST_U8},
    {"torch", "float32", MG_PK_G_DTYPE, MG_ST_F32},
    {"torch", "float", MG_PK_G_DTYPE, MG_ST_F32},
    {"torch", "float16", MG_PK_G_DTYPE, MG_ST_F16},
    {"torch", "half", MG_PK_G_DTYPE, MG_ST_F16},
    {"torch", "bfloat16", MG_PK_G_DTYPE, MG_ST_BF16},
    {"torch", "float64", MG_PK_G_DTYPE, MG_ST_F64},
    {"torch", "double", MG_PK_G_DTYPE, MG_ST_F64},
    {"torch", "int64", MG_PK_G_DTYPE, MG_ST_I64},
    {"torch", "long", MG_PK_G_DTYPE, MG_ST_I64},
    {"torch", "int32", MG_PK_G_DTYPE, MG_ST_I32},
    {"torch", "int", MG_PK_G_DTYPE, MG_ST_I32},
    {"torch", "int16", MG_PK_G_DTYPE, MG_ST_I16},
    {"torch", "int8", MG_PK_G_DTYPE, MG_ST_I8},
    {"torch", "uint8", MG_PK_G_DTYPE, MG_ST_U8},
    {"torch", "bool", MG_PK_G_DTYPE, MG_ST_BOOL},
};

static mg_status push_global(machine *m, const char *module, size_t module_len, const char *name, size_t name_len)
{
    for (size_t i = 0; i < sizeof known_globals / sizeof known_globals[0]; i++) {
        if (strlen(known_globals[i].module) != module_len || memcmp(known_globals[i].module, module, module_len) ||
            strlen(known_globals[i].name) != name_len || memcmp(known_globals[i].name, name, name_len))
            continue;
        mg_pk_value *v = new_value(m, MG_PK_GLOBAL);
        if (!v)
            return out_of_memory(m);
        v->as.global.which = known_globals[i].which;
        v->as.global.dtype = known_globals[i].dtype;
        mg_format(v->as.global.name, sizeof v->as.global.name, "%s.%s", known_globals[i].module,
                  known_globals[i].name);
        return push(m, v);
    }
    /* Print only safe characters of the refused name. */
    char shown[2 * MAX_GLOBAL_PART + 2];
    size_t o = 0;
    for (size_t i = 0; i < module_len + 1 + name_len && o + 1 < sizeof shown; i++) {
        char c = i < module_len ? module[i] : i == module_len ? '.' : name[i - module_len - 1];
        shown[o++] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    shown[o] = '\0';
    return mg_fail(m->diag, MG_ERR_UNSUPPORTED, "%s: pickle byte %zu: the checkpoint refers to '%s', which is not one "
                   "of the constructors a PyTorch state dict uses (collections.OrderedDict, torch._utils._rebuild_"
                   "tensor_v2/_v3, torch.*Storage, _codecs.encode, bytes); refusing it, nothing was executed. Save the "
                   "model's state_dict() (or model.save()) instead of arbitrary Python objects", m->source,
                   m->opcode_at, shown);
}

/* GLOBAL: "module\nname\n" */
static mg_status op_global(machine *m)
{
    const char *parts[2];
    size_t lengths[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *line = m->p;
        const uint8_t *nl = memchr(line, '\n', (size_t)(m->end - m->p));
        if (!nl)
            return corrupt(m, "GLOBAL without its two lines");
        if ((size_t)(nl - line) > MAX_GLOBAL_PART)
            return corrupt(m, "GLOBAL with an overlong name");
        parts[k] = (const char *)line;
        lengths[k] = (size_t)(nl - line);
        m->p = nl + 1;
    }
    return push_global(m, parts[0], lengths[0], parts[1], lengths[1]);
}

static mg_status op_stack_global(machine *m)
{
    mg_status status = MG_OK;
    mg_pk_value *name = pop(m, &status);
    mg_pk_value *module = name ? pop(m, &status) : NULL;
    if (!module)
        return status;
    if (name->kind != MG_PK_STRING || module->kind != MG_PK_STRING)
        return corrupt(m, "STACK_GLOBAL needs two strings");
    if (module->as.text.size > MAX_GLOBAL_PART || name->as.text.size > MAX_GLOBAL_PART)
        return corrupt(m, "STACK_GLOBAL with an overlong name");
    return push_global(m, module->as.text.data, module->as.text.size, name->as.text.data, name->as.text.size);
}

/* ---- calls (REDUCE) ---- */

static bool int_tuple(const mg_pk_value *v, int64_t *out, int *n)
{
    if (!v || v->kind != MG_PK_TUPLE || v->as.seq.count > MG_PK_MAX_DIMS)
        return false;
    for (size_t i = 0; i < v->as.seq.count; i++) {
        if (v->as.seq.items[i]->kind != MG_PK_INT)
            return false;
        out[i] = v->as.seq.items[i]->as.integer;
    }
    *n = (int)v->as.seq.count;
    return true;
}

static mg_status rebuild_tensor(machine *m, const mg_pk_value *fn, const mg_pk_value *args)
{
    size_t n = args->as.seq.count;
    mg_pk_value *const *a = args->as.seq.items;
    bool v3 = fn->as.global.which == MG_PK_G_REBUILD_TENSOR_V3;
    if (n < (v3 ? 7u : 6u) || n > (v3 ? 8u : 7u))
        return corrupt(m, v3 ? "_rebuild_tensor_v3 with the wrong number of arguments"
                             : "_rebuild_tensor_v2 with the wrong number of arguments");
    if (a[0]->kind != MG_PK_STORAGE || a[1]->kind != MG_PK_INT)
        return corrupt(m, "a tensor whose storage or offset is not one");
    mg_pk_value *v = new_value(m, MG_PK_TENSOR);
    if (!v)
        return out_of_memory(m);
    mg_pk_tensor *t = &v->as.tensor;
    int stride_n = -1;
    if (!int_tuple(a[2], t->shape, &t->ndim) || !int_tuple(a[3], t->stride, &stride_n) || stride_n != t->ndim)
        return corrupt(m, "a tensor whose size and stride are not matching tuples of at most 8 integers");
    t->storage = a[0];
    t->offset = a[1]->as.integer;
    t->dtype = a[0]->as.storage.dtype;
    if (v3) {
        if (a[6]->kind != MG_PK_GLOBAL || a[6]->as.global.which != MG_PK_G_DTYPE)
            return corrupt(m, "_rebuild_tensor_v3 without a dtype");
        t->dtype = a[6]->as.global.dtype;
    }
    return push(m, v);
}

/* _codecs.encode(text, 'latin1'): Python 2 byte strings pickled as text; each code point is one byte. */
static mg_status codecs_encode(machine *m, const mg_pk_value *args)
{
    if (args->as.seq.count != 2 || args->as.seq.items[0]->kind != MG_PK_STRING ||
        args->as.seq.items[1]->kind != MG_PK_STRING)
        return corrupt(m, "_codecs.encode needs (str, encoding)");
    const char *encoding = args->as.seq.items[1]->as.text.data;
    if (strcmp(encoding, "latin1") != 0 && strcmp(encoding, "latin-1") != 0)
        return fail_at(m, MG_ERR_UNSUPPORTED, "_codecs.encode with an encoding other than latin1");
    const mg_pk_value *text = args->as.seq.items[0];
    mg_pk_value *v = new_value(m, MG_PK_BYTES);
    uint8_t *bytes = v ? malloc(text->as.text.size + 1) : NULL;
    if (!bytes)
        return out_of_memory(m);
    v->as.text.data = (char *)bytes;
    size_t o = 0;
    const uint8_t *s = (const uint8_t *)text->as.text.data;
    for (size_t i = 0; i < text->as.text.size; i++) {
        if (s[i] < 0x80) {
            bytes[o++] = s[i];
        } else if ((s[i] == 0xC2 || s[i] == 0xC3) && i + 1 < text->as.text.size && (s[i + 1] & 0xC0) == 0x80) {
            bytes[o++] = (uint8_t)((s[i] & 0x1F) << 6 | (s[i + 1] & 0x3F));
            i++;
        } else {
            return corrupt(m, "_codecs.encode of text that is not latin1");
        }
    }
    bytes[o] = '\0';
    v->as.text.size = o;
    return push(m, v);
}

static mg_status op_reduce(machine *m)
{
    mg_status status = MG_OK;
    mg_pk_value *args = pop(m, &status);
    mg_pk_value *fn = args ? pop(m, &status) : NULL;
    if (!fn)
        return status;
    if (args->kind != MG_PK_TUPLE)
        return corrupt(m, "REDUCE whose arguments are not a tuple");
    if (fn->kind != MG_PK_GLOBAL)
        return corrupt(m, "REDUCE calls something that is not a known constructor");
    switch (fn->as.global.which) {
    case MG_PK_G_ORDERED_DICT:
        if (args->as.seq.count != 0)
            return fail_at(m, MG_ERR_UNSUPPORTED, "OrderedDict built from arguments (torch.save never writes that)");
        return push(m, new_value(m, MG_PK_DICT));
    case MG_PK_G_REBUILD_TENSOR_V2:
    case MG_PK_G_REBUILD_TENSOR_V3:
        return rebuild_tensor(m, fn, args);
    case MG_PK_G_REBUILD_PARAMETER:
        /* nn.Parameter(data, requires_grad, hooks): the data is what matters. */
        if (args->as.seq.count != 3 || args->as.seq.items[0]->kind != MG_PK_TENSOR)
            return corrupt(m, "_rebuild_parameter needs (tensor, requires_grad, hooks)");
        return push(m, args->as.seq.items[0]);
    case MG_PK_G_CODECS_ENCODE:
        return codecs_encode(m, args);
    case MG_PK_G_BYTES: {
        if (args->as.seq.count != 0)
            return fail_at(m, MG_ERR_UNSUPPORTED, "bytes() with arguments (torch.save writes only bytes())");
        mg_pk_value *v = new_value(m, MG_PK_BYTES);
        char *empty = v ? calloc(1, 1) : NULL;
        if (!empty)
            return out_of_memory(m);
        v->as.text.data = empty;
        return push(m, v);
    }
    case MG_PK_G_STORAGE_TYPE:
    case MG_PK_G_DTYPE:
        break;
    }
    char text[160];
    mg_format(text, sizeof text, "'%s' is called, which a state dict never does", fn->as.global.name);
    return fail_at(m, MG_ERR_UNSUPPORTED, text);
}

/* BUILD sets an object's state: OrderedDict's (_metadata) and tensors' are not needed. */
static mg_status op_build(machine *m)
{
    mg_status status = MG_OK;
    mg_pk_value *state = pop(m, &status);
    mg_pk_value *target = state ? top(m, &status) : NULL;
    if (!target)
        return status;
    if (target->kind != MG_PK_DICT && target->kind != MG_PK_TENSOR)
        return corrupt(m, "BUILD on something that is neither a dict nor a tensor");
    return MG_OK;
}

/* BINPERSID: ('storage', storage type, key, location, numel) */
static mg_status op_persistent_id(machine *m)
{
    mg_status status = MG_OK;
    mg_pk_value *pid = pop(m, &status);
    if (!pid)
        return status;
    mg_pk_value *const *a = pid->kind == MG_PK_TUPLE ? pid->as.seq.items : NULL;
    if (!a || pid->as.seq.count != 5 || a[0]->kind != MG_PK_STRING || strcmp(a[0]->as.text.data, "storage") != 0)
        return fail_at(m, MG_ERR_UNSUPPORTED, "a persistent id that is not a torch storage ('storage', type, key, "
                       "location, numel)");
    if (a[1]->kind != MG_PK_GLOBAL || a[1]->as.global.which != MG_PK_G_STORAGE_TYPE || a[2]->kind != MG_PK_STRING ||
        a[2]->as.text.size == 0 || strlen(a[2]->as.text.data) != a[2]->as.text.size || a[4]->kind != MG_PK_INT ||
        a[4]->as.integer < 0)
        return corrupt(m, "a storage reference without a storage type, key or element count");
    mg_pk_value *v = new_value(m, MG_PK_STORAGE);
    if (!v)
        return out_of_memory(m);
    v->as.storage.key = a[2]->as.text.data;
    v->as.storage.dtype = a[1]->as.global.dtype;
    v->as.storage.numel = a[4]->as.integer;
    return push(m, v);
}

/* ---- memo ---- */

static mg_status memo_put(machine *m, uint64_t index)
{
    mg_status status = MG_OK;
    mg_pk_value *v = top(m, &status);
    if (!v)
        return status;
    /* Indices count up from 0; more than one per byte of pickle cannot be honest. */
    if (index > (uint64_t)(m->end - m->start))
        return corrupt(m, "a memo index beyond anything the pickle can hold");
    if (index >= m->memo_capacity) {
        size_t capacity = m->memo_capacity ? m->memo_capacity : 64;
        while (capacity <= index)
            capacity *= 2;
        mg_pk_value **grown = realloc(m->memo, capacity * sizeof *grown);
        if (!grown)
            return out_of_memory(m);
        memset(grown + m->memo_capacity, 0, (capacity - m->memo_capacity) * sizeof *grown);
        m->memo = grown;
        m->memo_capacity = capacity;
    }
    m->memo_used += m->memo[index] == NULL;
    m->memo[index] = v;
    return MG_OK;
}

static mg_status memo_get(machine *m, uint64_t index)
{
    if (index >= m->memo_capacity || !m->memo[index])
        return corrupt(m, "a memo lookup of an index never stored");
    return push(m, m->memo[index]);
}

/* ---- the loop ---- */

static mg_status step(machine *m, bool *stopped, const mg_pk_value **result)
{
    m->opcode_at = (size_t)(m->p - m->start);
    const uint8_t *arg;
    uint8_t op = *m->p++;
    mg_status status = MG_OK;
#define NEED(n)                                                                                                    \
    do {                                                                                                           \
        if (!take(m, (n), &arg))                                                                                   \
            return corrupt(m, "an opcode's argument runs past the end of the pickle");                           \
    } while (0)
    switch (op) {
    case 0x80: /* PROTO */
        NEED(1);
        if (arg[0] > 5)
            return fail_at(m, MG_ERR_UNSUPPORTED, "pickle protocol above 5");
        return MG_OK;
    case 0x95: /* FRAME: a length hint */
        NEED(8);
        return MG_OK;
    case '.': { /* STOP */
        mg_pk_value *v = pop(m, &status);
        if (!v)
            return status;
        *result = v;
        *stopped = true;
        return MG_OK;
    }
    case '(': /* MARK */
        return push(m, &mark_value);
    case '0': /* POP */
        if (m->depth == 0)
            return corrupt(m, "POP on an empty stack");
        m->depth--;
        return MG_OK;
    case '1': { /* POP_MARK */
        size_t mark;
        if (!find_mark(m, &mark))
            return corrupt(m, "POP_MARK without a MARK");
        m->depth = mark;
        return MG_OK;
    }
    case '2': { /* DUP */
        mg_pk_value *v = top(m, &status);
        return v ? push(m, v) : status;
    }
    case 'N':
        return push(m, new_value(m, MG_PK_NONE));
    case 0x88: /* NEWTRUE */
    case 0x89: { /* NEWFALSE */
        mg_pk_value *v = new_value(m, MG_PK_BOOL);
        if (v)
            v->as.boolean = op == 0x88;
        return push(m, v);
    }
    case 'J': /* BININT */
        NEED(4);
        return push_int(m, (int32_t)(uint32_t)read_le(arg, 4));
    case 'K': /* BININT1 */
        NEED(1);
        return push_int(m, arg[0]);
    case 'M': /* BININT2 */
        NEED(2);
        return push_int(m, (int64_t)read_le(arg, 2));
    case 0x8a: /* LONG1 */
        NEED(1);
        return push_long(m, arg[0]);
    case 0x8b: /* LONG4 */
        NEED(4);
        return push_long(m, read_le(arg, 4));
    case 'G': { /* BINFLOAT: big-endian double */
        NEED(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = bits << 8 | arg[i];
        mg_pk_value *v = new_value(m, MG_PK_FLOAT);
        if (v)
            memcpy(&v->as.real, &bits, sizeof bits);
        return push(m, v);
    }
    case 'X': /* BINUNICODE */
        NEED(4);
        return push_text(m, MG_PK_STRING, read_le(arg, 4));
    case 0x8c: /* SHORT_BINUNICODE */
        NEED(1);
        return push_text(m, MG_PK_STRING, arg[0]);
    case 0x8d: /* BINUNICODE8 */
        NEED(8);
        return push_text(m, MG_PK_STRING, read_le(arg, 8));
    case 'B': /* BINBYTES */
        NEED(4);
        return push_text(m, MG_PK_BYTES, read_le(arg, 4));
    case 'C': /* SHORT_BINBYTES */
        NEED(1);
        return push_text(m, MG_PK_BYTES, arg[0]);
    case 0x8e: /* BINBYTES8 */
        NEED(8);
        return push_text(m, MG_PK_BYTES, read_le(arg, 8));
    case '}': /* EMPTY_DICT */
        return push(m, new_value(m, MG_PK_DICT));
    case ']': /* EMPTY_LIST */
        return push(m, new_value(m, MG_PK_LIST));
    case ')': /* EMPTY_TUPLE */
        return push(m, new_value(m, MG_PK_TUPLE));
    case 't': /* TUPLE */
        return collect(m, MG_PK_TUPLE);
    case 'l': /* LIST */
        return collect(m, MG_PK_LIST);
    case 'd': { /* DICT */
        size_t mark;
        if (find_mark(m, &mark) && (m->depth - mark - 1) % 2)
            return corrupt(m, "DICT with a key but no value");
        return collect(m, MG_PK_DICT);
    }
    case 0x85: /* TUPLE1 */
        return small_tuple(m, 1);
    case 0x86: /* TUPLE2 */
        return small_tuple(m, 2);
    case 0x87: /* TUPLE3 */
        return small_tuple(m, 3);
    case 'a': { /* APPEND */
        mg_pk_value *v = pop(m, &status);
        mg_pk_value *list = v ? top(m, &status) : NULL;
        if (!list)
            return status;
        if (list->kind != MG_PK_LIST)
            return corrupt(m, "APPEND on something that is not a list");
        return seq_append(m, list, v);
    }
    case 'e': /* APPENDS */
        return extend(m, false);
    case 's': { /* SETITEM */
        mg_pk_value *v = pop(m, &status);
        mg_pk_value *k = v ? pop(m, &status) : NULL;
        mg_pk_value *dict = k ? top(m, &status) : NULL;
        if (!dict)
            return status;
        if (dict->kind != MG_PK_DICT)
            return corrupt(m, "SETITEM on something that is not a dict");
        status = seq_append(m, dict, k);
        return status == MG_OK ? seq_append(m, dict, v) : status;
    }
    case 'u': /* SETITEMS */
        return extend(m, true);
    case 'c': /* GLOBAL */
        return op_global(m);
    case 0x93: /* STACK_GLOBAL */
        return op_stack_global(m);
    case 'R': /* REDUCE */
        return op_reduce(m);
    case 'b': /* BUILD */
        return op_build(m);
    case 'Q': /* BINPERSID */
        return op_persistent_id(m);
    case 'q': /* BINPUT */
        NEED(1);
        return memo_put(m, arg[0]);
    case 'r': /* LONG_BINPUT */
        NEED(4);
        return memo_put(m, read_le(arg, 4));
    case 0x94: /* MEMOIZE: the next index is the number stored so far */
        return memo_put(m, m->memo_used);
    case 'h': /* BINGET */
        NEED(1);
        return memo_get(m, arg[0]);
    case 'j': /* LONG_BINGET */
        NEED(4);
        return memo_get(m, read_le(arg, 4));
    default:
        break;
    }
#undef NEED
    char text[160];
    mg_format(text, sizeof text, "opcode 0x%02x is not one torch.save writes for state dicts (objects other than "
              "tensors and plain containers are refused)", op);
    return fail_at(m, MG_ERR_UNSUPPORTED, text);
}

mg_status mg_pickle_load(const void *bytes, size_t size, const char *source, mg_pickle *out, mg_diag *diag)
{
    if (!out)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_pickle_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && size)
        return mg_fail(diag, MG_ERR_INVALID_ARGUMENT, "mg_pickle_load: bytes is NULL");
    machine m = {.start = bytes, .p = bytes, .end = (const uint8_t *)bytes + size,
                 .source = source ? source : "pickle", .diag = diag};
    mg_status status = MG_OK;
    bool stopped = false;
    const mg_pk_value *result = NULL;
    while (status == MG_OK && !stopped) {
        if (m.p == m.end) {
            m.opcode_at = size;
            status = corrupt(&m, "the pickle ends without STOP (truncated)");
            break;
        }
        status = step(&m, &stopped, &result);
    }
    free(m.stack);
    free(m.memo);
    if (status != MG_OK) {
        free_arena(m.arena);
        return status;
    }
    out->root = result;
    out->arena = m.arena;
    return MG_OK;
}

const mg_pk_value *mg_pk_dict_get(const mg_pk_value *dict, const char *key)
{
    if (!dict || dict->kind != MG_PK_DICT || !key)
        return NULL;
    for (size_t i = dict->as.seq.count / 2; i-- > 0;) {
        const mg_pk_value *k = dict->as.seq.items[2 * i];
        if (k->kind == MG_PK_STRING && strcmp(k->as.text.data, key) == 0)
            return dict->as.seq.items[2 * i + 1];
    }
    return NULL;
}
