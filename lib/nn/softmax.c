/* Softmax of rows (the unfused reference path and small rows; attention uses the fused kernel). */
#include "core/internal.h"
#include "nn/ops.h"

#include <math.h>

typedef struct {
    float *x;
    int N, ld;
} sm_job;

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
    if (mx == -INFINITY) { /* a fully masked row */
        for (int j = 0; j < N; j++) r[j] = 0.f;
        return;
    }
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
    sm_job *j = arg;
    for (int64_t i = r0; i < r1; i++) softmax_row(j->x + (size_t)i * j->ld, j->N);
}

void ct_softmax_rows(const ct_exec *ex, int M, int N, float *x, int ld) {
    sm_job j = {x, N, ld};
    ct_parallel_for(ex, M, 1 + 16384 / (N > 0 ? N : 1), softmax_range, &j);
}
