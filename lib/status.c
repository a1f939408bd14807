/* Status codes, error messages, checked allocation and the thread helper. */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CT_STR2(x) #x
#define CT_STR(x) CT_STR2(x)

const char *ct_version(void) {
    return CT_STR(CT_VERSION_MAJOR) "." CT_STR(CT_VERSION_MINOR) "." CT_STR(CT_VERSION_PATCH);
}

const char *ct_status_str(ct_status s) {
    switch (s) {
    case CT_OK: return "ok";
    case CT_ERR_INVALID_ARG: return "invalid argument";
    case CT_ERR_IO: return "i/o error";
    case CT_ERR_FORMAT: return "malformed file";
    case CT_ERR_UNSUPPORTED: return "unsupported";
    case CT_ERR_MISSING: return "missing entry";
    case CT_ERR_SHAPE: return "wrong shape";
    case CT_ERR_NOMEM: return "out of memory";
    case CT_ERR_TOO_LARGE: return "too large";
    case CT_ERR_NONFINITE: return "non-finite value";
    }
    return "unknown status";
}

ct_status ct_fail(ct_error *err, ct_status s, const char *fmt, ...) {
    if (err) {
        err->status = s;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* keep messages on one line */
        for (char *c = err->msg; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
    }
    return s;
}

ct_status ct_fail_prefix(ct_error *err, ct_status s, const char *prefix) {
    if (err) {
        char tmp[sizeof err->msg];
        memcpy(tmp, err->msg, sizeof tmp);
        ct_fail(err, s, "%s: %s", prefix, tmp);
    }
    return s;
}

ct_status ct_ok(ct_error *err) {
    if (err) {
        err->status = CT_OK;
        err->msg[0] = 0;
    }
    return CT_OK;
}

bool ct_size3(size_t a, size_t b, size_t c, size_t elem, size_t *out) {
    size_t t;
    return ct_mul_ok(a, b, &t) && ct_mul_ok(t, c, &t) && ct_mul_ok(t, elem, out);
}

void *ct_alloc(size_t n, size_t elem) {
    size_t bytes;
    if (!ct_mul_ok(n, elem, &bytes)) return NULL;
    return malloc(bytes ? bytes : 1);
}

void *ct_calloc(size_t n, size_t elem) {
    if (n == 0 || elem == 0) return calloc(1, 1);
    return calloc(n, elem);
}

int ct_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    return (int)n;
}

typedef struct {
    ct_range_fn fn;
    void *arg;
    int64_t begin, end;
} ct_job;

static void *ct_job_run(void *p) {
    ct_job *j = p;
    j->fn(j->arg, j->begin, j->end);
    return NULL;
}

void ct_parallel_for(int n_threads, int64_t n, ct_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (n_threads <= 0) n_threads = ct_default_threads();
    if (n_threads > 64) n_threads = 64;
    if (n_threads > n) n_threads = (int)n;
    if (n_threads <= 1) {
        fn(arg, 0, n);
        return;
    }
    ct_job jobs[64];
    pthread_t th[64];
    int started[64] = {0};
    for (int t = 0; t < n_threads; t++) {
        jobs[t].fn = fn;
        jobs[t].arg = arg;
        jobs[t].begin = n * t / n_threads;
        jobs[t].end = n * (t + 1) / n_threads;
    }
    /* the calling thread takes chunk 0; if a thread cannot start, run its chunk inline */
    for (int t = 1; t < n_threads; t++)
        started[t] = pthread_create(&th[t], NULL, ct_job_run, &jobs[t]) == 0;
    ct_job_run(&jobs[0]);
    for (int t = 1; t < n_threads; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else ct_job_run(&jobs[t]);
    }
}
