/* Pictures of a label map: the colour of each label, the colour map with its legend (wrapped into
 * columns, the canvas widened when the picture is narrower than one legend entry), the overlay,
 * and the legend's text (ASCII glyphs of stb_easy_font; Latin, Greek and Cyrillic letters
 * transliterated; one box per other code point). Every size is checked before it is used. */
#ifndef CT_TOOLS_RENDER_H
#define CT_TOOLS_RENDER_H

#include "cliptrase.h"

#include <stddef.h>
#include <stdint.h>

/* The largest colour output (picture and legend), in pixels: twice the picture limit. */
#define RENDER_MAX_PIXELS (2ull * CT_MAX_IMAGE_PIXELS)
/* Legend entries are cut to this many glyphs ("..." at the end). */
#define LEGEND_MAX_GLYPHS 48

/* The colour of each label is the library's ct_label_color (black for the background label). */

/* Whether a colour output's name suits its PNG data: it ends in .png (any case) or has no
 * extension (a device, "out"); x.jpg is refused by the demo. */
int png_name(const char *path);

/* The legend's text of a UTF-8 string, in the font's ASCII (32..126), at most max_glyphs glyphs
 * ("..." when cut); code points without a transliteration become '\x7f', drawn as a box. */
void legend_text(const char *utf8, char *out, size_t cap, int max_glyphs);

typedef struct {
    int W, H;             /* the picture */
    int canvas_w, canvas_h;
    int scale;            /* font scale */
    int row_h, col_w, cols, rows;
} legend_layout;

/* Lay out n entries whose widest text is `text_px` font pixels (scale 1) under a W x H picture.
 * 0 with err set (CT_ERR_TOO_LARGE) when the canvas would exceed RENDER_MAX_PIXELS. */
int legend_plan(int W, int H, int n, int text_px, legend_layout *L, ct_error *err);

/* Colour map of labels [H x W] with a legend of the labels present (title and share of
 * pixels), written as a PNG. titles [n_labels]; share [n_labels]. */
int render_colour(const char *path, const int32_t *labels, int W, int H, int n_labels, int bg_label, const char *const *titles,
                  const double *share, ct_error *err);
/* The labels blended half and half over the picture (same size). */
int render_overlay(const char *path, const ct_image *photo, const int32_t *labels, int bg_label, ct_error *err);

#endif
