/* libFuzzer harness: the glTF and GLB reader (scripts/fuzz.sh runs it over tests/fuzz/corpus/mesh_gltf). */
#include "fuzz_mesh_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_mesh_read(data, size, MG_MESH_FORMAT_GLB);
    return 0;
}
