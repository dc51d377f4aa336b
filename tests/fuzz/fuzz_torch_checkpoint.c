/*
 * libFuzzer harness: the PyTorch checkpoint reader on arbitrary bytes. Input
 * starting like a zip goes through the archive reader and the state-dict
 * assembly; anything else goes straight to the pickle interpreter, so both
 * are explored without having to build a valid zip around every pickle.
 * Besides memory errors (sanitizers), it traps when an accepted checkpoint
 * breaks the reader's promises, or a refusal comes without a message.
 */
#include "io/torch_pickle.h"
#include "io/torch_zip.h"
#include "model/model_torch.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_status status;
    if (mg_zip_has_magic(data, size)) {
        mg_zip zip;
        status = mg_zip_parse(data, size, "fuzz", &zip, &diag);
        if (status == MG_OK) {
            for (size_t i = 0; i < zip.count; i++) {
                const mg_zip_entry *e = &zip.entries[i];
                if (e->data_offset > size || size - e->data_offset < e->compressed_size || mg_zip_find(&zip, e->name) != e)
                    __builtin_trap();
            }
            mg_safetensors out;
            status = mg_torch_read_tensors(&zip, NULL, &out, &diag);
            if (status == MG_OK) {
                volatile uint8_t sink = 0;
                for (size_t i = 0; i < out.count; i++) {
                    const mg_st_tensor *t = &out.tensors[i];
                    if (t->end - t->begin != t->count * mg_st_dtype_size(t->dtype) || !t->data ||
                        mg_safetensors_find(&out, t->name) != t)
                        __builtin_trap();
                    if (t->end > t->begin)
                        sink ^= t->data[0] ^ t->data[t->end - t->begin - 1];
                }
                (void)sink;
                mg_safetensors_close(&out);
            }
            mg_zip_close(&zip);
        }
    } else {
        mg_pickle pickle;
        status = mg_pickle_load(data, size, "fuzz", &pickle, &diag);
        if (status == MG_OK) {
            if (!pickle.root)
                __builtin_trap();
            (void)mg_pk_dict_get(pickle.root, "model");
            mg_pickle_free(&pickle);
        }
    }
    if (status != MG_OK && diag.last_error[0] == '\0')
        __builtin_trap(); /* every failure must say why */
    mg_diag_destroy(&diag);
    return 0;
}
