/* The micro-kernel contract shared by the GEMM driver and the kernel families.
 *
 * A micro-kernel computes an MR x NR tile acc = Ap (kb x MR panel, or MR x kb rows of stride
 * e->lda) * Bp (kb x NR panel) in registers or tiles (fp32 families: kb values of k; bf16: kb
 * pairs of k), then writes the `rows` x `cols`
 * corner of it to C (row stride ldc) through the tile epilogue:
 *   v = alpha * acc + (first ? beta * C : C)      (first: the first K slice; beta 0 never reads C)
 *   last: v += bias[col]; v = act(v)               (last: the last K slice)
 * Panels are zero-padded, so a partial tile computes the same sums as a full one. */
#ifndef CT_NN_UKERNEL_H
#define CT_NN_UKERNEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    float alpha, beta;
    int first, last;
    const float *bias; /* [cols] at the tile's first column, or NULL */
    int act;           /* CT_ACT_* */
    const void *next_b; /* the next B panel to bring into L2 while this tile runs (kernels
                           may ignore it), or NULL */
    size_t lda;         /* row-major A panels (a_rows): 4-byte units from one row to the next */
} ct_tile_epi;

/* The activations in scalar code (CT_ACT_*, nn/gemm.h): QuickGELU x / (1 + exp(-1.702 x)); exact
 * GELU 0.5 x (1 + erf(x / sqrt 2)) written 0.5 x erfc(-x / sqrt 2), which keeps its relative
 * accuracy where 1 + erf cancels (x < 0), in double (fp32's rounding of x / sqrt 2 alone would
 * cost 2 u^2 2^-24 relative: 4e-6 at x = -8). */
static inline float ct_act_scalar(int act, float v) {
    if (act == 1) return v / (1.f + expf(-1.702f * v)); /* CT_ACT_QUICKGELU */
    if (act == 2) return (float)(0.5 * v * erfc(-0.70710678118654752440 * v)); /* CT_ACT_GELU */
    return v;
}

/* The tile epilogue in scalar code for kernels that accumulate into a plain array acc [MR][ld]
 * (AVX2, portable): it runs once per tile after kb >= 1 slices of work. */
static inline void ct_tile_store_scalar(const float *acc, int ld, float *C, int ldc, int rows, int cols, const ct_tile_epi *e) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float *d = C + (size_t)r * ldc + c;
            float v = e->alpha * acc[(size_t)r * ld + c];
            if (!e->first) v = *d + v;
            else if (e->beta != 0.f) v = *d * e->beta + v;
            if (e->last) {
                if (e->bias) v += e->bias[c];
                v = ct_act_scalar(e->act, v);
            }
            *d = v;
        }
}

typedef void (*ct_ukernel_fn)(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols,
                              const ct_tile_epi *e);

/* kernels/x86_avx512/gemm.c: MR 14, NR 32 */
void ct_uk_avx512_f32(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
void ct_uk_avx512_bf16(int kp, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
/* the tile epilogue (above) on rows x cols (cols <= 32) of an fp32 array (row stride ld), AVX-512 */
void ct_store_rows_avx512(const float *acc, int ld, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
/* fp32 -> bf16 pairs: out[i] = (bf16(src[2i]), bf16(src[2i+1])) for i < (n+1)/2, round to nearest
 * even, a missing odd element 0 */
void ct_cvt_bf16_pairs_avx512(const float *src, int n, uint32_t *out);
/* kernels/x86_amx/gemm.c: MR 32, NR 32 (2 x 2 tiles of 16 x 16), A row-major, K in tiles of 16
 * pairs; the thread hooks load the tile configuration and release the tiles */
void ct_uk_amx_bf16(int kp, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
void ct_amx_thread_begin(void);
void ct_amx_thread_end(void);
/* kernels/x86_avx2/gemm.c: MR 6, NR 16 */
void ct_uk_avx2_f32(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
/* kernels/portable/gemm.c: MR 4, NR 16 */
void ct_uk_portable_f32(int kb, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);

/* Transpose of a rows x n8 block of floats (or any 32-bit units), rows >= 8 and n8 a multiple
 * of 8: dst[c * ldd + r] = src[r * lds + c] (8 x 8 register transposes where the CPU has AVX). */
void ct_transpose_block(const float *src, size_t lds, int rows, int n8, float *dst, size_t ldd);

#endif
