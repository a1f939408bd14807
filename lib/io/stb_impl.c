/* stb_image and stb_image_write (Debian's libstb-dev), compiled privately. */
#include "io/stb_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
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
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
/* diagnostics stay relaxed to the end of this file: GCC reports unused static declarations of
 * the headers at the end of the translation unit */

uint8_t *ct_inflate_raw(const uint8_t *src, size_t len, size_t *out_len) {
    if (len > (size_t)0x7fffffff) return NULL;
    int n = 0;
    char *r = stbi_zlib_decode_noheader_malloc((const char *)src, (int)len, &n);
    if (!r || n < 0) { free(r); return NULL; }
    *out_len = (size_t)n;
    return (uint8_t *)r;
}

/* stb_image 2.27 (Debian's) writes past a 257-entry array when a JPEG Huffman table declares more
 * than 256 codes (found by fuzz_image). Every DHT segment of the file is checked first: marker
 * segments are walked, and entropy-coded data is skipped up to the next real marker. */
static int jpeg_tables_sane(const uint8_t *b, size_t n) {
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1; /* not a JPEG: nothing to check */
    size_t p = 2;
    while (p + 4 <= n) {
        if (b[p] != 0xFF) { p++; continue; }
        uint8_t m = b[p + 1];
        if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { p++; continue; }
        if (m == 0xD9) return 1;
        size_t seg = ((size_t)b[p + 2] << 8) | b[p + 3];
        if (m == 0xC4) {
            /* read as stb does: the declared length, and zeros past the end of the file */
            size_t q = p + 4, end = p + 2 + seg;
            while (q < end) {
                unsigned total = 0;
                for (size_t i = 0; i < 16; i++) total += q + 1 + i < n ? b[q + 1 + i] : 0;
                if (total > 256) return 0;
                q += 17 + total;
            }
        }
        if (seg < 2 || p + 2 + seg > n) return 1; /* truncated: stb stops there */
        p += 2 + seg;
        if (m == 0xDA) /* skip the entropy-coded scan */
            while (p + 1 < n && !(b[p] == 0xFF && b[p + 1] != 0x00 && !(b[p + 1] >= 0xD0 && b[p + 1] <= 0xD7))) p++;
    }
    return 1;
}

/* Every stb entry point (header probe and decoders) first goes through this guard. */
static int safe_for_stb(const uint8_t *buf, size_t len, const char **why) {
    if (len > (size_t)0x7fffffff) { *why = "file too large"; return 0; }
    if (!jpeg_tables_sane(buf, len)) { *why = "corrupt JPEG Huffman table"; return 0; }
    return 1;
}

uint8_t *ct_stb_decode_rgb(const uint8_t *buf, size_t len, int *w, int *h, const char **why) {
    if (!safe_for_stb(buf, len, why)) return NULL;
    int comp = 0;
    uint8_t *p = stbi_load_from_memory(buf, (int)len, w, h, &comp, 3);
    if (!p) *why = stbi_failure_reason();
    return p;
}

int ct_stb_info(const uint8_t *buf, size_t len, int *w, int *h, int *comp, const char **why) {
    if (!safe_for_stb(buf, len, why)) return 0;
    /* PNG and JPEG are probed on their own so that the reason ("too large") survives; the generic
     * probe tries every format in turn and keeps only the last format's complaint */
    stbi__context s;
    stbi__start_mem(&s, buf, (int)len);
    int ok;
    if (stbi__png_test(&s)) {
        stbi__start_mem(&s, buf, (int)len);
        ok = stbi__png_info(&s, w, h, comp);
    } else {
        stbi__start_mem(&s, buf, (int)len);
        if (stbi__jpeg_test(&s)) {
            stbi__start_mem(&s, buf, (int)len);
            ok = stbi__jpeg_info(&s, w, h, comp);
        } else {
            ok = stbi_info_from_memory(buf, (int)len, w, h, comp);
        }
    }
    if (!ok) *why = stbi_failure_reason();
    return ok;
}

void ct_stb_free(void *p) { stbi_image_free(p); }

uint16_t *ct_stb_decode_gray16(const uint8_t *buf, size_t len, int *w, int *h, const char **why) {
    int comp = 0;
    if (!safe_for_stb(buf, len, why)) return NULL;
    if (len > (size_t)0x7fffffff || !stbi_info_from_memory(buf, (int)len, w, h, &comp)) { *why = "not a readable image"; return NULL; }
    if (comp != 1) { *why = "not a single-channel (grey) image of label indices"; return NULL; }
    if ((uint64_t)*w * (uint64_t)*h > (1u << 28)) { *why = "too large"; return NULL; }
    size_t n = (size_t)*w * (size_t)*h;
    uint16_t *out = malloc(n * sizeof *out);
    if (!out) { *why = "out of memory"; return NULL; }
    if (stbi_is_16_bit_from_memory(buf, (int)len)) {
        stbi_us *p = stbi_load_16_from_memory(buf, (int)len, w, h, &comp, 1);
        if (!p) { free(out); *why = stbi_failure_reason(); return NULL; }
        memcpy(out, p, n * sizeof *out);
        stbi_image_free(p);
    } else {
        stbi_uc *p = stbi_load_from_memory(buf, (int)len, w, h, &comp, 1);
        if (!p) { free(out); *why = stbi_failure_reason(); return NULL; }
        for (size_t i = 0; i < n; i++) out[i] = p[i];
        stbi_image_free(p);
    }
    return out;
}

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
