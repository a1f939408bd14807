/* The kernel registry: every matrix micro-kernel of the library, each described by one
 * descriptor (registry.c holds one line per kernel). The GEMM driver (gemm.c), the attention and
 * the Gram read these fields and nothing else, so a kernel is added by one file under
 * kernels/<arch>/ and one line in registry.c; the tests and benches iterate the registry.
 *
 * Which kernel runs on the running CPU is decided by the selection table (select.c), by CPU
 * vendor and features (docs/performance.md). */
#ifndef CT_NN_KERNELS_REGISTRY_H
#define CT_NN_KERNELS_REGISTRY_H

#include "nn/gemm.h"
#include "nn/kernels/ukernel.h"
#include "nn/pack.h"

typedef struct {
    const char *id;         /* short name, for overrides (CT_KERNEL=<id>) and listings */
    const char *label;      /* what ct-info and the reports print */
    ct_precision precision; /* what it computes: fp32, or bf16 (operands rounded to bf16, fp32 sums) */
    ct_pack_shape pack;     /* register tile MR x NR and how A and B are packed */
    int mc_panels, kc, nt_panels; /* blocking: tiles of mc_panels * MR rows x nt_panels * NR
                                     columns, K in slices of kc (even; for AMX a multiple of 32) */
    ct_ukernel_fn fn;       /* the micro-kernel; NULL: the product is OpenBLAS's sgemm */
    const char *(*missing)(void); /* NULL when this CPU runs it, else the one-line reason */
    const char *fp32;       /* id of the fp32 kernel used beside it (parts kept in fp32) */
    int attention;          /* the fused attention it pairs with (CT_FUSED_*) */
    void (*thread_begin)(void); /* per worker before its first tile (AMX: the tile configuration) */
    void (*thread_end)(void);   /* per worker after its last tile (AMX: tiles released) */
} ct_kernel_desc;

/* the registry (registry.c); NULL for an index out of range */
const ct_kernel_desc *ct_kernel_get(ct_kernel k);
int ct_kernel_count(void);
/* index of a kernel by id, or CT_KERNEL_NONE */
ct_kernel ct_kernel_find(const char *id);

/* ct_gemm (gram: ct_gram's symmetric product) with a descriptor given rather than nn->kernel:
 * for tests that run a kernel's packing and blocking on a micro-kernel of their own (test_amx
 * runs the AMX kernel's code on an emulated tile unit where the CPU has none). */
int ct_gemm_with(const ct_kernel_desc *d, const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, const ct_epilogue *e, float *C, int ldc, int gram);

#endif
