/* Images: decoding (stb_image) and the reference's preprocessing, reproduced bit for bit:
 * Pillow's antialiased bicubic resize (a = -0.5, support 2 x the scale when shrinking, weights in
 * 22-bit fixed point, horizontal pass then vertical, each rounded and clipped to 8 bits),
 * torchvision's Resize(short side) sizes and CenterCrop offsets (Python's round), then
 * ToTensor (/255) and Normalize with CLIP's mean and std in float32. */
#include "core/internal.h"
#include "image/png_read.h"
#include "io/file.h"
#include "io/stb_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREC 22 /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

static const float k_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float k_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void ct_image_free(ct_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img);
}

static ct_status new_image(int w, int h, ct_image **out, ct_error *err) {
    size_t n;
    if (w <= 0 || h <= 0 || !ct_size3((size_t)w, (size_t)h, 3, 1, &n)) return ct_fail(err, CT_ERR_INVALID_ARG, "bad image size %d x %d", w, h);
    if ((uint64_t)w * (uint64_t)h > CT_MAX_IMAGE_PIXELS)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d exceeds the %u-pixel limit", w, h, CT_MAX_IMAGE_PIXELS);
    ct_image *im = calloc(1, sizeof *im);
    if (!im || !(im->rgb = malloc(n))) { free(im); return ct_fail(err, CT_ERR_NOMEM, "out of memory for a %d x %d image", w, h); }
    im->width = w;
    im->height = h;
    *out = im;
    return CT_OK;
}

ct_status ct_image_from_rgb(const uint8_t *rgb, int width, int height, ct_image **out, ct_error *err) {
    if (!rgb || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_image_from_rgb: NULL argument");
    ct_image *im = NULL;
    ct_status st = new_image(width, height, &im, err);
    if (st) return st;
    memcpy(im->rgb, rgb, (size_t)width * height * 3);
    *out = im;
    return ct_ok(err);
}

static ct_status adopt(uint8_t *px, int w, int h, ct_image **out, ct_error *err) {
    ct_image *im = calloc(1, sizeof *im);
    if (!im) { free(px); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    im->width = w;
    im->height = h;
    im->rgb = px; /* the decoder's buffer (malloc'd), no copy */
    *out = im;
    return CT_OK;
}

/* The pixel limit bounds what decoding costs: w x h pixels, each counting as many units as its
 * decoder keeps about 6 bytes for it (a 16-bit PNG, a GIF canvas, a progressive JPEG: 2). It is
 * checked from the header, before any pixel is decoded. */
static ct_status check_cost(const char *path, const char *kind, int w, int h, int per_pixel, ct_error *err) {
    uint64_t units = (uint64_t)w * (uint64_t)h * (uint64_t)per_pixel;
    if (units <= CT_MAX_IMAGE_PIXELS) return CT_OK;
    if (per_pixel == 1)
        return ct_fail(err, CT_ERR_TOO_LARGE, "'%s' is %d x %d pixels, above the %u-pixel limit", path, w, h, CT_MAX_IMAGE_PIXELS);
    return ct_fail(err, CT_ERR_TOO_LARGE,
                   "'%s' is a %s of %d x %d pixels: its pixels cost %d times an 8-bit pixel to decode (%llu pixel units), above the "
                   "%u-pixel limit", path, kind, w, h, per_pixel, (unsigned long long)units, CT_MAX_IMAGE_PIXELS);
}

ct_status ct_image_load(const char *path, ct_image **out, ct_error *err) {
    if (!path || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_image_load: NULL argument");
    uint8_t *buf = NULL;
    size_t len = 0;
    ct_status st = ct_read_file(path, INT_MAX, &buf, &len, err); /* stb's sizes are ints */
    if (st) return st;
    if (len == 0) { free(buf); return ct_fail(err, CT_ERR_FORMAT, "'%s' is empty", path); }
    uint8_t *px = NULL;
    int w = 0, h = 0;
    if (ct_png_signature(buf, len)) {
        ct_png_header ph;
        memset(&ph, 0, sizeof ph);
        st = ct_png_header_read(buf, len, path, &ph, err);
        if (!st) st = check_cost(path, "16-bit PNG", ph.width, ph.height, ph.depth == 16 ? 2 : 1, err);
        if (!st) st = ct_png_decode_rgb(buf, len, path, &px, &ph, err);
        w = ph.width;
        h = ph.height;
    } else {
        int cost = 1;
        const char *why = "unknown";
        st = ct_stb_probe(buf, len, &w, &h, &cost, &why);
        if (st == CT_ERR_TOO_LARGE)
            st = ct_fail(err, st, "'%s' announces an image too large to decode (%s; limit %u pixels)", path, why, CT_MAX_IMAGE_PIXELS);
        else if (st) st = ct_fail(err, st, "'%s': %s", path, why);
        else if (w <= 0 || h <= 0) st = ct_fail(err, CT_ERR_FORMAT, "'%s' has size %d x %d", path, w, h);
        else st = check_cost(path, buf[0] == 'G' ? "GIF" : "progressive JPEG", w, h, cost, err);
        if (!st && !(px = ct_stb_decode_rgb(buf, len, &w, &h, &why)))
            st = ct_fail(err, CT_ERR_FORMAT, "cannot decode '%s': %s", path, why);
    }
    free(buf);
    if (st) return st;
    st = adopt(px, w, h, out, err);
    return st ? st : ct_ok(err);
}

/* ------------------------------------------------------------- Pillow's resampler */

static double bicubic(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* fixed-point weights [out x ksize] and bounds [out x 2] (first tap, tap count) */
static int coeffs(int in, int out, int **kk_out, int **bounds_out, int *ksize_out) {
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * (size_t)ksize);
    int *kk = ct_alloc((size_t)out * ksize, sizeof(int)), *b = ct_alloc((size_t)out * 2, sizeof(int));
    if (!k || !kk || !b) { free(k); free(kk); free(b); return 0; }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kk[(size_t)xx * ksize + x] = v < 0 ? (int)(v * (1 << PREC) - 0.5) : (int)(v * (1 << PREC) + 0.5);
        }
        b[2 * xx] = xmin;
        b[2 * xx + 1] = xmax;
    }
    free(k);
    *kk_out = kk;
    *bounds_out = b;
    *ksize_out = ksize;
    return 1;
}

static uint8_t clip8(int v) {
    v >>= PREC;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Image.resize((ow, oh), BICUBIC) of an RGB image */
static ct_status pil_resize(const ct_image *in, int ow, int oh, ct_image **out, ct_error *err) {
    ct_image *res = NULL;
    ct_status st = new_image(ow, oh, &res, err);
    if (st) return st;
    int iw = in->width, ih = in->height;
    int *kh = NULL, *bh = NULL, *kv = NULL, *bv = NULL, ksh = 0, ksv = 0;
    uint8_t *tmp = NULL;
    if (!coeffs(iw, ow, &kh, &bh, &ksh) || !coeffs(ih, oh, &kv, &bv, &ksv)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    /* horizontal pass over the source rows the vertical pass will read */
    int y0 = bv[0], y1 = bv[2 * (oh - 1)] + bv[2 * (oh - 1) + 1];
    int need_h = ow != iw, need_v = oh != ih;
    const uint8_t *src = in->rgb;
    int first = 0;
    if (need_h) {
        int rows = y1 - y0;
        first = y0;
        tmp = ct_alloc((size_t)rows * ow * 3, 1); /* [rows x ow x 3] */
        if (!tmp) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        for (int y = 0; y < rows; y++) {
            const uint8_t *r = in->rgb + (size_t)(y + y0) * iw * 3;
            for (int x = 0; x < ow; x++) {
                const int *k = kh + (size_t)x * ksh;
                int xmin = bh[2 * x], xn = bh[2 * x + 1];
                for (int c = 0; c < 3; c++) {
                    int ss = 1 << (PREC - 1);
                    for (int t = 0; t < xn; t++) ss += r[(size_t)(xmin + t) * 3 + c] * k[t];
                    tmp[((size_t)y * ow + x) * 3 + c] = clip8(ss);
                }
            }
        }
        src = tmp;
    }
    if (need_v) {
        int sw = need_h ? ow : iw;
        for (int y = 0; y < oh; y++) {
            const int *k = kv + (size_t)y * ksv;
            int ymin = bv[2 * y] - first, yn = bv[2 * y + 1];
            for (int x = 0; x < sw; x++)
                for (int c = 0; c < 3; c++) {
                    int ss = 1 << (PREC - 1);
                    for (int t = 0; t < yn; t++) ss += src[((size_t)(ymin + t) * sw + x) * 3 + c] * k[t];
                    res->rgb[((size_t)y * ow + x) * 3 + c] = clip8(ss);
                }
        }
    } else {
        memcpy(res->rgb, src, (size_t)ow * oh * 3); /* horizontal pass covered every row */
    }
done:
    free(kh); free(bh); free(kv); free(bv); free(tmp);
    if (st) { ct_image_free(res); return st; }
    *out = res;
    return CT_OK;
}

/* Python's round() for x / 2 with x an integer: halves go to the even neighbour */
static int round_half_even_div2(int x) {
    int q = x / 2;
    if (x % 2 == 0) return q;
    return (q % 2 == 0) ? q : q + 1;
}

/* Longest side of a resize before the crop: as large as any model input (CT_MAX_PATCHES patches
 * of at least 1 pixel on a side of 8 x 8192), beyond which an aspect ratio is refused. */
#define CT_MAX_RESIZED_SIDE (8 * 8192)

int ct_round_size(int size, int patch) {
    if (patch <= 0 || patch > 8192) return 0;
    long long r = ((long long)size + patch / 2) / patch * patch, top = 8192 / patch * patch;
    if (r < patch) r = patch;
    if (r > top) r = top;
    return (int)r;
}

/* Short side `size`; long side int(size * long / short) (torchvision) for crops, else the
 * nearest multiple of the patch (at least one). Computed in double (exact for these integers)
 * and refused before it becomes an int. */
ct_status ct_resize_geometry(int w, int h, int size, int crop, int patch, ct_geometry *g, ct_error *err) {
    if (!g) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_resize_geometry: NULL argument");
    if (patch <= 0 || patch > 8192) return ct_fail(err, CT_ERR_INVALID_ARG, "patch size %d must be in [1, 8192]", patch);
    if (size <= 0 || size > 8192) return ct_fail(err, CT_ERR_INVALID_ARG, "size %d must be in [1, 8192]", size);
    if (w <= 0 || h <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "image size %d x %d", w, h);
    if (size % patch) return ct_fail(err, CT_ERR_INVALID_ARG, "size %d is not a multiple of the patch size %d", size, patch);
    int shrt = w < h ? w : h, lng = w < h ? h : w;
    double nl = crop ? floor((double)size * lng / shrt) : floor((double)size * lng / shrt / patch + 0.5) * patch;
    if (!crop && nl < patch) nl = patch;
    if (!(nl <= CT_MAX_RESIZED_SIDE))
        return ct_fail(err, CT_ERR_TOO_LARGE,
                       "a %d x %d picture resized to a short side of %d would be %.0f pixels long (limit %d): its aspect ratio is too "
                       "extreme", w, h, size, nl, CT_MAX_RESIZED_SIDE);
    g->resized_width = w <= h ? size : (int)nl;
    g->resized_height = w <= h ? (int)nl : size;
    g->crop_left = crop ? round_half_even_div2(g->resized_width - size) : 0;
    g->crop_top = crop ? round_half_even_div2(g->resized_height - size) : 0;
    g->width = crop ? size : g->resized_width;
    g->height = crop ? size : g->resized_height;
    return ct_ok(err);
}

ct_status ct_resize_for_model(const ct_image *img, int size, int crop, int patch, ct_image **out, ct_error *err) {
    if (!img || !out || !img->rgb) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_resize_for_model: NULL argument");
    ct_geometry g;
    ct_status st = ct_resize_geometry(img->width, img->height, size, crop, patch, &g, err);
    if (st) return st;
    int w = img->width, h = img->height, nw = g.resized_width, nh = g.resized_height;
    ct_image *r = NULL;
    if (nw == w && nh == h) st = ct_image_from_rgb(img->rgb, w, h, &r, err);
    else st = pil_resize(img, nw, nh, &r, err);
    if (st) return st;
    if (nw != g.width || nh != g.height) {
        ct_image *c = NULL;
        st = new_image(g.width, g.height, &c, err);
        if (st) { ct_image_free(r); return st; }
        for (int y = 0; y < g.height; y++)
            memcpy(c->rgb + (size_t)y * g.width * 3, r->rgb + ((size_t)(y + g.crop_top) * nw + g.crop_left) * 3, (size_t)g.width * 3);
        ct_image_free(r);
        r = c;
    }
    *out = r;
    return ct_ok(err);
}

ct_status ct_normalize(const ct_image *img, float **pixels, ct_error *err) {
    if (!img || !pixels || !img->rgb) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_normalize: NULL argument");
    size_t n = (size_t)img->width * img->height;
    float *p = ct_alloc(n * 3, sizeof(float)); /* [3 x H x W] */
    if (!p) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) {
            float v = (float)img->rgb[i * 3 + c] / 255.f;
            p[c * n + i] = (v - k_mean[c]) / k_std[c];
        }
    *pixels = p;
    return ct_ok(err);
}

ct_status ct_preprocess(const ct_image *img, int size, int crop, int patch, float **pixels, int *H, int *W, ct_error *err) {
    if (!pixels || !H || !W) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_preprocess: NULL argument");
    ct_image *r = NULL;
    ct_status st = ct_resize_for_model(img, size, crop, patch, &r, err);
    if (st) return st;
    float *p;
    st = ct_normalize(r, &p, err);
    if (!st) { *pixels = p; *H = r->height; *W = r->width; }
    ct_image_free(r);
    return st;
}

ct_status ct_labels_to_image(const int32_t *labels, int H, int W, int width, int height, int size, int crop,
                             int32_t *out, ct_error *err) {
    if (!labels || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_labels_to_image: NULL argument");
    if (H <= 0 || W <= 0 || width <= 0 || height <= 0 || (crop && (size != H || size != W)))
        return ct_fail(err, CT_ERR_INVALID_ARG, "ct_labels_to_image: bad sizes");
    /* the resize before the crop, and the crop offsets, exactly as the forward path made them */
    int rw = W, rh = H, top = 0, left = 0;
    if (crop) {
        ct_geometry g;
        ct_status st = ct_resize_geometry(width, height, size, 1, 1, &g, err);
        if (st) return st;
        rw = g.resized_width;
        rh = g.resized_height;
        top = g.crop_top;
        left = g.crop_left;
    }
    for (int y = 0; y < height; y++) {
        int sy = (int)((y + 0.5) * rh / height) - top;
        sy = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
        for (int x = 0; x < width; x++) {
            int sx = (int)((x + 0.5) * rw / width) - left;
            sx = sx < 0 ? 0 : sx >= W ? W - 1 : sx;
            out[(size_t)y * width + x] = labels[(size_t)sy * W + sx];
        }
    }
    return ct_ok(err);
}
