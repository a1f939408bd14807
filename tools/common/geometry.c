/* Ground truth through the library's resize and crop geometry. */
#include "common/geometry.h"
#include "common/msg.h"

void labels_resize_crop(const uint16_t *gt, int width, int height, const ct_geometry *g, uint16_t *out) {
    for (int y = 0; y < g->height; y++) {
        int64_t sy = (int64_t)(((double)(y + g->crop_top) + 0.5) * height / g->resized_height);
        if (sy >= height) sy = height - 1;
        for (int x = 0; x < g->width; x++) {
            int64_t sx = (int64_t)(((double)(x + g->crop_left) + 0.5) * width / g->resized_width);
            if (sx >= width) sx = width - 1;
            out[(size_t)y * (size_t)g->width + (size_t)x] = gt[(size_t)sy * (size_t)width + (size_t)sx];
        }
    }
}

void warn_aspect(const char *name, int width, int height, int W, int H) {
    int lo = W < H ? W : H, hi = W < H ? H : W;
    if (lo > 0 && hi > (long long)ASPECT_WARN * lo)
        warn("'%s': the %d x %d picture becomes a %d x %d model input (width x height, %.0f times as long as wide): its cost grows with "
             "the long side; --crop segments the centre square, a smaller --size costs less", name, width, height, W, H, (double)hi / lo);
}
