/* tools/ct-batch end to end on the oracle's small models and generated pictures: its outputs are
 * the demo's for the same picture and options (PNG bytes, .npy bytes, the JSON but its timings);
 * directories, list files and standard input give the same outputs; a broken picture in the
 * middle is reported and skipped (exit 2); a run killed with SIGKILL mid-run resumes without
 * segmenting any picture twice and without counting a partial output as complete; pictures whose
 * outputs would share a name, and inputs an output would overwrite, are refused before any work;
 * several jobs give the outputs of one; other settings in the same directory are refused; the
 * progress bar appears on a terminal only. Cluster scale: --shard auto reads a Slurm job array
 * (the parser unit by unit, and its errors), three simulated array tasks of ct-batch write
 * exactly the outputs of one run, each picture once, and three of ct-eval merge into the one
 * run's metrics, bit for bit. */
#include "harness.h"
#include "tool_run.h"
#include "common.h"
#include "common/inputs.h"
#include "common/shard.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_tiny[700], g_small[700], g_vocab[700], g_oimg[700];

static int have_models(void) {
    char abs[600];
    const char *o = realpath(oracle_dir(), abs) ? abs : oracle_dir();
    FMT(g_tiny, "%s/tiny_f32_openai/model.safetensors", o);
    FMT(g_small, "%s/small_f16_hf/model.safetensors", o);
    FMT(g_vocab, "%s/bpe_simple_vocab_16e6.txt.gz", o);
    FMT(g_oimg, "%s/tiny_f32_openai/crop64/image.png", o);
    return file_exists(g_tiny) && file_exists(g_small) && file_exists(g_vocab) && file_exists(g_oimg) && tool_exists("ct-batch") &&
           tool_exists("demo");
}

static int run2(const char *cmd, char *out, size_t out_cap, char *err, size_t err_cap) { return tool_run(cmd, out, out_cap, err, err_cap, NULL); }

static int run(const char *cmd, char *err, size_t cap) { return tool_run(cmd, NULL, 0, err, cap, NULL); }

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

/* a picture w x h whose content depends on k: regions of different colours */
static void make_picture(const char *path, int w, int h, int k) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int c = (x * 3 / w) + 3 * (y * 2 / h) + k;
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(c * 53 + x);
            p[1] = (uint8_t)(255 - c * 37);
            p[2] = (uint8_t)(c * 91 + y * 2);
        }
    CHECK(png_rgb(path, w, h, rgb), "cannot write %s", path);
    free(rgb);
}

static void make_pictures(const char *dir, int n, int w, int h) {
    for (int k = 0; k < n; k++) {
        char p[1200];
        FMT(p, "%s/p%03d.png", dir, k);
        make_picture(p, w + 16 * (k % 3), h, k);
    }
}

/* a fresh directory `name` with n pictures in name/in (p000.png ...); on the heap */
static char *dir_with_pictures(const char *name, int n, int w, int h) {
    char *dir = fresh_dir(name), p[1400];
    FMT(p, "%s/in", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
    make_pictures(p, n, w, h);
    return dir;
}

static int same_bytes(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x); free(y);
    return same;
}

/* a JSON report without its timings line; mask_threads: the "threads" value replaced */
static char *json_norm(const char *path, int mask_threads) {
    char *t = slurp(path, NULL);
    if (!t) return NULL;
    char *tl = strstr(t, "  \"timings_s\"");
    if (tl) {
        char *nl = strchr(tl, '\n');
        if (nl) memmove(tl, nl + 1, strlen(nl + 1) + 1);
    }
    char *th = mask_threads ? strstr(t, "\"threads\": ") : NULL;
    if (th)
        for (char *p = th + 11; *p >= '0' && *p <= '9'; p++) *p = '#';
    return t;
}

static int same_json(const char *a, const char *b, int mask_threads) {
    char *x = json_norm(a, mask_threads), *y = json_norm(b, mask_threads);
    int same = x && y && !strcmp(x, y);
    free(x); free(y);
    return same;
}

/* the file names of a directory (not starting with '.'), sorted, one a line */
static void listing(const char *dir, char *out, size_t cap) {
    char cmd[1400];
    FMT(cmd, "ls -1 '%s'", dir);
    run2(cmd, out, cap, NULL, 0);
}

/* every output of every picture in dirs a and b is the same (JSON without timings) */
static void same_outputs(const char *a, const char *b, int mask_threads, const char *what) {
    char la[16384], lb[16384];
    listing(a, la, sizeof la);
    listing(b, lb, sizeof lb);
    CHECK(!strcmp(la, lb), "%s: other files:\n%s\nvs\n%s", what, la, lb);
    int n = 0, bad = 0;
    for (char *line = strtok(la, "\n"); line; line = strtok(NULL, "\n")) {
        char pa[1400], pb[1400];
        FMT(pa, "%s/%s", a, line);
        FMT(pb, "%s/%s", b, line);
        size_t len = strlen(line);
        int json = len > 5 && !strcmp(line + len - 5, ".json");
        struct stat sb;
        if (stat(pa, &sb) == 0 && S_ISDIR(sb.st_mode)) continue;
        if (json ? !same_json(pa, pb, mask_threads) : !same_bytes(pa, pb)) {
            if (!bad++) CHECK(0, "%s: %s differs", what, line);
        }
        n++;
    }
    CHECK(n > 0, "%s: no outputs compared", what);
}

static int count_suffix(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    size_t ls = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > ls && !strcmp(e->d_name + l - ls, suffix)) n++;
    }
    closedir(d);
    return n;
}

static int count_lines(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* "done D, skipped S, failed F" of the summary */
static int summary(const char *err, int *done, int *skipped, int *failed) {
    const char *p = strstr(err, "done ");
    while (p && sscanf(p, "done %d, skipped %d, failed %d", done, skipped, failed) != 3) p = strstr(p + 5, "done ");
    return p != NULL;
}

/* ------------------------------------------------------------------ the demo's outputs */

static void same_as_demo(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = fresh_dir("demo-parity"), cmd[8192], err[8192], p[1400], q[1400];
    FMT(p, "%s/in", dir);
    mkdir(p, 0755);
    FMT(q, "%s/in/wide.png", dir);
    make_picture(q, 120, 64, 1);
    FMT(q, "%s/in/tall.png", dir);
    make_picture(q, 64, 100, 2);
    FMT(q, "%s/in/oracle.png", dir);
    FMT(cmd, "cp '%s' '%s'", g_oimg, q);
    CHECK(system(cmd) == 0, "copy");
    /* three settings: the default head with background names; --crop with a head of the mmseg
     * family; SC-CLIP with its own flags (its outlier masks among the dumps) */
    const char *variants[3][2] = {{g_tiny, "-c 'cat;kitten,dog' -b grass -s 64"},
                                  {g_small, "-c 'sky,tree;bush,road' -s 64 --crop --head sclip --slide 64,32 --pamr 2"},
                                  {g_small, "-c 'sky,tree;bush,road' -s 96 --crop --head scclip --sc-layers 7,2,5,11 --res-cls 0.5 --sc-beta 0.3"}};
    for (int v = 0; v < 3; v++) {
        const char *common = variants[v][1], *model = variants[v][0];
        FMT(cmd, "cd '%s' && ct-batch -q --no-cache -t 1 --jobs 1 -m '%s' -V '%s' %s --overlay --labels --dump -O out%d in", dir, model, g_vocab,
            common, v);
        int rc = run(cmd, err, sizeof err);
        CHECK(rc == 0, "variant %d: ct-batch exit %d: %s", v, rc, err);
        const char *stems[3] = {"wide", "tall", "oracle"};
        for (int k = 0; k < 3; k++) {
            const char *s = stems[k];
            FMT(cmd, "cd '%s' && rm -rf d && mkdir d && demo -q --no-cache -t 1 -m '%s' -V '%s' %s -i in/%s.png -o d/%s.png --overlay d/%s.overlay.png "
                     "--labels d/%s.labels.png --json d/%s.json --dump d/%s.dump",
                dir, model, g_vocab, common, s, s, s, s, s, s);
            rc = run(cmd, err, sizeof err);
            CHECK(rc == 0, "variant %d: demo on %s: exit %d: %s", v, s, rc, err);
            const char *sfx[4] = {".png", ".overlay.png", ".labels.png", ".json"};
            for (int j = 0; j < 4; j++) {
                FMT(p, "%s/d/%s%s", dir, s, sfx[j]);
                FMT(q, "%s/out%d/%s%s", dir, v, s, sfx[j]);
                if (j == 3) CHECK(same_json(p, q, 0), "variant %d: %s%s differs from the demo's (timings aside)", v, s, sfx[j]);
                else CHECK(same_bytes(p, q), "variant %d: %s%s differs from the demo's", v, s, sfx[j]);
            }
            /* the intermediates, file by file */
            FMT(p, "%s/d/%s.dump", dir, s);
            DIR *d = opendir(p);
            int n = 0;
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char a[1400], b[1400];
                FMT(a, "%s/d/%s.dump/%s", dir, s, e->d_name);
                FMT(b, "%s/out%d/%s.dump/%s", dir, v, s, e->d_name);
                CHECK(same_bytes(a, b), "variant %d: %s.dump/%s differs from the demo's", v, s, e->d_name);
                n++;
            }
            if (d) closedir(d);
            CHECK(n >= 4, "variant %d: %d dump files", v, n);
            FMT(p, "%s/out%d/%s.dump", dir, v, s);
            CHECK(count_suffix(p, ".npy") == n, "variant %d: the batch dumped other files than the demo", v);
        }
    }
    free(dir);
}

/* ------------------------------------------------------------------ inputs */

static void directory_list_stdin(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = dir_with_pictures("inputs", 4, 48, 48), cmd[8192], err[8192], p[1400];
    /* not pictures of the directory: a hidden file, another extension, a subdirectory */
    FMT(p, "%s/in/.hidden.png", dir);
    make_picture(p, 32, 32, 9);
    FMT(p, "%s/in/notes.txt", dir);
    put(p, "not a picture\n");
    FMT(p, "%s/in/sub.png", dir);
    mkdir(p, 0755);
    /* a list with a blank line and CRLF line ends, relative to the current directory */
    FMT(p, "%s/list.txt", dir);
    put(p, "in/p000.png\r\n\nin/p001.png\nin/p002.png\r\nin/p003.png");
    const char *base = "-q --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48";
    char opts[2048];
    FMT(opts, base, g_tiny, g_vocab);
    FMT(cmd, "cd '%s' && ct-batch %s -O by-dir in && ct-batch %s -O by-list --list list.txt && ct-batch %s -O by-stdin --list - < list.txt && "
             "ct-batch %s -O by-args in/p000.png in/p001.png in/p002.png in/p003.png",
        dir, opts, opts, opts, opts);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "exit %d: %s", rc, err);
    char a[1400], b[1400];
    FMT(a, "%s/by-dir", dir);
    CHECK(count_suffix(a, ".json") == 4, "the directory gave %d pictures, want 4 (no hidden file, text or subdirectory)", count_suffix(a, ".json"));
    const char *others[3] = {"by-list", "by-stdin", "by-args"};
    for (int k = 0; k < 3; k++) {
        FMT(b, "%s/%s", dir, others[k]);
        same_outputs(a, b, 0, others[k]);
    }
    free(dir);
}

static void broken_file_skipped(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = dir_with_pictures("broken", 4, 48, 48), cmd[8192], err[16384], p[1400]; /* p000 .. p003 */
    /* in the middle of the sorted list: garbage, an empty file, a PNG cut in half */
    FMT(p, "%s/in/p001b.png", dir);
    put(p, "this is not a PNG at all");
    FMT(p, "%s/in/p001c.jpg", dir);
    put(p, "");
    char full[1400];
    FMT(full, "%s/in/p000.png", dir);
    size_t len = 0;
    char *png = slurp(full, &len);
    FMT(p, "%s/in/p002b.png", dir);
    FILE *f = fopen(p, "w");
    CHECK(f && png && fwrite(png, 1, len / 2, f) == len / 2 && fclose(f) == 0, "cannot write %s", p);
    free(png);
    FMT(cmd, "cd '%s' && ct-batch --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48 -O out in", dir, g_tiny, g_vocab);
    int rc = run(cmd, err, sizeof err), done = -1, skipped = -1, failed = -1;
    CHECK(rc == 2, "a failed picture: exit %d, want 2: %s", rc, err);
    CHECK(strstr(err, "p001b.png") && strstr(err, "p001c.jpg") && strstr(err, "p002b.png"), "each broken file named: %s", err);
    CHECK(count_lines(err, ": failed: ") == 3, "one message a broken file: %s", err);
    CHECK(summary(err, &done, &skipped, &failed) && done == 4 && skipped == 0 && failed == 3, "summary: %s", err);
    FMT(p, "%s/out", dir);
    CHECK(count_suffix(p, ".json") == 4 && count_suffix(p, ".png") == 4, "the good pictures' outputs");
    FMT(p, "%s/out/p003.json", dir);
    CHECK(file_exists(p), "the picture after the broken ones was segmented");
    /* again: the good ones are complete, the broken ones fail again */
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && summary(err, &done, &skipped, &failed) && done == 0 && skipped == 4 && failed == 3, "second run: exit %d: %s", rc, err);
    /* an output that cannot be written (a directory where p001.png goes, after a run wrote it): the
     * picture fails and its .json, written last, is absent: nothing incomplete counts as complete */
    FMT(cmd, "cd '%s' && ct-batch -q --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48 -O out2 in/p000.png in/p001.png in/p002.png in/p003.png && "
             "rm out2/p001.png out2/p001.json out2/p002.json && mkdir -p out2/p001.png && ct-batch --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48 -O out2 in",
        dir, g_tiny, g_vocab, g_tiny, g_vocab);
    rc = run(cmd, err, sizeof err);
    FMT(p, "%s/out2/p001.json", dir);
    CHECK(rc == 2 && strstr(err, "p001.png") && !file_exists(p), "an unwritable output: exit %d, p001.json %s: %s", rc, file_exists(p) ? "written" : "absent", err);
    FMT(p, "%s/out2/p002.json", dir);
    CHECK(file_exists(p), "the next picture was segmented");
    /* without the broken files: all complete, exit 0 */
    FMT(cmd, "cd '%s' && rm in/p001b.png in/p001c.jpg in/p002b.png && ct-batch --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48 -O out in", dir,
        g_tiny, g_vocab);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && summary(err, &done, &skipped, &failed) && done == 0 && skipped == 4 && failed == 0, "all complete: exit %d: %s", rc, err);
    free(dir);
}

/* ------------------------------------------------------------------ resume after SIGKILL */

static int64_t mtime_ns(const char *p) {
    struct stat sb;
    if (stat(p, &sb) != 0) return -1;
    return (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
}

static void resume_after_kill(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    enum { N = 24 };
    char *dir = dir_with_pictures("kill", N, 64, 48), cmd[8192], p[1400], q[1400];
    static char err[65536];
    /* ~25 ms a picture on one thread (the small model at 192): the run lasts long enough to be
     * killed after its first outputs and well before its last */
    char opts[2048];
    FMT(opts, "--no-cache -t 1 --jobs 1 -m '%s' -V '%s' -c 'cat,dog,grass' -s 192 --labels", g_small, g_vocab);
    FMT(cmd, "cd '%s' && exec ct-batch -q %s -O out in", dir, opts);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    FMT(p, "%s/out", dir);
    int seen = 0;
    for (int i = 0; i < 60000 && (seen = count_suffix(p, ".json")) < 3; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { pid = -1; break; }
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    CHECK(pid > 0, "ct-batch ended before it could be killed (%d outputs)", seen);
    if (pid > 0) {
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "killed by SIGKILL");
    }
    /* after the kill: each picture with a .json has its other outputs, intact */
    int complete = 0, tmp = 0;
    int64_t mt[N];
    int had[N];
    for (int k = 0; k < N; k++) {
        FMT(p, "%s/out/p%03d.json", dir, k);
        had[k] = file_exists(p);
        mt[k] = mtime_ns(p);
        if (!had[k]) continue;
        complete++;
        FMT(q, "%s/out/p%03d.labels.png", dir, k);
        CHECK(file_exists(q), "p%03d: a .json without its label PNG", k);
        FMT(q, "%s/out/p%03d.png", dir, k);
        CHECK(file_exists(q), "p%03d: a .json without its colour PNG", k);
    }
    FMT(p, "%s/out", dir);
    tmp = count_suffix(p, ".tmp");
    CHECK(complete >= 3 && complete < N, "killed mid-run: %d of %d complete", complete, N);
    printf("  killed after %d of %d pictures (%d temporary file%s left)\n", complete, N, tmp, tmp == 1 ? "" : "s");
    /* leftovers of a kill during a write, planted: those of a picture to redo go, others stay */
    FMT(q, "%s/out/.p%03d.labels.png.00000000abcd.tmp", dir, N - 1);
    put(q, "half a PNG");
    FMT(q, "%s/out/.notours.png.00000000abcd.tmp", dir);
    put(q, "");
    /* the second run segments exactly the others, once each */
    FMT(cmd, "cd '%s' && ct-batch -v %s -O out in", dir, opts);
    int rc = run(cmd, err, sizeof err), done = -1, skipped = -1, failed = -1;
    CHECK(rc == 0, "resume: exit %d: %s", rc, err);
    CHECK(summary(err, &done, &skipped, &failed) && done == N - complete && skipped == complete && failed == 0, "resume summary (%d complete before): %s",
          complete, err);
    for (int k = 0; k < N; k++) {
        char line[64];
        snprintf(line, sizeof line, "segmented in/p%03d.png ", k);
        int n = count_lines(err, line);
        CHECK(n == (had[k] ? 0 : 1), "p%03d segmented %d times by the resumed run (complete before: %d)", k, n, had[k]);
        FMT(p, "%s/out/p%03d.json", dir, k);
        if (had[k]) CHECK(mtime_ns(p) == mt[k], "p%03d: its .json was written again", k);
    }
    FMT(p, "%s/out", dir);
    CHECK(count_suffix(p, ".tmp") == 1 && file_exists(q), "temporary files of the killed run left, or another's removed: %d", count_suffix(p, ".tmp"));
    /* and the outputs are those of a run that was never interrupted */
    FMT(cmd, "cd '%s' && ct-batch -q %s -O whole in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "uninterrupted run: %s", err);
    FMT(p, "%s/out", dir);
    FMT(q, "%s/whole", dir);
    same_outputs(p, q, 0, "resumed vs uninterrupted");
    free(dir);
}

/* ------------------------------------------------------------------ refusals */

static void names_and_settings(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = fresh_dir("names"), cmd[8192], err[8192], p[1400];
    const char *sub[3] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        FMT(p, "%s/%s", dir, sub[k]);
        mkdir(p, 0755);
    }
    FMT(p, "%s/a/x.png", dir);
    make_picture(p, 32, 32, 1);
    FMT(p, "%s/b/x.jpg", dir); /* same stem, another extension: the bytes are a PNG, the name is what counts */
    make_picture(p, 32, 32, 2);
    FMT(p, "%s/c/x.overlay.png", dir);
    make_picture(p, 32, 32, 3);
    char opts[2048];
    /* a model that does not exist: the refusals come before any work */
    FMT(opts, "--no-cache -m '%s/none.safetensors' -V '%s' -c 'cat,dog' -s 32", dir, g_vocab);
    struct { const char *args, *msg; } cases[] = {
        {"-O out a/x.png b/x.jpg", "would both write"},
        {"-O out a b", "would both write"},
        {"-O out a/x.png a/x.png", "would both write"},
        {"-O out --overlay a c", "x.overlay.png"},
        {"-O a a/x.png", "overwritten"},
        {"-O ./a/ a", "overwritten"},
        {"a", "no output directory"},
        {"-O out", "no pictures"},
        {"-O out --jobs 0 a", "--jobs"},
        {"-O out --jobs x a", "--jobs"},
        {"-O out --shard 3/3 a", "--shard"},
        {"-O out --shard 1 a", "--shard"},
        {"-O out --overlay=x a", "--overlay"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        FMT(cmd, "cd '%s' && ct-batch %s %s", dir, opts, cases[k].args);
        int rc = run(cmd, err, sizeof err);
        CHECK(rc == 1 && strstr(err, cases[k].msg), "'%s': exit %d, want 1 with '%s': %s", cases[k].args, rc, cases[k].msg, err);
    }
    FMT(p, "%s/out", dir);
    CHECK(count_suffix(p, ".png") <= 0 && count_suffix(p, ".json") <= 0, "nothing written by a refused run");
    /* without --overlay "a" and "c" do not collide */
    FMT(cmd, "cd '%s' && ct-batch -q --no-cache -m '%s' -V '%s' -c 'cat,dog' -s 32 -O out a c", dir, g_tiny, g_vocab);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "x and x.overlay without --overlay: exit %d: %s", rc, err);
    /* the same directory with other settings: refused, naming the setting */
    struct { const char *args, *what; } other[] = {
        {"-c 'cat,dog' -s 48", "size is 32 there, 48 here"},
        {"-c 'dog,cat' -s 32", "classes"},
        {"-c 'cat,dog' -s 32 --crop", "crop"},
        {"-c 'cat,dog' -s 32 --head naclip", "head"},
    };
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        FMT(cmd, "cd '%s' && ct-batch -q --no-cache -m '%s' -V '%s' %s -O out a c", dir, g_tiny, g_vocab, other[k].args);
        rc = run(cmd, err, sizeof err);
        CHECK(rc == 1 && strstr(err, other[k].what), "'%s' into the same directory: exit %d: %s", other[k].args, rc, err);
    }
    /* another model: its contents differ */
    FMT(cmd, "cd '%s' && ct-batch -q --no-cache -m '%s' -V '%s' -c 'cat,dog' -s 32 -O out a c", dir, g_small, g_vocab);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "model is "), "another model into the same directory: exit %d: %s", rc, err);
    free(dir);
}

static void jobs_give_the_same_outputs(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = dir_with_pictures("jobs", 7, 64, 48), cmd[8192], err[8192], p[1400], q[1400];
    char opts[2048];
    FMT(opts, "--no-cache -m '%s' -V '%s' -c 'cat;kitten,dog,grass' -b sky -s 64 --overlay --labels --dump", g_tiny, g_vocab);
    /* one job on one thread; two jobs of one thread (one shared model); three jobs of two threads
     * (a model each); auto with 2 threads and 7 pictures: one picture per thread; auto with 8
     * threads and 7 pictures: one picture at a time on all 8 */
    const char *modes[5] = {"--jobs 1 -t 1", "--jobs 2 -t 2", "--jobs 3 -t 6", "-t 2", "-t 8"};
    const int want[5][2] = {{1, 1}, {2, 1}, {3, 2}, {2, 1}, {1, 8}};
    for (int m = 0; m < 5; m++) {
        FMT(cmd, "cd '%s' && ct-batch %s %s -O out%d in", dir, opts, modes[m], m);
        int rc = run(cmd, err, sizeof err);
        CHECK(rc == 0, "%s: exit %d: %s", modes[m], rc, err);
        int j = 0, t = 0;
        const char *sm = strstr(err, "images/s; "), *x = sm ? strstr(sm, " x ") : NULL;
        CHECK(x && sscanf(sm, "images/s; %d", &j) == 1 && sscanf(x, " x %d", &t) == 1, "%s: no summary: %s", modes[m], err);
        CHECK(j == want[m][0] && t == want[m][1], "%s: ran %d jobs x %d threads, want %d x %d", modes[m], j, t, want[m][0], want[m][1]);
    }
    FMT(p, "%s/out0", dir);
    FMT(q, "%s/out1", dir);
    same_outputs(p, q, 0, "--jobs 2 vs --jobs 1");
    FMT(q, "%s/out2", dir);
    same_outputs(p, q, 1, "--jobs 3 -t 6 vs --jobs 1"); /* threads per picture differ: the JSON says so */
    FMT(q, "%s/out3", dir);
    same_outputs(p, q, 0, "auto (2 x 1) vs --jobs 1");
    FMT(q, "%s/out4", dir);
    same_outputs(p, q, 1, "auto (1 x 8) vs --jobs 1");
    for (int k = 0; k < 7; k++) {
        FMT(p, "%s/out0/p%03d.dump", dir, k);
        FMT(q, "%s/out1/p%03d.dump", dir, k);
        same_outputs(p, q, 0, "dumps of --jobs 2");
    }
    free(dir);
}

/* The bar on a terminal (script(1) gives the run a pseudo-terminal), none elsewhere. */
static void progress_bar_on_a_terminal(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char cmd[8192], out[16384], err[16384], ts[700]; /* script's typescript: a private file, never /dev/null */
    FMT(ts, "%s/typescript", t_tmpdir());
    FMT(cmd, "script -qec true '%s' >/dev/null 2>&1", ts);
    if (system(cmd) != 0) SKIP("script(1) cannot make a pseudo-terminal here");
    char *dir = dir_with_pictures("bar", 3, 48, 48);
    char opts[2048];
    FMT(opts, "--no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48", g_tiny, g_vocab);
    FMT(cmd, "cd '%s' && ct-batch %s -O out1 in", dir, opts);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && !strchr(err, '\r') && !strstr(err, "ETA"), "no bar when stderr is not a terminal: %s", err);
    FMT(cmd, "cd '%s' && script -qec \"ct-batch %s -O out2 in\" '%s'", dir, opts, ts);
    rc = run2(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strchr(out, '\r') && strstr(out, "3/3") && strstr(out, "images/s") && strstr(out, "ETA"), "the bar on a terminal: %s", out);
    FMT(cmd, "cd '%s' && script -qec \"ct-batch -q %s -O out3 in\" '%s'", dir, opts, ts);
    rc = run2(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && !strstr(out, "ETA") && !strstr(out, "done 3"), "-q silences the bar and the summary: %s", out);
    free(dir);
}

/* Files the tools did not write are not replaced (issue 18, item 4): ct-batch -O photos
 * photos/a.jpg leaves an unrelated photos/a.png alone; an output that is an input through a
 * symlink (-O lib links/, links/b.png -> ../lib/b.png) is refused; the demo refuses -o IMAGE and
 * two outputs that are one file. All before any work: every file keeps its bytes. */
static void not_our_files(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = fresh_dir("not-ours"), cmd[8192], err[8192], p[1400], q[1400];
    const char *sub[3] = {"photos", "lib", "links"};
    for (int k = 0; k < 3; k++) {
        FMT(p, "%s/%s", dir, sub[k]);
        CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
    }
    FMT(p, "%s/photos/a.jpg", dir);
    make_picture(p, 48, 48, 1);
    FMT(p, "%s/photos/a.png", dir);
    make_picture(p, 40, 40, 2);
    FMT(p, "%s/lib/b.png", dir);
    make_picture(p, 48, 48, 3);
    FMT(cmd, "cd '%s' && ln -s ../lib/b.png links/b.png && cp photos/a.png a.keep && cp lib/b.png b.keep", dir);
    CHECK(system(cmd) == 0, "setup");
    char opts[2048];
    FMT(opts, "-q --no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog' -s 48", g_tiny, g_vocab);
    struct { const char *tool, *args, *msg; } cases[] = {
        {"ct-batch", "-O photos photos/a.jpg", "was not written by ct-batch"},
        {"ct-batch", "-O lib links", "overwritten"},
        {"ct-batch", "-O lib links/b.png", "overwritten"},
        {"ct-batch", "-O photos --list list.txt", "was not written by ct-batch"},
        {"demo", "-i lib/b.png -o lib/b.png", "same file"},
        {"demo", "-i lib/b.png -o links/b.png", "same file"},
        {"demo", "-i links/b.png --labels lib/b.png", "same file"},
        {"demo", "-i photos/a.jpg -o x.png --overlay ./x.png", "are the same file"},
    };
    FMT(p, "%s/list.txt", dir);
    put(p, "photos/a.jpg\n");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        FMT(cmd, "cd '%s' && %s %s %s", dir, cases[k].tool, opts, cases[k].args);
        int rc = run(cmd, err, sizeof err);
        CHECK(rc == 1 && strstr(err, cases[k].msg), "%s %s: exit %d, want 1 with '%s': %s", cases[k].tool, cases[k].args, rc, cases[k].msg, err);
    }
    FMT(p, "%s/photos/a.png", dir);
    FMT(q, "%s/a.keep", dir);
    CHECK(same_bytes(p, q), "photos/a.png was replaced");
    FMT(p, "%s/lib/b.png", dir);
    FMT(q, "%s/b.keep", dir);
    CHECK(same_bytes(p, q), "lib/b.png was replaced");
    FMT(p, "%s/photos/a.json", dir);
    CHECK(!file_exists(p), "a refused run wrote a.json");
    /* what ct-batch wrote it may write again (resume, more outputs); a file put there later is not */
    FMT(cmd, "cd '%s' && ct-batch %s -O out photos/a.jpg && rm out/a.json && ct-batch %s -O out photos/a.jpg && ct-batch %s -O out --labels photos/a.jpg", dir,
        opts, opts, opts);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "ct-batch into its own directory again: exit %d: %s", rc, err);
    FMT(cmd, "cd '%s' && cp photos/a.png out/a.overlay.png && ct-batch %s -O out --overlay photos/a.jpg", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "a.overlay.png") && strstr(err, "was not written"), "a file put into OUTDIR later: exit %d: %s", rc, err);
    free(dir);
}

/* One writer (issue 18, item 5). The test process holds the locks a running ct-batch would: the
 * directory's (a second run fails at once, naming the holder), a shard's (the same shard again
 * fails, another shard runs), a picture's (that picture is left to its writer, and its
 * temporary file with it; the others are done and a dead run's temporary file removed). */
static void one_writer(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = dir_with_pictures("one-writer", 3, 48, 48), cmd[8192], err[8192], p[1400], q[1400];
    char opts[2048];
    FMT(opts, "--no-cache -t 1 --jobs 1 -m '%s' -V '%s' -c 'cat,dog' -s 48", g_tiny, g_vocab);
    FMT(p, "%s/out", dir);
    CHECK(mkdir(p, 0755) == 0, "mkdir");
    FMT(p, "%s/out/.ct-batch-lock", dir);
    int fd = open(p, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0, "open %s", p);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    /* the directory: a run without --shard holds it */
    CHECK(lock_range(fd, F_WRLCK, 0, 1, NULL) == 1, "lock byte 0");
    FMT(cmd, "cd '%s' && ct-batch %s -O out in", dir, opts);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "in use by another ct-batch") && strstr(err, pid), "a second run: exit %d: %s", rc, err);
    FMT(cmd, "cd '%s' && ct-batch %s --shard 1/2 -O out in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "in use by another ct-batch"), "a shard while a whole run writes: exit %d: %s", rc, err);
    FMT(p, "%s/out", dir);
    CHECK(count_suffix(p, ".json") == 0, "a refused run wrote outputs");
    /* shard 0/2 runs: its own shard is refused, the other shard runs */
    CHECK(lock_range(fd, F_RDLCK, 0, 1, NULL) == 1 && lock_range(fd, F_WRLCK, (1ll << 40) + 1, 1, NULL) == 1, "lock shard 0/2");
    FMT(cmd, "cd '%s' && ct-batch %s --shard 0/2 -O out in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "shard 0/2") && strstr(err, pid), "the same shard twice: exit %d: %s", rc, err);
    FMT(cmd, "cd '%s' && ct-batch %s --shard 1/2 -O out in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 0 && count_suffix(p, ".json") == 1, "another shard beside it: exit %d: %s", rc, err);
    /* picture 0 being written by the holder: left alone with its temporary file; picture 2's
     * temporary file (a dead writer's) removed */
    CHECK(lock_range(fd, F_UNLCK, 0, 0, NULL) == 1 && lock_range(fd, F_WRLCK, 1, 1, NULL) == 1, "lock picture 0");
    FMT(q, "%s/out/.p000.png.00000000abcd.tmp", dir);
    put(q, "being written");
    FMT(p, "%s/out/.p002.png.00000000abcd.tmp", dir);
    put(p, "left by a killed run");
    FMT(cmd, "cd '%s' && ct-batch %s -O out in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "in/p000.png is being segmented by another ct-batch") && strstr(err, pid), "a picture being written: exit %d: %s", rc, err);
    CHECK(file_exists(q) && !file_exists(p), "temporary files: the live writer's %s, the dead one's %s", file_exists(q) ? "kept" : "removed",
          file_exists(p) ? "kept" : "removed");
    FMT(p, "%s/out/p000.json", dir);
    CHECK(!file_exists(p), "p000 written while its writer held it");
    FMT(p, "%s/out/p002.json", dir);
    CHECK(file_exists(p), "p002 not written");
    close(fd);
    /* the holder gone: complete, and the settings file exclusively the first run's */
    FMT(cmd, "cd '%s' && ct-batch %s -O out in && ls -a out | grep -c 'ct-batch-settings'", dir, opts);
    char out[256];
    rc = run2(cmd, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && atoi(out) == 1, "after the holder: exit %d (%s): %s", rc, out, err);
    free(dir);
}

/* Cost checks (issue 18, item 11): --jobs N passes the memory check of --jobs auto (under an
 * address-space limit of 1.2 GB, two pictures of about 900 MB each at -s 1024 are refused before
 * any segmentation, one is not); a full disk stops the batch after the first failed write
 * instead of segmenting every other picture for nothing (a file-size limit of 4 KiB, SIGXFSZ
 * ignored: the overlays, 480 x 320 photos, fail with EFBIG, as on a full disk with ENOSPC; the
 * limit also holds for the run's standard error, which stays below it). */
static void costs_checked(void) {
    if (!have_models()) SKIP("oracle models or tools not found under %s", oracle_dir());
    char *dir = dir_with_pictures("costs", 6, 480, 320), cmd[8192], err[16384], p[1400];
    const char *san = getenv("CT_SANITIZER");
    int rc, done = -1, skipped = -1, failed = -1;
    if (san && *san) {
        printf("  the --jobs case skipped: an address-space limit stops the %s runtime itself\n", san);
    } else {
        FMT(cmd, "cd '%s' && ulimit -v 1200000 && ct-batch --no-cache -t 2 --jobs 2 -m '%s' -V '%s' -c 'cat,dog' -s 1024 -O big in/p000.png in/p001.png", dir,
            g_tiny, g_vocab);
        rc = run(cmd, err, sizeof err);
        FMT(p, "%s/big", dir);
        CHECK(rc == 1 && strstr(err, "--jobs 2: 2 pictures at once need about") && strstr(err, "--jobs 1 or fewer") && count_suffix(p, ".json") <= 0,
              "--jobs 2 beyond the memory: exit %d: %s", rc, err);
    }
    /* the disk full after the settings: the first picture fails, nothing more is tried */
    FMT(cmd, "cd '%s' && trap '' XFSZ && ulimit -f 4 && ct-batch --no-cache -t 1 --jobs 1 -m '%s' -V '%s' -c 'cat,dog' -s 64 --overlay -O out in", dir, g_tiny,
        g_vocab);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "stopped: ") && strstr(err, "is full") && strstr(err, "5 pictures not attempted"), "a full disk: exit %d: %s", rc, err);
    CHECK(count_lines(err, ": failed: ") == 1 && summary(err, &done, &skipped, &failed) && done == 0 && failed == 1, "segmented on after a full disk: %s", err);
    free(dir);
}

/* ------------------------------------------------------------------ Slurm job arrays */

static void set_array(const char *id, const char *count, const char *min, const char *max, const char *step) {
    const char *names[5] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP"};
    const char *vals[5] = {id, count, min, max, step};
    for (int k = 0; k < 5; k++) {
        if (vals[k]) setenv(names[k], vals[k], 1);
        else unsetenv(names[k]);
    }
}

static void shard_auto_parser(void) {
    int i = -1, n = -1;
    ct_error err;
    CHECK(shard_parse("2/5", &i, &n, &err) && i == 2 && n == 5, "2/5");
    CHECK(!shard_parse("5/5", &i, &n, &err) && !shard_parse("1", &i, &n, &err) && !shard_parse("-1/2", &i, &n, &err) &&
              !shard_parse("0/0", &i, &n, &err) && !shard_parse("a/2", &i, &n, &err),
          "bad i/N accepted");
    struct { const char *id, *count, *min, *max, *step; int ok, i, n; const char *msg; } cases[] = {
        {"0", "3", NULL, NULL, NULL, 1, 0, 3, NULL},
        {"2", "3", NULL, NULL, NULL, 1, 2, 3, NULL},
        {"2", "3", "0", "2", "1", 1, 2, 3, NULL},
        {"3", "3", "1", "3", NULL, 1, 2, 3, NULL},       /* --array=1-3 */
        {"7", "4", "1", "10", "3", 1, 2, 4, NULL},       /* --array=1-10:3: 1 4 7 10 */
        {NULL, "3", NULL, NULL, NULL, 0, 0, 0, "SLURM_ARRAY_TASK_ID is not set"},
        {"1", NULL, NULL, NULL, NULL, 0, 0, 0, "SLURM_ARRAY_TASK_COUNT is not"},
        {"3", "3", NULL, NULL, NULL, 0, 0, 0, "not one of the 3 tasks"},
        {"0", "3", "1", "3", NULL, 0, 0, 0, "not one of the 3 tasks"},
        {"2", "3", "0", "7", "1", 0, 0, 0, "not a range"}, /* --array=0,3,7 */
        {"x", "3", NULL, NULL, NULL, 0, 0, 0, "SLURM_ARRAY_TASK_ID=x"},
        {"1", "0", NULL, NULL, NULL, 0, 0, 0, "SLURM_ARRAY_TASK_COUNT=0"},
        {"5", "4", "1", "10", "3", 0, 0, 0, "not one of"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        set_array(cases[k].id, cases[k].count, cases[k].min, cases[k].max, cases[k].step);
        memset(&err, 0, sizeof err);
        i = n = -1;
        int ok = shard_parse("auto", &i, &n, &err);
        if (cases[k].ok) CHECK(ok && i == cases[k].i && n == cases[k].n, "case %zu: %d/%d, want %d/%d (%s)", k, i, n, cases[k].i, cases[k].n, err.msg);
        else CHECK(!ok && strstr(err.msg, cases[k].msg), "case %zu: accepted, or message '%s'", k, err.msg);
    }
    set_array(NULL, NULL, NULL, NULL, NULL);
}

static void slurm_array_of_three(void) {
    if (!have_models() || !tool_exists("ct-eval")) SKIP("oracle models or tools not found under %s", oracle_dir());
    enum { N = 8 };
    char *dir = dir_with_pictures("slurm", N, 64, 48), cmd[8192], p[1400], q[1400];
    static char err[32768], all[65536];
    char opts[2048];
    FMT(opts, "--no-cache -t 1 -m '%s' -V '%s' -c 'cat,dog,grass' -s 64 --labels", g_tiny, g_vocab);
    /* three array tasks (--array=1-3) into one directory, one after the other, and one whole run */
    all[0] = 0;
    for (int t = 1; t <= 3; t++) {
        FMT(cmd, "cd '%s' && SLURM_ARRAY_TASK_ID=%d SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=3 ct-batch -v %s --shard auto -O out in",
            dir, t, opts);
        int rc = run(cmd, err, sizeof err);
        CHECK(rc == 0, "task %d: exit %d: %s", t, rc, err);
        CHECK(strstr(err, "shard ") != NULL, "task %d: names its shard: %s", t, err);
        strncat(all, err, sizeof all - strlen(all) - 1);
    }
    for (int k = 0; k < N; k++) {
        char line[64];
        snprintf(line, sizeof line, "segmented in/p%03d.png ", k);
        CHECK(count_lines(all, line) == 1, "p%03d segmented %d times by the three tasks", k, count_lines(all, line));
    }
    FMT(cmd, "cd '%s' && ct-batch -q %s -O whole in", dir, opts);
    int rc = run(cmd, err, sizeof err);
    CHECK(rc == 0, "one run: %s", err);
    FMT(p, "%s/out", dir);
    FMT(q, "%s/whole", dir);
    same_outputs(p, q, 0, "three array tasks vs one run");
    /* without the array's variables: a usage error, before any work */
    FMT(cmd, "cd '%s' && env -u SLURM_ARRAY_TASK_ID ct-batch %s --shard auto -O none in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "SLURM_ARRAY_TASK_ID"), "--shard auto outside an array: exit %d: %s", rc, err);
    FMT(cmd, "cd '%s' && SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_COUNT=3 ct-batch %s --shard auto -O none in", dir, opts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "SLURM_ARRAY_TASK_ID=4"), "an id outside the array: exit %d: %s", rc, err);

    /* ct-eval: the same array of three, state files merged, equals one run to the last digit */
    FMT(p, "%s/gt", dir);
    mkdir(p, 0755);
    for (int k = 0; k < N; k++) {
        int w = 64 + 16 * (k % 3), h = 48;
        uint8_t *g = malloc((size_t)w * h);
        for (int i = 0; i < w * h; i++) g[i] = (uint8_t)((i % w) * 3 / w);
        FMT(p, "%s/gt/p%03d.png", dir, k);
        CHECK(png_gray8(p, w, h, g), "gt");
        free(g);
    }
    FMT(p, "%s/classes.txt", dir);
    put(p, "cat\ndog\ngrass\n");
    char eopts[2048];
    FMT(eopts, "-q --no-cache -t 1 -m '%s' -V '%s' --classes-file classes.txt -s 64 --images in --gt gt", g_tiny, g_vocab);
    for (int t = 1; t <= 3; t++) {
        FMT(cmd, "cd '%s' && SLURM_ARRAY_TASK_ID=%d SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 ct-eval %s --shard auto --state s%d.state", dir, t,
            eopts, t);
        rc = run(cmd, err, sizeof err);
        CHECK(rc == 0, "ct-eval task %d: exit %d: %s", t, rc, err);
    }
    char merged[16384], one[16384];
    FMT(cmd, "cd '%s' && ct-eval --merge s1.state s2.state s3.state --classes-file classes.txt", dir);
    rc = run2(cmd, merged, sizeof merged, err, sizeof err);
    CHECK(rc == 0, "merge: exit %d: %s", rc, err);
    FMT(cmd, "cd '%s' && ct-eval %s --state one.state", dir, eopts);
    rc = run2(cmd, one, sizeof one, err, sizeof err);
    CHECK(rc == 0, "one run: exit %d: %s", rc, err);
    CHECK(strstr(one, "images: 8") && !strcmp(merged, one), "merged array tasks differ from one run:\n%s\nvs\n%s", merged, one);
    /* each task evaluated its own third: the three states hold 3 + 3 + 2 images */
    for (int t = 1; t <= 3; t++) {
        FMT(p, "%s/s%d.state", dir, t);
        char *s = slurp(p, NULL);
        int n = s ? count_lines(s, "\nimg\t") : -1;
        CHECK(n == (t < 3 ? 3 : 2), "task %d evaluated %d images", t, n);
        free(s);
    }
    FMT(cmd, "cd '%s' && env -u SLURM_ARRAY_TASK_ID ct-eval %s --shard auto --state x.state", dir, eopts);
    rc = run(cmd, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "SLURM_ARRAY_TASK_ID"), "ct-eval --shard auto outside an array: exit %d: %s", rc, err);
    free(dir);
}

/* ------------------------------------------------------------------ the inputs module */

static void stems_and_lists(void) {
    struct { const char *path, *stem; } st[] = {
        {"a/b.png", "b"}, {"b.c.jpg", "b.c"}, {"/x/y/.png", ".png"}, {"noext", "noext"}, {"d.ir/f", "f"}, {"a/.h.png", ".h"},
    };
    for (size_t k = 0; k < sizeof st / sizeof *st; k++) {
        char *s = path_stem(st[k].path);
        CHECK(s && !strcmp(s, st[k].stem), "stem of %s: %s, want %s", st[k].path, s ? s : "(null)", st[k].stem);
        free(s);
    }
    CHECK(has_image_ext("a.JPG") && has_image_ext("b.jpeg") && has_image_ext("c.Gif") && !has_image_ext("d.txt") && !has_image_ext("png"),
          "extensions");
    char *p = path_join(t_tmpdir(), "list-unit.txt");
    put(p, "a b.png\r\n\n#c.png\nlast.png");
    input_list l;
    inputs_init(&l);
    ct_error err;
    CHECK(inputs_add_list(&l, p, &err) && l.n == 3 && !strcmp(l.path[0], "a b.png") && !strcmp(l.path[1], "#c.png") && !strcmp(l.path[2], "last.png"),
          "list entries: spaces and '#' kept, blank lines and CR dropped (%d)", l.n);
    CHECK(!inputs_add_list(&l, "/nonexistent/list.txt", &err) && strstr(err.msg, "cannot open"), "a missing list: %s", err.msg);
    inputs_free(&l);
    free(p);
}

int main(void) {
    RUN(stems_and_lists);
    RUN(shard_auto_parser);
    RUN(same_as_demo);
    RUN(directory_list_stdin);
    RUN(broken_file_skipped);
    RUN(resume_after_kill);
    RUN(names_and_settings);
    RUN(not_our_files);
    RUN(one_writer);
    RUN(costs_checked);
    RUN(jobs_give_the_same_outputs);
    RUN(progress_bar_on_a_terminal);
    RUN(slurm_array_of_three);
    DONE();
}
