/* CPU features, from the compiler's CPUID cache (filled once by libgcc's constructor), and the
 * AMX state the kernel grants (CPUID, XCR0 and the per-process permission request), and the number
 * of CPUs this process may run on (affinity mask, cgroup CPU quota). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------ the threads we may run on */

/* The CPUs of the affinity mask (a set sized for any CPU count), at least 1. */
static int affinity_count(void) {
    for (size_t ncpu = 1024; ncpu <= ((size_t)1 << 20); ncpu *= 4) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set) return 1;
        size_t sz = CPU_ALLOC_SIZE(ncpu);
        CPU_ZERO_S(sz, set);
        if (sched_getaffinity(0, sz, set) == 0) {
            int n = CPU_COUNT_S(sz, set);
            CPU_FREE(set);
            return n > 0 ? n : 1;
        }
        CPU_FREE(set);
        if (errno != EINVAL) break;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < INT_MAX ? (int)n : 1;
}

/* The first line of a small file into buf; 0 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    return ok;
}

/* ceil(quota / period) from two numbers; 0 for "no limit" or nonsense */
static long quota_cpus(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return 0;
    long long n = (quota + period - 1) / period;
    return n > INT_MAX ? INT_MAX : (long)n;
}

/* The tightest CPU quota of the cgroup `rel` (a path from /proc/self/cgroup) and of its ancestors
 * under `mount`: v2 reads cpu.max ("max 100000" or "QUOTA PERIOD"), v1 cpu.cfs_quota_us and
 * cpu.cfs_period_us (-1: no limit). A path the mount does not show (a cgroup namespace) is
 * tried at the mount's root. 0 when there is no limit. */
static long cgroup_quota(const char *mount, const char *rel, int v2) {
    char path[8192], a[128], b[128];
    long best = 0;
    char cur[2048];
    snprintf(cur, sizeof cur, "%s", rel);
    for (;;) {
        long q = 0;
        if (v2) {
            snprintf(path, sizeof path, "%s%s/cpu.max", mount, cur);
            long long quota, period;
            if (read_line(path, a, sizeof a) && strncmp(a, "max", 3) && sscanf(a, "%lld %lld", &quota, &period) == 2) q = quota_cpus(quota, period);
        } else {
            long long quota, period;
            snprintf(path, sizeof path, "%s%s/cpu.cfs_quota_us", mount, cur);
            int ok = read_line(path, a, sizeof a);
            snprintf(path, sizeof path, "%s%s/cpu.cfs_period_us", mount, cur);
            if (ok && read_line(path, b, sizeof b) && sscanf(a, "%lld", &quota) == 1 && sscanf(b, "%lld", &period) == 1) q = quota_cpus(quota, period);
        }
        if (q > 0 && (best == 0 || q < best)) best = q;
        char *slash = strrchr(cur, '/');
        if (!slash || !cur[0] || (slash == cur && !cur[1])) break;
        if (slash == cur) cur[1] = 0; /* "/x" -> "/" */
        else *slash = 0;
    }
    return best;
}

int ct_cpu_count_at(const char *proc_cgroup, const char *cgroup_root) {
    int n = affinity_count();
    FILE *f = fopen(proc_cgroup, "re");
    long limit = 0;
    char line[4096], mount[4096];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        /* "ID:CONTROLLERS:PATH": v2 is "0::PATH"; v1's CPU controller lists "cpu" */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = 0;
        const char *ctl = c1 + 1, *rel = c2 + 1;
        long q = 0;
        if (!strcmp(line, "0") && !*ctl) {
            snprintf(mount, sizeof mount, "%s", cgroup_root);
            q = cgroup_quota(mount, rel, 1);
        } else {
            int cpu = 0;
            char ctls[256];
            snprintf(ctls, sizeof ctls, "%s", ctl);
            for (char *save, *t = strtok_r(ctls, ",", &save); t; t = strtok_r(NULL, ",", &save)) cpu |= !strcmp(t, "cpu");
            if (!cpu) continue;
            const char *dirs[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu"};
            for (int k = 0; k < 3 && !q; k++) {
                snprintf(mount, sizeof mount, "%s/%s", cgroup_root, dirs[k]);
                q = cgroup_quota(mount, rel, 0);
            }
        }
        if (q > 0 && (limit == 0 || q < limit)) limit = q;
    }
    if (f) fclose(f);
    if (limit > 0 && limit < n) n = (int)limit;
    return n < 1 ? 1 : n;
}

int ct_cpu_count(void) { return ct_cpu_count_at("/proc/self/cgroup", "/sys/fs/cgroup"); }
