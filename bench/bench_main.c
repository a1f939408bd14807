/* make bench: medians of >= 5 runs after a warm-up, all measured in this one run.
 *   1. attention kernels (CLIPtrase last-block self-correlation attention, second-to-last
 *      correlation map) at ViT-B/16 head shapes vs a naive reference, GFLOP/s and share of sgemm;
 *   2. sgemm probe on encoder shapes;
 *   3. end to end on ViT-B/16 random weights (tools/ct-random-weights): model load, image forward
 *      and full segmentation at 224/336/448/896, text encoding per class (80 templates), peak RSS;
 *   4. tokenizer throughput: ADE20K-847 names x 80 templates. */
#include "cliptrase.h"
#include "nn/gemm.h"
#include "nn/ops.h"
#include "nn/transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define REPS 5
typedef void (*fn_t)(void *);
static double median_time(fn_t f, void *arg, int reps) {
    double t[16];
    f(arg); /* warm-up */
    for (int i = 0; i < reps; i++) {
        double a = now();
        f(arg);
        t[i] = now() - a;
    }
    qsort(t, (size_t)reps, sizeof(double), cmpd);
    return t[reps / 2];
}

typedef struct {
    int T, W, heads;
    ct_tf_work *wk;
    float *corr;
} attn_arg;

static void run_selfcorr(void *p) { attn_arg *a = p; ct_tf_selfcorr_attention(a->W, a->heads, a->T, a->wk); }
static void run_corr(void *p) { attn_arg *a = p; ct_tf_correlation_map(a->wk->qkv, a->T, a->W, a->heads, a->corr, 0, NULL); }

/* naive reference: per head, per row, three softmax rows, then the weighted sum of v */
static void run_naive(void *p) {
    attn_arg *a = p;
    int W = a->W, hd = W / a->heads, T = a->T, ld = 3 * W;
    float s = 1.f / sqrtf((float)hd);
    float *row = malloc(sizeof(float) * T), *acc = malloc(sizeof(float) * T);
    for (int h = 0; h < a->heads; h++)
        for (int i = 0; i < T; i++) {
            for (int j = 0; j < T; j++) acc[j] = 0;
            for (int which = 0; which < 3; which++) {
                const float *X = a->wk->qkv + which * W + h * hd;
                float mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    float d = 0;
                    for (int e = 0; e < hd; e++) d += X[(size_t)i * ld + e] * X[(size_t)j * ld + e];
                    row[j] = d * s;
                    mx = row[j] > mx ? row[j] : mx;
                }
                for (int j = 0; j < T; j++) { row[j] = expf(row[j] - mx); sum += row[j]; }
                for (int j = 0; j < T; j++) acc[j] += row[j] / sum;
            }
            float *o = a->wk->att + (size_t)i * W + h * hd;
            for (int e = 0; e < hd; e++) {
                float v = 0;
                for (int j = 0; j < T; j++) v += acc[j] * a->wk->qkv[(size_t)j * ld + 2 * W + h * hd + e];
                o[e] = v;
            }
        }
    free(row); free(acc);
}

typedef struct { int M, N, K; float *A, *B, *C; } gemm_arg;
static void run_gemm(void *p) { gemm_arg *g = p; ct_gemm(0, 1, g->M, g->N, g->K, 1.f, g->A, g->K, g->B, g->K, 0.f, g->C, g->N, 0); }

static double sgemm_gflops(int M, int N, int K) {
    gemm_arg g = {M, N, K, malloc(sizeof(float) * (size_t)M * K), malloc(sizeof(float) * (size_t)N * K), malloc(sizeof(float) * (size_t)M * N)};
    for (size_t i = 0; i < (size_t)M * K; i++) g.A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)N * K; i++) g.B[i] = (float)(i % 5) * 0.1f;
    double t = median_time(run_gemm, &g, REPS);
    free(g.A); free(g.B); free(g.C);
    return 2.0 * M * N * K / t * 1e-9;
}

typedef struct {
    const ct_tokenizer *tok;
    char **prompts;
    int n;
} tok_arg;
static void run_tok(void *p) {
    tok_arg *a = p;
    int32_t t[77];
    for (int i = 0; i < a->n; i++) ct_tokenize_context(a->tok, a->prompts[i], t, 77, NULL, NULL);
}

typedef struct {
    const ct_model *m;
    const float *px, *emb;
    int H, W, seg;
} e2e_arg;

static void run_e2e(void *p) {
    e2e_arg *a = p;
    const ct_config *c = ct_model_config(a->m);
    if (a->seg) {
        int32_t *lab = malloc(sizeof(int32_t) * a->H * a->W);
        ct_segment(a->m, a->px, a->H, a->W, a->emb, 8, NULL, NULL, lab, NULL, NULL);
        free(lab);
    } else {
        float *e = malloc(sizeof(float) * c->embed_dim);
        ct_image_features f = {e, NULL, NULL};
        ct_encode_image(a->m, a->px, a->H, a->W, 0, &f, NULL);
        free(e);
    }
}

typedef struct { const char *path; } load_arg;
static void run_load(void *p) {
    ct_model *m;
    if (!ct_model_load(((load_arg *)p)->path, &m, NULL)) ct_model_free(m);
}

typedef struct { const ct_model *m; const ct_tokenizer *t; } text_arg;
static void run_text(void *p) {
    text_arg *a = p;
    float e[1024];
    const char *name[] = {"golden retriever"};
    ct_class_embeddings(a->m, a->t, name, 1, NULL, 0, 0, e, NULL);
}

/* peak RSS (MiB) of one segmentation at side s, in a fresh child process */
static double child_peak_rss(const char *path, int s) {
    pid_t pid = fork();
    if (pid == 0) {
        ct_model *m;
        if (ct_model_load(path, &m, NULL)) _exit(1);
        float *px = calloc((size_t)3 * s * s, sizeof(float)), emb[8 * 512] = {0};
        for (int i = 0; i < 8 * 512; i += 513) emb[i] = 1;
        e2e_arg a = {m, px, emb, s, s, 1};
        run_e2e(&a);
        _exit(0);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) return -1;
    return ru.ru_maxrss / 1024.0;
}

static void end_to_end(const char *od) {
    const char *path = "/tmp/ct_bench_b16.safetensors";
    printf("\n3. end to end, ViT-B/16 random weights (F32, Hugging Face names), median of %d\n", REPS);
    if (access(path, R_OK) != 0 && system("tools/ct-random-weights --arch B/16 --naming hf --dtype F32 -o /tmp/ct_bench_b16.safetensors") != 0) {
        printf("  skipped: cannot make %s\n", path);
        return;
    }
    load_arg la = {path};
    printf("  model load (mmap, F32): %.1f ms\n", median_time(run_load, &la, REPS) * 1e3);
    ct_model *m;
    if (ct_model_load(path, &m, NULL)) return;
    float emb[8 * 512] = {0};
    for (int i = 0; i < 8 * 512; i += 513) emb[i] = 1;
    int k_in_use = ct_gemm_kernel(), has_bf16 = ct_gemm_bf16_available();
    printf("  kernel: %s%s\n", ct_gemm_kernel_name(k_in_use), has_bf16 ? "; last column: CT_KERNEL=bf16 (opt-in)" : "");
    printf("  %-6s %14s %18s %18s\n", "side", "image fwd s", "segmentation s", "segmentation bf16");
    int sides[] = {224, 336, 448, 896};
    for (int k = 0; k < 4; k++) {
        int s = sides[k];
        float *px = malloc(sizeof(float) * 3 * s * s);
        for (int i = 0; i < 3 * s * s; i++) px[i] = (float)((i * 7919) % 1000) / 500.f - 1.f;
        e2e_arg a = {m, px, emb, s, s, 0};
        int reps = s >= 896 ? 3 : REPS;
        double tf = median_time(run_e2e, &a, reps);
        a.seg = 1;
        double ts = median_time(run_e2e, &a, reps), tb = 0;
        if (has_bf16) {
            ct_gemm_set_kernel(CT_GEMM_BF16);
            tb = median_time(run_e2e, &a, reps);
            ct_gemm_set_kernel(k_in_use);
        }
        printf("  %-6d %14.3f %18.3f %18.3f\n", s, tf, ts, tb);
        free(px);
    }
    char vp[1024];
    snprintf(vp, sizeof vp, "%s/bpe_simple_vocab_16e6.txt.gz", od);
    ct_tokenizer *t;
    if (!ct_tokenizer_load(vp, &t, NULL)) {
        text_arg ta = {m, t};
        double tt = median_time(run_text, &ta, REPS), ttb = 0;
        if (has_bf16) {
            ct_gemm_set_kernel(CT_GEMM_BF16);
            ttb = median_time(run_text, &ta, REPS);
            ct_gemm_set_kernel(k_in_use);
        }
        printf("  text: one class, 80 templates: %.3f s (bf16: %.3f s)\n", tt, ttb);
        ct_tokenizer_free(t);
    }
    ct_model_free(m);
    struct stat sb;
    double wmb = stat(path, &sb) == 0 ? sb.st_size / 1048576.0 : 0;
    printf("  peak RSS of one segmentation (fresh process): 224: %.0f MiB, 448: %.0f MiB (F32 weight file: %.0f MiB)\n",
           child_peak_rss(path, 224), child_peak_rss(path, 448), wmb);
}

int main(void) {
    const char *od = getenv("CT_ORACLE_DIR");
    if (!od || !*od) od = "../shared/oracle";
    int k0 = ct_gemm_kernel();
    double probe = sgemm_gflops(1024, 1024, 1024); /* the kernel in use: the share below is of it */
    printf("sgemm probe (1024^3, %s): %.1f GFLOP/s\n\n", ct_gemm_kernel_name(k0), probe);

    printf("1. attention kernels, ViT-B/16 heads (width 768, 12 heads of 64), median of %d\n", REPS);
    printf("%-8s %-22s %10s %10s %10s %12s\n", "tokens", "kernel", "time ms", "GFLOP/s", "% sgemm", "naive ms");
    int Ts[] = {197, 442, 785, 3137};
    for (int k = 0; k < 4; k++) {
        int T = Ts[k], W = 768, heads = 12;
        ct_tf_work wk;
        if (ct_tf_work_alloc(&wk, T, W, 4 * W, T, 1, NULL)) return 1;
        for (size_t i = 0; i < (size_t)T * 3 * W; i++) wk.qkv[i] = (float)((i * 2654435761u) % 1000) / 1000.f - 0.5f;
        float *corr = malloc(sizeof(float) * (size_t)T * T);
        attn_arg a = {T, W, heads, &wk, corr};
        double t1 = median_time(run_selfcorr, &a, REPS);
        /* 3 score GEMMs + 1 output GEMM per head: 4 x 2 T^2 hd */
        double f1 = 4.0 * 2.0 * T * (double)T * 64 * heads;
        char naive[32] = "n/a (slow)";
        if (T <= 442) snprintf(naive, sizeof naive, "%.1f", median_time(run_naive, &a, 3) * 1e3);
        printf("%-8d %-22s %10.2f %10.1f %9.0f%% %12s\n", T, "selfcorr attention", t1 * 1e3, f1 / t1 * 1e-9, 100 * f1 / t1 * 1e-9 / probe, naive);
        double t2 = median_time(run_corr, &a, REPS);
        double f2 = 2.0 * T * (double)T * 3 * W;
        printf("%-8d %-22s %10.2f %10.1f %9.0f%% %12s\n", T, "correlation map", t2 * 1e3, f2 / t2 * 1e-9, 100 * f2 / t2 * 1e-9 / probe, "-");
        free(corr);
        ct_tf_work_free(&wk);
    }

    printf("\n2. GEMM on encoder shapes (tokens x out x in), GFLOP/s, same run\n");
    printf("  %-20s %10s %10s %8s\n", "shape", "OpenBLAS", "avx512", "ratio");
    int shapes[][3] = {{197, 2304, 768}, {197, 3072, 768}, {197, 768, 3072}, {785, 2304, 768}, {785, 3072, 768}, {785, 768, 3072}, {3137, 2304, 768}, {3137, 768, 3072}};
    int saved = ct_gemm_kernel();
    /* each kernel measured over all shapes in a row: OpenBLAS's worker threads keep spinning for
     * a while after a call and would slow a kernel measured right after it */
    double ga[8] = {0}, gb[8];
    ct_gemm_set_kernel(CT_GEMM_AVX512);
    for (int k = 0; k < 8 && ct_gemm_kernel() == CT_GEMM_AVX512; k++) ga[k] = sgemm_gflops(shapes[k][0], shapes[k][1], shapes[k][2]);
    ct_gemm_set_kernel(CT_GEMM_BLAS);
    for (int k = 0; k < 8; k++) gb[k] = sgemm_gflops(shapes[k][0], shapes[k][1], shapes[k][2]);
    for (int k = 0; k < 8; k++)
        printf("  %4d x %4d x %4d     %10.1f %10.1f %7.2fx\n", shapes[k][0], shapes[k][1], shapes[k][2], gb[k], ga[k], ga[k] / gb[k]);
    ct_gemm_set_kernel(saved);

    end_to_end(od);

    printf("\n4. tokenizer: ADE20K-847 names x 80 templates\n");
    char p[1024];
    snprintf(p, sizeof p, "%s/bpe_simple_vocab_16e6.txt.gz", od);
    ct_tokenizer *tok;
    if (ct_tokenizer_load(p, &tok, NULL)) { printf("  skipped: no vocabulary at %s\n", p); return 0; }
    snprintf(p, sizeof p, "%s/classes/ade847.txt", od);
    FILE *f = fopen(p, "r");
    if (!f) { printf("  skipped: no class list at %s\n", p); ct_tokenizer_free(tok); return 0; }
    char line[512];
    int nt, n = 0;
    const char *const *tpl = ct_default_templates(&nt);
    char **prompts = malloc(sizeof(char *) * 847 * 80);
    while (fgets(line, sizeof line, f) && n < 847 * 80) {
        line[strcspn(line, "\n")] = 0;
        for (int t = 0; t < nt; t++) {
            char buf[1024];
            const char *b = strstr(tpl[t], "{}");
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(b - tpl[t]), tpl[t], line, b + 2);
            prompts[n++] = strdup(buf);
        }
    }
    fclose(f);
    tok_arg ta = {tok, prompts, n};
    double t = median_time(run_tok, &ta, REPS);
    printf("  %d prompts: %.3f s median (%.0f prompts/s)\n", n, t, n / t);
    for (int i = 0; i < n; i++) free(prompts[i]);
    free(prompts);
    ct_tokenizer_free(tok);
    return 0;
}
