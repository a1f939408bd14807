/* The tools' shared pieces (tools/common), unit by unit: strict UTF-8, hashes, the class-list
 * formats and their checks, the resize/crop geometry against the library's, size rounding,
 * colours, legend text and layout (bounded sizes), all-or-nothing output files (planted symlinks,
 * failed renames), reads that never block on a FIFO, the cache's entries. */
#include "harness.h"
#include "common.h"
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_path(const char *name) {
    char *p = path_join(t_tmpdir(), name);
    if (!p) { printf("out of memory\n"); exit(2); }
    return p;
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(text, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

/* ------------------------------------------------------------------ text, hashes */

static void utf8_strict(void) {
    struct { const char *s; int ok; } cases[] = {
        {"cat", 1}, {"caf\xc3\xa9", 1}, {"\xd0\xba\xd0\xbe\xd1\x88\xd0\xba\xd0\xb0", 1}, {"\xf0\x9f\x90\x88", 1},
        {"\xc0\xaf", 0},             /* overlong '/' */
        {"\xe0\x80\xaf", 0},         /* overlong, three bytes */
        {"\xf0\x80\x80\xaf", 0},     /* overlong, four bytes */
        {"\xed\xa0\x80", 0},         /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 0},         /* U+DFFF */
        {"\xf4\x90\x80\x80", 0},     /* above U+10FFFF */
        {"\xe2\x82", 0},             /* truncated */
        {"\xff", 0}, {"a\x80", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(utf8_valid(cases[i].s, strlen(cases[i].s), NULL) == cases[i].ok, "case %zu", i);
    char why[160];
    CHECK(!name_ok("a\x01" "b", why, sizeof why) && strstr(why, "control"), "control character: %s", why);
    CHECK(!name_ok("\xed\xa0\x80", why, sizeof why) && strstr(why, "UTF-8"), "surrogate: %s", why);
}

static void hashes(void) {
    /* xxHash's published values */
    CHECK(hash64("", 0, 0) == 0xEF46DB3751D8E999ull, "XXH64('') %016llx", (unsigned long long)hash64("", 0, 0));
    CHECK(hash64("abc", 3, 0) == 0x44BC2CF5AD770999ull, "XXH64('abc') %016llx", (unsigned long long)hash64("abc", 3, 0));
    /* streaming in pieces equals one call */
    char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (char)(i * 7);
    hash64_state s;
    hash64_init(&s, 5);
    for (int i = 0; i < 1000; i += 37) hash64_update(&s, buf + i, (size_t)(i + 37 <= 1000 ? 37 : 1000 - i));
    CHECK(hash64_final(&s) == hash64(buf, 1000, 5), "streaming differs");
    char *p = tmp_path("h.bin");
    write_text(p, buf, 1000);
    uint64_t h = 0;
    CHECK(hash_file(p, &h, NULL) && h == hash64(buf, 1000, 0), "hash_file");
    free(p);
}

static void numbers(void) {
    int v = 0, l[8], n = 0;
    float f = 0;
    CHECK(parse_int("42", 0, 100, &v) && v == 42, "42");
    CHECK(!parse_int("42x", 0, 100, &v) && !parse_int(" 4", 0, 100, &v) && !parse_int("", 0, 9, &v) && !parse_int("101", 0, 100, &v), "bad ints");
    CHECK(!parse_int("99999999999999999999", 0, 100, &v), "overflow");
    CHECK(parse_float("0.5", 0, 1, &f) && f == 0.5f, "0.5");
    CHECK(!parse_float("nan", -1e9, 1e9, &f) && !parse_float("inf", -1e9, 1e9, &f) && !parse_float("1e999", -1e30, 1e30, &f), "non-finite");
    CHECK(parse_int_list("8,16", 1, 100, l, 8, &n) && n == 2 && l[0] == 8 && l[1] == 16, "8,16");
    CHECK(!parse_int_list("8,,16", 1, 100, l, 8, &n) && !parse_int_list("8,", 1, 100, l, 8, &n) && !parse_int_list("1,2,3", 1, 9, l, 2, &n), "bad lists");
    CHECK(ct_round_size(CT_DEFAULT_SIZE, 16) == 336 && ct_round_size(336, 14) == 336 && ct_round_size(336, 32) == 352, "336 rounding");
    CHECK(ct_round_size(300, 16) == 304 && ct_round_size(72, 16) == 80 && ct_round_size(70, 16) == 64 && ct_round_size(5, 16) == 16, "rounding");
    CHECK(ct_round_size(8190, 14) == 8190 && ct_round_size(8191, 32) == 8192 && ct_round_size(8200, 14) == 8190 && ct_round_size(2147483647, 16) == 8192,
          "the 8192 limit");
    CHECK(ct_round_size(336, 0) == 0 && ct_round_size(336, 8193) == 0, "a bad patch gives 0");
}

/* ------------------------------------------------------------------ classes */

/* What fn printed on stderr (the tools' notes), into out. */
static void stderr_of(void (*fn)(void *), void *arg, char *out, size_t cap) {
    char *p = tmp_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) { out[0] = 0; free(p); return; }
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    free(p);
}

typedef struct {
    const char *list, *file_text, *bg;
    classes_format fmt;
    classes c;
    ct_error err;
    int ok;
} parse_job;

static int parse_classes(classes *c, const char *list, const char *file_text, classes_format fmt, const char *bg, ct_error *err) {
    classes_init(c);
    char *p = tmp_path("classes.txt");
    int ok = 1;
    if (list) ok = classes_add_list(c, list, err);
    if (ok && file_text) {
        write_text(p, file_text, strlen(file_text));
        ok = classes_add_file(c, p, fmt, err);
    }
    if (ok && bg) ok = classes_add_background_list(c, bg, err);
    if (ok) ok = classes_finish(c, err);
    free(p);
    return ok;
}

static void parse_job_run(void *arg) {
    parse_job *j = arg;
    j->ok = parse_classes(&j->c, j->list, j->file_text, j->fmt, j->bg, &j->err);
}

/* Names given twice: for one label kept with a note naming both places (the reference's VOC21
 * background file has "bed" twice), for two labels refused naming both places; an mmseg line read
 * in the cliptrase format gets a hint. */
static void class_duplicates(void) {
    char out[4096];
    parse_job j = {"cat;kitten;Cat,dog", NULL, NULL, CLASSES_CLIPTRASE, {0}, {0}, 0};
    stderr_of(parse_job_run, &j, out, sizeof out);
    CHECK(j.ok && j.c.n_names == 4 && j.c.n_labels == 2, "a name twice in one class: %s", j.err.msg);
    CHECK(strstr(out, "note: the name 'Cat' is given twice in class 0 (-c, class 1 and -c, class 1): kept"), "the note: %s", out);
    classes_free(&j.c);
    parse_job k = {NULL, "cat\ndog\n# c\ncat;kitten\n", NULL, CLASSES_CLIPTRASE, {0}, {0}, 0};
    stderr_of(parse_job_run, &k, out, sizeof out);
    CHECK(!k.ok && strstr(k.err.msg, "given twice, for class 0 ('") && strstr(k.err.msg, "', line 1) and class 2 ('") && strstr(k.err.msg, "', line 4)"),
          "two labels, file and lines named: %s", k.err.msg);
    classes_free(&k.c);
    parse_job l = {"cat,dog", NULL, "grass,dog", CLASSES_CLIPTRASE, {0}, {0}, 0};
    stderr_of(parse_job_run, &l, out, sizeof out);
    CHECK(!l.ok && strstr(l.err.msg, "for class 1 (-c, class 2) and the background (-b, name 2)"), "class and background: %s", l.err.msg);
    classes_free(&l.c);
    parse_job m = {NULL, NULL, "sky,bed,wall,bed", CLASSES_CLIPTRASE, {0}, {0}, 0};
    m.list = "cat";
    stderr_of(parse_job_run, &m, out, sizeof out);
    CHECK(m.ok && m.c.n_names == 5 && strstr(out, "given twice in the background (-b, name 2 and -b, name 4)") && !strstr(out, "background names and"),
          "a background name twice: %s %s", m.err.msg, out);
    classes_free(&m.c);
    parse_job h = {NULL, "sky, wall, tree, wood, grass\naeroplane\n", NULL, CLASSES_CLIPTRASE, {0}, {0}, 0};
    stderr_of(parse_job_run, &h, out, sizeof out);
    CHECK(h.ok && h.c.n_labels == 2 && strstr(out, "line 1: 'sky, wall, tree, wood, grass...' is one name of 28 characters with 4 commas") &&
              strstr(out, "--classes-format mmseg"), "the mmseg hint: %s", out);
    classes_free(&h.c);
    /* the reference's own VOC21 lists (CLIPtrase format; "bed" twice in the background file) */
    char cls[1024], bgf[1024];
    FMT(cls, "%s/classes/voc21.txt", oracle_dir());
    FMT(bgf, "%s/classes/voc21_background.txt", oracle_dir());
    if (!file_exists(cls) || !file_exists(bgf)) {
        printf("  (no %s: the reference's VOC21 lists not read)\n", bgf);
        return;
    }
    classes c;
    ct_error err;
    classes_init(&c);
    CHECK(classes_add_file(&c, cls, CLASSES_CLIPTRASE, &err) && classes_add_background_file(&c, bgf, &err) && classes_finish(&c, &err),
          "the reference's VOC21 lists: %s", err.msg);
    int beds = 0;
    for (int i = 0; i < c.n_names; i++) beds += !strcmp(c.names[i], "bed") && c.label[i] == c.bg_label;
    CHECK(beds == 2, "both 'bed' lines kept (%d)", beds);
    classes_free(&c);
}

static void class_lists(void) {
    classes c;
    ct_error err;
    /* class 0 is the first class, with three names */
    CHECK(parse_classes(&c, "background;sky;wall,cat,dog;puppy", NULL, 0, NULL, &err), "%s", err.msg);
    CHECK(c.n_labels == 3 && c.n_names == 6 && c.label[0] == 0 && c.label[2] == 0 && c.label[3] == 1 && c.label[5] == 2 &&
              !strcmp(c.title[0], "background") && !strcmp(c.names[2], "wall"), "labels of 'background;sky;wall,cat,dog;puppy'");
    classes_free(&c);
    /* refused lists: each with the reason in the message */
    struct { const char *list, *why; } bad[] = {
        {"cat,cat", "given twice"}, {"Cat,cat", "given twice"}, {"big  dog,big dog", "given twice"}, {"a;;b", "empty name"},
        {"a;b;", "empty name"}, {";a", "empty name"}, {"a,,b", "empty class"}, {"", "empty class"},
        {"caf\xc3\xa9,\xed\xa0\x80", "UTF-8"}, {"\xc0\xaf", "UTF-8"}, {"a\tb", "control"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(!parse_classes(&c, bad[i].list, NULL, 0, NULL, &err) && strstr(err.msg, bad[i].why), "'%s' accepted or wrong reason: %s", bad[i].list, err.msg);
        classes_free(&c);
    }
    CHECK(!parse_classes(&c, "cat,dog", NULL, 0, "grass,dog", &err) && strstr(err.msg, "given twice"), "background repeating a class: %s", err.msg);
    classes_free(&c);
    /* the cliptrase file format: BOM, comments, blank lines, CRLF, a comma inside a name */
    const char *file = "\xEF\xBB\xBF# ADE-like list\r\ncat;kitten\r\n\r\n  # an indented comment\nbeach, hill\ndog\n";
    CHECK(parse_classes(&c, NULL, file, CLASSES_CLIPTRASE, NULL, &err), "%s", err.msg);
    CHECK(c.n_labels == 3 && !strcmp(c.title[0], "cat") && !strcmp(c.names[1], "kitten") && !strcmp(c.title[1], "beach, hill"),
          "cliptrase format: %d labels, '%s'", c.n_labels, c.n_labels ? c.title[0] : "");
    classes_free(&c);
    /* the mmseg format: names separated by ", " */
    CHECK(parse_classes(&c, NULL, "sky, wall, tree\naeroplane\ntv monitor, screen\n", CLASSES_MMSEG, NULL, &err), "%s", err.msg);
    CHECK(c.n_labels == 3 && c.n_names == 6 && !strcmp(c.names[1], "wall") && c.label[1] == 0 && !strcmp(c.names[5], "screen") && c.label[5] == 2,
          "mmseg format");
    classes_free(&c);
    /* the peers' own files read with --classes-format mmseg */
    char p[1024];
    FMT(p, "%s/classes_mmseg/cls_voc21.txt", oracle_dir());
    if (file_exists(p)) {
        classes_init(&c);
        CHECK(classes_add_file(&c, p, CLASSES_MMSEG, &err) && classes_finish(&c, &err), "%s", err.msg);
        CHECK(c.n_labels == 21 && !strcmp(c.title[0], "sky") && !strcmp(c.title[1], "aeroplane"), "cls_voc21: %d labels", c.n_labels);
        classes_free(&c);
    }
    /* a file with a surrogate, a NUL, or nothing but comments */
    CHECK(!parse_classes(&c, NULL, "cat\n\xed\xa0\x80\n", 0, NULL, &err) && strstr(err.msg, "line 2"), "surrogate in a file: %s", err.msg);
    classes_free(&c);
    classes_init(&c);
    char *nulf = tmp_path("nul.txt");
    write_text(nulf, "cat\0dog\n", 8);
    CHECK(!classes_add_file(&c, nulf, 0, &err) && strstr(err.msg, "NUL"), "NUL: %s", err.msg);
    classes_free(&c);
    free(nulf);
    CHECK(!parse_classes(&c, NULL, "# nothing\n\n", 0, NULL, &err) && strstr(err.msg, "no class"), "empty file: %s", err.msg);
    classes_free(&c);
    /* the hash sees names, order and background */
    classes a, b;
    parse_classes(&a, "cat,dog", NULL, 0, NULL, &err);
    parse_classes(&b, "dog,cat", NULL, 0, NULL, &err);
    CHECK(classes_hash(&a) != classes_hash(&b), "order not in the hash");
    classes_free(&b);
    parse_classes(&b, "cat,dog", NULL, 0, "grass", &err);
    CHECK(classes_hash(&a) != classes_hash(&b), "background not in the hash");
    classes_free(&a);
    classes_free(&b);
}

/* ------------------------------------------------------------------ geometry */

static void geometry_matches_library(void) {
    /* the geometry against the dimensions the library's resize produces */
    static const int sides[] = {1, 7, 16, 33, 64, 80, 300, 997};
    int checked = 0;
    for (size_t a = 0; a < sizeof sides / sizeof *sides; a++)
        for (size_t b = 0; b < sizeof sides / sizeof *sides; b++)
            for (int crop = 0; crop < 2; crop++) {
                int w = sides[a], h = sides[b], size = 32, patch = 16;
                uint8_t *rgb = calloc((size_t)w * h, 3);
                ct_image *img = NULL, *r = NULL;
                ct_geometry g;
                int mine = ct_resize_geometry(w, h, size, crop, patch, &g, NULL) == CT_OK;
                ct_status st = ct_image_from_rgb(rgb, w, h, &img, NULL);
                if (!st) st = ct_resize_for_model(img, size, crop, patch, &r, NULL);
                CHECK(mine == (st == CT_OK), "%d x %d crop %d: tools %d, library %d", w, h, crop, mine, (int)st);
                if (mine && r) CHECK(r->width == g.width && r->height == g.height, "%d x %d crop %d: %d x %d vs %d x %d", w, h, crop, g.width, g.height, r->width, r->height);
                ct_image_free(img);
                ct_image_free(r);
                free(rgb);
                checked++;
            }
    printf("  %d geometries agree with ct_resize_for_model\n", checked);
    /* the crop offset: ground truth forward through the tools' geometry, back through the
     * library's ct_labels_to_image, lands on the same label away from block edges */
    int W = 120, H = 80, size = 64;
    ct_geometry g;
    CHECK(ct_resize_geometry(W, H, size, 1, 16, &g, NULL) == CT_OK && g.crop_left > 0 && g.crop_top == 0, "crop geometry");
    uint16_t *gt = malloc(sizeof(uint16_t) * W * H), *fw = malloc(sizeof(uint16_t) * size * size);
    int32_t *fw32 = malloc(sizeof(int32_t) * size * size), *back = malloc(sizeof(int32_t) * W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) gt[y * W + x] = (uint16_t)((x / 10) + 12 * (y / 10));
    labels_resize_crop(gt, W, H, &g, fw);
    for (int i = 0; i < size * size; i++) fw32[i] = fw[i];
    CHECK(ct_labels_to_image(fw32, size, size, W, H, size, 1, back, NULL) == CT_OK, "ct_labels_to_image");
    int inside = 0, same = 0;
    double sx = (double)g.resized_width / W;
    for (int y = 2; y < H - 2; y++)
        for (int x = 0; x < W; x++) {
            double cx = (x + 0.5) * sx - g.crop_left; /* column in the crop */
            if (cx < 2 || cx > size - 2 || x % 10 < 2 || x % 10 > 7 || y % 10 < 2 || y % 10 > 7) continue;
            inside++;
            same += back[y * W + x] == gt[y * W + x];
        }
    CHECK(inside > 100 && same == inside, "crop offsets disagree: %d of %d", same, inside);
    free(gt); free(fw); free(fw32); free(back);
    /* sizes that would overflow an int are refused before they become one */
    ct_error err;
    CHECK(ct_resize_geometry(1, 4000000, 1024, 1, 16, &g, &err) && err.status == CT_ERR_TOO_LARGE && strstr(err.msg, "aspect"), "1 x 4,000,000 at 1024: %s", err.msg);
    CHECK(ct_resize_geometry(1, 8000000, 336, 0, 16, &g, &err) && err.status == CT_ERR_TOO_LARGE, "1 x 8,000,000");
    CHECK(ct_resize_geometry(2147483647, 1, 8192, 1, 16, &g, &err), "INT_MAX x 1");
}

/* ------------------------------------------------------------------ colours, legends */

static void to_lab(const uint8_t c[3], double o[3]) {
    double v[3];
    for (int i = 0; i < 3; i++) {
        double x = c[i] / 255.0;
        v[i] = x <= 0.04045 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4);
    }
    double X = (0.4124 * v[0] + 0.3576 * v[1] + 0.1805 * v[2]) / 0.95047, Y = 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2],
           Z = (0.0193 * v[0] + 0.1192 * v[1] + 0.9505 * v[2]) / 1.08883;
#define LF(t) ((t) > 0.008856 ? cbrt(t) : 7.787 * (t) + 16.0 / 116.0)
    o[0] = 116 * LF(Y) - 16;
    o[1] = 500 * (LF(X) - LF(Y));
    o[2] = 200 * (LF(Y) - LF(Z));
#undef LF
}

static double lab_between(const double a[3], const double b[3]) {
    return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

static double lab_dist(const uint8_t a[3], const uint8_t b[3]) {
    double la[3], lb[3];
    to_lab(a, la);
    to_lab(b, lb);
    return lab_between(la, lb);
}

/* The library's table of labels 0..255 is the farthest-point sampling its comment describes
 * (lib/image/palette.c), re-derived here from that description. */
static void palette_table(void) {
    enum { C = 16 * 16 * 16 };
    static double lab[C][3], md[C];
    static const uint8_t k_black[3] = {0, 0, 0}, k_white[3] = {255, 255, 255};
    double black[3], white[3];
    to_lab(k_black, black);
    to_lab(k_white, white);
    for (int i = 0; i < C; i++) {
        uint8_t rgb[3] = {(uint8_t)((i >> 8) * 17), (uint8_t)(((i >> 4) & 15) * 17), (uint8_t)((i & 15) * 17)};
        to_lab(rgb, lab[i]);
        int usable = lab[i][0] >= 35 && lab[i][0] <= 85 && hypot(lab[i][1], lab[i][2]) <= 70;
        md[i] = usable ? fmin(lab_between(lab[i], black), lab_between(lab[i], white)) : -1;
    }
    int bad = 0;
    for (int n = 0; n < 256; n++) {
        int best = 0;
        for (int i = 1; i < C; i++)
            if (md[i] > md[best]) best = i;
        uint8_t want[3] = {(uint8_t)((best >> 8) * 17), (uint8_t)(((best >> 4) & 15) * 17), (uint8_t)((best & 15) * 17)}, got[3];
        ct_label_color(n, -1, got);
        if (memcmp(want, got, 3) && bad++ < 3) printf("  label %d: %d,%d,%d, sampling gives %d,%d,%d\n", n, got[0], got[1], got[2], want[0], want[1], want[2]);
        for (int i = 0; i < C; i++)
            if (md[i] >= 0) md[i] = fmin(md[i], lab_between(lab[i], lab[best]));
    }
    CHECK(bad == 0, "%d of the 256 table colours differ from the sampling", bad);
    uint8_t c[3] = {1, 1, 1};
    ct_label_color(-1, -1, c);
    CHECK(!c[0] && !c[1] && !c[2], "a negative label is black");
    ct_label_color(300, 7, c);
    CHECK(c[0] || c[1] || c[2], "label 300 has a colour");
}

static void colours(void) {
    /* CIELAB distances (CIE76; ~2.3 is a just-noticeable difference): the old golden-ratio palette
     * had 11 among the first 20 labels and 2.2 among the first 50 */
    enum { N = 600 };
    static uint8_t c[N][3];
    for (int l = 0; l < N; l++) ct_label_color(l, -1, c[l]);
    double m20 = 1e9, m50 = 1e9, near = 1e9;
    for (int a = 0; a < 50; a++)
        for (int b = a + 1; b < 50; b++) {
            double d = lab_dist(c[a], c[b]);
            if (a < 20 && b < 20 && d < m20) m20 = d;
            if (d < m50) m50 = d;
        }
    for (int a = 0; a + 5 < N; a++)
        for (int k = 1; k <= 5; k++) {
            double d = lab_dist(c[a], c[a + k]);
            if (d < near) near = d;
        }
    printf("  min CIELAB distance: %.1f (first 20), %.1f (first 50), %.1f (labels 1 to 5 apart, first %d)\n", m20, m50, near, N);
    CHECK(m20 >= 30 && m50 >= 18 && near >= 10, "colours too close");
    uint8_t bg[3], white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
    ct_label_color(5, 5, bg);
    CHECK(!bg[0] && !bg[1] && !bg[2], "background is black");
    double mw = 1e9;
    for (int l = 0; l < N; l++) mw = fmin(mw, fmin(lab_dist(c[l], white), lab_dist(c[l], black)));
    CHECK(mw >= 9, "a label colour is almost the legend's white or the background's black (%.1f)", mw);
}

static void legend_texts(void) {
    struct { const char *in, *out; } cases[] = {
        {"cat", "cat"}, {"\xd0\xba\xd0\xbe\xd1\x88\xd0\xba\xd0\xb0", "koshka"}, {"Stra\xc3\x9f" "e", "Strasse"},
        {"\xce\xb4\xce\xad\xce\xbd\xcf\x84\xcf\x81\xce\xbf", "dentro"}, {"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", "Moskva"},
        {"\xc5\x81\xc3\xb3" "d\xc5\xba", "Lodz"}, {"\xe7\x8c\xab cat", "\x7f cat"}, {"\xe7\x8c\xab\xe7\x8c\xab", "\x7f\x7f"},
        {"a\xff" "b", "a\x7f" "b"}, {"caf\xc3\xa9 \xe2\x80\x94 ok", "cafe - ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[256];
        legend_text(cases[i].in, out, sizeof out, LEGEND_MAX_GLYPHS);
        CHECK(!strcmp(out, cases[i].out), "case %zu: '%s', want '%s'", i, out, cases[i].out);
    }
    char lng[400], out[256];
    memset(lng, 'x', 399);
    lng[399] = 0;
    legend_text(lng, out, sizeof out, LEGEND_MAX_GLYPHS);
    CHECK(strlen(out) == LEGEND_MAX_GLYPHS && !strcmp(out + LEGEND_MAX_GLYPHS - 3, "..."), "long name cut with '...': %zu", strlen(out));
}

static void legend_sizes(void) {
    legend_layout L;
    ct_error err;
    /* the trial's picture: 524288 x 128, 118 labels: a strip of columns, not 3,440 rows */
    CHECK(legend_plan(524288, 128, 118, 300, &L, &err), "%s", err.msg);
    CHECK(L.canvas_w == 524288 && L.canvas_h < 128 + 100 && (unsigned long long)L.canvas_w * L.canvas_h <= RENDER_MAX_PIXELS,
          "524288 x 128 with 118 labels: canvas %d x %d", L.canvas_w, L.canvas_h);
    /* a picture narrower than one entry: the canvas widens */
    CHECK(legend_plan(8, 8, 3, 60, &L, &err) && L.canvas_w >= L.col_w + 8 && L.canvas_w > 8 && L.rows == 3, "8 x 8: canvas %d x %d", L.canvas_w, L.canvas_h);
    /* what cannot be written is refused with the sizes */
    CHECK(!legend_plan(16, 4000000, 200, 300, &L, &err) && err.status == CT_ERR_TOO_LARGE && strstr(err.msg, "limit"), "16 x 4,000,000: %s", err.msg);
    CHECK(!legend_plan(2147483647, 2, 1, 10, &L, &err), "INT_MAX wide");
    CHECK(!legend_plan(8192, 8192, 65535, 300, &L, &err), "65535 labels under 8192 x 8192");
}

static int png_size(const char *path, int *w, int *h) {
    ct_image *im = NULL;
    if (ct_image_load(path, &im, NULL)) return 0;
    *w = im->width;
    *h = im->height;
    ct_image_free(im);
    return 1;
}

static void colour_outputs(void) {
    /* 118 labels on a wide picture: the legend wraps into columns */
    int W = 4096, H = 16, n = 118;
    int32_t *lab = malloc(sizeof(int32_t) * W * H);
    double *share = calloc((size_t)n, sizeof(double));
    char **titles = malloc(sizeof(char *) * n);
    for (int i = 0; i < W * H; i++) lab[i] = (i % W) * n / W;
    for (int l = 0; l < n; l++) {
        titles[l] = malloc(32);
        snprintf(titles[l], 32, "class number %d", l);
        share[l] = 1.0 / n;
    }
    char *p = tmp_path("wide.png");
    ct_error err;
    CHECK(render_colour(p, lab, W, H, n, -1, (const char *const *)titles, share, &err), "%s", err.msg);
    int w = 0, h = 0;
    /* one entry a row would be 118 x 28 pixels tall at this width's font scale */
    CHECK(png_size(p, &w, &h) && w == W && h > H && h < H + 118 * 28 / 8, "wide picture: %d x %d", w, h);
    free(p);
    /* a tiny picture keeps a readable legend: the canvas grows */
    int32_t tiny[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2};
    double sh[3] = {0.25, 0.25, 0.5};
    const char *t3[3] = {"\xd0\xba\xd0\xbe\xd1\x88\xd0\xba\xd0\xb0", "dog", "background"};
    p = tmp_path("tiny.png");
    CHECK(render_colour(p, tiny, 4, 4, 3, 2, t3, sh, &err), "%s", err.msg);
    ct_image *im = NULL;
    CHECK(ct_image_load(p, &im, NULL) == CT_OK && im->width > 40 && im->height >= 4 + 3 * 14, "tiny picture: %d x %d", im ? im->width : 0, im ? im->height : 0);
    if (im) {
        size_t dark = 0; /* text pixels in the legend */
        for (int y = 4; y < im->height; y++)
            for (int x = 20; x < im->width; x++) dark += im->rgb[((size_t)y * im->width + x) * 3] == 0;
        CHECK(dark > 50, "no legend text drawn (%zu dark pixels)", dark);
        /* the background's swatch (grey outline) holds the map's background colour, black */
        int x0 = im->width, x1 = -1, y0 = im->height, y1 = -1;
        for (int y = 4; y < im->height; y++)
            for (int x = 0; x < 20 && x < im->width; x++) {
                const uint8_t *q = im->rgb + ((size_t)y * im->width + x) * 3;
                if (q[0] == 160 && q[1] == 160 && q[2] == 160) {
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
            }
        const uint8_t *mid = x1 >= 0 ? im->rgb + ((size_t)((y0 + y1) / 2) * im->width + (x0 + x1) / 2) * 3 : NULL;
        CHECK(mid && !mid[0] && !mid[1] && !mid[2], "the background swatch's inside is %d,%d,%d, the map's background 0,0,0",
              mid ? mid[0] : -1, mid ? mid[1] : -1, mid ? mid[2] : -1);
    }
    ct_image_free(im);
    free(p);
    for (int l = 0; l < n; l++) free(titles[l]);
    free(titles); free(share); free(lab);
}

/* ------------------------------------------------------------------ files */

static int count_tmp(const char *dir) {
    char cmd[1200];
    FMT(cmd, "ls -A '%s' | grep -c '\\.tmp$'", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = -1; pclose(f); }
    return n;
}

static void atomic_outputs(void) {
    char *dir = tmp_path("out"), *victim = tmp_path("victim.txt");
    mkdir(dir, 0755);
    write_text(victim, "keep", 4);
    char *dst = path_join(dir, "a.json");
    ct_error err;
    char *v;
    /* (a link planted at the temporary name: the library's output files, test_io_writers) */
    /* a symlink at the destination is followed (docs/formats.md, output paths): its target is
     * replaced whole, the link kept */
    CHECK(symlink(victim, dst) == 0, "symlink");
    CHECK(write_file(dst, "new", 3, &err), "%s", err.msg);
    struct stat sb;
    v = slurp(victim, NULL);
    CHECK(lstat(dst, &sb) == 0 && S_ISLNK(sb.st_mode) && v && !strcmp(v, "new"), "destination symlink kept, its target written");
    free(v);
    /* a failed rename (the destination is a non-empty directory) leaves no temporary file */
    char *sub = path_join(dir, "d"), *inner = path_join(sub, "x");
    mkdir(sub, 0755);
    write_text(inner, "x", 1);
    CHECK(!write_file(sub, "data", 4, &err) && strstr(err.msg, "cannot write"), "rename over a directory: %s", err.msg);
    CHECK(count_tmp(dir) == 0, "temporary files left: %d", count_tmp(dir));
    /* a write error: /dev/full as standard output */
    /* output checks made before any work */
    CHECK(!check_output("", "-o", &err) && strstr(err.msg, "empty"), "empty path: %s", err.msg);
    CHECK(!check_output("/nonexistent-dir/x.png", "-o", &err) && strstr(err.msg, "No such file"), "missing dir: %s", err.msg);
    CHECK(!check_output(dir, "-o", &err) && strstr(err.msg, "directory"), "a directory: %s", err.msg);
    CHECK(check_output(dst, "-o", &err), "%s", err.msg);
    free(dir); free(victim); free(dst); free(sub); free(inner);
}

static void no_blocking_reads(void) {
    char *fifo = tmp_path("fifo");
    CHECK(mkfifo(fifo, 0644) == 0, "mkfifo: %s", strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    ct_error err;
    /* would hang forever if opened for reading without O_NONBLOCK */
    CHECK(!read_file(fifo, 1 << 20, &buf, &len, &err) && strstr(err.msg, "regular"), "FIFO read: %s", err.msg);
    npy_array a;
    CHECK(npy_load(fifo, &a, &err) != CT_OK && strstr(err.msg, "regular"), "FIFO as .npy: %s", err.msg);
    uint64_t h;
    CHECK(!hash_file(fifo, &h, &err), "FIFO hashed");
    free(fifo);
}

static void cache_entries(void) {
    /* a cache directory deeper than the old 900-character buffer */
    char *deep = tmp_path("cache");
    size_t n = strlen(deep);
    char *path = malloc(n + 1200);
    strcpy(path, deep);
    while (strlen(path) < 1000) strcat(path, "/a-long-directory-name-of-forty-chars-xx");
    setenv("CT_CACHE_DIR", path, 1);
    tool_cache c;
    cache_open(&c, 0);
    CHECK(c.dir && !strcmp(c.dir, path), "cache dir not used as given");
    emb_key k = {1, 2, 3, CT_PRECISION_FP32, CT_BACKEND_NATIVE, 4};
    float e[4] = {1, 2, 3, 4}, got[4] = {0};
    cache_put(&c, &k, "cat", e);
    char *entry = cache_entry_path(&c, &k, "cat");
    CHECK(entry && strlen(entry) > 1000 && file_exists(entry), "entry at its full path");
    CHECK(cache_get(&c, &k, "cat", got) == 1 && !memcmp(got, e, sizeof e), "hit");
    /* other precision, vocabulary, name: misses */
    emb_key k2 = k;
    k2.precision = CT_PRECISION_BF16;
    CHECK(cache_get(&c, &k2, "cat", got) == 0, "precision not in the key");
    k2 = k;
    k2.vocab = 9;
    CHECK(cache_get(&c, &k2, "cat", got) == 0, "vocabulary not in the key");
    CHECK(cache_get(&c, &k, "dog", got) == 0, "name not in the key");
    /* a damaged entry (one float altered) is detected */
    FILE *f = fopen(entry, "r+b");
    fseek(f, -12, SEEK_END);
    fputc(0x42, f);
    fclose(f);
    CHECK(cache_get(&c, &k, "cat", got) == -1 && c.n_damaged == 1, "damaged entry used");
    cache_put(&c, &k, "cat", e);
    CHECK(cache_get(&c, &k, "cat", got) == 1, "rewritten entry");
    /* an entry replaced by a FIFO does not block, and is replaced by the next store */
    unlink(entry);
    CHECK(mkfifo(entry, 0644) == 0, "mkfifo");
    CHECK(cache_get(&c, &k, "cat", got) == -1, "FIFO entry");
    cache_put(&c, &k, "cat", e);
    struct stat sb;
    CHECK(lstat(entry, &sb) == 0 && S_ISREG(sb.st_mode) && cache_get(&c, &k, "cat", got) == 1, "FIFO entry replaced");
    c.n_damaged = 0;
    free(entry);
    cache_close(&c);
    /* an unusable directory disables the cache (one warning) */
    char *file = tmp_path("plain-file");
    write_text(file, "x", 1);
    char *under = path_join(file, "cache");
    setenv("CT_CACHE_DIR", under, 1);
    cache_open(&c, 0);
    CHECK(c.dir == NULL, "cache under a file");
    cache_close(&c);
    unsetenv("CT_CACHE_DIR");
    free(under); free(file); free(path); free(deep);
}

int main(void) {
    RUN(utf8_strict);
    RUN(hashes);
    RUN(numbers);
    RUN(class_lists);
    RUN(class_duplicates);
    RUN(geometry_matches_library);
    RUN(colours);
    RUN(palette_table);
    RUN(legend_texts);
    RUN(legend_sizes);
    RUN(colour_outputs);
    RUN(atomic_outputs);
    RUN(no_blocking_reads);
    RUN(cache_entries);
    DONE();
}
