/* make bench, part 2: end to end on ViT-B/16 shapes (random weights from ct-random-weights: the
 * values do not change the cost), medians, all in this one run, next to the ONNX Runtime anchor
 * measured in the same run (bench/ort_anchor.sh; ../shared/anchors/README.md tells how to set it
 * up; without it the ratios are left out and the run says so), and PyTorch's bf16 plain forward
 * (../shared/anchors/torch_bf16.py, where python3-torch is installed). A timed command or call
 * that fails withholds every ratio resting on it, and the run exits 1 (bench/run.sh then fails).
 *   - model load; in-process CLIPtrase segmentation (classes embedded beforehand) fp32 and bf16
 *     at 224, 448, 896; 1 thread vs all at 448;
 *   - the whole demo process (classes from its cache) at 224, 448, 896, and its peak RSS;
 *   - a new class (80 prompts) fp32 and bf16;
 *   - every head at 224 and 448 whole image, and 336 x 448 with 224/112 windows; PAMR alone;
 *   - SC-CLIP at 336 x 448 with 224/112 windows against the reference's code when
 *     $CT_SCCLIP_REF names a checkout of SuleBai/SC-CLIP (bench/scclip_ref.py), in the same run;
 *   - the tokenizer: ADE20K-847 names x 80 templates. */
#include "bench.h"
#include "cliptrase.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];       /* scratch directory of this run */
static char g_model[512];     /* ViT-B/16 F32 random weights */
static const char *g_bin = "build/release/bin";
static const char *g_oracle;
static int g_threads;
static bench_status g_st; /* what failed: no ratio rests on it, and the run exits 1 */

typedef struct {
    const ct_model *m;
    const float *px, *emb;
    int H, W, n_names, threads;
    ct_segment_params sp;
} seg_arg;

static void run_seg(void *p) {
    seg_arg *a = p;
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)a->H * a->W);
    ct_segment_params sp = a->sp;
    sp.n_threads = a->threads;
    ct_error err;
    if (ct_segment(a->m, a->px, a->H, a->W, a->emb, a->n_names, NULL, &sp, lab, NULL, &err)) {
        printf("  segment: %s\n", err.msg);
        bench_fail(&g_st, err.msg);
    }
    free(lab);
}

static float *pixels(int H, int W) {
    float *px = malloc(sizeof(float) * 3 * (size_t)H * W);
    for (size_t i = 0; i < 3 * (size_t)H * W; i++) px[i] = (float)((i * 7919) % 1000) / 500.f - 1.f;
    return px;
}

static double seg_time(const ct_model *m, const float *emb, int n, int H, int W, int threads, const ct_segment_params *sp, int reps) {
    float *px = pixels(H, W);
    seg_arg a = {m, px, emb, H, W, n, threads, *sp};
    double t = bench_median(run_seg, &a, reps);
    free(px);
    return t;
}

typedef struct {
    const char *cmd;
} proc_arg;

/* Commands run through a launcher forked at the start, while this process is small: a child's
 * peak RSS (ru_maxrss) counts the memory it inherited at fork, so a command forked from here
 * after the models are loaded would report this process's size, and the fork itself would copy
 * its page tables. The launcher reads a command, runs it with sh -c and answers with its exit
 * wait status and peak RSS (status -1: it could not run). */
static int g_to_launcher = -1, g_from_launcher = -1;
static long g_last_rss_kib;

static void launcher(int in, int out) {
    char cmd[8192];
    for (;;) {
        uint32_t len;
        if (read(in, &len, sizeof len) != (ssize_t)sizeof len || len >= sizeof cmd) _exit(0);
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(in, cmd + got, len - got);
            if (r <= 0) _exit(0);
            got += (size_t)r;
        }
        cmd[len] = 0;
        long res[2] = {-1, 0};
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        int st;
        struct rusage ru;
        if (pid > 0 && wait4(pid, &st, 0, &ru) == pid) {
            res[0] = st; /* the wait status: bench_check_status reads it */
            res[1] = ru.ru_maxrss;
        }
        if (write(out, res, sizeof res) != (ssize_t)sizeof res) _exit(0);
    }
}

static int start_launcher(void) {
    int a[2], b[2];
    if (pipe(a) || pipe(b)) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        launcher(a[0], b[1]);
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    g_to_launcher = a[1];
    g_from_launcher = b[0];
    return 1;
}

static void run_proc(void *p) {
    proc_arg *a = p;
    uint32_t len = (uint32_t)strlen(a->cmd);
    long res[2] = {-1, 0};
    if (write(g_to_launcher, &len, sizeof len) != (ssize_t)sizeof len || write(g_to_launcher, a->cmd, len) != (ssize_t)len ||
        read(g_from_launcher, res, sizeof res) != (ssize_t)sizeof res) {
        printf("  the launcher is gone\n");
        bench_fail(&g_st, "the launcher is gone");
        return;
    }
    g_last_rss_kib = res[1];
    bench_check_status(&g_st, (int)res[0], a->cmd);
}

typedef struct {
    const ct_model *m;
    const ct_tokenizer *t;
} text_arg;

static void run_text(void *p) {
    text_arg *a = p;
    static int k;
    char name[64];
    snprintf(name, sizeof name, "golden retriever number %d", k++); /* never cached anywhere */
    const char *names[] = {name};
    float e[4096];
    ct_class_embeddings(a->m, a->t, names, 1, NULL, 0, 0, e, NULL);
}

/* An anchor's lines "<size> <min> <median>" (as the sscanf format fmt reads them: the side, then
 * the minimum and the median in seconds) from the shell command cmd: the median per side 224,
 * 448, 896, or 0; other lines are printed after tag (why an anchor was not measured). */
static void anchor(const char *cmd, const char *fmt, const char *tag, double med[3]) {
    med[0] = med[1] = med[2] = 0;
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int S;
        double mn, md;
        if (sscanf(line, fmt, &S, &mn, &md) == 3) {
            int i = S == 224 ? 0 : S == 448 ? 1 : S == 896 ? 2 : -1;
            if (i >= 0) med[i] = md;
        } else {
            printf("  %s: %s", tag, line);
        }
    }
    pclose(f);
}

/* ONNX Runtime's plain forward (bench/ort_anchor.sh: "ORT S=224 min/med a/b s") */
static void ort_anchor(double med[3]) { anchor("sh bench/ort_anchor.sh 224,448,896 2>&1", "ORT S=%d min/med %lf/%lfs", "ort", med); }

/* PyTorch's plain forward with model.to(torch.bfloat16) (../shared/anchors/torch_bf16.py, where
 * python3-torch is installed: "bf16 224: min a s  median b s") */
static void torch_anchor(double med[3]) {
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "d=${CT_ANCHORS_DIR:-../shared/anchors}; if [ -f \"$d/torch_bf16.py\" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; "
             "then /usr/bin/python3 \"$d/torch_bf16.py\" 224,448,896 --dtypes bf16 --threads %d 2>&1; "
             "else echo 'not available (python3-torch or ../shared/anchors/torch_bf16.py missing)'; fi",
             g_threads);
    anchor(cmd, "bf16 %d: min %lf s median %lf s", "torch", med);
}

int main(void) {
    if (!start_launcher()) { perror("launcher"); return 1; }
    g_oracle = getenv("CT_ORACLE_DIR");
    if (!g_oracle || !*g_oracle) g_oracle = "../shared/oracle";
    const char *bd = getenv("CT_BUILD_DIR");
    static char bin[512];
    if (bd && *bd) { snprintf(bin, sizeof bin, "%s/bin", bd); g_bin = bin; }
    snprintf(g_dir, sizeof g_dir, "/tmp/ct-bench-XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    snprintf(g_model, sizeof g_model, "%s/b16.safetensors", g_dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/ct-random-weights --arch B/16 --naming hf --dtype F32 -o %s", g_bin, g_model);
    if (system(cmd) != 0) { printf("bench: cannot make %s\n", g_model); return 1; }
    ct_error err;
    ct_model *m = NULL, *mb = NULL;
    if (ct_model_load(g_model, &m, &err)) { printf("%s\n", err.msg); return 1; }
    ct_load_params lp;
    ct_load_params_default(&lp);
    lp.precision = CT_PRECISION_BF16;
    int has_bf16 = ct_model_load_ex(g_model, &lp, &mb, &err) == CT_OK;
    char desc[800];
    ct_model_describe(m, desc, sizeof desc);
    printf("== end to end, ViT-B/16 random weights (F32 file, Hugging Face names)\n%s\n", desc);
    g_threads = ct_model_threads(m);
    const ct_config *c = ct_model_config(m);
    int n = 8, E = c->embed_dim;
    float *emb = calloc((size_t)n * E, sizeof(float));
    for (int i = 0; i < n; i++) emb[(size_t)i * E + (size_t)i * 7 % E] = 1.f;
    ct_segment_params sp;
    ct_segment_params_default(&sp);

    /* ONNX Runtime, then ours, then ONNX Runtime again: the anchor is the mean of its two medians */
    double ort1[3], ort2[3], ort[3];
    ort_anchor(ort1);

    int sides[] = {224, 448, 896};
    double t32[3], tbf[3] = {0}, tproc[3];
    long rss[3];
    int f_seg = g_st.failed; /* failures before and after each group of measurements */
    for (int k = 0; k < 3; k++) {
        int s = sides[k], reps = s >= 896 ? 3 : 7;
        t32[k] = seg_time(m, emb, n, s, s, 0, &sp, reps);
        if (has_bf16) tbf[k] = seg_time(mb, emb, n, s, s, 0, &sp, reps);
    }
    double t1 = seg_time(m, emb, n, 448, 448, 1, &sp, 3), t2 = t32[1];
    int f_seg_end = g_st.failed, f_proc = g_st.failed;
    /* the whole demo process on a picture of the side, classes from its cache */
    for (int k = 0; k < 3; k++) {
        int s = sides[k];
        char img[600];
        snprintf(img, sizeof img, "%s/img%d.png", g_dir, s);
        uint8_t *rgb = malloc((size_t)s * s * 3);
        for (size_t i = 0; i < (size_t)s * s * 3; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 24);
        ct_image im = {s, s, rgb};
        ct_image_save_png(&im, img, NULL);
        free(rgb);
        snprintf(cmd, sizeof cmd,
                 "CT_CACHE_DIR=%s/cache %s/demo -q -m %s -V %s/vocab.json -i %s -s %d -c 'cat,dog,grass,sky,tree,car,road,person' -o %s/out%d.png",
                 g_dir, g_bin, g_model, g_oracle, img, s, g_dir, s);
        proc_arg pa = {cmd};
        run_proc(&pa); /* fills the class cache */
        tproc[k] = bench_median(run_proc, &pa, s >= 896 ? 3 : 7);
        rss[k] = g_last_rss_kib;
    }
    int f_proc_end = g_st.failed;
    ort_anchor(ort2);
    for (int k = 0; k < 3; k++) ort[k] = ort1[k] > 0 && ort2[k] > 0 ? (ort1[k] + ort2[k]) / 2 : 0;
    double pt[3];
    torch_anchor(pt);

    /* a ratio is printed only when every measurement it rests on succeeded */
    printf("\n%-6s %10s %10s %11s %8s %10s %8s %8s %11s %8s\n", "side", "ORT fwd s", "torch bf16", "segment s", "vs ORT", "bf16 s",
           "vs ORT", "vs torch", "process s", "vs ORT");
    for (int k = 0; k < 3; k++) {
        char r1[16], r2[16], r3[16], r4[16];
        int seg_ok = f_seg_end == f_seg, proc_ok = f_proc_end == f_proc;
        bench_ratio(r1, sizeof r1, t32[k], ort[k], seg_ok);
        bench_ratio(r2, sizeof r2, tbf[k], ort[k], seg_ok);
        bench_ratio(r4, sizeof r4, tbf[k], pt[k], seg_ok);
        bench_ratio(r3, sizeof r3, tproc[k], ort[k], proc_ok);
        printf("%-6d %10.3f %10.3f %11.3f %8s %10.3f %8s %8s %11.3f %8s\n", sides[k], ort[k], pt[k], t32[k], r1, tbf[k], r2, r4, tproc[k], r3);
    }
    if (ort[0] == 0) printf("(ONNX Runtime anchor not measured: see bench/ort_anchor.sh)\n");
    if (pt[0] == 0) printf("(PyTorch bf16 anchor not measured: ../shared/anchors/torch_bf16.py with python3-torch)\n");
    printf("ORT medians of the two passes: 224 %.3f/%.3f, 448 %.3f/%.3f, 896 %.3f/%.3f s\n", ort1[0], ort2[0], ort1[1], ort2[1], ort1[2], ort2[2]);
    printf("peak RSS of the demo process: 224 %.0f MiB, 448 %.0f MiB, 896 %.0f MiB\n", rss[0] / 1024.0, rss[1] / 1024.0, rss[2] / 1024.0);
    char r5[16];
    printf("448 segmentation: 1 thread %.3f s, %d threads %.3f s: %s\n", t1, ct_model_threads(m), t2,
           bench_ratio(r5, sizeof r5, t1, t2, f_seg_end == f_seg));

    char vp[600];
    snprintf(vp, sizeof vp, "%s/bpe_simple_vocab_16e6.txt.gz", g_oracle);
    ct_tokenizer *tok = NULL;
    if (!ct_tokenizer_load(vp, &tok, NULL)) {
        text_arg ta = {m, tok};
        double tt = bench_median(run_text, &ta, 5), ttb = 0;
        if (has_bf16) {
            text_arg tb = {mb, tok};
            ttb = bench_median(run_text, &tb, 5);
        }
        printf("a new class (80 prompts): fp32 %.3f s, bf16 %.3f s\n", tt, ttb);
        ct_tokenizer_free(tok);
    }

    printf("\nheads (fp32; whole image unless windows are given)\n%-10s %10s %10s %16s %16s\n", "head", "224 s", "448 s", "336x448 whole", "336x448 224/112");
    for (int h = 0; h < CT_HEAD_COUNT; h++) {
        ct_segment_params hp;
        ct_segment_params_preset(&hp, (ct_head)h);
        hp.slide_crop = hp.slide_stride = 0;
        hp.pamr_steps = 0;
        double a = seg_time(m, emb, n, 224, 224, 0, &hp, 5), b = seg_time(m, emb, n, 448, 448, 0, &hp, 5);
        double w = seg_time(m, emb, n, 336, 448, 0, &hp, 5), sl = 0;
        if (h != CT_HEAD_CLIPTRASE) {
            hp.slide_crop = 224;
            hp.slide_stride = 112;
            sl = seg_time(m, emb, n, 336, 448, 0, &hp, 5);
        }
        printf("%-10s %10.3f %10.3f %16.3f %16.3f%s\n", ct_head_name((ct_head)h), a, b, w, sl, sl > 0 ? "" : " (n/a)");
    }

    /* SC-CLIP (issue 20): 336 x 448, windows 224/112, against the reference's own code
     * (bench/scclip_ref.py runs SuleBai/SC-CLIP's model from the checkout at $CT_SCCLIP_REF, fp32,
     * same shapes, threads and names) in this same run */
    {
        ct_segment_params sc;
        ct_segment_params_preset(&sc, CT_HEAD_SCCLIP);
        double ours = seg_time(m, emb, n, 336, 448, 0, &sc, 5), ref = 0;
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/scclip_ref.py 336 448 224 112 %d %d 3 2>&1", n, ct_model_threads(m));
        char line[512] = "reference not available: bench/scclip_ref.py did not run";
        FILE *pf = popen(cmd, "r");
        if (pf) {
            char buf[512];
            while (fgets(buf, sizeof buf, pf)) {
                double t;
                if (sscanf(buf, "SCCLIP_REF %*s %*s med %lf", &t) == 1) ref = t;
                else if (!strncmp(buf, "reference not available", 23)) snprintf(line, sizeof line, "%s", buf);
            }
            pclose(pf);
        }
        printf("\nSC-CLIP, ViT-B/16 shapes, random weights, fp32, 336 x 448, windows 224/112, %d names, %d threads: ours %.3f s", n,
               ct_model_threads(m), ours);
        if (ref > 0) printf(", reference (SuleBai/SC-CLIP, PyTorch) %.3f s: %.2fx faster (target: 3x)\n", ref, ref / ours);
        else printf("; %s%s", line, line[strlen(line) - 1] == '\n' ? "" : "\n");
    }

    /* ct-batch (issue 13): 64 pictures of 448 x 336 (the model input 336 x 448), one ct-batch
     * process against one demo process per picture, both on every core with the default options
     * (ct-batch's --jobs auto) and the classes from the cache the demo runs above filled. One
     * timed run each: a run is 64 pictures, and the model file is in the page cache already. */
    {
        enum { NB = 64, BW = 448, BH = 336 };
        const char *cls = "'cat,dog,grass,sky,tree,car,road,person'";
        snprintf(cmd, sizeof cmd, "mkdir -p %s/batch-in %s/demo-out", g_dir, g_dir);
        if (system(cmd) != 0) printf("cannot make %s/batch-in\n", g_dir);
        uint8_t *rgb = malloc((size_t)BW * BH * 3);
        for (int k = 0; rgb && k < NB; k++) {
            for (size_t i = 0; i < (size_t)BW * BH * 3; i++) rgb[i] = (uint8_t)((i * 2654435761u + (unsigned)k * 40503u) >> 24);
            char p[600];
            snprintf(p, sizeof p, "%s/batch-in/p%02d.png", g_dir, k);
            ct_image im = {BW, BH, rgb};
            if (ct_image_save_png(&im, p, &err)) printf("  %s\n", err.msg);
        }
        free(rgb);
        snprintf(cmd, sizeof cmd, "CT_CACHE_DIR=%s/cache %s/ct-batch -q -m %s -V %s/vocab.json -c %s -O %s/batch-out %s/batch-in", g_dir, g_bin,
                 g_model, g_oracle, cls, g_dir, g_dir);
        proc_arg pb = {cmd};
        int f_batch = g_st.failed;
        double t0 = bench_now();
        run_proc(&pb);
        double tb = bench_now() - t0, td = 0;
        for (int k = 0; k < NB; k++) {
            snprintf(cmd, sizeof cmd, "CT_CACHE_DIR=%s/cache %s/demo -q -m %s -V %s/vocab.json -c %s -i %s/batch-in/p%02d.png -o %s/demo-out/p%02d.png --json %s/demo-out/p%02d.json",
                     g_dir, g_bin, g_model, g_oracle, cls, g_dir, k, g_dir, k, g_dir, k);
            proc_arg pd = {cmd};
            t0 = bench_now();
            run_proc(&pd);
            td += bench_now() - t0;
        }
        if (g_st.failed != f_batch)
            printf("\n%d pictures of %d x %d: ct-batch against one demo per picture not measured (%d commands failed)\n", NB, BW, BH,
                   g_st.failed - f_batch);
        else
            printf("\n%d pictures of %d x %d, classes cached: ct-batch %.2f images/s (%.3f s each), one demo per picture %.2f images/s (%.3f s each): ct-batch %.2fx faster per picture (target: 1.5x)\n",
                   NB, BW, BH, NB / tb, tb / NB, NB / td, td / NB, td / tb);
    }
    ct_model_free(m);
    ct_model_free(mb);
    free(emb);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) printf("could not remove %s\n", g_dir);
    return bench_exit(&g_st);
}
