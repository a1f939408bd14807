/* The GEMM kernels: the AVX-512 kernel against a double-precision reference on every shape class
 * (edges of the 14 x 32 tile, depths across the 256 slice, transposes, strides, alpha/beta),
 * identical results for any thread count, and model parity through each kernel (CT_KERNEL).
 * Tolerance: fp32 sums of K products of values in [-1, 1] have rounding error ~K * 6e-8; we
 * allow 1e-5 * K relative to the magnitude, far below any indexing or packing mistake (O(1)). */
#include "fixtures.h"
#include "gemm.h"
#include "ops.h"

static float rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f;
}

static float round_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x = ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16) << 16;
    memcpy(&f, &x, 4);
    return f;
}

static int bf16_mode;

/* Against a double-precision reference; in bf16 mode the reference multiplies the operands rounded
 * to bfloat16 exactly as the kernel does, so the same tight bound checks its indexing and sums. */
static void shapes_against_reference(void) {
    if (!ct_gemm_avx512_available()) SKIP("no AVX-512F on this CPU: the kernel is not used");
    if (bf16_mode && !ct_gemm_bf16_available()) SKIP("no AVX512_BF16 on this CPU");
    int saved = ct_gemm_kernel();
    ct_gemm_set_kernel(bf16_mode ? CT_GEMM_BF16 : CT_GEMM_AVX512);
    int dims[] = {1, 13, 14, 15, 31, 32, 33, 100, 197};
    int ks[] = {1, 7, 64, 255, 256, 257, 600};
    unsigned s = 1;
    int cases = 0, bad = 0;
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 9; b += 2)
            for (int c = 0; c < 7; c++)
                for (int t = 0; t < 4; t++) {
                    int M = dims[a], N = dims[(b + a) % 9], K = ks[c], tA = t & 1, tB = t >> 1;
                    int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
                    float *A = malloc(sizeof(float) * (size_t)(tA ? K : M) * lda), *B = malloc(sizeof(float) * (size_t)(tB ? N : K) * ldb);
                    float *C = malloc(sizeof(float) * (size_t)M * ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc);
                    for (int i = 0; i < (tA ? K : M) * lda; i++) A[i] = rnd(&s);
                    for (int i = 0; i < (tB ? N : K) * ldb; i++) B[i] = rnd(&s);
                    for (int i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd(&s);
                    float alpha = t == 3 ? 0.5f : 1.f, beta = (c % 2) ? 1.f : (c == 4 ? -0.5f : 0.f);
                    CHECK(ct_gemm_avx512(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 2), "kernel refused");
                    double worst = 0;
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < ldc; j++) {
                            double ref;
                            if (j >= N) ref = C0[i * ldc + j]; /* padding columns untouched */
                            else {
                                double acc = 0;
                                for (int k = 0; k < K; k++) {
                                    float x = tA ? A[k * lda + i] : A[i * lda + k], y = tB ? B[j * ldb + k] : B[k * ldb + j];
                                    if (bf16_mode) { x = round_bf16(x); y = round_bf16(y); }
                                    acc += (double)x * y;
                                }
                                ref = alpha * acc + (beta != 0.f ? beta * C0[i * ldc + j] : 0.0);
                            }
                            double d = fabs(ref - C[i * ldc + j]);
                            worst = d > worst ? d : worst;
                        }
                    if (worst > 1e-5 * K + 1e-6 && bad++ < 5) printf("  M=%d N=%d K=%d tA=%d tB=%d: max|d| %g\n", M, N, K, tA, tB, worst);
                    cases++;
                    free(A); free(B); free(C); free(C0);
                }
    CHECK(bad == 0, "%d of %d shapes off", bad, cases);
    printf("  %d shapes checked (%s)\n", cases, ct_gemm_kernel_name(ct_gemm_kernel()));
    ct_gemm_set_kernel(saved);
}

static void thread_count_does_not_matter(void) {
    if (!ct_gemm_avx512_available()) SKIP("no AVX-512F");
    int M = 197, N = 2304, K = 768;
    unsigned s = 3;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C1 = malloc(sizeof(float) * M * N), *C3 = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = rnd(&s);
    for (int i = 0; i < N * K; i++) B[i] = rnd(&s);
    ct_gemm_avx512(0, 1, M, N, K, 1.f, A, K, B, K, 0.f, C1, N, 1);
    ct_gemm_avx512(0, 1, M, N, K, 1.f, A, K, B, K, 0.f, C3, N, 3);
    CHECK(!memcmp(C1, C3, sizeof(float) * M * N), "1 and 3 threads differ");
    free(A); free(B); free(C1); free(C3);
}

static void bf16_shapes(void) {
    bf16_mode = 1;
    shapes_against_reference();
    bf16_mode = 0;
}

/* The opt-in bf16 kernel is not within the fp32 oracle bound: its accuracy is measured and
 * stated (docs/performance.md) and bounded loosely here so that a regression shows. */
static void bf16_accuracy(void) {
    if (!ct_gemm_bf16_available()) SKIP("no AVX512_BF16 on this CPU");
    fixture fx[16];
    int nfx = find_fixtures(fx, 16);
    if (!nfx) SKIP("no fixtures under %s", oracle_dir());
    int saved = ct_gemm_kernel();
    ct_gemm_set_kernel(CT_GEMM_BF16);
    double worst_tok = 0, worst_agree = 1;
    for (int f = 0; f < nfx; f++) {
        ct_model *m = load_fixture_model(&fx[f]);
        const ct_json *runs = ct_json_get(fx[f].meta, "runs");
        for (size_t r = 0; m && runs && r < runs->n; r++) {
            const char *rn = ct_json_get(&runs->items[r], "name")->str;
            ct_npy px = {0}, tok = {0}, tf = {0}, pred = {0};
            if (!load_npy(fx[f].dir, rn, "pixels", &px) || !load_npy(fx[f].dir, rn, "img_tokens", &tok) ||
                !load_npy(fx[f].dir, rn, "text_features", &tf) || !load_npy(fx[f].dir, rn, "pred", &pred)) continue;
            int H = (int)px.shape[1], W = (int)px.shape[2], n = (int)tf.shape[0];
            int32_t *lab = malloc(sizeof(int32_t) * H * W);
            ct_intermediates in = {0};
            ct_error err;
            const ct_json *run = &runs->items[r];
            ct_segment_params sp;
            ct_segment_params_default(&sp);
            sp.eps = (float)jnum(run, "eps", 0);
            sp.min_samples = (int)jnum(run, "min_samples", 0);
            const ct_json *cr = ct_json_get(run, "cls_reweight");
            sp.cls_reweight = cr && cr->boolean;
            int nc = (int)ct_json_get(run, "classes")->n;
            int32_t nl[64];
            for (int i = 0; i < n; i++) nl[i] = i < nc ? i : nc;
            CHECK(ct_segment(m, px.data, H, W, tf.data, n, nl, &sp, lab, &in, &err) == CT_OK, "%s", err.msg);
            if (in.img_tokens) {
                double dt = max_abs_diff(in.img_tokens, tok.data, tok.numel);
                size_t same = 0;
                for (int i = 0; i < H * W; i++) same += lab[i] == ((int32_t *)pred.data)[i];
                double a = (double)same / (H * W);
                printf("  bf16 %s/%s: img_tokens max|d| %.2e, pred agreement %.4f\n", fx[f].name, rn, dt, a);
                worst_tok = dt > worst_tok ? dt : worst_tok;
                worst_agree = a < worst_agree ? a : worst_agree;
            }
            ct_intermediates_free(&in);
            free(lab);
            ct_npy_free(&px); ct_npy_free(&tok); ct_npy_free(&tf); ct_npy_free(&pred);
        }
        ct_model_free(m);
        ct_json_free(fx[f].meta);
    }
    ct_gemm_set_kernel(saved);
    CHECK(worst_tok < 0.05, "bf16 token error %g", worst_tok);
    printf("  bf16 worst: img_tokens %.2e, label agreement %.4f\n", worst_tok, worst_agree);
}

static void parity_through_each_kernel(void) {
    char p[700];
    FMT(p, "%s/small_f16_hf/model.safetensors", oracle_dir());
    if (!file_exists(p)) SKIP("small_f16_hf fixture not found under %s", oracle_dir());
    ct_model *m;
    ct_error err;
    if (ct_model_load(p, &m, &err)) { CHECK(0, "%s", err.msg); return; }
    char d[700];
    FMT(d, "%s/small_f16_hf", oracle_dir());
    ct_npy px = {0}, tok = {0};
    if (load_npy(d, "rect224x320", "pixels", &px) && load_npy(d, "rect224x320", "img_tokens", &tok)) {
        int saved = ct_gemm_kernel();
        for (int k = 0; k < 2; k++) {
            if (k == CT_GEMM_AVX512 && !ct_gemm_avx512_available()) continue;
            ct_gemm_set_kernel(k);
            float *t = malloc(sizeof(float) * tok.numel);
            ct_image_features f = {NULL, t, NULL};
            CHECK(ct_encode_image(m, px.data, 224, 320, 0, &f, &err) == CT_OK, "%s", err.msg);
            double dd = max_abs_diff(t, tok.data, tok.numel);
            printf("  %s: img_tokens max|d| %.2e\n", ct_gemm_kernel_name(k), dd);
            CHECK(dd <= 1e-4, "%s: %g", ct_gemm_kernel_name(k), dd);
            free(t);
        }
        ct_gemm_set_kernel(saved);
    }
    ct_npy_free(&px);
    ct_npy_free(&tok);
    ct_model_free(m);
}

int main(void) {
    RUN(shapes_against_reference);
    RUN(bf16_shapes);
    RUN(bf16_accuracy);
    RUN(thread_count_does_not_matter);
    RUN(parity_through_each_kernel);
    DONE();
}
