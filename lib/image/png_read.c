/* PNG decoding (png_read.h) and label-map input. One pass over the chunks collects the header,
 * the palette and the image data; the zlib stream is inflated into a buffer of exactly the
 * announced size (a longer stream is refused, so a small file cannot make a large allocation);
 * each row is unfiltered in place and handed to a converter that writes the caller's pixels:
 * 8-bit RGB for pictures, grey values or palette indices for label maps. Adam7 interlacing is
 * read pass by pass. CRCs are not checked (stb_image does not check them either). */
#include "image/png_read.h"

#include "io/file.h"
#include "io/stb_impl.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABEL_FILE ((size_t)1 << 30)

static const uint8_t k_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};

int ct_png_signature(const uint8_t *buf, size_t len) { return len >= 8 && !memcmp(buf, k_sig, 8); }

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* header and the image data's place: one IDAT in the file, or all of them copied together */
typedef struct {
    ct_png_header h;
    const uint8_t *idat;
    size_t idat_len;
    uint8_t *idat_copy;
} png_file;

static int valid_depth(int color, int depth) {
    switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return 0;
    }
}

static int channels_of(int color) { return color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1; }

static ct_status walk(const uint8_t *buf, size_t len, const char *path, png_file *f, int want_data, ct_error *err) {
    memset(f, 0, sizeof *f);
    if (!ct_png_signature(buf, len)) return ct_fail(err, CT_ERR_FORMAT, "'%s' is not a PNG file", path);
    size_t p = 8, n_idat = 0, idat_total = 0;
    int seen_ihdr = 0, seen_plte = 0, seen_end = 0;
    const uint8_t *first_idat = NULL;
    while (!seen_end) {
        if (len - p < 12) return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated PNG (no IEND chunk)", path);
        uint32_t cl = rd32(buf + p);
        const uint8_t *type = buf + p + 4, *d = buf + p + 8;
        char tn[5] = {0};
        for (int i = 0; i < 4; i++) tn[i] = (char)(type[i] >= 32 && type[i] < 127 ? type[i] : '?');
        if (cl > 0x7fffffffu || cl > len - p - 12)
            return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated PNG (chunk '%s' of %u bytes runs past the end of the file)", path, tn, cl);
        if (!seen_ihdr && memcmp(type, "IHDR", 4))
            return ct_fail(err, memcmp(type, "CgBI", 4) ? CT_ERR_FORMAT : CT_ERR_UNSUPPORTED,
                           memcmp(type, "CgBI", 4) ? "'%s': PNG does not start with an IHDR chunk"
                                                   : "'%s': Apple's CgBI PNG variant is not supported", path);
        if (!memcmp(type, "IHDR", 4)) {
            if (seen_ihdr) return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG has two IHDR chunks", path);
            if (cl != 13) return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG IHDR chunk of %u bytes (13 expected)", path, cl);
            uint32_t w = rd32(d), hh = rd32(d + 4);
            ct_png_header *h = &f->h;
            h->depth = d[8];
            h->color = d[9];
            if (w == 0 || hh == 0 || w > 0x7fffffffu || hh > 0x7fffffffu)
                return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG size %u x %u", path, w, hh);
            if (!valid_depth(h->color, h->depth))
                return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG colour type %d with %d-bit samples is not a valid combination", path, h->color,
                               h->depth);
            if (d[10] != 0 || d[11] != 0) return ct_fail(err, CT_ERR_FORMAT, "'%s': unknown PNG compression or filter method", path);
            if (d[12] > 1) return ct_fail(err, CT_ERR_FORMAT, "'%s': unknown PNG interlace method %d", path, d[12]);
            h->width = (int)w;
            h->height = (int)hh;
            h->interlaced = d[12];
            seen_ihdr = 1;
        } else if (!memcmp(type, "PLTE", 4)) {
            if (seen_plte || n_idat) return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG palette repeated or after the image data", path);
            if (cl == 0 || cl % 3 || cl > 768) return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG palette of %u bytes", path, cl);
            f->h.n_palette = (int)(cl / 3);
            memcpy(f->h.palette, d, cl);
            seen_plte = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            if (f->h.color == 3 && !seen_plte) return ct_fail(err, CT_ERR_FORMAT, "'%s': palette PNG without a palette before its data", path);
            if (!n_idat) first_idat = d;
            n_idat++;
            idat_total += cl;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_end = 1;
        } else if (!(type[0] & 0x20)) {
            /* an unknown critical chunk: the image cannot be read without it. Its checksum tells a
             * chunk of a format we do not know from a damaged chunk name. */
            if (ct_crc32(0, type, 4 + (size_t)cl) != rd32(d + cl))
                return ct_fail(err, CT_ERR_FORMAT, "'%s': corrupt PNG (chunk '%s' with a wrong checksum)", path, tn);
            return ct_fail(err, CT_ERR_UNSUPPORTED, "'%s': PNG chunk '%s' is not supported", path, tn);
        }
        p += 12 + (size_t)cl;
    }
    if (!want_data) return CT_OK; /* the header alone: a missing IDAT is found when decoding */
    if (!n_idat) return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG without image data (no IDAT chunk)", path);
    if (n_idat == 1) {
        f->idat = first_idat;
        f->idat_len = idat_total;
        return CT_OK;
    }
    f->idat_copy = malloc(idat_total ? idat_total : 1);
    if (!f->idat_copy) return ct_fail(err, CT_ERR_NOMEM, "out of memory reading '%s'", path);
    size_t o = 0;
    for (p = 8;;) {
        uint32_t cl = rd32(buf + p);
        if (!memcmp(buf + p + 4, "IEND", 4)) break;
        if (!memcmp(buf + p + 4, "IDAT", 4)) {
            memcpy(f->idat_copy + o, buf + p + 8, cl);
            o += cl;
        }
        p += 12 + (size_t)cl;
    }
    f->idat = f->idat_copy;
    f->idat_len = o;
    return CT_OK;
}

ct_status ct_png_header_read(const uint8_t *buf, size_t len, const char *path, ct_png_header *h, ct_error *err) {
    png_file f;
    ct_status st = walk(buf, len, path, &f, 0, err);
    if (!st) *h = f.h;
    return st;
}

/* ------------------------------------------------------------- rows */

/* Adam7: first column and row, and steps, of each pass; one pass without interlacing */
static const int k_adam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

typedef struct {
    int x0, y0, dx, dy, w, h; /* pass geometry: pixels w x h */
    size_t rowbytes;          /* without the filter byte */
} pass_t;

static int passes(const ct_png_header *h, pass_t out[7]) {
    int n = 0, bits = h->depth * channels_of(h->color);
    for (int i = 0; i < (h->interlaced ? 7 : 1); i++) {
        pass_t p;
        p.x0 = h->interlaced ? k_adam7[i][0] : 0;
        p.y0 = h->interlaced ? k_adam7[i][1] : 0;
        p.dx = h->interlaced ? k_adam7[i][2] : 1;
        p.dy = h->interlaced ? k_adam7[i][3] : 1;
        p.w = h->width > p.x0 ? (h->width - p.x0 + p.dx - 1) / p.dx : 0;
        p.h = h->height > p.y0 ? (h->height - p.y0 + p.dy - 1) / p.dy : 0;
        if (!p.w || !p.h) continue; /* an empty pass has no bytes, not even filter bytes */
        p.rowbytes = ((size_t)p.w * (size_t)bits + 7) / 8;
        out[n++] = p;
    }
    return n;
}

static uint8_t paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* undo the filter of one row in place; prior is the previous row of the pass (NULL for the first) */
static int unfilter(int type, uint8_t *row, const uint8_t *prior, size_t n, size_t bpp) {
    switch (type) {
    case 0: return 1;
    case 1: for (size_t i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]); return 1;
    case 2: if (prior) for (size_t i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prior[i]); return 1;
    case 3:
        for (size_t i = 0; i < n; i++) {
            int a = i >= bpp ? row[i - bpp] : 0, b = prior ? prior[i] : 0;
            row[i] = (uint8_t)(row[i] + ((a + b) >> 1));
        }
        return 1;
    case 4:
        for (size_t i = 0; i < n; i++) {
            int a = i >= bpp ? row[i - bpp] : 0, b = prior ? prior[i] : 0, c = prior && i >= bpp ? prior[i - bpp] : 0;
            row[i] = (uint8_t)(row[i] + paeth(a, b, c));
        }
        return 1;
    default: return 0;
    }
}

/* sample i of a row of samples of `depth` bits */
static unsigned sample(const uint8_t *row, int depth, size_t i) {
    if (depth == 8) return row[i];
    if (depth == 16) return (unsigned)row[2 * i] << 8 | row[2 * i + 1];
    size_t bit = i * (size_t)depth;
    return (unsigned)(row[bit / 8] >> (8 - depth - (int)(bit % 8))) & ((1u << depth) - 1);
}

/* writes the pixels of one unfiltered row: pass row r of pass p */
typedef void (*row_out)(void *ctx, const ct_png_header *h, const pass_t *p, int r, const uint8_t *row);

static ct_status decode(const char *path, png_file *f, row_out out, void *ctx, ct_error *err) {
    pass_t ps[7];
    int np = passes(&f->h, ps);
    size_t raw = 0;
    for (int i = 0; i < np; i++) {
        size_t b;
        if (!ct_size3((size_t)ps[i].h, ps[i].rowbytes + 1, 1, 1, &b) || !ct_add_ok(raw, b, &raw))
            return ct_fail(err, CT_ERR_TOO_LARGE, "'%s': PNG image data too large", path);
    }
    if (raw > 0x7fffffff) return ct_fail(err, CT_ERR_TOO_LARGE, "'%s': PNG of %zu bytes of image data is too large to decode", path, raw);
    uint8_t *d = malloc(raw);
    if (!d) return ct_fail(err, CT_ERR_NOMEM, "out of memory decoding '%s' (%zu bytes)", path, raw);
    long got = ct_zlib_decode(f->idat, f->idat_len, 1, d, raw);
    if (got < 0) {
        free(d);
        return ct_fail(err, CT_ERR_FORMAT, "'%s': corrupt PNG image data (the zlib stream is damaged or longer than the image)", path);
    }
    if ((size_t)got < raw) {
        free(d);
        return ct_fail(err, CT_ERR_FORMAT, "'%s': truncated PNG image data (%ld of %zu bytes)", path, got, raw);
    }
    size_t bpp = (size_t)(f->h.depth * channels_of(f->h.color) + 7) / 8, o = 0;
    for (int i = 0; i < np; i++) {
        const uint8_t *prior = NULL;
        for (int r = 0; r < ps[i].h; r++) {
            uint8_t *row = d + o + 1;
            if (!unfilter(d[o], row, prior, ps[i].rowbytes, bpp)) {
                int type = d[o];
                free(d);
                return ct_fail(err, CT_ERR_FORMAT, "'%s': PNG row %d has unknown filter type %d", path, r, type);
            }
            out(ctx, &f->h, &ps[i], r, row);
            prior = row;
            o += ps[i].rowbytes + 1;
        }
    }
    free(d);
    return CT_OK;
}

/* ------------------------------------------------------------- pictures */

static void rgb_row(void *ctx, const ct_png_header *h, const pass_t *p, int r, const uint8_t *row) {
    static const uint8_t scale[9] = {0, 0xff, 0x55, 0, 0x11, 0, 0, 0, 0x01}; /* stb_image's, for low bit depths */
    uint8_t *dst = (uint8_t *)ctx + ((size_t)(p->y0 + r * p->dy) * (size_t)h->width + (size_t)p->x0) * 3;
    size_t step = (size_t)p->dx * 3;
    int d = h->depth, c = channels_of(h->color), sh = d == 16 ? 8 : 0;
    for (int x = 0; x < p->w; x++, dst += step) {
        size_t s = (size_t)x * (size_t)c;
        if (h->color == 3) {
            unsigned i = sample(row, d, s);
            if ((int)i < h->n_palette) memcpy(dst, h->palette[i], 3);
            else dst[0] = dst[1] = dst[2] = 0; /* an index past the palette: black */
        } else if (h->color == 0 || h->color == 4) {
            unsigned g = sample(row, d, s) >> sh;
            dst[0] = dst[1] = dst[2] = (uint8_t)(d < 8 ? g * scale[d] : g);
        } else {
            for (int k = 0; k < 3; k++) dst[k] = (uint8_t)(sample(row, d, s + (size_t)k) >> sh);
        }
    }
}

ct_status ct_png_decode_rgb(const uint8_t *buf, size_t len, const char *path, uint8_t **rgb, ct_png_header *h, ct_error *err) {
    png_file f;
    ct_status st = walk(buf, len, path, &f, 1, err);
    if (st) return st;
    size_t n;
    uint8_t *px = ct_size3((size_t)f.h.width, (size_t)f.h.height, 3, 1, &n) ? malloc(n) : NULL;
    if (!px) st = ct_fail(err, CT_ERR_NOMEM, "out of memory for the %d x %d image '%s'", f.h.width, f.h.height, path);
    else st = decode(path, &f, rgb_row, px, err);
    free(f.idat_copy);
    if (st) { free(px); return st; }
    *rgb = px;
    if (h) *h = f.h;
    return CT_OK;
}

/* ------------------------------------------------------------- label maps */

typedef struct {
    int32_t *lab;
} label_ctx;

static void label_row(void *ctx, const ct_png_header *h, const pass_t *p, int r, const uint8_t *row) {
    int32_t *dst = ((label_ctx *)ctx)->lab + (size_t)(p->y0 + r * p->dy) * (size_t)h->width + (size_t)p->x0;
    for (int x = 0; x < p->w; x++, dst += p->dx) *dst = (int32_t)sample(row, h->depth, (size_t)x);
}

ct_status ct_labels_load_png(const char *path, int32_t **labels, int *width, int *height, ct_error *err) {
    if (!path || !labels || !width || !height) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_labels_load_png: NULL argument");
    uint8_t *buf = NULL;
    size_t len = 0;
    ct_status st = ct_read_file(path, MAX_LABEL_FILE, &buf, &len, err);
    if (st) return st;
    png_file f;
    st = walk(buf, len, path, &f, 1, err);
    int32_t *lab = NULL;
    if (!st && f.h.color != 0 && f.h.color != 3)
        st = ct_fail(err, CT_ERR_UNSUPPORTED,
                     "'%s' is a %s PNG: a label map holds one label per pixel, as grey values (8 or 16 bit) or palette indices", path,
                     f.h.color == 2 ? "colour (RGB)" : f.h.color == 6 ? "colour (RGBA)" : "grey + alpha");
    if (!st && (uint64_t)f.h.width * (uint64_t)f.h.height > CT_MAX_IMAGE_PIXELS)
        st = ct_fail(err, CT_ERR_TOO_LARGE, "'%s': label map of %d x %d pixels is above the %u-pixel limit", path, f.h.width, f.h.height,
                     CT_MAX_IMAGE_PIXELS);
    if (!st) {
        lab = ct_alloc((size_t)f.h.width * (size_t)f.h.height, sizeof(int32_t));
        if (!lab) st = ct_fail(err, CT_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    if (!st) {
        label_ctx c = {lab};
        st = decode(path, &f, label_row, &c, err);
    }
    free(f.idat_copy);
    free(buf);
    if (st) { free(lab); return st; }
    *labels = lab;
    *width = f.h.width;
    *height = f.h.height;
    return ct_ok(err);
}
