/* Packing of GEMM operands into micro-kernel panels.
 *
 * A panel of MR rows of op(A) holds, for every k, the MR values of that column: [Kp][MR]; a panel
 * of NR columns of op(B) holds [Kp][NR]. fp32 kernels store floats (Kp = K); bf16 kernels store
 * 32-bit pairs (bf16 of k, bf16 of k+1) (Kp = ceil(K / 2)). Panel p of a packed operand starts at
 * p * Kp * MR (or NR) units of 4 bytes; rows or columns beyond the matrix are zero. */
#ifndef CT_NN_PACK_H
#define CT_NN_PACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int MR, NR, bf16;
} ct_pack_shape;

static inline size_t ct_pack_kp(const ct_pack_shape *s, int K) { return s->bf16 ? ((size_t)K + 1) / 2 : (size_t)K; }
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
