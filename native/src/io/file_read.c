#include "io/file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define MG_HAVE_MMAP 1
#endif

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

mg_status mg_file_bytes_open(const char *path, mg_file_bytes *out, mg_diag *diag)
{
    memset(out, 0, sizeof *out);
    mg_status status = MG_OK;
#ifdef MG_HAVE_MMAP
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return mg_fail(diag, MG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        status = mg_fail(diag, MG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        status = mg_fail(diag, MG_ERR_IO, "%s is not a regular file", path);
    } else if (st.st_size > 0) {
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            out->mapped = map;
            out->mapped_size = (size_t)st.st_size;
            out->data = map;
            out->size = (size_t)st.st_size;
        }
    }
    close(fd);
    if (status != MG_OK || out->mapped)
        return status;
#endif
    status = mg_read_whole_file(path, &out->owned, &out->size, diag);
    out->data = out->owned;
    return status;
}

void mg_file_unmap(void *mapped, size_t size)
{
#ifdef MG_HAVE_MMAP
    if (mapped)
        munmap(mapped, size);
#else
    (void)mapped;
    (void)size;
#endif
}
