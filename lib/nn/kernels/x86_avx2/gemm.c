/* AVX2 + FMA micro-kernel: fp32 6 x 16 tile (12 ymm accumulators), for CPUs without AVX-512. */
#include "nn/kernels/ukernel.h"
#include "nn/gemm.h"


#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR 6

__attribute__((target("avx2,fma"))) void ct_uk_avx2_f32(int kb, const void *Ap_, const void *Bp_, float *C, int ldc, int rows,
                                                         int cols, const ct_tile_epi *e) {
    const float *Ap = Ap_, *Bp = Bp_;
    __m256 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int k = 0; k < kb; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp + (size_t)k * 16), b1 = _mm256_loadu_ps(Bp + (size_t)k * 16 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 x = _mm256_broadcast_ss(Ap + (size_t)k * MR + r);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    float t[MR][16];
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(t[r], acc[r][0]);
        _mm256_storeu_ps(t[r] + 8, acc[r][1]);
    }
    ct_tile_store_scalar(&t[0][0], 16, C, ldc, rows, cols, e);
}

#else

void ct_uk_avx2_f32(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    (void)kb; (void)Ap; (void)Bp; (void)C; (void)ldc; (void)rows; (void)cols; (void)e;
}

#endif
