/* The exact (erf) GELU of DINO's and DINOv2's MLPs, as an elementwise pass after fc1 (CLIP's
 * QuickGELU is a GEMM epilogue). */
#include "core/internal.h"
#include "nn/ops.h"

#include <math.h>

typedef struct {
    float *x;
} gelu_job;

static void gelu_range(void *arg, int64_t i0, int64_t i1) {
    float *x = ((gelu_job *)arg)->x;
    for (int64_t i = i0; i < i1; i++) x[i] = 0.5f * x[i] * (1.f + erff(x[i] * 0.70710678118654752f));
}

void ct_gelu(const ct_exec *ex, size_t n, float *x) {
    gelu_job j = {x};
    ct_parallel_for(ex, (int64_t)n, 16384, gelu_range, &j);
}
