/* The geometry of ct_resize_for_model / ct_preprocess (the library's ct_resize_geometry), for the
 * tools that must follow a picture through it (ct-eval's ground truth with --crop). */
#ifndef CT_TOOLS_GEOMETRY_H
#define CT_TOOLS_GEOMETRY_H

#include "cliptrase.h"

#include <stdint.h>

typedef struct {
    int rw, rh;      /* the resize before any crop */
    int top, left;   /* crop offset in the resized picture (0 without crop) */
    int W, H;        /* the model input */
} resize_geom;

/* ct_resize_geometry in the tools' terms: 0 with err set when a size is out of range or the
 * aspect ratio too extreme. */
int resize_geometry(int width, int height, int size, int crop, int patch, resize_geom *g, ct_error *err);

/* Ground truth [height x width] to the model input of a crop geometry, as the reference builds it
 * (PIL nearest resize to rw x rh, then the crop): out [g->H x g->W]. */
void labels_resize_crop(const uint16_t *gt, int width, int height, const resize_geom *g, uint16_t *out);

/* The size a tool uses for --size N: N rounded to the nearest multiple of the patch, halves up,
 * at least one patch (336 -> 336 at patch 16 or 14, 352 at patch 32). */
int round_to_patch(int size, int patch);

#endif
