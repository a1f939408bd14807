/* scipy.ndimage.median_filter(x, size, mode="reflect") for 2-D float arrays.
 * The window of side s covers offsets -(s/2) .. s-1-s/2 (scipy's origin 0); the result is the
 * element of rank (s*s)/2 in sorted order (the middle one for odd s); "reflect" mirrors about the
 * edge including the edge sample (d c b a | a b c d | d c b a), periodically for any offset. */
#include "core/internal.h"

#include <stdlib.h>

static int reflect(int i, int n) {
    if (n == 1) return 0;
    int p = 2 * n;
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

/* k-th smallest of v[0..n) (Hoare's selection; reorders v) */
static float select_k(float *v, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float piv = v[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) { float t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

ct_status ct_median_filter(const float *x, int h, int w, int size, float *y, ct_error *err) {
    if (!x || !y || h <= 0 || w <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_median_filter: bad argument");
    if (size < 1 || size > 255) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_median_filter: size %d outside [1, 255]", size);
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (x[i] != x[i]) return ct_fail(err, CT_ERR_NONFINITE, "ct_median_filter: NaN in input");
    int n = size * size, half = size / 2, k = n / 2;
    float *win = ct_alloc((size_t)n, sizeof(float));
    int *ry = ct_alloc((size_t)size, sizeof(int)), *rx = ct_alloc((size_t)w * size, sizeof(int));
    float *out = ct_alloc((size_t)h * w, sizeof(float));
    if (!win || !ry || !rx || !out) {
        free(win); free(ry); free(rx); free(out);
        return ct_fail(err, CT_ERR_NOMEM, "ct_median_filter: out of memory");
    }
    for (int c = 0; c < w; c++)
        for (int b = 0; b < size; b++) rx[(size_t)c * size + b] = reflect(c - half + b, w);
    for (int r = 0; r < h; r++) {
        for (int a = 0; a < size; a++) ry[a] = reflect(r - half + a, h);
        for (int c = 0; c < w; c++) {
            int m = 0;
            const int *cx = rx + (size_t)c * size;
            for (int a = 0; a < size; a++) {
                const float *row = x + (size_t)ry[a] * w;
                for (int b = 0; b < size; b++) win[m++] = row[cx[b]];
            }
            out[(size_t)r * w + c] = select_k(win, n, k);
        }
    }
    for (size_t i = 0; i < (size_t)h * w; i++) y[i] = out[i]; /* y may alias x */
    free(win); free(ry); free(rx); free(out);
    return ct_ok(err);
}
