#include "test_npy.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *test_fixture_path(const char *relative) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", MG_FIXTURE_DIR, relative);
    return path;
}

/* The header is a Python dict literal: read descr, fortran_order and shape from it. */
static void parse_header(const char *header, test_npy *out, const char *name) {
    const char *descr = strstr(header, "'descr': '");
    cr_assert_not_null(descr, "%s: no descr", name);
    descr += strlen("'descr': '");
    if (strncmp(descr, "<f4", 3) == 0) {
        out->dtype = 'f';
    } else if (strncmp(descr, "<i8", 3) == 0) {
        out->dtype = 'i';
    } else if (strncmp(descr, "|b1", 3) == 0) {
        out->dtype = 'b';
    } else {
        cr_assert_fail("%s: unsupported dtype %.4s", name, descr);
    }
    cr_assert_null(strstr(header, "'fortran_order': True"), "%s: Fortran order", name);
    const char *shape = strstr(header, "'shape': (");
    cr_assert_not_null(shape, "%s: no shape", name);
    shape += strlen("'shape': (");
    out->ndim = 0;
    out->count = 1;
    while (*shape && *shape != ')') {
        char *end = NULL;
        long long dim = strtoll(shape, &end, 10);
        if (end == shape) {
            shape++;
            continue;
        }
        cr_assert_lt(out->ndim, 8);
        out->shape[out->ndim++] = dim;
        out->count *= (size_t)dim;
        shape = end;
    }
}

test_npy test_npy_load(const char *name) {
    char relative[256];
    snprintf(relative, sizeof relative, "meshgpt-pytorch-a/cases/%s.npy", name);
    const char *path = test_fixture_path(relative);
    FILE *file = fopen(path, "rb");
    cr_assert_not_null(file, "cannot open %s", path);
    unsigned char magic[10];
    cr_assert_eq(fread(magic, 1, 10, file), 10);
    cr_assert(memcmp(magic, "\x93NUMPY", 6) == 0, "%s: not an npy file", path);
    size_t header_len;
    if (magic[6] == 1) {
        header_len = (size_t)magic[8] | ((size_t)magic[9] << 8);
    } else {
        unsigned char extra[2];
        cr_assert_eq(fread(extra, 1, 2, file), 2);
        header_len = (size_t)magic[8] | ((size_t)magic[9] << 8) | ((size_t)extra[0] << 16) | ((size_t)extra[1] << 24);
    }
    char *header = calloc(header_len + 1, 1);
    cr_assert_eq(fread(header, 1, header_len, file), header_len);
    test_npy out = {0};
    parse_header(header, &out, path);
    free(header);
    if (out.dtype == 'f') {
        out.f32 = malloc(out.count * sizeof(float) + 1);
        cr_assert_eq(fread(out.f32, sizeof(float), out.count, file), out.count, "%s: truncated", path);
    } else if (out.dtype == 'i') {
        out.i64 = malloc(out.count * sizeof(int64_t) + 1);
        cr_assert_eq(fread(out.i64, sizeof(int64_t), out.count, file), out.count, "%s: truncated", path);
    } else {
        unsigned char *bytes = malloc(out.count + 1);
        cr_assert_eq(fread(bytes, 1, out.count, file), out.count, "%s: truncated", path);
        out.i64 = malloc(out.count * sizeof(int64_t) + 1);
        for (size_t i = 0; i < out.count; i++) {
            out.i64[i] = bytes[i] != 0;
        }
        free(bytes);
    }
    fclose(file);
    return out;
}

void test_npy_free(test_npy *array) {
    free(array->f32);
    free(array->i64);
    array->f32 = NULL;
    array->i64 = NULL;
}
