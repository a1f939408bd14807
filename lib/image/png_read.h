/* PNG reading (png_read.c): the library's own decoder, for pictures (8-bit RGB, as stb_image
 * would give them) and label maps (grey values or palette indices). The zlib stream is inflated
 * into a buffer of exactly the size the header announces, so decoding never allocates more than
 * the image needs (no decompression bomb, no 16-bit intermediate image). */
#ifndef CT_IMAGE_PNG_READ_H
#define CT_IMAGE_PNG_READ_H

#include "core/internal.h"

typedef struct {
    int width, height;
    int depth;      /* bits per sample: 1, 2, 4, 8 or 16 */
    int color;      /* PNG colour type: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA */
    int interlaced; /* Adam7 */
    int n_palette;
    uint8_t palette[256][3];
} ct_png_header;

/* Non-zero when buf starts with the PNG signature. */
int ct_png_signature(const uint8_t *buf, size_t len);

/* Walks every chunk (signature, IHDR, PLTE, IDAT..., IEND) and fills h; a malformed or truncated
 * file is CT_ERR_FORMAT, a well-formed one this decoder cannot read CT_ERR_UNSUPPORTED. `path`
 * names the file in messages. */
ct_status ct_png_header_read(const uint8_t *buf, size_t len, const char *path, ct_png_header *h, ct_error *err);

/* 8-bit RGB [height x width x 3] as stb_image gives it (alpha dropped, 16-bit samples reduced to
 * their high byte, grey replicated, low bit depths scaled to 0..255, palette looked up). */
ct_status ct_png_decode_rgb(const uint8_t *buf, size_t len, const char *path, uint8_t **rgb, ct_png_header *h,
                            ct_error *err);

#endif
