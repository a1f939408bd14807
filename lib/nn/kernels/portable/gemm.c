/* Portable micro-kernel: fp32 4 x 16 tile in plain C (the compiler vectorises the inner loop with
 * the baseline instruction set). The fallback of CPUs without AVX2. */
#include "nn/kernels/ukernel.h"
#include "nn/gemm.h"


#define MR 4
#define NR 16

void ct_uk_portable_f32(int kb, const void *Ap_, const void *Bp_, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    const float *Ap = Ap_, *Bp = Bp_;
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kb; k++) {
        const float *a = Ap + (size_t)k * MR, *b = Bp + (size_t)k * NR;
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r][c] += a[r] * b[c];
    }
    ct_tile_store_scalar(&acc[0][0], NR, C, ldc, rows, cols, e);
}
