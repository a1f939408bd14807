/* The GEMM: every registered kernel this CPU runs (kernels/registry.c: fp32 AVX-512, AVX2,
 * portable, OpenBLAS; bf16 AVX512_BF16, AMX, fp32 FMA on bf16-rounded operands; a kernel the CPU
 * lacks is skipped with its reason) against a double-precision reference on every shape class (edges of each register tile,
 * depths across the 256-deep slice, transposes, strides), with each epilogue (alpha, beta, bias,
 * QuickGELU, exact GELU); the exact GELU epilogue of every kernel on a dense grid of inputs against
 * erfc in double (its own relative bound, see gelu_epilogue_every_kernel); weights packed once (one and three row blocks); the symmetric product equal to the
 * full one bit for bit; identical results for 1 and 3 threads; model parity through each
 * kernel; and the bf16 precision's accuracy against fp32.
 * Tolerance: fp32 sums of K products of values in [-1, 1] carry rounding error ~K * 6e-8; we allow
 * 1e-5 * K + 1e-6, far below any indexing or packing mistake (O(1)). In bf16 the reference
 * multiplies the operands rounded to bfloat16 exactly as the kernel does, so the same bound
 * checks its indexing and sums. */
#include "fixtures.h"
#include "core/runtime.h"
#include "nn/gemm.h"
#include "nn/kernels/registry.h"

#include <float.h>

static float rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f;
}

static ct_runtime *g_rt;

static ct_nn nn_for(ct_kernel k, int threads) {
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(g_rt, threads);
    nn.kernel = k;
    return nn;
}

/* OpenBLAS (no micro-kernel of ours): its sums run in another order */
static int is_blas(ct_kernel k) { return ct_kernel_get(k)->fn == NULL; }

/* under ThreadSanitizer (make tsan) the model-level checks are left to the release and asan runs:
 * their threading is the products' (checked here), and a forward pass under TSan takes minutes */
static int under_tsan(void) { return getenv("CT_SANITIZER") && !strcmp(getenv("CT_SANITIZER"), "thread"); }

static double qgelu(double v) { return v / (1.0 + exp(-1.702 * v)); }
/* PyTorch's nn.GELU() (approximate='none'): 0.5 x (1 + erf(x / sqrt 2)), as erfc (no cancellation) */
static double gelu(double v) { return 0.5 * v * erfc(-v / sqrt(2.0)); }

/* one product against the double reference; returns the worst |difference| */
static double check_one(ct_kernel k, int M, int N, int K, int tA, int tB, const ct_epilogue *e, unsigned *s) {
    int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
    float *A = malloc(sizeof(float) * (size_t)(tA ? K : M) * lda), *B = malloc(sizeof(float) * (size_t)(tB ? N : K) * ldb);
    float *C = malloc(sizeof(float) * (size_t)M * ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    float *bias = malloc(sizeof(float) * (size_t)N);
    for (int i = 0; i < (tA ? K : M) * lda; i++) A[i] = rnd(s);
    for (int i = 0; i < (tB ? N : K) * ldb; i++) B[i] = rnd(s);
    for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd(s);
    for (int j = 0; j < N; j++) bias[j] = rnd(s);
    ct_epilogue ee = *e;
    if (ee.bias) ee.bias = bias;
    ct_nn nn = nn_for(k, 2);
    CHECK(ct_gemm(&nn, tA, tB, M, N, K, A, lda, B, ldb, &ee, C, ldc), "product refused");
    int bf = ct_kernel_get(k)->precision == CT_PRECISION_BF16;
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double ref;
            if (j >= N) ref = C0[i * ldc + j]; /* padding columns untouched */
            else {
                double acc = 0;
                for (int kk = 0; kk < K; kk++) {
                    float x = tA ? A[kk * lda + i] : A[i * lda + kk], y = tB ? B[j * ldb + kk] : B[kk * ldb + j];
                    if (bf) { x = t_round_bf16(x); y = t_round_bf16(y); }
                    acc += (double)x * y;
                }
                ref = ee.alpha * acc + (ee.bias ? bias[j] : 0.0);
                if (ee.act == CT_ACT_QUICKGELU) ref = qgelu(ref);
                if (ee.act == CT_ACT_GELU) ref = gelu(ref);
                ref += ee.beta != 0.f ? ee.beta * C0[i * ldc + j] : 0.0;
            }
            double d = fabs(ref - C[i * ldc + j]);
            if (isnan(d)) d = INFINITY;
            worst = d > worst ? d : worst;
        }
    free(A); free(B); free(C); free(C0); free(bias);
    return worst;
}

static void shapes_against_reference(void) {
    int dims[] = {1, 5, 6, 7, 13, 14, 15, 16, 17, 31, 32, 33, 100, 197};
    int ks[] = {1, 7, 64, 255, 256, 257, 600};
    ct_epilogue epis[] = {{1.f, 0.f, NULL, CT_ACT_NONE}, {0.5f, 1.f, NULL, CT_ACT_NONE}, {1.f, -0.5f, NULL, CT_ACT_NONE},
                          {1.f, 0.f, (const float *)1, CT_ACT_NONE}, {1.f, 1.f, (const float *)1, CT_ACT_NONE},
                          {1.f, 0.f, (const float *)1, CT_ACT_QUICKGELU}, {1.f, 0.f, (const float *)1, CT_ACT_GELU}};
    const int n_epis = (int)(sizeof epis / sizeof epis[0]);
    int nk = 0;
    for (ct_kernel k = 0; k < ct_kernel_count(); k++) {
        if (!ct_kernel_available(k)) { printf("  %s: skipped: %s\n", ct_kernel_get(k)->id, ct_kernel_missing(k)); continue; }
        nk++;
        unsigned s = 1;
        int cases = 0, bad = 0;
        for (int a = 0; a < 14; a++)
            for (int b = 0; b < 14; b += 3)
                for (int c = 0; c < 7; c += under_tsan() ? 2 : 1) /* TSan: the depths 1, 64, 256, 600 */
                    for (int t = 0; t < 4; t++) {
                        int M = dims[a], N = dims[(b + a) % 14], K = ks[c];
                        const ct_epilogue *e = &epis[(a + b + c + t) % n_epis];
                        double w = check_one(k, M, N, K, t & 1, t >> 1, e, &s);
                        double bound = 1e-5 * K + 1e-6;
                        if (w > bound && bad++ < 5)
                            printf("  %s M=%d N=%d K=%d tA=%d tB=%d epilogue %d: max|d| %g\n", ct_kernel_name(k), M, N, K, t & 1, t >> 1,
                                   (int)(e - epis), w);
                        cases++;
                    }
        CHECK(bad == 0, "%s: %d of %d shapes off", ct_kernel_name(k), bad, cases);
        printf("  %s: %d shapes x epilogues checked\n", ct_kernel_name(k), cases);
    }
    CHECK(nk >= 2, "at least the portable kernel and OpenBLAS run everywhere");
}

/* The exact GELU epilogue of every kernel (its vector code for AVX-512 fp32 and bf16, the scalar
 * epilogue of AVX2 and portable, OpenBLAS's pass after sgemm, and the empty-sum path K = 0) on
 * 24001 inputs x in [-14, 10] (step 1e-3, in the bias of a zero product: the tile computes
 * act(0 + bias) exactly on them), plus zeros, tiny and NaN inputs, against 0.5 x erfc(-x / sqrt 2)
 * in double. The rows cover the full register tiles and the short tail tiles.
 * Bound, relative: 1e-6 + 0.75 x^2 2^-24. The vector code's erfc fit is within 1.2e-7 and its
 * fp32 evaluation adds a few roundings of O(1) terms (measured worst 8e-7 for x >= -5); the exp
 * rounds its argument -x^2 / 2 to fp32, x^2 / 2 2^-24 relative (1.9e-6 at x = -8, where GELU is
 * -5e-15). Where the result is below 1e-36 in magnitude (x < -12.9) it only needs to stay below
 * 1e-36 (the vector exp clamps its argument at -87.3: exp(-87.3) = 1.2e-38). */
static void gelu_epilogue_every_kernel(void) {
    enum { NX = 24001 + 4, M = 17 };
    float *xs = malloc(sizeof(float) * NX), *C = malloc(sizeof(float) * (size_t)M * NX);
    float *zero = calloc(NX, sizeof(float)); /* A [M x 1] and B [1 x NX] */
    for (int i = 0; i < 24001; i++) xs[i] = -14.f + 1e-3f * (float)i;
    xs[24001] = 0.f; xs[24002] = -0.f; xs[24003] = FLT_MIN; xs[24004] = NAN;
    for (ct_kernel k = 0; k < ct_kernel_count(); k++) {
        if (!ct_kernel_available(k)) continue;
        for (int K = 0; K <= 1; K++) {
            ct_nn nn = nn_for(k, 2);
            ct_epilogue e = {1.f, 0.f, xs, CT_ACT_GELU};
            for (size_t i = 0; i < (size_t)M * NX; i++) C[i] = 12345.f;
            CHECK(ct_gemm(&nn, 0, 0, M, NX, K, zero, 1, zero, NX, &e, C, NX), "product refused");
            double worst = 0, worst_x = 0;
            int bad = 0;
            for (int r = 0; r < M; r++)
                for (int j = 0; j < NX; j++) {
                    double x = xs[j], ref = gelu(x), got = C[(size_t)r * NX + j];
                    if (isnan(x)) { bad += !isnan(got); continue; }
                    if (fabs(ref) < 1e-36) { bad += !(fabs(got) < 1e-36); continue; }
                    double rel = fabs(got - ref) / fabs(ref);
                    if (!(rel <= 1e-6 + 0.75 * x * x * 0x1p-24)) {
                        if (bad++ < 3) printf("  %s K=%d: gelu(%.9g) = %.9g, want %.9g (rel %.2e)\n", ct_kernel_name(k), K, x, got, ref, rel);
                    }
                    if (x >= -5 && rel > worst) { worst = rel; worst_x = x; }
                }
            CHECK(bad == 0, "%s K=%d: %d GELU values off", ct_kernel_name(k), K, bad);
            if (K == 1) printf("  %s: GELU worst relative error for x >= -5: %.2e (x = %.4f)\n", ct_kernel_name(k), worst, worst_x);
        }
    }
    free(xs);
    free(C);
    free(zero);
}

/* Weights packed once (one block, three blocks, transposed storage) give the unpacked product. */
static void packed_weights(void) {
    for (ct_kernel k = 0; k < ct_kernel_count(); k++) {
        if (!ct_kernel_available(k)) continue;
        unsigned s = 5;
        int M = 45, Wd = 96, K = 96 + 32;
        float *w = malloc(sizeof(float) * 3 * Wd * K), *x = malloc(sizeof(float) * M * K);
        float *y1 = malloc(sizeof(float) * M * 3 * Wd), *y2 = malloc(sizeof(float) * M * 3 * Wd), *bias = malloc(sizeof(float) * 3 * Wd);
        for (int i = 0; i < 3 * Wd * K; i++) w[i] = rnd(&s);
        for (int i = 0; i < M * K; i++) x[i] = rnd(&s);
        for (int i = 0; i < 3 * Wd; i++) bias[i] = rnd(&s);
        ct_nn nn = nn_for(k, 2);
        ct_epilogue e = {1.f, 0.f, bias, CT_ACT_QUICKGELU};
        CHECK(ct_gemm(&nn, 0, 1, M, 3 * Wd, K, x, K, w, K, &e, y1, 3 * Wd), "unpacked");
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        for (int parts = 1; parts <= 3; parts += 2) {
            ct_weight cw;
            memset(&cw, 0, sizeof cw);
            cw.n_parts = parts;
            cw.N = 3 * Wd;
            cw.K = K;
            for (int p = 0; p < parts; p++) {
                cw.part[p] = w + (size_t)p * (3 / parts) * Wd * K;
                cw.part_rows[p] = 3 * Wd / parts;
            }
            /* first use: packed into the call's workspace; second: packed for good; third: reused */
            for (int use = 0; use < 3; use++) {
                memset(y2, 0, sizeof(float) * M * 3 * Wd);
                CHECK(ct_linear(&nn, M, x, K, &cw, &lock, &e, y2, 3 * Wd), "packed");
                CHECK(!memcmp(y1, y2, sizeof(float) * M * 3 * Wd) || is_blas(k), "%s, %d parts, use %d: packed weight differs",
                      ct_kernel_name(k), parts, use);
                if (is_blas(k)) CHECK(max_abs_diff(y1, y2, (size_t)M * 3 * Wd) < 1e-5 * K, "openblas parts");
                CHECK((atomic_load(&cw.packed) != NULL) == (use >= 1 && !is_blas(k)), "%s use %d: packed copy %s", ct_kernel_name(k),
                      use, atomic_load(&cw.packed) ? "made too early" : "missing");
            }
            ct_weight_release(&cw);
        }
        /* stored transposed: y = x w with w [K x N] */
        float *wt = malloc(sizeof(float) * 3 * Wd * K);
        for (int n = 0; n < 3 * Wd; n++)
            for (int kk = 0; kk < K; kk++) wt[(size_t)kk * 3 * Wd + n] = w[(size_t)n * K + kk];
        ct_weight tw;
        memset(&tw, 0, sizeof tw);
        tw.part[0] = wt; tw.part_rows[0] = 3 * Wd; tw.n_parts = 1; tw.N = 3 * Wd; tw.K = K; tw.trans = 1;
        for (int use = 0; use < 2; use++) {
            CHECK(ct_linear(&nn, M, x, K, &tw, &lock, &e, y2, 3 * Wd), "transposed");
            double d = max_abs_diff(y1, y2, (size_t)M * 3 * Wd);
            CHECK(d < 1e-5 * K, "%s: transposed weight max|d| %g", ct_kernel_name(k), d);
        }
        ct_weight_release(&tw);
        free(wt); free(w); free(x); free(y1); free(y2); free(bias);
    }
}

/* The symmetric product mirrors its upper triangle: equal to the full product, bit for bit. */
static void gram_is_the_full_product(void) {
    for (ct_kernel k = 0; k < ct_kernel_count(); k++) {
        if (!ct_kernel_available(k)) continue;
        int sizes[] = {1, 13, 197, 450};
        for (int si = 0; si < 4; si++) {
            int N = sizes[si], K = 300;
            unsigned s = 11;
            float *X = malloc(sizeof(float) * N * K), *G = malloc(sizeof(float) * N * N), *F = malloc(sizeof(float) * N * N);
            for (int i = 0; i < N * K; i++) X[i] = rnd(&s);
            ct_nn nn = nn_for(k, 3);
            ct_epilogue e = {0.25f, 0.f, NULL, CT_ACT_NONE};
            CHECK(ct_gram(&nn, N, K, X, K, 0.25f, G, N) && ct_gemm(&nn, 0, 1, N, N, K, X, K, X, K, &e, F, N), "products");
            CHECK(!memcmp(G, F, sizeof(float) * N * N) || (is_blas(k) && max_abs_diff(G, F, (size_t)N * N) < 1e-5 * K),
                  "%s N=%d: gram differs from the full product", ct_kernel_name(k), N);
            free(X); free(G); free(F);
        }
    }
}

static void thread_count_does_not_matter(void) {
    int M = 197, N = 2304, K = 768;
    unsigned s = 3;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C1 = malloc(sizeof(float) * M * N),
          *C3 = malloc(sizeof(float) * M * N), *bias = malloc(sizeof(float) * N);
    for (int i = 0; i < M * K; i++) A[i] = rnd(&s);
    for (int i = 0; i < N * K; i++) B[i] = rnd(&s);
    for (int i = 0; i < N; i++) bias[i] = rnd(&s);
    for (ct_kernel k = 0; k < ct_kernel_count(); k++) {
        if (!ct_kernel_available(k) || is_blas(k)) continue;
        ct_epilogue e = {1.f, 0.f, bias, CT_ACT_QUICKGELU};
        ct_nn n1 = nn_for(k, 1), n3 = nn_for(k, 3);
        ct_gemm(&n1, 0, 1, M, N, K, A, K, B, K, &e, C1, N);
        ct_gemm(&n3, 0, 1, M, N, K, A, K, B, K, &e, C3, N);
        CHECK(!memcmp(C1, C3, sizeof(float) * M * N), "%s: 1 and 3 threads differ", ct_kernel_name(k));
    }
    free(A); free(B); free(C1); free(C3); free(bias);
}

/* A model loaded with each registered kernel (and with each precision's choice) reproduces the
 * oracle's tokens: fp32 kernels within the 1e-4 parity bound, bf16 within its stated accuracy. */
static void parity_through_each_kernel(void) {
    char p[700];
    if (under_tsan()) SKIP("model parity is checked by the release and asan runs (a forward under TSan takes minutes)");
    FMT(p, "%s/small_f16_hf/model.safetensors", oracle_dir());
    if (!file_exists(p)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    char d[700];
    FMT(d, "%s/small_f16_hf", oracle_dir());
    npy_array px = {0}, tok = {0};
    if (!load_npy(d, "rect224x320", "pixels", &px) || !load_npy(d, "rect224x320", "img_tokens", &tok)) return;
    /* each registered kernel this CPU runs, asked for by name; and the choice of the selection
     * table for each precision (bf16 refused where no kernel computes it) */
    for (int c = -2; c < ct_kernel_count(); c++) {
        const ct_kernel_desc *kd = c >= 0 ? ct_kernel_get(c) : NULL;
        if (kd && ct_kernel_missing(c)) { printf("  %s: skipped: %s\n", kd->id, ct_kernel_missing(c)); continue; }
        ct_precision prec = kd ? kd->precision : c == -2 ? CT_PRECISION_FP32 : CT_PRECISION_BF16;
        double bound = prec == CT_PRECISION_BF16 ? 0.05 : 1e-4;
        ct_load_params lp;
        ct_load_params_default(&lp);
        lp.precision = prec;
        lp.backend = kd && !kd->fn ? CT_BACKEND_OPENBLAS : CT_BACKEND_NATIVE;
        lp.kernel = kd ? kd->id : NULL;
        ct_model *m = NULL;
        ct_error err;
        ct_status st = ct_model_load_ex(p, &lp, &m, &err);
        if (!kd && prec == CT_PRECISION_BF16 && !ct_precision_available(CT_PRECISION_BF16)) {
            CHECK(st == CT_ERR_UNSUPPORTED, "bf16 on a CPU without AVX512_BF16 must be refused");
            printf("  bf16: refused on this CPU (%s)\n", err.msg);
            continue;
        }
        if (st) { CHECK(0, "%s", err.msg); continue; }
        float *t = malloc(sizeof(float) * tok.numel);
        ct_image_features f = {NULL, t, NULL};
        CHECK(ct_encode_image(m, px.data, 224, 320, 0, &f, &err) == CT_OK, "%s", err.msg);
        double dd = max_abs_diff(t, tok.data, tok.numel);
        char desc[800];
        ct_model_describe(m, desc, sizeof desc);
        printf("  %s / %s: img_tokens max|d| %.2e\n", ct_precision_name(prec), kd ? kd->id : "chosen", dd);
        CHECK(dd <= bound, "%s: %g", desc, dd);
        free(t);
        ct_model_free(m);
    }
    npy_free(&px);
    npy_free(&tok);
}

/* An F32 checkpoint is used in place from the mapping: its weights are packed into the call's
 * workspace at first use, packed for good (and their mapped pages released) at the second, then
 * reused: the tokens must match the oracle every time. */
static void mapped_weights_through_three_uses(void) {
    char p[700], d[700];
    FMT(p, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(d, "%s/tiny_f32_openai", oracle_dir());
    if (!file_exists(p)) SKIP("tiny_f32_openai fixture not found under %s", oracle_dir());
    npy_array px = {0}, tok = {0};
    if (!load_npy(d, "crop64", "pixels", &px) || !load_npy(d, "crop64", "img_tokens", &tok)) return;
    ct_model *m = NULL;
    ct_error err;
    if (ct_model_load(p, &m, &err)) { CHECK(0, "%s", err.msg); return; }
    float *t = malloc(sizeof(float) * tok.numel);
    for (int use = 0; use < 3; use++) {
        ct_image_features f = {NULL, t, NULL};
        CHECK(ct_encode_image(m, px.data, 64, 64, 0, &f, &err) == CT_OK, "%s", err.msg);
        double dd = max_abs_diff(t, tok.data, tok.numel);
        CHECK(dd <= 1e-4, "use %d: img_tokens max|d| %g", use, dd);
    }
    free(t);
    ct_model_free(m);
    npy_free(&px);
    npy_free(&tok);
}

/* Writes the tiny fixture to dst with a NaN at float `index` of tensor `name`; 0 when it cannot. */
static int write_with_nan(const char *dst, const char *name, size_t index) {
    char src[700];
    FMT(src, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    size_t len = 0;
    char *buf = slurp(src, &len);
    if (!buf || len < 8) { free(buf); return 0; }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (uint8_t)buf[i];
    ct_json *h = hl < len ? ct_json_parse(buf + 8, (size_t)hl, NULL, 0) : NULL;
    const ct_json *t = h ? ct_json_get(h, name) : NULL;
    const ct_json *off = t ? ct_json_get(t, "data_offsets") : NULL;
    int ok = off && off->n == 2 && (size_t)off->items[0].i + 4 * index + 4 <= (size_t)off->items[1].i;
    if (ok) {
        float nan = NAN;
        memcpy(buf + 8 + (size_t)hl + (size_t)off->items[0].i + 4 * index, &nan, 4);
        FILE *f = fopen(dst, "wb");
        ok = f && fwrite(buf, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = 0;
    }
    ct_json_free(h);
    free(buf);
    return ok;
}

static int all_byte(const void *p, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] != v) return 0;
    return 1;
}

/* A NaN weight (check_finite off) must reach the output and be reported (CT_ERR_NONFINITE), not
 * be absorbed by the softmax into finite, wrong tokens; and the caller's arrays stay untouched. */
static void nan_weight_is_reported(void) {
    char src[700], dst[700], d[700];
    FMT(src, "%s/tiny_f32_openai/model.safetensors", oracle_dir());
    FMT(dst, "%s/nan.safetensors", t_tmpdir());
    FMT(d, "%s/tiny_f32_openai", oracle_dir());
    if (!file_exists(src)) SKIP("tiny_f32_openai fixture not found under %s", oracle_dir());
    npy_array px = {0};
    CHECK(load_npy(d, "crop64", "pixels", &px), "pixels of crop64");
    static const struct { const char *tensor; size_t index; int text; } cases[] = {
        {"visual.transformer.resblocks.0.attn.in_proj_weight", 7, 0},            /* a query weight */
        {"visual.transformer.resblocks.0.attn.in_proj_weight", 64 * 64 + 5, 0},  /* a key weight */
        {"visual.ln_post.weight", 3, 0},                                          /* after the correlation map */
        {"ln_final.weight", 3, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases && px.data; c++) {
        CHECK(write_with_nan(dst, cases[c].tensor, cases[c].index), "cannot write %s with a NaN in %s", dst, cases[c].tensor);
        ct_model *m = NULL;
        ct_error err;
        CHECK(ct_model_load(dst, &m, &err) == CT_OK, "%s", err.msg);
        if (!m) continue;
        float *tok = malloc(sizeof(float) * 17 * 32), *corr = malloc(sizeof(float) * 17 * 17), *emb = malloc(sizeof(float) * 2 * 32);
        memset(tok, 0xAB, sizeof(float) * 17 * 32);
        memset(corr, 0xAB, sizeof(float) * 17 * 17);
        memset(emb, 0xAB, sizeof(float) * 2 * 32);
        ct_status st;
        if (cases[c].text) {
            int32_t ids[2 * 77] = {0};
            for (int i = 0; i < 2; i++) { ids[i * 77] = CT_TOKEN_SOT; ids[i * 77 + 1] = 320 + i; ids[i * 77 + 2] = CT_TOKEN_EOT; }
            st = ct_encode_tokens(m, ids, 2, emb, &err);
        } else {
            ct_image_features fe = {emb, tok, corr};
            st = ct_encode_image(m, px.data, 64, 64, 0, &fe, &err);
        }
        CHECK(st == CT_ERR_NONFINITE, "NaN in %s: status %s (%s)", cases[c].tensor, ct_status_str(st), err.msg);
        CHECK(all_byte(tok, sizeof(float) * 17 * 32, 0xAB) && all_byte(corr, sizeof(float) * 17 * 17, 0xAB) &&
                  all_byte(emb, sizeof(float) * 2 * 32, 0xAB),
              "NaN in %s: the caller's arrays were written by a failing call", cases[c].tensor);
        free(tok); free(corr); free(emb);
        ct_model_free(m);
    }
    npy_free(&px);
}

/* bf16 against fp32 on every fixture: tokens close, labels agreeing on >= 99.9% of pixels. */
static void bf16_accuracy(void) {
    if (!ct_precision_available(CT_PRECISION_BF16)) SKIP("no AVX512_BF16 on this CPU");
    if (under_tsan()) SKIP("bf16 accuracy is checked by the release and asan runs (forwards under TSan take minutes)");
    fixture fx[16];
    int nfx = find_fixtures(fx, 16);
    if (!nfx) SKIP("no fixtures under %s", oracle_dir());
    double worst_tok = 0, worst_agree = 1;
    for (int f = 0; f < nfx; f++) {
        char p[700];
        FMT(p, "%s/model.safetensors", fx[f].dir);
        ct_load_params lp;
        ct_load_params_default(&lp);
        lp.precision = CT_PRECISION_BF16;
        ct_model *m = NULL, *m32 = load_fixture_model(&fx[f]);
        ct_error err;
        CHECK(ct_model_load_ex(p, &lp, &m, &err) == CT_OK, "%s", err.msg);
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        for (size_t r = 0; m && m32 && runs && r < runs->n; r++) {
            const char *rn = ct_json_get(&runs->items[r], "name")->str;
            npy_array px = {0}, tok = {0}, tf = {0};
            if (!load_npy(fx[f].dir, rn, "pixels", &px) || !load_npy(fx[f].dir, rn, "img_tokens", &tok) ||
                !load_npy(fx[f].dir, rn, "text_features", &tf)) continue;
            int H = (int)px.shape[1], W = (int)px.shape[2], n = (int)tf.shape[0];
            int32_t *lab = malloc(sizeof(int32_t) * H * W), *lab32 = malloc(sizeof(int32_t) * H * W);
            ct_intermediates in;
            const ct_json *run = &runs->items[r];
            ct_segment_params sp;
            ct_segment_params_default(&sp);
            sp.eps = (float)jnum(run, "eps", 0);
            sp.min_samples = (int)jnum(run, "min_samples", 0);
            const ct_json *cr = ct_json_get(run, "cls_reweight");
            sp.cls_reweight = cr && cr->boolean;
            int nc = (int)ct_json_get(run, "classes")->n;
            int32_t nl[64];
            for (int i = 0; i < n && i < 64; i++) nl[i] = i < nc ? i : nc;
            CHECK(ct_segment(m, px.data, H, W, tf.data, n, nl, &sp, lab, &in, &err) == CT_OK, "%s", err.msg);
            CHECK(ct_segment(m32, px.data, H, W, tf.data, n, nl, &sp, lab32, NULL, &err) == CT_OK, "%s", err.msg);
            if (in.img_tokens) {
                double dt = max_abs_diff(in.img_tokens, tok.data, tok.numel);
                size_t same = 0;
                for (int i = 0; i < H * W; i++) same += lab[i] == lab32[i];
                double a = (double)same / (H * W);
                printf("  bf16 %s/%s: img_tokens max|d| %.2e, labels agree with fp32 on %.4f\n", fx[f].name, rn, dt, a);
                worst_tok = dt > worst_tok ? dt : worst_tok;
                worst_agree = a < worst_agree ? a : worst_agree;
            }
            ct_intermediates_free(&in);
            free(lab); free(lab32);
            npy_free(&px); npy_free(&tok); npy_free(&tf);
        }
        ct_model_free(m);
        ct_model_free(m32);
        ct_json_free(fx[f].meta);
    }
    printf("  bf16 worst: img_tokens %.2e, label agreement %.4f\n", worst_tok, worst_agree);
    /* 0.05: bf16 keeps 8 significant bits (relative 4e-3 per operand) through 12 blocks */
    CHECK(worst_tok < 0.05, "bf16 token error %g", worst_tok);
    CHECK(worst_agree >= 0.999, "bf16 labels agree with fp32 on only %.4f of the pixels (>= 0.999 promised)", worst_agree);
}

int main(void) {
    ct_error err;
    if (ct_runtime_new(3, &g_rt, &err)) { printf("runtime: %s\n", err.msg); return 1; }
    RUN(shapes_against_reference);
    RUN(gelu_epilogue_every_kernel);
    RUN(packed_weights);
    RUN(gram_is_the_full_product);
    RUN(thread_count_does_not_matter);
    RUN(parity_through_each_kernel);
    RUN(mapped_weights_through_three_uses);
    RUN(nan_weight_is_reported);
    RUN(bf16_accuracy);
    ct_runtime_free(g_rt);
    DONE();
}
