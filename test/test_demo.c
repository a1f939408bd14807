/* The demo binary end to end: on every fixture with --pixels and --dump its files reproduce the
 * oracle's (same tolerances as test_model / test_cliptrase: features 1e-4, maps 1e-5, labels
 * >= 99.5% and in practice exact); the class-embedding cache gives identical embeddings; bad
 * arguments, missing files and unreadable images give the documented exit codes and messages. */
#include "fixtures.h"

#include <sys/wait.h>
#include <unistd.h>

/* run a shell command; returns the exit status, stderr text in errbuf */
static int sh(const char *cmd, char *errbuf, size_t cap) {
    char full[8192 + 64];
    snprintf(full, sizeof full, "%s 2>/tmp/ct_demo_err.txt", cmd);
    int st = system(full);
    char *e = slurp("/tmp/ct_demo_err.txt", NULL);
    if (errbuf && cap) snprintf(errbuf, cap, "%s", e ? e : "");
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void build_list(const ct_json *arr, char *out, size_t cap) {
    out[0] = 0;
    for (size_t i = 0; arr && i < arr->n; i++) {
        strncat(out, arr->items[i].str, cap - strlen(out) - 2);
        if (i + 1 < arr->n) strncat(out, ",", cap - strlen(out) - 1);
    }
}

static void compare(const char *dump, const char *fxdir, const char *run, const char *file, double tol, int labels) {
    char p[1200];
    FMT(p, "%s/%s.npy", dump, file);
    npy_array got = {0}, want = {0};
    ct_error err;
    if (npy_load(p, &got, &err)) { CHECK(0, "%s", err.msg); return; }
    if (!load_npy(fxdir, run, file, &want)) { npy_free(&got); return; }
    int same_shape = got.ndim == want.ndim && got.numel == want.numel;
    for (int i = 0; same_shape && i < got.ndim; i++) same_shape = got.shape[i] == want.shape[i];
    CHECK(same_shape, "%s: shape differs", file);
    CHECK(got.is_int == want.is_int, "%s: dtype differs", file);
    if (same_shape && got.is_int == want.is_int) {
        if (labels) {
            size_t same = 0;
            for (size_t i = 0; i < got.numel; i++) same += ((int32_t *)got.data)[i] == ((int32_t *)want.data)[i];
            CHECK((double)same / got.numel >= 0.995, "%s agreement %f", file, (double)same / got.numel);
        } else {
            double d = max_abs_diff(got.data, want.data, got.numel);
            CHECK(d <= tol, "%s: max|d| %g > %g", file, d, tol);
        }
    }
    npy_free(&got);
    npy_free(&want);
}

static void dumps_match_oracle(void) {
    fixture fx[16];
    int nfx = find_fixtures(fx, 16);
    if (!nfx) SKIP("no model fixtures under %s", oracle_dir());
    if (!tool_exists("demo")) SKIP("demo not built");
    char vocab[700];
    FMT(vocab, "%s/vocab.json", oracle_dir());
    for (int f = 0; f < nfx; f++) {
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        double scale = jnum(fx[f].meta, "logit_scale_exp", 100);
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            char cls[4096], bg[1024], cmd[8192], err[4096], dump[256];
            build_list(ct_json_get(run, "classes"), cls, sizeof cls);
            build_list(ct_json_get(run, "background"), bg, sizeof bg);
            FMT(dump, "/tmp/ct_demo_dump_%d", (int)getpid());
            const ct_json *cr = ct_json_get(run, "cls_reweight");
            FMT(cmd, "demo -q --no-cache -m '%s/model.safetensors' -V '%s' --pixels '%s/%s/pixels.npy' -c '%s' %s%s%s --eps %g --min-samples %d %s -o %s/out.png --dump %s",
                fx[f].dir, vocab, fx[f].dir, rn, cls, bg[0] ? "-b '" : "", bg, bg[0] ? "'" : "", jnum(run, "eps", 0),
                (int)jnum(run, "min_samples", 0), cr && cr->boolean ? "--cls-reweight" : "", dump, dump);
            int rc = sh(cmd, err, sizeof err);
            CHECK(rc == 0, "%s/%s: demo exited %d: %s", fx[f].name, rn, rc, err);
            if (rc) continue;
            compare(dump, fx[f].dir, rn, "pixels", 0, 0);
            compare(dump, fx[f].dir, rn, "text_features", 1e-4, 0);
            compare(dump, fx[f].dir, rn, "image_embedding", 1e-4, 0);
            compare(dump, fx[f].dir, rn, "img_tokens", 1e-4, 0);
            compare(dump, fx[f].dir, rn, "corr_raw", 1e-4, 0);
            compare(dump, fx[f].dir, rn, "corr", 1e-4, 0);
            compare(dump, fx[f].dir, rn, "patch_logits", 1e-4 * scale, 0);
            compare(dump, fx[f].dir, rn, "logits_up", 1e-4 * scale, 0);
            compare(dump, fx[f].dir, rn, "pred_raw", 0, 1);
            compare(dump, fx[f].dir, rn, "dbscan_labels", 0, 1);
            compare(dump, fx[f].dir, rn, "cluster_maps", 1e-5, 0);
            compare(dump, fx[f].dir, rn, "cluster_assign", 0, 1);
            compare(dump, fx[f].dir, rn, "pred", 0, 1);
            printf("  %s/%s: 13 dumped arrays checked\n", fx[f].name, rn);
            FMT(cmd, "rm -rf %s", dump);
            sh(cmd, NULL, 0);
        }
    }
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
}

static void image_input_and_cache(void) {
    char model[700], img[700], vocab[700], cmd[4096], err[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(img, "%s/tiny_f32_openai/crop64/image.png", oracle_dir());
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(model) || !file_exists(img)) SKIP("tiny fixture not found under %s", oracle_dir());
    const char *dir = "/tmp/ct_demo_cache_test";
    sh("rm -rf /tmp/ct_demo_cache_test", NULL, 0);
    for (int pass = 0; pass < 2; pass++) {
        FMT(cmd, "CT_CACHE_DIR=%s/cache demo -m '%s' -V '%s' -i '%s' -c 'cat;kitten,dog' -b grass -s 64 --crop -o %s/o.png --overlay %s/ov.png --labels %s/l.png --json %s/r.json --dump %s/d%d",
            dir, model, vocab, img, dir, dir, dir, dir, dir, pass);
        int rc = sh(cmd, err, sizeof err);
        CHECK(rc == 0, "pass %d: exit %d: %s", pass, rc, err);
        if (pass == 1) CHECK(strstr(err, "from the cache") != NULL, "second run did not use the cache: %s", err);
    }
    npy_array a = {0}, b = {0};
    char p[800];
    FMT(p, "%s/d0/text_features.npy", dir);
    npy_load(p, &a, NULL);
    FMT(p, "%s/d1/text_features.npy", dir);
    npy_load(p, &b, NULL);
    CHECK(a.data && b.data && a.numel == b.numel && !memcmp(a.data, b.data, a.numel * 4), "cached embeddings differ");
    CHECK(a.ndim == 2 && a.shape[0] == 4, "4 names (cat, kitten, dog, grass)");
    npy_free(&a); npy_free(&b);
    ct_image *lab = NULL;
    FMT(p, "%s/l.png", dir);
    CHECK(ct_image_load(p, &lab, NULL) == CT_OK && lab->width == 80 && lab->height == 64, "label map at the original size");
    if (lab) {
        int maxl = 0;
        for (size_t i = 0; i < (size_t)lab->width * lab->height * 3; i++) maxl = lab->rgb[i] > maxl ? lab->rgb[i] : maxl;
        CHECK(maxl <= 2, "labels within 0..2 (cat, dog, background): %d", maxl);
    }
    ct_image_free(lab);
    FMT(p, "%s/r.json", dir);
    char *js = slurp(p, NULL);
    ct_json *j = js ? ct_json_parse(js, strlen(js), NULL, 0) : NULL;
    CHECK(j && ct_json_get(j, "classes") && ct_json_get(j, "classes")->n == 3 && ct_json_get(j, "timings_s"), "json report");
    ct_json_free(j);
    free(js);
    sh("rm -rf /tmp/ct_demo_cache_test", NULL, 0);
}

static void errors_and_exit_codes(void) {
    char model[700], cmd[4096], err[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    struct { const char *args; int rc; const char *msg; } cases[] = {
        {"", 1, "exactly one of"},
        {"-i x.png", 1, "no classes"},
        {"-i x.png --pixels y.npy -c a", 1, "exactly one of"},
        {"-i x.png -c a --bogus", 1, "unknown option"},
        {"-i x.png -c a -s abc", 1, "--size"},
        {"-i x.png -c a -t 0", 1, "--threads"},
        {"-i x.png -c a --eps -1", 1, "--eps"},
        {"-i x.png -c 'a,,b'", 1, "empty class"},
        {"-q -i x.png -c a -m /nonexistent.safetensors", 2, "cannot open"},
        {"-i x.png -c $'\\xff\\xfe'", 1, "UTF-8"},
        {"-i x.png -c a -o", 1, "needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FMT(cmd, "bash -c \"demo %s\"", cases[i].args);
        int rc = sh(cmd, err, sizeof err);
        CHECK(rc == cases[i].rc, "'%s': exit %d, want %d (%s)", cases[i].args, rc, cases[i].rc, err);
        CHECK(strstr(err, cases[i].msg) != NULL, "'%s': message '%s' lacks '%s'", cases[i].args, err, cases[i].msg);
        CHECK(strchr(err, '\n') == strrchr(err, '\n'), "'%s': more than one line: %s", cases[i].args, err);
    }
    if (!file_exists(model)) SKIP("tiny fixture not found");
    FMT(cmd, "demo -q -m '%s' -i /nonexistent.png -c a", model);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "cannot open"), "missing image: %s", err);
    FILE *f = fopen("/tmp/ct_bad.jpg", "wb");
    fputs("\xff\xd8\xff\xe0 not really a jpeg", f);
    fclose(f);
    FMT(cmd, "demo -q -m '%s' -i /tmp/ct_bad.jpg -c a", model);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "ct_bad.jpg"), "corrupt image: %s", err);
    remove("/tmp/ct_bad.jpg");
    CHECK(sh("demo --help >/dev/null", err, sizeof err) == 0, "--help exits 0");
}

/* --labels: 8-bit PNG up to 255 labels, 16-bit beyond (the CLI contract) */
static void label_png_depth(void) {
    char model[700], px[700], vocab[700], cmd[8192], err[4096];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(px, "%s/tiny_f32_openai/crop64/pixels.npy", oracle_dir());
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(model)) SKIP("tiny fixture not found under %s", oracle_dir());
    FILE *f = fopen("/tmp/ct_many_classes.txt", "w");
    for (int i = 0; i < 300; i++) fprintf(f, "thing %d\n", i);
    fclose(f);
    const int counts[2] = {2, 300};
    for (int k = 0; k < 2; k++) {
        if (k == 0) FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog -o /tmp/ct_lbl.png --labels /tmp/ct_lbl_raw.png", model, vocab, px);
        else FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' --classes-file /tmp/ct_many_classes.txt -o /tmp/ct_lbl.png --labels /tmp/ct_lbl_raw.png", model, vocab, px);
        CHECK(sh(cmd, err, sizeof err) == 0, "%d classes: %s", counts[k], err);
        size_t len = 0;
        char *png = slurp("/tmp/ct_lbl_raw.png", &len);
        CHECK(png && len > 26 && png[24] == (k ? 16 : 8), "%d classes: bit depth %d", counts[k], png && len > 26 ? png[24] : -1);
        free(png);
    }
    remove("/tmp/ct_many_classes.txt"); remove("/tmp/ct_lbl.png"); remove("/tmp/ct_lbl_raw.png");
}

int main(void) {
    RUN(label_png_depth);
    RUN(dumps_match_oracle);
    RUN(image_input_and_cache);
    RUN(errors_and_exit_codes);
    DONE();
}
