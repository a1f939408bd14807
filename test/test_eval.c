/* tools/ct-eval on a synthetic dataset the test makes: the metrics equal the reference's
 * formulas (configs/metric.py of CLIPtrase) computed here; a resumed run, and shards merged,
 * give the same numbers; a torn state file is repaired; usage errors exit 1. */
#include "harness.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define D "/tmp/ct_eval_test"
#define L 3
#define S 8 /* images are S x S */

static int run(const char *cmd, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "%s >" D "/out.txt 2>" D "/err.txt", cmd);
    int st = system(full);
    char *o = slurp(D "/out.txt", NULL);
    snprintf(out, cap, "%s", o ? o : "");
    free(o);
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

static void metrics_shards_resume(void) {
    system("rm -rf " D " && mkdir -p " D "/img " D "/gt " D "/pred");
    if (!tool_exists("ct-eval")) SKIP("tools/ct-eval not built");
    FILE *f = fopen(D "/classes.txt", "w");
    fputs("cat;kitten\ndog\ngrass\n", f);
    fclose(f);
    unsigned long long h[L][L] = {{0}};
    uint8_t rgb[S * S * 3] = {0}, gt[S * S], pr[S * S];
    unsigned seed = 7;
    for (int i = 0; i < 5; i++) {
        char p[256];
        for (int k = 0; k < S * S; k++) {
            seed = seed * 1103515245u + 12345u;
            gt[k] = (uint8_t)((seed >> 16) % 4 == 3 ? 255 : (seed >> 16) % 3); /* 255: ignored */
            seed = seed * 1103515245u + 12345u;
            pr[k] = (seed >> 16) % 4 ? gt[k] % 3 : (uint8_t)((seed >> 20) % 3);
            if (gt[k] < L) h[gt[k]][pr[k]]++;
        }
        snprintf(p, sizeof p, D "/img/im%d.png", i); png_rgb(p, S, S, rgb);
        snprintf(p, sizeof p, D "/gt/im%d.png", i); png_gray8(p, S, S, gt);
        snprintf(p, sizeof p, D "/pred/im%d.png", i); png_gray8(p, S, S, pr);
    }
    double want[4];
    reference(h, want);
    char out[16384];
    const char *base = "ct-eval -q --images " D "/img --gt " D "/gt --predictions " D "/pred --classes-file " D "/classes.txt";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --state " D "/full.state", base);
    CHECK(run(cmd, out, sizeof out) == 0, "full run failed: %s", out);
    const char *names[4] = {"pAcc", "mAcc", "fwIoU", "mIoU"};
    for (int k = 0; k < 4; k++)
        CHECK(fabs(metric(out, names[k]) - want[k]) < 0.006, "%s %.2f, want %.4f", names[k], metric(out, names[k]), want[k]);
    printf("  pAcc %.2f mAcc %.2f fwIoU %.2f mIoU %.2f (reference formulas agree)\n", want[0], want[1], want[2], want[3]);
    CHECK(strstr(out, "kitten") == NULL && strstr(out, "cat ") != NULL, "per-class table uses the first synonym");
    /* resume: nothing new is counted, same numbers */
    char out2[16384];
    CHECK(run(cmd, out2, sizeof out2) == 0, "resume failed");
    CHECK(!strcmp(out, out2), "resumed output differs");
    /* shards merged */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s --shard %d/2 --state " D "/s%d.state", base, i, i);
        CHECK(run(cmd, out2, sizeof out2) == 0, "shard %d failed", i);
    }
    CHECK(run("ct-eval --merge " D "/s0.state " D "/s1.state --classes-file " D "/classes.txt", out2, sizeof out2) == 0, "merge failed");
    CHECK(!strcmp(out, out2), "merged shards differ from the full run:\n%s\nvs\n%s", out, out2);
    /* a torn last line (an interrupted write) is dropped and that image evaluated again */
    f = fopen(D "/s0.state", "a");
    fputs("img\tim9.png\t0 0 ", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s --shard 0/2 --state " D "/s0.state", base);
    CHECK(run(cmd, out2, sizeof out2) == 0, "repair run failed: %s", out2);
    CHECK(run("ct-eval --merge " D "/s0.state " D "/s1.state --classes-file " D "/classes.txt", out2, sizeof out2) == 0 && !strcmp(out, out2), "after repair");
    /* background names from a file, one a line, commas allowed; ground truth 255 is background */
    f = fopen(D "/bg.txt", "w");
    fputs("sky\nbeach, hill\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s --background-file " D "/bg.txt --gt-background 255 --state " D "/bg.state", base);
    CHECK(run(cmd, out2, sizeof out2) == 0, "background file run failed: %s", out2);
    CHECK(strstr(out2, "background") != NULL, "no background row:\n%s", out2);
    /* usage errors */
    CHECK(run("ct-eval --images " D "/img", out2, sizeof out2) == 1, "missing classes file: exit 1");
    CHECK(run("ct-eval --classes-file " D "/classes.txt --shard 3/2 --images x --gt y --predictions z", out2, sizeof out2) == 1, "bad shard: exit 1");
    CHECK(run("ct-eval --merge /nonexistent --classes-file " D "/classes.txt", out2, sizeof out2) == 2, "missing state: exit 2");
}

static void with_model(void) {
    char model[600], vocab[600], cmd[4096], out[16384];
    FMT(model, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(vocab, "%s/bpe_simple_vocab_16e6.txt.gz", oracle_dir());
    if (!file_exists(model)) SKIP("tiny fixture not found under %s", oracle_dir());
    system("rm -rf " D "/m && mkdir -p " D "/m/img " D "/m/gt");
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
        char p[256];
        snprintf(p, sizeof p, D "/m/img/p%d.png", i); png_rgb(p, w, hh, rgb);
        snprintf(p, sizeof p, D "/m/gt/p%d.png", i); png_gray8(p, w, hh, gt);
        free(rgb); free(gt);
    }
    FMT(cmd, "CT_CACHE_DIR=" D "/cache ct-eval -q -m '%s' -V '%s' --images " D "/m/img --gt " D "/m/gt --classes-file " D "/classes.txt -s 64 --state " D "/m/full.state", model, vocab);
    CHECK(run(cmd, out, sizeof out) == 0, "model run failed: %s", out);
    CHECK(strstr(out, "images: 3") != NULL, "three images evaluated: %s", out);
    char out2[16384];
    for (int i = 0; i < 2; i++) {
        FMT(cmd, "CT_CACHE_DIR=" D "/cache ct-eval -q -m '%s' -V '%s' --images " D "/m/img --gt " D "/m/gt --classes-file " D "/classes.txt -s 64 --shard %d/2 --state " D "/m/s%d.state", model, vocab, i, i);
        CHECK(run(cmd, out2, sizeof out2) == 0, "shard %d", i);
    }
    CHECK(run("ct-eval --merge " D "/m/s0.state " D "/m/s1.state --classes-file " D "/classes.txt", out2, sizeof out2) == 0, "merge");
    CHECK(!strcmp(out, out2), "shards differ from the full run");
    FMT(cmd, "CT_CACHE_DIR=" D "/cache ct-eval -q -m '%s' -V '%s' --images " D "/m/img --gt " D "/m/gt --classes-file " D "/classes.txt -s 64 --crop --state " D "/m/crop.state", model, vocab);
    CHECK(run(cmd, out2, sizeof out2) == 0 && strstr(out2, "images: 3"), "crop protocol: %s", out2);
    system("rm -rf " D);
}

int main(void) {
    RUN(metrics_shards_resume);
    RUN(with_model);
    DONE();
}
