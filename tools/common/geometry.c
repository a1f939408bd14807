/* Resize and crop geometry (the library's rule), ground truth through it, size rounding. */
#include "common/geometry.h"

int resize_geometry(int width, int height, int size, int crop, int patch, resize_geom *g, ct_error *err) {
    ct_geometry lg;
    if (ct_resize_geometry(width, height, size, crop, patch, &lg, err)) return 0;
    g->rw = lg.resized_width;
    g->rh = lg.resized_height;
    g->top = lg.crop_top;
    g->left = lg.crop_left;
    g->W = lg.width;
    g->H = lg.height;
    return 1;
}

void labels_resize_crop(const uint16_t *gt, int width, int height, const resize_geom *g, uint16_t *out) {
    for (int y = 0; y < g->H; y++) {
        int64_t sy = (int64_t)(((double)(y + g->top) + 0.5) * height / g->rh);
        if (sy >= height) sy = height - 1;
        for (int x = 0; x < g->W; x++) {
            int64_t sx = (int64_t)(((double)(x + g->left) + 0.5) * width / g->rw);
            if (sx >= width) sx = width - 1;
            out[(size_t)y * (size_t)g->W + (size_t)x] = gt[(size_t)sy * (size_t)width + (size_t)sx];
        }
    }
}

int round_to_patch(int size, int patch) {
    if (patch <= 0) return size;
    long long r = ((long long)size + patch / 2) / patch * patch;
    if (r < patch) r = patch;
    return (int)r;
}
