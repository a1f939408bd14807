/* Image preprocessing against the reference: model_input.png from image.png (PIL bicubic resize,
 * torchvision center crop), pixels.npy from model_input.png (ToTensor + Normalize).
 * Tolerances: the resize is integer arithmetic reproduced step by step, so we require what the
 * issue allows at most (max 1 grey level, >= 99% exact) and report the actual figures;
 * normalisation is one float division and subtraction: 1e-6. */
#include "fixtures.h"

#include "io/stb_impl.h"

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
    const char *p = "/tmp/ct_test_bad.png";
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
    const char *png = "/tmp/ct_t.png", *jpg = "test/fuzz/seeds/image/rgb.jpg", *cut = "/tmp/ct_cut.bin";
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
    write_raw("/tmp/ct_huge.png", hdr, sizeof hdr);
    ct_image *img = NULL;
    ct_error err;
    CHECK(ct_image_load("/tmp/ct_huge.png", &img, &err) == CT_ERR_TOO_LARGE && !img, "20000x20000: %s", err.msg);
    printf("  %s\n", err.msg);
    remove("/tmp/ct_huge.png");
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

int main(void) {
    RUN(fuzz_regressions);
    RUN(truncated_and_corrupt);
    RUN(huge_dimensions_refused);
    RUN(resize_matches_reference);
    RUN(bad_images);
    DONE();
}
