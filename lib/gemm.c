/* The library's own single-precision GEMM for x86-64 with AVX-512F, chosen at run time from the
 * CPU (and CT_KERNEL=blas|avx512); OpenBLAS remains the portable path and the reference in tests.
 *
 * Structure (Goto/BLIS): C += A * B is cut into KC-deep slices; each slice of B is packed into
 * NR-wide column panels (kept in L1/L2), each MC-row block of A into MR-row panels, and a
 * register-blocked micro-kernel computes an MR x NR tile with MR*NR/16 zmm accumulators:
 * per k, two 16-float loads of B and MR broadcasts of A feed 2*MR fused multiply-adds.
 * Threads split the columns of C in NR-aligned ranges; every element is summed in the same
 * k order whatever the split, so results do not depend on the thread count. */
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

static void choose(void) {
    const char *e = getenv("CT_KERNEL");
    int have = 0;
#ifdef CT_HAVE_AVX512
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f");
#endif
    if (e && !strcmp(e, "blas")) g_kernel = CT_GEMM_BLAS;
    else g_kernel = have ? CT_GEMM_AVX512 : CT_GEMM_BLAS; /* "avx512" on a CPU without it falls back */
}

int ct_gemm_kernel(void) {
    pthread_once(&g_once, choose);
    return g_kernel;
}

void ct_gemm_set_kernel(int k) {
    pthread_once(&g_once, choose);
    g_kernel = k == CT_GEMM_AVX512 && ct_gemm_avx512_available() ? CT_GEMM_AVX512 : CT_GEMM_BLAS;
}

const char *ct_gemm_kernel_name(int k) { return k == CT_GEMM_AVX512 ? "avx512 (libcliptrase)" : "blas (OpenBLAS sgemm)"; }

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

typedef struct {
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
    for (int j0 = (int)(p0 * NR); j0 < jend; j0 += NC) {
    int nb = jend - j0 < NC ? jend - j0 : NC;
    for (int k0 = 0; k0 < g->K; k0 += KC) {
        int kb = g->K - k0 < KC ? g->K - k0 : KC;
        float beta = k0 == 0 ? g->beta : 1.f;
        pack_b(g->B, g->ldb, g->transB, j0, nb, k0, kb, Bp);
        for (int i0 = 0; i0 < g->M; i0 += MC) {
            int mb = g->M - i0 < MC ? g->M - i0 : MC;
            pack_a(g->A, g->lda, g->transA, i0, mb, k0, kb, Ap);
            for (int jp = 0; jp < nb; jp += NR)
                for (int ip = 0; ip < mb; ip += MR)
                    kernel(kb, Ap + (size_t)ip * kb, Bp + (size_t)jp * kb, g->C + (size_t)(i0 + ip) * g->ldc + j0 + jp, g->ldc,
                           mb - ip < MR ? mb - ip : MR, nb - jp < NR ? nb - jp : NR, g->alpha, beta);
        }
    }
    }
    free(Bp);
    free(Ap);
}

int ct_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc, int n_threads) {
    if (M <= 0 || N <= 0 || K <= 0) return 0; /* the caller handles degenerate shapes */
    gemm_job g = {transA, transB, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C, 1};
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
