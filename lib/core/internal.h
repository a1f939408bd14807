/* Internal helpers shared by the library's subsystems. Not installed. */
#ifndef CT_INTERNAL_H
#define CT_INTERNAL_H

#include "cliptrase.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CT_PRINTF(a, b)
#endif

/* Hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and chosen at load time from the
 * CPU (GCC/Clang function multiversioning); elsewhere they are plain functions. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CT_NO_CLONES)
#define CT_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CT_VECTOR_CLONES
#endif

/* Fill err (if not NULL) and return s. The message is formatted like printf. */
ct_status ct_fail(ct_error *err, ct_status s, const char *fmt, ...) CT_PRINTF(3, 4);
/* Prefix err's message (if err is not NULL) with "prefix: " and return s. */
ct_status ct_fail_prefix(ct_error *err, ct_status s, const char *prefix);
/* Mark err as success (status CT_OK, empty message). */
ct_status ct_ok(ct_error *err);

/* Overflow-checked size arithmetic: return false on overflow, leaving *out unspecified. */
static inline bool ct_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool ct_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
/* a*b*c elements of `elem` bytes; false on overflow. */
bool ct_size3(size_t a, size_t b, size_t c, size_t elem, size_t *out);

/* malloc of n*elem bytes with overflow check; NULL on failure (and on n == 0 gives 1 byte). */
void *ct_alloc(size_t n, size_t elem);
void *ct_calloc(size_t n, size_t elem);
/* A large block (packed weights, workspaces): 64-byte aligned, and from 4 MiB on aligned to 2 MiB
 * and offered to the kernel's transparent huge pages (madvise), which spares the TLB misses of
 * streaming hundreds of MiB through 4 KiB pages. Free with free(); NULL on failure. */
void *ct_alloc_large(size_t bytes);

/* CPU features (cpu.c): checked once, then constant. */
int ct_cpu_has_avx512(void);     /* AVX512F */
int ct_cpu_has_avx512bf16(void); /* AVX512F + AVX512_BF16 */
int ct_cpu_has_avx2(void);       /* AVX2 + FMA */
/* AMX bf16 usable: CPUID (amx_tile, amx_bf16), XCR0 (bits 17, 18) and Linux's tile-data
 * permission, asked once (arch_prctl) on the first call: call it before any tile instruction. */
int ct_cpu_has_amx_bf16(void);
const char *ct_cpu_amx_reason(void); /* why AMX is or is not used (static string) */
enum { CT_CPU_INTEL = 0, CT_CPU_AMD = 1, CT_CPU_OTHER = 2 };
int ct_cpu_vendor(void);
/* "cpu: amd, avx512f avx512bf16" (static string) */
const char *ct_cpu_describe(void);
/* ct_cpu_count (public) with the files it reads named: /proc/self/cgroup and the cgroup mount
 * (tests give files of their own). */
int ct_cpu_count_at(const char *proc_cgroup, const char *cgroup_root);

#endif
