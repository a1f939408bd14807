/* Shared timing helpers of the benchmarks: medians of repeated runs after a warm-up. */
#ifndef CT_BENCH_H
#define CT_BENCH_H

#include "cliptrase.h"

#include <stdint.h>
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

/* ---- the large backbones' bench (bench_backbones.c) */

/* Random weights of an architecture (`BIN/ct-random-weights --arch ARCH --naming NAMING --dtype
 * F32 -o PATH`) loaded in fp32 (*m) and, where the CPU has it, bf16 (*mb, else NULL); prints the
 * model's description under the title. 0 (said why) when it cannot. */
static inline int bench_random_model(const char *bin, const char *arch, const char *naming, const char *path, const char *title,
                                     ct_model **m, ct_model **mb) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/ct-random-weights --arch %s --naming %s --dtype F32 -o %s", bin, arch, naming, path);
    if (system(cmd) != 0) { printf("cannot make %s\n", path); return 0; }
    ct_error err;
    *m = *mb = NULL;
    if (ct_model_load(path, m, &err)) { printf("%s\n", err.msg); return 0; }
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.precision = CT_PRECISION_BF16;
    if (ct_model_load_ex(path, &lp, mb, &err) != CT_OK) *mb = NULL;
    char desc[1200];
    ct_model_describe(*m, desc, sizeof desc);
    printf("== %s\n%s\n", title, desc);
    return 1;
}

/* The end of a run: the two models freed, the scratch directory removed. */
static inline void bench_finish(ct_model *m, ct_model *mb, const char *dir) {
    ct_model_free(m);
    ct_model_free(mb);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
}

/* An S x S picture of noise at path (the demo's input in the process measurements). */
static inline void bench_write_picture(const char *path, int S) {
    uint8_t *rgb = malloc((size_t)S * S * 3);
    if (!rgb) return;
    for (size_t i = 0; i < (size_t)S * S * 3; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 24);
    ct_image im = {S, S, rgb};
    ct_image_save_png(&im, path, NULL);
    free(rgb);
}

/* The medians of "ORT S=<side> min/med a/b s" lines of `sh bench/ort_anchor.sh SIDES TAG` for the
 * n sides given (0 where absent); other lines are echoed. */
static inline void bench_ort_anchor(const char *tag, const int *sides, int n, double *med) {
    char cmd[256], list[128] = "";
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        med[i] = 0;
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", i ? "," : "", sides[i]);
    }
    snprintf(cmd, sizeof cmd, "sh bench/ort_anchor.sh %s %s 2>&1", list, tag);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int S, hit = 0;
        double mn, md;
        if (sscanf(line, "ORT S=%d min/med %lf/%lfs", &S, &mn, &md) == 3)
            for (int i = 0; i < n; i++)
                if (sides[i] == S) { med[i] = md; hit = 1; }
        if (!hit) printf("  ort: %s", line);
    }
    pclose(f);
}

/* One row per side: ORT's forward (the mean of the two passes, 0 when not measured), ours fp32,
 * bf16 and the whole process, with the ratios to ORT. */
static inline void bench_ort_table(const int *sides, int n, const double *ort1, const double *ort2, const double *t32, const double *tbf,
                                   const double *tproc) {
    printf("\n%-6s %12s %12s %14s %12s %12s %12s %10s\n", "side", "ORT fwd s", "segment s", "vs ORT", "bf16 s", "vs ORT", "process s", "vs ORT");
    for (int k = 0; k < n; k++) {
        double ort = ort1[k] > 0 && ort2[k] > 0 ? (ort1[k] + ort2[k]) / 2 : 0;
        char r1[16] = "-", r2[16] = "-", r3[16] = "-";
        if (ort > 0) {
            snprintf(r1, sizeof r1, "%.2fx", t32[k] / ort);
            snprintf(r2, sizeof r2, "%.2fx", tbf[k] / ort);
            snprintf(r3, sizeof r3, "%.2fx", tproc[k] / ort);
        }
        printf("%-6d %12.3f %12.3f %14s %12.3f %12s %12.3f %10s\n", sides[k], ort, t32[k], r1, tbf[k], r2, tproc[k], r3);
    }
    if (n > 0 && !(ort1[0] > 0 && ort2[0] > 0)) printf("(ONNX Runtime anchor not measured: see bench/ort_anchor.sh)\n");
}

#endif
