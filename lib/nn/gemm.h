/* Matrix products. One driver (gemm.c) over the registered micro-kernels (kernels/registry.c;
 * kernels/<arch>/, one directory per architecture):
 *
 *   fp32 AVX-512  14 x 32 register tile     bf16 AVX512_BF16  14 x 32, operands as bf16 pairs
 *   bf16 AMX      32 x 32 (2 x 2 tiles)     bf16 as fp32 FMAs on bf16-rounded operands, 14 x 32
 *   fp32 AVX2      6 x 16                   portable C         4 x 16
 *   OpenBLAS sgemm (reference backend, fp32 only)
 *
 * A product runs as one parallel region: every thread first packs its share of op(A) (and of
 * op(B) unless B is a weight packed once at first use) into MR-row / NR-column panels in the
 * call's workspace; after a barrier, tiles of C (MC rows x NT columns, taken from a shared
 * counter) are computed panel by panel, KC deep slice by slice (MR, NR, MC, KC, NT and the
 * packing are the kernel's descriptor's). Every element of C is summed in
 * the same order whatever the tiling or the thread count, so results do not depend on either.
 * Epilogues (bias, QuickGELU or exact GELU, accumulate into C) are applied to a tile in registers after its
 * last K slice. */
#ifndef CT_NN_GEMM_H
#define CT_NN_GEMM_H

#include "core/runtime.h"

#include <pthread.h>
#include <stdatomic.h>

/* A matrix kernel: an index into the registry (kernels/registry.c, one descriptor per kernel:
 * kernels/registry.h). */
typedef int ct_kernel;
#define CT_KERNEL_NONE (-1)

/* The kernel this CPU uses for a precision and backend, by the selection table (kernels/select.c);
 * CT_KERNEL_NONE when impossible (bf16 without AVX512_BF16 or AMX, bf16 with OpenBLAS). */
ct_kernel ct_kernel_choose(ct_precision p, ct_backend b);
/* why the table chose it (static string) */
const char *ct_kernel_why(ct_precision p, ct_backend b);
const char *ct_kernel_name(ct_kernel k); /* its label ("none" for CT_KERNEL_NONE) */
int ct_kernel_available(ct_kernel k);
/* NULL when this CPU runs k, else the one-line reason it does not */
const char *ct_kernel_missing(ct_kernel k);
/* the fp32 kernel used beside k for the parts kept in fp32 (k itself for an fp32 kernel) */
ct_kernel ct_kernel_fp32(ct_kernel k);
/* the fused attention kernels (kernels/x86_avx512/attn.c) that pair with k (none, fp32 or bf16),
 * and whether this CPU uses them (none where the unfused path, GEMM + softmax, is faster: the
 * selection table) */
enum { CT_FUSED_NONE = 0, CT_FUSED_F32 = 1, CT_FUSED_BF16 = 2 };
int ct_kernel_attention(ct_kernel k);
int ct_kernel_fused_attention(ct_kernel k);

/* How a call computes: its threads, its kernel family and its workspace. The workspace is one
 * block sized before the call's loop (ct_gemm_workspace): products never allocate when one is
 * given; without one they allocate their own (calls outside a forward pass). */
typedef struct {
    ct_exec ex;
    ct_kernel kernel;
    void *ws;        /* workspace, 64-byte aligned, or NULL */
    size_t ws_bytes;
} ct_nn;

/* Activations of the epilogue: QuickGELU x * sigmoid(1.702 x) (OpenAI's CLIP) and exact GELU
 * 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's nn.GELU(), open_clip's LAION / DFN / MetaCLIP models). */
enum { CT_ACT_NONE = 0, CT_ACT_QUICKGELU = 1, CT_ACT_GELU = 2 };

/* What happens to the product P = alpha * op(A) op(B): C = act(P + bias) + beta * C. act with a
 * non-zero beta is not supported. */
typedef struct {
    float alpha, beta;
    const float *bias; /* [N] or NULL */
    int act;
} ct_epilogue;

/* A weight matrix W [N x K] (rows are output features), used as B = W^T: y = x W^T. W may be given
 * as up to three row blocks (q, k, v projections stored apart). trans: one block [K x N] (y = x W).
 * Packing policy: the first product that uses a weight packs it into the call's workspace (a
 * one-shot process never pays for a second copy of the weights); from the second use on, a
 * persistent packed copy is made once, under the owner's lock, and the source pages of a mapped
 * file are released (mapped: they are re-read from the file if ever needed). */
typedef struct {
    const float *part[3];
    int part_rows[3];
    int n_parts;
    int N, K, trans;
    int mapped; /* the parts lie in a read-only file mapping */
    _Atomic(void *) packed;
    _Atomic int uses;
} ct_weight;

/* C [M x N] (ldc) = epilogue(op(A) op(B)). op(A) = A [M x K] (lda) or, transA, A^T with A
 * [K x M]; op(B) = B [K x N] or, transB, B^T with B [N x K]. These return 1, or 0 when the
 * memory they had to allocate (no workspace given, or too small) was not available. */
int ct_gemm(const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B,
            int ldb, const ct_epilogue *e, float *C, int ldc);

/* y [M x N] (ldy) = epilogue(x [M x K] (ldx) W^T). pack_lock: the owner's mutex for the
 * one-time packing of w (NULL: pack into the workspace for this call only). */
int ct_linear(const ct_nn *nn, int M, const float *x, int ldx, ct_weight *w, pthread_mutex_t *pack_lock,
               const ct_epilogue *e, float *y, int ldy);

/* C [N x N] (ldc) = alpha * X X^T for X [N x K] (ldx), a symmetric product: the tiles on and
 * above the diagonal are computed, the others mirrored (bitwise equal to the full product). */
int ct_gram(const ct_nn *nn, int N, int K, const float *X, int ldx, float alpha, float *C, int ldc);

/* Workspace bytes a product of M x N x K needs (packed_b: B is a packed weight), per kernel. */
size_t ct_gemm_workspace(ct_kernel k, int M, int N, int K, int packed_b);

/* Release a weight's packed form (the model frees it). */
void ct_weight_release(ct_weight *w);
/* Pack w persistently for kernel k now (normally done at its second use); 0 when out of memory. */
int ct_weight_pack(ct_weight *w, ct_kernel k, const ct_exec *ex, pthread_mutex_t *lock);

#endif
