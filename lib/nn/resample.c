/* PyTorch's interpolation: bilinear (align_corners=False) for maps, bicubic (A = -0.75) for the
 * position-embedding grid. */
#include "core/internal.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's source index for align_corners=False (linear modes clamp negatives to 0) */
void ct_bilinear_taps(int in, int out, ct_taps *t) {
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int a = (int)src;
        t[o].i0 = a;
        t[o].i1 = a + (a < in - 1 ? 1 : 0);
        t[o].l1 = src - (float)a;
        t[o].l0 = 1.f - t[o].l1;
    }
}

typedef struct {
    int ih, iw, oh, ow;
    const float *x;
    float *y;
    const ct_taps *ty, *tx;
} bil_job;

/* rows (map, output row) in [r0, r1) */
static void bilinear_rows(void *arg, int64_t r0, int64_t r1) {
    bil_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r / j->oh;
        int oy = (int)(r % j->oh);
        const float *m = j->x + (size_t)c * j->ih * j->iw;
        float *o = j->y + (size_t)r * j->ow;
        for (int ox = 0; ox < j->ow; ox++) o[ox] = ct_bilinear_at(m, j->iw, &j->ty[oy], &j->tx[ox]);
    }
}

int ct_bilinear(const ct_exec *ex, int n, int ih, int iw, const float *x, int oh, int ow, float *y) {
    ct_taps *ty = ct_alloc((size_t)oh, sizeof(ct_taps)), *tx = ct_alloc((size_t)ow, sizeof(ct_taps));
    if (!ty || !tx) { free(ty); free(tx); return 0; }
    ct_bilinear_taps(ih, oh, ty);
    ct_bilinear_taps(iw, ow, tx);
    bil_job j = {ih, iw, oh, ow, x, y, ty, tx};
    ct_parallel_for(ex, (int64_t)n * oh, 1 + 16384 / (ow > 0 ? ow : 1), bilinear_rows, &j);
    free(ty);
    free(tx);
    return 1;
}

static void cubic_coeffs(double t, double c[4]) {
    const double A = -0.75;
    double x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
    c[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    c[1] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    c[2] = ((A + 2) * x3 - (A + 3)) * x3 * x3 + 1;
    c[3] = ((A * x4 - 5 * A) * x4 + 8 * A) * x4 - 4 * A;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

typedef struct {
    int ih, iw, C, ow;
    const float *x;
    float *y;
    float rh, rw;
} bic_job;

static void bicubic_rows(void *arg, int64_t r0, int64_t r1) {
    const bic_job *j = arg;
    for (int64_t oy = r0; oy < r1; oy++) {
        float sy = j->rh * ((float)oy + 0.5f) - 0.5f;
        int fy = (int)floorf(sy);
        double cy[4];
        cubic_coeffs((double)(sy - (float)fy), cy);
        for (int ox = 0; ox < j->ow; ox++) {
            float sx = j->rw * ((float)ox + 0.5f) - 0.5f;
            int fx = (int)floorf(sx);
            double cx[4];
            cubic_coeffs((double)(sx - (float)fx), cx);
            float *o = j->y + ((size_t)oy * j->ow + ox) * j->C;
            memset(o, 0, sizeof(float) * (size_t)j->C);
            for (int a = 0; a < 4; a++) {
                int yy = clampi(fy - 1 + a, 0, j->ih - 1);
                for (int b = 0; b < 4; b++) {
                    int xx = clampi(fx - 1 + b, 0, j->iw - 1);
                    float wgt = (float)(cy[a] * cx[b]);
                    const float *s = j->x + ((size_t)yy * j->iw + xx) * j->C;
                    for (int c = 0; c < j->C; c++) o[c] += wgt * s[c];
                }
            }
        }
    }
}

void ct_bicubic_grid(const ct_exec *ex, int ih, int iw, int C, const float *x, int oh, int ow, double sh, double sw, float *y) {
    /* with a scale factor given, PyTorch maps output i to (i + 0.5) / scale - 0.5, unclamped */
    bic_job j = {ih, iw, C, ow, x, y, (float)(1.0 / sh), (float)(1.0 / sw)};
    ct_parallel_for(ex, oh, 1, bicubic_rows, &j);
}

/* Keys' cubic convolution kernel with a = -0.5 (PyTorch's antialiased bicubic filter) */
static float keys_cubic(float t) {
    const float a = -0.5f;
    t = fabsf(t);
    if (t < 1.f) return ((a + 2.f) * t - (a + 3.f)) * t * t + 1.f;
    if (t < 2.f) return ((a * t - 5.f * a) * t + 8.f * a) * t - 4.f * a;
    return 0.f;
}

/* taps of output index i for an axis n_in -> n_out (PyTorch's _compute_weights_aa): the first
 * source index and up to cap normalised weights; returns the tap count */
static int aa_taps(int n_in, int n_out, int i, float *w, int cap, int *lo) {
    float scale = (float)n_in / (float)n_out;
    float support = scale >= 1.f ? 2.f * scale : 2.f, invscale = scale >= 1.f ? 1.f / scale : 1.f;
    float center = scale * ((float)i + 0.5f);
    int xmin = (int)(center - support + 0.5f), xmax = (int)(center + support + 0.5f);
    if (xmin < 0) xmin = 0;
    if (xmax > n_in) xmax = n_in;
    int n = xmax - xmin < cap ? xmax - xmin : cap;
    float total = 0.f;
    for (int j = 0; j < n; j++) {
        w[j] = keys_cubic(((float)(j + xmin) - center + 0.5f) * invscale);
        total += w[j];
    }
    for (int j = 0; j < n && total != 0.f; j++) w[j] /= total;
    *lo = xmin;
    return n;
}

typedef struct {
    int n_in, n_out, C, lines;
    size_t in_step, out_step, line_in, line_out; /* floats between taps / outputs, and between lines */
    const float *x;
    float *y;
} aa_job;

#define CT_AA_MAX_TAPS 4096

/* outputs [o0, o1) of every line along one axis */
static void aa_axis(void *arg, int64_t o0, int64_t o1) {
    const aa_job *j = arg;
    float w[CT_AA_MAX_TAPS];
    for (int64_t o = o0; o < o1; o++) {
        int lo, n = aa_taps(j->n_in, j->n_out, (int)o, w, CT_AA_MAX_TAPS, &lo);
        for (int l = 0; l < j->lines; l++) {
            float *d = j->y + (size_t)l * j->line_out + (size_t)o * j->out_step;
            const float *s = j->x + (size_t)l * j->line_in + (size_t)lo * j->in_step;
            for (int c = 0; c < j->C; c++) d[c] = 0.f;
            for (int t = 0; t < n; t++)
                for (int c = 0; c < j->C; c++) d[c] += w[t] * s[(size_t)t * j->in_step + c];
        }
    }
}

void ct_bicubic_aa_grid(const ct_exec *ex, int ih, int iw, int C, const float *x, int oh, int ow, float *tmp, float *y) {
    /* columns: ih lines of iw -> ow; then rows: ow lines of ih -> oh (PyTorch: the contiguous
     * dimension first) */
    aa_job a = {iw, ow, C, ih, (size_t)C, (size_t)C, (size_t)iw * C, (size_t)ow * C, x, tmp};
    ct_parallel_for(ex, ow, 1, aa_axis, &a);
    aa_job b = {ih, oh, C, ow, (size_t)ow * C, (size_t)ow * C, (size_t)C, (size_t)C, tmp, y};
    ct_parallel_for(ex, oh, 1, aa_axis, &b);
}
