/* The library's own single-precision GEMM for x86-64 with AVX-512F, chosen at run time from the
 * CPU (and CT_KERNEL=blas|avx512); OpenBLAS remains the portable path and the reference in tests.
 *
 * Structure (Goto/BLIS): C += A * B is cut into KC-deep slices; each slice of B is packed into
 * NR-wide column panels (kept in L1/L2), each MC-row block of A into MR-row panels, and a
 * register-blocked micro-kernel computes an MR x NR tile with MR*NR/16 zmm accumulators:
 * per k, two 16-float loads of B and MR broadcasts of A feed 2*MR fused multiply-adds.
 * Threads split the columns of C in NR-aligned ranges; every element is summed in the same
 * k order whatever the split, so results do not depend on the thread count.
 *
 * Opt-in (CT_KERNEL=bf16, CPUs with AVX512_BF16): the same blocking with both operands rounded
 * to bfloat16 pairs and vdpbf16ps (two products per fp32 lane per instruction), accumulating in
 * fp32. About 3 significant digits per operand: see docs/performance.md for its accuracy. */
#include "gemm.h"

#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CT_HAVE_AVX512 1
#endif

#define MR 14
#define NR 32
#define KC 256
#ifndef MC
#define MC 168 /* 12 micro-panels of A: 168 x 256 x 4 = 168 KiB, in L2 */
#endif
#ifndef NC
#define NC 1024 /* columns of B packed at once: 256 x 1024 x 4 = 1 MiB */
#endif

static int g_kernel = -1; /* CT_GEMM_BLAS or CT_GEMM_AVX512 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int have_bf16(void) {
#ifdef CT_HAVE_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static void choose(void) {
    const char *e = getenv("CT_KERNEL");
    int have = ct_gemm_avx512_available();
    if (e && !strcmp(e, "blas")) g_kernel = CT_GEMM_BLAS;
    else if (e && !strcmp(e, "bf16") && have_bf16()) g_kernel = CT_GEMM_BF16;
    else g_kernel = have ? CT_GEMM_AVX512 : CT_GEMM_BLAS; /* unavailable choices fall back */
}

int ct_gemm_kernel(void) {
    pthread_once(&g_once, choose);
    return g_kernel;
}

void ct_gemm_set_kernel(int k) {
    pthread_once(&g_once, choose);
    g_kernel = k == CT_GEMM_BF16 && have_bf16() ? CT_GEMM_BF16
             : (k == CT_GEMM_AVX512 || k == CT_GEMM_BF16) && ct_gemm_avx512_available() ? CT_GEMM_AVX512 : CT_GEMM_BLAS;
}

int ct_gemm_bf16_available(void) { return have_bf16(); }

const char *ct_gemm_kernel_name(int k) {
    return k == CT_GEMM_AVX512 ? "avx512 (libcliptrase, fp32)" : k == CT_GEMM_BF16 ? "bf16 (libcliptrase, AVX512_BF16, opt-in)" : "blas (OpenBLAS sgemm)";
}

int ct_gemm_avx512_available(void) {
#ifdef CT_HAVE_AVX512
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#ifdef CT_HAVE_AVX512

/* Ap[panel][k][r]: MR rows of op(A) rows [i0, i0+mb), depth [k0, k0+kb), zero-padded */
static void pack_a(const float *A, int lda, int transA, int i0, int mb, int k0, int kb, float *Ap) {
    for (int p = 0; p < mb; p += MR) {
        int rows = mb - p < MR ? mb - p : MR;
        float *dst = Ap + (size_t)p * kb;
        if (!transA) {
            for (int r = 0; r < rows; r++) {
                const float *src = A + (size_t)(i0 + p + r) * lda + k0;
                for (int k = 0; k < kb; k++) dst[(size_t)k * MR + r] = src[k];
            }
        } else {
            for (int k = 0; k < kb; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + p;
                for (int r = 0; r < rows; r++) dst[(size_t)k * MR + r] = src[r];
            }
        }
        for (int r = rows; r < MR; r++)
            for (int k = 0; k < kb; k++) dst[(size_t)k * MR + r] = 0.f;
    }
}

/* dst[k][0..8) = src[0..8)[k] for k in [0, 8): an 8 x 8 transpose (rows of src ld apart) */
__attribute__((target("avx2"))) static inline void transpose8(const float *src, size_t ld, float *dst, size_t ldd) {
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

/* Bp[panel][k][c]: NR columns of op(B) columns [j0, j0+nb), depth [k0, k0+kb), zero-padded.
 * op(B) is B [K x N] (transB = 0) or B^T with B [N x K]. */
static void pack_b(const float *B, int ldb, int transB, int j0, int nb, int k0, int kb, float *Bp) {
    for (int p = 0; p < nb; p += NR) {
        int cols = nb - p < NR ? nb - p : NR;
        float *dst = Bp + (size_t)p * kb;
        if (!transB) {
            for (int k = 0; k < kb; k++) {
                const float *src = B + (size_t)(k0 + k) * ldb + j0 + p;
                float *d = dst + (size_t)k * NR;
                memcpy(d, src, sizeof(float) * cols);
                for (int c = cols; c < NR; c++) d[c] = 0.f;
            }
        } else {
            /* B is [N x K] (a weight matrix): full 8 x 8 blocks by register transposes */
            int c8 = cols & ~7, k8 = kb & ~7;
            for (int c = 0; c < c8; c += 8)
                for (int k = 0; k < k8; k += 8)
                    transpose8(B + (size_t)(j0 + p + c) * ldb + k0 + k, (size_t)ldb, dst + (size_t)k * NR + c, NR);
            for (int c = 0; c < cols; c++) {
                const float *src = B + (size_t)(j0 + p + c) * ldb + k0;
                for (int k = c < c8 ? k8 : 0; k < kb; k++) dst[(size_t)k * NR + c] = src[k];
            }
            for (int c = cols; c < NR; c++)
                for (int k = 0; k < kb; k++) dst[(size_t)k * NR + c] = 0.f;
        }
    }
}

/* C (rows x cols of an MR x NR tile, ldc) = alpha * acc + beta * C; beta == 0 never reads C */
__attribute__((target("avx512f"))) static inline void store_tile(__m512 acc[MR][2], float *C, int ldc, int rows, int cols,
                                                                  float alpha, float beta) {
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    for (int r = 0; r < rows; r++) {
        float *c = C + (size_t)r * ldc;
        __m512 v0 = _mm512_mul_ps(acc[r][0], va), v1 = _mm512_mul_ps(acc[r][1], va);
        if (beta != 0.f) {
            v0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, c), vb, v0);
            v1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, c + 16), vb, v1);
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

/* acc[MR x NR] = Ap panel (kb x MR) * Bp panel (kb x NR); then C (rows x cols, ldc) =
 * alpha * acc + beta * C, where beta applies only on the first k-slice (else C += alpha*acc) */
__attribute__((target("avx512f"))) static void kernel(int kb, const float *Ap, const float *Bp, float *C, int ldc, int rows,
                                                       int cols, float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00,
           c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00, cc0 = c00, cc1 = c00, cd0 = c00, cd1 = c00;
    for (int k = 0; k < kb; k++) {
        const float *a = Ap + (size_t)k * MR;
        __m512 b0 = _mm512_loadu_ps(Bp + (size_t)k * NR), b1 = _mm512_loadu_ps(Bp + (size_t)k * NR + 16);
        __m512 x;
#define ROW(r, c0, c1) x = _mm512_set1_ps(a[r]); c0 = _mm512_fmadd_ps(x, b0, c0); c1 = _mm512_fmadd_ps(x, b1, c1);
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
        ROW(6, c60, c61) ROW(7, c70, c71) ROW(8, c80, c81) ROW(9, c90, c91) ROW(10, ca0, ca1) ROW(11, cb0, cb1)
        ROW(12, cc0, cc1) ROW(13, cd0, cd1)
#undef ROW
    }
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61},
                         {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}, {cc0, cc1}, {cd0, cd1}};
    store_tile(acc, C, ldc, rows, cols, alpha, beta);
}

/* fp32 -> bfloat16, round to nearest even */
static inline uint32_t bf16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

/* out[kk] = bf16 pair (src[2kk], src[2kk+1]) for kk < (n+1)/2 (a missing odd element is 0);
 * the vector path rounds like bf16_bits (to nearest even) */
__attribute__((target("avx512f,avx512bf16"))) static void cvt_pairs(const float *src, int n, uint32_t *out) {
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
        _mm512_storeu_si512(out + k / 2, (__m512i)v);
    }
    for (; k < n; k += 2) out[k / 2] = bf16_bits(src[k]) | (k + 1 < n ? bf16_bits(src[k + 1]) << 16 : 0u);
}

/* Ap2[panel][kk][r]: (k = 2kk, 2kk+1) pairs of bf16 for MR rows; zero-padded */
static void pack_a_bf16(const float *A, int lda, int transA, int i0, int mb, int k0, int kb, uint32_t *Ap) {
    int kp = (kb + 1) / 2;
    if (!transA) { /* rows of A hold the pairs contiguously: convert a row, then spread it */
        uint32_t row[KC / 2];
        for (int p = 0; p < mb; p += MR) {
            uint32_t *dst = Ap + (size_t)p * kp;
            for (int r = 0; r < MR; r++) {
                if (p + r < mb) cvt_pairs(A + (size_t)(i0 + p + r) * lda + k0, kb, row);
                for (int kk = 0; kk < kp; kk++) dst[(size_t)kk * MR + r] = p + r < mb ? row[kk] : 0u;
            }
        }
        return;
    }
    for (int p = 0; p < mb; p += MR) {
        uint32_t *dst = Ap + (size_t)p * kp;
        for (int r = 0; r < MR; r++)
            for (int kk = 0; kk < kp; kk++) {
                uint32_t lo = 0, hi = 0;
                if (p + r < mb) {
                    int k = 2 * kk;
                    float a0 = transA ? A[(size_t)(k0 + k) * lda + i0 + p + r] : A[(size_t)(i0 + p + r) * lda + k0 + k];
                    lo = bf16_bits(a0);
                    if (k + 1 < kb) hi = bf16_bits(transA ? A[(size_t)(k0 + k + 1) * lda + i0 + p + r] : A[(size_t)(i0 + p + r) * lda + k0 + k + 1]);
                }
                dst[(size_t)kk * MR + r] = lo | (hi << 16);
            }
    }
}

/* Bp2[panel][kk][c]: bf16 pairs (k = 2kk, 2kk+1) of NR columns of op(B); zero-padded */
static void pack_b_bf16(const float *B, int ldb, int transB, int j0, int nb, int k0, int kb, uint32_t *Bp) {
    int kp = (kb + 1) / 2;
    if (transB) { /* weights [N x K]: convert each column's run of k, then transpose 8 x 8 blocks */
        uint32_t tmp[NR * (KC / 2)];
        for (int p = 0; p < nb; p += NR) {
            uint32_t *dst = Bp + (size_t)p * kp;
            int cols = nb - p < NR ? nb - p : NR;
            for (int c = 0; c < NR; c++) {
                if (c < cols) cvt_pairs(B + (size_t)(j0 + p + c) * ldb + k0, kb, tmp + (size_t)c * kp);
                else memset(tmp + (size_t)c * kp, 0, sizeof(uint32_t) * kp);
            }
            int k8 = kp & ~7;
            for (int c = 0; c < NR; c += 8)
                for (int kk = 0; kk < k8; kk += 8) transpose8((const float *)(tmp + (size_t)c * kp + kk), (size_t)kp, (float *)(dst + (size_t)kk * NR + c), NR);
            for (int c = 0; c < NR; c++)
                for (int kk = k8; kk < kp; kk++) dst[(size_t)kk * NR + c] = tmp[(size_t)c * kp + kk];
        }
        return;
    }
    for (int p = 0; p < nb; p += NR) {
        uint32_t *dst = Bp + (size_t)p * kp;
        for (int c = 0; c < NR; c++)
            for (int kk = 0; kk < kp; kk++) {
                uint32_t lo = 0, hi = 0;
                if (p + c < nb) {
                    int k = 2 * kk, j = j0 + p + c;
                    lo = bf16_bits(transB ? B[(size_t)j * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j]);
                    if (k + 1 < kb) hi = bf16_bits(transB ? B[(size_t)j * ldb + k0 + k + 1] : B[(size_t)(k0 + k + 1) * ldb + j]);
                }
                dst[(size_t)kk * NR + c] = lo | (hi << 16);
            }
    }
}

__attribute__((target("avx512f,avx512bf16"))) static void kernel_bf16(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int ldc,
                                                                       int rows, int cols, float alpha, float beta) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int kk = 0; kk < kp; kk++) {
        const uint32_t *a = Ap + (size_t)kk * MR;
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)kk * NR), b1 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)kk * NR + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
        }
    }
    store_tile(acc, C, ldc, rows, cols, alpha, beta);
}

typedef struct {
    int bf16;
    int transA, transB, M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
    int ok;
} gemm_job;

/* columns [panel0*NR, panel1*NR) of C, in blocks of NC columns */
static void gemm_range(void *arg, int64_t p0, int64_t p1) {
    gemm_job *g = arg;
    int jend = (int)(p1 * NR) < g->N ? (int)(p1 * NR) : g->N;
    float *Bp = aligned_alloc(64, sizeof(float) * (size_t)KC * NC);
    float *Ap = aligned_alloc(64, sizeof(float) * (size_t)KC * MC);
    if (!Bp || !Ap) { free(Bp); free(Ap); g->ok = 0; return; }
    uint32_t *Bq = (uint32_t *)Bp, *Aq = (uint32_t *)Ap; /* bf16 pairs need half the room */
    for (int j0 = (int)(p0 * NR); j0 < jend; j0 += NC) {
    int nb = jend - j0 < NC ? jend - j0 : NC;
    for (int k0 = 0; k0 < g->K; k0 += KC) {
        int kb = g->K - k0 < KC ? g->K - k0 : KC;
        float beta = k0 == 0 ? g->beta : 1.f;
        int kp = (kb + 1) / 2;
        if (g->bf16) pack_b_bf16(g->B, g->ldb, g->transB, j0, nb, k0, kb, Bq);
        else pack_b(g->B, g->ldb, g->transB, j0, nb, k0, kb, Bp);
        for (int i0 = 0; i0 < g->M; i0 += MC) {
            int mb = g->M - i0 < MC ? g->M - i0 : MC;
            if (g->bf16) pack_a_bf16(g->A, g->lda, g->transA, i0, mb, k0, kb, Aq);
            else pack_a(g->A, g->lda, g->transA, i0, mb, k0, kb, Ap);
            for (int jp = 0; jp < nb; jp += NR)
                for (int ip = 0; ip < mb; ip += MR) {
                    float *c = g->C + (size_t)(i0 + ip) * g->ldc + j0 + jp;
                    int rows = mb - ip < MR ? mb - ip : MR, cols = nb - jp < NR ? nb - jp : NR;
                    if (g->bf16) kernel_bf16(kp, Aq + (size_t)ip * kp, Bq + (size_t)jp * kp, c, g->ldc, rows, cols, g->alpha, beta);
                    else kernel(kb, Ap + (size_t)ip * kb, Bp + (size_t)jp * kb, c, g->ldc, rows, cols, g->alpha, beta);
                }
        }
    }
    }
    free(Bp);
    free(Ap);
}

int ct_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc, int n_threads) {
    if (M <= 0 || N <= 0 || K <= 0) return 0; /* the caller handles degenerate shapes */
    gemm_job g = {ct_gemm_kernel() == CT_GEMM_BF16, transA, transB, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C, 1};
    int64_t panels = (N + NR - 1) / NR;
    /* a thread start costs ~20 us: only split products worth several of them */
    if ((double)M * N * K < 4e6) n_threads = 1;
    ct_parallel_for(n_threads, panels, gemm_range, &g);
    return g.ok;
}

#else

int ct_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc, int n_threads) {
    (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb;
    (void)beta; (void)C; (void)ldc; (void)n_threads;
    return 0;
}

#endif
