/* Minimal test harness: each test file defines tests, main() runs them and prints one line per
 * test and the counts; test/run.sh adds the counts of all files up. */
#ifndef CT_TEST_HARNESS_H
#define CT_TEST_HARNESS_H

#include "cliptrase.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_pass, t_fail, t_skip, t_cur_failed;
static const char *t_name;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            if (!t_cur_failed) printf("FAIL %s\n", t_name);                                         \
            printf("  %s:%d: ", __FILE__, __LINE__);                                                \
            printf(__VA_ARGS__);                                                                    \
            printf("\n");                                                                           \
            t_cur_failed = 1;                                                                       \
        }                                                                                           \
    } while (0)

#define SKIP(...)                                                                                   \
    do {                                                                                            \
        printf("skip %s: ", t_name);                                                                \
        printf(__VA_ARGS__);                                                                        \
        printf("\n");                                                                               \
        t_skip++;                                                                                   \
        t_cur_failed = -1;                                                                          \
        return;                                                                                     \
    } while (0)

#define RUN(fn)                                                                                     \
    do {                                                                                            \
        t_name = #fn;                                                                               \
        t_cur_failed = 0;                                                                           \
        fn();                                                                                       \
        if (t_cur_failed == 0) { t_pass++; printf("ok   %s\n", t_name); }                           \
        else if (t_cur_failed > 0) t_fail++;                                                        \
        fflush(stdout);                                                                             \
    } while (0)

#define DONE()                                                                                      \
    do {                                                                                            \
        printf("%d passed, %d failed, %d skipped\n", t_pass, t_fail, t_skip);                       \
        return t_fail ? 1 : 0;                                                                      \
    } while (0)

/* snprintf that reports truncation instead of silently cutting a path */
#define FMT(buf, ...)                                                                               \
    do {                                                                                            \
        if ((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) >= sizeof(buf)) CHECK(0, "path too long"); \
    } while (0)

/* The build under test: $CT_BUILD_DIR (default build/release); its bin/ goes first on PATH, so
 * the tests run the tools of the same flavour (release, asan, ...) as the library they link. */
static inline const char *build_dir(void) {
    const char *d = getenv("CT_BUILD_DIR");
    return d && *d ? d : "build/release";
}

__attribute__((constructor)) static void t_put_build_on_path(void) {
    static char path[8192];
    char abs[4096];
    const char *old = getenv("PATH");
    const char *dir = realpath(build_dir(), abs) ? abs : build_dir();
    snprintf(path, sizeof path, "%s/bin:%s", dir, old ? old : "/usr/bin:/bin");
    setenv("PATH", path, 1);
}

static inline int tool_exists(const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/bin/%s", build_dir(), name);
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* A private temporary directory for this test process (created on first use, removed at exit):
 * two suites can run at once without sharing a path. */
static char t_tmp[64];

static int t_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void t_tmp_cleanup(void) {
    if (t_tmp[0] && !getenv("CT_KEEP_TMP")) nftw(t_tmp, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *t_tmpdir(void) {
    if (!t_tmp[0]) {
        snprintf(t_tmp, sizeof t_tmp, "/tmp/ct-test-XXXXXX");
        if (!mkdtemp(t_tmp)) { perror("mkdtemp"); exit(2); }
        atexit(t_tmp_cleanup);
    }
    return t_tmp;
}

/* The oracle directory: $CT_ORACLE_DIR, default ../shared/oracle (relative to the repo root). */
static inline const char *oracle_dir(void) {
    const char *d = getenv("CT_ORACLE_DIR");
    return d && *d ? d : "../shared/oracle";
}

static inline int file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Reads a whole text file (NUL-terminated), NULL if absent. */
static inline char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = (size_t)n; }
    return b;
}

/* PNG writers of the public API for test data */
static inline int png_rgb(const char *path, int w, int h, const uint8_t *rgb) {
    ct_image im = {w, h, (uint8_t *)rgb};
    return ct_image_save_png(&im, path, NULL) == CT_OK;
}

static inline int png_gray8(const char *path, int w, int h, const uint8_t *g) {
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)w * (size_t)h);
    if (!lab) return 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) lab[i] = g[i];
    int ok = ct_labels_save_png(lab, w, h, 8, path, NULL) == CT_OK;
    free(lab);
    return ok;
}

static inline double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

#endif
