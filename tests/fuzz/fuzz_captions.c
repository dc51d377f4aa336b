/* libFuzzer harness: the training captions parsers (scripts/fuzz.sh runs it over tests/fuzz/corpus/captions).
 * The first byte picks the format (even: captions.json, odd: captions.csv), the rest is the file. Besides
 * crashes and sanitizer reports it checks what the data loader relies on: on success every entry has a file
 * name and a text (a JSON array gives one entry per text); on failure the list is empty and the message names
 * the file. */
#include "core/diag.h"
#include "train/captions.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const bool csv = data[0] & 1;
    const char *source = csv ? "captions.csv" : "captions.json";
    mg_diag diag;
    mg_diag_init(&diag, NULL, NULL, MG_LOG_NONE);
    mg_caption_list list;
    mg_status status = csv ? mg_captions_parse_csv((const char *)data + 1, size - 1, source, &list, &diag)
                           : mg_captions_parse_json((const char *)data + 1, size - 1, source, &list, &diag);
    if (status == MG_OK) {
        if (list.count && !list.entries)
            abort();
        for (size_t i = 0; i < list.count; i++)
            if (!list.entries[i].file || !list.entries[i].text)
                abort();
    } else {
        if (status != MG_ERR_FORMAT && status != MG_ERR_OUT_OF_MEMORY)
            abort();
        if (list.count || list.entries || !strstr(diag.last_error, source))
            abort();
    }
    mg_caption_list_free(&list);
    mg_diag_destroy(&diag);
    return 0;
}
