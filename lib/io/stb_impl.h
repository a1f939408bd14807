/* The stb_image / stb_image_write implementations live in one file with static linkage; these
 * wrappers are the only way in, so no stbi_ symbol leaves the library. */
#ifndef CT_STB_IMPL_H
#define CT_STB_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE, as gzip and PNG use it), continued from crc (start with 0). */
uint32_t ct_crc32(uint32_t crc, const uint8_t *p, size_t n);
/* Raw DEFLATE stream to a malloc'd buffer; NULL on corrupt data. */
uint8_t *ct_inflate_raw(const uint8_t *src, size_t len, size_t *out_len);
/* 8-bit RGB decode of an in-memory image (first frame of a GIF); NULL with a reason. */
uint8_t *ct_stb_decode_rgb(const uint8_t *buf, size_t len, int *w, int *h, const char **why);
/* Header-only probe: dimensions without decoding. Returns 0 (with a reason) when the header is
 * not recognised or announces more than stb_image decodes (1 GiB of pixels). */
int ct_stb_info(const uint8_t *buf, size_t len, int *w, int *h, int *comp, const char **why);
void ct_stb_free(void *p);
/* Single-channel (grey, 8- or 16-bit) image as uint16 values [h x w], malloc'd; NULL with a reason
 * (a palette or colour image is refused: label maps must hold indices). */
uint16_t *ct_stb_decode_gray16(const uint8_t *buf, size_t len, int *w, int *h, const char **why);
/* PNG file image of 8-bit grey (1) or RGB (3) pixels, compressed; NULL when out of memory or
 * larger than stb's int sizes allow (about 1 GiB raw). Free with ct_stb_free. */
uint8_t *ct_stb_png_encode(const uint8_t *px, int w, int h, int channels, size_t *len);

#endif
