/* Tiny .npy reader and writer for the CLI: little-endian float32 (and float64 read), C order. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value text after 'key': in a header dict, or NULL. */
static const char *header_value(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *at = strstr(header, quoted);
    if (!at)
        return NULL;
    at = strchr(at + strlen(quoted), ':');
    if (!at)
        return NULL;
    at++;
    while (*at == ' ')
        at++;
    return at;
}

int cli_npy_read_f32(const char *path, float **out_data, size_t *out_shape, int *out_ndim, char *error,
                     size_t error_size)
{
    *out_data = NULL;
    *out_ndim = 0;
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(error, error_size, "cannot open %s", path);
        return 1;
    }
    unsigned char magic[10];
    char *header = NULL;
    float *data = NULL;
    int rc = 1;
    size_t header_length = 0;
    if (fread(magic, 1, 10, file) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0) {
        snprintf(error, error_size, "%s is not a .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    if (magic[6] == 1) {
        header_length = (size_t)magic[8] | (size_t)magic[9] << 8;
    } else if (magic[6] == 2 || magic[6] == 3) {
        unsigned char more[2];
        if (fread(more, 1, 2, file) != 2)
            goto truncated;
        header_length = (size_t)magic[8] | (size_t)magic[9] << 8 | (size_t)more[0] << 16 | (size_t)more[1] << 24;
    } else {
        snprintf(error, error_size, "%s: .npy version %d is not supported", path, magic[6]);
        goto done;
    }
    if (header_length > 1 << 20 || !(header = malloc(header_length + 1)))
        goto truncated;
    if (fread(header, 1, header_length, file) != header_length)
        goto truncated;
    header[header_length] = '\0';
    const char *descr = header_value(header, "descr");
    const char *order = header_value(header, "fortran_order");
    const char *shape = header_value(header, "shape");
    if (!descr || !order || !shape || *shape != '(') {
        snprintf(error, error_size, "%s: malformed .npy header", path);
        goto done;
    }
    const bool f32 = strncmp(descr, "'<f4'", 5) == 0, f64 = strncmp(descr, "'<f8'", 5) == 0;
    if (!f32 && !f64) {
        snprintf(error, error_size, "%s: the array must be float32 ('<f4'), not %.8s", path, descr);
        goto done;
    }
    if (strncmp(order, "False", 5) != 0) {
        snprintf(error, error_size, "%s: Fortran-ordered arrays are not supported (save a C-ordered copy)", path);
        goto done;
    }
    size_t count = 1;
    int ndim = 0;
    for (const char *p = shape + 1; *p && *p != ')';) {
        char *end;
        unsigned long long n = strtoull(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (ndim == 8) {
            snprintf(error, error_size, "%s: too many dimensions", path);
            goto done;
        }
        out_shape[ndim++] = (size_t)n;
        count *= (size_t)n;
        p = end;
    }
    const size_t element = f32 ? 4 : 8;
    unsigned char *bytes = malloc(count * element + 1);
    data = malloc((count ? count : 1) * sizeof *data);
    if (!bytes || !data) {
        free(bytes);
        snprintf(error, error_size, "%s: out of memory", path);
        goto done;
    }
    if (fread(bytes, element, count, file) != count) {
        free(bytes);
        goto truncated;
    }
    for (size_t i = 0; i < count; i++) {
        if (f32) {
            memcpy(&data[i], bytes + i * 4, 4);
        } else {
            double d;
            memcpy(&d, bytes + i * 8, 8);
            data[i] = (float)d;
        }
    }
    free(bytes);
    *out_data = data;
    *out_ndim = ndim;
    data = NULL;
    rc = 0;
    goto done;
truncated:
    snprintf(error, error_size, "%s: truncated .npy file", path);
done:
    free(header);
    free(data);
    fclose(file);
    return rc;
}

int cli_npy_write_f32(const char *path, const float *data, const size_t *shape, int ndim)
{
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        n += snprintf(header + n, sizeof header - (size_t)n, "%zu%s", shape[d], ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
        count *= shape[d];
    }
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    /* Magic (6) + version (2) + length (2) + header + spaces + '\n' is a multiple of 64. */
    while ((10 + n + 1) % 64 != 0)
        header[n++] = ' ';
    header[n++] = '\n';
    FILE *file = fopen(path, "wb");
    if (!file)
        return 1;
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff),
                                (unsigned char)(n >> 8)};
    bool ok = fwrite(prefix, 1, 10, file) == 10 && fwrite(header, 1, (size_t)n, file) == (size_t)n &&
              fwrite(data, sizeof(float), count, file) == count;
    ok = fclose(file) == 0 && ok;
    return ok ? 0 : 1;
}
