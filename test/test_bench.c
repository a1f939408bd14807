/* make bench tells the truth (issue 18, item 15): a timed command that fails withholds every
 * ratio resting on it and makes the bench exit non-zero, and bench/run.sh fails when a benchmark
 * does. Nothing here is timed: the checking logic of bench/bench.h runs on commands that fail and
 * succeed at once, and bench/run.sh on two tiny scripts. Run from the repository's root (as
 * make test does). */
#include "harness.h"

#include "../bench/bench.h"

static void failed_command_gives_no_ratio(void) {
    bench_status st;
    memset(&st, 0, sizeof st);
    char r[16];
    /* a command that succeeds: the ratio is printed */
    CHECK(bench_check_status(&st, system("exit 0"), "exit 0") == 0 && st.failed == 0, "a succeeding command counted as failed");
    CHECK(!strcmp(bench_ratio(r, sizeof r, 2.0, 1.0, st.failed == 0), "2.00x"), "ratio of valid figures: %s", r);
    int before = st.failed;
    /* a demo without its vocabulary: exit 2, as every demo did when the vocabulary was missing */
    CHECK(bench_check_status(&st, system("exit 2"), "demo -V /nonexistent") == 2, "exit status");
    CHECK(st.failed == 1 && strstr(st.first, "exit 2") && strstr(st.first, "/nonexistent"), "the failure is recorded: %d '%s'", st.failed,
          st.first);
    CHECK(!strcmp(bench_ratio(r, sizeof r, 28.82, 1.0, st.failed == before), "-"), "a ratio from a failed command was printed: %s", r);
    CHECK(bench_check_status(&st, system("kill -9 $$"), "killed") != 0 && st.failed == 2, "a command killed by a signal is a failure");
    CHECK(bench_check_status(&st, -1, "could not run") != 0 && st.failed == 3, "a command that could not run is a failure");
    CHECK(bench_exit(&st) == 1, "the bench must exit non-zero after a failure");
    bench_status ok;
    memset(&ok, 0, sizeof ok);
    CHECK(bench_exit(&ok) == 0, "a clean run exits 0");
    CHECK(!strcmp(bench_ratio(r, sizeof r, 1.0, 0.0, 1), "-"), "a ratio over an unmeasured anchor: %s", r);
}

static void run_sh_fails_with_a_benchmark(void) {
    if (!file_exists("bench/run.sh")) SKIP("bench/run.sh not found (run from the repository's root)");
    char bad[4200], good[4200], cmd[9000], err[4096];
    FMT(bad, "%s/bench_fails.sh", t_tmpdir());
    FMT(good, "%s/bench_ok.sh", t_tmpdir());
    FILE *f = fopen(bad, "w");
    CHECK(f != NULL, "cannot write %s", bad);
    if (!f) return;
    fputs("#!/bin/sh\necho 'ct-batch 28.82x faster per picture'\nexit 1\n", f);
    fclose(f);
    f = fopen(good, "w");
    CHECK(f != NULL, "cannot write %s", good);
    if (!f) return;
    fputs("#!/bin/sh\necho measured\n", f);
    fclose(f);
    FMT(cmd, "chmod +x '%s' '%s'", bad, good);
    CHECK(system(cmd) == 0, "chmod");
    FMT(cmd, "sh bench/run.sh '%s' '%s' >'%s/out.txt'", bad, good, t_tmpdir());
    int rc = t_sh(cmd, err, sizeof err);
    FMT(cmd, "%s/out.txt", t_tmpdir());
    char *out = slurp(cmd, NULL);
    CHECK(rc != 0, "bench/run.sh exited 0 although a benchmark failed");
    CHECK(out && strstr(out, "bench_fails.sh failed (exit 1)") && strstr(out, "bench: FAILED") && strstr(out, "measured"),
          "run.sh names the failed benchmark and still runs the others: %s", out ? out : "(no output)");
    free(out);
    FMT(cmd, "sh bench/run.sh '%s' >/dev/null", good);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "bench/run.sh failed although every benchmark succeeded: %s", err);
}

int main(void) {
    RUN(failed_command_gives_no_ratio);
    RUN(run_sh_fails_with_a_benchmark);
    DONE();
}
