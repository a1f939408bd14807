/* Shared timing helpers of the benchmarks: medians of repeated runs after a warm-up. */
#ifndef CT_BENCH_H
#define CT_BENCH_H

#include <stdlib.h>
#include <time.h>

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
