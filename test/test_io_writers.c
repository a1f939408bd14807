/* Our own writers of model files never leave a partial file in place (issue 11, item 5):
 * ct-random-weights writes a temporary file beside its output and renames it; fetch-weights.sh
 * downloads beside the destination, validates by loading, and only then moves the files in.
 * A full disk is simulated with RLIMIT_FSIZE in a child process. */
#include "harness.h"
#include "io/file.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

static uint64_t fixed_random(void *ctx, int attempt) {
    (void)ctx;
    return attempt == 0 ? 0x123456789abcull : 0x0fedcba98765ull;
}

static int count_tmp(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

/* The library's output files (ct_output_*, and the PNG writers through them): a link planted at
 * the temporary name is never written through (the next name is taken), a link at the
 * destination is followed (its target replaced, the link kept), a failed write leaves the old file and no
 * temporary file, abort leaves nothing. */
static void output_files(void) {
    char dir[600], victim[700], dst[700], planted[700];
    FMT(dir, "%s/out", t_tmpdir());
    FMT(victim, "%s/victim.txt", t_tmpdir());
    FMT(dst, "%s/a.json", dir);
    FMT(planted, "%s/.a.json.123456789abc.tmp", dir);
    CHECK(mkdir(dir, 0755) == 0, "mkdir");
    FILE *f = fopen(victim, "wb");
    CHECK(f && fputs("keep", f) >= 0 && fclose(f) == 0, "victim");
    CHECK(symlink(victim, planted) == 0, "symlink");
    ct_atomic_file a;
    ct_error err;
    CHECK(ct_atomic_open_with(&a, dst, fixed_random, NULL, &err) == CT_OK, "%s", err.msg);
    ct_atomic_write(&a, "new", 3);
    CHECK(ct_atomic_commit(&a, &err) == CT_OK, "%s", err.msg);
    char *v = slurp(victim, NULL), *d = slurp(dst, NULL);
    CHECK(v && !strcmp(v, "keep"), "wrote through the link planted at the temporary name");
    CHECK(d && !strcmp(d, "new"), "destination content");
    free(v); free(d);
    unlink(planted);
    /* a link at the destination is followed: its target replaced, the link kept */
    unlink(dst);
    CHECK(symlink(victim, dst) == 0, "symlink");
    ct_output *o = NULL;
    CHECK(ct_output_open(dst, &o, &err) == CT_OK, "%s", err.msg);
    ct_output_write(o, "newer", 5);
    CHECK(ct_output_commit(o, &err) == CT_OK, "%s", err.msg);
    struct stat sb;
    v = slurp(victim, NULL);
    CHECK(lstat(dst, &sb) == 0 && S_ISLNK(sb.st_mode) && v && !strcmp(v, "newer"), "the destination link was replaced instead of followed");
    free(v);
    unlink(dst);
    f = fopen(dst, "wb");
    CHECK(f && fputs("newer", f) >= 0 && fclose(f) == 0, "destination");
    /* a failed write (a file-size limit in a child) leaves the old file and no temporary one */
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        static char big[65536];
        ct_output *ob = NULL;
        ct_error e2;
        if (ct_output_open(dst, &ob, &e2)) _exit(3);
        ct_output_write(ob, big, sizeof big);
        _exit(ct_output_commit(ob, &e2) == CT_ERR_IO && strstr(e2.msg, "cannot write") ? 0 : 4);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a failed write must be reported (child status %d)", st);
    d = slurp(dst, NULL);
    CHECK(d && !strcmp(d, "newer"), "the old file was touched by a failed write");
    free(d);
    CHECK(count_tmp(dir) == 0, "%d temporary files left", count_tmp(dir));
    /* abort: nothing left */
    CHECK(ct_output_open(dst, &o, &err) == CT_OK, "%s", err.msg);
    ct_output_write(o, "x", 1);
    ct_output_abort(o);
    CHECK(count_tmp(dir) == 0, "abort left a temporary file");
    d = slurp(dst, NULL);
    CHECK(d && !strcmp(d, "newer"), "abort touched the destination");
    free(d);
    /* refusals */
    CHECK(ct_output_open("", &o, &err) == CT_ERR_INVALID_ARG, "empty path");
    CHECK(ct_output_open(dir, &o, &err) != CT_OK, "a directory as the output");
    FMT(dst, "%s/no/such/dir/x", t_tmpdir());
    CHECK(ct_output_open(dst, &o, &err) == CT_ERR_IO && strstr(err.msg, "No such file"), "%s", err.msg);
}


static int write_output(const char *path, const char *text, ct_error *err) {
    ct_output *o = NULL;
    ct_status st = ct_output_open(path, &o, err);
    if (st) return st;
    ct_output_write(o, text, strlen(text));
    return ct_output_commit(o, err);
}

/* Output paths that are not plain files (issue 18, item 1): links (chains, relative, dangling)
 * are followed and the link kept, the replaced file's mode kept, a FIFO and a character device
 * written in place as streams (device nodes of our own, made with mknod in the private folder:
 * never /dev itself), a failed write to a device still an error. */
static void output_special_paths(void) {
    char dir[600], a[700], l1[700], l2[700], rel[700], dang[700], dtarget[700], fifo[700];
    ct_error err;
    FMT(dir, "%s/special", t_tmpdir());
    CHECK(mkdir(dir, 0755) == 0, "mkdir");
    FMT(a, "%s/real.txt", dir);
    FMT(l1, "%s/l1", dir);
    FMT(l2, "%s/l2", dir);
    FMT(rel, "%s/sub", dir);
    CHECK(mkdir(rel, 0755) == 0, "mkdir sub");
    FMT(rel, "%s/sub/rel", dir);
    FILE *f = fopen(a, "wb");
    CHECK(f && fputs("old", f) >= 0 && fclose(f) == 0, "file");
    CHECK(chmod(a, 0640) == 0, "chmod");
    /* l2 -> l1 -> real.txt (absolute), sub/rel -> ../l2 (relative) */
    CHECK(symlink(a, l1) == 0 && symlink("l1", l2) == 0 && symlink("../l2", rel) == 0, "symlinks");
    CHECK(write_output(rel, "chain", &err) == CT_OK, "%s", err.msg);
    struct stat sb;
    char *v = slurp(a, NULL);
    CHECK(v && !strcmp(v, "chain"), "the chain's target holds '%s'", v ? v : "(none)");
    free(v);
    CHECK(lstat(rel, &sb) == 0 && S_ISLNK(sb.st_mode) && lstat(l2, &sb) == 0 && S_ISLNK(sb.st_mode) && lstat(l1, &sb) == 0 && S_ISLNK(sb.st_mode), "a link of the chain was replaced");
    CHECK(stat(a, &sb) == 0 && (sb.st_mode & 07777) == 0640, "mode %o, not the replaced file's 0640", (unsigned)(sb.st_mode & 07777));
    CHECK(count_tmp(dir) == 0, "temporary file left");
    /* a dangling link: its target created, the link kept */
    FMT(dang, "%s/dangling", dir);
    FMT(dtarget, "%s/created.txt", dir);
    CHECK(symlink("created.txt", dang) == 0, "symlink");
    CHECK(write_output(dang, "made", &err) == CT_OK, "%s", err.msg);
    v = slurp(dtarget, NULL);
    CHECK(v && !strcmp(v, "made") && lstat(dang, &sb) == 0 && S_ISLNK(sb.st_mode), "dangling link: target %s", v ? v : "(not created)");
    free(v);
    /* a loop of links is an error, not a hang */
    FMT(l1, "%s/loop1", dir);
    FMT(l2, "%s/loop2", dir);
    CHECK(symlink("loop2", l1) == 0 && symlink("loop1", l2) == 0, "symlink loop");
    CHECK(write_output(l1, "x", &err) == CT_ERR_IO, "a loop of links: %s", err.msg);
    /* a FIFO: written in place (a reader holds it open), still a FIFO afterwards */
    FMT(fifo, "%s/pipe", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    CHECK(rfd >= 0, "open the FIFO's read end");
    CHECK(write_output(fifo, "through the pipe", &err) == CT_OK, "FIFO: %s", err.msg);
    char buf[64] = {0};
    CHECK(rfd >= 0 && read(rfd, buf, sizeof buf - 1) == 16 && !strcmp(buf, "through the pipe"), "FIFO data '%s'", buf);
    if (rfd >= 0) close(rfd);
    CHECK(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    /* a pipe through /proc/self/fd (as /dev/stdout names standard output): written as a stream */
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    char viafd[64];
    FMT(viafd, "/proc/self/fd/%d", pfd[1]);
    memset(buf, 0, sizeof buf);
    CHECK(write_output(viafd, "via fd", &err) == CT_OK && read(pfd[0], buf, sizeof buf - 1) == 6 && !strcmp(buf, "via fd"), "a pipe by /proc/self/fd: %s",
          err.msg);
    close(pfd[0]);
    close(pfd[1]);
    CHECK(count_tmp(dir) == 0, "temporary file left beside the FIFO");
    /* character devices of our own: one like /dev/null (1,3), one like /dev/full (1,7) */
    char nul[700], full[700], lnk[700];
    FMT(nul, "%s/null", dir);
    FMT(full, "%s/full", dir);
    FMT(lnk, "%s/to-full", dir);
    if (mknod(nul, S_IFCHR | 0666, makedev(1, 3)) != 0) SKIP("mknod is not permitted here (%s): device outputs untested", strerror(errno));
    CHECK(mknod(full, S_IFCHR | 0666, makedev(1, 7)) == 0, "mknod full: %s", strerror(errno));
    struct stat before, after;
    CHECK(lstat(nul, &before) == 0, "lstat");
    int wst = write_output(nul, "gone", &err);
    if (wst == CT_ERR_IO && strstr(err.msg, "Permission denied")) SKIP("device nodes cannot be opened here (nodev mount): %s", err.msg);
    CHECK(wst == CT_OK, "write to a null device: %s", err.msg);
    CHECK(lstat(nul, &after) == 0 && S_ISCHR(after.st_mode) && after.st_ino == before.st_ino && after.st_rdev == before.st_rdev, "the null device node was replaced");
    /* the PNG writers go the same way */
    int32_t lab[4] = {0, 1, 2, 3};
    CHECK(ct_labels_save_png(lab, 2, 2, 8, nul, &err) == CT_OK, "PNG to a null device: %s", err.msg);
    CHECK(lstat(nul, &after) == 0 && S_ISCHR(after.st_mode) && after.st_ino == before.st_ino, "the PNG writer replaced the device node");
    CHECK(lstat(full, &before) == 0, "lstat");
    CHECK(write_output(full, "no room", &err) == CT_ERR_IO && strstr(err.msg, "No space left"), "a failed write to a full device: %s", err.msg);
    CHECK(ct_labels_save_png(lab, 2, 2, 8, full, &err) == CT_ERR_IO, "PNG to a full device: %s", err.msg);
    CHECK(symlink("full", lnk) == 0, "symlink");
    CHECK(write_output(lnk, "no room", &err) == CT_ERR_IO, "a link to a full device: %s", err.msg);
    CHECK(lstat(full, &after) == 0 && S_ISCHR(after.st_mode) && after.st_ino == before.st_ino, "the full device node was replaced");
    CHECK(lstat(lnk, &after) == 0 && S_ISLNK(after.st_mode), "the link to the device was replaced");
    CHECK(count_tmp(dir) == 0, "temporary file left beside a device");
}

/* ct_read_file: the bytes and a NUL after them; refusals without blocking or reading too much */
static void read_files(void) {
    char path[600], fifo[600];
    FMT(path, "%s/r.bin", t_tmpdir());
    FMT(fifo, "%s/r.fifo", t_tmpdir());
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite("ab\0cd", 1, 5, f) == 5 && fclose(f) == 0, "write");
    uint8_t *d = NULL;
    size_t len = 0;
    ct_error err;
    CHECK(ct_read_file(path, 5, &d, &len, &err) == CT_OK && len == 5 && !memcmp(d, "ab\0cd", 5) && d[5] == 0, "read: %s", err.msg);
    ct_free(d);
    d = NULL;
    CHECK(ct_read_file(path, 4, &d, &len, &err) == CT_ERR_TOO_LARGE && !d, "above the limit: %s", err.msg);
    CHECK(ct_read_file(t_tmpdir(), 1 << 20, &d, &len, &err) == CT_ERR_IO && strstr(err.msg, "directory"), "directory: %s", err.msg);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(ct_read_file(fifo, 1 << 20, &d, &len, &err) == CT_ERR_IO && strstr(err.msg, "regular"), "FIFO: %s", err.msg);
    CHECK(ct_read_file(NULL, 1, &d, &len, &err) == CT_ERR_INVALID_ARG, "NULL path");
    FMT(path, "%s/none", t_tmpdir());
    CHECK(ct_read_file(path, 1, &d, &len, &err) == CT_ERR_IO && strstr(err.msg, "No such file"), "missing: %s", err.msg);
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
    RUN(output_files);
    RUN(output_special_paths);
    RUN(read_files);
    RUN(random_weights_all_or_nothing);
    RUN(fetch_weights_validates_first);
    RUN(weights_readme);
    DONE();
}
