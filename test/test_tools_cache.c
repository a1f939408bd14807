/* The class-embedding cache through the demo (issue 11, items 9 and 14): keyed by what determines
 * an embedding, so a model rewritten in place within the same second, a `cp -p` copy over the
 * model, another vocabulary or another precision are misses, the same model by another path is a
 * hit; a damaged entry is detected and recomputed; entries replaced by a FIFO or a symlink neither
 * hang nor write through; a failed rename leaves no temporary file; a path longer than the old
 * 900-character buffer is used whole. Models: two random tiny checkpoints of the same size
 * (ct-random-weights, seeds 1, 2 and 3, written within a second or so). */
#include "harness.h"
#include "common.h"
#include "npy.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char vocab[700], *dir, *px;

/* Runs the demo on `model` with the cache in `cache` (NULL: --no-cache); the text features into *feat (malloc'd).
 * Returns 1 when every embedding came from the cache, 0 when some were computed, -1 on failure. */
static int run(const char *model, const char *cache, const char *env, float **feat, char *err, size_t cap) {
    char *dump = path_join(dir, "dump"), cmd[8192];
    char where[1400];
    if (cache) FMT(where, "CT_CACHE_DIR='%s'", cache);
    FMT(cmd, "rm -rf '%s' && %s %s timeout 60 demo %s -m '%s' -V '%s' --pixels '%s' -c 'cat;kitten,dog' --dump '%s'", dump, env, cache ? where : "",
        cache ? "" : "--no-cache", model, vocab, px, dump);
    int rc = t_sh(cmd, err, cap);
    if (rc) {
        CHECK(0, "demo exited %d: %s", rc, err);
        free(dump);
        return -1;
    }
    char *p = path_join(dump, "text_features.npy");
    npy_array a;
    memset(&a, 0, sizeof a);
    CHECK(npy_load(p, &a, NULL) == CT_OK && a.numel == 3 * 32, "text features");
    *feat = a.data;
    free(p);
    free(dump);
    return strstr(err, "all 3 class embeddings from the cache") ? 1 : 0;
}

static int same(const float *a, const float *b) { return a && b && !memcmp(a, b, 3 * 32 * sizeof(float)); }

static void keyed_by_content(void) {
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(vocab) || !tool_exists("demo") || !tool_exists("ct-random-weights")) SKIP("vocabulary or tools missing");
    dir = path_join(t_tmpdir(), "w");
    px = path_join(dir, "px.npy");
    char cmd[8192], err[4096];
    FMT(cmd, "mkdir -p '%s' && cd '%s' && ct-random-weights --arch tiny --seed 1 -o A.safetensors && ct-random-weights --arch tiny --seed 2 -o B.safetensors && ct-random-weights --arch tiny --seed 3 -o C.safetensors && "
             "cp -p A.safetensors M.safetensors && touch -r A.safetensors stamp",
        dir, dir);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "setup: %s", err);
    float *zero = calloc(3 * 64 * 64, sizeof(float));
    int64_t shape[3] = {3, 64, 64};
    CHECK(npy_save(px, zero, 0, 3, shape, NULL) == CT_OK, "pixels");
    free(zero);
    char *A = path_join(dir, "A.safetensors"), *B = path_join(dir, "B.safetensors"), *C = path_join(dir, "C.safetensors"), *M = path_join(dir, "M.safetensors");
    char *cache = path_join(dir, "cache"), *other = path_join(dir, "other-path.safetensors");
    float *fa = NULL, *fb = NULL, *fc = NULL, *f = NULL;
    /* the references, computed without the cache */
    CHECK(run(A, NULL, "", &fa, err, sizeof err) == 0, "A: %s", err);
    CHECK(run(B, NULL, "", &fb, err, sizeof err) == 0, "B");
    CHECK(run(C, NULL, "", &fc, err, sizeof err) == 0, "C");
    CHECK(!same(fa, fb) && !same(fb, fc), "the random models give the same embeddings");
    /* stored, then a hit */
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0 && same(f, fa), "first run");
    free(f); f = NULL;
    CHECK(run(M, cache, "", &f, err, sizeof err) == 1 && same(f, fa), "second run is not a hit: %s", err);
    free(f); f = NULL;
    /* the same model by another path (another inode): a hit */
    FMT(cmd, "cp '%s' '%s'", A, other);
    t_sh(cmd, NULL, 0);
    CHECK(run(other, cache, "", &f, err, sizeof err) == 1 && same(f, fa), "same content by another path: not a hit: %s", err);
    free(f); f = NULL;
    /* rewritten in place (same inode, same size) within the same second: the modification time
     * set back to the old one, to the nanosecond */
    FMT(cmd, "cat '%s' > '%s' && touch -r '%s/stamp' '%s'", B, M, dir, M);
    t_sh(cmd, NULL, 0);
    int r = run(M, cache, "", &f, err, sizeof err);
    CHECK(r == 0 && same(f, fb), "model rewritten within the same second: %s", r == 1 ? "stale embeddings served" : err);
    free(f); f = NULL;
    /* `cp -p` of a third model over it: its times (written in the same second as A, usually) */
    FMT(cmd, "cp -p '%s' '%s'", C, M);
    t_sh(cmd, NULL, 0);
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0 && same(f, fc), "cp -p copy: stale embeddings");
    free(f); f = NULL;
    /* another vocabulary file, another precision: misses */
    char hf[700];
    FMT(hf, "%s/vocab.json", oracle_dir());
    if (file_exists(hf)) {
        char save[700];
        memcpy(save, vocab, sizeof save);
        memcpy(vocab, hf, sizeof vocab);
        CHECK(run(M, cache, "", &f, err, sizeof err) == 0, "another vocabulary: a hit");
        free(f); f = NULL;
        memcpy(vocab, save, sizeof vocab);
    }
    const char *prec = ct_precision_available(CT_PRECISION_BF16) ? "CT_PRECISION=bf16" : "CT_KERNEL=blas";
    CHECK(run(M, cache, prec, &f, err, sizeof err) == 0, "%s: a hit", prec);
    free(f); f = NULL;
    CHECK(run(M, cache, prec, &f, err, sizeof err) == 1, "%s: second run is not a hit", prec);
    free(f); f = NULL;
    /* altered floats in every entry: detected, recomputed, rewritten */
    FMT(cmd, "for e in '%s'/*.emb; do printf '\\x42' | dd of=\"$e\" bs=1 seek=100 conv=notrunc 2>/dev/null; done", cache);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "%s", err);
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0 && same(f, fc) && strstr(err, "damaged"), "damaged entries: %s", err);
    free(f); f = NULL;
    CHECK(run(M, cache, "", &f, err, sizeof err) == 1 && same(f, fc), "rewritten entries");
    free(f); f = NULL;
    free(fa); free(fb); free(fc);
    free(A); free(B); free(C); free(M); free(cache); free(other);
}

/* entries replaced by a FIFO, a symlink, a directory; paths past 900 characters */
static void hostile_entries(void) {
    if (!dir) SKIP("no models");
    char cmd[8192], err[4096];
    char *M = path_join(dir, "A.safetensors"), *cache = path_join(dir, "cache2"), *victim = path_join(dir, "victim");
    float *f = NULL;
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0, "fill");
    free(f); f = NULL;
    FMT(cmd, "echo keep > '%s' && cd '%s' && set -- *.emb && rm \"$1\" && mkfifo \"$1\" && rm \"$2\" && ln -s '%s' \"$2\" && rm \"$3\" && mkdir \"$3\" && touch \"$3/x\"",
        victim, cache, victim);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "%s", err);
    /* under `timeout 60`: a FIFO opened for reading without O_NONBLOCK would hang here */
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0 && strstr(err, "cannot write to the class-embedding cache"), "hostile entries: %s", err);
    free(f); f = NULL;
    char *v = slurp(victim, NULL);
    CHECK(v && !strcmp(v, "keep\n"), "written through a symlinked entry");
    free(v);
    FMT(cmd, "cd '%s' && ls -A | grep -c tmp", cache);
    FILE *p = popen(cmd, "r");
    int ntmp = -1;
    if (p) { if (fscanf(p, "%d", &ntmp) != 1) ntmp = -1; pclose(p); }
    CHECK(ntmp == 0, "%d temporary files left behind", ntmp);
    /* a cache path over the old 899-character buffer: used whole (the second run hits) */
    char *deep = path_join(dir, "deep");
    size_t n = strlen(deep);
    char *longp = malloc(n + 1200);
    strcpy(longp, deep);
    while (strlen(longp) < 1000) strcat(longp, "/forty-character-directory-name-xxxxxxxx");
    CHECK(run(M, longp, "", &f, err, sizeof err) == 0, "long path, first run");
    free(f); f = NULL;
    CHECK(run(M, longp, "", &f, err, sizeof err) == 1, "long path, second run is not a hit: %s", err);
    free(f); f = NULL;
    FMT(cmd, "ls '%s'/*.emb >/dev/null", longp);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "no entries at the long path: %s", err);
    free(longp); free(deep); free(M); free(cache); free(victim);
}

/* The cache trusts what ssh would (issue 18, item 8): a cache directory or entry of another user,
 * or writable by others, is refused with one warning and the run goes on uncached (the same
 * embeddings, none from the cache, nothing written there); a directory above it writable by
 * others is refused unless sticky (/tmp). Ownership needs root (chown); modes need nobody. */
static void untrusted_cache(void) {
    if (!dir) SKIP("no models");
    char cmd[8192], err[8192];
    char *M = path_join(dir, "A.safetensors"), *top = path_join(dir, "trust"), *cache = path_join(top, "cache");
    float *ref = NULL, *f = NULL;
    FMT(cmd, "rm -rf '%s' && mkdir -p '%s'", top, top);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "mkdir");
    CHECK(run(M, NULL, "", &ref, err, sizeof err) == 0, "reference");
    CHECK(run(M, cache, "", &f, err, sizeof err) == 0 && same(f, ref), "fill: %s", err);
    free(f); f = NULL;
    struct stat sb;
    CHECK(stat(cache, &sb) == 0 && (sb.st_mode & 077) == 0, "the cache directory made here is private: %04o", (unsigned)(sb.st_mode & 07777));
    CHECK(run(M, cache, "", &f, err, sizeof err) == 1, "a hit: %s", err);
    free(f); f = NULL;
    /* each case: set up, run (uncached, one warning naming the reason), undo */
    struct { const char *set, *undo, *msg; int root; } cases[] = {
        {"chmod 0777 '%s'", "chmod 0700 '%s'", "writable by others", 0},
        {"chmod 0770 '%s'", "chmod 0700 '%s'", "writable by its group", 0},
        {"chmod 0666 '%s'/*.emb", "chmod 0644 '%s'/*.emb", "writable by others", 0},
        {"chmod 0777 '%s/..'", "chmod 0755 '%s/..'", "writable by others", 0},
        {"chown 12345 '%s'", "chown 0 '%s'", "owned by uid 12345", 1},
        {"chown 12345 '%s'/*.emb", "chown 0 '%s'/*.emb", "owned by uid 12345", 1},
        {"chown 12345 '%s'/*.id", "chown 0 '%s'/*.id", "owned by uid 12345", 1},
        {"chown 12345 '%s/..'", "chown 0 '%s/..'", "owned by uid 12345", 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        if (cases[k].root && geteuid() != 0) {
            printf("  case %zu skipped: changing an owner needs root\n", k);
            continue;
        }
        char set[2048], undo[2048];
        FMT(set, cases[k].set, cache);
        FMT(undo, cases[k].undo, cache);
        CHECK(t_sh(set, err, sizeof err) == 0, "%s: %s", set, err);
        FMT(cmd, "ls '%s' | wc -l", cache);
        char before[64] = "", after[64] = "";
        FILE *p = popen(cmd, "r");
        if (p) { if (!fgets(before, sizeof before, p)) before[0] = 0; pclose(p); }
        int r = run(M, cache, "", &f, err, sizeof err);
        CHECK(r == 0 && same(f, ref), "%s: %s", set, r == 1 ? "served from the cache" : err);
        CHECK(strstr(err, cases[k].msg) && strstr(err, "not trusted") && t_count(err, "class-embedding cache disabled") == 1, "%s: one warning: %s", set, err);
        free(f); f = NULL;
        p = popen(cmd, "r");
        if (p) { if (!fgets(after, sizeof after, p)) after[0] = 0; pclose(p); }
        CHECK(!strcmp(before, after), "%s: written to an untrusted cache", set);
        CHECK(t_sh(undo, err, sizeof err) == 0, "%s: %s", undo, err);
    }
    /* sticky and world-writable above it, as /tmp: trusted */
    FMT(cmd, "chmod 1777 '%s'", top);
    CHECK(t_sh(cmd, err, sizeof err) == 0, "chmod");
    CHECK(run(M, cache, "", &f, err, sizeof err) == 1 && !strstr(err, "not trusted"), "under a sticky directory: %s", err);
    free(f); f = NULL;
    free(ref); free(M); free(top); free(cache);
}

int main(void) {
    RUN(keyed_by_content);
    RUN(hostile_entries);
    RUN(untrusted_cache);
    free(dir);
    free(px);
    DONE();
}
