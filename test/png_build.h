/* Test PNGs of any colour type, bit depth, interlacing and filter, written byte by byte (the
 * library's writer only makes 8-bit grey/RGB and 16-bit grey), compressed with stb_image_write's
 * zlib; and stb_image's own PNG decoder, compiled here as an independent oracle. */
#ifndef CT_TEST_PNG_BUILD_H
#define CT_TEST_PNG_BUILD_H

#include "harness.h"
#include "io/stb_impl.h"

#include "io/stb_quiet.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

typedef struct {
    uint8_t *b;
    size_t n, cap;
} bytes;

static inline void by_put(bytes *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static inline void by_be32(bytes *o, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    by_put(o, b, 4);
}

static inline void png_chunk(bytes *o, const char *type, const void *data, uint32_t len) {
    by_be32(o, len);
    size_t at = o->n;
    by_put(o, type, 4);
    if (len) by_put(o, data, len);
    by_be32(o, ct_crc32(0, o->b + at, 4 + (size_t)len));
}

static inline int png_channels(int color) { return color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1; }

static inline uint8_t png_paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* sample(x, y, channel) gives the value (< 2^depth) of each sample. Rows use filter types
 * 0, 1, 2, 3, 4 in turn (so every filter is exercised). Adam7 when interlace. Optional PLTE of
 * n_pal entries. The IHDR is written as given (w, h may be huge for header-only tests when
 * no_data is set). */
typedef unsigned (*png_sample_fn)(int x, int y, int c);

static inline void png_header(bytes *o, uint32_t w, uint32_t h, int depth, int color, int interlace) {
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    by_put(o, sig, 8);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 24), (uint8_t)(h >> 16),
                        (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)depth, (uint8_t)color, 0, 0, (uint8_t)interlace};
    png_chunk(o, "IHDR", ihdr, 13);
}

/* the filtered scanlines of the whole image (all passes) */
static inline bytes png_raw(int w, int h, int depth, int color, int interlace, png_sample_fn sample) {
    static const int a7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    bytes raw = {0};
    int ch = png_channels(color), bits = depth * ch, bpp = (bits + 7) / 8, row_no = 0;
    for (int pass = 0; pass < (interlace ? 7 : 1); pass++) {
        int x0 = interlace ? a7[pass][0] : 0, y0 = interlace ? a7[pass][1] : 0, dx = interlace ? a7[pass][2] : 1, dy = interlace ? a7[pass][3] : 1;
        int pw = w > x0 ? (w - x0 + dx - 1) / dx : 0, ph = h > y0 ? (h - y0 + dy - 1) / dy : 0;
        if (!pw || !ph) continue;
        size_t rb = ((size_t)pw * bits + 7) / 8;
        uint8_t *cur = calloc(rb, 1), *prev = calloc(rb, 1), *f = malloc(rb + 1);
        for (int r = 0; r < ph; r++) {
            memset(cur, 0, rb);
            for (int i = 0; i < pw; i++)
                for (int c = 0; c < ch; c++) {
                    unsigned v = sample(x0 + i * dx, y0 + r * dy, c);
                    size_t s = (size_t)i * ch + c;
                    if (depth == 16) { cur[2 * s] = (uint8_t)(v >> 8); cur[2 * s + 1] = (uint8_t)v; }
                    else if (depth == 8) cur[s] = (uint8_t)v;
                    else { size_t bit = s * depth; cur[bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8)); }
                }
            int type = row_no++ % 5;
            f[0] = (uint8_t)type;
            for (size_t k = 0; k < rb; k++) {
                int a = k >= (size_t)bpp ? cur[k - bpp] : 0, b = r ? prev[k] : 0, c = r && k >= (size_t)bpp ? prev[k - bpp] : 0;
                int pred = type == 0 ? 0 : type == 1 ? a : type == 2 ? b : type == 3 ? (a + b) / 2 : png_paeth(a, b, c);
                f[1 + k] = (uint8_t)(cur[k] - pred);
            }
            by_put(&raw, f, rb + 1);
            memcpy(prev, cur, rb);
        }
        free(cur); free(prev); free(f);
    }
    return raw;
}

/* A whole PNG file; pal/n_pal for PLTE (NULL: none). Returns malloc'd bytes. */
static inline bytes png_make(int w, int h, int depth, int color, int interlace, png_sample_fn sample, const uint8_t *pal, int n_pal) {
    bytes o = {0};
    png_header(&o, (uint32_t)w, (uint32_t)h, depth, color, interlace);
    if (pal) png_chunk(&o, "PLTE", pal, (uint32_t)n_pal * 3);
    bytes raw = png_raw(w, h, depth, color, interlace, sample);
    int zl = 0;
    uint8_t *z = stbi_zlib_compress(raw.b, (int)raw.n, &zl, 8);
    /* two IDAT chunks: readers must join them */
    png_chunk(&o, "IDAT", z, (uint32_t)(zl / 2));
    png_chunk(&o, "IDAT", z + zl / 2, (uint32_t)(zl - zl / 2));
    png_chunk(&o, "IEND", NULL, 0);
    STBIW_FREE(z);
    free(raw.b);
    return o;
}

static inline int write_bytes_file(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return (fclose(f) == 0) && ok;
}

#endif
