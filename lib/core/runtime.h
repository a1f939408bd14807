/* The runtime: persistent worker threads that run one parallel region at a time.
 *
 * A region is a task fn(arg, team, tid, nth) run by nth threads at once (tid 0 is the caller);
 * inside it, threads may meet at ct_team_barrier and share work through ct_team_next counters.
 * Workers are started once (ct_runtime_new) and sleep between regions after a short spin, so a
 * forward pass with hundreds of regions creates no thread. Regions never nest: code running inside
 * a region is handed an exec of one thread. Two callers on one runtime take turns per region. */
#ifndef CT_CORE_RUNTIME_H
#define CT_CORE_RUNTIME_H

#include "core/internal.h"

#define CT_TEAM_COUNTERS 8

typedef struct ct_team ct_team;
typedef void (*ct_task_fn)(void *arg, ct_team *team, int tid, int nth);

/* Where a call runs: rt NULL or nth 1 means on the calling thread alone. */
typedef struct {
    ct_runtime *rt;
    int nth;
} ct_exec;

/* The exec of a call that asks for n_threads (<= 0: all) of a runtime (may be NULL). */
ct_exec ct_exec_for(ct_runtime *rt, int n_threads);
/* One thread: the caller. */
static inline ct_exec ct_exec_serial(void) { ct_exec e = {NULL, 1}; return e; }

/* Run fn on ex->nth threads and wait for all of them. */
void ct_run(const ct_exec *ex, ct_task_fn fn, void *arg);
/* Every thread of the team waits here until all have arrived. */
void ct_team_barrier(ct_team *t);
/* Next index of shared counter `slot` (0 .. CT_TEAM_COUNTERS-1), starting at 0 in every region;
 * fetch-and-add of `step`. A slot used after a barrier must not have been used before it. */
int64_t ct_team_next(ct_team *t, int slot, int64_t step);

/* Static split of [0, n) into nth contiguous ranges: range of thread tid. */
static inline void ct_split(int64_t n, int tid, int nth, int64_t *b, int64_t *e) {
    *b = n * tid / nth;
    *e = n * (tid + 1) / nth;
}

/* fn(arg, begin, end) over contiguous ranges of [0, n) on the exec's threads (a static split:
 * each index is processed exactly once and the split never changes a result). Small n (below
 * min_per_thread per thread) uses fewer threads. */
typedef void (*ct_range_fn)(void *arg, int64_t begin, int64_t end);
void ct_parallel_for(const ct_exec *ex, int64_t n, int64_t min_per_thread, ct_range_fn fn, void *arg);

/* Statistics of a runtime for tests: regions run and, per thread, tasks entered. */
typedef struct {
    uint64_t regions;
    uint64_t entered[64];
} ct_runtime_stats;
void ct_runtime_get_stats(const ct_runtime *rt, ct_runtime_stats *s);

/* "All cores": ct_cpu_count() (the CPUs this process may run on), at most CT_MAX_THREADS. */
int ct_default_threads(void);
#define CT_MAX_THREADS 256
/* A thread count of the API: 0 (all) to CT_MAX_THREADS, else CT_ERR_INVALID_ARG. */
ct_status ct_check_threads(int n_threads, ct_error *err);

#endif
