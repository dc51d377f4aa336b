/*
 * Reads the .npy arrays meshgpt-pytorch wrote (tests/fixtures): little-endian
 * float32, int64 or bool, C order. Integers come back as int64, bools as 0/1.
 */
#ifndef MG_TEST_NPY_H
#define MG_TEST_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_npy {
    char dtype;         /* 'f' float32, 'i' int64, 'b' bool */
    int ndim;
    int64_t shape[8];
    size_t count;
    float *f32;         /* dtype 'f' */
    int64_t *i64;       /* dtype 'i' and 'b' */
} test_npy;

/* Loads MG_FIXTURE_DIR/meshgpt-pytorch-a/cases/<name>.npy; a Criterion assertion fails when it cannot. */
test_npy test_npy_load(const char *name);
void test_npy_free(test_npy *array);

/* MG_FIXTURE_DIR/<relative> as a path (static buffer, overwritten by the next call). */
const char *test_fixture_path(const char *relative);

#endif
