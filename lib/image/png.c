/* PNG output (colour pictures, label maps), all-or-nothing on disk (input: png_read.c).
 * 8-bit pictures up to CT_PNG_COMPRESS_MAX raw bytes are compressed by stb_image_write (whose
 * sizes are ints); larger ones and 16-bit label maps are written by the streaming writer below
 * (stored deflate blocks, any size up to the pixel limit). */
#include "core/internal.h"
#include "io/file.h"
#include "io/stb_impl.h"

#include <stdlib.h>
#include <string.h>

#define CT_PNG_COMPRESS_MAX (256u << 20) /* raw bytes (rows + filter bytes) stb may compress */
#define CT_PNG_MAX_SIDE (1 << 24)
#define IDAT_BUF (1u << 20)

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void put_chunk(ct_atomic_file *a, const char *type, const uint8_t *data, uint32_t len) {
    uint8_t h[8], t[4];
    be32(h, len);
    memcpy(h + 4, type, 4);
    be32(t, ct_crc32(ct_crc32(0, (const uint8_t *)type, 4), data, len));
    ct_atomic_write(a, h, 8);
    ct_atomic_write(a, data, len);
    ct_atomic_write(a, t, 4);
}

/* zlib bytes collected into IDAT chunks of up to IDAT_BUF bytes */
typedef struct {
    ct_atomic_file *a;
    uint8_t *buf;
    size_t n;
    uint32_t s1, s2;  /* adler-32 of the raw stream */
    uint8_t blk[65535];
    size_t bn;        /* bytes in the current stored block */
} png_stream;

static void z_put(png_stream *z, const uint8_t *p, size_t n) {
    while (n) {
        size_t k = IDAT_BUF - z->n < n ? IDAT_BUF - z->n : n;
        memcpy(z->buf + z->n, p, k);
        z->n += k; p += k; n -= k;
        if (z->n == IDAT_BUF) { put_chunk(z->a, "IDAT", z->buf, (uint32_t)z->n); z->n = 0; }
    }
}

static void z_block(png_stream *z, int final) {
    uint8_t h[5] = {(uint8_t)final, (uint8_t)z->bn, (uint8_t)(z->bn >> 8), (uint8_t)~z->bn, (uint8_t)(~z->bn >> 8)};
    z_put(z, h, 5);
    z_put(z, z->blk, z->bn);
    z->bn = 0;
}

static void raw_put(png_stream *z, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        z->s1 = (z->s1 + p[i]) % 65521u;
        z->s2 = (z->s2 + z->s1) % 65521u;
    }
    while (n) {
        size_t k = sizeof z->blk - z->bn < n ? sizeof z->blk - z->bn : n;
        memcpy(z->blk + z->bn, p, k);
        z->bn += k; p += k; n -= k;
        if (z->bn == sizeof z->blk) z_block(z, 0);
    }
}

/* Streaming PNG of grey (channels 1) or RGB (3) samples of 8 or 16 bits; row(y, out) fills one
 * row of samples (big-endian for 16 bits). */
typedef void (*row_fn)(const void *src, int w, int y, uint8_t *out);

static ct_status png_stored(const char *path, int w, int h, int channels, int depth, row_fn row, const void *src, ct_error *err) {
    size_t rowb = (size_t)w * (size_t)channels * (size_t)(depth / 8);
    png_stream *z = calloc(1, sizeof *z);
    uint8_t *line = malloc(rowb + 1);
    uint8_t *buf = malloc(IDAT_BUF);
    if (!z || !line || !buf) { free(z); free(line); free(buf); return ct_fail(err, CT_ERR_NOMEM, "out of memory writing '%s'", path); }
    ct_atomic_file a;
    ct_status st = ct_atomic_open(&a, path, err);
    if (st) { free(z); free(line); free(buf); return st; }
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)w);
    be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = (uint8_t)depth; ihdr[9] = channels == 3 ? 2 : 0; ihdr[10] = ihdr[11] = ihdr[12] = 0;
    ct_atomic_write(&a, sig, 8);
    put_chunk(&a, "IHDR", ihdr, 13);
    z->a = &a; z->buf = buf; z->s1 = 1;
    static const uint8_t zh[2] = {0x78, 0x01};
    z_put(z, zh, 2);
    for (int y = 0; y < h && !a.failed; y++) {
        line[0] = 0; /* filter: none */
        row(src, w, y, line + 1);
        raw_put(z, line, rowb + 1);
    }
    z_block(z, 1);
    uint8_t ad[4];
    be32(ad, (z->s2 << 16) | z->s1);
    z_put(z, ad, 4);
    if (z->n) put_chunk(&a, "IDAT", z->buf, (uint32_t)z->n);
    put_chunk(&a, "IEND", NULL, 0);
    free(z); free(line); free(buf);
    return ct_atomic_commit(&a, err);
}

typedef struct {
    const uint8_t *px;
    int channels;
} u8_src;

static void row_copy8(const void *s, int w, int y, uint8_t *out) {
    const u8_src *u = s;
    size_t n = (size_t)w * (size_t)u->channels;
    memcpy(out, u->px + (size_t)y * n, n);
}

static ct_status check_dims(const char *what, int w, int h, ct_error *err) {
    if (w <= 0 || h <= 0 || w > CT_PNG_MAX_SIDE || h > CT_PNG_MAX_SIDE)
        return ct_fail(err, CT_ERR_INVALID_ARG, "%s: size %d x %d outside [1, %d]", what, w, h, CT_PNG_MAX_SIDE);
    return CT_OK;
}

static ct_status png8(const char *path, const uint8_t *px, int w, int h, int channels, ct_error *err) {
    size_t raw;
    if (!ct_size3((size_t)w * (size_t)channels + 1, (size_t)h, 1, 1, &raw)) return ct_fail(err, CT_ERR_TOO_LARGE, "'%s': image too large", path);
    if (raw <= CT_PNG_COMPRESS_MAX) {
        size_t len = 0;
        uint8_t *png = ct_stb_png_encode(px, w, h, channels, &len);
        if (png) {
            ct_status st = ct_write_file_atomic(path, png, len, err);
            ct_stb_free(png);
            return st;
        }
        /* out of memory inside the compressor: the stored writer needs only a few buffers */
    }
    u8_src s = {px, channels};
    return png_stored(path, w, h, channels, 8, row_copy8, &s, err);
}

ct_status ct_image_save_png(const ct_image *img, const char *path, ct_error *err) {
    if (!img || !img->rgb || !path) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_image_save_png: NULL argument");
    ct_status st = check_dims("ct_image_save_png", img->width, img->height, err);
    if (st) return st;
    return png8(path, img->rgb, img->width, img->height, 3, err);
}

typedef struct {
    const int32_t *lab;
} lab_src;

static void row_lab16(const void *s, int w, int y, uint8_t *out) {
    const int32_t *r = ((const lab_src *)s)->lab + (size_t)y * (size_t)w;
    for (int x = 0; x < w; x++) { out[2 * x] = (uint8_t)(r[x] >> 8); out[2 * x + 1] = (uint8_t)r[x]; }
}

ct_status ct_labels_save_png(const int32_t *labels, int width, int height, int bit_depth, const char *path, ct_error *err) {
    if (!labels || !path) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_labels_save_png: NULL argument");
    ct_status st = check_dims("ct_labels_save_png", width, height, err);
    if (st) return st;
    if (bit_depth != 8 && bit_depth != 16) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_labels_save_png: bit depth %d (8 or 16)", bit_depth);
    size_t n = (size_t)width * (size_t)height;
    int32_t top = bit_depth == 8 ? 255 : 65535;
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] > top)
            return ct_fail(err, CT_ERR_INVALID_ARG, "label %d at pixel %zu does not fit a %d-bit PNG", labels[i], i, bit_depth);
    if (bit_depth == 16) {
        lab_src s = {labels};
        return png_stored(path, width, height, 1, 16, row_lab16, &s, err);
    }
    uint8_t *g = malloc(n);
    if (!g) return ct_fail(err, CT_ERR_NOMEM, "out of memory writing '%s'", path);
    for (size_t i = 0; i < n; i++) g[i] = (uint8_t)labels[i];
    st = png8(path, g, width, height, 1, err);
    free(g);
    return st;
}
