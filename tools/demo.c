/* demo: segment an image into classes named on the command line (CLIPtrase).
 * Exit status: 0 success, 1 usage error, 2 runtime error. See --help and README.md. */
#include "cliptrase.h"
#include "common.h"
#include "npy.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <math.h>
#include <unistd.h>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_easy_font.h>

#define DEFAULT_MODEL "weights/clip-vit-base-patch16.safetensors"

static void usage(FILE *f) {
    fprintf(f,
            "usage: demo -m MODEL -c CLASSES (-i IMAGE | --pixels FILE.npy) [options]\n"
            "  -m, --model PATH        safetensors weights (default " DEFAULT_MODEL ")\n"
            "  -V, --vocab PATH        .txt.gz, or vocab.json/merges.txt (default: beside the model)\n"
            "  -i, --image PATH        the picture (JPEG, PNG, BMP, TGA, GIF)\n"
            "      --pixels PATH       a 3 x H x W float32 .npy, already normalised: used as is\n"
            "  -c, --classes LIST      comma-separated names; \"dog;puppy\" gives one class two names\n"
            "      --classes-file PATH one class a line, same syntax\n"
            "  -b, --background LIST   names that all map to one extra \"background\" label\n"
            "  -s, --size N            short side (default 336)\n"
            "      --crop              the paper's protocol: short side N, then N x N center crop\n"
            "      --eps E             DBSCAN radius (default 0.7 if short side <= 224, else 1.1)\n"
            "      --min-samples K     DBSCAN core size (default 3 if short side <= 224, else 7)\n"
            "      --cls-reweight      multiply logits by the CLS logits (the paper's VOC20 setting)\n"
            "  -o, --output PATH       colour label PNG with a legend (default out.png)\n"
            "      --overlay PATH      the labels blended over the photo\n"
            "      --labels PATH       raw label map as 8-bit grey PNG (16-bit if > 255 labels)\n"
            "      --json PATH         per-class pixel share, timings and parameters\n"
            "      --dump DIR          every intermediate as .npy (names and shapes of the oracle)\n"
            "      --no-cache          do not read or write the class-embedding cache\n"
            "  -t, --threads N         worker threads (default: all cores)\n"
            "  -q, --quiet             no progress on stderr\n"
            "  -v, --verbose           more detail (model config)\n"
            "  -h, --help              this text\n");
}

/* ------------------------------------------------------------- outputs */

static void palette(int label, int bg_label, uint8_t rgb[3]) {
    if (label == bg_label) { rgb[0] = rgb[1] = rgb[2] = 0; return; }
    /* well-separated hues from the golden angle, fixed saturation and value */
    double h = fmod(label * 0.618033988749895, 1.0) * 6.0;
    double s = 0.75, v = label % 2 ? 0.95 : 0.75;
    int i = (int)h;
    double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (i % 6) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
    }
    rgb[0] = (uint8_t)(r * 255 + 0.5); rgb[1] = (uint8_t)(g * 255 + 0.5); rgb[2] = (uint8_t)(b * 255 + 0.5);
}

/* draw text with stb_easy_font quads (scale s) into an RGB canvas */
static void draw_text(uint8_t *img, int W, int H, int x0, int y0, const char *text, int s, const uint8_t col[3]) {
    static char vbuf[200000];
    char t[256];
    snprintf(t, sizeof t, "%s", text);
    for (char *c = t; *c; c++) if ((unsigned char)*c >= 128) *c = '?'; /* the bitmap font is ASCII */
    int nq = stb_easy_font_print(0, 0, t, NULL, vbuf, sizeof vbuf);
    for (int q = 0; q < nq; q++) {
        float *v = (float *)(vbuf + q * 64);
        int qx0 = (int)v[0], qy0 = (int)v[1], qx1 = (int)v[8], qy1 = (int)v[9];
        for (int y = qy0 * s; y < qy1 * s; y++)
            for (int x = qx0 * s; x < qx1 * s; x++) {
                int px = x0 + x, py = y0 + y;
                if (px >= 0 && py >= 0 && px < W && py < H) memcpy(img + ((size_t)py * W + px) * 3, col, 3);
            }
    }
}

/* label map [H x W] -> colour PNG with a legend strip below it */
static int write_colour(const char *path, const int32_t *lab, int W, int H, const classes *c, int bg_label, const double *share) {
    int s = W >= 600 ? 2 : 1, row = 14 * s, present = 0;
    for (int l = 0; l < c->n_labels; l++) present += share[l] > 0;
    int LH = (present + 0) * row + 8;
    uint8_t *img = calloc((size_t)W * (H + LH), 3);
    if (!img) return 0;
    for (size_t i = 0; i < (size_t)W * H; i++) palette(lab[i], bg_label, img + i * 3);
    memset(img + (size_t)W * H * 3, 255, (size_t)W * LH * 3);
    int y = H + 4;
    static const uint8_t black[3] = {0, 0, 0};
    for (int l = 0; l < c->n_labels; l++) {
        if (share[l] <= 0) continue;
        uint8_t col[3];
        palette(l, bg_label, col);
        for (int yy = y; yy < y + row - 3 * s && yy < H + LH; yy++)
            for (int xx = 4; xx < 4 + 10 * s && xx < W; xx++) memcpy(img + ((size_t)yy * W + xx) * 3, col, 3);
        char t[200];
        snprintf(t, sizeof t, "%s %.1f%%", c->class_title[l], share[l] * 100);
        draw_text(img, W, H + LH, 8 + 12 * s, y + s, t, s, black);
        y += row;
    }
    ct_image im = {W, H + LH, img};
    ct_error err;
    int ok = ct_image_save_png(&im, path, &err) == CT_OK;
    free(img);
    return ok;
}

static int write_overlay(const char *path, const ct_image *photo, const int32_t *lab, int bg_label) {
    size_t n = (size_t)photo->width * photo->height;
    uint8_t *img = malloc(n * 3);
    if (!img) return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t col[3];
        palette(lab[i], bg_label, col);
        for (int k = 0; k < 3; k++) img[i * 3 + k] = (uint8_t)((photo->rgb[i * 3 + k] * 5 + col[k] * 5 + 5) / 10);
    }
    ct_image im = {photo->width, photo->height, img};
    ct_error err;
    int ok = ct_image_save_png(&im, path, &err) == CT_OK;
    free(img);
    return ok;
}

static int write_labels(const char *path, const int32_t *lab, int W, int H, int n_labels) {
    ct_error err;
    /* the contract: 16-bit when there are more than 255 labels */
    return ct_labels_save_png(lab, W, H, n_labels <= 255 ? 8 : 16, path, &err) == CT_OK;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int dump(const char *dir, const char *name, const void *data, int is_int, int nd, int64_t d0, int64_t d1, int64_t d2) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.npy", dir, name);
    int64_t sh[3] = {d0, d1, d2};
    ct_error err;
    if (npy_save(p, data, is_int, nd, sh, &err)) { fprintf(stderr, "demo: %s\n", err.msg); return 0; }
    return 1;
}

/* ------------------------------------------------------------- main */


enum { OPT_PIXELS = 256, OPT_CLASSES_FILE, OPT_CROP, OPT_EPS, OPT_MINS, OPT_CLSRW, OPT_OVERLAY, OPT_LABELS, OPT_JSON, OPT_DUMP, OPT_NOCACHE };

int main(int argc, char **argv) {
    tool_name = "demo";
    const char *model_path = DEFAULT_MODEL, *vocab = NULL, *image_path = NULL, *pixels_path = NULL, *classes_file = NULL;
    const char *out_path = "out.png", *overlay = NULL, *labels_path = NULL, *json_path = NULL, *dump_dir = NULL;
    char *class_list = NULL, *bg_list = NULL;
    int size = 336, crop = 0, min_samples = 0, cls_rw = 0, threads = 0, no_cache = 0;
    float eps = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"vocab", required_argument, 0, 'V'}, {"image", required_argument, 0, 'i'},
        {"pixels", required_argument, 0, OPT_PIXELS}, {"classes", required_argument, 0, 'c'},
        {"classes-file", required_argument, 0, OPT_CLASSES_FILE}, {"background", required_argument, 0, 'b'},
        {"size", required_argument, 0, 's'}, {"crop", no_argument, 0, OPT_CROP}, {"eps", required_argument, 0, OPT_EPS},
        {"min-samples", required_argument, 0, OPT_MINS}, {"cls-reweight", no_argument, 0, OPT_CLSRW},
        {"output", required_argument, 0, 'o'}, {"overlay", required_argument, 0, OPT_OVERLAY},
        {"labels", required_argument, 0, OPT_LABELS}, {"json", required_argument, 0, OPT_JSON},
        {"dump", required_argument, 0, OPT_DUMP}, {"no-cache", no_argument, 0, OPT_NOCACHE},
        {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":m:V:i:c:b:s:o:t:qvh", opts, NULL)) != -1) {
        switch (o) {
        case 'm': model_path = optarg; break;
        case 'V': vocab = optarg; break;
        case 'i': image_path = optarg; break;
        case OPT_PIXELS: pixels_path = optarg; break;
        case 'c': class_list = optarg; break;
        case OPT_CLASSES_FILE: classes_file = optarg; break;
        case 'b': bg_list = optarg; break;
        case 's': if (!parse_int(optarg, 1, 8192, &size)) return usage_error("--size needs a whole number in [1, 8192], not '%s'", optarg); break;
        case OPT_CROP: crop = 1; break;
        case OPT_EPS: {
            char *e;
            eps = strtof(optarg, &e);
            if (e == optarg || *e || !(eps > 0) || eps > 1e6f) return usage_error("--eps needs a positive number, not '%s'", optarg);
            break;
        }
        case OPT_MINS: if (!parse_int(optarg, 1, 1000000, &min_samples)) return usage_error("--min-samples needs a whole number >= 1, not '%s'", optarg); break;
        case OPT_CLSRW: cls_rw = 1; break;
        case 'o': out_path = optarg; break;
        case OPT_OVERLAY: overlay = optarg; break;
        case OPT_LABELS: labels_path = optarg; break;
        case OPT_JSON: json_path = optarg; break;
        case OPT_DUMP: dump_dir = optarg; break;
        case OPT_NOCACHE: no_cache = 1; break;
        case 't': if (!parse_int(optarg, 1, 256, &threads)) return usage_error("--threads needs a whole number in [1, 256], not '%s'", optarg); break;
        case 'q': quiet = 1; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!image_path == !pixels_path) return usage_error("give exactly one of -i IMAGE or --pixels FILE.npy");
    if (!class_list && !classes_file) return usage_error("no classes: use -c LIST or --classes-file PATH");

    classes cl = {0};
    if ((class_list && !parse_list(&cl, class_list, 0)) || (classes_file && !parse_file(&cl, classes_file))) { free_classes(&cl); return 1; }
    if (cl.n_labels == 0) { free_classes(&cl); return usage_error("the class list is empty"); }
    int n_classes = cl.n_labels, bg_label = -1;
    if (bg_list) {
        if (!parse_list(&cl, bg_list, 1)) { free_classes(&cl); return 1; }
        bg_label = n_classes;
    }
    if (cl.n_labels > 65535) { free_classes(&cl); return usage_error("%d classes: at most 65535", cl.n_labels); }

    int rc = 0;
    double t0 = now(), t_load, t_text, t_image;
    ct_error err;
    ct_model *m = NULL;
    ct_image *photo = NULL, *resized = NULL;
    float *px = NULL, *emb = NULL;
    int32_t *lab = NULL, *full = NULL;
    ct_intermediates inter = {0};
    npy_array pxn = {0};
    int H = 0, W = 0, n_cached = 0;

    progress("loading %s", model_path);
    if (ct_model_load(model_path, &m, &err)) { rc = runtime_error("%s", err.msg); goto out; }
    const ct_config *cfg = ct_model_config(m);
    if (verbose) {
        char d[512];
        ct_config_describe(cfg, d, sizeof d);
        progress("model: %s", d);
        char md[700];
        ct_model_describe(m, md, sizeof md);
        progress("runtime: %s", md);
    }
    t_load = now();

    /* the picture */
    if (image_path) {
        if (size % cfg->patch) { rc = usage_error("--size %d is not a multiple of the patch size %d", size, cfg->patch); goto out; }
        if (ct_image_load(image_path, &photo, &err)) { rc = runtime_error("%s", err.msg); goto out; }
        if (ct_resize_for_model(photo, size, crop, cfg->patch, &resized, &err) || ct_normalize(resized, &px, &err)) {
            rc = runtime_error("%s", err.msg);
            goto out;
        }
        H = resized->height;
        W = resized->width;
    } else {
        if (npy_load(pixels_path, &pxn, &err)) { rc = runtime_error("%s", err.msg); goto out; }
        if (pxn.is_int || pxn.ndim != 3 || pxn.shape[0] != 3) { rc = runtime_error("'%s' must be a 3 x H x W float32 array", pixels_path); goto out; }
        H = (int)pxn.shape[1];
        W = (int)pxn.shape[2];
        if (H % cfg->patch || W % cfg->patch || H <= 0 || W <= 0) { rc = runtime_error("'%s' is %d x %d: not a multiple of the patch size %d", pixels_path, H, W, cfg->patch); goto out; }
        px = pxn.data;
        pxn.data = NULL;
    }

    /* class embeddings, from the cache when possible */
    int E = cfg->embed_dim;
    emb = malloc(sizeof(float) * (size_t)cl.n_names * E);
    if (!emb) { rc = runtime_error("out of memory"); goto out; }
    if (class_embeddings_cached(m, model_path, vocab, &cl, threads, no_cache, emb, &n_cached, &err)) {
        rc = runtime_error("%s", err.msg);
        goto out;
    }
    t_text = now();

    /* segmentation */
    ct_segment_params sp;
    ct_segment_params_default(&sp);
    sp.eps = eps;
    sp.min_samples = min_samples;
    sp.cls_reweight = cls_rw;
    sp.n_threads = threads;
    progress("segmenting %d x %d (%d patches, %d names)", W, H, (H / cfg->patch) * (W / cfg->patch), cl.n_names);
    lab = malloc(sizeof(int32_t) * (size_t)H * W);
    if (!lab) { rc = runtime_error("out of memory"); goto out; }
    if (ct_segment(m, px, H, W, emb, cl.n_names, cl.label, &sp, lab, &inter, &err)) { rc = runtime_error("%s", err.msg); goto out; }
    t_image = now();
    progress("%d clusters (eps %g, min_samples %d)", inter.n_clusters, inter.eps, inter.min_samples);

    if (dump_dir) {
        mkdirs(dump_dir);
        int h = inter.h, w = inter.w, T = 1 + h * w, n = cl.n_names, r = 4;
        int ok = dump(dump_dir, "pixels", px, 0, 3, 3, H, W) && dump(dump_dir, "text_features", emb, 0, 2, n, E, 0) &&
                 dump(dump_dir, "image_embedding", inter.image_embedding, 0, 1, E, 0, 0) &&
                 dump(dump_dir, "img_tokens", inter.img_tokens, 0, 2, T, E, 0) && dump(dump_dir, "corr_raw", inter.corr_raw, 0, 2, T, T, 0) &&
                 dump(dump_dir, "corr", inter.corr, 0, 2, h * w, h * w, 0) && dump(dump_dir, "patch_logits", inter.patch_logits, 0, 3, n, h, w) &&
                 dump(dump_dir, "logits_up", inter.logits_up, 0, 3, n, H, W) && dump(dump_dir, "pred_raw", inter.pred_raw, 1, 2, H, W, 0) &&
                 dump(dump_dir, "dbscan_labels", inter.dbscan_labels, 1, 1, h * w, 0, 0) &&
                 dump(dump_dir, "cluster_maps", inter.cluster_maps ? (void *)inter.cluster_maps : (void *)emb, 0, 3, inter.n_clusters, r * h, r * w) &&
                 dump(dump_dir, "cluster_assign", inter.cluster_assign, 1, 2, H, W, 0) && dump(dump_dir, "pred", inter.pred, 1, 2, H, W, 0);
        if (!ok) { rc = 2; goto out; }
        progress("intermediates written to %s/", dump_dir);
    }

    /* labels back to the original picture: nearest neighbour through the resize (and crop) */
    int OW = W, OH = H;
    const int32_t *outlab = lab;
    if (photo) {
        OW = photo->width;
        OH = photo->height;
        full = malloc(sizeof(int32_t) * (size_t)OW * OH);
        if (!full) { rc = runtime_error("out of memory"); goto out; }
        if (ct_labels_to_image(lab, H, W, OW, OH, size, crop, full, &err)) { rc = runtime_error("%s", err.msg); goto out; }
        outlab = full;
    }
    double *share = calloc((size_t)cl.n_labels, sizeof(double));
    if (!share) { rc = runtime_error("out of memory"); goto out; }
    for (size_t i = 0; i < (size_t)OW * OH; i++) share[outlab[i]] += 1.0 / ((double)OW * OH);
    if (out_path && !write_colour(out_path, outlab, OW, OH, &cl, bg_label, share)) { free(share); rc = runtime_error("cannot write '%s'", out_path); goto out; }
    if (overlay) {
        if (!photo) { free(share); rc = runtime_error("--overlay needs -i IMAGE (there is no photo with --pixels)"); goto out; }
        if (!write_overlay(overlay, photo, outlab, bg_label)) { free(share); rc = runtime_error("cannot write '%s'", overlay); goto out; }
    }
    if (labels_path && !write_labels(labels_path, outlab, OW, OH, cl.n_labels)) { free(share); rc = runtime_error("cannot write '%s'", labels_path); goto out; }
    double t_end = now();
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f) { free(share); rc = runtime_error("cannot write '%s': %s", json_path, strerror(errno)); goto out; }
        fprintf(f, "{\n  \"image\": ");
        json_str(f, image_path ? image_path : pixels_path);
        fprintf(f, ",\n  \"model\": ");
        json_str(f, model_path);
        fprintf(f, ",\n  \"width\": %d, \"height\": %d, \"model_width\": %d, \"model_height\": %d,\n", OW, OH, W, H);
        fprintf(f, "  \"params\": {\"size\": %d, \"crop\": %s, \"eps\": %g, \"min_samples\": %d, \"cls_reweight\": %s, \"threads\": %d},\n", size,
                crop ? "true" : "false", inter.eps, inter.min_samples, cls_rw ? "true" : "false", threads);
        fprintf(f, "  \"n_clusters\": %d,\n  \"classes\": [\n", inter.n_clusters);
        for (int l = 0; l < cl.n_labels; l++) {
            fprintf(f, "    {\"label\": %d, \"name\": ", l);
            json_str(f, cl.class_title[l]);
            fprintf(f, ", \"share\": %.6f}%s\n", share[l], l + 1 < cl.n_labels ? "," : "");
        }
        fprintf(f, "  ],\n  \"timings_s\": {\"load\": %.4f, \"text\": %.4f, \"segment\": %.4f, \"write\": %.4f, \"total\": %.4f},\n", t_load - t0,
                t_text - t_load, t_image - t_text, t_end - t_image, t_end - t0);
        fprintf(f, "  \"cached_names\": %d\n}\n", n_cached);
        if (fclose(f) != 0) { free(share); rc = runtime_error("error writing '%s'", json_path); goto out; }
    }
    free(share);
    progress("done in %.2f s (load %.2f, text %.2f, segment %.2f); wrote %s", t_end - t0, t_load - t0, t_text - t_load, t_image - t_text, out_path);
out:
    ct_intermediates_free(&inter);
    npy_free(&pxn);
    free(px); free(emb); free(lab); free(full);
    ct_image_free(photo); ct_image_free(resized);
    ct_model_free(m);
    free_classes(&cl);
    return rc;
}
