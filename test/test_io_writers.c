/* Our own writers of model files never leave a partial file in place (issue 11, item 5):
 * ct-random-weights writes a temporary file beside its output and renames it; fetch-weights.sh
 * downloads beside the destination, validates by loading, and only then moves the files in.
 * A full disk is simulated with RLIMIT_FSIZE in a child process. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Runs argv with stderr captured into err (NUL-terminated); fsize_limit > 0 sets RLIMIT_FSIZE in
 * the child. Returns the exit status, or 128 + signal. */
static int run_tool(char *const argv[], long fsize_limit, char *err, size_t cap) {
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        if (fsize_limit > 0) {
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(pfd[0], err + n, cap - 1 - n)) > 0 && n + 1 < cap) n += (size_t)r;
    err[n] = 0;
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* names in dir other than the ones listed (NULL-terminated); returns how many, printing them */
static int strangers(const char *dir, const char *const *allowed) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int ok = 0;
        for (int i = 0; allowed[i]; i++) ok |= !strcmp(e->d_name, allowed[i]);
        if (!ok) { printf("  left in %s: %s\n", dir, e->d_name); n++; }
    }
    closedir(d);
    return n;
}

static void random_weights_all_or_nothing(void) {
    if (!tool_exists("ct-random-weights")) SKIP("ct-random-weights not built");
    char dir[600], out[700], err[4096];
    FMT(dir, "%s/rw", t_tmpdir());
    FMT(out, "%s/model.safetensors", dir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    /* complete: the file loads and nothing else is left */
    char *ok_argv[] = {"ct-random-weights", "--arch", "tiny", "-o", out, NULL};
    CHECK(run_tool(ok_argv, 0, err, sizeof err) == 0, "tiny: %s", err);
    ct_model *m = NULL;
    ct_error e;
    CHECK(ct_model_load(out, &m, &e) == CT_OK, "written model does not load: %s", e.msg);
    ct_model_free(m);
    static const char *const only[] = {"model.safetensors", NULL};
    CHECK(strangers(dir, only) == 0, "files left beside the output");
    struct stat sb;
    CHECK(stat(out, &sb) == 0 && (sb.st_mode & 0444) == 0444, "mode %o: the output is not readable by all (mkstemp's 0600?)", sb.st_mode & 0777);
    /* a full disk (a 1 MB file size limit; the model is 13 MB): exit 2 naming the error, the
     * previous file untouched, no temporary file left */
    FILE *f = fopen(out, "wb");
    fputs("previous", f);
    fclose(f);
    int rc = run_tool(ok_argv, 1 << 20, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "File too large"), "file size limit: exit %d: %s", rc, err);
    size_t len = 0;
    char *prev = slurp(out, &len);
    CHECK(prev && len == 8 && !memcmp(prev, "previous", 8), "the previous file was changed (%zu bytes)", len);
    free(prev);
    CHECK(strangers(dir, only) == 0, "files left after a failed write");
    /* no previous file: still nothing left */
    remove(out);
    rc = run_tool(ok_argv, 1 << 20, err, sizeof err);
    static const char *const none[] = {NULL};
    CHECK(rc == 2 && strangers(dir, none) == 0, "failed write without a previous file: exit %d, files left", rc);
    /* a missing directory; a directory as the output */
    char bad[800];
    FMT(bad, "%s/nonexistent/model.safetensors", dir);
    char *miss_argv[] = {"ct-random-weights", "--arch", "tiny", "-o", bad, NULL};
    CHECK(run_tool(miss_argv, 0, err, sizeof err) == 2 && strstr(err, "No such file"), "missing directory: %s", err);
    FMT(bad, "%s/", dir);
    char *dir_argv[] = {"ct-random-weights", "--arch", "tiny", "-o", bad, NULL};
    CHECK(run_tool(dir_argv, 0, err, sizeof err) == 1 && strstr(err, "directory"), "directory as output: %s", err);
}

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* fetch-weights.sh against a local mirror (file://): a damaged model on the mirror is downloaded,
 * fails to load, and nothing is installed (the former script moved it into place first); a good
 * mirror installs all three files and leaves no partial directory. */
static void fetch_weights_validates_first(void) {
    char model[600], cmd[8192];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    if (!file_exists(model)) SKIP("tiny fixture not found under %s", oracle_dir());
    if (sh("command -v curl >/dev/null || command -v wget >/dev/null") != 0) SKIP("neither curl nor wget");
    const char *T = t_tmpdir();
    /* the mirror serves a model cut to half its size */
    FMT(cmd, "M=%s/mirror/openai/clip-vit-base-patch32/resolve/main && mkdir -p $M && head -c 500000 '%s' > $M/model.safetensors && "
             "cp '%s/vocab.json' '%s/merges.txt' $M/", T, model, oracle_dir(), oracle_dir());
    CHECK(sh(cmd) == 0, "mirror setup");
    FMT(cmd, "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/mirror tools/fetch-weights.sh b32 >%s/log 2>&1", T, T, T);
    CHECK(sh(cmd) == 2, "a damaged download is accepted");
    FMT(cmd, "grep -q 'nothing was installed' %s/log && test ! -e %s/w/clip-vit-base-patch32.safetensors && test ! -e %s/w/vocab.json && "
             "test ! -e %s/w/.partial-clip-vit-base-patch32", T, T, T, T);
    CHECK(sh(cmd) == 0, "files installed or left behind after a damaged download");
    /* the mirror repaired: everything installed, nothing left over */
    FMT(cmd, "cp '%s' %s/mirror/openai/clip-vit-base-patch32/resolve/main/model.safetensors", model, T);
    CHECK(sh(cmd) == 0, "mirror repair");
    FMT(cmd, "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/mirror tools/fetch-weights.sh b32 >%s/log 2>&1 && grep -q '^ok: ' %s/log", T, T, T, T);
    CHECK(sh(cmd) == 0, "good mirror");
    FMT(cmd, "cmp -s '%s' %s/w/clip-vit-base-patch32.safetensors && test -s %s/w/vocab.json && test -s %s/w/merges.txt && "
             "test ! -e %s/w/.partial-clip-vit-base-patch32", model, T, T, T, T);
    CHECK(sh(cmd) == 0, "installed files");
    /* a damaged vocabulary on the mirror, model already in place: the model stays, no vocabulary is installed */
    FMT(cmd, "rm %s/w/vocab.json && echo '{\"a\": ' > %s/mirror/openai/clip-vit-base-patch32/resolve/main/vocab.json && "
             "WEIGHTS_DIR=%s/w HF_ENDPOINT=file://%s/mirror tools/fetch-weights.sh b32 >%s/log 2>&1", T, T, T, T, T);
    CHECK(sh(cmd) == 2, "damaged vocabulary accepted");
    FMT(cmd, "test ! -e %s/w/vocab.json && cmp -s '%s' %s/w/clip-vit-base-patch32.safetensors", T, model, T);
    CHECK(sh(cmd) == 0, "damaged vocabulary installed, or the model touched");
}

/* weights/README.md says how to replace a checkpoint in use */
static void weights_readme(void) {
    char *r = slurp("weights/README.md", NULL);
    if (!r) SKIP("weights/README.md not in this tree");
    CHECK(strstr(r, "SIGBUS") && strstr(r, "rename"), "weights/README.md does not explain replacing a mapped checkpoint");
    free(r);
}

int main(void) {
    RUN(random_weights_all_or_nothing);
    RUN(fetch_weights_validates_first);
    RUN(weights_readme);
    DONE();
}
