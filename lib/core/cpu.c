/* CPU features, from the compiler's CPUID cache (filled once by libgcc's constructor), and the
 * AMX state the kernel grants (CPUID, XCR0 and the per-process permission request). */
#include "core/internal.h"

#include <pthread.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

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

#define ARCH_REQ_XCOMP_PERM 0x1023 /* Linux 5.16+: asm/prctl.h */
#define XFEATURE_XTILEDATA 18

static int amx_state; /* 1 usable; else 0 (written once under amx_once) */
static const char *amx_why = "not checked";
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

/* AMX is used only when all three say yes: CPUID.(7,0):EDX has AMX-TILE (bit 24) and AMX-BF16
 * (bit 22); the OS enabled the tile state in XCR0 (bits 17 XTILECFG and 18 XTILEDATA, read with
 * XGETBV where CPUID.1:ECX.OSXSAVE says it may be); and Linux grants this process the tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM), which must happen before the first tile instruction. */
static void amx_check(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22))) {
        amx_why = "no AMX on this CPU (amx_bf16)";
        return;
    }
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) {
        amx_why = "AMX present, but the OS does not enable XSAVE (OSXSAVE)";
        return;
    }
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) {
        amx_why = "AMX present, but the OS does not enable the tile state (XCR0 bits 17, 18)";
        return;
    }
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
        amx_why = "AMX present, but the kernel refused the tile data permission (arch_prctl)";
        return;
    }
    amx_why = "amx_tile, amx_bf16, XCR0 and the tile permission";
    amx_state = 1;
}

static int vendor(void) {
    __builtin_cpu_init();
    return __builtin_cpu_is("intel") ? CT_CPU_INTEL : __builtin_cpu_is("amd") ? CT_CPU_AMD : CT_CPU_OTHER;
}
#else
static int has(int f) { (void)f; return 0; }
static int amx_state;
static const char *amx_why = "no AMX on this CPU (amx_bf16)";
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static void amx_check(void) {}
static int vendor(void) { return CT_CPU_OTHER; }
#endif

int ct_cpu_has_avx512(void) { return has(0); }
int ct_cpu_has_avx512bf16(void) { return has(0) && has(1); }
int ct_cpu_has_avx2(void) { return has(2); }
int ct_cpu_has_amx_bf16(void) {
    pthread_once(&amx_once, amx_check);
    return amx_state && has(0) && has(1);
}
const char *ct_cpu_amx_reason(void) {
    pthread_once(&amx_once, amx_check);
    return amx_why;
}
int ct_cpu_vendor(void) { return vendor(); }

const char *ct_cpu_describe(void) {
    int lvl = ct_cpu_has_amx_bf16() ? 4 : ct_cpu_has_avx512bf16() ? 3 : ct_cpu_has_avx512() ? 2 : ct_cpu_has_avx2() ? 1 : 0;
    static const char *const names[3][5] = {
        {"cpu: intel, baseline", "cpu: intel, avx2 fma", "cpu: intel, avx512f", "cpu: intel, avx512f avx512bf16",
         "cpu: intel, avx512f avx512bf16 amx_bf16"},
        {"cpu: amd, baseline", "cpu: amd, avx2 fma", "cpu: amd, avx512f", "cpu: amd, avx512f avx512bf16", "cpu: amd, avx512f avx512bf16 amx_bf16"},
        {"cpu: baseline", "cpu: avx2 fma", "cpu: avx512f", "cpu: avx512f avx512bf16", "cpu: avx512f avx512bf16 amx_bf16"}};
    return names[ct_cpu_vendor()][lvl];
}
