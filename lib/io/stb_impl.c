/* stb_image and stb_image_write (Debian's libstb-dev), compiled privately: JPEG, GIF, BMP and TGA
 * decoding (PNG has its own reader, lib/image/png_read.c), PNG compression, zlib. */
#include "io/stb_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/stb_quiet.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_PSD
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS (1 << 24)
#define STBI_MALLOC(sz) malloc(sz) /* decoded pixels are handed over and released with free() */
#define STBI_REALLOC(p, sz) realloc(p, sz)
#define STBI_FREE(p) free(p)
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
/* the rest of this file is the project's code again (stb_quiet.h keeps only unused functions quiet) */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

long ct_zlib_decode(const uint8_t *src, size_t len, int zlib_header, uint8_t *dst, size_t cap) {
    if (len > (size_t)0x7fffffff || cap > (size_t)0x7fffffff) return -1;
    /* a fixed output buffer: stb refuses ("output buffer limit") a stream that would overflow it */
    int n = zlib_header ? stbi_zlib_decode_buffer((char *)dst, (int)cap, (const char *)src, (int)len)
                        : stbi_zlib_decode_noheader_buffer((char *)dst, (int)cap, (const char *)src, (int)len);
    return n < 0 ? -1 : (long)n;
}

/* Walks a JPEG's marker segments as stb_image will read them, before stb sees the file:
 *   - stb_image 2.27 (Debian's) writes past a 257-entry array when a Huffman table (DHT) declares
 *     more than 256 codes (found by fuzz_image): such a file is refused;
 *   - frames stb does not decode (arithmetic coding, lossless, hierarchical, 12-bit samples) are
 *     named as unsupported instead of reaching stb, which calls them corrupt;
 *   - a progressive frame is noted (its decoder keeps every DCT coefficient: see ct_stb_probe),
 *     and whether the end-of-image marker is there (a truncated file is named as such);
 *   - a JPEG whose end-of-image marker comes before any scan is refused (stb would return its
 *     uninitialised sample buffers as the picture).
 * Entropy-coded data is skipped up to the next real marker. Returns 1 (go on), 0 (corrupt) or
 * -1 (unsupported), with a reason. */
static int jpeg_check(const uint8_t *b, size_t n, int *progressive, int *complete, const char **why) {
    *progressive = 0;
    *complete = 1;
    /* stb reads the start-of-image marker as any marker: after any number of 0xFF fill bytes */
    size_t p = 1;
    while (p < n && b[p] == 0xFF) p++;
    if (n < 4 || b[0] != 0xFF || p >= n || b[p] != 0xD8) return 1; /* not a JPEG: nothing to check */
    *complete = 0;
    p++;
    int scans = 0;
    while (p + 2 <= n) {
        if (b[p] != 0xFF) { p++; continue; }
        uint8_t m = b[p + 1];
        if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { p++; continue; }
        if (m == 0xD9) {
            *complete = 1;
            if (!scans) { *why = "JPEG without image data (no scan before the end-of-image marker)"; return 0; }
            return 1;
        }
        if (p + 4 > n) return 1; /* truncated inside a marker: stb stops there */
        size_t seg = ((size_t)b[p + 2] << 8) | b[p + 3];
        if (m == 0xC4) {
            /* read as stb does: the declared length, and zeros past the end of the file */
            size_t q = p + 4, end = p + 2 + seg;
            while (q < end) {
                unsigned total = 0;
                for (size_t i = 0; i < 16; i++) total += q + 1 + i < n ? b[q + 1 + i] : 0;
                if (total > 256) { *why = "corrupt JPEG Huffman table"; return 0; }
                q += 17 + total;
            }
        }
        if (m == 0xC3 || (m >= 0xC5 && m <= 0xC7) || (m >= 0xC9 && m <= 0xCB) || (m >= 0xCD && m <= 0xCF) || m == 0xCC) {
            *why = m == 0xC3 ? "lossless JPEG (SOF3) is not supported"
                 : m == 0xCC || m >= 0xC9 ? "arithmetic-coded JPEG is not supported (only Huffman coding)"
                                          : "hierarchical JPEG is not supported";
            return -1;
        }
        if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
            if (p + 4 < n && b[p + 4] != 8) { *why = "JPEG with 12-bit samples is not supported (8-bit only)"; return -1; }
            if (m == 0xC2) *progressive = 1;
        }
        if (seg < 2 || p + 2 + seg > n) return 1; /* truncated: stb stops there */
        p += 2 + seg;
        scans += m == 0xDA;
        if (m == 0xDA) /* skip the entropy-coded scan */
            while (p + 1 < n && !(b[p] == 0xFF && b[p + 1] != 0x00 && !(b[p + 1] >= 0xD0 && b[p + 1] <= 0xD7))) p++;
    }
    return 1;
}

/* The formats stb decodes for us, each probed on its own so that a failure keeps its own reason
 * (stb's generic entry points try every format and keep the last one's complaint). */
typedef enum { F_NONE, F_JPEG, F_GIF, F_BMP, F_TGA } stb_format;

static stb_format detect(stbi__context *s, const uint8_t *buf, int len) {
    static int (*const test[4])(stbi__context *) = {stbi__jpeg_test, stbi__gif_test, stbi__bmp_test, stbi__tga_test};
    static const stb_format fmt[4] = {F_JPEG, F_GIF, F_BMP, F_TGA};
    for (int i = 0; i < 4; i++) { /* TGA last: its test is weak */
        stbi__start_mem(s, buf, len);
        int ok = test[i](s);
        stbi__start_mem(s, buf, len);
        if (ok) return fmt[i];
    }
    return F_NONE;
}

ct_status ct_stb_probe(const uint8_t *buf, size_t len, int *w, int *h, int *cost, const char **why) {
    if (len > (size_t)0x7fffffff) { *why = "file too large"; return CT_ERR_TOO_LARGE; }
    int progressive = 0, complete = 1, c = jpeg_check(buf, len, &progressive, &complete, why);
    if (c <= 0) return c < 0 ? CT_ERR_UNSUPPORTED : CT_ERR_FORMAT;
    stbi__context s;
    stbi__g_failure_reason = NULL;
    stb_format f = detect(&s, buf, (int)len);
    int comp = 0, ok = 0;
    switch (f) {
    case F_JPEG: ok = stbi__jpeg_info(&s, w, h, &comp); break;
    case F_GIF: ok = stbi__gif_info(&s, w, h, &comp); break;
    case F_BMP: ok = stbi__bmp_info(&s, w, h, &comp); break;
    case F_TGA: ok = stbi__tga_info(&s, w, h, &comp); break;
    default: *why = "not a JPEG, PNG, BMP, TGA or GIF image (unknown format)"; return CT_ERR_FORMAT;
    }
    if (!ok) {
        const char *r = stbi__g_failure_reason;
        *why = !complete ? "truncated JPEG (the file ends before its end-of-image marker)" : r ? r : "truncated or corrupt header";
        return r && strstr(r, "large") ? CT_ERR_TOO_LARGE : CT_ERR_FORMAT;
    }
    /* decoder memory per pixel, in units of about 6 bytes: baseline JPEG keeps one plane per
     * component and the RGB output; a progressive JPEG adds 2-byte coefficients per component
     * sample, a GIF an RGBA canvas, an RGBA background and a history byte (12 bytes a pixel) */
    *cost = (f == F_GIF || (f == F_JPEG && progressive)) ? 2 : 1;
    return CT_OK;
}

uint8_t *ct_stb_decode_rgb(const uint8_t *buf, size_t len, int *w, int *h, const char **why) {
    if (len > (size_t)0x7fffffff) { *why = "file too large"; return NULL; }
    int progressive, complete;
    if (jpeg_check(buf, len, &progressive, &complete, why) <= 0) return NULL;
    stbi__context s;
    stbi__result_info ri;
    memset(&ri, 0, sizeof ri);
    ri.bits_per_channel = 8;
    stbi__g_failure_reason = NULL;
    int comp = 0;
    void *p = NULL;
    switch (detect(&s, buf, (int)len)) {
    case F_JPEG: p = stbi__jpeg_load(&s, w, h, &comp, 3, &ri); break;
    case F_GIF: p = stbi__gif_load(&s, w, h, &comp, 3, &ri); break; /* the first frame only */
    case F_BMP: p = stbi__bmp_load(&s, w, h, &comp, 3, &ri); break;
    case F_TGA: p = stbi__tga_load(&s, w, h, &comp, 3, &ri); break;
    default: *why = "not a JPEG, PNG, BMP, TGA or GIF image"; return NULL;
    }
    if (p && ri.bits_per_channel != 8) { free(p); p = NULL; stbi__g_failure_reason = "not 8 bits per sample"; }
    if (!p) *why = !complete ? "truncated JPEG (the file ends before its end-of-image marker)"
                 : stbi__g_failure_reason ? stbi__g_failure_reason : "truncated or corrupt image data";
    return p;
}

void ct_stb_free(void *p) { free(p); }

uint8_t *ct_stb_png_encode(const uint8_t *px, int w, int h, int channels, size_t *len) {
    /* stb computes (w * channels + 1) * h and the compressed size in int */
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3)) return NULL;
    if (((uint64_t)w * (uint64_t)channels + 1) * (uint64_t)h > (uint64_t)0x3fffffff) return NULL;
    int n = 0;
    uint8_t *p = stbi_write_png_to_mem(px, w * channels, w, h, channels, &n);
    if (!p || n <= 0) { STBIW_FREE(p); return NULL; }
    *len = (size_t)n;
    return p;
}

/* bitwise CRC-32: no shared table, so concurrent writers need no synchronisation */
uint32_t ct_crc32(uint32_t crc, const uint8_t *b, size_t n) {
    uint32_t c = crc ^ 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}
