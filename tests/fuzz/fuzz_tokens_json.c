/* libFuzzer harness: the token file parser (scripts/fuzz.sh runs it over tests/fuzz/corpus/tokens_json).
 * Besides crashes and sanitizer reports it checks what a caller relies on: on success the array holds
 * faces x face_size x levels tokens, each >= -1, with face_size 3 or 4 and levels 1..64; on failure the
 * output is empty and the message names the input and says what is wrong. */
#include "io/tokens_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mg_tokens tokens;
    char error[512] = {0};
    mg_status status = mg_tokens_parse_json((const char *)data, size, "fuzz.json", &tokens, error, sizeof error);
    if (status == MG_OK) {
        if (!tokens.tokens || (tokens.face_size != 3 && tokens.face_size != 4) || tokens.levels < 1 ||
            tokens.levels > 64)
            abort();
        const size_t count = tokens.num_faces * tokens.face_size * tokens.levels;
        for (size_t i = 0; i < count; i++) {
            if (tokens.tokens[i] < -1)
                abort();
        }
    } else {
        if (status != MG_ERR_FORMAT && status != MG_ERR_OUT_OF_MEMORY)
            abort();
        if (tokens.tokens || tokens.num_faces || strncmp(error, "fuzz.json", 9) != 0)
            abort();
    }
    mg_tokens_free(&tokens);
    return 0;
}
