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

/* CPU features a kernel may need */
enum { CT_FEAT_AVX2 = 1, CT_FEAT_AVX512 = 2, CT_FEAT_AVX512BF16 = 4, CT_FEAT_AMX_BF16 = 8 };

/* What the selection reads of a CPU: its vendor (CT_CPU_*) and features (CT_FEAT_*). */
typedef struct {
    int vendor;
    unsigned features;
} ct_cpu_facts;

typedef struct {
    const char *id;         /* short name, for overrides (CT_KERNEL=<id>) and listings */
    const char *label;      /* what ct-info and the reports print */
    ct_precision precision; /* what it computes: fp32, or bf16 (operands rounded to bf16, fp32 sums) */
    ct_pack_shape pack;     /* register tile MR x NR and how A and B are packed */
    int mc_panels, kc, nt_panels; /* blocking: tiles of mc_panels * MR rows x nt_panels * NR
                                     columns, K in slices of kc (even; for AMX a multiple of 32) */
    ct_ukernel_fn fn;       /* the micro-kernel; NULL: the product is OpenBLAS's sgemm */
    unsigned needs;         /* CPU features it needs (CT_FEAT_*): its CPU test */
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

/* the running CPU's facts (features as core/cpu.c finds them; AMX only when granted) */
ct_cpu_facts ct_cpu_facts_here(void);
/* The selection table (select.c) on given CPU facts: the kernel for a precision and backend and,
 * in *why (may be NULL), the rule's reason; CT_KERNEL_NONE when no kernel computes it there. And
 * whether the fused attention is used on such a CPU. Pure functions of their arguments: tests
 * check the table for CPUs they do not run on. */
ct_kernel ct_kernel_select(const ct_cpu_facts *cpu, ct_precision p, ct_backend b, const char **why);
int ct_fused_attention_used(const ct_cpu_facts *cpu);

/* ct_gemm (gram: ct_gram's symmetric product) with a descriptor given rather than nn->kernel:
 * for tests that run a kernel's packing and blocking on a micro-kernel of their own (test_amx
 * runs the AMX kernel's code on an emulated tile unit where the CPU has none). */
int ct_gemm_with(const ct_kernel_desc *d, const ct_nn *nn, int transA, int transB, int M, int N, int K, const float *A, int lda,
                 const float *B, int ldb, const ct_epilogue *e, float *C, int ldc, int gram);

#endif
