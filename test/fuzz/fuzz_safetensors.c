/* safetensors header parser and model binding on arbitrary bytes */
#include "cliptrase.h"
#include "fuzz_common.h"
#include "io/safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ct_st_file f;
    ct_error err;
    if (ct_st_parse(data, size, &f, &err) == CT_OK) {
        for (size_t i = 0; i < f.n; i++) ct_st_find(&f, f.t[i].name);
        ct_st_close(&f);
    }
    char path[64];
    int fd = mem_file(data, size, path, sizeof path, "");
    if (fd < 0) return 0;
    ct_model *m = NULL;
    ct_load_params lp = {size & 1};
    if (ct_model_load_ex(path, &lp, &m, &err) == CT_OK) ct_model_free(m);
    close(fd);
    return 0;
}
