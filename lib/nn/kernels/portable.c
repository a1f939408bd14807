/* Portable micro-kernel: fp32 4 x 16 tile in plain C (the compiler vectorises the inner loop with
 * the baseline instruction set). The fallback of CPUs without AVX2. */
#include "nn/kernels/ukernel.h"
#include "nn/gemm.h"

#include <math.h>

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
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float *d = C + (size_t)r * ldc + c;
            float v = e->alpha * acc[r][c];
            if (!e->first) v = *d + v;
            else if (e->beta != 0.f) v = *d * e->beta + v;
            if (e->last) {
                if (e->bias) v += e->bias[c];
                if (e->act == CT_ACT_QUICKGELU) v = v / (1.f + expf(-1.702f * v));
            }
            *d = v;
        }
}
