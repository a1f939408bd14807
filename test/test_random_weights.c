/* Random weights are never silent (issue 18, item 9): ct-random-weights marks its files in the
 * safetensors __metadata__ (CT_META_RANDOM_WEIGHTS = "1", read back by ct_model_metadata; the
 * oracle's converted checkpoints are not marked); every tool that loads such a file says so on
 * stderr, once; tools/fetch-weights.sh does not take one for the real checkpoint: it downloads
 * the real one over it (from a file:// mirror here) or, offline, fails without saying "ok". */
#include "harness.h"
#include "common.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* system(cmd): its exit status (the command's own redirections kept) */
static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void marked_and_read(void) {
    char tiny[700], cmd[8192], err[4096];
    FMT(tiny, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!tool_exists("ct-random-weights")) SKIP("ct-random-weights not built");
    char *r = path_join(t_tmpdir(), "r.safetensors");
    FMT(cmd, "ct-random-weights --arch tiny --seed 1 -o '%s'", r);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "ct-random-weights: %s", err);
    ct_model *m = NULL;
    ct_error e;
    CHECK(ct_model_load(r, &m, &e) == CT_OK, "load: %s", e.msg);
    const char *v = m ? ct_model_metadata(m, CT_META_RANDOM_WEIGHTS) : NULL;
    CHECK(v && !strcmp(v, "1"), "the random file is not marked: %s", v ? v : "(absent)");
    v = m ? ct_model_metadata(m, "format") : NULL;
    CHECK(v && !strcmp(v, "pt"), "the other metadata: %s", v ? v : "(absent)");
    CHECK(!m || !ct_model_metadata(m, "no such key"), "an absent key");
    ct_model_free(m);
    m = NULL;
    if (file_exists(tiny)) {
        CHECK(ct_model_load(tiny, &m, &e) == CT_OK, "load the oracle's: %s", e.msg);
        CHECK(m && !ct_model_metadata(m, CT_META_RANDOM_WEIGHTS), "a converted checkpoint is marked random");
        ct_model_free(m);
    } else {
        printf("  the unmarked case skipped: no %s\n", tiny);
    }
    CHECK(!ct_model_metadata(NULL, CT_META_RANDOM_WEIGHTS), "NULL model");
    free(r);
}

/* each tool that loads a model: one line on stderr for the random file, none for the real one */
static void tools_say_so(void) {
    char tiny[700], vocab[700], cmd[8192], err[8192], abs[600];
    const char *o = realpath(oracle_dir(), abs) ? abs : oracle_dir(); /* the tools run elsewhere */
    FMT(tiny, "%s/tiny_f32_openai/model.safetensors", o);
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", o);
    if (!file_exists(tiny) || !file_exists(vocab) || !tool_exists("demo") || !tool_exists("ct-batch") || !tool_exists("ct-eval"))
        SKIP("oracle fixtures or tools not found under %s", oracle_dir());
    const char *T = t_tmpdir();
    FMT(cmd, "cd '%s' && mkdir -p img gt && ct-random-weights --arch tiny --seed 2 -o rand.safetensors && printf 'cat\\ndog\\n' > classes.txt", T);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "setup: %s", err);
    uint8_t rgb[32 * 32 * 3] = {0}, g[32 * 32] = {0};
    char p[1200];
    FMT(p, "%s/img/a.png", T);
    CHECK(png_rgb(p, 32, 32, rgb), "picture");
    FMT(p, "%s/gt/a.png", T);
    CHECK(png_gray8(p, 32, 32, g), "ground truth");
    const char *runs[4] = {
        "demo -q --no-cache -m %s -V '%s' -c cat,dog -s 32 -i img/a.png -o out.png",
        "ct-batch -q --no-cache -m %s -V '%s' -c cat,dog -s 32 -O out-%d img",
        "ct-eval -q --no-cache -m %s -V '%s' --classes-file classes.txt -s 32 --images img --gt gt --state s%d.state",
        "ct-info %s -V '%s'",
    };
    for (int k = 0; k < 4; k++)
        for (int real = 0; real < 2; real++) {
            char one[2048], model[800];
            FMT(model, "'%s'", real ? tiny : "rand.safetensors");
            if (k == 1 || k == 2) FMT(one, runs[k], model, vocab, real);
            else FMT(one, runs[k], model, vocab);
            FMT(cmd, "cd '%s' && %s >/dev/null", T, one);
            int rc = t_sh(cmd, err, sizeof err);
            CHECK(rc == 0, "%s: exit %d: %s", one, rc, err);
            int n = t_count(err, "holds random weights");
            CHECK(n == (real ? 0 : 1), "%s: %d lines about random weights: %s", one, n, err);
        }
}

/* fetch-weights.sh: a random file in place is not the checkpoint */
static void fetch_weights_refuses_random(void) {
    char model[600], cmd[8192], err[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(model) || !tool_exists("ct-random-weights")) SKIP("tiny fixture or ct-random-weights not found");
    if (t_sh("command -v curl >/dev/null || command -v wget >/dev/null", NULL, 0) != 0) SKIP("neither curl nor wget");
    if (!file_exists("tools/ct-info")) SKIP("tools/ct-info not linked (make links)");
    const char *T = t_tmpdir();
    FMT(cmd, "mkdir -p %s/w && ct-random-weights --arch tiny -o %s/w/clip-vit-base-patch32.safetensors && cp '%s/vocab.json' '%s/merges.txt' %s/w/", T, T,
        oracle_dir(), oracle_dir(), T);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "setup: %s", err);
    /* offline: an error, not "have ... ok"; the random file left as it was */
    FMT(cmd, "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/nowhere tools/fetch-weights.sh b32 >%s/log 2>&1", T, T, T);
    int rc = sh(cmd);
    char lp[700];
    FMT(lp, "%s/log", T);
    char *log = slurp(lp, NULL);
    char have[800];
    FMT(have, "have %s/w/clip", T);
    CHECK(rc == 2 && log && strstr(log, "still holds random weights") && !strstr(log, "ok: ") && !strstr(log, have), "offline with a random file: exit %d: %s",
          rc, log ? log : "");
    free(log);
    /* a mirror: the real checkpoint downloaded over it */
    FMT(cmd, "M=%s/mirror/openai/clip-vit-base-patch32/resolve/main && mkdir -p $M && cp '%s' $M/model.safetensors && "
             "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/mirror tools/fetch-weights.sh b32 >%s/log 2>&1 && cmp -s '%s' %s/w/clip-vit-base-patch32.safetensors",
        T, model, T, T, T, model, T);
    rc = sh(cmd);
    log = slurp(lp, NULL);
    CHECK(rc == 0 && log && strstr(log, "random weights") && strstr(log, "ok: "), "the real checkpoint over the random one: exit %d: %s", rc, log ? log : "");
    free(log);
    /* a mirror serving a random file: refused, nothing installed over what is there */
    FMT(cmd, "ct-random-weights --arch tiny --seed 9 -o %s/mirror/openai/clip-vit-base-patch32/resolve/main/model.safetensors && rm %s/w/clip-vit-base-patch32.safetensors && "
             "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/mirror tools/fetch-weights.sh b32 >%s/log 2>&1",
        T, T, T, T, T);
    rc = sh(cmd);
    log = slurp(lp, NULL);
    CHECK(rc == 2 && log && strstr(log, "the downloaded model holds random weights") && !strstr(log, "ok: "), "a mirror of random weights: exit %d: %s", rc,
          log ? strstr(log, "fetch-weights") ? strstr(log, "fetch-weights") : log : "");
    FMT(cmd, "test ! -e %s/w/clip-vit-base-patch32.safetensors", T);
    CHECK(t_sh(cmd, NULL, 0) == 0, "random weights installed from a mirror");
    free(log);
}

int main(void) {
    RUN(marked_and_read);
    RUN(tools_say_so);
    RUN(fetch_weights_refuses_random);
    DONE();
}
