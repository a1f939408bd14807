/* make bench, part 1: the kernels, medians of repeated runs, all in this one run.
 *   0. the machine's register-only peaks on every thread (fp32 FMA; vdpbf16ps where the CPU has
 *      AVX512_BF16; AMX TDPBF16PS where AMX is granted) and the GEMM rate
 *      (the library's product at 1024^3 as the encoders run it: weight packed once, a
 *      workspace given): the references for every percentage below;
 *   1. attention at ViT-B/16 head shapes (width 768, 12 heads of 64) for 197, 785 and 3,137
 *      tokens: fused kernel vs the unfused path (scores through the GEMM and a softmax pass),
 *      for the ordinary attention, CLIPtrase's self-correlation (3 Gram streams), SCLIP's (2),
 *      and the CLIPtrase correlation map (one symmetric product). GFLOP/s count the unfused
 *      algorithm's products: ordinary 2 x 2 T^2 hd per head, self-correlation 4 x 2 T^2 hd;
 *   2. the GEMM on the encoder's shapes: every registered kernel this CPU runs (the registry;
 *      the ones it lacks are listed with the reason).
 * Every call gets a workspace of the size the library asks for, as inside the encoders (a call
 * without one allocates and faults in fresh pages, which is not what a forward pass does).
 * Threads: all cores unless CT_BENCH_THREADS is set. */
#include "bench.h"
#include "core/runtime.h"
#include "nn/attention.h"
#include "core/internal.h"
#include "nn/gemm.h"
#include "nn/kernels/registry.h"

#include <immintrin.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define REPS 7

static ct_runtime *g_rt;
static int g_threads;

static ct_nn make_nn(ct_kernel k) {
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(g_rt, g_threads);
    nn.kernel = k;
    return nn;
}

/* ---------------------------------------------------------------- peak */

typedef struct {
    long iters;
    int kind; /* 0 fp32 FMA, 1 vdpbf16ps, 2 AMX TDPBF16PS */
    float out[64];
} peak_job;

/* vdpbf16ps: 12 independent accumulators, 32 products (64 flops) per instruction */
__attribute__((target("avx512f,avx512bf16"))) static float bf16_peak_loop(long iters, int tid) {
    __m512 a[12];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80 + tid), y = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

/* TDPBF16PS on four accumulator tiles from two A and two B tiles (the GEMM kernel's 2 x 2
 * blocking without its loads): 16 x 16 x 32 products (16,384 flops) per instruction */
__attribute__((target("amx-tile,amx-bf16,avx512f"))) static float amx_peak_loop(long iters) {
    static const uint16_t one[16 * 32] = {0};
    float out[16 * 16];
    ct_amx_thread_begin();
    _tile_loadd(4, one, 64);
    _tile_loadd(5, one, 64);
    _tile_loadd(6, one, 64);
    _tile_loadd(7, one, 64);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (long it = 0; it < iters; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    ct_amx_thread_end();
    return out[0];
}

__attribute__((target("avx512f"))) static void peak_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team; (void)nth;
    peak_job *j = arg;
    if (j->kind == 1) { j->out[tid & 63] = bf16_peak_loop(j->iters, tid); return; }
    if (j->kind == 2) { j->out[tid & 63] = amx_peak_loop(j->iters); return; }
    /* 12 independent chains with distinct values: nothing to merge, latency hidden */
    __m512 a[12], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.f + (float)i * 1e-3f + (float)tid);
    for (long it = 0; it < j->iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    j->out[tid & 63] = _mm512_reduce_add_ps(s);
}

static void run_peak(void *p) {
    ct_exec ex = ct_exec_for(g_rt, g_threads);
    ct_run(&ex, peak_task, p);
}

/* GFLOP/s of a register-only loop on every thread: 0 fp32 FMA, 1 vdpbf16ps, 2 AMX (0 when the
 * CPU lacks it) */
static double peak(int kind) {
    static const double flops_per_iter[3] = {12 * 16 * 2, 12 * 32 * 2, 4 * 16 * 16 * 32 * 2};
    if (!(kind == 0 ? ct_cpu_has_avx512() : kind == 1 ? ct_cpu_has_avx512bf16() : ct_cpu_has_amx_bf16())) return 0;
    peak_job j = {kind == 2 ? 2000000 : 20000000, kind, {0}};
    double t = bench_median(run_peak, &j, 5);
    return (double)j.iters * flops_per_iter[kind] * g_threads / t * 1e-9;
}

/* ---------------------------------------------------------------- GEMM */

/* nn with a workspace of `bytes` (the caller frees nn.ws) */
static ct_nn with_ws(ct_nn nn, size_t bytes) {
    nn.ws = aligned_alloc(64, (bytes + 127) & ~(size_t)63);
    nn.ws_bytes = nn.ws ? bytes : 0;
    return nn;
}

typedef struct {
    ct_nn nn;
    int M, N, K;
    float *A, *C;
    ct_weight w;
    pthread_mutex_t lock;
} gemm_arg;

static void run_gemm(void *p) {
    gemm_arg *g = p;
    ct_linear(&g->nn, g->M, g->A, g->K, &g->w, &g->lock, NULL, g->C, g->N);
}

/* y = x W^T as a linear layer of the encoders: the weight packed for the kernel (at its second
 * use, here the warm-up), the call's workspace given */
static double gemm_gflops(ct_kernel k, int M, int N, int K) {
    gemm_arg g;
    memset(&g, 0, sizeof g);
    g.nn = with_ws(make_nn(k), ct_gemm_workspace(k, M, N, K, 1));
    g.M = M; g.N = N; g.K = K;
    g.A = malloc(sizeof(float) * (size_t)M * K);
    g.C = malloc(sizeof(float) * (size_t)M * N);
    float *B = malloc(sizeof(float) * (size_t)N * K);
    for (size_t i = 0; i < (size_t)M * K; i++) g.A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)(i % 5) * 0.1f;
    g.w.part[0] = B;
    g.w.part_rows[0] = N;
    g.w.n_parts = 1;
    g.w.N = N;
    g.w.K = K;
    pthread_mutex_init(&g.lock, NULL);
    double t = bench_median(run_gemm, &g, REPS);
    ct_weight_release(&g.w);
    pthread_mutex_destroy(&g.lock);
    free(g.A); free(B); free(g.C); free(g.nn.ws);
    return 2.0 * M * N * K / t * 1e-9;
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    ct_nn nn;
    ct_attn_spec sp;
    const float *qkv;
    float *att, *corr, *nrm;
    int T, W, heads, fused;
} attn_arg;

static void run_attn(void *p) {
    attn_arg *a = p;
    /* the fused kernel even where this CPU's selection prefers the unfused path (its speed-up
     * below is what that choice rests on) */
    if (a->fused && ct_attention_fused_ok(&a->nn, &a->sp, a->W, a->heads))
        ct_attention_fused(&a->nn, &a->sp, a->qkv, 1, a->T, a->W, a->heads, 0, a->T, a->att);
    else ct_attention_reference(&a->nn, &a->sp, a->qkv, 1, a->T, a->W, a->heads, 0, a->T, a->att);
}

static void run_corr(void *p) {
    attn_arg *a = p;
    ct_gram(&a->nn, a->T, 3 * a->W, a->nrm, 3 * a->W, 1.f / 36.f, a->corr, a->T);
}

int main(void) {
    const char *e = getenv("CT_BENCH_THREADS");
    ct_error err;
    if (ct_runtime_new(e ? atoi(e) : 0, &g_rt, &err)) { printf("runtime: %s\n", err.msg); return 1; }
    g_threads = ct_runtime_threads(g_rt);
    ct_kernel k32 = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE);
    double pk = peak(0), pk_bf16 = peak(1), pk_amx = peak(2), rate = gemm_gflops(k32, 1024, 1024, 1024);
    printf("== kernels (%d threads; %s)\n", g_threads, ct_cpu_describe());
    printf("fp32 FMA peak (register-only loop): %.1f GFLOP/s\n", pk);
    if (pk_bf16 > 0) printf("vdpbf16ps peak (register-only loop): %.1f GFLOP/s = %.2fx fp32\n", pk_bf16, pk > 0 ? pk_bf16 / pk : 0);
    else printf("vdpbf16ps peak: not measured (no AVX512_BF16 on this CPU)\n");
    if (pk_amx > 0) printf("AMX bf16 peak (register-only TDPBF16PS loop): %.1f GFLOP/s = %.2fx fp32\n", pk_amx, pk > 0 ? pk_amx / pk : 0);
    else printf("AMX bf16 peak: not measured (%s)\n", ct_cpu_amx_reason());
    printf("GEMM rate (library %s, 1024^3): %.1f GFLOP/s = %.0f%% of peak\n\n", ct_kernel_name(k32), rate, pk > 0 ? 100 * rate / pk : 0);
    printf("fused attention on this CPU: %s (selection table)\n\n", ct_kernel_fused_attention(k32) ? "used" : "not used, the unfused path is");

    printf("1. attention, ViT-B/16 head shapes (width 768, 12 heads of 64), median of %d\n", REPS);
    printf("%-7s %-26s %10s %10s %9s %12s %9s\n", "tokens", "attention", "fused ms", "GFLOP/s", "% GEMM", "unfused ms", "speed-up");
    int Ts[] = {197, 785, 3137};
    struct {
        const char *name;
        ct_attn_spec sp;
        int products;
    } kinds[] = {
        {"ordinary (q k^T)", {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}}, 2},
        {"CLIPtrase self-correlation", {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}}, 4},
        {"SCLIP (q q^T + k k^T)", {.n_streams = 2, .x = {CT_Q, CT_K}, .y = {CT_Q, CT_K}}, 3},
        {"NACLIP (k k^T + G)", {.n_streams = 1, .x = {CT_K}, .y = {CT_K}, .gauss_sigma = 5.f}, 2},
    };
    for (int ti = 0; ti < 3; ti++) {
        int T = Ts[ti], W = 768, heads = 12, g = (int)lround(sqrt((double)(T - 1)));
        float *qkv = malloc(sizeof(float) * (size_t)T * 3 * W), *att = malloc(sizeof(float) * (size_t)T * W);
        for (size_t i = 0; i < (size_t)T * 3 * W; i++) qkv[i] = (float)((i * 2654435761u) % 1000) / 1000.f - 0.5f;
        for (int k = 0; k < 4; k++) {
            attn_arg a = {make_nn(k32), kinds[k].sp, qkv, att, NULL, NULL, T, W, heads, 1};
            a.sp.grid_h = a.sp.grid_w = g;
            size_t wsf = ct_attention_workspace(&a.nn, &a.sp, 1, T, W, heads), wsr = ct_attention_reference_workspace(&a.nn, T, W, heads);
            a.nn = with_ws(a.nn, wsf > wsr ? wsf : wsr);
            double flops = (double)kinds[k].products * 2.0 * T * (double)T * 64 * heads;
            double tf = bench_median(run_attn, &a, T > 1000 ? 3 : REPS);
            a.fused = 0;
            double tu = bench_median(run_attn, &a, T > 1000 ? 3 : REPS);
            printf("%-7d %-26s %10.2f %10.1f %8.0f%% %12.2f %8.2fx\n", T, kinds[k].name, tf * 1e3, flops / tf * 1e-9, 100 * flops / tf * 1e-9 / rate,
                   tu * 1e3, tu / tf);
            free(a.nn.ws);
        }
        /* the correlation map: one symmetric product over the normalised q | k | v segments */
        attn_arg c = {with_ws(make_nn(k32), ct_gemm_workspace(k32, T, T, 3 * W, 0)), {0}, qkv, att, malloc(sizeof(float) * (size_t)T * T), qkv, T, W, heads, 1};
        double tc = bench_median(run_corr, &c, T > 1000 ? 3 : REPS), fc = 2.0 * T * (double)T * 3 * W;
        printf("%-7d %-26s %10.2f %10.1f %8.0f%% %12s %9s\n", T, "correlation map (Gram)", tc * 1e3, fc / tc * 1e-9, 100 * fc / tc * 1e-9 / rate,
               "-", "(full T^2 count)");
        free(c.corr);
        free(c.nn.ws);
        free(qkv);
        free(att);
    }

    printf("\n2. GEMM on encoder shapes (tokens x out x in), GFLOP/s, each kernel over all shapes in a row\n");
    int shapes[][3] = {{197, 2304, 768}, {197, 3072, 768}, {197, 768, 3072}, {785, 2304, 768}, {785, 768, 3072}, {3137, 2304, 768}, {3137, 768, 3072}};
    int nk = ct_kernel_count(), run[16] = {0};
    double gf[16][7] = {{0}};
    for (int k = 0; k < nk && k < 16; k++) {
        if (ct_kernel_missing(k)) { printf("  %s: skipped: %s\n", ct_kernel_get(k)->id, ct_kernel_missing(k)); continue; }
        run[k] = 1;
        for (int s = 0; s < 7; s++) gf[k][s] = gemm_gflops(k, shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    printf("  %-18s", "shape");
    for (int k = 0; k < nk && k < 16; k++)
        if (run[k]) printf(" %14s", ct_kernel_get(k)->id);
    printf("\n");
    for (int s = 0; s < 7; s++) {
        printf("  %4d x %4d x %4d", shapes[s][0], shapes[s][1], shapes[s][2]);
        for (int k = 0; k < nk && k < 16; k++)
            if (run[k]) printf(" %14.1f", gf[k][s]);
        printf("\n");
    }
    ct_runtime_free(g_rt);
    return 0;
}
