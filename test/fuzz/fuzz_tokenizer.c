/* text cleaning, pre-tokenising, BPE, context encoding and decoding on arbitrary bytes, with the
 * real CLIP vocabulary ($CT_FUZZ_VOCAB, default ../shared/oracle/bpe_simple_vocab_16e6.txt.gz);
 * the context encoding through a memo of words (as ct_class_embeddings uses it) must give the
 * same tokens as without, the first time (filling the memo) and the second (reading it). */
#include "cliptrase.h"
#include "fuzz_common.h"
#include "text/tokenizer.h"

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
    int cut = 0, cut2 = 0;
    ct_status st = ct_tokenize_context(tok, s, ctx, 77, &cut, NULL);
    ct_bpe_memo *memo = ct_bpe_memo_new();
    for (int pass = 0; memo && pass < 2; pass++) {
        int32_t ctx2[77];
        ct_status st2 = ct_tokenize_context_memo(tok, memo, s, ctx2, 77, &cut2, NULL);
        if (st2 != st || (st == CT_OK && (cut2 != cut || memcmp(ctx, ctx2, sizeof ctx)))) __builtin_trap();
    }
    ct_bpe_memo_free(memo);
    free(s);
    return 0;
}
