/* OpenBLAS, the reference backend of the matrix products (blas.c): loaded on first use, and only
 * called when the memory it will take is there (it never fails an allocation: it retries forever). */
#ifndef CT_NN_BLAS_H
#define CT_NN_BLAS_H

#include "core/internal.h"

/* NULL when OpenBLAS can run in this process now, else why not (a static string). */
const char *ct_blas_unavailable(void);

/* Row-major C [M x N] (ldc) = alpha op(A) op(B) + beta C, as cblas_sgemm. Returns 0 (and does
 * nothing) when OpenBLAS is not installed or the memory for its buffers is not available; *why
 * (if not NULL) then says which. */
int ct_blas_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc, const char **why);

#endif
