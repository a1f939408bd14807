/* The OpenBLAS backend under a memory limit (issue 11, item 13): OpenBLAS retries a failed
 * allocation of its 128 MiB buffers forever (100% CPU per thread, and a hang at exit), so the
 * library calls it only when that memory can be had, and fails cleanly otherwise. Each case runs
 * in a fresh process (this binary again) under RLIMIT_AS with a timeout: a hang is a failure,
 * not a stuck suite. */
#include "fixtures.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static size_t vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

enum { C_OK = 0, C_NOMEM = 10, C_OTHER = 11, C_SETUP = 12 };

/* The child: loads the tiny model with the backend, then limits its address space to what it
 * uses plus headroom_mib and computes one class embedding; exits C_*, or dies of SIGALRM. */
static int child(const char *backend, const char *headroom_mib) {
    alarm(60);
    char p[600], v[600];
    snprintf(p, sizeof p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    snprintf(v, sizeof v, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.n_threads = 1;
    lp.backend = !strcmp(backend, "openblas") ? CT_BACKEND_OPENBLAS : CT_BACKEND_NATIVE;
    ct_model *m = NULL;
    ct_tokenizer *tok = NULL;
    ct_error err;
    if (ct_model_load_ex(p, &lp, &m, &err) || ct_tokenizer_load(v, &tok, &err)) { fprintf(stderr, "%s\n", err.msg); return C_SETUP; }
    size_t lim = vm_size() + ((size_t)atol(headroom_mib) << 20);
    struct rlimit rl = {lim, lim};
    setrlimit(RLIMIT_AS, &rl);
    const char *names[] = {"cat"}, *tpl[] = {"a photo of a {}."};
    float emb[4096];
    ct_status st = ct_class_embeddings(m, tok, names, 1, tpl, 1, 1, emb, &err);
    fprintf(stderr, "%s\n", err.msg);
    ct_model_free(m);
    ct_tokenizer_free(tok);
    return st == CT_OK ? C_OK : st == CT_ERR_NOMEM ? C_NOMEM : C_OTHER; /* returning from main runs every destructor */
}

static char self[4096];

static int run_child(const char *backend, size_t headroom_mib, char *msg, size_t cap) {
    char cmd[8192];
    FMT(cmd, "'%s' --child %s %zu 2>&1", self, backend, headroom_mib);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(msg, 1, cap - 1, f);
    msg[n] = 0;
    if (n && msg[n - 1] == '\n') msg[n - 1] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int have_fixture(void) {
    char p[600];
    FMT(p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    return file_exists(p);
}

/* 64 MiB more than it uses: enough for the tiny model's text encoder, not for OpenBLAS's 128 MiB
 * buffers. The former code spun in blas_memory_alloc until the 60 s alarm. */
static void openblas_fails_cleanly(void) {
    if (!have_fixture()) SKIP("tiny fixture not under %s", oracle_dir());
    char msg[1024];
    int rc = run_child("openblas", 64, msg, sizeof msg);
    CHECK(rc != 128 + SIGALRM, "the OpenBLAS backend hung under a memory limit");
    CHECK(rc == C_NOMEM && strstr(msg, "out of memory"), "exit %d (want a clean out-of-memory error): %s", rc, msg);
    printf("  OpenBLAS, 64 MiB of headroom: exit %d: %s\n", rc, msg);
    /* the native kernels need no such buffers: the same limit works */
    rc = run_child("native", 64, msg, sizeof msg);
    CHECK(rc == C_OK, "native backend under the same limit: exit %d: %s", rc, msg);
    /* with room for OpenBLAS (a buffer per CPU and one for the caller, 129 MiB each) it runs */
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    size_t room = ((size_t)(ncpu > 0 ? ncpu : 1) + 2) * 129 + 256;
    rc = run_child("openblas", room, msg, sizeof msg);
    CHECK(rc == C_OK, "OpenBLAS with %zu MiB of headroom: exit %d: %s", room, rc, msg);
}

/* A program that never chooses OpenBLAS must not start it: OpenBLAS's threads take their buffers
 * as soon as the library is loaded and spin under a limit that leaves no room for them, whatever
 * the program then does (`ct-info` on a model hung at exit). The library loads OpenBLAS on demand
 * (lib/nn/blas.c) instead of being linked against it, so a program using the native kernels never
 * starts it. */
static void native_program_under_limit(void) {
    if (!have_fixture()) SKIP("tiny fixture not under %s", oracle_dir());
    if (!tool_exists("ct-info")) SKIP("ct-info not built");
    const char *san = getenv("CT_SANITIZER");
    if (san && *san) SKIP("a build with the %s sanitizer reserves terabytes of address space at start: it cannot start under ulimit -v", san);
    char p[600], cmd[1200];
    FMT(p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(cmd, "ulimit -v 150000; timeout 30 ct-info '%s' >/dev/null", p);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    CHECK(rc == 0, "ct-info under a 150 MB address-space limit: exit %d (124: hung)", rc);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--child")) {
        t_done = 1; /* a helper process, not a test run: the parent reads its status */
        return child(argv[2], argv[3]);
    }
    if (!realpath(argv[0], self)) snprintf(self, sizeof self, "%s", argv[0]);
    RUN(native_program_under_limit);
    RUN(openblas_fails_cleanly);
    DONE();
}
