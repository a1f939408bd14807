/* text cleaning, pre-tokenising, BPE, context encoding and decoding on arbitrary bytes, with the
 * real CLIP vocabulary ($CT_FUZZ_VOCAB, default ../shared/oracle/bpe_simple_vocab_16e6.txt.gz) */
#include "cliptrase.h"
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static ct_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *v = getenv("CT_FUZZ_VOCAB");
    ct_error err;
    if (ct_tokenizer_load(v && *v ? v : "../shared/oracle/bpe_simple_vocab_16e6.txt.gz", &tok, &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s (set CT_FUZZ_VOCAB)\n", err.msg);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t ids[512], ctx[77];
    size_t n = 0;
    if (ct_tokenize(tok, (const char *)data, size, ids, 512, &n, NULL) == CT_OK) {
        char out[4096];
        ct_detokenize(tok, ids, n < 512 ? n : 512, out, sizeof out);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int cut = 0;
    ct_tokenize_context(tok, s, ctx, 77, &cut, NULL);
    free(s);
    return 0;
}
