/* CPU features, from the compiler's CPUID cache (filled once by libgcc's constructor), and the
 * number of CPUs this process may run on (affinity mask, cgroup CPU quota). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
