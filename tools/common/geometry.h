/* Following a picture through the library's resize (ct_resize_geometry): ct-eval's ground truth
 * with --crop (the size rounding is the library's ct_round_size). */
#ifndef CT_TOOLS_GEOMETRY_H
#define CT_TOOLS_GEOMETRY_H

#include "cliptrase.h"

#include <stdint.h>

/* Ground truth [height x width] to the model input of a crop geometry, as the reference builds it
 * (PIL nearest resize to the resized size, then the crop): out [g->height x g->width]. */
void labels_resize_crop(const uint16_t *gt, int width, int height, const ct_geometry *g, uint16_t *out);

#endif
