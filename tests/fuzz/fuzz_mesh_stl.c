/* libFuzzer harness: the STL reader (scripts/fuzz.sh runs it over tests/fuzz/corpus/mesh_stl). */
#include "fuzz_mesh_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_mesh_read(data, size, MG_MESH_FORMAT_STL);
    return 0;
}
