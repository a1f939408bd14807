/* GEMM kernels behind ct_gemm (ops.h): OpenBLAS, or the library's AVX-512 kernel. */
#ifndef CT_GEMM_H
#define CT_GEMM_H

enum { CT_GEMM_BLAS = 0, CT_GEMM_AVX512 = 1, CT_GEMM_BF16 = 2 };

/* The kernel in use: CT_KERNEL=blas forces OpenBLAS, CT_KERNEL=bf16 opts into the bfloat16
 * kernel (CPUs with AVX512_BF16); otherwise the fp32 AVX-512 kernel when the CPU has it. */
int ct_gemm_kernel(void);
const char *ct_gemm_kernel_name(int kernel);
int ct_gemm_avx512_available(void);
int ct_gemm_bf16_available(void);
/* Tests only: switch the kernel for the whole process (not thread-safe against running calls). */
void ct_gemm_set_kernel(int kernel);

/* Row-major C[M x N] = alpha op(A) op(B) + beta C (same contract as ct_gemm). Returns 0 when
 * the kernel is unavailable or out of memory (the caller then uses BLAS). */
int ct_gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc, int n_threads);

#endif
