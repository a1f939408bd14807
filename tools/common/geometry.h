/* Following a picture through the library's resize (ct_resize_geometry): ct-eval's ground truth
 * with --crop (the size rounding is the library's ct_round_size). */
#ifndef CT_TOOLS_GEOMETRY_H
#define CT_TOOLS_GEOMETRY_H

#include "cliptrase.h"

#include <stdint.h>

/* Ground truth [height x width] to the model input of a crop geometry, as the reference builds it
 * (PIL nearest resize to the resized size, then the crop): out [g->height x g->width]. */
void labels_resize_crop(const uint16_t *gt, int width, int height, const ct_geometry *g, uint16_t *out);

/* Model inputs whose long side is more than ASPECT_WARN times the short side get a warning (the
 * short side is the size, so the cost grows with the long side: a 33 x 900 picture at 336 is a
 * 336 x 9168 input, 27 times the patches of a square one). */
#define ASPECT_WARN 4
/* The warning, on stderr (also with -q), when the W x H model input of a width x height picture
 * is that elongated; sizes are width x height, as in every message of the tools. */
void warn_aspect(const char *name, int width, int height, int W, int H);

#endif
