/* Colour maps, legends and overlays of label maps. */
#include "common/render.h"
#include "common/files.h"
#include "common/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include <stb/stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------------ text */


static const char *const k_latin1[64] = { /* U+00C0 .. U+00FF */
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
    "D", "N", "O", "O", "O", "O", "O", "x", "O", "U", "U", "U", "U", "Y", "Th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "/", "o", "u", "u", "u", "u", "y", "th", "y"};
/* U+0100 .. U+017F: the base letter (U+0132/0133 and U+0152/0153 are ligatures, below) */
static const char k_latin_a[] = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlL"
                                "lLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
static const char *const k_cyrillic[32] = { /* U+0430 .. U+044F (upper case U+0410: capitalised) */
    "a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
    "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "\"", "y", "'", "e", "yu", "ya"};
static const char *const k_greek[25] = { /* U+03B1 .. U+03C9 (upper case U+0391: capitalised) */
    "a", "b", "g", "d", "e", "z", "e", "th", "i", "k", "l", "m", "n", "x", "o", "p",
    "r", "s", "s", "t", "y", "ph", "ch", "ps", "o"};

/* ASCII for one code point: a string (static or in one[]), or NULL (then a box is drawn);
 * *cap: capitalise its first letter */
static const char *translit(uint32_t cp, int *cap, char one[2]) {
    *cap = 0;
    if (cp >= 0xC0 && cp <= 0xFF) return k_latin1[cp - 0xC0];
    if (cp == 0x132) return "IJ";
    if (cp == 0x133) return "ij";
    if (cp == 0x152) return "OE";
    if (cp == 0x153) return "oe";
    if (cp >= 0x100 && cp <= 0x17F) {
        one[0] = k_latin_a[cp - 0x100];
        one[1] = 0;
        return one;
    }
    if (cp >= 0x430 && cp <= 0x44F) return k_cyrillic[cp - 0x430];
    if (cp >= 0x410 && cp <= 0x42F) { *cap = 1; return k_cyrillic[cp - 0x410]; }
    if (cp == 0x401) { *cap = 1; return "yo"; }
    if (cp == 0x451) return "yo";
    if (cp == 0x404 || cp == 0x454) { *cap = cp == 0x404; return "ye"; }
    if (cp == 0x406 || cp == 0x456) { *cap = cp == 0x406; return "i"; }
    if (cp == 0x407 || cp == 0x457) { *cap = cp == 0x407; return "yi"; }
    if (cp >= 0x3B1 && cp <= 0x3C9) return k_greek[cp - 0x3B1];
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) { *cap = 1; return k_greek[cp - 0x391]; }
    switch (cp) {
    case 0x3AC: return "a";
    case 0x3AD: case 0x3AE: return "e";
    case 0x3AF: return "i";
    case 0x3CC: case 0x3CE: return "o";
    case 0x3CD: return "y";
    case 0xA0: return " ";
    case 0xAB: case 0xBB: case 0x201C: case 0x201D: case 0x201E: return "\"";
    case 0xB7: return ".";
    case 0x2018: case 0x2019: case 0x201A: return "'";
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2212: return "-";
    case 0x2026: return "...";
    default: return NULL;
    }
}

void legend_text(const char *s, char *out, size_t cap, int max_glyphs) {
    if (!cap) return;
    size_t limit = cap - 1, o = 0;
    if (max_glyphs >= 0 && (size_t)max_glyphs < limit) limit = (size_t)max_glyphs;
    int over = 0;
    const char *p = s, *end = s + strlen(s);
    while (p < end && !over) {
        uint32_t cp;
        int valid = utf8_decode(&p, end, &cp), upper = 0;
        char one[2] = {(char)cp, 0};
        const char *t = !valid ? NULL : (cp >= 32 && cp < 127) ? one : translit(cp, &upper, one);
        if (!t) t = "\x7f";
        for (size_t k = 0; t[k]; k++) {
            if (o == limit) { over = 1; break; }
            char ch = t[k];
            if (upper && k == 0 && ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
            out[o++] = ch;
        }
    }
    if (over) /* cut: the last three glyphs become "..." */
        for (size_t k = limit >= 3 ? limit - 3 : 0; k < limit; k++) out[k] = '.';
    out[o] = 0;
}

/* font pixels of the legend text at scale 1 */
static int text_width(const char *t) {
    int w = 0;
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        w += (c >= 32 && c < 127) ? (stb_easy_font_charinfo[c - 32].advance & 15) : 6;
    }
    return w;
}

static void fill(uint8_t *img, int CW, int CH, int x0, int y0, int w, int h, const uint8_t col[3]) {
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < CH; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < CW; x++) memcpy(img + ((size_t)y * (size_t)CW + (size_t)x) * 3, col, 3);
}

/* draw legend text at (x0, y0), font scale s */
static void draw_text(uint8_t *img, int CW, int CH, int x0, int y0, const char *t, int s, const uint8_t col[3]) {
    int x = x0;
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c < 32 || c >= 127) { /* a box for a code point the font lacks */
            fill(img, CW, CH, x, y0 + 1 * s, 4 * s, s, col);
            fill(img, CW, CH, x, y0 + 7 * s, 4 * s, s, col);
            fill(img, CW, CH, x, y0 + 1 * s, s, 7 * s, col);
            fill(img, CW, CH, x + 3 * s, y0 + 1 * s, s, 7 * s, col);
            x += 6 * s;
            continue;
        }
        char one[2] = {(char)c, 0};
        char vbuf[64 * 64];
        int nq = stb_easy_font_print(0, 0, one, NULL, vbuf, sizeof vbuf);
        for (int q = 0; q < nq; q++) {
            float v[16];
            memcpy(v, vbuf + q * 64, sizeof v);
            int qx0 = (int)v[0], qy0 = (int)v[1], qx1 = (int)v[8], qy1 = (int)v[9];
            fill(img, CW, CH, x + qx0 * s, y0 + qy0 * s, (qx1 - qx0) * s, (qy1 - qy0) * s, col);
        }
        x += (stb_easy_font_charinfo[c - 32].advance & 15) * s;
    }
}

/* ------------------------------------------------------------------ layout and pictures */

int legend_plan(int W, int H, int n, int text_px, legend_layout *L, ct_error *err) {
    if (W <= 0 || H <= 0 || n < 0 || text_px < 0) return fail_msg(err, CT_ERR_INVALID_ARG, "legend of a %d x %d picture", W, H);
    memset(L, 0, sizeof *L);
    L->W = W;
    L->H = H;
    L->scale = W >= 600 ? 2 : 1;
    int s = L->scale;
    L->row_h = 14 * s;
    /* swatch, gap, text, space to the next column */
    long long col_w = 4 + 10LL * s + 4LL * s + (long long)text_px * s + 12LL * s;
    long long cw = W > col_w + 8 ? W : col_w + 8;
    long long cols = (cw - 4) / col_w;
    if (cols < 1) cols = 1;
    long long rows = n ? (n + cols - 1) / cols : 0;
    long long ch = (long long)H + rows * L->row_h + 8;
    if (ch > INT32_MAX || cw > INT32_MAX || (unsigned long long)(cw * ch) > RENDER_MAX_PIXELS)
        return fail_msg(err, CT_ERR_TOO_LARGE, "the colour output would be %lld x %lld pixels (picture %d x %d and a legend of %d labels): over the limit of %llu pixels (write --labels instead)",
                        cw, ch, W, H, n, (unsigned long long)RENDER_MAX_PIXELS);
    L->col_w = (int)col_w;
    L->cols = (int)cols;
    L->rows = (int)rows;
    L->canvas_w = (int)cw;
    L->canvas_h = (int)ch;
    return 1;
}

int png_name(const char *path) {
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!dot || dot == base) return 1; /* no extension (a leading dot is a hidden file's name) */
    return !strcasecmp(dot, ".png");
}

int render_colour(const char *path, const int32_t *labels, int W, int H, int n_labels, int bg_label, const char *const *titles,
                  const double *share, ct_error *err) {
    int n = 0, widest = 0;
    char (*text)[LEGEND_MAX_GLYPHS * 4 + 16] = calloc((size_t)n_labels, sizeof *text);
    if (!text) return fail_msg(err, CT_ERR_NOMEM, "out of memory for the legend");
    for (int l = 0; l < n_labels; l++) {
        if (share[l] <= 0) continue;
        char t[LEGEND_MAX_GLYPHS * 4];
        legend_text(titles[l], t, sizeof t, LEGEND_MAX_GLYPHS);
        snprintf(text[l], sizeof text[l], "%s %.1f%%", t, share[l] * 100);
        int w = text_width(text[l]);
        if (w > widest) widest = w;
        n++;
    }
    legend_layout L;
    if (!legend_plan(W, H, n, widest, &L, err)) { free(text); return 0; }
    size_t CW = (size_t)L.canvas_w, CH = (size_t)L.canvas_h;
    uint8_t *img = malloc(CW * CH * 3); /* at most 3 * RENDER_MAX_PIXELS bytes: checked above */
    if (!img) { free(text); return fail_msg(err, CT_ERR_NOMEM, "out of memory for a %zu x %zu colour output", CW, CH); }
    memset(img, 255, CW * CH * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) ct_label_color(labels[(size_t)y * W + x], bg_label, img + ((size_t)y * CW + (size_t)x) * 3);
    static const uint8_t black[3] = {0, 0, 0};
    int s = L.scale, k = 0;
    for (int l = 0; l < n_labels; l++) {
        if (share[l] <= 0) continue;
        int x = 4 + (k / L.rows) * L.col_w, y = H + 4 + (k % L.rows) * L.row_h;
        uint8_t col[3];
        ct_label_color(l, bg_label, col);
        if (l == bg_label) { /* the map's colour (black) inside a grey outline, apart from the text's black */
            static const uint8_t grey[3] = {160, 160, 160};
            fill(img, L.canvas_w, L.canvas_h, x, y, 10 * s, L.row_h - 3 * s, grey);
            fill(img, L.canvas_w, L.canvas_h, x + s, y + s, 8 * s, L.row_h - 5 * s, col);
        } else {
            fill(img, L.canvas_w, L.canvas_h, x, y, 10 * s, L.row_h - 3 * s, col);
        }
        draw_text(img, L.canvas_w, L.canvas_h, x + 14 * s, y + s, text[l], s, black);
        k++;
    }
    free(text);
    ct_image im = {L.canvas_w, L.canvas_h, img};
    ct_status st = ct_image_save_png(&im, path, err);
    free(img);
    return st == CT_OK;
}

int render_overlay(const char *path, const ct_image *photo, const int32_t *labels, int bg_label, ct_error *err) {
    size_t n = (size_t)photo->width * (size_t)photo->height;
    uint8_t *img = malloc(n * 3);
    if (!img) return fail_msg(err, CT_ERR_NOMEM, "out of memory for the overlay");
    for (size_t i = 0; i < n; i++) {
        uint8_t col[3];
        ct_label_color(labels[i], bg_label, col);
        for (int k = 0; k < 3; k++) img[i * 3 + k] = (uint8_t)((photo->rgb[i * 3 + k] * 5 + col[k] * 5 + 5) / 10);
    }
    ct_image im = {photo->width, photo->height, img};
    ct_status st = ct_image_save_png(&im, path, err);
    free(img);
    return st == CT_OK;
}
