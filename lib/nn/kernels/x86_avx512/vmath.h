/* Vector exp and QuickGELU for AVX-512 code (static inline, compiled into each caller). */
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

#endif
#endif
