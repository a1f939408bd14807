/* vocabulary loaders on arbitrary bytes: as an OpenAI merges file (gzip or text) and, split at
 * the first NUL byte, as a Hugging Face vocab.json + merges.txt pair */
#include "cliptrase.h"
#include "fuzz_common.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char p1[64], p2[64];
    ct_tokenizer *t = NULL;
    int fd = mem_file(data, size, p1, sizeof p1, "");
    if (fd >= 0) {
        if (ct_tokenizer_load(p1, &t, NULL) == CT_OK) {
            int32_t ids[64];
            size_t n;
            ct_tokenize(t, "a photo of a cat", 16, ids, 64, &n, NULL);
            ct_tokenizer_free(t);
        }
        close(fd);
    }
    const uint8_t *z = memchr(data, 0, size);
    size_t a = z ? (size_t)(z - data) : size / 2;
    int f1 = mem_file(data, a, p1, sizeof p1, "");
    int f2 = mem_file(data + (z ? a + 1 : a), size - a - (z ? 1 : 0), p2, sizeof p2, "");
    if (f1 >= 0 && f2 >= 0 && ct_tokenizer_load_hf(p1, p2, &t, NULL) == CT_OK) {
        int32_t ids[64];
        size_t n;
        ct_tokenize(t, "hello world", 11, ids, 64, &n, NULL);
        ct_tokenizer_free(t);
    }
    if (f1 >= 0) close(f1);
    if (f2 >= 0) close(f2);
    return 0;
}
