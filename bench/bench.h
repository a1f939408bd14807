/* Shared timing helpers of the benchmarks: medians of repeated runs after a warm-up. */
#ifndef CT_BENCH_H
#define CT_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

/* What failed during a bench run: a timed command or call that failed makes every figure built
 * on it invalid, so its ratios are not printed and the run exits non-zero (bench_exit). */
typedef struct {
    int failed;
    char first[256]; /* the first failure */
} bench_status;

static inline void bench_fail(bench_status *s, const char *what) {
    if (!s->failed++) snprintf(s->first, sizeof s->first, "%.250s", what);
}

/* exit status of a command run with sh -c (system()); 0 is success; a failure is recorded */
static inline int bench_check_status(bench_status *s, int status, const char *cmd) {
    int rc = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (rc != 0) {
        char what[256];
        snprintf(what, sizeof what, "exit %d: %.200s", rc, cmd);
        bench_fail(s, what);
        printf("  command failed (%s)\n", what);
    }
    return rc;
}

/* "1.23x" of num / den into buf, or "-" when a measurement it rests on failed (valid 0) or was
 * not made */
static inline const char *bench_ratio(char *buf, size_t cap, double num, double den, int valid) {
    if (!valid || !(den > 0) || !(num > 0)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.2fx", num / den);
    return buf;
}

/* the run's exit status: 0, or 1 after saying that (and what) failed */
static inline int bench_exit(const bench_status *s) {
    if (!s->failed) return 0;
    printf("\nbench: %d timed command(s) failed (first: %s): the ratios resting on them are not printed\n", s->failed, s->first);
    return 1;
}

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*bench_fn)(void *);

/* median of reps timed runs (reps <= 31) after one untimed warm-up run */
static inline double bench_median(bench_fn f, void *arg, int reps) {
    double t[32];
    if (reps > 31) reps = 31;
    f(arg);
    for (int i = 0; i < reps; i++) {
        double a = bench_now();
        f(arg);
        t[i] = bench_now() - a;
    }
    qsort(t, (size_t)reps, sizeof(double), bench_cmpd);
    return t[reps / 2];
}

#endif
