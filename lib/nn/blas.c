/* OpenBLAS for the reference backend, as Debian ships it (libopenblas0-pthread, 0.3.21).
 *
 * What OpenBLAS does with memory: every thread that computes a product takes a buffer of
 * BUFFER_SIZE (128 MiB on x86-64, plus a page) from blas_memory_alloc: its worker threads when
 * they start (at load, from the library's constructor), a calling thread at its first product.
 * When mmap and malloc of that buffer fail, blas_memory_alloc tries again, forever
 * (driver/others/memory.c: `do { ... } while (map_address == -1)`): under an address-space limit
 * (ulimit -v), RLIMIT_DATA or strict overcommit, the process spins at 100% CPU per thread, and
 * hangs at exit joining a spinning worker. OpenBLAS has no way to report the failure.
 *
 * So OpenBLAS is only called when the memory it may take is there: before it is loaded, room for
 * a buffer per CPU (its workers and the caller); before each product, room for the caller's
 * buffer (after a fork, OpenBLAS restarts its workers in the child: room for all again). Room is
 * probed by mapping that much anonymous memory and unmapping it at once (nothing is touched: the
 * probe meets exactly the limits OpenBLAS's own mmap meets). A process whose memory is short gets
 * a failed product (CT_ERR_NOMEM up the call chain), never a hang. The check is conservative:
 * when OpenBLAS already holds its buffers, a limit tighter than one more buffer is refused.
 *
 * OpenBLAS is loaded with dlopen at first use rather than linked, so that a program that never
 * chooses the OpenBLAS backend never starts its threads (see the report on the build's link
 * line). The handle and function pointers are resolved once per process under a lock: a cache of
 * the dynamic linker's state, not a setting. */
#include "nn/blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define OPENBLAS_BUFFER (((size_t)128 << 20) + 4096) /* BUFFER_SIZE + FIXED_PAGESIZE (alloc_malloc) */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 }; /* cblas.h's values */
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static struct {
    pthread_mutex_t lock;
    int tried;      /* dlopen attempted (a missing library stays missing) */
    sgemm_fn sgemm;
    pid_t pid;      /* the process that loaded it (a forked child restarts OpenBLAS's threads) */
} g_blas = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, 0};

/* the most threads OpenBLAS starts: it caps its count at the processors it sees */
static size_t openblas_threads(void) {
    long conf = sysconf(_SC_NPROCESSORS_CONF), onln = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    long aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    long n = conf > onln ? conf : onln;
    if (aff > n) n = aff;
    return n > 0 ? (size_t)n : 1;
}

/* can `buffers` OpenBLAS buffers be mapped now? */
static int room_for(size_t buffers) {
    size_t bytes = buffers * OPENBLAS_BUFFER;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    munmap(p, bytes);
    return 1;
}

static const char *k_no_lib = "OpenBLAS (libopenblas.so.0) is not installed";
static const char *k_no_room_load = "OpenBLAS needs 128 MiB of memory per CPU for its threads' buffers and this process cannot map "
                                    "that much (a memory limit?); OpenBLAS retries a failed allocation forever, so it is not started: "
                                    "use the native backend";
static const char *k_no_room_call = "OpenBLAS needs a 128 MiB buffer for this product and this process cannot map it (a memory limit?); "
                                    "OpenBLAS retries a failed allocation forever, so it is not called: use the native backend";

/* the function, loading OpenBLAS if needed; NULL with a reason */
static sgemm_fn resolve(const char **why) {
    pthread_mutex_lock(&g_blas.lock);
    sgemm_fn f = g_blas.sgemm;
    *why = NULL;
    if (!f && g_blas.tried) *why = k_no_lib;
    else if (!f) {
        /* loading starts a worker per CPU (less the caller), each taking a buffer */
        if (!room_for(openblas_threads() + 1)) *why = k_no_room_load;
        else {
            g_blas.tried = 1;
            void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
            void *sym = h ? dlsym(h, "cblas_sgemm") : NULL;
            if (!sym) *why = k_no_lib;
            else {
                /* a data pointer to a function pointer: what POSIX's dlsym is for */
                memcpy(&f, &sym, sizeof f);
                g_blas.sgemm = f;
                g_blas.pid = getpid();
            }
        }
    }
    pid_t pid = g_blas.pid;
    pthread_mutex_unlock(&g_blas.lock);
    if (f && !room_for(getpid() == pid ? 1 : openblas_threads() + 1)) {
        *why = k_no_room_call;
        f = NULL;
    }
    return f;
}

const char *ct_blas_unavailable(void) {
    const char *why;
    return resolve(&why) ? NULL : why;
}

int ct_blas_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc, const char **why) {
    const char *w;
    sgemm_fn f = resolve(&w);
    if (why) *why = w;
    if (!f) return 0;
    f(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return 1;
}
