/* Image preprocessing against the reference: model_input.png from image.png (PIL bicubic resize,
 * torchvision center crop), pixels.npy from model_input.png (ToTensor + Normalize).
 * Tolerances: the resize is integer arithmetic reproduced step by step, so we require what the
 * issue allows at most (max 1 grey level, >= 99% exact) and report the actual figures;
 * normalisation is one float division and subtraction: 1e-6. */
#include "fixtures.h"
#include "png_build.h"

#include <sys/resource.h>
#include <sys/stat.h>

#define MAXFX 16

static void resize_matches_reference(void) {
    fixture fx[MAXFX];
    int nfx = find_fixtures(fx, MAXFX), runs_seen = 0;
    if (!nfx) SKIP("no model fixtures under %s", oracle_dir());
    for (int f = 0; f < nfx; f++) {
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        int patch = (int)jnum(ct_json_get(fx[f].meta, "config"), "patch", 16);
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            char p[800], q[800];
            FMT(p, "%s/%s/image.png", fx[f].dir, rn);
            FMT(q, "%s/%s/model_input.png", fx[f].dir, rn);
            ct_image *img = NULL, *want = NULL, *got = NULL;
            ct_error err;
            if (ct_image_load(p, &img, &err) || ct_image_load(q, &want, &err)) { CHECK(0, "%s", err.msg); continue; }
            const ct_json *crop = ct_json_get(run, "crop"), *hw = ct_json_get(run, "hw");
            int size = crop ? (int)crop->num : (int)(hw->items[0].num < hw->items[1].num ? hw->items[0].num : hw->items[1].num);
            CHECK(ct_resize_for_model(img, size, crop != NULL, patch, &got, &err) == CT_OK, "%s", err.msg);
            if (got) {
                CHECK(got->width == want->width && got->height == want->height, "%s: size %dx%d, want %dx%d", rn, got->width, got->height, want->width, want->height);
                if (got->width == want->width && got->height == want->height) {
                    size_t n = (size_t)got->width * got->height * 3, exact = 0;
                    int maxd = 0;
                    for (size_t i = 0; i < n; i++) {
                        int d = abs((int)got->rgb[i] - (int)want->rgb[i]);
                        maxd = d > maxd ? d : maxd;
                        exact += d == 0;
                    }
                    printf("  %s/%s: %dx%d -> %dx%d (%s), max diff %d, exact %.4f\n", fx[f].name, rn, img->width, img->height, got->width,
                           got->height, crop ? "crop" : "whole", maxd, (double)exact / n);
                    CHECK(maxd <= 1 && (double)exact / n >= 0.99, "max diff %d exact %f", maxd, (double)exact / n);
                }
                float *px = NULL;
                npy_array ref = {0};
                CHECK(ct_normalize(want, &px, &err) == CT_OK, "%s", err.msg);
                if (px && load_npy(fx[f].dir, rn, "pixels", &ref)) {
                    double d = max_abs_diff(px, ref.data, ref.numel);
                    CHECK(d <= 1e-6, "pixels %g", d);
                }
                free(px);
                npy_free(&ref);
            }
            runs_seen++;
            ct_image_free(img); ct_image_free(want); ct_image_free(got);
        }
        ct_json_free(fx[f].meta);
    }
    CHECK(runs_seen > 0, "no runs");
}

static void bad_images(void) {
    ct_image *img = NULL;
    ct_error err;
    char p[600];
    FMT(p, "%s/bad.png", t_tmpdir());
    FILE *f = fopen(p, "wb");
    fputs("\x89PNG\r\n\x1a\n garbage", f);
    fclose(f);
    CHECK(ct_image_load(p, &img, &err) == CT_ERR_FORMAT && !img, "corrupt png: %s", err.msg);
    f = fopen(p, "wb");
    fclose(f);
    CHECK(ct_image_load(p, &img, &err) == CT_ERR_FORMAT && !img, "empty file: %s", err.msg);
    remove(p);
    CHECK(ct_image_load("/nonexistent.png", &img, &err) == CT_ERR_IO, "missing file");
    uint8_t one[3] = {10, 20, 30};
    CHECK(ct_image_from_rgb(one, 1, 1, &img, &err) == CT_OK, "1x1");
    ct_image *r = NULL;
    CHECK(ct_resize_for_model(img, 224, 1, 16, &r, &err) == CT_OK && r && r->width == 224, "1x1 upscaled: %s", err.msg);
    if (r) CHECK(r->rgb[0] == 10 && r->rgb[1] == 20 && r->rgb[2] == 30, "constant image stays constant");
    ct_image_free(r);
    r = NULL;
    CHECK(ct_resize_for_model(img, 100, 1, 16, &r, &err) == CT_ERR_INVALID_ARG && !r, "size not a patch multiple");
    ct_image_free(img);
}

static void write_raw(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (f) { fwrite(d, 1, n, f); fclose(f); }
}

/* truncated and corrupted JPEG/PNG files: an error or a decoded image, never a crash */
static void truncated_and_corrupt(void) {
    enum { W = 48, H = 40 };
    static uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 7 + (i / 97) * 13);
    /* the JPEG is a committed seed (stb_image_write's JPEG encoder has undefined behaviour that
     * UBSan reports, so the test does not encode one) */
    char png[600], cut[600];
    const char *jpg = "test/fuzz/seeds/image/rgb.jpg";
    FMT(png, "%s/t.png", t_tmpdir());
    FMT(cut, "%s/cut.bin", t_tmpdir());
    if (!file_exists(jpg)) SKIP("%s not in this tree", jpg);
    CHECK(png_rgb(png, W, H, rgb), "writing the test PNG");
    const char *files[2] = {png, jpg};
    const int widths[2] = {W, 20}, heights[2] = {H, 12};
    for (int k = 0; k < 2; k++) {
        size_t len;
        char *buf = slurp(files[k], &len);
        ct_image *img = NULL;
        ct_error err;
        CHECK(ct_image_load(files[k], &img, &err) == CT_OK && img->width == widths[k] && img->height == heights[k], "%s: %s", files[k], err.msg);
        ct_image_free(img);
        int errors = 0, decoded = 0;
        for (size_t n = 0; buf && n < len; n += 1 + len / 64) { /* every prefix length, coarsely */
            write_raw(cut, buf, n);
            img = NULL;
            ct_status st = ct_image_load(cut, &img, &err);
            CHECK(st == CT_OK || st == CT_ERR_FORMAT, "%s cut at %zu: status %s", files[k], n, ct_status_str(st));
            if (st == CT_OK) { decoded++; CHECK(img && img->width == widths[k], "partial decode size"); }
            else { errors++; CHECK(img == NULL && err.msg[0], "output touched or no message"); }
            ct_image_free(img);
        }
        for (size_t n = 8; buf && n < len; n += 1 + len / 48) { /* flipped bytes */
            buf[n] ^= 0x5a;
            write_raw(cut, buf, len);
            img = NULL;
            ct_status st = ct_image_load(cut, &img, &err);
            CHECK(st == CT_OK || st == CT_ERR_FORMAT, "%s flipped at %zu: %s", files[k], n, ct_status_str(st));
            ct_image_free(img);
            buf[n] ^= 0x5a;
        }
        printf("  %s: truncations: %d refused, %d decoded partially\n", k ? "jpeg" : "png", errors, decoded);
        free(buf);
    }
    remove(png); remove(cut);
}

/* a PNG header announcing 20,000 x 20,000 is refused before any pixel is decoded */
static void huge_dimensions_refused(void) {
    static const uint8_t hdr[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                  0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    char p[600];
    FMT(p, "%s/huge.png", t_tmpdir());
    write_raw(p, hdr, sizeof hdr);
    ct_image *img = NULL;
    ct_error err;
    CHECK(ct_image_load(p, &img, &err) == CT_ERR_TOO_LARGE && !img, "20000x20000: %s", err.msg);
    printf("  %s\n", err.msg);
    uint8_t px[3] = {1, 2, 3};
    CHECK(ct_image_from_rgb(px, 20000, 20000, &img, &err) == CT_ERR_TOO_LARGE, "from_rgb 20000x20000");
    CHECK(ct_image_from_rgb(px, 0, 5, &img, &err) == CT_ERR_INVALID_ARG, "zero width");
}

#include <dirent.h>

/* every input the fuzzers found a problem with stays a test (run it under make asan) */
static void fuzz_regressions(void) {
    DIR *d = opendir("test/fuzz/regress");
    if (!d) SKIP("test/fuzz/regress not in this tree");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[600];
        FMT(p, "test/fuzz/regress/%s", e->d_name);
        ct_image *img = NULL;
        ct_error err;
        ct_status st = ct_image_load(p, &img, &err);
        CHECK(st == CT_OK || st == CT_ERR_FORMAT || st == CT_ERR_TOO_LARGE, "%s: %s", p, ct_status_str(st));
        if (st) printf("  %s: %s\n", e->d_name, err.msg);
        ct_image_free(img);
        n++;
    }
    closedir(d);
    CHECK(n > 0, "no regression inputs");
}

/* ------------------------------------------------------------- the PNG reader */

static uint32_t png_seed;
static int png_depth;
static unsigned sample_rand(int x, int y, int c) {
    uint32_t v = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ (uint32_t)c * 83492791u ^ png_seed;
    v ^= v >> 13; v *= 0x5bd1e995u; v ^= v >> 15;
    return v & ((1u << png_depth) - 1);
}

static ct_status load_bytes(const char *name, const bytes *b, ct_image **img, ct_error *err) {
    char p[600];
    FMT(p, "%s/%s", t_tmpdir(), name);
    if (!write_bytes_file(p, b->b, b->n)) { CHECK(0, "cannot write %s", p); return CT_ERR_IO; }
    return ct_image_load(p, img, err);
}

/* Every colour type and bit depth, with and without Adam7, every filter type, odd sizes: the
 * library's PNG reader gives the pixels stb_image gives (stb compiled into this test as the
 * oracle). */
static void png_reader_matches_stb(void) {
    static const int combos[][2] = {{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1}, {3, 2}, {3, 4}, {3, 8},
                                    {4, 8}, {4, 16}, {6, 8}, {6, 16}};
    static const int sizes[][2] = {{1, 1}, {3, 5}, {17, 9}, {33, 20}, {8, 8}};
    int n = 0;
    for (size_t k = 0; k < sizeof combos / sizeof *combos; k++)
        for (int il = 0; il < 2; il++)
            for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
                int color = combos[k][0], depth = combos[k][1], w = sizes[z][0], h = sizes[z][1];
                uint8_t pal[256 * 3];
                for (int i = 0; i < 256 * 3; i++) pal[i] = (uint8_t)(i * 37 + 11);
                png_seed = (uint32_t)(k * 131 + (size_t)il * 7 + z);
                png_depth = depth;
                bytes b = png_make(w, h, depth, color, il, sample_rand, color == 3 ? pal : NULL, color == 3 ? 1 << depth : 0);
                ct_image *img = NULL;
                ct_error err;
                ct_status st = load_bytes("m.png", &b, &img, &err);
                int sw = 0, sh = 0, sc = 0;
                uint8_t *ref = stbi_load_from_memory(b.b, (int)b.n, &sw, &sh, &sc, 3);
                CHECK(st == CT_OK && ref, "type %d depth %d interlace %d %dx%d: %s / stb %s", color, depth, il, w, h, err.msg,
                      ref ? "ok" : stbi_failure_reason());
                if (st == CT_OK && ref)
                    CHECK(img->width == w && img->height == h && !memcmp(img->rgb, ref, (size_t)w * h * 3),
                          "type %d depth %d interlace %d %dx%d: pixels differ from stb_image's", color, depth, il, w, h);
                stbi_image_free(ref);
                ct_image_free(img);
                free(b.b);
                n++;
            }
    printf("  %d PNGs (15 colour type/depth pairs, Adam7 or not, 5 sizes, 5 filters) equal to stb_image\n", n);
}

static ct_status labels_of(const bytes *b, int32_t **lab, int *w, int *h, ct_error *err) {
    char p[600];
    FMT(p, "%s/labels.png", t_tmpdir());
    if (!write_bytes_file(p, b->b, b->n)) { CHECK(0, "cannot write %s", p); return CT_ERR_IO; }
    return ct_labels_load_png(p, lab, w, h, err);
}

/* Label maps: palette PNGs (VOC's SegmentationClass: the index is the label) of 1, 2, 4 and 8
 * bits, interlaced or not, and grey ones of every depth (the value is the label, unscaled);
 * colour maps are refused with a message that says why. */
static void label_maps(void) {
    static const int combos[][2] = {{3, 1}, {3, 2}, {3, 4}, {3, 8}, {0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}};
    uint8_t pal[256 * 3];
    for (int i = 0; i < 256 * 3; i++) pal[i] = (uint8_t)(i * 53);
    for (size_t k = 0; k < sizeof combos / sizeof *combos; k++)
        for (int il = 0; il < 2; il++) {
            int color = combos[k][0], depth = combos[k][1], W = 37, H = 23;
            png_seed = (uint32_t)(k * 17 + (size_t)il);
            png_depth = depth;
            /* a palette shorter than the indices: the index is the label all the same */
            bytes b = png_make(W, H, depth, color, il, sample_rand, color == 3 ? pal : NULL, color == 3 ? (depth == 8 ? 200 : 1 << depth) : 0);
            int32_t *lab = NULL;
            int w = 0, h = 0;
            ct_error err;
            ct_status st = labels_of(&b, &lab, &w, &h, &err);
            CHECK(st == CT_OK && w == W && h == H, "type %d depth %d interlace %d: %s", color, depth, il, err.msg);
            int bad = 0;
            for (int y = 0; st == CT_OK && y < H; y++)
                for (int x = 0; x < W; x++) bad += lab[(size_t)y * W + x] != (int32_t)sample_rand(x, y, 0);
            CHECK(bad == 0, "type %d depth %d interlace %d: %d labels differ", color, depth, il, bad);
            ct_free(lab);
            free(b.b);
        }
    /* colour and grey+alpha maps are not label maps */
    static const int refused[][2] = {{2, 8}, {6, 8}, {4, 8}, {2, 16}};
    for (size_t k = 0; k < sizeof refused / sizeof *refused; k++) {
        png_depth = refused[k][1];
        bytes b = png_make(5, 4, refused[k][1], refused[k][0], 0, sample_rand, NULL, 0);
        int32_t *lab = (int32_t *)0x1;
        int w = -7, h = -7;
        ct_error err;
        CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "label") && lab == (int32_t *)0x1 && w == -7,
              "colour type %d: %s", refused[k][0], err.msg);
        if (k == 0) printf("  %s\n", err.msg);
        free(b.b);
    }
}

/* damaged PNGs: a clear status and message each, never a crash or a partial result */
static void png_damage(void) {
    png_depth = 8;
    uint8_t pal[16 * 3] = {0};
    ct_error err;
    int32_t *lab = NULL;
    int w, h;
    ct_image *img = NULL;
    /* filter type 7 on a row */
    bytes raw = png_raw(6, 4, 8, 0, 0, sample_rand);
    raw.b[(6 + 1) * 2] = 7;
    int zl = 0;
    uint8_t *z = stbi_zlib_compress(raw.b, (int)raw.n, &zl, 8);
    bytes b = {0};
    png_header(&b, 6, 4, 8, 0, 0);
    png_chunk(&b, "IDAT", z, (uint32_t)zl);
    png_chunk(&b, "IEND", NULL, 0);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "filter"), "bad filter: %s", err.msg);
    CHECK(load_bytes("d.png", &b, &img, &err) == CT_ERR_FORMAT && !img, "bad filter (picture): %s", err.msg);
    free(b.b); STBIW_FREE(z);
    /* image data longer than the image (what a decompression bomb is): refused, nothing inflated past it */
    bytes more = raw;
    more.b = malloc(raw.n * 3);
    memcpy(more.b, raw.b, raw.n);
    memcpy(more.b + raw.n, raw.b, raw.n);
    memcpy(more.b + 2 * raw.n, raw.b, raw.n);
    raw.b[(6 + 1) * 2] = 0;
    memcpy(more.b, raw.b, raw.n);
    z = stbi_zlib_compress(more.b, (int)raw.n * 3, &zl, 8);
    b = (bytes){0};
    png_header(&b, 6, 4, 8, 0, 0);
    png_chunk(&b, "IDAT", z, (uint32_t)zl);
    png_chunk(&b, "IEND", NULL, 0);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "longer than the image"), "long stream: %s", err.msg);
    free(b.b); STBIW_FREE(z); free(more.b);
    /* image data cut short */
    z = stbi_zlib_compress(raw.b, (int)raw.n - 5, &zl, 8);
    b = (bytes){0};
    png_header(&b, 6, 4, 8, 0, 0);
    png_chunk(&b, "IDAT", z, (uint32_t)zl);
    png_chunk(&b, "IEND", NULL, 0);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "truncated"), "short data: %s", err.msg);
    free(b.b); STBIW_FREE(z); free(raw.b);
    /* a palette image without its palette */
    b = png_make(4, 4, 4, 3, 0, sample_rand, NULL, 0);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "palette"), "no PLTE: %s", err.msg);
    free(b.b);
    /* file cut before IEND, and cut inside a chunk */
    png_depth = 4;
    b = png_make(4, 4, 4, 3, 1, sample_rand, pal, 16);
    b.n -= 12;
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "truncated"), "no IEND: %s", err.msg);
    b.n -= 5;
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "truncated"), "cut chunk: %s", err.msg);
    free(b.b);
    /* an unknown critical chunk: unsupported when its checksum holds (a format we do not know),
     * malformed when it does not (a damaged chunk name) */
    b = (bytes){0};
    png_header(&b, 1, 1, 8, 0, 0);
    png_chunk(&b, "ABCD", "xy", 2);
    png_chunk(&b, "IEND", NULL, 0);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "ABCD"), "unknown chunk: %s", err.msg);
    b.b[33 + 10] ^= 1; /* the chunk's data: its CRC no longer matches */
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "checksum"), "damaged chunk: %s", err.msg);
    free(b.b);
    /* not a PNG at all, and a directory */
    b = (bytes){0};
    by_put(&b, "GIF89a....", 10);
    CHECK(labels_of(&b, &lab, &w, &h, &err) == CT_ERR_FORMAT && strstr(err.msg, "not a PNG"), "gif as labels: %s", err.msg);
    free(b.b);
    CHECK(ct_labels_load_png(t_tmpdir(), &lab, &w, &h, &err) == CT_ERR_IO && strstr(err.msg, "directory"), "directory: %s", err.msg);
}

/* A GIF of one 1 x 1 frame on a canvas of w x h (an 8-bit colour table of 2 entries); frames
 * repeats the frame. */
static bytes gif_make(int w, int h, int frames) {
    bytes b = {0};
    uint8_t hd[13] = {'G', 'I', 'F', '8', '9', 'a', (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)h, (uint8_t)(h >> 8), 0x80, 1, 0};
    by_put(&b, hd, 13);
    static const uint8_t pal[6] = {0, 0, 0, 255, 255, 255};
    by_put(&b, pal, 6);
    for (int f = 0; f < frames; f++) {
        /* image descriptor 1x1 at 0,0; LZW min code 2: clear(4), index 1, end(5) in 3-bit codes */
        static const uint8_t fr[] = {0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, (4 | (1 << 3) | (5 << 6)) & 0xff, (5 << 6) >> 8, 0};
        by_put(&b, fr, sizeof fr);
    }
    by_put(&b, ";", 1);
    return b;
}

/* The start of a JPEG: a frame marker `sof` of w x h and the given sample precision (a header
 * the size check reads; the file ends there, so nothing is decoded). */
static bytes jpeg_header(uint8_t sof, int w, int h, int precision) {
    bytes b = {0};
    uint8_t d[] = {0xFF, 0xD8, 0xFF, sof, 0, 17, (uint8_t)precision, (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w, 3,
                   1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1};
    by_put(&b, d, sizeof d);
    return b;
}

/* Decoding cost is bounded by the pixel limit before any pixel is decoded, counting what the
 * decoders keep per pixel: a 16-bit PNG, a GIF canvas and a progressive JPEG count twice (about
 * 12 bytes of decoder memory a pixel, against about 6 for an 8-bit PNG or baseline JPEG). Each
 * case has a neighbour just under the limit that passes the check (and then fails for lack of
 * data, or decodes). */
static void decode_cost_bounded(void) {
    struct { bytes b; int too_large; const char *what; } c[10];
    int n = 0;
    c[n].b = (bytes){0}; png_header(&c[n].b, 6000, 6000, 16, 2, 0); png_chunk(&c[n].b, "IEND", NULL, 0);
    c[n].too_large = 1; c[n++].what = "16-bit PNG 6000 x 6000 (72M units)";
    c[n].b = (bytes){0}; png_header(&c[n].b, 5000, 5000, 16, 2, 0); png_chunk(&c[n].b, "IEND", NULL, 0);
    c[n].too_large = 0; c[n++].what = "16-bit PNG 5000 x 5000 (50M units)";
    c[n].b = (bytes){0}; png_header(&c[n].b, 6000, 6000, 8, 2, 0); png_chunk(&c[n].b, "IEND", NULL, 0);
    c[n].too_large = 0; c[n++].what = "8-bit PNG 6000 x 6000 (36M units)";
    c[n].b = gif_make(8192, 8192, 1); c[n].too_large = 1; c[n++].what = "GIF canvas 8192 x 8192 (128M units)";
    c[n].b = jpeg_header(0xC2, 8192, 8192, 8); c[n].too_large = 1; c[n++].what = "progressive JPEG 8192 x 8192 (128M units)";
    c[n].b = jpeg_header(0xC0, 8192, 8192, 8); c[n].too_large = 0; c[n++].what = "baseline JPEG 8192 x 8192 (64M units)";
    c[n].b = jpeg_header(0xC2, 4096, 4096, 8); c[n].too_large = 0; c[n++].what = "progressive JPEG 4096 x 4096 (32M units)";
    for (int i = 0; i < n; i++) {
        ct_image *img = NULL;
        ct_error err;
        ct_status st = load_bytes("cost.bin", &c[i].b, &img, &err);
        if (c[i].too_large) CHECK(st == CT_ERR_TOO_LARGE && !img, "%s: %s %s", c[i].what, ct_status_str(st), err.msg);
        else CHECK(st != CT_ERR_TOO_LARGE, "%s refused: %s", c[i].what, err.msg);
        printf("  %s: %s\n", c[i].what, st ? err.msg : "decoded");
        ct_image_free(img);
        free(c[i].b.b);
    }
    /* a GIF canvas of 4096 x 4096 decodes; so does an animation whose frames add up to more than
     * the limit (only the first frame is decoded) */
    bytes g = gif_make(4096, 4096, 1), a = gif_make(3000, 3000, 20);
    ct_image *img = NULL;
    ct_error err;
    CHECK(load_bytes("g.gif", &g, &img, &err) == CT_OK && img->width == 4096 && img->rgb[0] == 255, "4096 GIF: %s", err.msg);
    ct_image_free(img);
    img = NULL;
    CHECK(load_bytes("a.gif", &a, &img, &err) == CT_OK && img->width == 3000, "20-frame GIF: %s", err.msg);
    ct_image_free(img);
    free(g.b); free(a.b);
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A 1 x 1 PNG whose image data inflates to 48 MiB: refused without inflating past the one pixel
 * (the former decoder, stb_image's, grew its buffer to the whole stream). The peak memory of the
 * process must not grow by anything near the stream's size (8 MiB of slack for the allocator and
 * sanitizers). */
static void png_bomb_bounded(void) {
    size_t n = (size_t)48 << 20;
    uint8_t *zeros = calloc(n, 1);
    int zl = 0;
    uint8_t *z = stbi_zlib_compress(zeros, (int)n, &zl, 5);
    free(zeros);
    bytes b = {0};
    png_header(&b, 1, 1, 8, 0, 0);
    png_chunk(&b, "IDAT", z, (uint32_t)zl);
    png_chunk(&b, "IEND", NULL, 0);
    STBIW_FREE(z);
    char p[600];
    FMT(p, "%s/bomb.png", t_tmpdir());
    CHECK(write_bytes_file(p, b.b, b.n), "write");
    free(b.b);
    long before = max_rss_kb();
    ct_image *img = NULL;
    ct_error err;
    ct_status st = ct_image_load(p, &img, &err);
    long grew = max_rss_kb() - before;
    CHECK(st == CT_ERR_FORMAT && !img, "bomb: %s %s", ct_status_str(st), err.msg);
    CHECK(grew < 8 * 1024, "peak memory grew by %ld KiB decoding a %d-byte file", grew, zl);
    printf("  %d-byte PNG inflating to 48 MiB: %s (peak memory +%ld KiB)\n", zl, err.msg, grew);
    ct_image_free(img);
}

/* Messages that say what is wrong (issue 11, item 19) */
static void image_messages(void) {
    ct_image *img = NULL;
    ct_error err;
    CHECK(ct_image_load(t_tmpdir(), &img, &err) == CT_ERR_IO && strstr(err.msg, "directory"), "directory: %s", err.msg);
    size_t len = 0;
    char *jpg = slurp("test/fuzz/seeds/image/rgb.jpg", &len);
    if (!jpg) SKIP("test/fuzz/seeds/image/rgb.jpg not in this tree");
    bytes b = {0};
    for (size_t cut = 200; cut < len; cut += 150) { /* cut before and inside the scan */
        b.n = 0;
        by_put(&b, jpg, cut);
        CHECK(load_bytes("cut.jpg", &b, &img, &err) == CT_ERR_FORMAT && strstr(err.msg, "truncated JPEG") && !strstr(err.msg, "PNG"),
              "JPEG cut at %zu: %s", cut, err.msg);
    }
    printf("  %s\n", err.msg);
    /* the seed's baseline frame marker (SOF0) turned into other codings of the standard */
    char *sof = memchr(jpg, 0xC0, len);
    while (sof && (sof == jpg || (uint8_t)sof[-1] != 0xFF)) sof = memchr(sof + 1, 0xC0, len - (size_t)(sof + 1 - jpg));
    CHECK(sof != NULL, "no SOF0 in the seed");
    static const struct { uint8_t m; const char *word; } codings[] = {{0xC9, "arithmetic"}, {0xCA, "arithmetic"}, {0xC3, "lossless"},
                                                                      {0xC5, "hierarchical"}};
    for (size_t k = 0; sof && k < sizeof codings / sizeof *codings; k++) {
        *sof = (char)codings[k].m;
        b.n = 0;
        by_put(&b, jpg, len);
        CHECK(load_bytes("sof.jpg", &b, &img, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, codings[k].word) && !img,
              "SOF %02x: %s %s", codings[k].m, ct_status_str(err.status), err.msg);
        if (k == 0) printf("  %s\n", err.msg);
    }
    if (sof) {
        *sof = (char)0xC1; /* extended sequential, 12-bit samples */
        sof[3] = 12; /* FF C1, 2 length bytes, precision */
        b.n = 0;
        by_put(&b, jpg, len);
        CHECK(load_bytes("sof.jpg", &b, &img, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "12-bit"), "12-bit: %s", err.msg);
        *sof = (char)0xC0;
        sof[3] = 8;
        b.n = 0;
        by_put(&b, jpg, len);
        CHECK(load_bytes("sof.jpg", &b, &img, &err) == CT_OK && img && img->width == 20, "restored seed: %s", err.msg);
        ct_image_free(img);
        img = NULL;
    }
    free(b.b);
    free(jpg);
    /* a JPEG that ends (EOI) before any scan: stb would hand back uninitialised samples */
    b = (bytes){0};
    static const uint8_t noscan[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 16, 0, 16, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9};
    by_put(&b, noscan, sizeof noscan);
    CHECK(load_bytes("noscan.jpg", &b, &img, &err) == CT_ERR_FORMAT && strstr(err.msg, "no scan") && !img, "no scan: %s", err.msg);
    free(b.b);
    /* the preprocessing blames the argument that is wrong */
    uint8_t px[3 * 4] = {0};
    ct_image *im = NULL;
    CHECK(ct_image_from_rgb(px, 2, 2, &im, &err) == CT_OK, "%s", err.msg);
    float *pix = NULL;
    int H, W;
    CHECK(ct_preprocess(im, 224, 0, 0, &pix, &H, &W, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "patch") && !strstr(err.msg, "size 224"),
          "patch 0: %s", err.msg);
    CHECK(ct_preprocess(im, 224, 1, -16, &pix, &H, &W, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "patch"), "patch -16: %s", err.msg);
    CHECK(ct_preprocess(im, 0, 0, 16, &pix, &H, &W, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "size 0"), "size 0: %s", err.msg);
    CHECK(ct_preprocess(im, 100, 0, 16, &pix, &H, &W, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "multiple"), "size 100: %s", err.msg);
    ct_image_free(im);
}

/* Extreme aspect ratios (issue 11, item 7): the resize's long side is computed before it becomes
 * an int, and refused beyond CT_MAX_RESIZED_SIDE (65,536) with the sizes named, in both
 * orientations, with and without the crop; the neighbours just inside the limit pass. */
static void extreme_aspect_ratios(void) {
    ct_error err;
    /* 1 x 8,000,000 (within the pixel limit): the long side would be 2,688,000,000 */
    uint8_t *px = calloc((size_t)8000000 * 3, 1);
    for (int o = 0; o < 2; o++) {
        ct_image *im = NULL, *r = NULL;
        int w = o ? 8000000 : 1, h = o ? 1 : 8000000;
        CHECK(ct_image_from_rgb(px, w, h, &im, &err) == CT_OK, "%s", err.msg);
        for (int crop = 0; crop < 2 && im; crop++) {
            r = NULL;
            ct_status st = ct_resize_for_model(im, 336, crop, 16, &r, &err);
            CHECK(st == CT_ERR_TOO_LARGE && !r && strstr(err.msg, "2688000000") && strstr(err.msg, "336") && !strstr(err.msg, "-"),
                  "%d x %d crop %d: %s %s (%d x %d)", w, h, crop, ct_status_str(st), err.msg, r ? r->width : 0, r ? r->height : 0);
            if (!o) printf("  %s\n", err.msg);
            ct_image_free(r);
        }
        ct_image_free(im);
    }
    free(px);
    /* the boundary, whole image: short side 16 (patch 16) of 1 x 4096 is 16 x 65536; of 1 x 4097,
     * 16 x 65552 (after rounding to the patch) */
    uint8_t col[4097 * 3] = {0};
    for (int o = 0; o < 2; o++)
        for (int extra = 0; extra < 2; extra++) {
            ct_image *im = NULL, *r = NULL;
            int L = 4096 + extra, w = o ? L : 1, h = o ? 1 : L;
            CHECK(ct_image_from_rgb(col, w, h, &im, &err) == CT_OK, "%s", err.msg);
            ct_status st = ct_resize_for_model(im, 16, 0, 16, &r, &err);
            if (extra) CHECK(st == CT_ERR_TOO_LARGE && !r, "%d x %d: %s", w, h, err.msg);
            else CHECK(st == CT_OK && r && (o ? r->width : r->height) == 65536, "%d x %d: %s", w, h, err.msg);
            ct_image_free(im);
            ct_image_free(r);
        }
    /* the boundary with the crop (through the label mapping, which sizes the same resize): a
     * 1 x 195 picture at 336 is 336 x 65520 before the crop, 1 x 196 would be 336 x 65856 */
    int32_t lab[336 * 336] = {0}, out[196];
    CHECK(ct_labels_to_image(lab, 336, 336, 1, 195, 336, 1, out, &err) == CT_OK, "1 x 195: %s", err.msg);
    CHECK(ct_labels_to_image(lab, 336, 336, 1, 196, 336, 1, out, &err) == CT_ERR_TOO_LARGE, "1 x 196: %s", err.msg);
    CHECK(ct_labels_to_image(lab, 336, 336, 196, 1, 336, 1, out, &err) == CT_ERR_TOO_LARGE, "196 x 1: %s", err.msg);
}

/* ct_resize_geometry: torchvision's int() long side and Python's half-even crop offset for
 * crops, the nearest patch multiple without; refusals as ct_preprocess */
static void resize_geometry_values(void) {
    static const struct { int w, h, size, crop, patch, rw, rh, left, top, W, H; } c[] = {
        {640, 480, 224, 1, 16, 298, 224, 37, 0, 224, 224},  /* 298.67 -> 298; (298-224)/2 = 37 */
        {480, 640, 224, 1, 16, 224, 298, 0, 37, 224, 224},
        {225, 224, 224, 1, 16, 225, 224, 0, 0, 224, 224},   /* round(0.5) = 0 */
        {227, 224, 224, 1, 16, 227, 224, 2, 0, 224, 224},   /* round(1.5) = 2 */
        {229, 224, 224, 1, 16, 229, 224, 2, 0, 224, 224},   /* round(2.5) = 2 */
        {640, 480, 224, 0, 16, 304, 224, 0, 0, 304, 224},   /* 18.67 patches -> 19 */
        {1000, 10, 32, 0, 32, 3200, 32, 0, 0, 3200, 32},
        {10, 11, 224, 0, 16, 224, 240, 0, 0, 224, 240},     /* 246.4 / 16 = 15.4 -> 15 */
        {5, 5, 16, 1, 16, 16, 16, 0, 0, 16, 16},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        ct_geometry g;
        ct_error err;
        CHECK(ct_resize_geometry(c[i].w, c[i].h, c[i].size, c[i].crop, c[i].patch, &g, &err) == CT_OK, "case %zu: %s", i, err.msg);
        CHECK(g.resized_width == c[i].rw && g.resized_height == c[i].rh && g.crop_left == c[i].left && g.crop_top == c[i].top &&
                  g.width == c[i].W && g.height == c[i].H,
              "case %zu (%d x %d, size %d, crop %d): resize %d x %d, offset (%d, %d), input %d x %d", i, c[i].w, c[i].h, c[i].size,
              c[i].crop, g.resized_width, g.resized_height, g.crop_left, g.crop_top, g.width, g.height);
        /* the pixels agree with the geometry */
        uint8_t *rgb = calloc((size_t)c[i].w * c[i].h, 3);
        ct_image *img = NULL, *r = NULL;
        CHECK(rgb && ct_image_from_rgb(rgb, c[i].w, c[i].h, &img, &err) == CT_OK, "image");
        CHECK(ct_resize_for_model(img, c[i].size, c[i].crop, c[i].patch, &r, &err) == CT_OK && r->width == g.width &&
                  r->height == g.height, "case %zu: ct_resize_for_model disagrees", i);
        ct_image_free(img);
        ct_image_free(r);
        free(rgb);
    }
    ct_geometry g;
    ct_error err;
    CHECK(ct_resize_geometry(640, 480, 230, 1, 16, &g, &err) == CT_ERR_INVALID_ARG && strstr(err.msg, "multiple"), "%s", err.msg);
    CHECK(ct_resize_geometry(0, 480, 224, 1, 16, &g, &err) == CT_ERR_INVALID_ARG, "zero width");
    CHECK(ct_resize_geometry(640, 480, 224, 1, 0, &g, &err) == CT_ERR_INVALID_ARG, "zero patch");
    CHECK(ct_resize_geometry(640, 480, 224, 1, 16, NULL, &err) == CT_ERR_INVALID_ARG, "NULL geometry");
    CHECK(ct_resize_geometry(1, 4000000, 1024, 1, 16, &g, &err) == CT_ERR_TOO_LARGE && strstr(err.msg, "aspect"), "%s", err.msg);
    CHECK(ct_resize_geometry(INT_MAX, 1, 8192, 0, 16, &g, &err) == CT_ERR_TOO_LARGE, "INT_MAX x 1");
}

int main(void) {
    RUN(fuzz_regressions);
    RUN(truncated_and_corrupt);
    RUN(huge_dimensions_refused);
    RUN(resize_matches_reference);
    RUN(bad_images);
    RUN(png_reader_matches_stb);
    RUN(label_maps);
    RUN(png_damage);
    RUN(decode_cost_bounded);
    RUN(png_bomb_bounded);
    RUN(image_messages);
    RUN(extreme_aspect_ratios);
    RUN(resize_geometry_values);
    DONE();
}
