/* Test programs for test_harness: each case is a small test binary built on harness.h, most of
 * them deliberately broken. The case is argv[1], or the program's own name (test_harness runs it
 * through symbolic links named after the cases, as test/run.sh runs real test binaries).
 * test_harness runs each as a child process and checks its exit status and summary line. */
#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void passing(void) { CHECK(1 + 1 == 2, "arithmetic"); }
static void passing_too(void) { CHECK(1, "never"); }
static void failing(void) { CHECK(0, "deliberate failure"); }
static void skipping(void) { SKIP("nothing to test here"); }

/* the bug of issue 12: a SKIP after a failed CHECK counted the test as skipped */
static void check_then_skip(void) {
    CHECK(0, "deliberate failure");
    SKIP("a skip after a failure");
}

static void check_then_return(void) {
    CHECK(0, "deliberate failure");
    if (t_pass >= 0) return;
    CHECK(1, "never reached");
}

static void fail_in_helper(void) { CHECK(0, "deliberate failure in a helper"); }
static void skip_in_helper(void) { SKIP("a helper skips"); }

static void helper_check_then_skip(void) {
    fail_in_helper();
    SKIP("a skip after a helper's failure");
}

/* SKIP in a helper returns from the helper only: the test goes on and fails */
static void skip_then_check(void) {
    skip_in_helper();
    CHECK(0, "deliberate failure after the helper's skip");
}

/* SKIP in a helper, nothing fails afterwards: a skip */
static void skip_in_helper_then_pass(void) {
    skip_in_helper();
    CHECK(1, "never");
}

static void three_failures(void) {
    CHECK(0, "first");
    CHECK(1, "passes");
    CHECK(0, "second");
    CHECK(0, "third");
}

static void fmt_truncates(void) {
    char b[8];
    const char *volatile s = "longer than eight bytes"; /* not a constant: no compile-time warning */
    FMT(b, "%s", s);
}

static void crashes(void) {
    fflush(stdout);
    raise(SIGSEGV);
}

static void exits(void) { exit(0); }

static void loops_forever(void) {
    fflush(stdout);
    for (;;) sleep(1);
}

/* A forked child that exits through exit() neither reports nor removes the parent's temporary
 * directory; the parent's directory is removed when the parent exits (test_harness checks). */
static void fork_child_exits(void) {
    const char *d = t_tmpdir();
    printf("  tmpdir %s\n", d);
    fflush(stdout);
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) exit(0);
    int st = 0;
    CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's exit status is its own");
    struct stat sb;
    CHECK(stat(d, &sb) == 0 && S_ISDIR(sb.st_mode), "the child removed the parent's temporary directory");
}

/* Not harness tests: programs that misbehave in ways only test/run.sh can see. */
static int raw_case(const char *c) {
    if (!strcmp(c, "silent_exit0")) _exit(0);
    if (!strcmp(c, "summary_then_status3")) { printf("1 passed, 0 failed, 0 skipped\n"); fflush(stdout); _exit(3); }
    if (!strcmp(c, "failures_then_status0")) { printf("0 passed, 2 failed, 0 skipped\n"); fflush(stdout); _exit(0); }
    if (!strcmp(c, "replace_device")) { /* what the output writers once did to /dev/null: a file renamed over $CT_WATCH_DEVICES */
        const char *d = getenv("CT_WATCH_DEVICES");
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.new", d ? d : "");
        FILE *f = d ? fopen(tmp, "w") : NULL;
        if (f) fclose(f);
        int ok = f && rename(tmp, d) == 0;
        printf("%d passed, %d failed, 0 skipped\n", ok, !ok);
        fflush(stdout);
        _exit(0);
    }
    if (!strcmp(c, "empty_summary")) { printf("0 passed, 0 failed, 0 skipped\n"); fflush(stdout); _exit(0); }
    return 0;
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    raw_case(c);
    if (!strcmp(c, "pass")) { RUN(passing); RUN(passing_too); DONE(); }
    if (!strcmp(c, "skip")) { RUN(skipping); DONE(); }
    if (!strcmp(c, "pass_and_skip")) { RUN(passing); RUN(skip_in_helper_then_pass); DONE(); }
    if (!strcmp(c, "check_then_skip")) { RUN(check_then_skip); DONE(); }
    if (!strcmp(c, "check_then_return")) { RUN(check_then_return); RUN(passing); DONE(); }
    if (!strcmp(c, "helper_check_then_skip")) { RUN(helper_check_then_skip); DONE(); }
    if (!strcmp(c, "skip_then_check")) { RUN(skip_then_check); DONE(); }
    if (!strcmp(c, "fail_then_pass")) { RUN(failing); RUN(passing); DONE(); }
    if (!strcmp(c, "fail_then_skip_next")) { RUN(failing); RUN(skipping); DONE(); }
    if (!strcmp(c, "three_failures")) { RUN(three_failures); DONE(); }
    if (!strcmp(c, "fmt_truncates")) { RUN(fmt_truncates); DONE(); }
    if (!strcmp(c, "check_outside_test")) { CHECK(0, "deliberate failure in main"); RUN(passing); DONE(); }
    if (!strcmp(c, "no_tests")) { DONE(); }
    if (!strcmp(c, "crash")) { RUN(passing); RUN(crashes); DONE(); }
    if (!strcmp(c, "exit_in_test")) { RUN(passing); RUN(exits); DONE(); }
    if (!strcmp(c, "exit_before_done")) { RUN(passing); exit(0); }
    if (!strcmp(c, "return_before_done")) { RUN(passing); return 0; }
    if (!strcmp(c, "hang")) { RUN(loops_forever); DONE(); }
    if (!strcmp(c, "fork_child_exits")) { RUN(fork_child_exits); DONE(); }
    printf("cases: unknown case '%s'\n", c);
    _exit(99);
}
