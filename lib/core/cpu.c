/* CPU features, from the compiler's CPUID cache (filled once by libgcc's constructor). */
#include "core/internal.h"

#include <stdio.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CT_X86 1
#endif

int ct_cpu_has_avx512(void) {
#ifdef CT_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int ct_cpu_has_avx512bf16(void) {
#ifdef CT_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

int ct_cpu_has_avx2(void) {
#ifdef CT_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

const char *ct_cpu_describe(void) {
    if (ct_cpu_has_avx512bf16()) return "cpu: avx512f avx512bf16";
    if (ct_cpu_has_avx512()) return "cpu: avx512f";
    if (ct_cpu_has_avx2()) return "cpu: avx2 fma";
    return "cpu: baseline";
}
