/*
 * libFuzzer harness: the safetensors header parser on arbitrary bytes. Besides
 * memory errors (sanitizers), it traps when a header that was accepted breaks
 * the reader's promises: ranges inside the data, lookups finding each tensor.
 */
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_safetensors file;
    if (mg_safetensors_parse(data, size, &file, &diag) == MG_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < file.count; i++) {
            const mg_st_tensor *t = &file.tensors[i];
            if (t->begin > t->end || t->end > file.data_size || mg_safetensors_find(&file, t->name) != t)
                __builtin_trap();
            if (t->end - t->begin != t->count * mg_st_dtype_size(t->dtype))
                __builtin_trap();
            if (t->end > t->begin)
                sink ^= t->data[0] ^ t->data[t->end - t->begin - 1];
        }
        for (size_t i = 0; i < file.metadata_count; i++)
            if (mg_safetensors_metadata(&file, file.metadata[i].key) == NULL)
                __builtin_trap();
        (void)sink;
        mg_safetensors_close(&file);
    } else if (diag.last_error[0] == '\0') {
        __builtin_trap(); /* every failure must say why */
    }
    mg_diag_destroy(&diag);
    return 0;
}
