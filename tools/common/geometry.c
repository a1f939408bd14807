/* Resize and crop geometry (the library's rule), ground truth through it, size rounding. */
#include "common/geometry.h"
#include "common/files.h"

#include <math.h>

/* Python's round(x / 2) for an integer x >= 0: halves go to the even neighbour */
static int half_even(int x) {
    int q = x / 2;
    return (x % 2 == 0 || q % 2 == 0) ? q : q + 1;
}

int resize_geometry(int width, int height, int size, int crop, int patch, resize_geom *g, ct_error *err) {
    if (width <= 0 || height <= 0) return fail_msg(err, CT_ERR_INVALID_ARG, "picture size %d x %d", width, height);
    if (size <= 0 || size > 8192 || patch <= 0) return fail_msg(err, CT_ERR_INVALID_ARG, "size %d must be in [1, 8192]", size);
    int shrt = width < height ? width : height, lng = width < height ? height : width;
    double exact = (double)size * lng / shrt, nl;
    if (crop) nl = floor(exact);
    else nl = fmax(floor(exact / patch + 0.5) * patch, patch);
    /* compared as a double, before it becomes an int */
    if (nl > GEOM_MAX_SIDE) return fail_msg(err, CT_ERR_TOO_LARGE, "aspect ratio %d:%d too extreme (the long side would be %.0f pixels, at most %d)", lng, shrt, nl, GEOM_MAX_SIDE);
    g->rw = width <= height ? size : (int)nl;
    g->rh = width <= height ? (int)nl : size;
    g->top = g->left = 0;
    g->W = g->rw;
    g->H = g->rh;
    if (crop) {
        g->top = half_even(g->rh - size);
        g->left = half_even(g->rw - size);
        g->W = g->H = size;
    }
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
