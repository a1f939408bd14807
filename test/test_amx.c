/* The AMX bf16 kernel where the CPU has no AMX (and, where it has, as well): the kernel's own code
 * (kernels/x86_amx/gemm.c, compiled here with CT_AMX_EMULATE) runs on an emulated tile unit that
 * follows Intel's documented semantics (LDTILECFG palette 1 with per-tile rows and bytes per row;
 * TILELOADD / TILESTORED rows of colsb bytes at a byte stride; TDPBF16PS C[m][n] += A[m][2k] B[2k][n]
 * + A[m][2k+1] B[2k+1][n] over bf16 pairs, the even element in the low half), through the GEMM
 * driver with the registered descriptor's packing and blocking (ct_gemm_with). What this checks:
 * the tile configuration, every load's address, stride and shape, the 2 x 2 blocking, the packing
 * (A row-major, B pair rows, K padded to whole tiles), K slices of 512, the epilogues, edges of M,
 * N and K, and that the tiles are configured before use in every worker. What it cannot check:
 * the instructions themselves (test_gemm runs the real kernel where AMX is granted).
 * Tolerance as test_gemm's bf16 case: the reference multiplies the same bf16-rounded operands in
 * double; fp32 sums of K products in [-1, 1] stay within 1e-5 * K + 1e-6. */
#include "harness.h"
#include "core/internal.h"
#include "core/runtime.h"
#include "nn/kernels/registry.h"

/* ---------------------------------------------------------------- the emulated tile unit */

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} emu_cfg;

static _Thread_local struct {
    int configured;
    uint8_t rows[8];
    uint16_t colsb[8];
    uint8_t data[8][16][64];
} tu;
static _Atomic long g_dp, g_misuse; /* TDPBF16PS executed; instructions on an unconfigured or ill-shaped unit */

static void emu_loadconfig(const void *p) {
    const emu_cfg *c = p;
    if (c->palette_id != 1 || c->start_row != 0) g_misuse++;
    memset(&tu, 0, sizeof tu);
    for (int t = 0; t < 8; t++) {
        if (c->rows[t] > 16 || c->colsb[t] > 64 || c->colsb[t] % 4) g_misuse++;
        tu.rows[t] = c->rows[t];
        tu.colsb[t] = c->colsb[t];
    }
    for (int t = 8; t < 16; t++)
        if (c->rows[t] || c->colsb[t]) g_misuse++;
    tu.configured = 1;
}
static void emu_release(void) { memset(&tu, 0, sizeof tu); }
static int emu_ok(int t) {
    if (!tu.configured || t < 0 || t > 7 || !tu.rows[t]) { g_misuse++; return 0; }
    return 1;
}
static void emu_zero(int t) {
    if (emu_ok(t)) memset(tu.data[t], 0, sizeof tu.data[t]);
}
static void emu_load(int t, const void *base, size_t stride) {
    if (!emu_ok(t)) return;
    for (int r = 0; r < tu.rows[t]; r++) memcpy(tu.data[t][r], (const uint8_t *)base + (size_t)r * stride, tu.colsb[t]);
}
static void emu_store(int t, void *base, size_t stride) {
    if (!emu_ok(t)) return;
    for (int r = 0; r < tu.rows[t]; r++) memcpy((uint8_t *)base + (size_t)r * stride, tu.data[t][r], tu.colsb[t]);
}
static float bf(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
static void emu_dpbf16ps(int c, int a, int b) {
    if (!emu_ok(c) || !emu_ok(a) || !emu_ok(b)) return;
    int M = tu.rows[a], K2 = tu.colsb[a] / 4, N = tu.colsb[b] / 4;
    if (tu.rows[b] != K2 || tu.rows[c] != M || tu.colsb[c] != 4 * N) { g_misuse++; return; }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float acc;
            memcpy(&acc, &tu.data[c][m][4 * n], 4);
            for (int k = 0; k < K2; k++) {
                uint16_t x[2], y[2];
                memcpy(x, &tu.data[a][m][4 * k], 4);
                memcpy(y, &tu.data[b][k][4 * n], 4);
                acc += bf(x[0]) * bf(y[0]) + bf(x[1]) * bf(y[1]);
            }
            memcpy(&tu.data[c][m][4 * n], &acc, 4);
        }
    g_dp++;
}

#define CT_AMX_EMULATE 1
void emu_uk_amx_bf16(int kp, const void *Ap, const void *Bp, float *C, int ldc, int rows, int cols, const ct_tile_epi *e);
void emu_amx_thread_begin(void);
void emu_amx_thread_end(void);
#define ct_uk_amx_bf16 emu_uk_amx_bf16
#define ct_amx_thread_begin emu_amx_thread_begin
#define ct_amx_thread_end emu_amx_thread_end
#define _tile_loadconfig(p) emu_loadconfig(p)
#define _tile_release() emu_release()
#define _tile_zero(t) emu_zero(t)
#define _tile_loadd(t, base, stride) emu_load(t, base, stride)
#define _tile_stored(t, base, stride) emu_store(t, base, stride)
#define _tile_dpbf16ps(c, a, b) emu_dpbf16ps(c, a, b)
#include "nn/kernels/x86_amx/gemm.c"

/* ---------------------------------------------------------------- the products */

static float rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f;
}

static ct_runtime *g_rt;

static ct_kernel_desc emulated(void) {
    ct_kernel_desc d = *ct_kernel_get(ct_kernel_find("amx_bf16"));
    d.fn = emu_uk_amx_bf16;
    d.thread_begin = emu_amx_thread_begin;
    d.thread_end = emu_amx_thread_end;
    return d;
}

static void emulated_kernel_against_reference(void) {
    if (!ct_cpu_has_avx512()) SKIP("the AMX kernel's epilogue is AVX-512's: no AVX-512 on this CPU");
    CHECK(ct_kernel_find("amx_bf16") != CT_KERNEL_NONE, "amx_bf16 is registered");
    ct_kernel_desc d = emulated();
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(g_rt, 2);
    int dims[] = {1, 5, 16, 17, 31, 32, 33, 64, 100, 197};
    int ks[] = {1, 2, 31, 32, 33, 64, 511, 512, 513, 1100};
    ct_epilogue epis[] = {{1.f, 0.f, NULL, CT_ACT_NONE}, {0.5f, 1.f, NULL, CT_ACT_NONE}, {1.f, 0.f, (const float *)1, CT_ACT_QUICKGELU},
                          {1.f, 1.f, (const float *)1, CT_ACT_NONE}};
    unsigned s = 7;
    int cases = 0, bad = 0;
    for (int a = 0; a < 10; a++)
        for (int c = 0; c < 10; c++) {
            int M = dims[a], N = dims[(a * 3 + c) % 10], K = ks[c], tA = (a + c) & 1, tB = ((a + c) >> 1) & 1;
            ct_epilogue e = epis[(a + c) % 4];
            int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
            float *A = malloc(sizeof(float) * (size_t)(tA ? K : M) * lda), *B = malloc(sizeof(float) * (size_t)(tB ? N : K) * ldb);
            float *C = malloc(sizeof(float) * (size_t)M * ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc), *bias = malloc(sizeof(float) * N);
            for (int i = 0; i < (tA ? K : M) * lda; i++) A[i] = rnd(&s);
            for (int i = 0; i < (tB ? N : K) * ldb; i++) B[i] = rnd(&s);
            for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd(&s);
            for (int j = 0; j < N; j++) bias[j] = rnd(&s);
            if (e.bias) e.bias = bias;
            CHECK(ct_gemm_with(&d, &nn, tA, tB, M, N, K, A, lda, B, ldb, &e, C, ldc, 0), "refused");
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    double ref = C0[i * ldc + j];
                    if (j < N) {
                        double acc = 0;
                        for (int k = 0; k < K; k++)
                            acc += (double)t_round_bf16(tA ? A[k * lda + i] : A[i * lda + k]) * t_round_bf16(tB ? B[j * ldb + k] : B[k * ldb + j]);
                        ref = e.alpha * acc + (e.bias ? bias[j] : 0.0);
                        if (e.act == CT_ACT_QUICKGELU) ref = ref / (1.0 + exp(-1.702 * ref));
                        ref += e.beta != 0.f ? e.beta * C0[i * ldc + j] : 0.0;
                    }
                    double dd = fabs(ref - C[i * ldc + j]);
                    if (!(dd <= worst)) worst = isnan(dd) ? INFINITY : dd;
                }
            if (worst > 1e-5 * K + 1e-6 && bad++ < 5) printf("  M=%d N=%d K=%d tA=%d tB=%d: max|d| %g\n", M, N, K, tA, tB, worst);
            cases++;
            free(A); free(B); free(C); free(C0); free(bias);
        }
    CHECK(bad == 0, "%d of %d shapes off", bad, cases);
    CHECK(g_misuse == 0, "%ld tile instructions on an unconfigured or ill-shaped tile unit", (long)g_misuse);
    CHECK(g_dp > 0, "no TDPBF16PS ran");
    printf("  %d shapes through the emulated tile unit, %ld TDPBF16PS\n", cases, (long)g_dp);
}

/* the symmetric product on the same kernel: equal to the full product, bit for bit */
static void emulated_gram(void) {
    if (!ct_cpu_has_avx512()) SKIP("no AVX-512 on this CPU");
    ct_kernel_desc d = emulated();
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(g_rt, 3);
    int N = 77, K = 96;
    unsigned s = 3;
    float *X = malloc(sizeof(float) * N * K), *G = malloc(sizeof(float) * N * N), *F = malloc(sizeof(float) * N * N);
    for (int i = 0; i < N * K; i++) X[i] = rnd(&s);
    ct_epilogue e = {0.5f, 0.f, NULL, CT_ACT_NONE};
    CHECK(ct_gemm_with(&d, &nn, 0, 1, N, N, K, X, K, X, K, &e, G, N, 1) && ct_gemm_with(&d, &nn, 0, 1, N, N, K, X, K, X, K, &e, F, N, 0), "ran");
    CHECK(!memcmp(G, F, sizeof(float) * N * N), "gram differs from the full product");
    free(X); free(G); free(F);
}

int main(void) {
    ct_error err;
    if (ct_runtime_new(3, &g_rt, &err)) { printf("runtime: %s\n", err.msg); return 1; }
    RUN(emulated_kernel_against_reference);
    RUN(emulated_gram);
    ct_runtime_free(g_rt);
    DONE();
}
