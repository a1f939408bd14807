/* AVX-512 attention micro-kernels (attn_kernels.h). The two products keep a 8 x 48 tile in 24
 * zmm accumulators: per step of the depth, 3 loads of the 48-wide operand and 8 broadcasts feed
 * 24 fused multiply-adds. */
#include "nn/kernels/attn_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/kernels/vmath_avx512.h"

#define T8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

__attribute__((target("avx512f"))) void ct_attn_qk_8x48(int hd, const float *A, const float *Q, float scale, float *S) {
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0;
    T8(DECL)
#undef DECL
    for (int d = 0; d < hd; d++) {
        const float *a = A + (size_t)d * 8, *q = Q + (size_t)d * CT_AQ;
        __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16), q2 = _mm512_loadu_ps(q + 32), x;
#define ROW(r) x = _mm512_set1_ps(a[r]); c##r##0 = _mm512_fmadd_ps(x, q0, c##r##0); c##r##1 = _mm512_fmadd_ps(x, q1, c##r##1); \
    c##r##2 = _mm512_fmadd_ps(x, q2, c##r##2);
        T8(ROW)
#undef ROW
    }
    __m512 vs = _mm512_set1_ps(scale);
#define STORE(r) _mm512_storeu_ps(S + r * CT_AQ, _mm512_mul_ps(c##r##0, vs)); _mm512_storeu_ps(S + r * CT_AQ + 16, _mm512_mul_ps(c##r##1, vs)); \
    _mm512_storeu_ps(S + r * CT_AQ + 32, _mm512_mul_ps(c##r##2, vs));
    T8(STORE)
#undef STORE
}

__attribute__((target("avx512f"))) void ct_attn_pv_8x48(int kb, const float *V, const float *P, const float *alpha, float *O) {
#define DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0;
    T8(DECL)
#undef DECL
    for (int k = 0; k < kb; k++) {
        const float *v = V + (size_t)k * 8, *p = P + (size_t)k * CT_AQ;
        __m512 p0 = _mm512_loadu_ps(p), p1 = _mm512_loadu_ps(p + 16), p2 = _mm512_loadu_ps(p + 32), x;
#define ROW(r) x = _mm512_set1_ps(v[r]); c##r##0 = _mm512_fmadd_ps(x, p0, c##r##0); c##r##1 = _mm512_fmadd_ps(x, p1, c##r##1); \
    c##r##2 = _mm512_fmadd_ps(x, p2, c##r##2);
        T8(ROW)
#undef ROW
    }
    if (alpha) {
        __m512 a0 = _mm512_loadu_ps(alpha), a1 = _mm512_loadu_ps(alpha + 16), a2 = _mm512_loadu_ps(alpha + 32);
#define STORE(r) _mm512_storeu_ps(O + r * CT_AQ, _mm512_fmadd_ps(_mm512_loadu_ps(O + r * CT_AQ), a0, c##r##0)); \
    _mm512_storeu_ps(O + r * CT_AQ + 16, _mm512_fmadd_ps(_mm512_loadu_ps(O + r * CT_AQ + 16), a1, c##r##1)); \
    _mm512_storeu_ps(O + r * CT_AQ + 32, _mm512_fmadd_ps(_mm512_loadu_ps(O + r * CT_AQ + 32), a2, c##r##2));
        T8(STORE)
#undef STORE
    } else {
#define STORE(r) _mm512_storeu_ps(O + r * CT_AQ, _mm512_add_ps(_mm512_loadu_ps(O + r * CT_AQ), c##r##0)); \
    _mm512_storeu_ps(O + r * CT_AQ + 16, _mm512_add_ps(_mm512_loadu_ps(O + r * CT_AQ + 16), c##r##1)); \
    _mm512_storeu_ps(O + r * CT_AQ + 32, _mm512_add_ps(_mm512_loadu_ps(O + r * CT_AQ + 32), c##r##2));
        T8(STORE)
#undef STORE
    }
}

__attribute__((target("avx512f"))) void ct_attn_online(int kb, float *S, float *m, float *l, float *alpha) {
    for (int g = 0; g < CT_AQ; g += 16) {
        __m512 mx = _mm512_loadu_ps(m + g);
        for (int k = 0; k < kb; k++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(S + (size_t)k * CT_AQ + g));
        __m512 a = ct_exp512(_mm512_sub_ps(_mm512_loadu_ps(m + g), mx));
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int k = 0;
        for (; k + 1 < kb; k += 2) { /* two partial sums in a fixed order: the result does not depend on the caller */
            __m512 e0 = ct_exp512(_mm512_sub_ps(_mm512_loadu_ps(S + (size_t)k * CT_AQ + g), mx));
            __m512 e1 = ct_exp512(_mm512_sub_ps(_mm512_loadu_ps(S + (size_t)(k + 1) * CT_AQ + g), mx));
            _mm512_storeu_ps(S + (size_t)k * CT_AQ + g, e0);
            _mm512_storeu_ps(S + (size_t)(k + 1) * CT_AQ + g, e1);
            s0 = _mm512_add_ps(s0, e0);
            s1 = _mm512_add_ps(s1, e1);
        }
        if (k < kb) {
            __m512 e0 = ct_exp512(_mm512_sub_ps(_mm512_loadu_ps(S + (size_t)k * CT_AQ + g), mx));
            _mm512_storeu_ps(S + (size_t)k * CT_AQ + g, e0);
            s0 = _mm512_add_ps(s0, e0);
        }
        _mm512_storeu_ps(l + g, _mm512_fmadd_ps(_mm512_loadu_ps(l + g), a, _mm512_add_ps(s0, s1)));
        _mm512_storeu_ps(m + g, mx);
        if (alpha) _mm512_storeu_ps(alpha + g, a);
    }
}

__attribute__((target("avx512f"))) void ct_attn_prob(int kb, const float *S, const float *m, const float *inv_l, float *P, int first) {
    for (int g = 0; g < CT_AQ; g += 16) {
        __m512 mx = _mm512_loadu_ps(m + g), il = _mm512_loadu_ps(inv_l + g);
        for (int k = 0; k < kb; k++) {
            __m512 e = _mm512_mul_ps(ct_exp512(_mm512_sub_ps(_mm512_loadu_ps(S + (size_t)k * CT_AQ + g), mx)), il);
            float *p = P + (size_t)k * CT_AQ + g;
            _mm512_storeu_ps(p, first ? e : _mm512_add_ps(_mm512_loadu_ps(p), e));
        }
    }
}

__attribute__((target("avx512f"))) void ct_attn_add_prior(int kb, int k0, int qs, int nq, int gw, const float *table, float *S) {
    __m512i qy[3], qx[3];
    __mmask16 valid[3];
    for (int g = 0; g < 3; g++) {
        int y[16], x[16];
        __mmask16 v = 0;
        for (int l = 0; l < 16; l++) {
            int i = g * 16 + l, q = qs + i;
            y[l] = q >= 1 ? (q - 1) / gw : 0;
            x[l] = q >= 1 ? (q - 1) % gw : 0;
            if (i < nq && q >= 1) v |= (__mmask16)(1u << l);
        }
        qy[g] = _mm512_loadu_si512(y);
        qx[g] = _mm512_loadu_si512(x);
        valid[g] = v;
    }
    __m512i vgw = _mm512_set1_epi32(gw);
    for (int r = 0; r < kb; r++) {
        int key = k0 + r;
        if (key == 0) continue;
        __m512i ky = _mm512_set1_epi32((key - 1) / gw), kx = _mm512_set1_epi32((key - 1) % gw);
        for (int g = 0; g < 3; g++) {
            __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_abs_epi32(_mm512_sub_epi32(qy[g], ky)), vgw),
                                           _mm512_abs_epi32(_mm512_sub_epi32(qx[g], kx)));
            __m512 pr = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid[g], idx, table, 4);
            float *s = S + (size_t)r * CT_AQ + g * 16;
            _mm512_storeu_ps(s, _mm512_add_ps(_mm512_loadu_ps(s), pr));
        }
    }
}

/* 16 x 16 transpose in registers: four rounds of two-source shuffles */
__attribute__((target("avx512f"))) static void transpose16(const float *src, size_t ls, float *dst, size_t ld) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ls);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
    /* r[k] now holds column k of the source */
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ld, r[i]);
}

__attribute__((target("avx512f"))) void ct_attn_transpose48(const float *src, float *dst) {
    for (int bi = 0; bi < CT_AQ; bi += 16)
        for (int bj = 0; bj < CT_AQ; bj += 16) transpose16(src + (size_t)bi * CT_AQ + bj, CT_AQ, dst + (size_t)bj * CT_AQ + bi, CT_AQ);
}

#else

void ct_attn_qk_8x48(int hd, const float *A, const float *Q, float scale, float *S) { (void)hd; (void)A; (void)Q; (void)scale; (void)S; }
void ct_attn_pv_8x48(int kb, const float *V, const float *P, const float *alpha, float *O) { (void)kb; (void)V; (void)P; (void)alpha; (void)O; }
void ct_attn_online(int kb, float *S, float *m, float *l, float *alpha) { (void)kb; (void)S; (void)m; (void)l; (void)alpha; }
void ct_attn_prob(int kb, const float *S, const float *m, const float *inv_l, float *P, int first) {
    (void)kb; (void)S; (void)m; (void)inv_l; (void)P; (void)first;
}
void ct_attn_transpose48(const float *src, float *dst) { (void)src; (void)dst; }
void ct_attn_add_prior(int kb, int k0, int qs, int nq, int gw, const float *table, float *S) {
    (void)kb; (void)k0; (void)qs; (void)nq; (void)gw; (void)table; (void)S;
}

#endif
