/* The demo binary end to end: on every fixture with --pixels and --dump its files reproduce the
 * oracle's (same tolerances as test_model / test_cliptrase: features 1e-4, maps 1e-5, labels
 * >= 99.5% and in practice exact), and so do the heads fixtures when the library has the heads;
 * the class-embedding cache gives identical embeddings; bad arguments, missing files and
 * unreadable images give the documented exit codes and messages, before any heavy work; outputs
 * are written only when asked; sizes follow the model; precision and kernel choices are honoured;
 * intermediates are allocated only for --dump. */
#include "fixtures.h"
#include "common.h"
#include "tool_run.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_model[700], g_vocab[700], g_img[700], g_px[700];

/* absolute paths: some commands run in other directories */
static int have_tiny(void) {
    char abs[600];
    const char *o = realpath(oracle_dir(), abs) ? abs : oracle_dir();
    FMT(g_model, "%s/tiny_f32_openai/model.safetensors", o);
    FMT(g_vocab, "%s/bpe_simple_vocab_16e6.txt.gz", o);
    FMT(g_img, "%s/tiny_f32_openai/crop64/image.png", o);
    FMT(g_px, "%s/tiny_f32_openai/crop64/pixels.npy", o);
    return file_exists(g_model) && file_exists(g_vocab) && file_exists(g_img) && tool_exists("demo");
}

static int sh(const char *cmd, char *err, size_t cap) { return tool_run(cmd, NULL, 0, err, cap, NULL); }

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
    CHECK(same_shape, "%s/%s: shape differs", run, file);
    CHECK(got.is_int == want.is_int, "%s/%s: dtype differs", run, file);
    if (same_shape && got.is_int == want.is_int) {
        if (labels) {
            size_t same = 0;
            for (size_t i = 0; i < got.numel; i++) same += ((int32_t *)got.data)[i] == ((int32_t *)want.data)[i];
            /* labels 1: >= 99.5% agree (argmax ties); 2: every value (SC-CLIP's outlier masks) */
            CHECK((double)same / got.numel >= (labels == 2 ? 1.0 : 0.995), "%s/%s agreement %f", run, file, (double)same / got.numel);
        } else {
            double d = max_abs_diff(got.data, want.data, got.numel);
            CHECK(d <= tol, "%s/%s: max|d| %g > %g", run, file, d, tol);
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
    char *dump = fresh_dir("dump");
    for (int f = 0; f < nfx; f++) {
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        double scale = jnum(fx[f].meta, "logit_scale_exp", 100);
        for (size_t r = 0; runs && r < runs->n; r++) {
            const ct_json *run = &runs->items[r];
            const char *rn = ct_json_get(run, "name")->str;
            char cls[4096], bg[1024], cmd[8192], err[4096];
            build_list(ct_json_get(run, "classes"), cls, sizeof cls);
            build_list(ct_json_get(run, "background"), bg, sizeof bg);
            const ct_json *cr = ct_json_get(run, "cls_reweight");
            FMT(cmd, "demo -q --no-cache -m '%s/model.safetensors' -V '%s' --pixels '%s/%s/pixels.npy' -c '%s' %s%s%s --eps %g --min-samples %d %s --dump '%s'",
                fx[f].dir, vocab, fx[f].dir, rn, cls, bg[0] ? "-b '" : "", bg, bg[0] ? "'" : "", jnum(run, "eps", 0),
                (int)jnum(run, "min_samples", 0), cr && cr->boolean ? "--cls-reweight" : "", dump);
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
        }
    }
    for (int f = 0; f < nfx; f++) ct_json_free(fx[f].meta);
    free(dump);
}

/* The heads fixtures of the oracle's directory `sub` (heads, heads_scclip) through the CLI, every
 * setting stated explicitly (their READMEs): seg_logits, pamr_logits, img_tokens within 1e-4 (the
 * fixtures' fp32 references against fp32 here; the model fixtures show ~1e-6), pred agreement >=
 * 99.5% (labels may flip where two classes tie within rounding), SC-CLIP's outlier masks exactly.
 * Skipped while the library lacks a head. */
static void heads_cli_match(const char *sub) {
    char dir[700], meta[800], model[800], vocab[700];
    FMT(dir, "%s/%s/small_f16_hf", oracle_dir(), sub);
    FMT(meta, "%s/meta.json", dir);
    FMT(model, "%s/small_f16_hf/model.safetensors", oracle_dir());
    FMT(vocab, "%s/vocab.json", oracle_dir());
    size_t len = 0;
    char *txt = slurp(meta, &len);
    if (!txt || !file_exists(model)) { free(txt); SKIP("no %s fixtures under %s", sub, oracle_dir()); }
    if (!tool_exists("demo")) { free(txt); SKIP("demo not built"); }
    ct_json *m = ct_json_parse(txt, len, NULL, 0);
    free(txt);
    const ct_json *runs = m ? ct_json_get(m, "runs") : NULL;
    CHECK(runs && runs->n > 0, "%s meta.json has no runs", sub);
    char *dump = fresh_dir(sub);
    int unsupported = 0, checked = 0;
    for (size_t r = 0; runs && r < runs->n; r++) {
        const ct_json *run = &runs->items[r];
        const char *rn = ct_json_get(run, "name")->str, *head = ct_json_get(run, "head")->str;
        char cls[4096] = "", dil[128] = "", cmd[8192], err[4096];
        const ct_json *cl = ct_json_get(run, "classes");
        for (size_t c = 0; cl && c < cl->n; c++) {
            const ct_json *names = &cl->items[c];
            for (size_t k = 0; k < names->n; k++) {
                strncat(cls, names->items[k].str, sizeof cls - strlen(cls) - 2);
                if (k + 1 < names->n) strncat(cls, ";", sizeof cls - strlen(cls) - 1);
            }
            if (c + 1 < cl->n) strncat(cls, ",", sizeof cls - strlen(cls) - 1);
        }
        const ct_json *d = ct_json_get(run, "pamr_dilations");
        for (size_t k = 0; d && k < d->n; k++) snprintf(dil + strlen(dil), sizeof dil - strlen(dil), "%s%d", k ? "," : "", (int)d->items[k].num);
        int crop = (int)jnum(run, "slide_crop", 0), stride = (int)jnum(run, "slide_stride", 0), steps = (int)jnum(run, "pamr_steps", 0);
        char slide[64], sc[256] = "";
        if (crop) FMT(slide, "%d,%d", crop, stride);
        else FMT(slide, "0");
        const ct_json *scl = ct_json_get(run, "sc_layers");
        if (scl && scl->n == 4)
            FMT(sc, "--sc-layers %d,%d,%d,%d --res-cls %g --sc-beta %g ", (int)scl->items[0].num, (int)scl->items[1].num, (int)scl->items[2].num,
                (int)scl->items[3].num, jnum(run, "res_cls", 0), jnum(run, "beta", 0));
        /* one cache for the runs: their class lists are the same */
        FMT(cmd, "CT_CACHE_DIR='%s/cache' demo -q -m '%s' -V '%s' --pixels '%s/%s/pixels.npy' -c '%s' --head %s --slide %s --pamr %d %s%s "
                 "%s--logit-scale %g --prob-thd %g --area-thd %g --dump '%s'",
            t_tmpdir(), model, vocab, dir, rn, cls, head, slide, steps, dil[0] ? "--pamr-dilations " : "", dil, sc, jnum(run, "logit_scale", 0),
            jnum(run, "prob_thd", 0), jnum(run, "area_thd", 0), dump);
        int rc = sh(cmd, err, sizeof err);
        if (rc == 2 && strstr(err, "not available")) { unsupported++; continue; }
        CHECK(rc == 0, "%s: demo exited %d: %s", rn, rc, err);
        if (rc) continue;
        compare(dump, dir, rn, "text_features", 1e-4, 0);
        compare(dump, dir, rn, "seg_logits", 1e-4, 0);
        if (steps) compare(dump, dir, rn, "pamr_logits", 1e-4, 0);
        if (!crop) compare(dump, dir, rn, "img_tokens", 1e-4, 0);
        if (scl) compare(dump, dir, rn, "outliers", 0, 2);
        compare(dump, dir, rn, "pred", 0, 1);
        checked++;
    }
    ct_json_free(m);
    free(dump);
    if (unsupported) {
        if (checked) printf("  %d heads runs checked\n", checked);
        SKIP("%d heads runs: the library does not have these heads yet", unsupported);
    }
    printf("  %d %s runs checked\n", checked, sub);
}

static void heads_match_oracle(void) { heads_cli_match("heads"); }
static void scclip_matches_oracle(void) { heads_cli_match("heads_scclip"); }

static void image_input_and_cache(void) {
    if (!have_tiny()) SKIP("tiny fixture not found under %s", oracle_dir());
    char *dir = fresh_dir("cache-run");
    char cmd[4096], err[4096], p[1200];
    for (int pass = 0; pass < 2; pass++) {
        FMT(cmd, "CT_CACHE_DIR='%s/cache' demo -m '%s' -V '%s' -i '%s' -c 'cat;kitten,dog' -b grass -s 64 --crop -o %s/o.png --overlay %s/ov.png --labels %s/l.png --json %s/r.json --dump %s/d%d",
            dir, g_model, g_vocab, g_img, dir, dir, dir, dir, dir, pass);
        int rc = sh(cmd, err, sizeof err);
        CHECK(rc == 0, "pass %d: exit %d: %s", pass, rc, err);
        if (pass == 1) CHECK(strstr(err, "from the cache") != NULL, "second run did not use the cache: %s", err);
    }
    npy_array a = {0}, b = {0};
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
    FMT(p, "%s/ov.png", dir);
    CHECK(ct_image_load(p, &lab, NULL) == CT_OK && lab->width == 80 && lab->height == 64, "overlay at the original size");
    ct_image_free(lab);
    FMT(p, "%s/r.json", dir);
    char *js = slurp(p, NULL);
    ct_json *j = js ? ct_json_parse(js, strlen(js), NULL, 0) : NULL;
    CHECK(j && ct_json_get(j, "classes") && ct_json_get(j, "classes")->n == 3 && ct_json_get(j, "timings_s"), "json report");
    ct_json_free(j);
    free(js);
    free(dir);
}

/* usage errors: exit 1, one line, before any heavy work */
static void errors_and_exit_codes(void) {
    if (!tool_exists("demo")) SKIP("demo not built");
    char cmd[4096], err[4096];
    struct { const char *args; int rc; const char *msg; } cases[] = {
        {"", 1, "exactly one of"},
        {"-i x.png", 1, "no classes"},
        {"-i x.png --pixels y.npy -c a", 1, "exactly one of"},
        {"-i x.png -c a --bogus", 1, "unknown option"},
        {"-i x.png -c a -s abc", 1, "--size"},
        {"-i x.png -c a -t 0", 1, "--threads"},
        {"-i x.png -c a --eps -1", 1, "--eps"},
        {"-i x.png -c a --head naclip --gaussian-std 1e-23", 1, "--gaussian-std needs a number of patches in [0.01, 10000]"},
        {"-i x.png -c a --head naclip --gaussian-std 0.009", 1, "--gaussian-std"},
        {"-i x.png -c a --head naclip --gaussian-std 2e4", 1, "--gaussian-std"},
        {"-i x.png -c 'a,,b'", 1, "empty class"},
        {"-i x.png -c 'a;;b'", 1, "empty name"},
        {"-i x.png -c 'cat,cat'", 1, "given twice"},
        {"-i x.png -c 'cat;kitten,Kitten'", 1, "given twice"},
        {"-i x.png -c $'\\xff\\xfe'", 1, "UTF-8"},
        {"-i x.png -c $'\\xed\\xa0\\x80'", 1, "UTF-8"},
        {"-i x.png -c $'\\xc0\\xaf'", 1, "UTF-8"},
        {"-i x.png -c a -o", 1, "needs a value"},
        {"-i x.png -c a -o ''", 1, "empty"},
        {"-i x.png -c a -o /nonexistent-dir/out.png", 1, "No such file or directory"},
        {"-i x.png -c a --json /nonexistent-dir/r.json", 1, "No such file or directory"},
        {"--pixels y.npy -c a --overlay ov.png", 1, "--overlay needs -i"},
        {"--pixels y.npy -c a -s 224", 1, "--size"},
        {"-i x.png -c a --precision fp64", 1, "--precision"},
        {"-i x.png -c a --head bogus", 1, "unknown head"},
        {"-i x.png -c a --slide 224", 1, "CROP,STRIDE"},
        {"-i x.png -c a --pamr-dilations 8,,16", 1, "--pamr-dilations"},
        {"-i x.png -c a --classes-format csv", 1, "--classes-format"},
        {"-q -i x.png -c a -m /nonexistent.safetensors", 2, "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FMT(cmd, "cd '%s' && demo %s", t_tmpdir(), cases[i].args);
        int rc = sh(cmd, err, sizeof err);
        CHECK(rc == cases[i].rc, "'%s': exit %d, want %d (%s)", cases[i].args, rc, cases[i].rc, err);
        CHECK(strstr(err, cases[i].msg) != NULL, "'%s': message '%s' lacks '%s'", cases[i].args, err, cases[i].msg);
        CHECK(strchr(err, '\n') == strrchr(err, '\n'), "'%s': more than one line: %s", cases[i].args, err);
    }
    if (!have_tiny()) SKIP("tiny fixture not found");
    /* the library's checks of the parameters, after the model loads and before the image is read
     * (it does not exist: a usage error here proves the order) or any class is embedded */
    struct { const char *env, *args, *msg; } seg[] = {
        {"", "--head sclip --slide 100,50", "multiple of the patch"},
        /* one rule for every head-specific option: given with a head that does not use it, refused */
        {"", "--head sclip --eps 0.5", "--eps applies to the cliptrase head (its cluster vote), not to --head sclip"},
        {"", "--head naclip --min-samples 3", "--min-samples applies to the cliptrase head"},
        {"", "--head clip --cls-reweight", "--cls-reweight applies to the cliptrase head"},
        {"", "--head sclip --gaussian-std 3", "--gaussian-std applies to the naclip head"},
        {"", "--head naclip --sc-beta 0.3", "--sc-beta applies to the scclip head"},
        {"", "--sc-layers 8,3,3,10", "--sc-layers applies to the scclip head"},
        {"", "--head sclip --res-cls 0.3", "--res-cls applies to the scclip head"},
        {"", "--logit-scale 40", "--logit-scale applies to the heads of the mmseg pipeline"},
        {"", "--pamr 0", "--pamr applies to the heads of the mmseg pipeline"},
        {"", "--slide 0", "--slide applies to the heads of the mmseg pipeline"},
        {"", "--head sclip --slide 224,300", "stride"},
        {"", "--head sclip --slide 224,0", "stride"},
        {"", "--head naclip --pamr -1", "PAMR steps"},
        {"", "--head naclip --pamr-dilations 0,8", "dilation"},
        {"", "--head sclip --prob-thd 2", "prob_thd"},
        {"", "--head sclip --area-thd -0.5", "area_thd"},
        {"", "--head naclip --gaussian-std 0", "gaussian-std"},
        {"", "--head sclip --logit-scale -1", "logit scale"},
        {"", "--head cliptrase --pamr 10", "cliptrase"},
        {"", "--slide 224,112", "cliptrase"},
        {"CT_KERNEL=bogus", "", "CT_KERNEL=bogus"},
        {"CT_PRECISION=fp16", "", "CT_PRECISION=fp16"},
        {"CT_PRECISION=fp32 CT_KERNEL=bf16", "", "disagree"},
    };
    for (size_t i = 0; i < sizeof seg / sizeof *seg; i++) {
        FMT(cmd, "%s demo --no-cache -m '%s' -V '%s' -i /nonexistent.png -c cat,dog %s", seg[i].env, g_model, g_vocab, seg[i].args);
        int rc = sh(cmd, err, sizeof err);
        CHECK(rc == 1 && strstr(err, seg[i].msg) && !strstr(err, "encoding"), "'%s %s': exit %d: %s", seg[i].env, seg[i].args, rc, err);
    }
    /* accepted: every setting explicit on top of a head's preset (the head may not be in this
     * library yet: then the segmentation itself says so, exit 2) */
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --head naclip --slide 0 --pamr 0 --prob-thd 0 --area-thd 0 "
             "--gaussian-std 3 --logit-scale 40 --pamr-dilations 4,8 --json -", g_model, g_vocab, g_px);
    int rc = sh(cmd, err, sizeof err);
    CHECK(rc == 0 || (rc == 2 && strstr(err, "not available")), "naclip, all explicit: exit %d: %s", rc, err);
    FMT(cmd, "demo -q -m '%s' -i /nonexistent.png -c a -V '%s' --no-cache", g_model, g_vocab);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "cannot open"), "missing image: %s", err);
    char *bad = path_join(t_tmpdir(), "bad.jpg");
    FILE *f = fopen(bad, "wb");
    fputs("\xff\xd8\xff\xe0 not really a jpeg", f);
    fclose(f);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' -i '%s' -c a", g_model, g_vocab, bad);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "bad.jpg"), "corrupt image: %s", err);
    free(bad);
    CHECK(sh("demo --help >/dev/null", err, sizeof err) == 0, "--help exits 0");
}

/* What a new user trips on: an output name whose extension is not the PNG it holds; a picture
 * whose aspect ratio makes the model input very long (warned, also with -q). */
static void png_names_and_long_inputs(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char *dir = fresh_dir("newuser"), cmd[4096], err[4096], p[1200];
    static const char *const refused[] = {"-o x.jpg", "--overlay y.JPEG", "--labels l.bmp", "-o out.png.gif"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' -i '%s' -c cat,dog %s", dir, g_model, g_vocab, g_img, refused[i]);
        CHECK(sh(cmd, err, sizeof err) == 1 && strstr(err, "the file is a PNG; give a name ending in .png"), "'%s': %s", refused[i], err);
    }
    FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' -i '%s' -c cat,dog -o OUT.PNG --labels plain", dir, g_model, g_vocab, g_img);
    FMT(p, "%s/OUT.PNG", dir);
    CHECK(sh(cmd, err, sizeof err) == 0 && file_exists(p), ".PNG and a name without extension accepted: %s", err);
    /* 33 x 900 at -s 64: a 64 x 1744 model input, 27 times as long as wide */
    uint8_t *rgb = calloc((size_t)33 * 900 * 3, 1);
    ct_image tall = {33, 900, rgb};
    FMT(p, "%s/tall.png", dir);
    CHECK(ct_image_save_png(&tall, p, NULL) == CT_OK, "tall.png");
    free(rgb);
    FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' -i tall.png -s 64 -c cat,dog --labels tall-labels.png", dir, g_model, g_vocab);
    CHECK(sh(cmd, err, sizeof err) == 0 && strstr(err, "warning: 'tall.png': the 33 x 900 picture becomes a 64 x 1744 model input (width x height, 27 times"),
          "the long input's warning: %s", err);
    FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' -i '%s' -s 64 -c cat,dog --labels sq.png", dir, g_model, g_vocab, g_img);
    CHECK(sh(cmd, err, sizeof err) == 0 && !strstr(err, "warning"), "a square picture warns: %s", err);
    free(dir);
}

/* out.png only when no output is asked for; --json - is standard output */
static void outputs_when_asked(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char *dir = fresh_dir("outputs");
    char cmd[4096], err[4096], *out = malloc(65536), p[1200];
    FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --json -", dir, g_model, g_vocab, g_px);
    int rc = tool_run(cmd, out, 65536, err, sizeof err, NULL);
    CHECK(rc == 0, "--json -: exit %d: %s", rc, err);
    ct_json *j = ct_json_parse(out, strlen(out), NULL, 0);
    CHECK(j && ct_json_get(j, "classes"), "--json - did not print JSON: %.200s", out);
    ct_json_free(j);
    FMT(p, "%s/-", dir);
    CHECK(!file_exists(p), "--json - created a file named '-'");
    FMT(p, "%s/out.png", dir);
    CHECK(!file_exists(p), "out.png written with only --json");
    FMT(cmd, "cd '%s' && demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog", dir, g_model, g_vocab, g_px);
    CHECK(sh(cmd, err, sizeof err) == 0 && file_exists(p), "no output option: out.png expected: %s", err);
    /* a full disk: the error is reported with exit 2 */
    const char *full = T_DEV_FULL(); /* our own device node, never /dev/full */
    if (full) {
        FMT(cmd, "(demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --json - >'%s')", g_model, g_vocab, g_px, full);
        rc = sh(cmd, err, sizeof err);
        CHECK(rc == 2 && strstr(err, "No space left") && strchr(err, '\n') == strrchr(err, '\n'), "--json - to a full device: exit %d: %s", rc, err);
    } else {
        printf("  (mknod not permitted: a full standard output untested)\n");
    }
    free(out);
    free(dir);
}

/* Output paths that are not plain files (issue 18, item 1): devices are written in place (our own
 * nodes, never /dev), a failed device write is exit 2, a link is followed and kept. */
static void outputs_to_devices_and_links(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char *dir = fresh_dir("devices"), cmd[4096], err[4096], real[700], link[700];
    FMT(real, "%s/real.png", dir);
    FMT(link, "%s/link.png", dir);
    CHECK(symlink("real.png", link) == 0, "symlink");
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog -o '%s'", g_model, g_vocab, g_px, link);
    CHECK(sh(cmd, err, sizeof err) == 0, "-o through a link: %s", err);
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode) && stat(real, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0, "-o through a dangling link: link kept, target written");
    const char *nul = T_DEV_NULL(), *full = T_DEV_FULL();
    if (!nul || !full) { free(dir); SKIP("mknod is not permitted here: device outputs untested"); }
    struct stat n0, f0, n1, f1;
    CHECK(lstat(nul, &n0) == 0 && lstat(full, &f0) == 0, "lstat");
    /* one node per output: outputs naming one file are refused (main's same-file rule) */
    const char *nul2 = t_device("null-device-2", 1, 3), *nul3 = t_device("null-device-3", 1, 3);
    CHECK(nul2 && nul3, "mknod");
    if (!nul2 || !nul3) { free(dir); return; }
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog -o '%s' --labels '%s' --json '%s'", g_model, g_vocab, g_px, nul, nul2, nul3);
    CHECK(sh(cmd, err, sizeof err) == 0, "outputs to a null device: %s", err);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' -i '%s' -c cat,dog -o '%s' --overlay '%s'", g_model, g_vocab, g_img, nul, nul2);
    CHECK(sh(cmd, err, sizeof err) == 0, "--overlay to a null device: %s", err);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog -o '%s'", g_model, g_vocab, g_px, full);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "No space left"), "-o to a full device: %s", err);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --json '%s'", g_model, g_vocab, g_px, full);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "No space left"), "--json to a full device: %s", err);
    CHECK(lstat(nul, &n1) == 0 && S_ISCHR(n1.st_mode) && n1.st_ino == n0.st_ino, "the null device node was replaced");
    CHECK(lstat(full, &f1) == 0 && S_ISCHR(f1.st_mode) && f1.st_ino == f0.st_ino, "the full device node was replaced");
    free(dir);
}

/* "all cores" is the CPUs this process may run on (issue 18, item 3): under taskset -c 0 the
 * demo's model runs 1 thread */
static void threads_follow_affinity(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    if (system("command -v taskset >/dev/null 2>&1") != 0) SKIP("taskset not installed");
    if (ct_cpu_count() < 2) SKIP("this process may run on one CPU only: a restriction cannot be told apart");
    char cmd[4096], err[4096];
    FMT(cmd, "taskset -c 0 demo -v --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --json -", g_model, g_vocab, g_px);
    char *out = malloc(65536);
    CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0 && strstr(err, "; 1 threads;"), "taskset -c 0: %s", err);
    free(out);
}

/* Cost bombs (issue 18, item 11): refused before any work with the estimate and the option that
 * lowers it; --no-limits is accepted */
static void cost_limits(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char cmd[4096], err[4096], small[800], abs[600];
    const char *o = realpath(oracle_dir(), abs) ? abs : oracle_dir();
    FMT(small, "%s/small_f16_hf/model.safetensors", o);
    if (!file_exists(small)) SKIP("small_f16_hf fixture not found");
    double t0 = now();
    FMT(cmd, "demo --no-cache -m '%s' -V '%s' -i '%s' -s 448 --crop -c cat,dog --head sclip --slide 224,1 --json -", small, g_vocab, g_img);
    CHECK(sh(cmd, err, sizeof err) == 1 && strstr(err, "50625 encoder passes") && strstr(err, "--slide CROP,STRIDE") && strstr(err, "--no-limits") &&
              !strstr(err, "encoding"), "--slide 224,1 at 448: %s", err);
    FMT(cmd, "demo --no-cache -m '%s' -V '%s' -i '%s' -s 2048 --crop -c cat,dog --eps 0.000001 --min-samples 1 --json -", small, g_vocab, g_img);
    int rc = sh(cmd, err, sizeof err);
    if (available_memory() > ((size_t)40 << 30)) printf("  (more than 40 GB available: the 2048 cluster bomb fits, not checked)\n");
    else CHECK(rc == 1 && strstr(err, "GB of memory") && strstr(err, "--min-samples") && !strstr(err, "encoding"), "2048 with a cluster per patch: %s", err);
    CHECK(now() - t0 < 60, "the refusals took %.0f s: work was done before them", now() - t0);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --no-limits --json -", g_model, g_vocab, g_px);
    char *out = malloc(65536);
    CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0, "--no-limits: %s", err);
    free(out);
}

/* the tool names itself as it was called (installed as cliptrase-demo) */
static void names_itself(void) {
    if (!tool_exists("demo")) SKIP("demo not built");
    char *dir = fresh_dir("named"), cmd[2048], out[4096], err[4096];
    FMT(cmd, "ln -s \"$(command -v demo)\" '%s/cliptrase-demo' && '%s/cliptrase-demo' --help", dir, dir);
    CHECK(tool_run(cmd, out, sizeof out, err, sizeof err, NULL) == 0 && strstr(out, "usage: cliptrase-demo ") && !strstr(out, "usage: demo"), "help: %.120s", out);
    FMT(cmd, "'%s/cliptrase-demo' -c a", dir);
    CHECK(sh(cmd, err, sizeof err) == 1 && !strncmp(err, "cliptrase-demo: ", 16), "message prefix: %s", err);
    free(dir);
}

/* the default and a non-multiple --size follow the model's patch */
static void sizes_follow_the_model(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char cmd[4096], err[4096], *out = malloc(65536);
    FMT(cmd, "demo --no-cache -m '%s' -V '%s' -i '%s' -c cat,dog -s 72 --crop --json -", g_model, g_vocab, g_img);
    CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0, "-s 72: %s", err);
    CHECK(strstr(err, "not a multiple of the patch size 16: using 80"), "no note: %s", err);
    CHECK(strstr(out, "\"model_width\": 80, \"model_height\": 80") && strstr(out, "\"size\": 80"), "-s 72 not rounded to 80: %.300s", out);
    FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' -i '%s' -c cat,dog --json -", g_model, g_vocab, g_img);
    CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0 && strstr(out, "\"size\": 336"), "default size: %s %.300s", err, out);
    free(out);
}

/* -v says where the model, the cache and the vocabulary are, and how the model runs */
static void verbose_and_precision(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char *dir = fresh_dir("verbose"), cmd[4096], err[4096], *out = malloc(65536);
    FMT(cmd, "CT_CACHE_DIR='%s/c' demo -v -m '%s' -V '%s' --pixels '%s' -c cat,dog --json '%s/out.json'", dir, g_model, g_vocab, g_px, dir);
    CHECK(sh(cmd, err, sizeof err) == 0, "%s", err);
    char want[1200];
    FMT(want, "class-embedding cache: %s/c", dir);
    CHECK(strstr(err, want) && strstr(err, "precision fp32") && strstr(err, "kernel") && strstr(err, "vocabulary: "), "-v: %s", err);
    /* an unusable cache directory: one warning, and the run goes on */
    FMT(cmd, "CT_CACHE_DIR=/proc/forbidden/cache demo -m '%s' -V '%s' --pixels '%s' -c cat,dog --json '%s/out.json'", g_model, g_vocab, g_px, dir);
    CHECK(sh(cmd, err, sizeof err) == 0, "%s", err);
    char *w = strstr(err, "cache disabled");
    CHECK(w && !strstr(w + 1, "cache disabled"), "unusable cache: one warning expected: %s", err);
    /* CT_KERNEL=blas chooses OpenBLAS; bf16 by flag or environment where the CPU has it */
    FMT(cmd, "CT_KERNEL=blas demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --json -", g_model, g_vocab, g_px);
    CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0 && strstr(out, "openblas"), "CT_KERNEL=blas: %s", err);
    if (ct_precision_available(CT_PRECISION_BF16)) {
        const char *ways[3] = {"", "CT_PRECISION=bf16", "CT_KERNEL=bf16"};
        for (int k = 0; k < 3; k++) {
            FMT(cmd, "%s demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog %s --json -", ways[k], g_model, g_vocab, g_px,
                k ? "" : "--precision bf16");
            CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0 && strstr(out, "\"precision\": \"bf16\""), "bf16 by '%s': %s", ways[k], err);
        }
        FMT(cmd, "CT_PRECISION=bf16 demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --precision fp32 --json -", g_model, g_vocab, g_px);
        CHECK(tool_run(cmd, out, 65536, err, sizeof err, NULL) == 0 && strstr(out, "\"precision\": \"fp32\""), "--precision over the environment: %s", err);
    }
    free(out);
    free(dir);
}

/* installed tools find their data in $CT_DATA_DIR (and say where they looked when nothing is there) */
static void data_directories(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    char *dir = fresh_dir("data"), *empty = fresh_dir("nodata"), cmd[4096], err[4096];
    FMT(cmd, "ln -s '%s' '%s/clip-vit-base-patch16.safetensors' && ln -s '%s' '%s/bpe_simple_vocab_16e6.txt.gz'", g_model, dir, g_vocab, dir);
    CHECK(sh(cmd, err, sizeof err) == 0, "%s", err);
    FMT(cmd, "cd '%s' && CT_DATA_DIR='%s' XDG_DATA_HOME='%s' demo --no-cache --pixels '%s' -c cat,dog --json '%s/out.json'", empty, dir, empty, g_px, empty);
    CHECK(sh(cmd, err, sizeof err) == 0 && strstr(err, dir), "model from $CT_DATA_DIR: %s", err);
    FMT(cmd, "cd '%s' && CT_DATA_DIR='%s' XDG_DATA_HOME='%s' demo --no-cache --pixels '%s' -c cat,dog", empty, empty, empty, g_px);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "CT_DATA_DIR") && strstr(err, empty), "no model anywhere: %s", err);
    /* no vocabulary: the message lists every place looked in (beside the model, each data directory) */
    char *lone = fresh_dir("lone");
    FMT(cmd, "ln -s '%s' '%s/m.safetensors' && cd '%s' && CT_DATA_DIR='%s' XDG_DATA_HOME='%s' demo --no-cache -m '%s/m.safetensors' --pixels '%s' -c cat,dog",
        g_model, lone, empty, empty, empty, lone, g_px);
    CHECK(sh(cmd, err, sizeof err) == 2 && strstr(err, "no vocabulary") && strstr(err, lone) && strstr(err, empty) && strstr(err, "weights") &&
              strstr(err, "--vocab"), "no vocabulary anywhere: %s", err);
    free(lone);
    FMT(cmd, "echo cat | CT_DATA_DIR='%s' ct-tokenize", dir);
    if (tool_exists("ct-tokenize")) CHECK(sh(cmd, err, sizeof err) == 0, "ct-tokenize with $CT_DATA_DIR: %s", err);
    free(dir);
    free(empty);
}

/* the intermediates (N x H x W maps, T x T correlations) are allocated only for --dump */
static void intermediates_only_for_dump(void) {
    if (!have_tiny()) SKIP("tiny fixture not found");
    /* a sanitizer keeps freed memory in quarantine: resident sizes say nothing there */
    if (getenv("CT_SANITIZER") && *getenv("CT_SANITIZER")) SKIP("peak memory is not measured under %s", getenv("CT_SANITIZER"));
    char *dir = fresh_dir("rss"), *list = path_join(dir, "classes.txt"), *px = path_join(dir, "px.npy"), cmd[8192], err[4096];
    enum { N = 64, S = 512 };
    FILE *f = fopen(list, "w");
    for (int i = 0; i < N; i++) fprintf(f, "thing %d\n", i);
    fclose(f);
    float *zero = calloc((size_t)3 * S * S, sizeof(float));
    int64_t shape[3] = {3, S, S};
    CHECK(npy_save(px, zero, 0, 3, shape, NULL) == CT_OK, "npy_save");
    free(zero);
    long rss[3];
    for (int k = -1; k < 2; k++) { /* the first run fills the embedding cache: both measured runs read it */
        FMT(cmd, "CT_CACHE_DIR='%s/cache' demo -q -t 1 -m '%s' -V '%s' --pixels '%s' --classes-file '%s' --json '%s/out.json' %s%s", dir, g_model, g_vocab,
            px, list, dir, k > 0 ? "--dump " : "", k > 0 ? dir : "");
        CHECK(tool_run(cmd, NULL, 0, err, sizeof err, &rss[k + 1]) == 0, "%s", err);
    }
    /* with --dump: at least the 64 x 512 x 512 upsampled logits (64 MiB) more */
    long logits_kb = (long)N * S * S * 4 / 1024;
    printf("  peak RSS %ld MiB without --dump, %ld MiB with (logits alone %ld MiB)\n", rss[1] >> 10, rss[2] >> 10, logits_kb >> 10);
    CHECK(rss[2] - rss[1] > logits_kb * 8 / 10, "the run without --dump allocated the intermediates too (%ld vs %ld kB)", rss[1], rss[2]);
    free(list);
    free(px);
    free(dir);
}

/* --labels: 8-bit PNG up to 255 labels, 16-bit beyond (the CLI contract) */
static void label_png_depth(void) {
    if (!have_tiny()) SKIP("tiny fixture not found under %s", oracle_dir());
    char *dir = fresh_dir("depth"), cmd[8192], err[4096], list[1200], raw[1200];
    FMT(list, "%s/many.txt", dir);
    FMT(raw, "%s/raw.png", dir);
    FILE *f = fopen(list, "w");
    for (int i = 0; i < 300; i++) fprintf(f, "thing %d\n", i);
    fclose(f);
    const int counts[2] = {2, 300};
    for (int k = 0; k < 2; k++) {
        if (k == 0) FMT(cmd, "demo -q --no-cache -m '%s' -V '%s' --pixels '%s' -c cat,dog --labels '%s'", g_model, g_vocab, g_px, raw);
        else FMT(cmd, "CT_CACHE_DIR='%s/cache' demo -q -m '%s' -V '%s' --pixels '%s' --classes-file '%s' --labels '%s'", dir, g_model, g_vocab, g_px, list, raw);
        CHECK(sh(cmd, err, sizeof err) == 0, "%d classes: %s", counts[k], err);
        size_t len = 0;
        char *png = slurp(raw, &len);
        CHECK(png && len > 26 && png[24] == (k ? 16 : 8), "%d classes: bit depth %d", counts[k], png && len > 26 ? png[24] : -1);
        free(png);
    }
    free(dir);
}

int main(void) {
    RUN(label_png_depth);
    RUN(dumps_match_oracle);
    RUN(heads_match_oracle);
    RUN(scclip_matches_oracle);
    RUN(image_input_and_cache);
    RUN(errors_and_exit_codes);
    RUN(outputs_when_asked);
    RUN(outputs_to_devices_and_links);
    RUN(threads_follow_affinity);
    RUN(cost_limits);
    RUN(png_names_and_long_inputs);
    RUN(names_itself);
    RUN(sizes_follow_the_model);
    RUN(verbose_and_precision);
    RUN(data_directories);
    RUN(intermediates_only_for_dump);
    DONE();
}
