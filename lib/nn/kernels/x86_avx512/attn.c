/* AVX-512 attention micro-kernels (attn_kernels.h). The two products keep a 8 x 48 tile in 24
 * zmm accumulators: per step of the depth, 3 loads of the 48-wide operand and 8 broadcasts feed
 * 24 fused multiply-adds (8 x 16 or 8 x 32 for a block's last, partial, lane groups). */
#include "nn/kernels/attn_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/kernels/x86_avx512/vmath.h"

/* One template for both products and both precisions: acc[8][G] = sum over the depth of
 * A[k][r] * B[k][16 g ..] (A: [depth][8] panel; B: [depth][48] lanes, G groups of 16 used), then
 * either the scores S = scale * acc (scale != 0) or O = O * alpha + acc (alpha NULL: 1).
 * E: the element type; LOAD(p): 16 lanes of B; BCAST(v): one A element to all lanes;
 * FMA(c, x, b): c += x * b. */
#define ATTN_PROD(NAME, G, TARGET, E, VB, LOAD, BCAST, FMA)                                                                              \
    __attribute__((target(TARGET))) static void NAME(int depth, const E *A, const E *B, float scale, const float *alpha, float *O) {    \
        __m512 c[8][G];                                                                                                                   \
        for (int r = 0; r < 8; r++)                                                                                                       \
            for (int g = 0; g < G; g++) c[r][g] = _mm512_setzero_ps();                                                                    \
        for (int k = 0; k < depth; k++) {                                                                                                 \
            const E *a = A + (size_t)k * 8, *b = B + (size_t)k * CT_AQ;                                                                   \
            VB bv[G];                                                                                                                     \
            for (int g = 0; g < G; g++) bv[g] = LOAD(b + 16 * g);                                                                         \
            _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) {                                                                         \
                VB x = BCAST(a[r]);                                                                                                       \
                for (int g = 0; g < G; g++) c[r][g] = FMA(c[r][g], x, bv[g]);                                                             \
            }                                                                                                                             \
        }                                                                                                                                 \
        for (int g = 0; g < G; g++) {                                                                                                     \
            __m512 a = alpha ? _mm512_loadu_ps(alpha + 16 * g) : _mm512_set1_ps(1.f), vs = _mm512_set1_ps(scale);                         \
            for (int r = 0; r < 8; r++) {                                                                                                 \
                float *o = O + r * CT_AQ + 16 * g;                                                                                        \
                _mm512_storeu_ps(o, scale != 0.f ? _mm512_mul_ps(c[r][g], vs) : _mm512_fmadd_ps(_mm512_loadu_ps(o), a, c[r][g]));         \
            }                                                                                                                             \
        }                                                                                                                                 \
    }

#define F32_LOAD(p) _mm512_loadu_ps(p)
#define F32_BCAST(v) _mm512_set1_ps(v)
#define F32_FMA(c, x, b) _mm512_fmadd_ps(x, b, c)
#define BF16_LOAD(p) ((__m512bh)_mm512_loadu_si512(p))
#define BF16_BCAST(v) ((__m512bh)_mm512_set1_epi32((int)(v)))
#define BF16_FMA(c, x, b) _mm512_dpbf16_ps(c, x, b)
ATTN_PROD(prod_f32_1, 1, "avx512f", float, __m512, F32_LOAD, F32_BCAST, F32_FMA)
ATTN_PROD(prod_f32_2, 2, "avx512f", float, __m512, F32_LOAD, F32_BCAST, F32_FMA)
ATTN_PROD(prod_f32_3, 3, "avx512f", float, __m512, F32_LOAD, F32_BCAST, F32_FMA)
ATTN_PROD(prod_bf16_1, 1, "avx512f,avx512bf16", uint32_t, __m512bh, BF16_LOAD, BF16_BCAST, BF16_FMA)
ATTN_PROD(prod_bf16_2, 2, "avx512f,avx512bf16", uint32_t, __m512bh, BF16_LOAD, BF16_BCAST, BF16_FMA)
ATTN_PROD(prod_bf16_3, 3, "avx512f,avx512bf16", uint32_t, __m512bh, BF16_LOAD, BF16_BCAST, BF16_FMA)

static void prod_f32(int groups, int depth, const float *A, const float *B, float scale, const float *alpha, float *O) {
    if (groups == 1) prod_f32_1(depth, A, B, scale, alpha, O);
    else if (groups == 2) prod_f32_2(depth, A, B, scale, alpha, O);
    else prod_f32_3(depth, A, B, scale, alpha, O);
}

static void prod_bf16(int groups, int depth, const uint32_t *A, const uint32_t *B, float scale, const float *alpha, float *O) {
    if (groups == 1) prod_bf16_1(depth, A, B, scale, alpha, O);
    else if (groups == 2) prod_bf16_2(depth, A, B, scale, alpha, O);
    else prod_bf16_3(depth, A, B, scale, alpha, O);
}

void ct_attn_qk_8x48(int groups, int hd, const float *A, const float *Q, float scale, float *S) { prod_f32(groups, hd, A, Q, scale, NULL, S); }

void ct_attn_pv_8x48(int groups, int kb, const float *V, const float *P, const float *alpha, float *O) {
    prod_f32(groups, kb, V, P, 0.f, alpha, O);
}

void ct_attn_qk_8x48_bf16(int groups, int hd2, const uint32_t *A, const uint32_t *Q, float scale, float *S) {
    prod_bf16(groups, hd2, A, Q, scale, NULL, S);
}

void ct_attn_pv_8x48_bf16(int groups, int kb2, const uint32_t *V, const uint32_t *P, const float *alpha, float *O) {
    prod_bf16(groups, kb2, V, P, 0.f, alpha, O);
}

/* two rows of 16 lanes -> 16 pairs (row0[i], row1[i]), rounded to nearest even */
__attribute__((target("avx512f,avx512bf16"))) static inline __m512i pair16(__m512 row0, __m512 row1) {
    /* cvtne2ps: elements 0..15 from the second operand (row0), 16..31 from the first (row1) */
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(row1, row0);
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2,
                                         17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, both);
}

__attribute__((target("avx512f,avx512bf16"))) void ct_attn_p_to_bf16(int groups, int kb, const float *P, uint32_t *Pb) {
    for (int k = 0; k < kb; k += 2)
        for (int g = 0; g < 16 * groups; g += 16)
            _mm512_storeu_si512(Pb + (size_t)(k / 2) * CT_AQ + g,
                                pair16(_mm512_loadu_ps(P + (size_t)k * CT_AQ + g), _mm512_loadu_ps(P + (size_t)(k + 1) * CT_AQ + g)));
}

/* the first n (0..16) of 16 lanes */
static inline __mmask16 lanes16(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* (any even hd: the last 16 or 32 columns are masked, e.g. heads of 80 and 104) */
__attribute__((target("avx512f,avx512bf16"))) void ct_attn_rows_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst) {
    for (int k = 0; k < n; k += 2) {
        const float *r0 = X + (size_t)k * ld, *r1 = k + 1 < n ? r0 + ld : NULL;
        for (int c = 0; c < hd; c += 16) {
            __mmask16 m = lanes16(hd - c);
            _mm512_mask_storeu_epi32(dst + (size_t)(k / 2) * hd + c, m,
                                     pair16(_mm512_maskz_loadu_ps(m, r0 + c), r1 ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps()));
        }
    }
}

__attribute__((target("avx512f,avx512bf16"))) void ct_attn_cols_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst) {
    for (int r = 0; r < n; r++)
        for (int c = 0; c < hd; c += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(lanes16(hd - c), X + (size_t)r * ld + c),
                   hi = _mm512_maskz_loadu_ps(lanes16(hd - c - 16), X + (size_t)r * ld + c + 16);
            _mm512_mask_storeu_epi32(dst + (size_t)r * (hd / 2) + c / 2, lanes16((hd - c + 1) / 2), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
}

__attribute__((target("avx512f"))) void ct_attn_online(int groups, int kb, float *S, float *m, float *l, float *alpha) {
    for (int g = 0; g < 16 * groups; g += 16) {
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

__attribute__((target("avx512f"))) void ct_attn_prob(int groups, int kb, const float *S, const float *m, const float *inv_l, float *P,
                                                       int first) {
    for (int g = 0; g < 16 * groups; g += 16) {
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

void ct_attn_qk_8x48(int groups, int hd, const float *A, const float *Q, float scale, float *S) {
    (void)groups; (void)hd; (void)A; (void)Q; (void)scale; (void)S;
}
void ct_attn_pv_8x48(int groups, int kb, const float *V, const float *P, const float *alpha, float *O) {
    (void)groups; (void)kb; (void)V; (void)P; (void)alpha; (void)O;
}
void ct_attn_online(int groups, int kb, float *S, float *m, float *l, float *alpha) { (void)groups; (void)kb; (void)S; (void)m; (void)l; (void)alpha; }
void ct_attn_prob(int groups, int kb, const float *S, const float *m, const float *inv_l, float *P, int first) {
    (void)groups; (void)kb; (void)S; (void)m; (void)inv_l; (void)P; (void)first;
}
void ct_attn_transpose48(const float *src, float *dst) { (void)src; (void)dst; }
void ct_attn_add_prior(int kb, int k0, int qs, int nq, int gw, const float *table, float *S) {
    (void)kb; (void)k0; (void)qs; (void)nq; (void)gw; (void)table; (void)S;
}
void ct_attn_qk_8x48_bf16(int groups, int hd2, const uint32_t *A, const uint32_t *Q, float scale, float *S) {
    (void)groups; (void)hd2; (void)A; (void)Q; (void)scale; (void)S;
}
void ct_attn_pv_8x48_bf16(int groups, int kb2, const uint32_t *V, const uint32_t *P, const float *alpha, float *O) {
    (void)groups; (void)kb2; (void)V; (void)P; (void)alpha; (void)O;
}
void ct_attn_p_to_bf16(int groups, int kb, const float *P, uint32_t *Pb) { (void)groups; (void)kb; (void)P; (void)Pb; }
void ct_attn_rows_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst) { (void)X; (void)ld; (void)n; (void)hd; (void)dst; }
void ct_attn_cols_to_bf16_pairs(const float *X, size_t ld, int n, int hd, uint32_t *dst) { (void)X; (void)ld; (void)n; (void)hd; (void)dst; }

#endif
