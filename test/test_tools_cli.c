/* The small tools and what every tool shares on the command line: ct-tokenize and ct-info exit
 * non-zero when standard output fails (a full disk), every tool names itself after argv[0], the
 * class embeddings show progress (a count and the time left on a terminal). */
#include "harness.h"
#include "common.h"
#include "tool_run.h"

#include <sys/wait.h>
#include <unistd.h>

static void stdout_failures(void) {
    char model[700], vocab[700], cmd[4096], err[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    if (!file_exists(model) || !tool_exists("ct-tokenize") || !tool_exists("ct-info")) SKIP("tools or tiny fixture missing");
    const char *full = T_DEV_FULL(); /* a full device of our own, never /dev/full itself */
    if (full) {
        FMT(cmd, "echo 'a photo of a cat' | ct-tokenize -V '%s' >'%s'", vocab, full);
        CHECK(t_sh(cmd, err, sizeof err) == 2 && strstr(err, "No space left"), "ct-tokenize to a full device: %s", err);
        FMT(cmd, "echo 'a photo of a cat' | ct-tokenize -V '%s' --context >'%s'", vocab, full);
        CHECK(t_sh(cmd, err, sizeof err) == 2, "ct-tokenize --context to a full device: %s", err);
        FMT(cmd, "ct-info '%s' >'%s'", model, full);
        CHECK(t_sh(cmd, err, sizeof err) == 2 && strstr(err, "No space left"), "ct-info to a full device: %s", err);
        FMT(cmd, "ct-info --help >'%s'", full);
        CHECK(t_sh(cmd, err, sizeof err) == 2, "ct-info --help to a full device: %s", err);
    } else {
        printf("  (mknod not permitted: standard output to a full device untested)\n");
    }
    /* and succeed otherwise */
    FMT(cmd, "echo 'a photo of a cat' | ct-tokenize -V '%s' >/dev/null", vocab);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "ct-tokenize: %s", err);
    FMT(cmd, "ct-info '%s' --vocab '%s' >/dev/null", model, vocab);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "ct-info: %s", err);
    FMT(cmd, "CT_KERNEL=bogus ct-info '%s' >/dev/null", model);
    CHECK(t_sh(cmd, err, sizeof err) == 1 && strstr(err, "CT_KERNEL=bogus"), "ct-info with CT_KERNEL=bogus: %s", err);
}

static void names_after_argv0(void) {
    const char *tools[4] = {"demo", "ct-eval", "ct-tokenize", "ct-info"};
    char *dir = path_join(t_tmpdir(), "names"), cmd[4096], err[4096];
    FMT(cmd, "mkdir -p '%s'", dir);
    t_sh(cmd, NULL, 0);
    for (int i = 0; i < 4; i++) {
        if (!tool_exists(tools[i])) continue;
        char out[1200];
        FMT(cmd, "ln -sf \"$(command -v %s)\" '%s/my-%s' && '%s/my-%s' --help | head -1 > '%s/help.txt'", tools[i], dir, tools[i], dir, tools[i], dir);
        CHECK(t_sh(cmd, err, sizeof err) == 0, "%s --help: %s", tools[i], err);
        FMT(out, "%s/help.txt", dir);
        char *h = slurp(out, NULL), want[64];
        FMT(want, "usage: my-%s", tools[i]);
        CHECK(h && !strncmp(h, want, strlen(want)), "%s: help says '%.60s'", tools[i], h ? h : "");
        free(h);
        FMT(cmd, "'%s/my-%s' --bogus-option", dir, tools[i]);
        CHECK(t_sh(cmd, err, sizeof err) == 1 && !strncmp(err, want + 7, strlen(want + 7)), "%s: message '%s'", tools[i], err);
    }
    free(dir);
}

/* Embedding many class names shows a count and the time left on a terminal (script(1) gives the
 * demo one), and a summary line anywhere. */
static void embedding_progress(void) {
    char model[700], vocab[700], px[700], cmd[8192], err[8192];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    FMT(px, "%s/tiny_f32_openai/crop64/pixels.npy", oracle_dir());
    if (!file_exists(model) || !tool_exists("demo")) SKIP("tiny fixture missing");
    char *list = path_join(t_tmpdir(), "many.txt"), *log = path_join(t_tmpdir(), "tty.txt");
    FILE *f = fopen(list, "w");
    for (int i = 0; i < 60; i++) fprintf(f, "object number %d\n", i);
    fclose(f);
    FMT(cmd, "demo --no-cache -m '%s' -V '%s' --pixels '%s' --classes-file '%s' --json '%s/progress.json'", model, vocab, px, list, t_tmpdir());
    CHECK(t_sh(cmd, err, sizeof err) == 0 && strstr(err, "encoding 60 class names") && strstr(err, "encoded 60 class names in"), "progress: %s", err);
    if (system("command -v script >/dev/null") == 0) {
        char abs[600], m2[800], v2[800], p2[800];
        const char *o = realpath(oracle_dir(), abs) ? abs : oracle_dir();
        FMT(m2, "%s/tiny_f32_openai/model.safetensors", o);
        FMT(v2, "%s/vocab.json", o);
        FMT(p2, "%s/tiny_f32_openai/crop64/pixels.npy", o);
        FMT(cmd, "script -qec \"demo --no-cache -m '%s' -V '%s' --pixels '%s' --classes-file '%s' --json '%s/progress.json'\" '%s/typescript' > '%s'", m2, v2, p2, list, t_tmpdir(), t_tmpdir(), log);
        CHECK(t_sh(cmd, err, sizeof err) == 0, "under script: %s", err);
        char *t = slurp(log, NULL);
        CHECK(t && strstr(t, "class names: ") && strstr(t, "/60 (") && strstr(t, "left)"), "no count line on a terminal: %s", t ? t : "");
        free(t);
    }
    free(list);
    free(log);
}

/* ct-info lists every registered kernel (id, precision, and its label or why this CPU cannot run
 * it) and prints the chosen kernel with the reason; CT_KERNEL=<id> selects a kernel by name, and
 * one this CPU lacks is refused with that reason. */
static void kernels_listed_and_selected(void) {
    char model[700], cmd[4096], err[4096], out[65536];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(model) || !tool_exists("ct-info")) SKIP("ct-info or the tiny fixture missing");
    FMT(cmd, "ct-info '%s'", model);
    CHECK(tool_run(cmd, out, sizeof out, err, sizeof err, NULL) == 0, "ct-info: %s", err);
    const char *id, *note;
    int runs;
    for (int i = 0; (id = ct_kernel_id(i, NULL, &runs, &note)); i++) {
        char line[300];
        FMT(line, "kernel %-14s", id);
        CHECK(strstr(out, line) && strstr(out, note), "ct-info does not list kernel %s (%s): %s", id, note, out);
        FMT(cmd, "CT_KERNEL=%s ct-info '%s'", id, model);
        int rc = tool_run(cmd, out + 32768, 32768, err, sizeof err, NULL);
        if (runs) CHECK(rc == 0 && strstr(out + 32768, "(asked for by name)"), "CT_KERNEL=%s: exit %d: %s", id, rc, err);
        else CHECK(rc == 2 && strstr(err, note), "CT_KERNEL=%s on a CPU without it: exit %d: %s", id, rc, err);
    }
    CHECK(strstr(out, "; kernel ") && strstr(out, "; attention "), "the choice and its reason: %s", out);
}

int main(void) {
    RUN(stdout_failures);
    RUN(names_after_argv0);
    RUN(embedding_progress);
    RUN(kernels_listed_and_selected);
    DONE();
}
