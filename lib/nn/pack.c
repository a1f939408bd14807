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
        ct_transpose_block(src, lds, rows, n8, dst, ldd);
        done = n8;
    }
    for (int r = 0; r < rows; r++)
        for (int k = done; k < n; k++) dst[(size_t)k * ldd + r] = src[(size_t)r * lds + k];
}

/* values rounded to bf16 in place (fp32 storage): the operands of a bf16-semantics product run
 * on fp32 arithmetic */
static void round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t b = bf16_bits(x[i]) << 16;
        memcpy(&x[i], &b, 4);
    }
}

/* row-major panel (a_rows): line r of the panel is line i0 + r of X as kp pairs, zero beyond n
 * lines and beyond K */
static void pack_rows_bf16(const float *X, int ld, int kmajor, int i0, int lines, int K, size_t kp, int P, uint32_t *d) {
    for (int r = 0; r < P; r++) {
        uint32_t *row = d + (size_t)r * kp;
        size_t done = 0;
        if (r < lines && !kmajor) {
            cvt_pairs(X + (size_t)(i0 + r) * ld, K, row);
            done = ((size_t)K + 1) / 2;
        } else if (r < lines) {
            for (size_t kk = 0; 2 * kk < (size_t)K; kk++) {
                uint32_t lo = bf16_bits(X[2 * kk * (size_t)ld + i0 + r]);
                uint32_t hi = 2 * kk + 1 < (size_t)K ? bf16_bits(X[(2 * kk + 1) * (size_t)ld + i0 + r]) : 0u;
                row[kk] = lo | (hi << 16);
            }
            done = ((size_t)K + 1) / 2;
        }
        memset(row + done, 0, sizeof(uint32_t) * (kp - done));
    }
}

/* Panels [p0, p1) of width P over n lines of length K, each panel [Kp][P] (or, rows, [P][Kp]):
 * line i of X is a row (X [n x K], row stride ld: the transposing case) or, kmajor, a column
 * (X [K x n]). Packing A's rows and B's columns are this one operation (op(B)'s columns are the
 * rows of B^T). */
static void pack_panels(const ct_pack_shape *s, int P, int rows, const float *X, int ld, int kmajor, int n, int K, int p0, int p1,
                        void *dst) {
    const int bf16 = s->bf16;
    size_t kp = ct_pack_kp(s, K), kreal = bf16 ? ((size_t)K + 1) / 2 : (size_t)K;
    for (int p = p0; p < p1; p++) {
        int i0 = p * P, lines = n - i0 < P ? n - i0 : P;
        uint32_t *d = (uint32_t *)dst + (size_t)p * kp * P;
        if (rows) { /* bf16 only (tile kernels) */
            pack_rows_bf16(X, ld, kmajor, i0, lines, K, kp, P, d);
            continue;
        }
        if (!bf16) {
            float *df = (float *)d;
            if (!kmajor) transpose_rows(X + (size_t)i0 * ld, (size_t)ld, lines, K, df, (size_t)P);
            else
                for (int k = 0; k < K; k++) memcpy(df + (size_t)k * P, X + (size_t)k * ld + i0, sizeof(float) * (size_t)lines);
            if (s->round)
                for (int k = 0; k < K; k++) round_bf16(df + (size_t)k * P, (size_t)lines);
        } else if (!kmajor) {
            /* convert each line's run of k to pairs (in chunks), then transpose the pairs */
            uint32_t tmp[32 * 128];
            for (size_t c0 = 0; c0 < kreal; c0 += 128) {
                int cn = kreal - c0 < 128 ? (int)(kreal - c0) : 128;
                int k0 = (int)c0 * 2, kn = K - k0 < 2 * cn ? K - k0 : 2 * cn;
                for (int r = 0; r < lines; r++) cvt_pairs(X + (size_t)(i0 + r) * ld + k0, kn, tmp + (size_t)r * 128);
                transpose_rows((const float *)tmp, 128, lines, cn, (float *)(d + c0 * P), (size_t)P);
            }
        } else {
            for (size_t kk = 0; kk < kreal; kk++)
                for (int r = 0; r < lines; r++) {
                    size_t k = 2 * kk;
                    uint32_t lo = bf16_bits(X[k * (size_t)ld + i0 + r]);
                    uint32_t hi = k + 1 < (size_t)K ? bf16_bits(X[(k + 1) * (size_t)ld + i0 + r]) : 0u;
                    d[kk * P + r] = lo | (hi << 16);
                }
        }
        if (lines < P)
            for (size_t k = 0; k < kreal; k++) memset(d + k * P + lines, 0, sizeof(uint32_t) * (size_t)(P - lines));
        if (kp > kreal) memset(d + kreal * P, 0, sizeof(uint32_t) * (kp - kreal) * (size_t)P);
    }
}

void ct_pack_a(const ct_pack_shape *s, const float *A, int lda, int transA, int M, int K, int p0, int p1, void *dst) {
    pack_panels(s, s->MR, s->a_rows, A, lda, transA, M, K, p0, p1, dst);
}

void ct_pack_b(const ct_pack_shape *s, const float *B, int ldb, int transB, int N, int K, int p0, int p1, void *dst) {
    pack_panels(s, s->NR, 0, B, ldb, !transB, N, K, p0, p1, dst);
}
