/* The runtime (lib/core/runtime.h): worker threads, regions, barriers, shared counters, the
 * parallel loop and the statistics, for thread counts above the machine's cores too. Also run
 * under ThreadSanitizer (make tsan): the data the threads exchange through barriers and region
 * boundaries is plain memory, so a missing happens-before edge is reported as a race. */
#include "harness.h"
#include "core/runtime.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static void runtime_arguments(void) {
    ct_runtime *rt = (ct_runtime *)&rt; /* must stay untouched on failure */
    ct_error err;
    CHECK(ct_runtime_new(-1, &rt, &err) == CT_ERR_INVALID_ARG && rt == (ct_runtime *)&rt, "-1 threads");
    CHECK(ct_runtime_new(CT_MAX_THREADS + 1, &rt, &err) == CT_ERR_INVALID_ARG && rt == (ct_runtime *)&rt, "too many threads");
    CHECK(ct_runtime_new(2, NULL, &err) == CT_ERR_INVALID_ARG, "NULL out");
    CHECK(ct_runtime_threads(NULL) == 0, "threads of NULL");
    CHECK(ct_runtime_new(0, &rt, &err) == CT_OK, "%s", err.msg);
    CHECK(ct_runtime_threads(rt) == ct_default_threads(), "0 threads = all cores: %d, cores %d", ct_runtime_threads(rt), ct_default_threads());
    ct_runtime_free(rt);
    ct_runtime_free(NULL);
    for (int n = 1; n <= 6; n++) {
        CHECK(ct_runtime_new(n, &rt, &err) == CT_OK, "%s", err.msg);
        CHECK(ct_runtime_threads(rt) == n, "%d threads asked, %d started", n, ct_runtime_threads(rt));
        ct_exec e0 = ct_exec_for(rt, 0), e9 = ct_exec_for(rt, 9), e1 = ct_exec_for(rt, 1);
        CHECK(e0.nth == n && e9.nth == n && e1.nth == 1 && e0.rt == rt, "exec of %d threads: %d %d %d", n, e0.nth, e9.nth, e1.nth);
        ct_runtime_free(rt);
    }
    ct_exec s = ct_exec_for(NULL, 5);
    CHECK(s.rt == NULL && s.nth == 1, "no runtime: serial");
}

/* ---------------------------------------------------------------- all cores (issue 18, item 3) */

static int affinity_now(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

static void write_at(const char *dir, const char *rel, const char *text) {
    char p[1200], cmd[1400];
    FMT(p, "%s/%s", dir, rel);
    FMT(cmd, "mkdir -p \"$(dirname '%s')\"", p);
    CHECK(system(cmd) == 0, "%s", cmd);
    FILE *f = fopen(p, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", p);
}

/* "All cores" is the affinity mask (a forked child restricted to one CPU sees 1, and so does a
 * runtime of 0 threads), bounded by a cgroup CPU quota (v2 cpu.max, v1 cfs_quota_us, the
 * tightest of the cgroup and its ancestors, ceil(quota / period)): files of our own. */
static void all_cores_follow_affinity_and_quota(void) {
    int aff = affinity_now();
    CHECK(aff >= 1, "sched_getaffinity");
    char none[700];
    FMT(none, "%s/none", t_tmpdir());
    CHECK(ct_cpu_count_at(none, none) == aff, "no cgroup files: %d, affinity %d", ct_cpu_count_at(none, none), aff);
    CHECK(ct_cpu_count() >= 1 && ct_cpu_count() <= aff, "ct_cpu_count %d outside [1, affinity %d]", ct_cpu_count(), aff);
    /* cgroup v2: /a/b unlimited, its parent /a at 1.5 CPUs (ceil: 2), the root unlimited */
    char root[700], pc[700];
    FMT(root, "%s/cg2", t_tmpdir());
    FMT(pc, "%s/cgroup", root);
    write_at(root, "cgroup", "0::/a/b\n");
    write_at(root, "fs/a/b/cpu.max", "max 100000\n");
    write_at(root, "fs/a/cpu.max", "150000 100000\n");
    write_at(root, "fs/cpu.max", "max 100000\n");
    char fs[800];
    FMT(fs, "%s/fs", root);
    int want = aff < 2 ? aff : 2;
    CHECK(ct_cpu_count_at(pc, fs) == want, "v2 quota 1.5 CPUs in a parent: %d, expected %d", ct_cpu_count_at(pc, fs), want);
    write_at(root, "fs/a/b/cpu.max", "50000 100000\n");
    CHECK(ct_cpu_count_at(pc, fs) == 1, "v2 quota 0.5 CPU: %d, expected 1", ct_cpu_count_at(pc, fs));
    write_at(root, "fs/a/b/cpu.max", "max 100000\n");
    write_at(root, "fs/a/cpu.max", "max 100000\n");
    CHECK(ct_cpu_count_at(pc, fs) == aff, "v2 no quota: %d, expected %d", ct_cpu_count_at(pc, fs), aff);
    /* cgroup v1: the cpu controller's cfs quota (-1: none) */
    FMT(root, "%s/cg1", t_tmpdir());
    FMT(pc, "%s/cgroup", root);
    FMT(fs, "%s/fs", root);
    write_at(root, "cgroup", "12:memory:/job\n4:cpu,cpuacct:/job\n1:name=systemd:/job\n");
    write_at(root, "fs/cpu,cpuacct/job/cpu.cfs_quota_us", "100000\n");
    write_at(root, "fs/cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
    CHECK(ct_cpu_count_at(pc, fs) == 1, "v1 quota 1 CPU: %d", ct_cpu_count_at(pc, fs));
    write_at(root, "fs/cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n");
    CHECK(ct_cpu_count_at(pc, fs) == aff, "v1 no quota: %d, expected %d", ct_cpu_count_at(pc, fs), aff);
    /* the affinity mask, in a child restricted to its first CPU */
    if (aff < 2) SKIP("one CPU in the affinity mask: a restriction cannot be told apart");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        cpu_set_t set, one;
        CPU_ZERO(&one);
        if (sched_getaffinity(0, sizeof set, &set) != 0) _exit(10);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) { CPU_SET(c, &one); break; }
        if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(11);
        ct_runtime *rt;
        if (ct_runtime_new(0, &rt, NULL)) _exit(12);
        int n = ct_runtime_threads(rt);
        ct_runtime_free(rt);
        _exit(ct_cpu_count() != 1 ? 1 : n != 1 ? 2 : 0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child");
    CHECK(WEXITSTATUS(st) == 0, "under a one-CPU affinity mask: %s", WEXITSTATUS(st) == 1 ? "ct_cpu_count is not 1" : WEXITSTATUS(st) == 2 ? "a runtime of 0 threads has more than 1" : "setup failed");
}

/* ---------------------------------------------------------------- parallel loop */

typedef struct {
    int64_t n;
    _Atomic int *count; /* [n + 2]: guards at both ends */
    _Atomic int calls, bad_range;
} pfor_arg;

static void pfor_body(void *p, int64_t b, int64_t e) {
    pfor_arg *a = p;
    atomic_fetch_add(&a->calls, 1);
    if (b < 0 || e > a->n || b >= e) { atomic_fetch_add(&a->bad_range, 1); return; }
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&a->count[i + 1], 1);
}

static void parallel_for_covers_each_index_once(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(5, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    const int64_t ns[] = {0, 1, 2, 3, 4, 5, 6, 7, 63, 64, 65, 1000, 4097};
    const int64_t mins[] = {0, 1, 2, 7, 1000};
    int cases = 0;
    for (int nth = 0; nth <= 5; nth++) /* nth 0: a NULL exec */
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
            for (size_t q = 0; q < sizeof mins / sizeof *mins; q++) {
                int64_t n = ns[k], mpt = mins[q];
                pfor_arg a = {n, calloc((size_t)n + 2, sizeof(_Atomic int)), 0, 0};
                ct_exec ex = ct_exec_for(rt, nth);
                ct_parallel_for(nth ? &ex : NULL, n, mpt, pfor_body, &a);
                int once = 1;
                for (int64_t i = 0; i < n; i++) once &= atomic_load(&a.count[i + 1]) == 1;
                int64_t most = mpt > 1 ? n / mpt : n; /* ranges: at most n / min_per_thread, >= 1 */
                if (most < 1) most = 1;
                int calls = atomic_load(&a.calls), limit = nth ? (most < nth ? (int)most : nth) : 1;
                CHECK(once, "nth %d, n %lld, min %lld: an index not covered exactly once", nth, (long long)n, (long long)mpt);
                CHECK(!atomic_load(&a.count[0]) && !atomic_load(&a.count[n + 1]), "nth %d, n %lld: outside [0, n)", nth, (long long)n);
                CHECK(!atomic_load(&a.bad_range), "nth %d, n %lld: an empty or out-of-range range", nth, (long long)n);
                CHECK(n == 0 ? calls == 0 : calls >= 1 && calls <= limit, "nth %d, n %lld, min %lld: %d ranges (at most %d)", nth, (long long)n,
                      (long long)mpt, calls, limit);
                free(a.count);
                cases++;
            }
    printf("  %d combinations of thread count, n and minimum per thread\n", cases);
    ct_runtime_free(rt);
}

/* ---------------------------------------------------------------- barriers and counters */

#define ROUNDS 200

typedef struct {
    int slot[8];   /* plain memory: written before a barrier, read after it */
    int errors[8]; /* per thread */
    int nth_seen[8];
} barrier_arg;

static void barrier_task(void *p, ct_team *team, int tid, int nth) {
    barrier_arg *a = p;
    a->nth_seen[tid] = nth;
    for (int r = 1; r <= ROUNDS; r++) {
        a->slot[tid] = r * 10 + tid;
        ct_team_barrier(team);
        for (int t = 0; t < nth; t++) a->errors[tid] += a->slot[t] != r * 10 + t;
        ct_team_barrier(team); /* nobody writes round r + 1 before everyone has read round r */
    }
}

static void run_barriers(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(4, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    for (int nth = 1; nth <= 4; nth++) {
        barrier_arg a;
        memset(&a, 0, sizeof a);
        ct_exec ex = ct_exec_for(rt, nth);
        ct_run(&ex, barrier_task, &a);
        int errors = 0;
        for (int t = 0; t < nth; t++) {
            errors += a.errors[t];
            CHECK(a.nth_seen[t] == nth, "thread %d saw nth %d, want %d", t, a.nth_seen[t], nth);
        }
        for (int t = nth; t < 8; t++) CHECK(a.nth_seen[t] == 0, "thread %d ran in a region of %d threads", t, nth);
        CHECK(errors == 0, "%d threads: %d stale reads after barriers", nth, errors);
    }
    ct_runtime_free(rt);
}

#define CLAIMS 5000

typedef struct {
    _Atomic int claimed[CT_TEAM_COUNTERS][CLAIMS];
    _Atomic int64_t first[CT_TEAM_COUNTERS]; /* smallest value a slot returned */
} next_arg;

/* slots 0 .. 3 before a barrier, 4 .. 7 after it; steps differ per slot */
static void next_task(void *p, ct_team *team, int tid, int nth) {
    (void)tid; (void)nth;
    next_arg *a = p;
    for (int half = 0; half < 2; half++) {
        for (int s = half * CT_TEAM_COUNTERS / 2; s < (half + 1) * CT_TEAM_COUNTERS / 2; s++) {
            int64_t step = 1 + s;
            for (int64_t i; (i = ct_team_next(team, s, step)) < CLAIMS;) {
                int64_t lo = atomic_load(&a->first[s]);
                while (i < lo && !atomic_compare_exchange_weak(&a->first[s], &lo, i)) {}
                for (int64_t j = i; j < i + step && j < CLAIMS; j++) atomic_fetch_add(&a->claimed[s][j], 1);
            }
        }
        ct_team_barrier(team);
    }
}

static void team_counters(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(4, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    next_arg *a = malloc(sizeof *a);
    for (int nth = 1; nth <= 4; nth++)
        for (int region = 0; region < 3; region++) { /* counters start at 0 in every region */
            for (int s = 0; s < CT_TEAM_COUNTERS; s++) {
                atomic_store(&a->first[s], INT64_MAX);
                for (int j = 0; j < CLAIMS; j++) atomic_store(&a->claimed[s][j], 0);
            }
            ct_exec ex = ct_exec_for(rt, nth);
            ct_run(&ex, next_task, a);
            for (int s = 0; s < CT_TEAM_COUNTERS; s++) {
                int once = 1;
                for (int j = 0; j < CLAIMS; j++) once &= atomic_load(&a->claimed[s][j]) == 1;
                CHECK(once, "%d threads, region %d, slot %d: an index not claimed exactly once", nth, region, s);
                CHECK(atomic_load(&a->first[s]) == 0, "%d threads, region %d, slot %d starts at %lld", nth, region, s,
                      (long long)atomic_load(&a->first[s]));
            }
        }
    free(a);
    ct_runtime_free(rt);
}

/* ---------------------------------------------------------------- regions */

typedef struct {
    int hits[8]; /* plain memory: each thread writes its own entry; read after ct_run returns */
    int nth_seen;
    int64_t sum[8];
    const int *data;
    int n;
} region_arg;

static void region_task(void *p, ct_team *team, int tid, int nth) {
    (void)team;
    region_arg *a = p;
    a->hits[tid]++;
    if (tid == 0) a->nth_seen = nth;
    int64_t b, e, s = 0;
    ct_split(a->n, tid, nth, &b, &e);
    for (int64_t i = b; i < e; i++) s += a->data[i];
    a->sum[tid] = s;
}

/* one region over data[0 .. n) on ex: *a as the threads left it; returns the total of the sums */
static int64_t run_region(const ct_exec *ex, const int *data, int n, region_arg *a) {
    memset(a, 0, sizeof *a);
    a->data = data;
    a->n = n;
    ct_run(ex, region_task, a);
    int64_t s = 0;
    for (int t = 0; t < 8; t++) s += a->sum[t];
    return s;
}

typedef struct {
    ct_runtime *rt;
    int nth, regions, errors;
    int data[1000];
} caller;

static void *call_many(void *p) {
    caller *c = p;
    ct_exec ex = ct_exec_for(c->rt, c->nth);
    int64_t want = 0;
    for (int i = 0; i < 1000; i++) want += c->data[i];
    for (int r = 0; r < c->regions; r++) {
        region_arg a;
        int64_t s = run_region(&ex, c->data, 1000, &a);
        int ok = a.nth_seen == c->nth;
        for (int t = 0; t < 8; t++) ok &= a.hits[t] == (t < c->nth);
        c->errors += !ok || s != want;
    }
    return NULL;
}

/* two threads run regions of different sizes on one runtime at once: each region sees its own
 * argument and thread count, every thread of it exactly once */
static void two_callers_one_runtime(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(3, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    static caller c[2];
    c[0].rt = c[1].rt = rt;
    c[0].nth = 3;
    c[1].nth = 2;
    for (int k = 0; k < 2; k++) {
        c[k].regions = getenv("CT_SANITIZER") ? 60 : 200; /* 2 cores: contention is slow */
        c[k].errors = 0;
        for (int i = 0; i < 1000; i++) c[k].data[i] = (k + 1) * i;
    }
    ct_runtime_stats before, after;
    ct_runtime_get_stats(rt, &before);
    pthread_t th[2];
    for (int k = 0; k < 2; k++) CHECK(pthread_create(&th[k], NULL, call_many, &c[k]) == 0, "pthread_create");
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    ct_runtime_get_stats(rt, &after);
    CHECK(c[0].errors == 0 && c[1].errors == 0, "regions with a wrong result: %d and %d", c[0].errors, c[1].errors);
    uint64_t total = (uint64_t)c[0].regions + (uint64_t)c[1].regions;
    CHECK(after.regions - before.regions == total, "%llu regions counted, %llu run", (unsigned long long)(after.regions - before.regions),
          (unsigned long long)total);
    CHECK(after.entered[0] - before.entered[0] == total && after.entered[1] - before.entered[1] == total &&
              after.entered[2] - before.entered[2] == (uint64_t)c[0].regions,
          "threads entered: %llu %llu %llu", (unsigned long long)(after.entered[0] - before.entered[0]),
          (unsigned long long)(after.entered[1] - before.entered[1]), (unsigned long long)(after.entered[2] - before.entered[2]));
    ct_runtime_free(rt);
}

/* a region of fewer threads than the runtime has enters only those; the statistics count regions
 * and entries per thread; serial execs never touch the runtime */
static void fewer_threads_and_stats(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(4, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    int data[100];
    for (int i = 0; i < 100; i++) data[i] = i;
    ct_runtime_stats s0, s1;
    ct_runtime_get_stats(rt, &s0);
    CHECK(s0.regions == 0, "a new runtime has run %llu regions", (unsigned long long)s0.regions);
    const int plan[] = {2, 2, 3, 1, 4, 2};
    uint64_t want[4] = {0}, regions = 0;
    for (size_t k = 0; k < sizeof plan / sizeof *plan; k++) {
        region_arg a;
        ct_exec ex = ct_exec_for(rt, plan[k]);
        int64_t s = run_region(&ex, data, 100, &a);
        for (int t = 0; t < 8; t++)
            CHECK(a.hits[t] == (t < plan[k]), "region of %d threads: thread %d entered %d times", plan[k], t, a.hits[t]);
        CHECK(a.nth_seen == plan[k] && s == 4950, "region of %d threads: nth %d, sum %lld", plan[k], a.nth_seen, (long long)s);
        if (plan[k] > 1) {
            regions++;
            for (int t = 0; t < plan[k]; t++) want[t]++;
        }
    }
    ct_runtime_get_stats(rt, &s1);
    CHECK(s1.regions == regions, "regions %llu, want %llu", (unsigned long long)s1.regions, (unsigned long long)regions);
    for (int t = 0; t < 4; t++)
        CHECK(s1.entered[t] == want[t], "thread %d entered %llu regions, want %llu", t, (unsigned long long)s1.entered[t], (unsigned long long)want[t]);
    for (int t = 4; t < 64; t++) CHECK(s1.entered[t] == 0, "thread %d of a 4-thread runtime entered", t);
    ct_runtime_get_stats(NULL, &s1);
    CHECK(s1.regions == 0 && s1.entered[0] == 0, "stats of no runtime are zero");
    ct_runtime_free(rt);
}

/* workers that went to sleep between regions wake up for the next one */
static void regions_after_sleep(void) {
    ct_runtime *rt;
    ct_error err;
    if (ct_runtime_new(3, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
    int data[30];
    for (int i = 0; i < 30; i++) data[i] = 1;
    for (int k = 0; k < 4; k++) {
        usleep(30000); /* well past the spin before sleeping */
        region_arg a;
        ct_exec ex = ct_exec_for(rt, 0);
        int64_t s = run_region(&ex, data, 30, &a);
        CHECK(a.hits[0] == 1 && a.hits[1] == 1 && a.hits[2] == 1 && a.sum[0] + a.sum[1] + a.sum[2] == 30 && s == 30, "region %d after a sleep", k);
    }
    ct_runtime_free(rt);
}

/* runtimes started and freed back to back, with and without a region */
static void start_and_free(void) {
    for (int k = 0; k < 20; k++) {
        ct_runtime *rt;
        ct_error err;
        if (ct_runtime_new(1 + k % 4, &rt, &err)) { CHECK(0, "%s", err.msg); return; }
        if (k % 2) {
            int data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
            region_arg a;
            ct_exec ex = ct_exec_for(rt, 0);
            int64_t s = run_region(&ex, data, 10, &a);
            CHECK(s == 55, "runtime %d: sum %lld", k, (long long)s);
        }
        ct_runtime_free(rt);
    }
}

int main(void) {
    RUN(runtime_arguments);
    RUN(all_cores_follow_affinity_and_quota);
    RUN(parallel_for_covers_each_index_once);
    RUN(run_barriers);
    RUN(team_counters);
    RUN(two_callers_one_runtime);
    RUN(fewer_threads_and_stats);
    RUN(regions_after_sleep);
    RUN(start_and_free);
    DONE();
}
