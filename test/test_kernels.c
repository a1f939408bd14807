/* The dense row kernels and the resampling of lib/nn/ops.h against references computed here in
 * double precision from their definitions (PyTorch's semantics where ops.h names them), plus a
 * few values computed by hand, on every row length class (1, below / at / above the 16-lane
 * vector width, long rows) and thread counts 1, 2, 3 (results must not depend on the split).
 *
 * Tolerances (values of the test data are O(1); eps32 = 2^-24 ~ 6e-8 is fp32's unit roundoff):
 *   layer norm   per row 2e-6 + 2 * eps32 * |mean| / sigma * max|g|: the mean is rounded to fp32
 *                once (as PyTorch's fp32 kernel does; error <= eps32 * |mean|, which normalising
 *                divides by sigma: large for short rows of nearly equal values), then three fp32
 *                operations on |y| <= 4 (3 * 4 * eps32 = 7e-7).
 *   softmax      1e-6 absolute on probabilities: ct_expf is within 2 ulp, the row sum of up to
 *                1000 terms is taken in 16 lanes of <= 63 terms each (<= 80 * eps32 = 5e-6
 *                relative in the worst case, ~sqrt of it in practice); probabilities are <= 1.
 *                Rows of -inf entries: exactly 0 for a fully masked row (documented), below
 *                FLT_MIN (ct_expf clamps its argument) otherwise.
 *   L2 norm      2.5e-7 absolute: two fp32 roundings of values <= 1.
 *   bilinear     5e-7 absolute: the source coordinate is computed in fp32 as PyTorch does (part
 *                of its semantics), the reference interpolates in double; the kernel's three
 *                fp32 operations on values <= 1 add <= 3 * eps32.
 *   bicubic      2e-6 absolute: same coordinates; 16 fp32 products and sums with weights whose
 *                absolute sum is <= 1.6 (16 * 1.6 * eps32 = 1.5e-6).
 * Hand values below are exact binary fractions: checked for equality within 1e-7. */
#include "harness.h"
#include "core/runtime.h"
#include "nn/ops.h"
#include "nn/kernels/registry.h"

#include <float.h>

static float rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f; /* [-1, 1) */
}

static ct_runtime *rt3; /* 3 threads whatever the machine */

static ct_exec exec_n(int n) { return n == 1 ? ct_exec_serial() : ct_exec_for(rt3, n); }

/* ---------------------------------------------------------------- layer norm */

/* Returns the tolerance of the row (see the top). */
static double layernorm_ref(const float *x, const float *g, const float *b, int N, double *y) {
    double m = 0, v = 0, gmax = 0;
    for (int j = 0; j < N; j++) m += x[j];
    m /= N;
    for (int j = 0; j < N; j++) v += ((double)x[j] - m) * ((double)x[j] - m);
    v /= N;
    for (int j = 0; j < N; j++) {
        y[j] = ((double)x[j] - m) / sqrt(v + 1e-5) * g[j] + b[j];
        gmax = fabs(g[j]) > gmax ? fabs(g[j]) : gmax;
    }
    return 2e-6 + 2 * 0x1p-24 * fabs(m) / sqrt(v + 1e-5) * gmax;
}

static void layernorm_hand(void) {
    /* [1 2 3 4]: mean 2.5, variance 1.25 -> (x - 2.5) / sqrt(1.25 + 1e-5) */
    const float x[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, b[4] = {0, 0, 0, 0};
    const double want[4] = {-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269};
    float y[4];
    ct_exec ex = ct_exec_serial();
    ct_layernorm(&ex, 1, 4, x, 4, g, b, y, 4);
    for (int j = 0; j < 4; j++) CHECK(fabs(y[j] - want[j]) <= 2e-7, "y[%d] = %.9g, want %.9g", j, y[j], want[j]);
    /* a constant row has zero variance: y = b exactly; so has a row of one element */
    const float c[5] = {7, 7, 7, 7, 7}, g5[5] = {2, 2, 2, 2, 2}, b5[5] = {0.5f, -1, 3, 0, 0.25f};
    float yc[5];
    ct_layernorm(&ex, 1, 5, c, 5, g5, b5, yc, 5);
    for (int j = 0; j < 5; j++) CHECK(yc[j] == b5[j], "constant row: y[%d] = %g, want %g", j, yc[j], b5[j]);
    ct_layernorm(&ex, 1, 1, c, 1, g5, b5, yc, 1);
    CHECK(yc[0] == b5[0], "one element: %g", yc[0]);
}

/* ct_layernorm_eps: the epsilon is the model's (its configuration's layer_norm_eps). Rows of
 * standard deviation ~6e-4 (variance ~3e-7, where eps 1e-5 and 1e-6 give outputs far apart)
 * against the double formula with that eps, at the tolerance rule at the top (max|g| <= 1.5). */
static void layernorm_epsilon(void) {
    enum { N = 64, M = 9 };
    const float eps[3] = {1e-5f, 1e-6f, 1e-12f};
    float x[M * N], g[N], b[N], y[3][M * N];
    unsigned s = 3;
    for (int i = 0; i < M * N; i++) x[i] = 1e-3f * rnd(&s);
    for (int j = 0; j < N; j++) { g[j] = 1.f + 0.5f * rnd(&s); b[j] = rnd(&s); }
    ct_exec ex = exec_n(2);
    double worst = 0;
    for (int e = 0; e < 3; e++) {
        ct_layernorm_eps(&ex, M, N, x, N, g, b, y[e], N, eps[e]);
        for (int i = 0; i < M; i++) {
            double m = 0, v = 0;
            for (int j = 0; j < N; j++) m += x[i * N + j];
            m /= N;
            for (int j = 0; j < N; j++) v += ((double)x[i * N + j] - m) * ((double)x[i * N + j] - m);
            v /= N;
            for (int j = 0; j < N; j++) {
                double ref = ((double)x[i * N + j] - m) / sqrt(v + (double)eps[e]) * g[j] + b[j], d = fabs(y[e][i * N + j] - ref);
                worst = d > worst ? d : worst;
                CHECK(d <= 2e-6 + 2 * 0x1p-24 * fabs(m) / sqrt(v + (double)eps[e]) * 1.5, "eps %g row %d: |d| %g", (double)eps[e], i, d);
            }
        }
    }
    double apart = max_abs_diff(y[0], y[1], (size_t)M * N);
    printf("  layernorm eps 1e-5 / 1e-6 / 1e-12: max|d| %.2e; 1e-5 and 1e-6 give outputs %.2f apart\n", worst, apart);
    CHECK(apart > 0.1, "the epsilon changes nothing (%g)", apart);
    /* ct_layernorm is eps 1e-5 */
    float y5[M * N];
    ct_layernorm(&ex, M, N, x, N, g, b, y5, N);
    CHECK(!memcmp(y5, y[0], sizeof y5), "ct_layernorm differs from ct_layernorm_eps(1e-5)");
}

static void layernorm_against_reference(void) {
    const int Ns[] = {1, 3, 15, 16, 17, 64, 192, 768, 1000};
    unsigned s = 1;
    for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++) {
        int N = Ns[k], M = 40000 / N + 3, ld = N + 5; /* enough rows to split over threads */
        float *x = malloc(sizeof(float) * (size_t)M * ld), *g = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
        float *y[3];
        double *ref = malloc(sizeof(double) * N);
        for (int i = 0; i < M; i++) {
            float off = 8.f * rnd(&s); /* rows centred anywhere in [-8, 8] */
            for (int j = 0; j < ld; j++) x[(size_t)i * ld + j] = off + rnd(&s);
        }
        for (int j = 0; j < N; j++) { g[j] = 1.f + 0.5f * rnd(&s); b[j] = rnd(&s); }
        for (int t = 0; t < 3; t++) {
            y[t] = malloc(sizeof(float) * (size_t)M * ld);
            for (size_t q = 0; q < (size_t)M * ld; q++) y[t][q] = 1234.5f; /* the stride gap must stay */
            ct_exec ex = exec_n(t + 1);
            ct_layernorm(&ex, M, N, x, ld, g, b, y[t], ld);
        }
        double worst = 0, worst_rel = 0; /* max |d|, max |d| / tolerance */
        int gap_ok = 1;
        for (int i = 0; i < M; i++) {
            double tol = layernorm_ref(x + (size_t)i * ld, g, b, N, ref);
            for (int j = 0; j < N; j++) {
                double d = fabs(y[0][(size_t)i * ld + j] - ref[j]);
                if (isnan(d)) d = INFINITY;
                worst = d > worst ? d : worst;
                worst_rel = d / tol > worst_rel ? d / tol : worst_rel;
            }
            for (int j = N; j < ld; j++) gap_ok &= y[0][(size_t)i * ld + j] == 1234.5f;
        }
        printf("  layernorm N=%-4d M=%-5d max|d| %.2e, at most %.2f of the row's tolerance\n", N, M, worst, worst_rel);
        CHECK(worst_rel <= 1, "N=%d: max|d| %g, %g times the tolerance", N, worst, worst_rel);
        CHECK(gap_ok, "N=%d: wrote between rows", N);
        CHECK(!memcmp(y[0], y[1], sizeof(float) * (size_t)M * ld) && !memcmp(y[0], y[2], sizeof(float) * (size_t)M * ld),
              "N=%d: results depend on the thread count", N);
        /* in place (y aliases x) gives the same bits */
        ct_exec ex = exec_n(3);
        ct_layernorm(&ex, M, N, x, ld, g, b, x, ld);
        int same = 1;
        for (int i = 0; i < M; i++) same &= !memcmp(x + (size_t)i * ld, y[0] + (size_t)i * ld, sizeof(float) * N);
        CHECK(same, "N=%d: in place differs", N);
        for (int t = 0; t < 3; t++) free(y[t]);
        free(x); free(g); free(b); free(ref);
    }
}

/* ---------------------------------------------------------------- softmax */

static void softmax_ref(const float *x, int N, double *y) {
    double m = -INFINITY, s = 0;
    for (int j = 0; j < N; j++) m = x[j] > m ? x[j] : m;
    if (m == -INFINITY) { /* fully masked: zeros (ops.h) where PyTorch gives NaN */
        for (int j = 0; j < N; j++) y[j] = 0;
        return;
    }
    for (int j = 0; j < N; j++) s += y[j] = exp((double)x[j] - m);
    for (int j = 0; j < N; j++) y[j] /= s;
}

static void softmax_hand(void) {
    ct_exec ex = ct_exec_serial();
    float a[3] = {1, 2, 3};
    const double want[3] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748218};
    ct_softmax_rows(&ex, 1, 3, a, 3);
    for (int j = 0; j < 3; j++) CHECK(fabs(a[j] - want[j]) <= 1e-7, "softmax([1 2 3])[%d] = %.9g, want %.9g", j, a[j], want[j]);
    float one[1] = {-5};
    ct_softmax_rows(&ex, 1, 1, one, 1);
    CHECK(one[0] == 1.f, "a row of one element: %g", one[0]);
    /* a row of -inf gives zeros (documented); in a partly masked row, -inf entries vanish */
    float masked[2][20];
    for (int j = 0; j < 20; j++) { masked[0][j] = -INFINITY; masked[1][j] = j % 3 ? -INFINITY : 0.f; }
    ct_softmax_rows(&ex, 2, 20, &masked[0][0], 20);
    int zeros = 1, ok = 1;
    for (int j = 0; j < 20; j++) zeros &= masked[0][j] == 0.f;
    for (int j = 0; j < 20; j++) ok &= j % 3 ? masked[1][j] >= 0 && masked[1][j] < FLT_MIN : fabs(masked[1][j] - 1.0 / 7) <= 1e-7;
    CHECK(zeros, "a row of -inf does not give zeros");
    CHECK(ok, "partly masked row: -inf entries must vanish, the 7 zeros share 1");
    /* huge values: no overflow (the maximum is subtracted first); -FLT_MAX - FLT_MAX overflows to
     * -inf, which must give 0, not NaN */
    float big[2][4] = {{3e38f, 3e38f, 0.f, -3e38f}, {1e4f, 0.f, -1e4f, 1e4f}};
    ct_softmax_rows(&ex, 2, 4, &big[0][0], 4);
    CHECK(fabs(big[0][0] - 0.5) <= 1e-7 && fabs(big[0][1] - 0.5) <= 1e-7 && big[0][2] < FLT_MIN && big[0][3] < FLT_MIN && big[0][3] >= 0,
          "huge values: %g %g %g %g", big[0][0], big[0][1], big[0][2], big[0][3]);
    CHECK(fabs(big[1][0] - 0.5) <= 1e-7 && fabs(big[1][3] - 0.5) <= 1e-7 && big[1][1] < FLT_MIN && big[1][2] < FLT_MIN,
          "spread 2e4: %g %g %g %g", big[1][0], big[1][1], big[1][2], big[1][3]);
}

static void softmax_against_reference(void) {
    const int Ns[] = {1, 2, 15, 16, 17, 31, 33, 197, 577, 1000};
    unsigned s = 7;
    for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++) {
        int N = Ns[k], M = 40000 / N + 3, ld = N + 3;
        float *x = malloc(sizeof(float) * (size_t)M * ld), *y[3];
        double *ref = malloc(sizeof(double) * N);
        for (int i = 0; i < M; i++) {
            float scale = (float)(1 + i % 4) * 10.f; /* logits spread up to +-40: probabilities span e^-80 */
            for (int j = 0; j < ld; j++) x[(size_t)i * ld + j] = scale * rnd(&s);
            if (i % 5 == 1) x[(size_t)i * ld + (i % N)] = -INFINITY; /* one masked entry */
        }
        for (int t = 0; t < 3; t++) {
            y[t] = malloc(sizeof(float) * (size_t)M * ld);
            memcpy(y[t], x, sizeof(float) * (size_t)M * ld);
            ct_exec ex = exec_n(t + 1);
            ct_softmax_rows(&ex, M, N, y[t], ld);
        }
        double worst = 0, worst_sum = 0;
        int gap_ok = 1;
        for (int i = 0; i < M; i++) {
            const float *r = y[0] + (size_t)i * ld;
            softmax_ref(x + (size_t)i * ld, N, ref);
            double sum = 0;
            for (int j = 0; j < N; j++) {
                double d = fabs(r[j] - ref[j]);
                worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
                sum += r[j];
            }
            if (N > 1 || i % 5 != 1) worst_sum = fabs(sum - 1) > worst_sum ? fabs(sum - 1) : worst_sum;
            for (int j = N; j < ld; j++) gap_ok &= r[j] == x[(size_t)i * ld + j];
        }
        printf("  softmax N=%-4d M=%-5d max|d| %.2e, max|sum-1| %.2e\n", N, M, worst, worst_sum);
        CHECK(worst <= 1e-6, "N=%d: max|d| %g", N, worst);
        CHECK(worst_sum <= 1e-5, "N=%d: rows sum to 1 within %g", N, worst_sum);
        CHECK(gap_ok, "N=%d: wrote between rows", N);
        CHECK(!memcmp(y[0], y[1], sizeof(float) * (size_t)M * ld) && !memcmp(y[0], y[2], sizeof(float) * (size_t)M * ld),
              "N=%d: results depend on the thread count", N);
        for (int t = 0; t < 3; t++) free(y[t]);
        free(x); free(ref);
    }
}

/* ---------------------------------------------------------------- L2 normalisation */

static void l2norm(void) {
    /* by hand: 3-4-5, and the same far above and below fp32's square range (a sum of squares in
     * fp32 would overflow to inf or underflow to 0) */
    float r[4][2] = {{3, 4}, {3e20f, 4e20f}, {3e-30f, 4e-30f}, {0, 0}};
    ct_l2norm_rows(4, 2, &r[0][0]);
    for (int i = 0; i < 3; i++) CHECK(fabs(r[i][0] - 0.6) <= 1e-7 && fabs(r[i][1] - 0.8) <= 1e-7, "row %d: %g %g", i, r[i][0], r[i][1]);
    CHECK(r[3][0] == 0 && r[3][1] == 0, "a zero row stays zero: %g %g", r[3][0], r[3][1]);
    const int Ns[] = {1, 7, 16, 96, 512, 768};
    unsigned s = 3;
    for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++) {
        int N = Ns[k], M = 50;
        float *x = malloc(sizeof(float) * (size_t)M * N), *y = malloc(sizeof(float) * (size_t)M * N);
        for (int q = 0; q < M * N; q++) x[q] = rnd(&s) * (float)(1 + q % 3);
        memcpy(y, x, sizeof(float) * (size_t)M * N);
        ct_l2norm_rows(M, N, y);
        double worst = 0;
        for (int i = 0; i < M; i++) {
            double n2 = 0;
            for (int j = 0; j < N; j++) n2 += (double)x[i * N + j] * x[i * N + j];
            for (int j = 0; j < N; j++) {
                double d = fabs(y[i * N + j] - x[i * N + j] / sqrt(n2));
                worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
            }
        }
        printf("  l2norm N=%-4d max|d| %.2e\n", N, worst);
        CHECK(worst <= 2.5e-7, "N=%d: max|d| %g", N, worst);
        free(x); free(y);
    }
}

/* ---------------------------------------------------------------- resampling */

/* PyTorch's source coordinate of output o for align_corners=False (in fp32, as PyTorch's CPU
 * kernels compute it for float tensors); the linear modes clamp negative values to 0 */
static float src_coord(float scale, int o, int clamp0) {
    float s = scale * ((float)o + 0.5f) - 0.5f;
    return clamp0 && s < 0 ? 0.f : s;
}

static double bilinear_ref(const float *m, int ih, int iw, int oh, int ow, int oy, int ox) {
    float sy = src_coord((float)ih / (float)oh, oy, 1), sx = src_coord((float)iw / (float)ow, ox, 1);
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + 1 < ih ? y0 + 1 : ih - 1, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
    double ly = (double)sy - y0, lx = (double)sx - x0;
    return (1 - ly) * ((1 - lx) * m[y0 * iw + x0] + lx * m[y0 * iw + x1]) + ly * ((1 - lx) * m[y1 * iw + x0] + lx * m[y1 * iw + x1]);
}

static void bilinear_hand(void) {
    /* torch.nn.functional.interpolate(arange(4).view(1, 1, 2, 2), size=4, mode="bilinear") */
    const float x[4] = {0, 1, 2, 3};
    const float want[16] = {0, .25f, .75f, 1, .5f, .75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    float y[16];
    ct_exec ex = ct_exec_serial();
    CHECK(ct_bilinear(&ex, 1, 2, 2, x, 4, 4, y), "out of memory");
    for (int i = 0; i < 16; i++) CHECK(fabs(y[i] - want[i]) <= 1e-7, "2x2 -> 4x4 [%d] = %g, want %g", i, y[i], want[i]);
    /* downsampling by 2 without antialiasing: the mean of each pair */
    const float r[4] = {0, 1, 2, 3};
    float d[2];
    CHECK(ct_bilinear(&ex, 1, 1, 4, r, 1, 2, d), "out of memory");
    CHECK(d[0] == 0.5f && d[1] == 2.5f, "1x4 -> 1x2: %g %g, want 0.5 2.5", d[0], d[1]);
}

static void bilinear_against_reference(void) {
    const int sz[][4] = {{14, 14, 56, 56}, {14, 20, 224, 320}, {10, 7, 3, 5}, {7, 10, 10, 7}, {5, 5, 5, 5}, {1, 1, 4, 6},
                         {3, 4, 1, 1}, {2, 3, 7, 11}};
    unsigned s = 11;
    for (size_t k = 0; k < sizeof sz / sizeof *sz; k++) {
        int ih = sz[k][0], iw = sz[k][1], oh = sz[k][2], ow = sz[k][3], n = 3;
        float *x = malloc(sizeof(float) * n * ih * iw), *y[3];
        for (int q = 0; q < n * ih * iw; q++) x[q] = rnd(&s);
        for (int t = 0; t < 3; t++) {
            y[t] = malloc(sizeof(float) * n * oh * ow);
            ct_exec ex = exec_n(t + 1);
            CHECK(ct_bilinear(&ex, n, ih, iw, x, oh, ow, y[t]), "out of memory");
        }
        double worst = 0;
        for (int c = 0; c < n; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double d = fabs(y[0][((size_t)c * oh + oy) * ow + ox] - bilinear_ref(x + (size_t)c * ih * iw, ih, iw, oh, ow, oy, ox));
                    worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
                }
        printf("  bilinear %dx%d -> %dx%d max|d| %.2e\n", ih, iw, oh, ow, worst);
        CHECK(worst <= 5e-7, "%dx%d -> %dx%d: max|d| %g", ih, iw, oh, ow, worst);
        if (ih == oh && iw == ow) CHECK(!memcmp(x, y[0], sizeof(float) * n * ih * iw), "same size is not the identity");
        CHECK(!memcmp(y[0], y[1], sizeof(float) * n * oh * ow) && !memcmp(y[0], y[2], sizeof(float) * n * oh * ow),
              "%dx%d -> %dx%d: results depend on the thread count", ih, iw, oh, ow);
        for (int t = 0; t < 3; t++) free(y[t]);
        free(x);
    }
}

/* Keys' cubic convolution weights with A = -0.75 (PyTorch's upsample_bicubic2d) */
static void cubic_w(double t, double w[4]) {
    const double A = -0.75;
    for (int k = 0; k < 4; k++) {
        double d = fabs(t - (k - 1)); /* distance of tap k (at -1, 0, 1, 2) from t */
        w[k] = d <= 1 ? ((A + 2) * d - (A + 3)) * d * d + 1 : d < 2 ? ((A * d - 5 * A) * d + 8 * A) * d - 4 * A : 0;
    }
}

static double bicubic_ref(const float *x, int ih, int iw, int C, double sh, double sw, int oy, int ox, int c) {
    float sy = src_coord((float)(1.0 / sh), oy, 0), sx = src_coord((float)(1.0 / sw), ox, 0);
    int fy = (int)floorf(sy), fx = (int)floorf(sx);
    double wy[4], wx[4], v = 0;
    cubic_w((double)(sy - (float)fy), wy);
    cubic_w((double)(sx - (float)fx), wx);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            int yy = fy - 1 + a, xx = fx - 1 + b;
            yy = yy < 0 ? 0 : yy >= ih ? ih - 1 : yy; /* borders clamped */
            xx = xx < 0 ? 0 : xx >= iw ? iw - 1 : xx;
            v += wy[a] * wx[b] * x[((size_t)yy * iw + xx) * C + c];
        }
    return v;
}

static void bicubic_hand(void) {
    /* an impulse at column 1 of a 1 x 4 row, upsampled twice along x: the weights of Keys' kernel
     * at t = 0.25 (-0.10546875 0.87890625 0.26171875 -0.03515625) and at t = 0.75 (reversed) */
    const float x[4] = {0, 1, 0, 0};
    const float want[8] = {-0.10546875f, 0.26171875f, 0.87890625f, 0.87890625f, 0.26171875f, -0.10546875f, -0.03515625f, 0};
    float y[8];
    ct_exec ex1 = ct_exec_serial();
    ct_bicubic_grid(&ex1, 1, 4, 1, x, 1, 8, 1.0, 2.0, y);
    for (int i = 0; i < 8; i++) CHECK(fabs(y[i] - want[i]) <= 1e-7, "impulse x2 [%d] = %.9g, want %.9g", i, y[i], want[i]);
    /* scale 1 is the identity, bit for bit */
    unsigned s = 5;
    float g[6 * 5 * 3], o[6 * 5 * 3];
    for (int q = 0; q < 90; q++) g[q] = rnd(&s);
    ct_bicubic_grid(&ex1, 6, 5, 3, g, 6, 5, 1.0, 1.0, o);
    CHECK(!memcmp(g, o, sizeof g), "scale 1 is not the identity");
}

static void bicubic_against_reference(void) {
    /* the position grid of a 14-grid model resized as the reference does: scale (h + 0.1) / 14 */
    const int sz[][4] = {{14, 14, 21, 20}, {14, 14, 7, 7}, {14, 14, 14, 14}, {7, 7, 24, 16}, {24, 24, 14, 33}, {1, 3, 2, 9}};
    unsigned s = 13;
    for (size_t k = 0; k < sizeof sz / sizeof *sz; k++) {
        int ih = sz[k][0], iw = sz[k][1], oh = sz[k][2], ow = sz[k][3], C = 5;
        double sh = (oh + 0.1) / ih, sw = (ow + 0.1) / iw;
        float *x = malloc(sizeof(float) * ih * iw * C), *y = malloc(sizeof(float) * oh * ow * C);
        for (int q = 0; q < ih * iw * C; q++) x[q] = rnd(&s);
        ct_exec ex = exec_n(1 + (int)(k % 3));
        ct_bicubic_grid(&ex, ih, iw, C, x, oh, ow, sh, sw, y);
        /* any thread count gives the same bits */
        float *y3 = malloc(sizeof(float) * oh * ow * C);
        ct_exec ex3 = exec_n(3), ex1b = ct_exec_serial();
        ct_bicubic_grid(&ex3, ih, iw, C, x, oh, ow, sh, sw, y3);
        CHECK(!memcmp(y, y3, sizeof(float) * oh * ow * C), "%dx%d -> %dx%d: 3 threads differ", ih, iw, oh, ow);
        ct_bicubic_grid(&ex1b, ih, iw, C, x, oh, ow, sh, sw, y3);
        CHECK(!memcmp(y, y3, sizeof(float) * oh * ow * C), "%dx%d -> %dx%d: 1 thread differs", ih, iw, oh, ow);
        free(y3);
        double worst = 0;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < C; c++) {
                    double d = fabs(y[((size_t)oy * ow + ox) * C + c] - bicubic_ref(x, ih, iw, C, sh, sw, oy, ox, c));
                    worst = d > worst || isnan(d) ? (isnan(d) ? INFINITY : d) : worst;
                }
        printf("  bicubic %dx%d -> %dx%d (scale %.4f, %.4f) max|d| %.2e\n", ih, iw, oh, ow, sh, sw, worst);
        CHECK(worst <= 2e-6, "%dx%d -> %dx%d: max|d| %g", ih, iw, oh, ow, worst);
        free(x); free(y);
    }
}

/* The matrix-kernel registry: every descriptor is whole (unique id, label, a CPU test that gives
 * a reason when it says no, blocking the driver can slice: KC even and, for tile kernels, whole
 * tiles of K per slice; an fp32 kernel beside it that exists and computes fp32), each kernel runs
 * or is skipped with its one-line reason, and the selection table's choice for each precision
 * runs on this CPU and computes that precision. (test_gemm runs every kernel against the fp32
 * reference on every shape class.) */
static void kernel_registry(void) {
    int n = ct_kernel_count(), runs = 0;
    CHECK(n >= 2, "the portable kernel and OpenBLAS at least");
    for (ct_kernel k = 0; k < n; k++) {
        const ct_kernel_desc *d = ct_kernel_get(k);
        CHECK(d && d->id && *d->id && d->label && *d->label, "kernel %d: incomplete descriptor", k);
        if (!d) continue;
        CHECK(ct_kernel_find(d->id) == k, "%s: id not unique", d->id);
        CHECK(d->kc > 0 && d->kc % 2 == 0 && d->mc_panels > 0 && d->nt_panels > 0 && d->pack.MR > 0 && d->pack.NR > 0, "%s: blocking", d->id);
        if (d->pack.kalign > 1) CHECK((d->pack.bf16 ? d->kc / 2 : d->kc) % d->pack.kalign == 0, "%s: a K slice is not whole tiles", d->id);
        CHECK(!d->pack.a_rows || d->pack.bf16, "%s: row-major A panels are packed as bf16 pairs", d->id);
        CHECK(!(d->pack.bf16 && d->pack.round), "%s: bf16 pairs are rounded already", d->id);
        CHECK((d->precision == CT_PRECISION_BF16) == (d->pack.bf16 || d->pack.round), "%s: precision and packing disagree", d->id);
        ct_kernel f = ct_kernel_fp32(k);
        CHECK(f != CT_KERNEL_NONE && ct_kernel_get(f)->precision == CT_PRECISION_FP32, "%s: its fp32 kernel '%s'", d->id, d->fp32);
        CHECK(!d->thread_begin == !d->thread_end, "%s: per-thread hooks come in pairs", d->id);
        const char *why = ct_kernel_missing(k);
        if (why) {
            CHECK(*why != 0 && !strchr(why, '\n'), "%s: the skip reason is one line", d->id);
            printf("  %s: skipped: %s\n", d->id, why);
        } else runs++;
    }
    CHECK(ct_kernel_find("no such kernel") == CT_KERNEL_NONE && ct_kernel_get(n) == NULL && ct_kernel_get(CT_KERNEL_NONE) == NULL, "lookups");
    CHECK(runs >= 2, "at least the portable kernel and OpenBLAS run");
    for (int p = 0; p < 2; p++) {
        ct_kernel k = ct_kernel_choose((ct_precision)p, CT_BACKEND_NATIVE);
        if (k == CT_KERNEL_NONE) {
            CHECK(p == CT_PRECISION_BF16 && !ct_cpu_has_avx512bf16(), "%s: no kernel chosen", ct_precision_name((ct_precision)p));
            continue;
        }
        CHECK(ct_kernel_available(k) && ct_kernel_get(k)->precision == (ct_precision)p && ct_kernel_get(k)->fn, "%s: chose %s",
              ct_precision_name((ct_precision)p), ct_kernel_get(k)->id);
        printf("  %s: %s (%s)\n", ct_precision_name((ct_precision)p), ct_kernel_get(k)->id, ct_kernel_why((ct_precision)p, CT_BACKEND_NATIVE));
    }
    ct_kernel b = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_OPENBLAS);
    CHECK(b != CT_KERNEL_NONE && ct_kernel_get(b)->fn == NULL, "the openblas backend");
    CHECK(ct_kernel_choose(CT_PRECISION_BF16, CT_BACKEND_OPENBLAS) == CT_KERNEL_NONE, "bf16 with OpenBLAS must be refused");
    /* the AMX kernel is chosen for bf16 exactly where AMX is granted */
    CHECK((ct_kernel_choose(CT_PRECISION_BF16, CT_BACKEND_NATIVE) == ct_kernel_find("amx_bf16")) == ct_cpu_has_amx_bf16(), "AMX choice");
}

/* The selection table on CPUs this test does not run on (it is a function of the CPU's vendor
 * and features): bf16 never on a kernel slower than fp32 there (Intel without AMX: fp32 FMAs on
 * rounded operands), AMX wherever granted, bf16 refused where no kernel computes it, the fused
 * attention off on Intel. */
static void selection_table(void) {
    const unsigned A2 = CT_FEAT_AVX2, A5 = A2 | CT_FEAT_AVX512, BF = A5 | CT_FEAT_AVX512BF16, AMX = BF | CT_FEAT_AMX_BF16;
    static const char *const none = "(none)";
    struct {
        const char *cpu;
        ct_cpu_facts f;
        const char *fp32, *bf16;
        int fused;
    } cases[] = {
        {"Intel Sapphire Rapids (AMX granted)", {CT_CPU_INTEL, AMX}, "avx512_f32", "amx_bf16", 0},
        {"Intel, AMX present but not granted", {CT_CPU_INTEL, BF}, "avx512_f32", "avx512_bf16r", 0},
        {"Intel Cooper Lake", {CT_CPU_INTEL, BF}, "avx512_f32", "avx512_bf16r", 0},
        {"Intel Ice Lake (AVX-512, no bf16)", {CT_CPU_INTEL, A5}, "avx512_f32", none, 0},
        {"AMD Zen 4", {CT_CPU_AMD, BF}, "avx512_f32", "avx512_bf16", 1},
        {"AMD Zen 3", {CT_CPU_AMD, A2}, "avx2_f32", none, 1},
        {"other, AVX-512F", {CT_CPU_OTHER, A5}, "avx512_f32", none, 1},
        {"baseline x86-64", {CT_CPU_OTHER, 0}, "portable_f32", none, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = NULL;
        ct_kernel k32 = ct_kernel_select(&cases[i].f, CT_PRECISION_FP32, CT_BACKEND_NATIVE, &why);
        ct_kernel kbf = ct_kernel_select(&cases[i].f, CT_PRECISION_BF16, CT_BACKEND_NATIVE, NULL);
        const char *n32 = k32 == CT_KERNEL_NONE ? none : ct_kernel_get(k32)->id, *nbf = kbf == CT_KERNEL_NONE ? none : ct_kernel_get(kbf)->id;
        CHECK(!strcmp(n32, cases[i].fp32) && !strcmp(nbf, cases[i].bf16), "%s: fp32 %s, bf16 %s (want %s, %s)", cases[i].cpu, n32, nbf,
              cases[i].fp32, cases[i].bf16);
        CHECK(why && *why, "%s: no reason given", cases[i].cpu);
        CHECK(ct_fused_attention_used(&cases[i].f) == cases[i].fused, "%s: fused attention %d", cases[i].cpu, !cases[i].fused);
        ct_kernel kb = ct_kernel_select(&cases[i].f, CT_PRECISION_FP32, CT_BACKEND_OPENBLAS, NULL);
        CHECK(kb != CT_KERNEL_NONE && !strcmp(ct_kernel_get(kb)->id, "openblas"), "%s: the openblas backend", cases[i].cpu);
        CHECK(ct_kernel_select(&cases[i].f, CT_PRECISION_BF16, CT_BACKEND_OPENBLAS, NULL) == CT_KERNEL_NONE, "%s: bf16 with OpenBLAS", cases[i].cpu);
    }
    /* this CPU: the table on its own facts is what the library chooses */
    ct_cpu_facts here = ct_cpu_facts_here();
    CHECK(ct_kernel_select(&here, CT_PRECISION_FP32, CT_BACKEND_NATIVE, NULL) == ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE), "here");
}

int main(void) {
    ct_error err;
    if (ct_runtime_new(3, &rt3, &err)) { CHECK(0, "runtime: %s", err.msg); DONE(); }
    RUN(kernel_registry);
    RUN(selection_table);
    RUN(layernorm_hand);
    RUN(layernorm_epsilon);
    RUN(layernorm_against_reference);
    RUN(softmax_hand);
    RUN(softmax_against_reference);
    RUN(l2norm);
    RUN(bilinear_hand);
    RUN(bilinear_against_reference);
    RUN(bicubic_hand);
    RUN(bicubic_against_reference);
    ct_runtime_free(rt3);
    DONE();
}
