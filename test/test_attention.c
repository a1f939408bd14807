/* The fused attention against a double-precision computation and against the unfused fp32
 * reference (scores through the GEMM, a softmax pass), on random q, k, v: every spec the heads
 * use (q k^T, q q^T, k k^T with NACLIP's prior, the Gram sums of two and three streams, causal),
 * sequence lengths on and off the 8-key panel and 48-query block edges, batches of several
 * sequences, query ranges, head widths 64, 80 and 104 (OpenAI's, open_clip's ViT-H/14 and
 * ViT-bigG/14); nothing written outside the query rows; identical results for 1 and 3 threads.
 * Tolerance: an output is a sum over ns streams of convex combinations of v values in [-2, 2];
 * fp32 rounding of the scores (64 products), exp and the sums gives errors of a few 1e-7
 * relative per stream, so the fused path must be within 1e-5 of the double result and not worse
 * than 1.5x the unfused fp32 path's own error (plus 1e-6): an indexing or masking mistake is
 * O(0.1). */
#include "harness.h"
#include "core/runtime.h"
#include "nn/attention.h"
#include "nn/attention_fused.h"

static float rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.f - 1.f;
}

static ct_runtime *g_rt;

/* the fused kernel wherever it applies, whatever this CPU's selection table prefers (on Intel
 * ct_attention takes the unfused path), as ct_attention dispatches otherwise */
static int attention_fused_first(const ct_nn *nn, const ct_attn_spec *sp, const float *qkv, int B, int T, int W, int heads, int q0, int q1,
                                 float *att) {
    if (ct_attention_fused_ok(nn, sp, W, heads) && (sp->n_streams == 1 || (q0 == 0 && q1 == T)))
        return ct_attention_fused(nn, sp, qkv, B, T, W, heads, q0, q1, att);
    return ct_attention(nn, sp, qkv, B, T, W, heads, q0, q1, att);
}

static ct_nn nn_for(int threads) {
    ct_nn nn;
    memset(&nn, 0, sizeof nn);
    nn.ex = ct_exec_for(g_rt, threads);
    nn.kernel = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE);
    return nn;
}

/* one output row (query t, head h) of the spec in double precision */
static void exact_row(const ct_attn_spec *sp, const float *qkv, int T, int W, int hd, int h, int t, double *out) {
    double scale = 1.0 / sqrt((double)hd);
    for (int c = 0; c < hd; c++) out[c] = 0;
    double *p = malloc(sizeof(double) * (size_t)T);
    for (int s = 0; s < sp->n_streams; s++) {
        const float *x = qkv + (size_t)t * 3 * W + (size_t)sp->x[s] * W + (size_t)h * hd;
        double mx = -INFINITY;
        int n = sp->causal ? t + 1 : T;
        for (int j = 0; j < n; j++) {
            const float *y = qkv + (size_t)j * 3 * W + (size_t)sp->y[s] * W + (size_t)h * hd;
            double d = 0;
            for (int c = 0; c < hd; c++) d += (double)x[c] * y[c];
            p[j] = d * scale + (sp->gauss_sigma > 0 ? (double)ct_gauss_prior(sp, t, j) : 0.0);
            if (p[j] > mx) mx = p[j];
        }
        double sum = 0;
        for (int j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
        for (int j = 0; j < n; j++) {
            const float *v = qkv + (size_t)j * 3 * W + 2 * (size_t)W + (size_t)h * hd;
            for (int c = 0; c < hd; c++) out[c] += p[j] / sum * v[c];
        }
    }
    free(p);
}

static void fused_equals_reference(void) {
    ct_nn nn = nn_for(2);
    ct_attn_spec specs[] = {
        {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}},
        {.n_streams = 1, .x = {CT_Q}, .y = {CT_Q}},
        {.n_streams = 1, .x = {CT_K}, .y = {CT_K}, .gauss_sigma = 5.f},
        {.n_streams = 2, .x = {CT_Q, CT_K}, .y = {CT_Q, CT_K}},
        {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}},
        {.n_streams = 1, .x = {CT_Q}, .y = {CT_K}, .causal = 1},
    };
    const char *names[] = {"qk", "qq", "kk+G", "qq+kk", "qq+kk+vv", "causal"};
    int Ts[] = {1, 2, 8, 9, 47, 48, 49, 130, 197};
    int checked = 0;
    double max_seen = 0;
    if (!ct_attention_fused_ok(&nn, &specs[0], 128, 2)) SKIP("the fused kernel needs AVX-512 (this CPU: reference path only)");
    static const int hds[] = {64, 80, 104};
    for (int hi = 0; hi < 3; hi++)
    for (int si = 0; si < 6; si++)
        for (int ti = 0; ti < 9; ti++)
            for (int B = 1; B <= 2; B++) {
                int heads = 2, hd = hds[hi], W = heads * hd, T = Ts[ti];
                CHECK(ct_attention_fused_ok(&nn, &specs[si], W, heads), "head width %d: the fused kernel applies", hd);
                ct_attn_spec sp = specs[si];
                if (sp.gauss_sigma > 0) { /* a grid after the CLS token: T - 1 = h * w */
                    if (T < 2) continue;
                    sp.grid_h = 1;
                    sp.grid_w = T - 1;
                    if ((T - 1) % 4 == 0) { sp.grid_h = 4; sp.grid_w = (T - 1) / 4; }
                }
                size_t n = (size_t)B * T * 3 * W;
                float *qkv = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * B * T * W), *r = malloc(sizeof(float) * B * T * W);
                unsigned s = 7u + (unsigned)(si * 100 + ti * 10 + B);
                for (size_t i = 0; i < n; i++) qkv[i] = rnd(&s) * 2.f; /* scores of a few units: peaked softmaxes */
                for (int rng = 0; rng < 2; rng++) {
                    int q0 = rng ? T / 3 : 0, q1 = rng ? T - T / 4 : T;
                    if (q1 <= q0) continue;
                    for (size_t i = 0; i < (size_t)B * T * W; i++) a[i] = r[i] = -7.f;
                    CHECK(attention_fused_first(&nn, &sp, qkv, B, T, W, heads, q0, q1, a), "fused refused");
                    CHECK(ct_attention_reference(&nn, &sp, qkv, B, T, W, heads, q0, q1, r), "reference refused");
                    double worst = 0, worst_ref = 0;
                    int outside = 0;
                    for (int b = 0; b < B; b++)
                        for (int t = 0; t < T; t++) {
                            if (t < q0 || t >= q1) {
                                for (int c = 0; c < W; c++) outside += a[((size_t)b * T + t) * W + c] != -7.f;
                                continue;
                            }
                            for (int h = 0; h < heads; h++) {
                                double ex[104];
                                exact_row(&sp, qkv + (size_t)b * T * 3 * W, T, W, hd, h, t, ex);
                                for (int c = 0; c < hd; c++) {
                                    size_t i = ((size_t)b * T + t) * W + (size_t)h * hd + c;
                                    double d = fabs(a[i] - ex[c]), dr = fabs(r[i] - ex[c]);
                                    if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
                                    if (dr > worst_ref) worst_ref = dr;
                                }
                            }
                        }
                    CHECK(worst <= 1e-5 && worst <= 1.5 * worst_ref + 1e-6, "%s hd=%d T=%d B=%d rows [%d, %d): max|d| %g (unfused: %g)", names[si],
                          hd, T, B, q0, q1, worst, worst_ref);
                    CHECK(outside == 0, "%s T=%d: %d values written outside the query rows", names[si], T, outside);
                    if (worst > max_seen) max_seen = worst;
                    checked++;
                }
                free(qkv); free(a); free(r);
            }
    printf("  %d cases, worst |fused - exact| %.2e\n", checked, max_seen);
}

/* The bf16 precision's attention (products on bfloat16 pairs, sums in fp32) against a double
 * computation on the same bf16-rounded q, k, v. Inputs in [-0.5, 0.5] keep scores within +-2, so
 * the remaining rounding (the probabilities rounded to bf16 before P V: 2^-9 relative) bounds the
 * error by about 2^-9 * |v| * streams ~ 3e-3; 6e-3 leaves room, and a layout mistake is O(0.1). */
static void bf16_against_rounded_reference(void) {
    ct_nn nn = nn_for(2);
    nn.kernel = ct_kernel_choose(CT_PRECISION_BF16, CT_BACKEND_NATIVE); /* the bf16 fused kernels pair with every bf16 kernel */
    if (nn.kernel == CT_KERNEL_NONE) SKIP("no bf16 kernel on this CPU (AVX512_BF16 or AMX)");
    ct_attn_spec specs[] = {{.n_streams = 1, .x = {CT_Q}, .y = {CT_K}}, {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}},
                            {.n_streams = 1, .x = {CT_K}, .y = {CT_K}, .gauss_sigma = 5.f, .grid_h = 12, .grid_w = 16}};
    int Ts[] = {9, 50, 193};
    double worst = 0;
    /* head widths 80 and 104 (not multiples of 32: the packing's last columns are masked) */
    static const int hds[] = {64, 80, 104};
    for (int hi = 0; hi < 3; hi++)
    for (int si = 0; si < 3; si++)
        for (int ti = 0; ti < 3; ti++) {
            int T = si == 2 ? 193 : Ts[ti], heads = 2, hd = hds[hi], W = heads * hd;
            CHECK(ct_attention_fused_ok(&nn, &specs[si], W, heads), "hd %d: the fused bf16 kernel applies", hd);
            float *qkv = malloc(sizeof(float) * (size_t)T * 3 * W), *a = malloc(sizeof(float) * (size_t)T * W);
            unsigned s = 17u + (unsigned)(si * 10 + ti);
            for (size_t i = 0; i < (size_t)T * 3 * W; i++) qkv[i] = rnd(&s) * 0.5f;
            CHECK(attention_fused_first(&nn, &specs[si], qkv, 1, T, W, heads, 0, T, a), "ran");
            for (size_t i = 0; i < (size_t)T * 3 * W; i++) qkv[i] = t_round_bf16(qkv[i]);
            for (int t = 0; t < T; t++)
                for (int h = 0; h < heads; h++) {
                    double ex[104];
                    exact_row(&specs[si], qkv, T, W, hd, h, t, ex);
                    for (int c = 0; c < hd; c++) {
                        double d = fabs(a[(size_t)t * W + (size_t)h * hd + c] - ex[c]);
                        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
                    }
                }
            free(qkv);
            free(a);
        }
    printf("  bf16: worst |fused - exact on rounded inputs| %.2e\n", worst);
    CHECK(worst <= 6e-3, "bf16 attention off by %g", worst);
}

static void threads_do_not_matter(void) {
    ct_nn n1 = nn_for(1), n3 = nn_for(3);
    ct_attn_spec specs[] = {{.n_streams = 1, .x = {CT_Q}, .y = {CT_K}}, {.n_streams = 3, .x = {CT_Q, CT_K, CT_V}, .y = {CT_Q, CT_K, CT_V}}};
    int T = 197, W = 256, heads = 4, B = 2;
    size_t n = (size_t)B * T * 3 * W;
    float *qkv = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * B * T * W), *b = malloc(sizeof(float) * B * T * W);
    unsigned s = 3;
    for (size_t i = 0; i < n; i++) qkv[i] = rnd(&s);
    for (int k = 0; k < 2; k++) {
        CHECK(attention_fused_first(&n1, &specs[k], qkv, B, T, W, heads, 0, T, a) && attention_fused_first(&n3, &specs[k], qkv, B, T, W, heads, 0, T, b), "ran");
        CHECK(!memcmp(a, b, sizeof(float) * B * T * W), "spec %d: 1 and 3 threads differ", k);
    }
    /* the Gram sums' two variants (symmetric tiles for few threads per head, row by row for many)
     * give the same bits */
    for (int ns = 2; ns <= 3; ns++)
        for (int t = 0; t < 2; t++) {
            int Tt = t ? 145 : T; /* a partial last block, and the ViT-B/16 length */
            ct_attn_spec sym = specs[1], rows = specs[1];
            sym.n_streams = rows.n_streams = ns;
            sym.gram_variant = 1;
            rows.gram_variant = 2;
            CHECK(attention_fused_first(&n3, &sym, qkv, B, Tt, W, heads, 0, Tt, a) && attention_fused_first(&n3, &rows, qkv, B, Tt, W, heads, 0, Tt, b), "ran");
            CHECK(!memcmp(a, b, sizeof(float) * B * Tt * W), "%d streams, T=%d: symmetric and row-by-row variants differ", ns, Tt);
        }
    free(qkv); free(a); free(b);
}

int main(void) {
    ct_error err;
    if (ct_runtime_new(3, &g_rt, &err)) { printf("runtime: %s\n", err.msg); return 1; }
    RUN(fused_equals_reference);
    RUN(bf16_against_rounded_reference);
    RUN(threads_do_not_matter);
    ct_runtime_free(g_rt);
    DONE();
}
