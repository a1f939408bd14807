/* The stb_image / stb_image_write implementations live in one file with static linkage; these
 * wrappers are the only way in, so no stbi_ symbol leaves the library. */
#ifndef CT_STB_IMPL_H
#define CT_STB_IMPL_H

#include "core/internal.h"

/* CRC-32 (IEEE, as gzip and PNG use it), continued from crc (start with 0). */
uint32_t ct_crc32(uint32_t crc, const uint8_t *p, size_t n);
/* Inflate a zlib (zlib_header 1) or raw DEFLATE (0) stream into dst[0..cap): the bytes
 * written, or -1 when the stream is corrupt or would write more than cap bytes. */
long ct_zlib_decode(const uint8_t *src, size_t len, int zlib_header, uint8_t *dst, size_t cap);
/* Dimensions of a JPEG, GIF, BMP or TGA from its header, without decoding, and the decoder's
 * memory per pixel in pixel units (*cost: 1, or 2 for a GIF canvas or a progressive JPEG).
 * CT_ERR_FORMAT (unknown or corrupt), CT_ERR_UNSUPPORTED (a JPEG coding stb does not decode:
 * arithmetic, lossless, hierarchical, 12-bit), CT_ERR_TOO_LARGE (beyond stb's limits), with a
 * reason. */
ct_status ct_stb_probe(const uint8_t *buf, size_t len, int *w, int *h, int *cost, const char **why);
/* 8-bit RGB [h x w x 3] of a JPEG, GIF (its first frame), BMP or TGA, malloc'd (free() it); NULL
 * with a reason. */
uint8_t *ct_stb_decode_rgb(const uint8_t *buf, size_t len, int *w, int *h, const char **why);
void ct_stb_free(void *p);
/* PNG file image of 8-bit grey (1) or RGB (3) pixels, compressed; NULL when out of memory or
 * larger than stb's int sizes allow (about 1 GiB raw). Free with ct_stb_free. */
uint8_t *ct_stb_png_encode(const uint8_t *px, int w, int h, int channels, size_t *len);

#endif
