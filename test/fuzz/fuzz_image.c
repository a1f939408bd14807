/* image decoding (PNG by the library's reader, JPEG/GIF/BMP/TGA by stb) and the resize/normalise
 * path on arbitrary bytes; the same bytes as a label map (grey or palette PNG) */
#include "cliptrase.h"
#include "fuzz_common.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char p[64];
    int fd = mem_file(data, size, p, sizeof p, "");
    if (fd < 0) return 0;
    ct_image *img = NULL;
    if (ct_image_load(p, &img, NULL) == CT_OK) {
        /* keep iterations fast: resize only modest pictures */
        if ((size_t)img->width * img->height <= (1u << 20)) {
            float *px = NULL;
            int H, W;
            if (ct_preprocess(img, 32, size & 1, 16, &px, &H, &W, NULL) == CT_OK) free(px);
        }
        ct_image_free(img);
    }
    int32_t *lab = NULL;
    int w, h;
    if (ct_labels_load_png(p, &lab, &w, &h, NULL) == CT_OK) ct_free(lab);
    close(fd);
    return 0;
}
