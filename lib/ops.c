/* Dense kernels. BLAS is reached through ct_gemm only. */
#include "ops.h"

#include "gemm.h"

#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ct_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc, int n_threads) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* BLAS leaves C untouched for K == 0 only when beta == 1 */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (ct_gemm_kernel() != CT_GEMM_BLAS &&
        ct_gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, n_threads))
        return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ct_linear(int M, int N, int K, const float *x, int ldx, const float *W, int ldw,
               const float *b, float *y, int ldy, int n_threads) {
    ct_gemm(0, 1, M, N, K, 1.f, x, ldx, W, ldw, 0.f, y, ldy, n_threads);
    if (b)
        for (int i = 0; i < M; i++) {
            float *r = y + (size_t)i * ldy;
            for (int j = 0; j < N; j++) r[j] += b[j];
        }
}

/* rows of large problems go to threads; small ones are not worth a thread start */
static int split(int n_threads, double work) { return work < 65536.0 ? 1 : n_threads; }

typedef struct {
    const float *x, *g, *b;
    float *y;
    int N, ld;
    size_t n;
} row_job;

CT_VECTOR_CLONES static void layernorm_row(const float *r, const float *g, const float *b, float *o, int N) {
    double s = 0;
    for (int j = 0; j < N; j++) s += r[j];
    float mean = (float)(s / N);
    double v = 0;
    for (int j = 0; j < N; j++) {
        double d = r[j] - mean;
        v += d * d;
    }
    float inv = (float)(1.0 / sqrt(v / N + 1e-5));
    for (int j = 0; j < N; j++) o[j] = (r[j] - mean) * inv * g[j] + b[j];
}

static void layernorm_range(void *arg, int64_t r0, int64_t r1) {
    row_job *j = arg;
    for (int64_t i = r0; i < r1; i++) layernorm_row(j->x + (size_t)i * j->N, j->g, j->b, j->y + (size_t)i * j->N, j->N);
}

void ct_layernorm(int M, int N, const float *x, const float *g, const float *b, float *y, int n_threads) {
    row_job j = {x, g, b, y, N, N, 0};
    ct_parallel_for(split(n_threads, (double)M * N), M, layernorm_range, &j);
}

/* 16 explicit partial maxima / sums: the loops vectorise without reassociating floating-point
 * sums, so every CPU clone computes the same bits */
CT_VECTOR_CLONES static void softmax_row(float *r, int N) {
    float pm[16], ps[16];
    for (int l = 0; l < 16; l++) { pm[l] = -INFINITY; ps[l] = 0.f; }
    int n16 = N & ~15;
    for (int j = 0; j < n16; j += 16)
        for (int l = 0; l < 16; l++) pm[l] = r[j + l] > pm[l] ? r[j + l] : pm[l];
    float mx = -INFINITY;
    for (int l = 0; l < 16; l++) mx = pm[l] > mx ? pm[l] : mx;
    for (int j = n16; j < N; j++) mx = r[j] > mx ? r[j] : mx;
    if (mx == -INFINITY) mx = 0; /* a fully masked row stays NaN-free */
    for (int j = 0; j < N; j++) r[j] = ct_expf(r[j] - mx);
    for (int j = 0; j < n16; j += 16)
        for (int l = 0; l < 16; l++) ps[l] += r[j + l];
    float s = 0.f;
    for (int l = 0; l < 16; l++) s += ps[l];
    for (int j = n16; j < N; j++) s += r[j];
    float inv = 1.f / s;
    for (int j = 0; j < N; j++) r[j] *= inv;
}

static void softmax_range(void *arg, int64_t r0, int64_t r1) {
    row_job *j = arg;
    for (int64_t i = r0; i < r1; i++) softmax_row(j->y + (size_t)i * j->ld, j->N);
}

void ct_softmax_rows(int M, int N, float *x, int ld, int n_threads) {
    row_job j = {NULL, NULL, NULL, x, N, ld, 0};
    ct_parallel_for(split(n_threads, (double)M * N), M, softmax_range, &j);
}

CT_VECTOR_CLONES static void gelu_block(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.f + ct_expf(-1.702f * x[i]));
}

static void gelu_range(void *arg, int64_t b0, int64_t b1) {
    row_job *j = arg;
    size_t s = (size_t)b0 * 4096, e = (size_t)b1 * 4096;
    if (e > j->n) e = j->n;
    gelu_block(j->y + s, e - s);
}

void ct_quick_gelu(size_t n, float *x, int n_threads) {
    row_job j = {NULL, NULL, NULL, x, 0, 0, n};
    ct_parallel_for(split(n_threads, (double)n), (int64_t)((n + 4095) / 4096), gelu_range, &j);
}

void ct_l2norm_rows(int M, int N, float *x) {
    for (int i = 0; i < M; i++) {
        float *r = x + (size_t)i * N;
        double s = 0;
        for (int j = 0; j < N; j++) s += (double)r[j] * r[j];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (int j = 0; j < N; j++) r[j] *= inv;
        }
    }
}

/* PyTorch's source index for align_corners=False (linear modes clamp negatives to 0) */
void ct_bilinear_taps(int in, int out, ct_taps *t) {
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int a = (int)src;
        t[o].i0 = a;
        t[o].i1 = a + (a < in - 1 ? 1 : 0);
        t[o].l1 = src - (float)a;
        t[o].l0 = 1.f - t[o].l1;
    }
}

int ct_bilinear(int n, int ih, int iw, const float *x, int oh, int ow, float *y) {
    ct_taps *ty = malloc(sizeof(ct_taps) * (size_t)oh), *tx = malloc(sizeof(ct_taps) * (size_t)ow);
    if (!ty || !tx) { free(ty); free(tx); return 0; }
    ct_bilinear_taps(ih, oh, ty);
    ct_bilinear_taps(iw, ow, tx);
    for (int c = 0; c < n; c++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                y[((size_t)c * oh + oy) * ow + ox] = ct_bilinear_at(x + (size_t)c * ih * iw, iw, &ty[oy], &tx[ox]);
    free(ty);
    free(tx);
    return 1;
}

static void cubic_coeffs(double t, double c[4]) {
    const double A = -0.75;
    double x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
    c[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    c[1] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    c[2] = ((A + 2) * x3 - (A + 3)) * x3 * x3 + 1;
    c[3] = ((A * x4 - 5 * A) * x4 + 8 * A) * x4 - 4 * A;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void ct_bicubic_grid(int ih, int iw, int C, const float *x, int oh, int ow, double sh, double sw,
                     float *y) {
    /* with a scale factor given, PyTorch maps output i to (i + 0.5) / scale - 0.5, unclamped */
    float rh = (float)(1.0 / sh), rw = (float)(1.0 / sw);
    memset(y, 0, sizeof(float) * (size_t)oh * ow * C);
    for (int oy = 0; oy < oh; oy++) {
        float sy = rh * ((float)oy + 0.5f) - 0.5f;
        int fy = (int)floorf(sy);
        double cy[4];
        cubic_coeffs((double)(sy - (float)fy), cy);
        for (int ox = 0; ox < ow; ox++) {
            float sx = rw * ((float)ox + 0.5f) - 0.5f;
            int fx = (int)floorf(sx);
            double cx[4];
            cubic_coeffs((double)(sx - (float)fx), cx);
            float *o = y + ((size_t)oy * ow + ox) * C;
            for (int a = 0; a < 4; a++) {
                int yy = clampi(fy - 1 + a, 0, ih - 1);
                for (int b = 0; b < 4; b++) {
                    int xx = clampi(fx - 1 + b, 0, iw - 1);
                    float wgt = (float)(cy[a] * cx[b]);
                    const float *s = x + ((size_t)yy * iw + xx) * C;
                    for (int c = 0; c < C; c++) o[c] += wgt * s[c];
                }
            }
        }
    }
}
