/* Following a picture through the library's resize (ct_resize_geometry): ct-eval's ground truth
 * with --crop, and the tools' size rounding. */
#ifndef CT_TOOLS_GEOMETRY_H
#define CT_TOOLS_GEOMETRY_H

#include "cliptrase.h"

#include <stdint.h>

/* Ground truth [height x width] to the model input of a crop geometry, as the reference builds it
 * (PIL nearest resize to the resized size, then the crop): out [g->height x g->width]. */
void labels_resize_crop(const uint16_t *gt, int width, int height, const ct_geometry *g, uint16_t *out);

/* The size a tool uses for --size N: N rounded to the nearest multiple of the patch, halves up,
 * at least one patch (336 -> 336 at patch 16 or 14, 352 at patch 32). */
int round_to_patch(int size, int patch);

#endif
