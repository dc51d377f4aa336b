#include "model/spec_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mg_spec_add(mg_spec_list *list, mg_weight_kind kind, bool buffer, int ndim, const int64_t *shape,
                 const char *fmt, ...)
{
    if (list->failed)
        return;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        mg_weight_spec *grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown) {
            list->failed = true;
            return;
        }
        list->items = grown;
        list->capacity = capacity;
    }
    mg_weight_spec *spec = &list->items[list->count];
    memset(spec, 0, sizeof *spec);
    int used = snprintf(spec->name, sizeof spec->name, "%s", list->prefix);
    va_list args;
    va_start(args, fmt);
    int more = used >= 0 ? vsnprintf(spec->name + used, sizeof spec->name - (size_t)used, fmt, args) : -1;
    va_end(args);
    if (used < 0 || more < 0 || (size_t)(used + more) >= sizeof spec->name) {
        list->failed = true;
        return;
    }
    spec->ndim = ndim;
    memcpy(spec->shape, shape, (size_t)ndim * sizeof *shape);
    spec->kind = kind;
    spec->buffer = buffer;
    list->count++;
}


void mg_spec_vector(mg_spec_list *l, const char *name, const char *leaf, int64_t n)
{
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 1, SHAPE(n), "%s.%s", name, leaf);
}

/* nn.Linear(in, out): weight [out, in], bias [out]. */
void mg_spec_linear(mg_spec_list *l, const char *name, int64_t out, int64_t in, bool bias)
{
    mg_spec_add(l, MG_WEIGHT_FLOAT, false, 2, SHAPE(out, in), "%s.weight", name);
    if (bias)
        mg_spec_vector(l, name, "bias", out);
}
