/* AVX-512 micro-kernels: fp32 (14 x 32 tile, 28 zmm accumulators: per k two 16-float loads of B
 * and 14 broadcasts of A feed 28 fused multiply-adds) and bf16 (the same tile over bf16 pairs
 * with vdpbf16ps, two products per fp32 lane per instruction). */
#include "core/internal.h"
#include "nn/gemm.h"
#include "nn/kernels/ukernel.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include "nn/kernels/x86_avx512/vmath.h"

#define MR 14

/* The tile epilogue (ukernel.h) on 14 rows of two zmm each. */
__attribute__((target("avx512f"))) static inline void store_tile(__m512 acc[MR][2], float *C, int ldc, int rows, int cols,
                                                                  const ct_tile_epi *e) {
    __m512 va = _mm512_set1_ps(e->alpha), vb = _mm512_set1_ps(e->beta);
    __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    int read_c = !e->first || e->beta != 0.f;
    __m512 b0 = _mm512_setzero_ps(), b1 = b0;
    if (e->last && e->bias) {
        b0 = _mm512_maskz_loadu_ps(m0, e->bias);
        b1 = _mm512_maskz_loadu_ps(m1, e->bias + 16);
    }
    for (int r = 0; r < rows; r++) {
        float *c = C + (size_t)r * ldc;
        __m512 v0 = _mm512_mul_ps(acc[r][0], va), v1 = _mm512_mul_ps(acc[r][1], va);
        if (read_c) {
            __m512 c0 = _mm512_maskz_loadu_ps(m0, c), c1 = _mm512_maskz_loadu_ps(m1, c + 16);
            if (e->first) {
                v0 = _mm512_fmadd_ps(c0, vb, v0);
                v1 = _mm512_fmadd_ps(c1, vb, v1);
            } else {
                v0 = _mm512_add_ps(c0, v0);
                v1 = _mm512_add_ps(c1, v1);
            }
        }
        if (e->last) {
            if (e->bias) {
                v0 = _mm512_add_ps(v0, b0);
                v1 = _mm512_add_ps(v1, b1);
            }
            if (e->act == CT_ACT_QUICKGELU) {
                v0 = ct_quickgelu512(v0);
                v1 = ct_quickgelu512(v1);
            } else if (e->act == CT_ACT_GELU) {
                v0 = ct_gelu512(v0);
                v1 = ct_gelu512(v1);
            }
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

/* The tile epilogue on rows x cols (cols <= 32) of an fp32 array acc (row stride ld): for kernels
 * that accumulate elsewhere (AMX tiles stored to memory), 14 rows at a time. */
__attribute__((target("avx512f"))) void ct_store_rows_avx512(const float *acc, int ld, float *C, int ldc, int rows, int cols,
                                                              const ct_tile_epi *e) {
    for (int r0 = 0; r0 < rows; r0 += MR) {
        __m512 a[MR][2];
        int n = rows - r0 < MR ? rows - r0 : MR;
        for (int r = 0; r < n; r++) {
            a[r][0] = _mm512_loadu_ps(acc + (size_t)(r0 + r) * ld);
            a[r][1] = _mm512_loadu_ps(acc + (size_t)(r0 + r) * ld + 16);
        }
        store_tile(a, C + (size_t)r0 * ldc, ldc, n, cols, e);
    }
}

/* Tiles of 1 to 4 rows (the last micro-panel of M = 14 k + r: every square patch grid gives
 * T = 1 + 14 k tokens): only the rows present are computed. */
#define TAIL_KERNEL(R)                                                                                                                    \
    __attribute__((target("avx512f"))) static void tail##R(int kb, const float *Ap, const float *Bp, float *C, int ldc, int cols,         \
                                                           const ct_tile_epi *e) {                                                       \
        __m512 acc[MR][2];                                                                                                                \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                                                          \
        for (int k = 0; k < kb; k++) {                                                                                                    \
            __m512 b0 = _mm512_loadu_ps(Bp + (size_t)k * 32), b1 = _mm512_loadu_ps(Bp + (size_t)k * 32 + 16);                             \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                                                         \
                __m512 x = _mm512_set1_ps(Ap[(size_t)k * MR + r]);                                                                        \
                acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);                                                                            \
                acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);                                                                            \
            }                                                                                                                             \
        }                                                                                                                                 \
        store_tile(acc, C, ldc, R, cols, e);                                                                                              \
    }
TAIL_KERNEL(1)
TAIL_KERNEL(2)
TAIL_KERNEL(3)
TAIL_KERNEL(4)

__attribute__((target("avx512f"))) void ct_uk_avx512_f32(int kb, const void *Ap_, const void *Bp_, float *C, int ldc, int rows,
                                                          int cols, const ct_tile_epi *e) {
    const float *Ap = Ap_, *Bp = Bp_;
    switch (rows) {
    case 1: tail1(kb, Ap, Bp, C, ldc, cols, e); return;
    case 2: tail2(kb, Ap, Bp, C, ldc, cols, e); return;
    case 3: tail3(kb, Ap, Bp, C, ldc, cols, e); return;
    case 4: tail4(kb, Ap, Bp, C, ldc, cols, e); return;
    default: break;
    }
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00,
           c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00, cc0 = c00, cc1 = c00, cd0 = c00, cd1 = c00;
    /* the next B panel (same depth, 128 bytes a k) goes to L2 while this one is used, so that
     * the tiles after this one find it there rather than in memory */
    const char *pf = e->next_b ? (const char *)e->next_b : (const char *)Bp;
#define ROW(r, c0, c1) x = _mm512_set1_ps(a[r]); c0 = _mm512_fmadd_ps(x, b0, c0); c1 = _mm512_fmadd_ps(x, b1, c1);
    for (int k = 0; k < kb; k++) {
        const float *a = Ap + (size_t)k * MR;
        __m512 b0 = _mm512_loadu_ps(Bp + (size_t)k * 32), b1 = _mm512_loadu_ps(Bp + (size_t)k * 32 + 16);
        __m512 x;
        _mm_prefetch(pf + (size_t)k * 128, _MM_HINT_T1);
        _mm_prefetch(pf + (size_t)k * 128 + 64, _MM_HINT_T1);
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
        ROW(6, c60, c61) ROW(7, c70, c71) ROW(8, c80, c81) ROW(9, c90, c91) ROW(10, ca0, ca1) ROW(11, cb0, cb1)
        ROW(12, cc0, cc1) ROW(13, cd0, cd1)
    }
#undef ROW
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61},
                         {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}, {cc0, cc1}, {cd0, cd1}};
    store_tile(acc, C, ldc, rows, cols, e);
}

/* bf16 tiles of R rows (R = MR for full panels, 1..4 for the last one) */
#define BF16_KERNEL(NAME, R)                                                                                                              \
    __attribute__((target("avx512f,avx512bf16"))) static void NAME(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int ldc,    \
                                                                   int rows, int cols, const ct_tile_epi *e) {                           \
        __m512 acc[MR][2];                                                                                                                \
        const char *pf = e->next_b ? (const char *)e->next_b : (const char *)Bp; /* as the fp32 kernel */                                \
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                                                          \
        for (int kk = 0; kk < kp; kk++) {                                                                                                 \
            const uint32_t *a = Ap + (size_t)kk * MR;                                                                                     \
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)kk * 32), b1 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)kk * 32 + 16); \
            _mm_prefetch(pf + (size_t)kk * 128, _MM_HINT_T1);                                                                             \
            _mm_prefetch(pf + (size_t)kk * 128 + 64, _MM_HINT_T1);                                                                        \
            _Pragma("GCC unroll 14") for (int r = 0; r < R; r++) {                                                                        \
                __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r]);                                                                      \
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);                                                                           \
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);                                                                           \
            }                                                                                                                             \
        }                                                                                                                                 \
        store_tile(acc, C, ldc, rows, cols, e);                                                                                       \
    }
BF16_KERNEL(bf16_full, MR)
BF16_KERNEL(bf16_tail1, 1)
BF16_KERNEL(bf16_tail2, 2)
BF16_KERNEL(bf16_tail3, 3)
BF16_KERNEL(bf16_tail4, 4)

__attribute__((target("avx512f,avx512bf16"))) void ct_uk_avx512_bf16(int kp, const void *Ap_, const void *Bp_, float *C, int ldc,
                                                                      int rows, int cols, const ct_tile_epi *e) {
    const uint32_t *Ap = Ap_, *Bp = Bp_;
    switch (rows) {
    case 1: bf16_tail1(kp, Ap, Bp, C, ldc, 1, cols, e); return;
    case 2: bf16_tail2(kp, Ap, Bp, C, ldc, 2, cols, e); return;
    case 3: bf16_tail3(kp, Ap, Bp, C, ldc, 3, cols, e); return;
    case 4: bf16_tail4(kp, Ap, Bp, C, ldc, 4, cols, e); return;
    default:
        /* rows beyond `rows` are zero-padded panels: computed, not stored */
        bf16_full(kp, Ap, Bp, C, ldc, rows, cols, e);
        return;
    }
}

/* fp32 -> bfloat16, round to nearest even */
static inline uint32_t bf16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

__attribute__((target("avx512f,avx512bf16"))) void ct_cvt_bf16_pairs_avx512(const float *src, int n, uint32_t *out) {
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
        _mm512_storeu_si512(out + k / 2, (__m512i)v);
    }
    for (; k < n; k += 2) out[k / 2] = bf16_bits(src[k]) | (k + 1 < n ? bf16_bits(src[k + 1]) << 16 : 0u);
}

__attribute__((target("avx2"))) static inline void transpose8_avx(const float *src, size_t ld, float *dst, size_t ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld), r2 = _mm256_loadu_ps(src + 2 * ld),
           r3 = _mm256_loadu_ps(src + 3 * ld), r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld),
           r6 = _mm256_loadu_ps(src + 6 * ld), r7 = _mm256_loadu_ps(src + 7 * ld);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE), s2 = _mm256_shuffle_ps(t1, t3, 0x44),
           s3 = _mm256_shuffle_ps(t1, t3, 0xEE), s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* The 8 x 8 blocks of a rows x n8 block (rows >= 8, n8 a multiple of 8), k outermost so that the
 * destination lines of every row group are written while they are in L1; row groups past the
 * first 8 rows start at rows - 8 when the rows are not a multiple of 8 (they overlap). */
__attribute__((target("avx2"))) static void transpose_block_avx(const float *src, size_t lds, int rows, int n8, float *dst, size_t ldd) {
    for (int k = 0; k < n8; k += 8)
        for (int g = 0;; g += 8) {
            if (g + 8 > rows) g = rows - 8;
            transpose8_avx(src + (size_t)g * lds + k, lds, dst + (size_t)k * ldd + g, ldd);
            if (g + 8 >= rows) break;
        }
}

void ct_transpose_block(const float *src, size_t lds, int rows, int n8, float *dst, size_t ldd) {
    if (ct_cpu_has_avx2()) {
        transpose_block_avx(src, lds, rows, n8, dst, ldd);
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < n8; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

#else

void ct_uk_avx512_f32(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    (void)kb; (void)Ap; (void)Bp; (void)C; (void)ldc; (void)rows; (void)cols; (void)e;
}
void ct_uk_avx512_bf16(int kp, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    (void)kp; (void)Ap; (void)Bp; (void)C; (void)ldc; (void)rows; (void)cols; (void)e;
}
void ct_cvt_bf16_pairs_avx512(const float *src, int n, uint32_t *out) { (void)src; (void)n; (void)out; }
void ct_store_rows_avx512(const float *acc, int ld, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    (void)acc; (void)ld; (void)C; (void)ldc; (void)rows; (void)cols; (void)e;
}
void ct_transpose_block(const float *src, size_t lds, int rows, int n8, float *dst, size_t ldd) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < n8; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

#endif
