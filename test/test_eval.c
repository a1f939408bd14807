/* tools/ct-eval on a synthetic dataset the test makes: the metrics equal the reference's
 * formulas (configs/metric.py of CLIPtrase) computed here; a resumed run, and shards merged,
 * give the same numbers; a torn state file is repaired; the state records the settings (a run or
 * a shard with other settings is refused, with the setting named); damaged lines and counts that
 * would wrap are refused; ground truth of the wrong size is refused with and without --crop;
 * palette ground truth (VOC's SegmentationClass) is read; usage errors exit 1. */
#include "harness.h"
#include "common.h"
#include "common/nameset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define L 3
#define S 8 /* images are S x S */

static char D[256]; /* the test's directory */

static int run(const char *cmd, char *out, size_t cap) {
    char full[8192];
    snprintf(full, sizeof full, "%s >%s/out.txt 2>%s/err.txt", cmd, D, D);
    int st = system(full);
    char p[512];
    snprintf(p, sizeof p, "%s/out.txt", D);
    char *o = slurp(p, NULL);
    snprintf(p, sizeof p, "%s/err.txt", D);
    char *e = slurp(p, NULL);
    snprintf(out, cap, "%s%s", o ? o : "", e ? e : "");
    free(o); free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double metric(const char *out, const char *name) {
    const char *p = strstr(out, name);
    return p ? atof(p + strlen(name) + 2) : -1;
}

/* the reference's scores() */
static void reference(const unsigned long long h[L][L], double m[4]) {
    double tot = 0, diag = 0, row[L] = {0}, col[L] = {0}, macc = 0, miou = 0, fw = 0;
    int nv = 0;
    for (int g = 0; g < L; g++)
        for (int p = 0; p < L; p++) { row[g] += h[g][p]; col[p] += h[g][p]; tot += h[g][p]; if (g == p) diag += h[g][p]; }
    for (int c = 0; c < L; c++) {
        double iu = h[c][c] / (row[c] + col[c] - h[c][c] + 0.01);
        macc += h[c][c] / (row[c] + 0.01);
        if (row[c] > 0) { miou += iu; nv++; fw += row[c] / tot * iu; }
    }
    m[0] = 100 * diag / tot; m[1] = 100 * macc / L; m[2] = 100 * fw; m[3] = 100 * miou / nv;
}

static void put(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", D, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* only the metrics lines (progress goes to stderr, which run() appends) */
static void metrics_only(const char *out, char *m, size_t cap) {
    const char *p = strstr(out, "class ");
    const char *e = p ? strstr(p, "mIoU: ") : NULL;
    if (!p || !e) { snprintf(m, cap, "<no metrics>"); return; }
    e = strchr(e, '\n');
    snprintf(m, cap, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
}

static char base[2048], out[16384], out2[16384], pred_metrics[16384];

static void metrics_shards_resume(void) {
    if (!tool_exists("ct-eval")) SKIP("ct-eval not built");
    FMT(D, "%s/eval", t_tmpdir());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/img %s/gt %s/pred", D, D, D, D);
    CHECK(system(cmd) == 0, "mkdir");
    put("classes.txt", "cat;kitten\ndog\ngrass\n");
    unsigned long long h[L][L] = {{0}};
    uint8_t rgb[S * S * 3] = {0}, gt[S * S], pr[S * S];
    unsigned seed = 7;
    for (int i = 0; i < 5; i++) {
        char p[512];
        for (int k = 0; k < S * S; k++) {
            seed = seed * 1103515245u + 12345u;
            gt[k] = (uint8_t)((seed >> 16) % 4 == 3 ? 255 : (seed >> 16) % 3); /* 255: ignored */
            seed = seed * 1103515245u + 12345u;
            pr[k] = (seed >> 16) % 4 ? gt[k] % 3 : (uint8_t)((seed >> 20) % 3);
            if (gt[k] < L) h[gt[k]][pr[k]]++;
        }
        snprintf(p, sizeof p, "%s/img/im%d.png", D, i); png_rgb(p, S, S, rgb);
        snprintf(p, sizeof p, "%s/gt/im%d.png", D, i); png_gray8(p, S, S, gt);
        snprintf(p, sizeof p, "%s/pred/im%d.png", D, i); png_gray8(p, S, S, pr);
    }
    double want[4];
    reference(h, want);
    snprintf(base, sizeof base, "ct-eval -q --images %s/img --gt %s/gt --predictions %s/pred --classes-file %s/classes.txt", D, D, D, D);
    snprintf(cmd, sizeof cmd, "%s --state %s/full.state", base, D);
    CHECK(run(cmd, out, sizeof out) == 0, "full run failed: %s", out);
    const char *names[4] = {"pAcc", "mAcc", "fwIoU", "mIoU"};
    for (int k = 0; k < 4; k++)
        CHECK(fabs(metric(out, names[k]) - want[k]) < 0.006, "%s %.2f, want %.4f", names[k], metric(out, names[k]), want[k]);
    printf("  pAcc %.2f mAcc %.2f fwIoU %.2f mIoU %.2f (reference formulas agree)\n", want[0], want[1], want[2], want[3]);
    CHECK(strstr(out, "kitten") == NULL && strstr(out, "cat ") != NULL, "per-class table uses the first synonym");
    metrics_only(out, pred_metrics, sizeof pred_metrics);
    /* resume: nothing new is counted, same numbers */
    CHECK(run(cmd, out2, sizeof out2) == 0, "resume failed: %s", out2);
    CHECK(!strcmp(out, out2), "resumed output differs");
    /* shards merged */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s --shard %d/2 --state %s/s%d.state", base, i, D, i);
        CHECK(run(cmd, out2, sizeof out2) == 0, "shard %d failed: %s", i, out2);
    }
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/s0.state %s/s1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "merge failed: %s", out2);
    CHECK(!strcmp(out, out2), "merged shards differ from the full run:\n%s\nvs\n%s", out, out2);
    /* a torn last line (an interrupted write) is dropped and that image evaluated again */
    char p[512];
    snprintf(p, sizeof p, "%s/s0.state", D);
    FILE *f = fopen(p, "a");
    fputs("img\tim9.png\t0 0 ", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s --shard 0/2 --state %s/s0.state", base, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "repair run failed: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/s0.state %s/s1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && !strcmp(out, out2), "after repair: %s", out2);
    /* background names from a file, one a line, commas allowed; ground truth 255 is background */
    put("bg.txt", "sky\nbeach, hill\n");
    snprintf(cmd, sizeof cmd, "%s --background-file %s/bg.txt --gt-background 255 --state %s/bg.state", base, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "background file run failed: %s", out2);
    CHECK(strstr(out2, "background") != NULL, "no background row:\n%s", out2);
    /* usage errors */
    snprintf(cmd, sizeof cmd, "ct-eval --images %s/img", D);
    CHECK(run(cmd, out2, sizeof out2) == 1, "missing classes file: exit 1");
    snprintf(cmd, sizeof cmd, "ct-eval --classes-file %s/classes.txt --shard 3/2 --images x --gt y --predictions z", D);
    CHECK(run(cmd, out2, sizeof out2) == 1, "bad shard: exit 1");
    snprintf(cmd, sizeof cmd, "%s --gt-background 255 --state %s/x.state", base, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "--gt-background needs background names"), "--gt-background alone: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/missing.state --classes-file %s/classes.txt", D, D);
    CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "missing.state") && strstr(out2, "No such file"), "merge of a missing state: %s", out2);
    snprintf(cmd, sizeof cmd, "%s --state /nonexistent-dir/x.state", base);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "No such file"), "unwritable state: %s", out2);
}

/* the state records the settings: resume, and merge, only with the same ones */
static void settings_recorded(void) {
    if (!base[0]) SKIP("no dataset");
    char cmd[8192];
    /* a permuted class file: resuming and merging are refused, naming the class list */
    put("permuted.txt", "dog\ncat;kitten\ngrass\n");
    snprintf(cmd, sizeof cmd, "ct-eval -q --images %s/img --gt %s/gt --predictions %s/pred --classes-file %s/permuted.txt --state %s/full.state", D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "classes"), "resume with permuted classes: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval -q --images %s/img --gt %s/gt --predictions %s/pred --classes-file %s/permuted.txt --shard 1/2 --state %s/p1.state", D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "permuted shard: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/s0.state %s/p1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "class list"), "shards of permuted class files merged: %s", out2);
    /* another background value or ground-truth folder */
    snprintf(cmd, sizeof cmd, "%s --background-file %s/bg.txt --gt-background 0 --state %s/bg.state", base, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "gt-background is 255 there, 0 here"), "another --gt-background: %s", out2);
    snprintf(cmd, sizeof cmd, "cp -r %s/gt %s/gt2 && ct-eval -q --images %s/img --gt %s/gt2 --predictions %s/pred --classes-file %s/classes.txt --state %s/full.state", D, D, D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "ground-truth-dir"), "another ground-truth folder: %s", out2);
    /* a state of the old format (no settings) is refused */
    put("old.state", "ct-eval-state 1 labels 3\nimg\tim0.png\t0 0 5 \n");
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/old.state --classes-file %s/classes.txt", D, D);
    CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "older ct-eval"), "old state: %s", out2);
}

/* every line is checked: a damaged middle line is refused, counts cannot wrap */
static void damaged_states(void) {
    if (!base[0]) SKIP("no dataset");
    char p[512], cmd[8192];
    snprintf(p, sizeof p, "%s/full.state", D);
    size_t len = 0;
    char *st = slurp(p, &len);
    CHECK(st && len > 100, "no state");
    if (!st) return;
    /* one digit changed in a middle line */
    char *mid = strstr(st, "img\tim2.png\t");
    CHECK(mid != NULL, "no line for im2");
    if (mid) {
        char *copy = strdup(st), *d = copy + (mid - st) + 12;
        while (*d < '0' || *d > '9') d++;
        *d = *d == '9' ? '8' : (char)(*d + 1);
        put("damaged.state", copy);
        free(copy);
        snprintf(cmd, sizeof cmd, "ct-eval --merge %s/damaged.state --classes-file %s/classes.txt", D, D);
        CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "damaged") && strstr(out2, "line"), "damaged middle line accepted: %s", out2);
        snprintf(cmd, sizeof cmd, "%s --state %s/damaged.state", base, D);
        CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "damaged"), "resume from a damaged state: %s", out2);
    }
    /* counts that would wrap, with a valid checksum: refused */
    const char *huge[2] = {"0 0 18446744073709551615", "0 0 9223372036854775807 0 1 9223372036854775807"};
    for (int k = 0; k < 2; k++) {
        char line[256], text[65536];
        snprintf(line, sizeof line, "img\tbig%d.png\t%s", k, huge[k]);
        snprintf(text, sizeof text, "%s%s\t%016llx\n", st, line, (unsigned long long)hash64(line, strlen(line), 0));
        put("wrap.state", text);
        snprintf(cmd, sizeof cmd, "ct-eval --merge %s/wrap.state --classes-file %s/classes.txt", D, D);
        CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "out of range"), "count %s accepted: %s", huge[k], out2);
    }
    free(st);
    /* nothing to evaluate is an error, not mIoU 0.00 */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/none && ct-eval -q --images %s/none --gt %s/gt --predictions %s/pred --classes-file %s/classes.txt --state %s/none.state", D, D, D,
             D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "no image was evaluated") && !strstr(out2, "mIoU"), "zero images: %s", out2);
}

/* crc32 (PNG) for the palette file below */
static uint32_t crc32_png(const uint8_t *p, size_t n, uint32_t c) {
    c = ~c;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t h[8] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, 0, 0, 0, 0};
    memcpy(h + 4, type, 4);
    fwrite(h, 1, 8, f);
    if (n) fwrite(data, 1, n, f);
    uint32_t c = crc32_png((const uint8_t *)type, 4, 0);
    c = crc32_png(data, n, c);
    uint8_t t[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    fwrite(t, 1, 4, f);
}

/* An 8-bit palette PNG (colour type 3) of indices [h x w], VOC's colours for 0..3 and 255. */
static void palette_png(const char *path, int w, int h, const uint8_t *idx) {
    FILE *f = fopen(path, "wb");
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    uint8_t ihdr[13] = {0, 0, 0, (uint8_t)w, 0, 0, 0, (uint8_t)h, 8, 3, 0, 0, 0};
    chunk(f, "IHDR", ihdr, 13);
    uint8_t plte[256 * 3] = {0};
    const uint8_t voc[4][3] = {{0, 0, 0}, {128, 0, 0}, {0, 128, 0}, {128, 128, 0}};
    memcpy(plte, voc, sizeof voc);
    plte[255 * 3] = plte[255 * 3 + 1] = 224;
    plte[255 * 3 + 2] = 192;
    chunk(f, "PLTE", plte, sizeof plte);
    /* zlib with one stored block: filter byte 0 before each row */
    size_t raw = (size_t)h * (w + 1);
    uint8_t *z = malloc(raw + 11), *r = z + 7;
    z[0] = 0x78; z[1] = 0x01; z[2] = 1;
    z[3] = (uint8_t)raw; z[4] = (uint8_t)(raw >> 8); z[5] = (uint8_t)~raw; z[6] = (uint8_t)(~raw >> 8);
    for (int y = 0; y < h; y++) {
        r[y * (w + 1)] = 0;
        memcpy(r + y * (w + 1) + 1, idx + y * w, (size_t)w);
    }
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw; i++) { a = (a + r[i]) % 65521; b = (b + a) % 65521; }
    uint32_t ad = b << 16 | a;
    uint8_t *t = r + raw;
    t[0] = (uint8_t)(ad >> 24); t[1] = (uint8_t)(ad >> 16); t[2] = (uint8_t)(ad >> 8); t[3] = (uint8_t)ad;
    chunk(f, "IDAT", z, (uint32_t)(raw + 11));
    chunk(f, "IEND", NULL, 0);
    free(z);
    fclose(f);
}

/* VOC's SegmentationClass: the palette index is the label (255: the border, ignored). Passes
 * once ct_labels_load_png reads palette PNGs (issue 11, item 22; the io branch). */
static void palette_ground_truth(void) {
    if (!base[0]) SKIP("no dataset");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s/pal && mkdir -p %s/pal/gt %s/pal/pred", D, D, D);
    CHECK(system(cmd) == 0, "mkdir");
    uint8_t idx[S * S], pr[S * S];
    for (int k = 0; k < S * S; k++) {
        idx[k] = (uint8_t)(k % 9 == 8 ? 255 : k % 3);
        pr[k] = (uint8_t)(k % 3);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/pal/gt/v0.png", D);
    palette_png(p, S, S, idx);
    snprintf(p, sizeof p, "%s/pal/pred/v0.png", D);
    png_gray8(p, S, S, pr);
    snprintf(cmd, sizeof cmd, "ct-eval -q --images %s/pal/pred --gt %s/pal/gt --predictions %s/pal/pred --classes-file %s/classes.txt --state %s/pal.state", D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "images: 1") && metric(out2, "pAcc") > 99.99, "palette ground truth: %s", out2);
}

/* with a model: resume and shards; settings that change the numbers; ground truth of the wrong
 * size, with and without --crop */
static void with_model(void) {
    char model[600], vocab[600], cmd[8192], m1[16384], m2[16384];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(model) || !base[0]) SKIP("tiny fixture not found under %s", oracle_dir());
    snprintf(cmd, sizeof cmd, "rm -rf %s/m && mkdir -p %s/m/img %s/m/gt", D, D, D);
    CHECK(system(cmd) == 0, "mkdir");
    for (int i = 0; i < 3; i++) {
        int w = 80 + 16 * i, hh = 64;
        uint8_t *rgb = malloc((size_t)w * hh * 3), *gt = malloc((size_t)w * hh);
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < w; x++) {
                int c = (x < w / 2) + 2 * (y < hh / 2) + i;
                rgb[((size_t)y * w + x) * 3] = (uint8_t)(c * 60);
                rgb[((size_t)y * w + x) * 3 + 1] = (uint8_t)(255 - c * 40);
                rgb[((size_t)y * w + x) * 3 + 2] = (uint8_t)(x * 3);
                gt[(size_t)y * w + x] = (uint8_t)(c % 3);
            }
        char p[512];
        snprintf(p, sizeof p, "%s/m/img/p%d.png", D, i); png_rgb(p, w, hh, rgb);
        snprintf(p, sizeof p, "%s/m/gt/p%d.png", D, i); png_gray8(p, w, hh, gt);
        free(rgb); free(gt);
    }
    char mb[4096];
    snprintf(mb, sizeof mb, "CT_CACHE_DIR=%s/cache ct-eval -q -m '%s' -V '%s' --images %s/m/img --gt %s/m/gt --classes-file %s/classes.txt", D, model, vocab, D, D, D);
    snprintf(cmd, sizeof cmd, "%s -s 64 --state %s/m/full.state", mb, D);
    CHECK(run(cmd, out, sizeof out) == 0, "model run failed: %s", out);
    CHECK(strstr(out, "images: 3") != NULL, "three images evaluated: %s", out);
    { /* the state names the backbone (issue 21) */
        char sp[700];
        FMT(sp, "%s/m/full.state", D);
        char *txt = slurp(sp, NULL);
        CHECK(txt && strstr(txt, "set\tbackbone\tvit-p16-i64-w64-l3-h1-mlp256-quick_gelu\n"), "no backbone line in the state: %s", txt ? txt : "(none)");
        free(txt);
    }
    metrics_only(out, m1, sizeof m1);
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s -s 64 --shard %d/2 --state %s/m/s%d.state", mb, i, D, i);
        CHECK(run(cmd, out2, sizeof out2) == 0, "shard %d: %s", i, out2);
    }
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/m/s0.state %s/m/s1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "merge: %s", out2);
    metrics_only(out2, m2, sizeof m2);
    CHECK(!strcmp(m1, m2), "shards differ from the full run");
    /* resuming with another setting is refused, naming it */
    struct { const char *args, *what; } other[] = {
        {"-s 80", "size is 64 there, 80 here"}, {"-s 64 --crop", "crop"}, {"-s 64 --eps 0.5", "eps"}, {"-s 64 --cls-reweight", "cls-reweight"},
        {"-s 64 --head sclip --slide 0", "head"}, {"-s 64 --precision bf16", "precision"}, {"-s 64 -b sky", "labels"},
    };
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        if (strstr(other[k].args, "bf16") && !ct_precision_available(CT_PRECISION_BF16)) continue;
        snprintf(cmd, sizeof cmd, "%s %s --state %s/m/full.state", mb, other[k].args, D);
        CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, other[k].what), "resume with '%s': %s", other[k].args, out2);
    }
    /* another model file (same size, other weights) */
    if (tool_exists("ct-random-weights")) {
        snprintf(cmd, sizeof cmd, "ct-random-weights --arch tiny --seed 5 -o %s/m/other.safetensors && CT_CACHE_DIR=%s/cache ct-eval -q -m %s/m/other.safetensors -V '%s' "
                 "--images %s/m/img --gt %s/m/gt --classes-file %s/classes.txt -s 64 --state %s/m/full.state", D, D, D, vocab, D, D, D, D);
        CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "model is "), "another model: %s", out2);
    }
    /* the paper's protocol */
    snprintf(cmd, sizeof cmd, "%s -s 64 --crop --state %s/m/crop.state", mb, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "images: 3"), "crop protocol: %s", out2);
    /* SC-CLIP: the 3-block model has no preset depth (its layers and res_cls given, it runs; not
     * given, a usage error naming the flags) */
    snprintf(cmd, sizeof cmd, "%s -s 96 --head scclip --sc-layers 1,0,0,2 --res-cls 0.3 --state %s/m/sc.state", mb, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "images: 3"), "scclip: %s", out2);
    /* its settings are recorded: a resume with another value is refused, naming it */
    const char *sc_other[][2] = {{"--sc-layers 1,0,0,2 --res-cls 0.3 --sc-beta 0.3", "sc-beta"}, {"--sc-layers 1,1,0,2 --res-cls 0.3", "sc-layers"},
                                 {"--sc-layers 1,0,0,2 --res-cls 0.2", "res-cls"}};
    for (size_t k = 0; k < sizeof sc_other / sizeof *sc_other; k++) {
        snprintf(cmd, sizeof cmd, "%s -s 96 --head scclip %s --state %s/m/sc.state", mb, sc_other[k][0], D);
        CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, sc_other[k][1]), "scclip resume with '%s': %s", sc_other[k][0], out2);
    }
    snprintf(cmd, sizeof cmd, "%s -s 96 --head scclip --state %s/m/sc2.state", mb, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "--sc-layers"), "scclip without layers on 3 blocks: %s", out2);
    /* head and pipeline parameters are checked before any work (exit 1) */
    snprintf(cmd, sizeof cmd, "%s --head sclip --slide 224,300 --state %s/m/x.state", mb, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "stride"), "bad --slide: %s", out2);
    /* ground truth of another size: refused with and without --crop; nothing evaluated is an
     * error. A 1 x 4,000,000 label map at -s 544 overflowed the old crop arithmetic. */
    snprintf(cmd, sizeof cmd, "rm -rf %s/w && mkdir -p %s/w/img %s/w/gt && cp %s/m/img/p0.png %s/w/img/a.png && cp %s/m/img/p0.png %s/w/img/b.png", D, D, D, D, D, D, D);
    CHECK(system(cmd) == 0, "copy");
    uint8_t *g = calloc(4000000, 1);
    char p[512];
    snprintf(p, sizeof p, "%s/w/gt/a.png", D);
    CHECK(png_gray8(p, 7, 300, g), "7 x 300");
    snprintf(p, sizeof p, "%s/w/gt/b.png", D);
    CHECK(png_gray8(p, 1, 4000000, g), "1 x 4,000,000");
    free(g);
    for (int crop = 0; crop < 2; crop++) {
        snprintf(cmd, sizeof cmd, "CT_CACHE_DIR=%s/cache ct-eval -m '%s' -V '%s' --images %s/w/img --gt %s/w/gt --classes-file %s/classes.txt -s 544 %s --state %s/w/s%d.state",
                 D, model, vocab, D, D, D, crop ? "--crop" : "", D, crop);
        int rc = run(cmd, out2, sizeof out2);
        CHECK(rc == 2 && strstr(out2, "the ground truth is 7 x 300, the picture 80 x 64") && strstr(out2, "the ground truth is 1 x 4000000") &&
                  strstr(out2, "no image was evaluated"),
              "%s: exit %d: %s", crop ? "--crop" : "no crop", rc, out2);
    }
}

/* the peers' class files, through --classes-format mmseg */
static void mmseg_class_files(void) {
    if (!base[0]) SKIP("no dataset");
    char cmd[8192];
    put("mmseg.txt", "cat, kitten\ndog\ngrass\n");
    snprintf(cmd, sizeof cmd, "ct-eval -q --images %s/img --gt %s/gt --predictions %s/pred --classes-file %s/mmseg.txt --classes-format mmseg --state %s/mm.state", D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "mmseg class file: %s", out2);
    char m[16384];
    metrics_only(out2, m, sizeof m);
    CHECK(!strcmp(pred_metrics, m), "mmseg file 'cat, kitten' differs from 'cat;kitten':\n%s", out2);
    /* read as the default format, 'cat, kitten' is one name: another class list */
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/mm.state --classes-file %s/mmseg.txt", D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1, "formats mixed up: %s", out2);
}

/* Every skipped image is listed, counted and recorded, and makes the exit status 2 unless
 * --allow-skips (issue 18, item 6): an image without ground truth, one whose name holds a tab,
 * a second picture of one ground truth (im0.jpg beside im0.png: counted once). The shard is
 * recorded; --merge refuses a missing or doubled shard, naming it, and lists the shards' skips. */
static void skips_counted(void) {
    if (!base[0]) SKIP("no dataset");
    char cmd[8192], p[512], sk[2048];
    snprintf(cmd, sizeof cmd, "rm -rf %s/sk && mkdir -p %s/sk && cp -r %s/img %s/gt %s/pred %s/sk/ && rm %s/sk/gt/im1.png && cp %s/sk/img/im0.png %s/sk/img/im0.jpg",
             D, D, D, D, D, D, D, D, D);
    CHECK(system(cmd) == 0, "setup");
    uint8_t rgb[S * S * 3] = {0};
    snprintf(p, sizeof p, "%s/sk/img/t\tab.png", D);
    CHECK(png_rgb(p, S, S, rgb), "a name with a tab");
    snprintf(sk, sizeof sk, "ct-eval -q --images %s/sk/img --gt %s/sk/gt --predictions %s/sk/pred --classes-file %s/classes.txt", D, D, D, D);
    snprintf(cmd, sizeof cmd, "%s --state %s/sk/all.state", sk, D);
    CHECK(run(cmd, out2, sizeof out2) == 2, "skips: exit 2: %s", out2);
    CHECK(strstr(out2, "images: 4,") && strstr(out2, "3 images were skipped"), "the count: %s", out2);
    CHECK(strstr(out2, "  im1.png: ground truth") && strstr(out2, "  t\\tab.png: its name holds a tab") && strstr(out2, "  im0.png: it shares the ground truth im0.png with im0.jpg"),
          "every skip listed with its reason: %s", out2);
    snprintf(p, sizeof p, "%s/sk/all.state", D);
    char *st = slurp(p, NULL);
    CHECK(st && t_count(st, "\nskip\t") == 3 && strstr(st, "\nset\tshard\t0/1\n"), "the state records 3 skips and the shard: %s", st ? st : "");
    free(st);
    snprintf(cmd, sizeof cmd, "%s --state %s/sk/all.state --allow-skips", sk, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "3 images were skipped"), "--allow-skips: %s", out2);
    /* shards: one alone, one twice, both */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s --allow-skips --shard %d/2 --state %s/sk/s%d.state", sk, i, D, i);
        CHECK(run(cmd, out2, sizeof out2) == 0, "shard %d: %s", i, out2);
    }
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/sk/s0.state --classes-file %s/classes.txt", D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "1 of the 2 shards is missing: 1/2") && !strstr(out2, "mIoU"), "shard 0/2 alone: %s", out2);
    snprintf(cmd, sizeof cmd, "cp %s/sk/s1.state %s/sk/s1b.state && ct-eval --merge %s/sk/s0.state %s/sk/s1.state %s/sk/s1b.state --classes-file %s/classes.txt", D, D, D, D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "both shard 1/2"), "a shard twice: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/sk/s0.state %s/full.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "is shard 0 of 1"), "shards of two runs: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s/sk/s0.state %s/sk/s1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "images: 4,") && strstr(out2, "3 images were skipped") && strstr(out2, "  im1.png: "),
          "both shards, skips listed: %s", out2);
    snprintf(cmd, sizeof cmd, "ct-eval --merge --allow-skips %s/sk/s0.state %s/sk/s1.state --classes-file %s/classes.txt", D, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0, "both shards, --allow-skips: %s", out2);
    /* a resumed shard with another shard: refused */
    snprintf(cmd, sizeof cmd, "%s --shard 1/2 --state %s/sk/s0.state", sk, D);
    CHECK(run(cmd, out2, sizeof out2) == 1 && strstr(out2, "shard is 0/2 there, 1/2 here"), "another shard into a state: %s", out2);
}

/* One writer per state file (issue 18, item 5): a run finds the state locked by another (here the
 * test process) and stops at once naming it; a state reached through a symlink is appended
 * through it, and its torn last line cut off in place (the link stays a link, the target keeps
 * its inode: a second writer would append to the file, not to a deleted one); a dangling link
 * gets its target created; a shard without --state gets a state of its own. */
static void one_writer_per_state(void) {
    if (!base[0]) SKIP("no dataset");
    char p[512], q[512], cmd[8192], pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    snprintf(p, sizeof p, "%s/locked.state", D);
    int fd = open(p, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0 && lock_range(fd, F_WRLCK, 0, 0, NULL) == 1, "lock %s", p);
    snprintf(cmd, sizeof cmd, "%s --state %s", base, p);
    CHECK(run(cmd, out2, sizeof out2) == 2 && strstr(out2, "in use by another ct-eval") && strstr(out2, pid), "a locked state: %s", out2);
    close(fd);
    CHECK(run(cmd, out2, sizeof out2) == 0, "the lock released: %s", out2);
    /* through a symlink, with a torn last line */
    snprintf(cmd, sizeof cmd, "cd %s && cp s0.state real.state && ln -sf real.state link.state && printf 'img\tim9.png\t0 0 ' >> real.state", D);
    CHECK(system(cmd) == 0, "setup");
    struct stat before, after, ls;
    snprintf(p, sizeof p, "%s/real.state", D);
    snprintf(q, sizeof q, "%s/link.state", D);
    CHECK(stat(p, &before) == 0, "stat");
    snprintf(cmd, sizeof cmd, "%s --shard 0/2 --state %s", base, q);
    CHECK(run(cmd, out2, sizeof out2) == 0, "repair through a link: %s", out2);
    char *text = slurp(p, NULL);
    CHECK(text && !strstr(text, "im9.png"), "the torn line was kept");
    free(text);
    CHECK(lstat(q, &ls) == 0 && S_ISLNK(ls.st_mode), "the link was replaced by a file");
    CHECK(stat(p, &after) == 0 && after.st_ino == before.st_ino && after.st_dev == before.st_dev, "the state was replaced, not cut in place");
    snprintf(cmd, sizeof cmd, "ct-eval --merge %s %s/s1.state --classes-file %s/classes.txt", p, D, D);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "images: 5"), "the repaired state: %s", out2);
    /* a dangling link: its target is created */
    snprintf(p, sizeof p, "%s/target.state", D);
    snprintf(q, sizeof q, "%s/dangling.state", D);
    CHECK(symlink("target.state", q) == 0, "symlink");
    snprintf(cmd, sizeof cmd, "%s --state %s", base, q);
    CHECK(run(cmd, out2, sizeof out2) == 0, "a dangling link: %s", out2);
    CHECK(lstat(q, &ls) == 0 && S_ISLNK(ls.st_mode) && file_exists(p), "a dangling link: replaced, or its target not written");
    /* shards without --state: one state each */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/cwd && cd %s/cwd && %s --shard 1/2 && %s --shard 0/2 && ls", D, D, base, base);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "ct-eval.0-of-2.state") && strstr(out2, "ct-eval.1-of-2.state") && !strstr(out2, "ct-eval.state"),
          "default states of shards: %s", out2);
}

/* State loading is linear (issue 18, item 11): the set of image names makes a bounded number of
 * comparisons per name (100,000 names: at most 4 each; a list searched line by line makes 5e9),
 * and a state of 1,000,000 lines merges within a limit a quadratic load would exceed by far
 * (80,000 lines took 6-10 s, 1,000,000 about 16 minutes; linear: seconds). */
static void linear_state_loading(void) {
    enum { N = 100000 };
    nameset ns;
    memset(&ns, 0, sizeof ns);
    char name[64];
    int ok = 1;
    for (int i = 0; i < N && ok; i++) {
        snprintf(name, sizeof name, "img%06d.jpg", (i * 7919) % N);
        ok = nameset_find(&ns, name) < 0 && nameset_add(&ns, name, (uint64_t)i) == i;
    }
    for (int i = 0; i < N && ok; i++) {
        snprintf(name, sizeof name, "img%06d.jpg", (i * 7919) % N);
        int k = nameset_find(&ns, name);
        ok = k == i && ns.val[k] == (uint64_t)i;
    }
    CHECK(ok && ns.n == N && nameset_find(&ns, "absent.png") < 0, "the set holds the names with their values");
    CHECK(ns.compares <= 4ull * 2 * N, "%llu comparisons for %d insertions and %d lookups", ns.compares, N, N);
    printf("  %llu name comparisons for %d names added and looked up (%.2f each)\n", ns.compares, N, ns.compares / (2.0 * N));
    nameset_free(&ns);
    if (!base[0]) SKIP("no dataset");
    /* a state of 1,000,000 images: the settings of a real state, then generated lines */
    char p[512], cmd[8192];
    snprintf(p, sizeof p, "%s/full.state", D);
    char *st = slurp(p, NULL), *end = st ? strstr(st, "settings-end\t") : NULL;
    CHECK(end != NULL, "no settings in %s", p);
    if (!end) { free(st); return; }
    end = strchr(end, '\n');
    snprintf(p, sizeof p, "%s/big.state", D);
    FILE *f = fopen(p, "w");
    CHECK(f && fwrite(st, 1, (size_t)(end + 1 - st), f) == (size_t)(end + 1 - st), "write %s", p);
    for (int i = 0; f && i < 1000000; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "img\tx%07d.png\t%d %d 1", i, i % L, (i / L) % L);
        fprintf(f, "%s\t%016llx\n", line, (unsigned long long)hash64(line, (size_t)n, 0));
    }
    CHECK(f && fclose(f) == 0, "write %s", p);
    free(st);
    snprintf(cmd, sizeof cmd, "timeout 300 ct-eval --merge %s/big.state --classes-file %s/classes.txt", D, D);
    int rc = run(cmd, out2, sizeof out2);
    CHECK(rc == 0 && strstr(out2, "images: 1000000, pixels: 1000000"), "a 1,000,000-line state: exit %d (124: not loaded in 300 s): %.300s", rc, out2);
}

/* ct-batch's output folder as --predictions: <stem>.labels.png are the labels, <stem>.png the
 * colour map beside them (an RGB PNG); the metrics are those of the plain <stem>.png labels. */
static void batch_names_as_predictions(void) {
    if (!tool_exists("ct-eval")) SKIP("ct-eval not built");
    if (!pred_metrics[0]) { CHECK(0, "metrics_shards_resume did not run first"); return; }
    char cmd[8192], m[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/batch && for f in %s/pred/*.png; do s=$(basename \"$f\" .png); cp \"$f\" %s/batch/$s.labels.png; "
             "cp %s/img/$s.png %s/batch/$s.png; done", D, D, D, D, D);
    CHECK(system(cmd) == 0, "the ct-batch-like folder");
    snprintf(cmd, sizeof cmd, "ct-eval -q --images %s/img --gt %s/gt --predictions %s/batch --classes-file %s/classes.txt --state %s/batch.state", D, D, D, D, D);
    CHECK(run(cmd, out, sizeof out) == 0, "ct-batch's names: %s", out);
    metrics_only(out, m, sizeof m);
    CHECK(!strcmp(m, pred_metrics), "metrics from <stem>.labels.png differ:\n%s\n%s", m, pred_metrics);
}

int main(void) {
    RUN(metrics_shards_resume);
    RUN(batch_names_as_predictions);
    RUN(settings_recorded);
    RUN(damaged_states);
    RUN(palette_ground_truth);
    RUN(with_model);
    RUN(mmseg_class_files);
    RUN(one_writer_per_state);
    RUN(skips_counted);
    RUN(linear_state_loading);
    DONE();
}
