/* Minimal test harness: each test file defines tests, main() runs them and prints one line per
 * test and the counts; test/run.sh adds the counts of all files up. */
#ifndef CT_TEST_HARNESS_H
#define CT_TEST_HARNESS_H

#include "cliptrase.h"

#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Accounting. Every RUN ends in exactly one of: passed, failed, skipped.
 *   - A test with a failed CHECK is failed, whatever comes after it: a later SKIP (in the test or in
 *     a helper it calls), a return, more passing CHECKs. A SKIP never turns a failure into a skip.
 *   - A SKIP inside a helper returns only from the helper: if the test then fails a CHECK it is
 *     failed, otherwise skipped.
 *   - A failed CHECK outside any test (in main, in a constructor) counts as one failure.
 *   - DONE() prints the summary line and returns 1 when anything failed. A binary that ran no test
 *     fails. A process that ends (exit, return from main) before DONE() reports the test it was in
 *     and exits with status 1 after a summary counting that as a failure; a crash prints no summary
 *     (test/run.sh counts both). */
static int t_pass, t_fail, t_skip;
static int t_in_test, t_cur_failed, t_cur_skipped, t_done;
static const char *t_name;
static char t_skip_reason[512];
static pid_t t_pid;

/* The header of a failure report; the caller prints the message and a newline. */
static inline void t_check_failed(const char *file, int line) {
    if (!t_in_test) {
        printf("FAIL (outside a test)\n");
        t_fail++;
    } else if (!t_cur_failed) {
        printf("FAIL %s\n", t_name);
    }
    t_cur_failed = 1;
    printf("  %s:%d: ", file, line);
}

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            t_check_failed(__FILE__, __LINE__);                                                     \
            printf(__VA_ARGS__);                                                                    \
            printf("\n");                                                                           \
            fflush(stdout);                                                                         \
        }                                                                                           \
    } while (0)

/* Returns from the calling function; the test is skipped unless it fails (before or after). */
#define SKIP(...)                                                                                   \
    do {                                                                                            \
        t_skip_requested(__VA_ARGS__);                                                              \
        return;                                                                                     \
    } while (0)

__attribute__((format(printf, 1, 2))) static inline void t_skip_requested(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_skip_reason, sizeof t_skip_reason, fmt, ap); /* a long reason is cut, not an error */
    va_end(ap);
    if (t_cur_failed) {
        printf("  (skip requested after a failure, still a failure: %s)\n", t_skip_reason);
        fflush(stdout);
    }
    t_cur_skipped = 1;
}

static inline void t_begin(const char *name) {
    t_name = name;
    t_in_test = 1;
    t_cur_failed = 0;
    t_cur_skipped = 0;
    t_skip_reason[0] = 0;
}

static inline void t_end(void) {
    t_in_test = 0;
    if (t_cur_failed) t_fail++;
    else if (t_cur_skipped) { t_skip++; printf("skip %s: %s\n", t_name, t_skip_reason); }
    else { t_pass++; printf("ok   %s\n", t_name); }
    t_cur_failed = t_cur_skipped = 0;
    fflush(stdout);
}

#define RUN(fn)                                                                                     \
    do {                                                                                            \
        t_begin(#fn);                                                                               \
        fn();                                                                                       \
        t_end();                                                                                    \
    } while (0)

static inline void t_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", t_pass, t_fail, t_skip);
    fflush(stdout);
}

static inline int t_finish(void) {
    t_done = 1;
    if (t_in_test) { printf("FAIL %s: DONE() inside a test\n", t_name); t_fail++; t_in_test = 0; }
    if (t_pass + t_fail + t_skip == 0) { printf("FAIL no test ran\n"); t_fail++; }
    t_summary();
    return t_fail ? 1 : 0;
}

#define DONE() return t_finish()

/* Runs last at exit (registered first): a process that ends before DONE() fails, with a summary. */
static void t_exit_guard(void) {
    if (t_done || getpid() != t_pid) return; /* done, or a forked child (the parent accounts) */
    if (t_in_test) printf("FAIL %s: the process exited inside the test\n", t_name);
    else printf("FAIL the process exited before DONE()\n");
    t_fail++;
    t_summary();
    fflush(NULL);
    _exit(1);
}

__attribute__((constructor)) static void t_init(void) {
    t_pid = getpid();
    atexit(t_exit_guard);
}

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

/* A private temporary directory for this test process ($TMPDIR or /tmp; created on first use,
 * removed at exit unless CT_KEEP_TMP is set): two suites can run at once without sharing a path. */
static char t_tmp[4096];

static int t_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void t_tmp_cleanup(void) {
    if (getpid() != t_pid) return; /* a forked child must not remove its parent's directory */
    if (t_tmp[0] && !getenv("CT_KEEP_TMP")) nftw(t_tmp, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline const char *t_tmpdir(void) {
    if (!t_tmp[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base || strlen(base) > sizeof t_tmp - 32) base = "/tmp";
        snprintf(t_tmp, sizeof t_tmp, "%s/ct-test-XXXXXX", base);
        if (!mkdtemp(t_tmp)) { perror("mkdtemp"); t_tmp[0] = 0; exit(2); }
        atexit(t_tmp_cleanup);
    }
    return t_tmp;
}

/* A character device node of our own in the private folder, with the numbers of /dev/null
 * (1, 3) or /dev/full (1, 7): tests write to these, never to /dev itself. The path (static per
 * name), or NULL when mknod is not permitted here (the caller skips with a reason). */
static inline const char *t_device(const char *name, unsigned major_no, unsigned minor_no) {
    static char paths[4][600];
    static int used;
    for (int i = 0; i < used; i++)
        if (!strcmp(strrchr(paths[i], '/') + 1, name)) return paths[i];
    if (used == 4) return NULL;
    char *p = paths[used];
    snprintf(p, sizeof paths[0], "%s/%s", t_tmpdir(), name);
    if (mknod(p, S_IFCHR | 0666, makedev(major_no, minor_no)) != 0) return NULL;
    used++;
    return p;
}
#define T_DEV_NULL() t_device("null-device", 1, 3)
#define T_DEV_FULL() t_device("full-device", 1, 7)

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

/* How many times needle occurs in text (not overlapping). */
static inline int t_count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
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

/* f rounded to the nearest bfloat16 (ties to even), as the library's bf16 conversion */
static inline float t_round_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x = ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16) << 16;
    memcpy(&f, &x, 4);
    return f;
}

/* Runs a shell command with its standard error captured into err (NUL-terminated); returns its
 * exit status, or -1 when it did not exit. */
static inline int t_sh(const char *cmd, char *err, size_t cap) {
    char ef[4200];
    snprintf(ef, sizeof ef, "%s/stderr.txt", t_tmpdir());
    size_t n = strlen(cmd) + strlen(ef) + 8;
    char *full = malloc(n);
    if (!full) return -1;
    snprintf(full, n, "%s 2>'%s'", cmd, ef);
    int st = system(full);
    free(full);
    char *e = slurp(ef, NULL);
    if (err && cap) snprintf(err, cap, "%s", e ? e : "");
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
