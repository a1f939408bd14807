/* Worker threads: one region at a time, a spin-then-sleep wait between regions, a counting
 * barrier inside them. See runtime.h. */
#include "core/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CT_PAUSE() _mm_pause()
#else
#define CT_PAUSE() ((void)0)
#endif

/* Spins before a waiting worker sleeps: long enough to bridge the serial work between the
 * regions of a forward pass (~100 us), short enough not to hold a core for an idle model. */
#define SPIN_BEFORE_SLEEP 50000
#define SPIN_BEFORE_YIELD 4000

struct ct_team {
    _Atomic int count;
    _Atomic int phase;
    int nth;
    _Atomic int64_t next[CT_TEAM_COUNTERS];
};

typedef struct {
    ct_runtime *rt;
    int tid;
} worker_arg;

struct ct_runtime {
    _Atomic pid_t pid;         /* the process whose workers these are (a forked child restarts them) */
    atomic_flag restarting;    /* held while a forked child restarts the workers */
    int want;                  /* threads asked for (resolved) */
    int n;                     /* threads including the caller */
    int started;               /* workers actually running (n - 1 unless creation failed) */
    pthread_t *th;
    worker_arg *wa;
    pthread_mutex_t region;    /* one region at a time */
    pthread_mutex_t sleep_mx;  /* guards sleeping workers and the condition */
    pthread_cond_t wake;
    _Atomic int sleepers;
    _Atomic uint64_t gen;      /* bumped to start a region */
    _Atomic int pending;       /* workers that have not finished the current region */
    _Atomic int stop;
    /* the current region (written under `region`, read by workers after seeing gen) */
    ct_task_fn fn;
    void *arg;
    int nth;
    ct_team team;
    _Atomic uint64_t regions;
    _Atomic uint64_t entered[64];
};

int ct_default_threads(void) {
    int n = ct_cpu_count();
    return n > CT_MAX_THREADS ? CT_MAX_THREADS : n;
}

static void team_reset(ct_team *t, int nth) {
    atomic_store_explicit(&t->count, 0, memory_order_relaxed);
    atomic_store_explicit(&t->phase, 0, memory_order_relaxed);
    t->nth = nth;
    for (int i = 0; i < CT_TEAM_COUNTERS; i++) atomic_store_explicit(&t->next[i], 0, memory_order_relaxed);
}

void ct_team_barrier(ct_team *t) {
    if (!t || t->nth <= 1) return;
    int phase = atomic_load_explicit(&t->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->count, 1, memory_order_acq_rel) == t->nth - 1) {
        atomic_store_explicit(&t->count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->phase, 1, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&t->phase, memory_order_acquire) == phase; spins++) {
        if (spins < SPIN_BEFORE_YIELD) CT_PAUSE();
        else sched_yield();
    }
}

int64_t ct_team_next(ct_team *t, int slot, int64_t step) {
    return atomic_fetch_add_explicit(&t->next[slot], step, memory_order_relaxed);
}

static void *worker(void *p) {
    worker_arg *w = p;
    ct_runtime *rt = w->rt;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        long spins = 0;
        while ((g = atomic_load_explicit(&rt->gen, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&rt->stop, memory_order_acquire)) return NULL;
            if (++spins < SPIN_BEFORE_SLEEP) { CT_PAUSE(); continue; }
            pthread_mutex_lock(&rt->sleep_mx);
            atomic_fetch_add(&rt->sleepers, 1);
            while (atomic_load(&rt->gen) == seen && !atomic_load(&rt->stop)) pthread_cond_wait(&rt->wake, &rt->sleep_mx);
            atomic_fetch_sub(&rt->sleepers, 1);
            pthread_mutex_unlock(&rt->sleep_mx);
            spins = 0;
        }
        seen = g;
        if (w->tid < rt->nth) {
            atomic_fetch_add_explicit(&rt->entered[w->tid & 63], 1, memory_order_relaxed);
            rt->fn(rt->arg, &rt->team, w->tid, rt->nth);
        }
        atomic_fetch_sub_explicit(&rt->pending, 1, memory_order_acq_rel);
    }
}

ct_status ct_check_threads(int n_threads, ct_error *err) {
    if (n_threads < 0 || n_threads > CT_MAX_THREADS)
        return ct_fail(err, CT_ERR_INVALID_ARG, "thread count %d outside [0, %d] (0: all)", n_threads, CT_MAX_THREADS);
    return CT_OK;
}

static void start_workers(ct_runtime *rt);

ct_status ct_runtime_new(int n_threads, ct_runtime **out, ct_error *err) {
    if (!out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_runtime_new: NULL argument");
    ct_status st0 = ct_check_threads(n_threads, err);
    if (st0) return st0;
    if (n_threads == 0) n_threads = ct_default_threads();
    ct_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    rt->n = n_threads;
    rt->th = ct_calloc((size_t)n_threads, sizeof *rt->th);
    rt->wa = ct_calloc((size_t)n_threads, sizeof *rt->wa);
    if (!rt->th || !rt->wa) { free(rt->th); free(rt->wa); free(rt); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    rt->want = n_threads;
    atomic_flag_clear(&rt->restarting);
    start_workers(rt);
    *out = rt;
    return ct_ok(err);
}

/* Fresh locks, counters and workers for this process: at creation, and in a forked child, which
 * inherits the parent's runtime but none of its threads (the copied locks and counters describe
 * the parent's workers, so they are made anew, not unlocked). */
static void start_workers(ct_runtime *rt) {
    pthread_mutex_init(&rt->region, NULL);
    pthread_mutex_init(&rt->sleep_mx, NULL);
    pthread_cond_init(&rt->wake, NULL);
    atomic_store(&rt->sleepers, 0);
    atomic_store(&rt->gen, 0);
    atomic_store(&rt->pending, 0);
    atomic_store(&rt->stop, 0);
    rt->started = 0;
    for (int t = 1; t < rt->want; t++) {
        rt->wa[t].rt = rt;
        rt->wa[t].tid = t;
        if (pthread_create(&rt->th[t], NULL, worker, &rt->wa[t]) != 0) break; /* run with those that started */
        rt->started++;
    }
    rt->n = rt->started + 1;
    atomic_store(&rt->pid, getpid());
}

/* A runtime used in a process other than the one that started its workers (after fork): start
 * this process's own workers first, once, whichever thread comes first. */
static void ensure_own_process(ct_runtime *rt) {
    pid_t me = getpid();
    if (atomic_load_explicit(&rt->pid, memory_order_acquire) == me) return;
    while (atomic_flag_test_and_set_explicit(&rt->restarting, memory_order_acquire)) sched_yield();
    if (atomic_load(&rt->pid) != me) start_workers(rt);
    atomic_flag_clear_explicit(&rt->restarting, memory_order_release);
}

void ct_runtime_free(ct_runtime *rt) {
    if (!rt) return;
    if (atomic_load(&rt->pid) != getpid()) { /* inherited by fork, never used here: no worker of ours to stop */
        free(rt->th);
        free(rt->wa);
        free(rt);
        return;
    }
    pthread_mutex_lock(&rt->sleep_mx);
    atomic_store(&rt->stop, 1);
    pthread_cond_broadcast(&rt->wake);
    pthread_mutex_unlock(&rt->sleep_mx);
    for (int t = 1; t <= rt->started; t++) pthread_join(rt->th[t], NULL);
    pthread_cond_destroy(&rt->wake);
    pthread_mutex_destroy(&rt->sleep_mx);
    pthread_mutex_destroy(&rt->region);
    free(rt->th);
    free(rt->wa);
    free(rt);
}

int ct_runtime_threads(const ct_runtime *rt) { return rt ? rt->n : 0; }

ct_exec ct_exec_for(ct_runtime *rt, int n_threads) {
    ct_exec e = {rt, 1};
    if (!rt) return e;
    e.nth = n_threads <= 0 || n_threads > rt->n ? rt->n : n_threads;
    return e;
}

void ct_run(const ct_exec *ex, ct_task_fn fn, void *arg) {
    if (!ex || !ex->rt || ex->nth <= 1) {
        ct_team solo;
        team_reset(&solo, 1);
        fn(arg, &solo, 0, 1);
        return;
    }
    ct_runtime *rt = ex->rt;
    ensure_own_process(rt);
    pthread_mutex_lock(&rt->region);
    int nth = ex->nth > rt->n ? rt->n : ex->nth;
    rt->fn = fn;
    rt->arg = arg;
    rt->nth = nth;
    team_reset(&rt->team, nth);
    atomic_store_explicit(&rt->pending, rt->started, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->regions, 1, memory_order_relaxed);
    atomic_fetch_add(&rt->gen, 1); /* seq_cst: pairs with the sleepers check below */
    if (atomic_load(&rt->sleepers) > 0) {
        pthread_mutex_lock(&rt->sleep_mx);
        pthread_cond_broadcast(&rt->wake);
        pthread_mutex_unlock(&rt->sleep_mx);
    }
    atomic_fetch_add_explicit(&rt->entered[0], 1, memory_order_relaxed);
    fn(arg, &rt->team, 0, nth);
    for (long spins = 0; atomic_load_explicit(&rt->pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_BEFORE_YIELD) CT_PAUSE();
        else sched_yield();
    }
    pthread_mutex_unlock(&rt->region);
}

typedef struct {
    ct_range_fn fn;
    void *arg;
    int64_t n;
} pfor_job;

static void pfor_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    pfor_job *j = arg;
    int64_t b, e;
    ct_split(j->n, tid, nth, &b, &e);
    if (e > b) j->fn(j->arg, b, e);
}

void ct_parallel_for(const ct_exec *ex, int64_t n, int64_t min_per_thread, ct_range_fn fn, void *arg) {
    if (n <= 0) return;
    ct_exec e = ex ? *ex : ct_exec_serial();
    if (min_per_thread < 1) min_per_thread = 1;
    int64_t most = n / min_per_thread;
    if (most < 1) most = 1;
    if (e.nth > most) e.nth = (int)most;
    if (e.nth <= 1) {
        fn(arg, 0, n);
        return;
    }
    pfor_job j = {fn, arg, n};
    ct_run(&e, pfor_task, &j);
}

void ct_runtime_get_stats(const ct_runtime *rt, ct_runtime_stats *s) {
    memset(s, 0, sizeof *s);
    if (!rt) return;
    ct_runtime *r = (ct_runtime *)rt;
    s->regions = atomic_load(&r->regions);
    for (int i = 0; i < 64; i++) s->entered[i] = atomic_load(&r->entered[i]);
}
