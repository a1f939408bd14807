/* Version and build information, status codes, error messages, checked allocation. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

void *ct_alloc_large(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes > SIZE_MAX - huge) return NULL;
    if (bytes < 2 * huge) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes & ~(huge - 1), MADV_HUGEPAGE); /* advice: failure changes nothing */
#endif
    return p;
}

void *ct_calloc(size_t n, size_t elem) {
    if (n == 0 || elem == 0) return calloc(1, 1);
    return calloc(n, elem);
}

void ct_free(void *p) { free(p); }

#if defined(__SANITIZE_ADDRESS__)
#define CT_SAN_INFO "sanitizers: address"
#elif defined(__SANITIZE_THREAD__)
#define CT_SAN_INFO "sanitizers: thread"
#else
#define CT_SAN_INFO "sanitizers: none"
#endif
#if defined(__clang__)
#define CT_CC_INFO "clang " __clang_version__
#elif defined(__GNUC__)
#define CT_CC_INFO "gcc " __VERSION__
#else
#define CT_CC_INFO "cc"
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define CT_KERNEL_INFO "kernels: fp32 (avx512, avx2, portable), bf16 (avx512-bf16), openblas"
#else
#define CT_KERNEL_INFO "kernels: fp32 (portable), openblas"
#endif

const char *ct_build_info(void) {
    /* a compile-time constant: what this copy of the library was built with */
    return CT_STR(CT_VERSION_MAJOR) "." CT_STR(CT_VERSION_MINOR) "." CT_STR(CT_VERSION_PATCH) "; " CT_CC_INFO "; " CT_SAN_INFO
        "; " CT_KERNEL_INFO;
}
