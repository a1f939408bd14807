/* demo: segment an image into classes named on the command line (CLIPtrase).
 * Exit status: 0 success, 1 usage error, 2 runtime error. See --help and README.md. */
#include "cliptrase.h"
#include "npy.h"
#include "stb_impl.h"

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

static int quiet, verbose;

static void progress(const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "demo: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

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

/* One-line message on stderr; returns the exit status (1: usage error, 2: runtime error). */
static int vfail(int rc, const char *fmt, va_list ap) {
    fprintf(stderr, "demo: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, rc == 1 ? " (see demo --help)\n" : "\n");
    return rc;
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(1, fmt, ap);
    va_end(ap);
    return rc;
}

static int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(2, fmt, ap);
    va_end(ap);
    return rc;
}

/* ------------------------------------------------------------- class lists */

typedef struct {
    char **names;     /* every name: class synonyms first, then background names */
    int32_t *label;   /* label of each name */
    int n_names, n_names_cap;
    char **class_title; /* display name of each label (first synonym; "background") */
    int n_labels;
} classes;

static int valid_utf8(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        int n = *u < 0x80 ? 1 : (*u >= 0xC2 && *u <= 0xDF) ? 2 : (*u >= 0xE0 && *u <= 0xEF) ? 3 : (*u >= 0xF0 && *u <= 0xF4) ? 4 : 0;
        if (!n) return 0;
        for (int k = 1; k < n; k++)
            if ((u[k] & 0xC0) != 0x80) return 0;
        u += n;
    }
    return 1;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int add_name(classes *c, const char *name, int32_t label) {
    if (c->n_names == c->n_names_cap) {
        int nc = c->n_names_cap ? c->n_names_cap * 2 : 16;
        char **nn = realloc(c->names, sizeof(char *) * nc);
        if (!nn) return 0;
        c->names = nn;
        int32_t *nl = realloc(c->label, sizeof(int32_t) * nc);
        if (!nl) return 0;
        c->label = nl;
        c->n_names_cap = nc;
    }
    c->names[c->n_names] = strdup(name);
    c->label[c->n_names] = label;
    return c->names[c->n_names++] != NULL;
}

static int add_title(classes *c, const char *t) {
    char **nt = realloc(c->class_title, sizeof(char *) * (c->n_labels + 1));
    if (!nt) return 0;
    c->class_title = nt;
    c->class_title[c->n_labels] = strdup(t);
    return c->class_title[c->n_labels++] != NULL;
}

/* one class spec "a;b;c": returns 1 ok, 0 usage error (message printed) */
static int add_class(classes *c, char *spec) {
    char *s = trim(spec);
    if (!*s) return usage_error("empty class name in the class list"), 0;
    if (!valid_utf8(s)) return usage_error("class '%s' is not valid UTF-8", s), 0;
    int label = c->n_labels, first = 1;
    for (char *save = NULL, *syn = strtok_r(s, ";", &save); syn; syn = strtok_r(NULL, ";", &save)) {
        char *t = trim(syn);
        if (!*t) return usage_error("empty synonym in class '%s'", s), 0;
        if (first && !add_title(c, t)) return usage_error("out of memory"), 0;
        first = 0;
        if (!add_name(c, t, label)) return usage_error("out of memory"), 0;
    }
    if (first) return usage_error("empty class name in the class list"), 0;
    return 1;
}

static int parse_list(classes *c, const char *list, int background) {
    char *dup = strdup(list);
    if (!dup) return 0;
    int ok = 1;
    if (!background) {
        /* commas separate classes (a name containing a comma needs --classes-file) */
        char *p = dup;
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            if (!add_class(c, p)) { ok = 0; break; }
            if (!comma) break;
            p = comma + 1;
        }
    } else {
        char *p = dup;
        int label = c->n_labels;
        if (!add_title(c, "background")) ok = 0;
        for (; ok;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = 0;
            char *t = trim(p);
            if (!*t) { usage_error("empty background name"); ok = 0; break; }
            if (!valid_utf8(t)) { usage_error("background name '%s' is not valid UTF-8", t); ok = 0; break; }
            if (!add_name(c, t, label)) ok = 0;
            if (!comma) break;
            p = comma + 1;
        }
    }
    free(dup);
    return ok;
}

static int parse_file(classes *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return usage_error("cannot open classes file '%s': %s", path, strerror(errno)), 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = 1;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        if ((size_t)n != strlen(line)) { usage_error("NUL byte in '%s'", path); ok = 0; break; }
        if (!*trim(line)) continue; /* blank lines are allowed */
        ok = add_class(c, line);
    }
    free(line);
    fclose(f);
    return ok;
}

static void free_classes(classes *c) {
    for (int i = 0; i < c->n_names; i++) free(c->names[i]);
    for (int i = 0; i < c->n_labels; i++) free(c->class_title[i]);
    free(c->names); free(c->label); free(c->class_title);
}

/* ------------------------------------------------------------- embedding cache */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t model_identity(const char *model) {
    struct stat sb;
    uint64_t h = 1469598103934665603ull;
    if (stat(model, &sb) == 0) {
        h = fnv1a(h, &sb.st_dev, sizeof sb.st_dev);
        h = fnv1a(h, &sb.st_ino, sizeof sb.st_ino);
        h = fnv1a(h, &sb.st_size, sizeof sb.st_size);
        h = fnv1a(h, &sb.st_mtime, sizeof sb.st_mtime);
    }
    h = fnv1a(h, model, strlen(model));
    int n;
    const char *const *t = ct_default_templates(&n);
    for (int i = 0; i < n; i++) h = fnv1a(h, t[i], strlen(t[i]) + 1);
    return h;
}

static void cache_dir(char *buf, size_t cap) {
    const char *x = getenv("CT_CACHE_DIR");
    if (x && *x) { snprintf(buf, cap, "%s", x); return; }
    x = getenv("XDG_CACHE_HOME");
    if (x && *x) { snprintf(buf, cap, "%s/cliptrase", x); return; }
    x = getenv("HOME");
    if (x && *x) { snprintf(buf, cap, "%s/.cache/cliptrase", x); return; }
    snprintf(buf, cap, ".ct-cache");
}

static void cache_path(char *buf, size_t cap, const char *dir, uint64_t model_key, const char *name, int E) {
    uint64_t h = fnv1a(model_key, name, strlen(name));
    snprintf(buf, cap, "%s/%016llx-%d.f32", dir, (unsigned long long)h, E);
}

static int cache_load(const char *path, const char *name, float *out, int E) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    /* file: name length, name, E floats: the name guards against hash collisions */
    uint32_t nl = 0;
    int ok = fread(&nl, 4, 1, f) == 1 && nl == strlen(name) && nl < 65536;
    char *buf = ok ? malloc(nl + 1) : NULL;
    ok = ok && buf && fread(buf, 1, nl, f) == nl && !memcmp(buf, name, nl);
    ok = ok && fread(out, sizeof(float), (size_t)E, f) == (size_t)E && fgetc(f) == EOF;
    free(buf);
    fclose(f);
    return ok;
}

static void mkdirs(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0755); *p = '/'; }
    mkdir(tmp, 0755);
}

static void cache_store(const char *dir, const char *path, const char *name, const float *emb, int E) {
    mkdirs(dir);
    char tmp[1300];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) return;
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint32_t nl = (uint32_t)strlen(name);
    int ok = fwrite(&nl, 4, 1, f) == 1 && fwrite(name, 1, nl, f) == nl && fwrite(emb, sizeof(float), (size_t)E, f) == (size_t)E;
    ok = (fclose(f) == 0) && ok;
    if (ok) rename(tmp, path); /* atomic: concurrent runs never see half a file */
    else remove(tmp);
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
    int ok = ct_png_write_rgb(path, W, H + LH, img);
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
    int ok = ct_png_write_rgb(path, photo->width, photo->height, img);
    free(img);
    return ok;
}

static int write_labels(const char *path, const int32_t *lab, int W, int H, int n_labels) {
    size_t n = (size_t)W * H;
    int ok;
    if (n_labels <= 256) {
        uint8_t *g = malloc(n);
        if (!g) return 0;
        for (size_t i = 0; i < n; i++) g[i] = (uint8_t)lab[i];
        ok = ct_png_write_gray8(path, W, H, g);
        free(g);
    } else {
        uint16_t *g = malloc(n * 2);
        if (!g) return 0;
        for (size_t i = 0; i < n; i++) g[i] = (uint16_t)lab[i];
        ok = ct_png_write_gray16(path, W, H, g);
        free(g);
    }
    return ok;
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
    if (ct_npy_save(p, data, is_int, nd, sh, &err)) { fprintf(stderr, "demo: %s\n", err.msg); return 0; }
    return 1;
}

/* ------------------------------------------------------------- main */


enum { OPT_PIXELS = 256, OPT_CLASSES_FILE, OPT_CROP, OPT_EPS, OPT_MINS, OPT_CLSRW, OPT_OVERLAY, OPT_LABELS, OPT_JSON, OPT_DUMP, OPT_NOCACHE };

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv) {
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
    ct_tokenizer *tok = NULL;
    ct_image *photo = NULL, *resized = NULL;
    float *px = NULL, *emb = NULL;
    int32_t *lab = NULL, *full = NULL;
    ct_intermediates inter = {0};
    ct_npy pxn = {0};
    int H = 0, W = 0, n_cached = 0;

    progress("loading %s", model_path);
    if (ct_model_load(model_path, &m, &err)) { rc = runtime_error("%s", err.msg); goto out; }
    const ct_config *cfg = ct_model_config(m);
    if (verbose) {
        char d[512];
        ct_config_describe(cfg, d, sizeof d);
        progress("model: %s", d);
        progress("kernel: OpenBLAS sgemm (the only GEMM path in this build)");
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
        if (ct_npy_load(pixels_path, &pxn, &err)) { rc = runtime_error("%s", err.msg); goto out; }
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
    char cdir[900];
    cache_dir(cdir, sizeof cdir);
    uint64_t mkey = model_identity(model_path);
    int *todo = malloc(sizeof(int) * (size_t)cl.n_names), n_todo = 0;
    if (!todo) { rc = runtime_error("out of memory"); goto out; }
    for (int i = 0; i < cl.n_names; i++) {
        char cp[1200];
        cache_path(cp, sizeof cp, cdir, mkey, cl.names[i], E);
        if (!no_cache && cache_load(cp, cl.names[i], emb + (size_t)i * E, E)) n_cached++;
        else todo[n_todo++] = i;
    }
    if (n_todo) {
        char vp[1200];
        if (!vocab) {
            /* beside the model: vocab.json (+ merges.txt) or bpe_simple_vocab_16e6.txt.gz */
            const char *slash = strrchr(model_path, '/');
            int dl = slash ? (int)(slash - model_path + 1) : 0;
            snprintf(vp, sizeof vp, "%.*svocab.json", dl, model_path);
            FILE *f = fopen(vp, "rb");
            if (f) fclose(f);
            else snprintf(vp, sizeof vp, "%.*sbpe_simple_vocab_16e6.txt.gz", dl, model_path);
            vocab = vp;
        }
        if (ct_tokenizer_load(vocab, &tok, &err)) { free(todo); rc = runtime_error("%s (pass --vocab PATH)", err.msg); goto out; }
        int nt;
        ct_default_templates(&nt);
        progress("encoding %d prompts (%d names x %d templates)%s", n_todo * nt, n_todo, nt, n_cached ? ", the rest from the cache" : "");
        const char **names = malloc(sizeof(char *) * (size_t)n_todo);
        float *fresh = malloc(sizeof(float) * (size_t)n_todo * E);
        int cut = 0;
        if (!names || !fresh) { free(names); free(fresh); free(todo); rc = runtime_error("out of memory"); goto out; }
        for (int k = 0; k < n_todo; k++) names[k] = cl.names[todo[k]];
        ct_status st = ct_class_embeddings_ex(m, tok, names, n_todo, NULL, 0, threads, fresh, &cut, &err);
        if (!st) {
            for (int k = 0; k < n_todo; k++) {
                memcpy(emb + (size_t)todo[k] * E, fresh + (size_t)k * E, sizeof(float) * E);
                if (!no_cache) {
                    char cp[1200];
                    cache_path(cp, sizeof cp, cdir, mkey, names[k], E);
                    cache_store(cdir, cp, names[k], fresh + (size_t)k * E, E);
                }
            }
            if (cut) fprintf(stderr, "demo: warning: %d prompts were longer than the %d-token context and were cut\n", cut, cfg->context_length);
        }
        free(names); free(fresh);
        if (st) { free(todo); rc = runtime_error("%s", err.msg); goto out; }
    } else progress("all %d class embeddings from the cache", cl.n_names);
    free(todo);
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
    ct_npy_free(&pxn);
    free(px); free(emb); free(lab); free(full);
    ct_image_free(photo); ct_image_free(resized);
    ct_tokenizer_free(tok);
    ct_model_free(m);
    free_classes(&cl);
    return rc;
}
