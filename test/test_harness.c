/* The harness itself, checked from outside: the deliberately broken test programs of
 * test/harness/cases.c run as child processes, and their exit status and summary line must
 * report every failure (a SKIP after a failed CHECK, a crash, an exit before DONE, ...); then
 * test/run.sh must add them up the same way, and count as failures the binaries that crash,
 * print no summary, exit non-zero with no failure reported, report no test, or hang. */
#include "harness.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The cases program, next to this binary: <dir of /proc/self/exe>/harness/cases. */
static char cases_bin[4096];

static int find_cases(void) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 0;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return 0;
    *slash = 0;
    FMT(cases_bin, "%s/harness/cases", self);
    return access(cases_bin, X_OK) == 0;
}

typedef struct {
    int exited, status, signal; /* exited: status is the exit status; else killed by `signal` */
    char out[65536];            /* stdout and stderr, NUL-terminated (cut at 64 KiB) */
} child;

/* Runs argv with stdout and stderr captured; extra environment variable env ("NAME=value") if
 * not NULL. Returns 0 when the child could not be run. */
static int run_child(char *const argv[], const char *env, child *c) {
    memset(c, 0, sizeof *c);
    int fd[2];
    if (pipe(fd)) return 0;
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) { close(fd[0]); close(fd[1]); return 0; }
    if (p == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        if (env) putenv((char *)env);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = read(fd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t k = (size_t)r < sizeof c->out - 1 - len ? (size_t)r : sizeof c->out - 1 - len;
        memcpy(c->out + len, buf, k);
        len += k;
    }
    c->out[len] = 0;
    close(fd[0]);
    int st;
    while (waitpid(p, &st, 0) < 0)
        if (errno != EINTR) return 0;
    c->exited = WIFEXITED(st);
    c->status = c->exited ? WEXITSTATUS(st) : -1;
    c->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return 1;
}

/* The last summary line of the output, or "" when there is none. */
static void summary_of(const char *out, char *line, size_t cap) {
    line[0] = 0;
    for (const char *s = out; *s;) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        int p, f, k, used = 0;
        char tmp[128];
        if (n < sizeof tmp) {
            memcpy(tmp, s, n);
            tmp[n] = 0;
            if (sscanf(tmp, "%d passed, %d failed, %d skipped%n", &p, &f, &k, &used) == 3 && used == (int)n) snprintf(line, cap, "%s", tmp);
        }
        s += n + (e != NULL);
    }
}

/* What a case must give: exit status (-1: any non-zero status or a signal), the summary line
 * ("" when there must be none), and a text that must appear in the output (or NULL). */
typedef struct {
    const char *name;
    int status;
    const char *summary;
    const char *text;
    const char *failed; /* a test that must be reported failed, and neither passed nor skipped */
} expect;

static const expect cases[] = {
    /* must pass or skip: the harness is not simply failing everything */
    {"pass", 0, "2 passed, 0 failed, 0 skipped", "ok   passing_too", NULL},
    {"skip", 0, "0 passed, 0 failed, 1 skipped", "skip skipping: nothing to test here", NULL},
    {"pass_and_skip", 0, "1 passed, 0 failed, 1 skipped", "skip skip_in_helper_then_pass: a helper skips", NULL},
    {"fork_child_exits", 0, "1 passed, 0 failed, 0 skipped", NULL, NULL},
    /* must fail */
    {"check_then_skip", 1, "0 passed, 1 failed, 0 skipped", "skip requested after a failure", "check_then_skip"},
    {"check_then_return", 1, "1 passed, 1 failed, 0 skipped", NULL, "check_then_return"},
    {"helper_check_then_skip", 1, "0 passed, 1 failed, 0 skipped", "deliberate failure in a helper", "helper_check_then_skip"},
    {"skip_then_check", 1, "0 passed, 1 failed, 0 skipped", NULL, "skip_then_check"},
    {"fail_then_pass", 1, "1 passed, 1 failed, 0 skipped", "ok   passing", "failing"},
    {"fail_then_skip_next", 1, "0 passed, 1 failed, 1 skipped", "skip skipping", "failing"},
    {"three_failures", 1, "0 passed, 1 failed, 0 skipped", "third", "three_failures"},
    {"fmt_truncates", 1, "0 passed, 1 failed, 0 skipped", "path too long", "fmt_truncates"},
    {"check_outside_test", 1, "1 passed, 1 failed, 0 skipped", "FAIL (outside a test)", NULL},
    {"no_tests", 1, "0 passed, 1 failed, 0 skipped", "FAIL no test ran", NULL},
    {"exit_in_test", 1, "1 passed, 1 failed, 0 skipped", "FAIL exits: the process exited inside the test", "exits"},
    {"exit_before_done", 1, "1 passed, 1 failed, 0 skipped", "FAIL the process exited before DONE()", NULL},
    {"return_before_done", 1, "1 passed, 1 failed, 0 skipped", "FAIL the process exited before DONE()", NULL},
    {"crash", -1, "", "ok   passing", NULL},
};

static void broken_tests_fail(void) {
    if (!find_cases()) { CHECK(0, "%s is not built (make builds it with this test)", cases_bin); return; }
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const expect *e = &cases[i];
        child c;
        char *argv[] = {cases_bin, (char *)e->name, NULL};
        if (!run_child(argv, NULL, &c)) { CHECK(0, "%s: could not run", e->name); continue; }
        char sum[128];
        summary_of(c.out, sum, sizeof sum);
        int status_ok = e->status >= 0 ? c.exited && c.status == e->status : !c.exited || c.status != 0;
        printf("  %-24s %s %-3d summary \"%s\"\n", e->name, c.exited ? "exit" : "signal", c.exited ? c.status : c.signal, sum);
        CHECK(status_ok, "%s: exit status %d (signal %d), expected %s", e->name, c.status, c.signal, e->status >= 0 ? (e->status ? "1" : "0") : "a failure");
        CHECK(!strcmp(sum, e->summary), "%s: summary \"%s\", expected \"%s\"", e->name, sum, e->summary);
        CHECK(!e->text || strstr(c.out, e->text), "%s: output lacks \"%s\"", e->name, e->text);
        if (e->failed) {
            char fail[128], ok[128], skip[128];
            FMT(fail, "FAIL %s", e->failed);
            FMT(ok, "ok   %s\n", e->failed);
            FMT(skip, "skip %s:", e->failed);
            CHECK(strstr(c.out, fail) && !strstr(c.out, ok) && !strstr(c.out, skip), "%s: test %s not reported as failed, or also as passed or skipped",
                  e->name, e->failed);
        }
        if (!status_ok || strcmp(sum, e->summary)) printf("----- output of %s\n%s-----\n", e->name, c.out);
    }
}

/* The temporary directory is private to the process and removed when it exits (here by a process
 * whose forked child exited first). */
static void tmpdir_private_and_removed(void) {
    if (!find_cases()) { CHECK(0, "%s is not built", cases_bin); return; }
    char *argv[] = {cases_bin, "fork_child_exits", NULL};
    child a, b;
    if (!run_child(argv, NULL, &a) || !run_child(argv, NULL, &b)) { CHECK(0, "could not run"); return; }
    char da[4096] = "", db[4096] = "";
    const char *pa = strstr(a.out, "tmpdir "), *pb = strstr(b.out, "tmpdir ");
    CHECK(pa && pb, "the case does not print its directory");
    if (!pa || !pb) return;
    sscanf(pa + 7, "%4095s", da);
    sscanf(pb + 7, "%4095s", db);
    struct stat sb;
    CHECK(strcmp(da, db) != 0, "two processes got the same directory %s", da);
    CHECK(stat(da, &sb) != 0 && stat(db, &sb) != 0, "%s or %s left behind", da, db);
    const char *mine = t_tmpdir();
    CHECK(stat(mine, &sb) == 0 && S_ISDIR(sb.st_mode) && strcmp(mine, da) && strcmp(mine, db), "own directory %s", mine);
}

/* test/run.sh (or $CT_RUN_SH, to try another runner) over links named after the cases: its
 * closing line and status. */
typedef struct {
    const char *cases; /* space-separated case names ("missing" is a path that does not exist) */
    const char *env;   /* extra environment variable or NULL */
    int ok;            /* expected: run.sh exits 0 */
    const char *summary;
    const char *text;
} runner_expect;

static const runner_expect runs[] = {
    {"pass skip pass_and_skip", NULL, 1, "3 passed, 0 failed, 2 skipped", NULL},
    {"pass check_then_skip", NULL, 0, "2 passed, 1 failed, 0 skipped", "FAIL check_then_skip"},
    {"crash", NULL, 0, "0 passed, 1 failed, 0 skipped", "before reporting"},
    {"silent_exit0", NULL, 0, "0 passed, 1 failed, 0 skipped", "no summary line"},
    {"summary_then_status3", NULL, 0, "1 passed, 1 failed, 0 skipped", "exited with status 3 after reporting no failure"},
    {"failures_then_status0", NULL, 0, "0 passed, 2 failed, 0 skipped", NULL},
    {"empty_summary", NULL, 0, "0 passed, 1 failed, 0 skipped", "reported no test"},
    {"exit_before_done", NULL, 0, "1 passed, 1 failed, 0 skipped", NULL},
    {"missing", NULL, 0, "0 passed, 1 failed, 0 skipped", "no such executable"},
    {"", NULL, 0, "0 passed, 1 failed, 0 skipped", "no test binaries given"},
    {"pass hang skip", "CT_TEST_TIMEOUT=1", 0, "2 passed, 1 failed, 1 skipped", "timed out after 1s"},
    {"pass skip check_then_skip crash silent_exit0 summary_then_status3", NULL, 0, "3 passed, 4 failed, 1 skipped", NULL},
};

static void runner_counts_failures(void) {
    if (!find_cases()) { CHECK(0, "%s is not built", cases_bin); return; }
    /* the counts alone: the nested runs watch no device (another process on the machine may
     * replace /dev/null meanwhile; runner_watches_devices checks the watch) */
    static char no_watch[] = "CT_WATCH_DEVICES=";
    putenv(no_watch);
    const char *runner = getenv("CT_RUN_SH") ? getenv("CT_RUN_SH") : "test/run.sh";
    if (!file_exists(runner)) SKIP("%s not found (tests run from the repository root)", runner);
    const char *dir = t_tmpdir();
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        const runner_expect *r = &runs[i];
        char *argv[16], names[512], links[16][4200];
        int n = 0;
        argv[n++] = "/bin/sh";
        argv[n++] = (char *)runner;
        FMT(names, "%s", r->cases);
        for (char *tok = strtok(names, " "); tok && n < 15; tok = strtok(NULL, " ")) {
            FMT(links[n], "%s/%s", dir, tok);
            if (strcmp(tok, "missing") && access(links[n], F_OK) != 0) CHECK(symlink(cases_bin, links[n]) == 0, "symlink %s", links[n]);
            argv[n] = links[n];
            n++;
        }
        argv[n] = NULL;
        child c;
        if (!run_child(argv, r->env, &c)) { CHECK(0, "run.sh %s: could not run", r->cases); continue; }
        char sum[128];
        summary_of(c.out, sum, sizeof sum);
        int ok = c.exited && c.status == 0;
        printf("  run.sh %-64s -> %s, \"%s\"\n", r->cases, ok ? "ok" : "fails", sum);
        CHECK(ok == r->ok, "run.sh %s: exit status %d, expected %s", r->cases, c.status, r->ok ? "0" : "non-zero");
        CHECK(!strcmp(sum, r->summary), "run.sh %s: \"%s\", expected \"%s\"", r->cases, sum, r->summary);
        CHECK(!r->text || strstr(c.out, r->text), "run.sh %s: output lacks \"%s\"", r->cases, r->text);
        if (ok != r->ok || strcmp(sum, r->summary)) printf("----- output\n%s-----\n", c.out);
    }
}

/* test/run.sh fails a run after which a watched device ($CT_WATCH_DEVICES, default /dev/null and
 * /dev/full) is not the same node: here a device node of our own, replaced by a case. */
static void runner_watches_devices(void) {
    if (!find_cases()) { CHECK(0, "%s is not built", cases_bin); return; }
    const char *runner = getenv("CT_RUN_SH") ? getenv("CT_RUN_SH") : "test/run.sh";
    if (!file_exists(runner)) SKIP("%s not found (tests run from the repository root)", runner);
    const char *dev = T_DEV_NULL();
    if (!dev) SKIP("mknod is not permitted here: the device watch untested");
    char link[700], env[800];
    FMT(link, "%s/replace_device", t_tmpdir());
    CHECK(access(link, F_OK) == 0 || symlink(cases_bin, link) == 0, "symlink");
    FMT(env, "CT_WATCH_DEVICES=%s", dev);
    char *argv[] = {"/bin/sh", (char *)runner, link, NULL};
    child c;
    if (!run_child(argv, env, &c)) { CHECK(0, "could not run"); return; }
    char sum[128];
    summary_of(c.out, sum, sizeof sum);
    CHECK(c.exited && c.status != 0 && !strcmp(sum, "1 passed, 1 failed, 0 skipped") && strstr(c.out, "replaced a device"),
          "a replaced device must fail the run: status %d, \"%s\"\n%s", c.status, sum, c.out);
}

int main(void) {
    RUN(broken_tests_fail);
    RUN(tmpdir_private_and_removed);
    RUN(runner_counts_failures);
    RUN(runner_watches_devices);
    DONE();
}
