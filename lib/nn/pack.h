/* Packing of GEMM operands into micro-kernel panels.
 *
 * A panel of MR rows of op(A) holds, for every k, the MR values of that column: [Kp][MR]
 * (broadcast kernels), or with a_rows each row's run of k: [MR][Kp] (tile kernels: AMX loads 16
 * rows of 64 bytes); a panel of NR columns of op(B) holds [Kp][NR]. fp32 kernels store floats
 * (Kp = K; with `round` each value rounded to bf16 first, kept as fp32); bf16 kernels store
 * 32-bit pairs (bf16 of k, bf16 of k+1) (Kp = ceil(K / 2)), which is also AMX's B tile layout
 * (rows of pairs along K). Kp is rounded up to a multiple of kalign units (AMX: 16 pairs, one
 * tile's depth). Panel p of a packed operand starts at p * Kp * MR (or NR) units of 4 bytes; rows,
 * columns and depths beyond the matrix are zero. */
#ifndef CT_NN_PACK_H
#define CT_NN_PACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int MR, NR;
    int bf16;   /* operands as bf16 pairs along k */
    int round;  /* fp32 storage, values rounded to bf16 (fp32 arithmetic on bf16 operands) */
    int a_rows; /* A panels row-major [MR][Kp] */
    int kalign; /* Kp a multiple of this (0 or 1: none) */
} ct_pack_shape;

static inline size_t ct_pack_kp(const ct_pack_shape *s, int K) {
    size_t kp = s->bf16 ? ((size_t)K + 1) / 2 : (size_t)K, a = s->kalign > 1 ? (size_t)s->kalign : 1;
    return (kp + a - 1) / a * a;
}
/* 4-byte units of a whole packed A (M rows) or B (N columns) */
static inline size_t ct_pack_a_units(const ct_pack_shape *s, int M, int K) {
    return ((size_t)M + (size_t)s->MR - 1) / (size_t)s->MR * (size_t)s->MR * ct_pack_kp(s, K);
}
static inline size_t ct_pack_b_units(const ct_pack_shape *s, int N, int K) {
    return ((size_t)N + (size_t)s->NR - 1) / (size_t)s->NR * (size_t)s->NR * ct_pack_kp(s, K);
}

/* Panels [p0, p1) of op(A) (A [M x K], or transA: A [K x M]) / of op(B) (B [K x N], or transB:
 * B [N x K]) into dst (the whole packed operand). */
void ct_pack_a(const ct_pack_shape *s, const float *A, int lda, int transA, int M, int K, int p0, int p1, void *dst);
void ct_pack_b(const ct_pack_shape *s, const float *B, int ldb, int transB, int N, int K, int p0, int p1, void *dst);

#endif
