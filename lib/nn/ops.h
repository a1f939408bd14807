/* Dense row operations and resampling: layer norm, L2 normalisation (norm.c), softmax
 * (softmax.c) and PyTorch's bilinear / bicubic interpolation (resample.c). Matrix products are in
 * gemm.h. Loops split their rows over the exec's threads when the work is large; every row is
 * computed the same way whatever the split, so results do not depend on it. */
#ifndef CT_NN_OPS_H
#define CT_NN_OPS_H

#include "core/runtime.h"

#include <stddef.h>

/* Row-wise LayerNorm (eps 1e-5, biased variance) of x [M x N] (ldx) into y (ldy; may alias x). */
void ct_layernorm(const ct_exec *ex, int M, int N, const float *x, int ldx, const float *g, const float *b, float *y, int ldy);
/* The same with the model's epsilon (ct_config's vision_ln_eps / text_ln_eps). */
void ct_layernorm_eps(const ct_exec *ex, int M, int N, const float *x, int ldx, const float *g, const float *b, float *y, int ldy,
                      float eps);
/* In-place softmax of each row of x [M x N] (row stride ld). A row of -inf gives zeros. */
void ct_softmax_rows(const ct_exec *ex, int M, int N, float *x, int ld);
/* In-place L2 normalisation of each row of x [M x N]; zero rows stay zero. */
void ct_l2norm_rows(int M, int N, float *x);

/* exp(x) to about 2 ulp, written so that loops calling it vectorise (Cody-Waite reduction and
 * Cephes' degree-5 polynomial); inputs are clamped to [-87.3, 88.7]. */
static inline float ct_expf(float x) {
    x = x < -87.3365448f ? -87.3365448f : x > 88.7228394f ? 88.7228394f : x;
    float fx = x * 1.44269504088896341f;
    float r = (fx + 12582912.0f) - 12582912.0f; /* round to nearest without a library call */
    x = x - r * 0.693359375f + r * 2.12194440e-4f;
    float z = x * x;
    float y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x +
               1.6666665459e-1f) * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    union { unsigned u; float f; } p;
    p.u = (unsigned)((int)r + 127) << 23;
    return y * p.f;
}

/* Bilinear source taps of PyTorch's align_corners=False for each of `out` output indices. */
typedef struct {
    int i0, i1;
    float l0, l1;
} ct_taps;
void ct_bilinear_taps(int in, int out, ct_taps *t);
/* One bilinearly interpolated value of map m (row stride iw), in PyTorch's operation order. */
static inline float ct_bilinear_at(const float *m, int iw, const ct_taps *ty, const ct_taps *tx) {
    return ty->l0 * (tx->l0 * m[(size_t)ty->i0 * iw + tx->i0] + tx->l1 * m[(size_t)ty->i0 * iw + tx->i1]) +
           ty->l1 * (tx->l0 * m[(size_t)ty->i1 * iw + tx->i0] + tx->l1 * m[(size_t)ty->i1 * iw + tx->i1]);
}

/* PyTorch F.interpolate(mode="bilinear", align_corners=False) of n maps [n x ih x iw] to
 * [n x oh x ow]. Returns 0 when out of memory (y untouched). */
int ct_bilinear(const ct_exec *ex, int n, int ih, int iw, const float *x, int oh, int ow, float *y);

/* PyTorch F.interpolate(mode="bicubic", align_corners=False, scale_factor=(sh, sw)) of a
 * channel-last grid x [ih x iw x C] to y [oh x ow x C] (A = -0.75, borders clamped). */
void ct_bicubic_grid(const ct_exec *ex, int ih, int iw, int C, const float *x, int oh, int ow, double sh, double sw, float *y);

/* PyTorch F.interpolate(mode="bicubic", antialias=True, align_corners=False, size=(oh, ow)) of a
 * channel-last grid x [ih x iw x C] to y [oh x ow x C]: separable (columns, then rows), Keys'
 * cubic with a = -0.5 stretched by the scale when downsampling, taps outside the grid dropped and
 * the weights renormalised. tmp: ih * ow * C floats. */
void ct_bicubic_aa_grid(const ct_exec *ex, int ih, int iw, int C, const float *x, int oh, int ow, float *tmp, float *y);

#endif
