/* CPU features, from the compiler's CPUID cache (filled once by libgcc's constructor). */
#include "core/internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* __builtin_cpu_supports takes a literal: one line per feature */
static int has(int f) {
    __builtin_cpu_init();
    switch (f) {
    case 0: return __builtin_cpu_supports("avx512f");
    case 1: return __builtin_cpu_supports("avx512bf16");
    case 2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return 0;
    }
}
#else
static int has(int f) { (void)f; return 0; }
#endif

int ct_cpu_has_avx512(void) { return has(0); }
int ct_cpu_has_avx512bf16(void) { return has(0) && has(1); }
int ct_cpu_has_avx2(void) { return has(2); }

const char *ct_cpu_describe(void) {
    if (ct_cpu_has_avx512bf16()) return "cpu: avx512f avx512bf16";
    if (ct_cpu_has_avx512()) return "cpu: avx512f";
    if (ct_cpu_has_avx2()) return "cpu: avx2 fma";
    return "cpu: baseline";
}
