#include "io/file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mg_status mg_read_whole_file(const char *path, uint8_t **data, size_t *size, mg_diag *diag)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_fail(diag, MG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    mg_status status = MG_OK;
    long length = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        length = ftell(f);
    if (length < 0 || fseek(f, 0, SEEK_SET) != 0) {
        status = mg_fail(diag, MG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    } else {
        *data = malloc(length ? (size_t)length : 1);
        if (!*data)
            status = mg_fail(diag, MG_ERR_OUT_OF_MEMORY, "%s: out of memory reading %ld bytes", path, length);
        else if (fread(*data, 1, (size_t)length, f) != (size_t)length)
            status = mg_fail(diag, MG_ERR_IO, "cannot read %s: short read", path);
    }
    fclose(f);
    if (status == MG_OK)
        *size = (size_t)length;
    return status;
}
