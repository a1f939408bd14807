/* Vector exp, QuickGELU and exact GELU for AVX-512 code (static inline, compiled into each caller). */
#ifndef CT_NN_VMATH_AVX512_H
#define CT_NN_VMATH_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* exp(x) to about 2 ulp: Cody-Waite reduction by ln 2 and Cephes' degree-5 polynomial, inputs
 * clamped to [-87.3, 88.7] (the scalar ct_expf's method, with fused multiply-adds). */
__attribute__((target("avx512f"))) static inline __m512 ct_exp512(__m512 x) {
    /* x as the second operand of both: a NaN input stays NaN (max/min return their second operand
     * when one is NaN), so a NaN score or activation is never silently turned into a number */
    x = _mm512_min_ps(_mm512_set1_ps(88.7228394f), _mm512_max_ps(_mm512_set1_ps(-87.3365448f), x));
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(r, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fmadd_ps(r, _mm512_set1_ps(2.12194440e-4f), x);
    __m512 z = _mm512_mul_ps(x, x);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_add_ps(_mm512_fmadd_ps(y, z, x), _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(y, r);
}

/* x * sigmoid(1.702 x) = x / (1 + exp(-1.702 x)) */
__attribute__((target("avx512f"))) static inline __m512 ct_quickgelu512(__m512 x) {
    __m512 e = ct_exp512(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
}

/* Exact GELU 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(u), u = -x / sqrt 2. erfc(a) for a >= 0 by
 * the Chebyshev fit t exp(-a^2 - 1.26551223 + t P(t)), t = 1 / (1 + a / 2), whose relative error
 * is below 1.2e-7 for every a >= 0 (Press et al., Numerical Recipes, 2nd ed., section 6.2);
 * erfc(-a) = 2 - erfc(a). The rounding error of u (two-part 1 / sqrt 2) and the low part of u^2
 * (an fma) join the exponent: what is left is exp's rounding of its argument, |u^2| * 2^-24
 * relative (2e-6 at x = -8, where GELU is -5e-15). */
__attribute__((target("avx512f"))) static inline __m512 ct_gelu512(__m512 x) {
    const __m512 c_hi = _mm512_set1_ps(-0.70710678118654752f), c_lo = _mm512_set1_ps(-1.2101617e-8f);
    __m512 u = _mm512_mul_ps(x, c_hi);
    __m512 u_lo = _mm512_fmadd_ps(x, c_lo, _mm512_fmsub_ps(x, c_hi, u)); /* x c - u */
    __m512 a = _mm512_abs_ps(u);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.f)));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    /* (u + u_lo)^2 = hi + lo + 2 u u_lo */
    __m512 hi = _mm512_mul_ps(u, u), lo = _mm512_fmadd_ps(_mm512_add_ps(u, u), u_lo, _mm512_fmsub_ps(u, u, hi));
    __m512 e = _mm512_mul_ps(t, ct_exp512(_mm512_sub_ps(_mm512_sub_ps(p, lo), hi)));
    /* u > 0 (x < 0): erfc(u) = e; otherwise 2 - e */
    __mmask16 pos = _mm512_cmp_ps_mask(u, _mm512_setzero_ps(), _CMP_GT_OQ);
    __m512 c = _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(2.f), e), pos, e);
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), c);
}

#endif
#endif
