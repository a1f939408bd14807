/* Packing into micro-kernel panels (pack.h). The transposing cases, which dominate (activations
 * [M x K] as A, weights [N x K] as B), move 8 x 8 blocks through registers; edges go one value at
 * a time. bf16 operands are first rounded to bf16 pairs along k, then moved the same way. */
#include "nn/pack.h"

#include "core/internal.h"
#include "nn/kernels/ukernel.h"

#include <string.h>

/* fp32 -> bfloat16 bits, round to nearest even (the scalar twin of the AVX-512 conversion) */
static inline uint32_t bf16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

static void cvt_pairs(const float *src, int n, uint32_t *out) {
    if (ct_cpu_has_avx512bf16()) {
        ct_cvt_bf16_pairs_avx512(src, n, out);
        return;
    }
    for (int k = 0; k < n; k += 2) out[k / 2] = bf16_bits(src[k]) | (k + 1 < n ? bf16_bits(src[k + 1]) << 16 : 0u);
}

/* rows x n block of 32-bit units (src row stride lds) -> dst[k * ldd + r] for r < rows <= P,
 * k < n: 8 x 8 register transposes where 8 rows and 8 columns are available (for P = 14 the row
 * groups 0..7 and 6..13 overlap on two rows that receive the same values twice). */
static void transpose_rows(const float *src, size_t lds, int rows, int n, float *dst, size_t ldd) {
    int n8 = n & ~7, done = 0;
    if (rows >= 8 && n8) {
        for (int g = 0;; g += 8) {
            if (g + 8 > rows) g = rows - 8; /* the last group overlaps the one before */
            for (int k = 0; k < n8; k += 8) ct_transpose8(src + (size_t)g * lds + k, lds, dst + (size_t)k * ldd + g, ldd);
            if (g + 8 >= rows) break;
        }
        done = n8;
    }
    for (int r = 0; r < rows; r++)
        for (int k = done; k < n; k++) dst[(size_t)k * ldd + r] = src[(size_t)r * lds + k];
}

void ct_pack_a(const ct_pack_shape *s, const float *A, int lda, int transA, int M, int K, int p0, int p1, void *dst) {
    const int MR = s->MR;
    size_t kp = ct_pack_kp(s, K);
    for (int p = p0; p < p1; p++) {
        int r0 = p * MR, rows = M - r0 < MR ? M - r0 : MR;
        uint32_t *d = (uint32_t *)dst + (size_t)p * kp * MR;
        if (!s->bf16) {
            float *df = (float *)d;
            if (!transA) transpose_rows(A + (size_t)r0 * lda, (size_t)lda, rows, K, df, (size_t)MR);
            else
                for (int k = 0; k < K; k++) memcpy(df + (size_t)k * MR, A + (size_t)k * lda + r0, sizeof(float) * (size_t)rows);
        } else if (!transA) {
            /* convert each row's run of k to pairs (in chunks), then transpose the pairs */
            uint32_t tmp[16 * 128];
            for (size_t c0 = 0; c0 < kp; c0 += 128) {
                int cn = kp - c0 < 128 ? (int)(kp - c0) : 128;
                int k0 = (int)c0 * 2, kn = K - k0 < 2 * cn ? K - k0 : 2 * cn;
                for (int r = 0; r < rows; r++) cvt_pairs(A + (size_t)(r0 + r) * lda + k0, kn, tmp + (size_t)r * 128);
                transpose_rows((const float *)tmp, 128, rows, cn, (float *)(d + c0 * MR), (size_t)MR);
            }
        } else {
            for (size_t kk = 0; kk < kp; kk++)
                for (int r = 0; r < rows; r++) {
                    size_t k = 2 * kk;
                    uint32_t lo = bf16_bits(A[k * (size_t)lda + r0 + r]);
                    uint32_t hi = k + 1 < (size_t)K ? bf16_bits(A[(k + 1) * (size_t)lda + r0 + r]) : 0u;
                    d[kk * MR + r] = lo | (hi << 16);
                }
        }
        if (rows < MR)
            for (size_t k = 0; k < kp; k++) memset(d + k * MR + rows, 0, sizeof(uint32_t) * (size_t)(MR - rows));
    }
}

void ct_pack_b(const ct_pack_shape *s, const float *B, int ldb, int transB, int N, int K, int p0, int p1, void *dst) {
    const int NR = s->NR;
    size_t kp = ct_pack_kp(s, K);
    for (int p = p0; p < p1; p++) {
        int c0 = p * NR, cols = N - c0 < NR ? N - c0 : NR;
        uint32_t *d = (uint32_t *)dst + (size_t)p * kp * NR;
        if (!s->bf16) {
            float *df = (float *)d;
            if (transB) transpose_rows(B + (size_t)c0 * ldb, (size_t)ldb, cols, K, df, (size_t)NR);
            else
                for (int k = 0; k < K; k++) memcpy(df + (size_t)k * NR, B + (size_t)k * ldb + c0, sizeof(float) * (size_t)cols);
        } else if (transB) {
            uint32_t tmp[32 * 128];
            for (size_t q0 = 0; q0 < kp; q0 += 128) {
                int qn = kp - q0 < 128 ? (int)(kp - q0) : 128;
                int k0 = (int)q0 * 2, kn = K - k0 < 2 * qn ? K - k0 : 2 * qn;
                for (int c = 0; c < cols; c++) cvt_pairs(B + (size_t)(c0 + c) * ldb + k0, kn, tmp + (size_t)c * 128);
                transpose_rows((const float *)tmp, 128, cols, qn, (float *)(d + q0 * NR), (size_t)NR);
            }
        } else {
            for (size_t kk = 0; kk < kp; kk++)
                for (int c = 0; c < cols; c++) {
                    size_t k = 2 * kk;
                    uint32_t lo = bf16_bits(B[k * (size_t)ldb + c0 + c]);
                    uint32_t hi = k + 1 < (size_t)K ? bf16_bits(B[(k + 1) * (size_t)ldb + c0 + c]) : 0u;
                    d[kk * NR + c] = lo | (hi << 16);
                }
        }
        if (cols < NR)
            for (size_t k = 0; k < kp; k++) memset(d + k * NR + cols, 0, sizeof(uint32_t) * (size_t)(NR - cols));
    }
}
