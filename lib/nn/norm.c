/* Layer norm and L2 normalisation of rows. Sums are taken in double (as the references' fp32
 * results are closest to the exact mean and variance). */
#include "core/internal.h"
#include "nn/ops.h"

#include <math.h>

typedef struct {
    const float *x, *g, *b;
    float *y;
    int N, ldx, ldy;
    double eps;
} ln_job;

/* 16 explicit partial sums in double: the loops vectorise without reassociating a sum, so every
 * CPU clone computes the same bits */
CT_VECTOR_CLONES static void layernorm_row(const float *r, const float *g, const float *b, float *o, int N, double eps) {
    double ps[16] = {0}, pv[16] = {0};
    int n16 = N & ~15;
    for (int j = 0; j < n16; j += 16)
        for (int l = 0; l < 16; l++) ps[l] += r[j + l];
    double s = 0;
    for (int l = 0; l < 16; l++) s += ps[l];
    for (int j = n16; j < N; j++) s += r[j];
    float mean = (float)(s / N);
    for (int j = 0; j < n16; j += 16)
        for (int l = 0; l < 16; l++) {
            double d = r[j + l] - mean;
            pv[l] += d * d;
        }
    double v = 0;
    for (int l = 0; l < 16; l++) v += pv[l];
    for (int j = n16; j < N; j++) {
        double d = r[j] - mean;
        v += d * d;
    }
    float inv = (float)(1.0 / sqrt(v / N + eps));
    for (int j = 0; j < N; j++) o[j] = (r[j] - mean) * inv * g[j] + b[j];
}

static void layernorm_range(void *arg, int64_t r0, int64_t r1) {
    ln_job *j = arg;
    for (int64_t i = r0; i < r1; i++) layernorm_row(j->x + (size_t)i * j->ldx, j->g, j->b, j->y + (size_t)i * j->ldy, j->N, j->eps);
}

void ct_layernorm(const ct_exec *ex, int M, int N, const float *x, int ldx, const float *g, const float *b, float *y, int ldy) {
    ct_layernorm_eps(ex, M, N, x, ldx, g, b, y, ldy, 1e-5f);
}

void ct_layernorm_eps(const ct_exec *ex, int M, int N, const float *x, int ldx, const float *g, const float *b, float *y, int ldy,
                      float eps) {
    ln_job j = {x, g, b, y, N, ldx, ldy, (double)eps};
    /* about 16k elements per thread before splitting pays */
    ct_parallel_for(ex, M, 1 + 16384 / (N > 0 ? N : 1), layernorm_range, &j);
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
