/* SC-CLIP (Bai et al. 2024, "Self-Calibrated CLIP for Training-Free Open-Vocabulary
 * Segmentation"; SuleBai/SC-CLIP), exact to the reference's code as
 * ../shared/oracle/heads_scclip/README.md states it (docs/heads.md). Per window of n = h w
 * patches, with F[i] the output of block i+1 (CLS row first) and L the depth:
 *   1. LOF (the reference's lof_pytorch, k = 30, contamination 0.05) on the patch rows P of
 *      F[L-2]: squared distances, kd_i = the k-th distance to another patch, LOF_i = mean over
 *      the k nearest j of kd_i / kd_j; outliers: LOF_i above the 0.95 quantile (linear).
 *   2. Rep(Y): each outlier with non-outlier 8-neighbours becomes their mean (row = i / w,
 *      column = i % w: right on any grid; the reference only on square grids).
 *   3. S = G G^T, G = norm(Rep(F[pre] patches)); A_sim = softmax(3 (S - mean S)), entries < 0
 *      masked; x = Agg(Rep(P), S_beta), Agg(Y, A) = diag(1 / (rowsum A + 1e-6)) A Y.
 *   4. SCAttn(Y) = out_proj(((A_sim + softmax(s K K^T)) / 2) V) with the last block's ln_1 and
 *      attention weights (no residual, no MLP); main = SCAttn(x) + res_cls cls(F[L-2]).
 *   5. T = norm(F[post] patches) norm(...)^T, T_beta; Sigma = F[start] + ... + F[end-1];
 *      multi = SCAttn(Sigma patches) + res_cls cls(Sigma); out = Agg(main + multi, T_beta)
 *      (Agg is linear: the sum of the reference's two aggregations).
 * The rows of out are the head's patch tokens (no CLS row: tokens_cls 0). */
#include "heads/head.h"

#include "core/arena.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOF_K 30
#define LOF_CONTAMINATION 0.05

/* The reference's presets by depth (docs/heads.md): ViT-B/16 (12 blocks, configs/base_config.py)
 * and ViT-L/14 (24 blocks, the first release's commented block). */
static const struct {
    int depth, layers[4];
    float res_cls;
} k_presets[] = {{12, {8, 3, 3, 10}, 0.3f}, {24, {16, 6, 8, 19}, 0.1f}};

/* The resolved layers and res_cls; 0 when the depth has no preset for what is left unset. */
static int resolve(const ct_segment_params *p, int depth, int lay[4], float *res_cls) {
    int unset = !p->sc_layers[0] && !p->sc_layers[1] && !p->sc_layers[2] && !p->sc_layers[3];
    const int *pl = NULL;
    float pr = 0.f;
    for (size_t i = 0; i < sizeof k_presets / sizeof *k_presets; i++)
        if (k_presets[i].depth == depth) { pl = k_presets[i].layers; pr = k_presets[i].res_cls; }
    if ((unset || p->sc_res_cls < 0) && !pl) return 0;
    memcpy(lay, unset ? pl : p->sc_layers, sizeof(int) * 4);
    *res_cls = p->sc_res_cls < 0 ? pr : p->sc_res_cls;
    return 1;
}

static void preset(ct_segment_params *p) {
    /* SCLIP-style segmentor defaults of SC-CLIP: logit scale 40, window 224 / stride 112, no
     * PAMR; the layers and res_cls by the model's depth (sc_layers all 0, sc_res_cls < 0) */
    p->logit_scale = 40.f; p->slide_crop = 224; p->slide_stride = 112;
}

static ct_status check(const ct_segment_params *p, const ct_config *c, int wh, int ww, ct_error *err) {
    int L = c->vision_layers, lay[4];
    float res;
    if (!isfinite(p->sc_res_cls) || !isfinite(p->sc_beta))
        return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP's res_cls and beta must be finite numbers");
    if (!resolve(p, L, lay, &res))
        return ct_fail(err, CT_ERR_INVALID_ARG,
                       "SC-CLIP publishes presets for 12-block (ViT-B/16) and 24-block (ViT-L/14) towers; this model has %d blocks: "
                       "give its layers and res_cls (--sc-layers PRE,POST,START,END --res-cls R)", L);
    if (lay[0] < 0 || lay[0] > L - 2 || lay[1] < 0 || lay[1] > L - 2)
        return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP layers PRE %d and POST %d must be in [0, %d] (block outputs before the last)",
                       lay[0], lay[1], L - 2);
    if (lay[2] < 0 || lay[2] >= lay[3] || lay[3] > L - 1)
        return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP layers START %d and END %d must satisfy 0 <= START < END <= %d", lay[2], lay[3],
                       L - 1);
    if (res < 0 || res > 1e6f) return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP res_cls %g outside [0, 1e6]", (double)res);
    if (p->sc_beta < -1.f || p->sc_beta > 1.f) return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP beta %g outside [-1, 1] (a cosine)", (double)p->sc_beta);
    int64_t n = (int64_t)(wh / c->patch) * (ww / c->patch);
    if (n < LOF_K + 1)
        return ct_fail(err, CT_ERR_INVALID_ARG, "SC-CLIP's outlier detection needs at least %d patches per window (%d nearest neighbours); a %d x %d window has %lld",
                       LOF_K + 1, LOF_K, wh, ww, (long long)n);
    return CT_OK;
}

static void keep(const ct_segment_params *p, const ct_config *c, unsigned char *kp) {
    int lay[4];
    float res;
    if (!resolve(p, c->vision_layers, lay, &res)) return;
    kp[lay[0]] = kp[lay[1]] = 1;
    for (int i = lay[2]; i < lay[3]; i++) kp[i] = 1;
}

/* ---- the workspace */

typedef struct {
    size_t asim, tb, s, xs, sg, av, cls, scls, tmp, kd, score, nbr, mask;
} layout;

static ct_arena lay_out(int B, int n, int C, layout *o) {
    ct_arena a = {0};
    size_t nn = (size_t)n * n, nc = (size_t)n * C;
    o->asim = ct_arena_add_floats(&a, (size_t)B * nn); /* A_sim of each window */
    o->tb = ct_arena_add_floats(&a, (size_t)B * nn);   /* T_beta, rows normalised, of each window */
    o->s = ct_arena_add_floats(&a, nn);                /* S (one window at a time) */
    o->xs = ct_arena_add_floats(&a, (size_t)B * nc);   /* x, then main */
    o->sg = ct_arena_add_floats(&a, (size_t)B * nc);   /* Sigma's patch rows, then multi */
    o->av = ct_arena_add_floats(&a, (size_t)B * nc);   /* A_sim V */
    o->cls = ct_arena_add_floats(&a, (size_t)B * C);   /* the CLS row of F[L-2] */
    o->scls = ct_arena_add_floats(&a, (size_t)B * C);  /* Sigma's CLS row */
    o->tmp = ct_arena_add_floats(&a, 2 * nc);          /* Rep / normalised rows */
    o->kd = ct_arena_add(&a, sizeof(double) * (size_t)n);
    o->score = ct_arena_add(&a, sizeof(double) * 2 * (size_t)n);
    o->nbr = ct_arena_add(&a, sizeof(int) * (size_t)n * LOF_K);
    o->mask = ct_arena_add(&a, sizeof(int32_t) * (size_t)n);
    return a;
}

static ct_nn fp32_of(ct_nn nn) {
    nn.kernel = ct_kernel_fp32(nn.kernel);
    return nn;
}

static size_t gemm_need(ct_kernel k, int B, int n, int C, int heads, int nth) {
    static const ct_attn_spec kk = {.n_streams = 1, .x = {CT_K}, .y = {CT_K}};
    ct_nn nn = {0};
    nn.kernel = k;
    nn.ex.nth = nth < 1 ? 1 : nth;
    size_t g = ct_gemm_workspace(k, n, n, C, 0), t;
    if ((t = ct_gemm_workspace(k, n, C, n, 0)) > g) g = t;
    if ((t = ct_attention_workspace(&nn, &kk, B, n, C, heads)) > g) g = t;
    return g;
}

static size_t workspace(const ct_head_shape *s, size_t *gemm) {
    const ct_config *c = &s->m->cfg;
    int n = s->h * s->w;
    ct_nn nn = {0};
    nn.kernel = s->m->kernel;
    size_t g = gemm_need(s->m->kernel, s->B, n, c->vision_width, c->vision_heads, s->nth);
    size_t g32 = gemm_need(fp32_of(nn).kernel, s->B, n, c->vision_width, c->vision_heads, s->nth);
    if (g32 > g) g = g32;
    if (g > *gemm) *gemm = g;
    layout lo;
    ct_arena a = lay_out(s->B, n, c->vision_width, &lo);
    return a.size;
}

/* ---- 1. LOF (lof_pytorch) */

typedef struct {
    const float *P; /* [n x C] (row stride ld) */
    int n, C, ld;
    double *kd;
    int *nbr;
} knn_job;

/* |a - b|^2 in double, each difference rounded once in float (as the reference's x_i - x_j): 8
 * independent sums (vectorised), then their total */
typedef float ct_v8f __attribute__((vector_size(32)));
typedef double ct_v8d __attribute__((vector_size(64)));

CT_VECTOR_CLONES static double sqdist(const float *a, const float *b, int C) {
    ct_v8d acc = {0};
    double s = 0;
    int e = 0;
    for (; e + 8 <= C; e += 8) {
        ct_v8f va, vb;
        memcpy(&va, a + e, sizeof va);
        memcpy(&vb, b + e, sizeof vb);
        ct_v8d d = __builtin_convertvector(va - vb, ct_v8d);
        acc += d * d;
    }
    for (; e < C; e++) {
        float df = a[e] - b[e];
        s += (double)df * df;
    }
    for (int u = 0; u < 8; u++) s += acc[u];
    return s;
}

/* rows [i0, i1): squared distances in double (each difference rounded once in float, as the
 * reference's x_i - x_j), the k nearest other patches (ascending, ties by index) and kd_i */
static void knn_rows(void *arg, int64_t i0, int64_t i1) {
    const knn_job *j = arg;
    int n = j->n, C = j->C;
    for (int64_t i = i0; i < i1; i++) {
        const float *a = j->P + (size_t)i * j->ld;
        double best[LOF_K];
        int bi[LOF_K], cnt = 0;
        for (int t = 0; t < n; t++) {
            if (t == i) continue;
            const float *b = j->P + (size_t)t * j->ld;
            double s = sqdist(a, b, C);
            if (cnt == LOF_K && s >= best[LOF_K - 1]) continue;
            int pos = cnt < LOF_K ? cnt++ : LOF_K - 1;
            while (pos > 0 && best[pos - 1] > s) {
                best[pos] = best[pos - 1];
                bi[pos] = bi[pos - 1];
                pos--;
            }
            best[pos] = s;
            bi[pos] = t;
        }
        j->kd[i] = best[LOF_K - 1];
        memcpy(j->nbr + (size_t)i * LOF_K, bi, sizeof bi);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* mask[i] = 1 for the outliers of P [n x C] (n > LOF_K) */
static void lof_outliers(const ct_exec *ex, const float *P, int n, int C, int ld, double *kd, int *nbr, double *score, int32_t *mask) {
    knn_job j = {P, n, C, ld, kd, nbr};
    ct_parallel_for(ex, n, 8, knn_rows, &j);
    double *sorted = score + n;
    for (int i = 0; i < n; i++) {
        /* LRD_i = k / kd_i; LOF_i = mean over the neighbours of LRD_j / LRD_i = mean kd_i / kd_j */
        double s = 0;
        for (int t = 0; t < LOF_K; t++) {
            double kj = kd[nbr[(size_t)i * LOF_K + t]];
            s += kj > 0 ? kd[i] / kj : (kd[i] > 0 ? INFINITY : 1.0);
        }
        score[i] = s / LOF_K;
        sorted[i] = score[i];
    }
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    /* torch.quantile(scores, 1 - c), linear interpolation */
    double q = (1.0 - LOF_CONTAMINATION) * (n - 1);
    int f = (int)floor(q);
    double t = f + 1 < n ? sorted[f] + (q - f) * (sorted[f + 1] - sorted[f]) : sorted[f];
    for (int i = 0; i < n; i++) mask[i] = score[i] > t;
}

/* ---- 2. Rep: outliers with non-outlier 8-neighbours become their mean */

static void repair(const float *Y, int ldy, int h, int w, int C, const int32_t *mask, float *out) {
    for (int i = 0; i < h * w; i++) {
        const float *y = Y + (size_t)i * ldy;
        float *o = out + (size_t)i * C;
        memcpy(o, y, sizeof(float) * (size_t)C);
        if (!mask[i]) continue;
        int r = i / w, c = i % w, cnt = 0;
        for (int e = 0; e < C; e++) o[e] = 0.f;
        for (int dr = -1; dr <= 1; dr++)
            for (int dc = -1; dc <= 1; dc++) {
                int rr = r + dr, cc = c + dc;
                if ((!dr && !dc) || rr < 0 || rr >= h || cc < 0 || cc >= w || mask[rr * w + cc]) continue;
                const float *nb = Y + (size_t)(rr * w + cc) * ldy;
                for (int e = 0; e < C; e++) o[e] += nb[e];
                cnt++;
            }
        if (cnt)
            for (int e = 0; e < C; e++) o[e] /= (float)cnt;
        else
            memcpy(o, y, sizeof(float) * (size_t)C);
    }
}

/* rows of X [n x C] (row stride ld) -> unit rows in out [n x C] (the reference divides by the
 * norm, no eps) */
static void unit_rows(const float *X, int ld, int n, int C, float *out) {
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * C, X + (size_t)i * ld, sizeof(float) * (size_t)C);
    ct_l2norm_rows(n, C, out);
}

/* S [n x n] -> entries < beta set to 0, each row divided by its sum + 1e-6 (Agg's weights) */
static void beta_rows(float *S, int n, float beta) {
    for (int i = 0; i < n; i++) {
        float *r = S + (size_t)i * n;
        double sum = 0;
        for (int j = 0; j < n; j++) {
            if (r[j] < beta) r[j] = 0.f;
            sum += r[j];
        }
        float inv = (float)(sum + 1e-6);
        for (int j = 0; j < n; j++) r[j] /= inv;
    }
}

/* A_sim [n x n] = softmax over rows of 3 (S - mean S), entries < 0 masked */
static void sim_prior(const float *S, int n, float *A) {
    double mean = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) mean += S[i];
    mean /= (double)n * n;
    for (int i = 0; i < n; i++) {
        const float *s = S + (size_t)i * n;
        float *a = A + (size_t)i * n, mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            float m = (s[j] - (float)mean) * 3.f;
            a[j] = m < 0.f ? -INFINITY : m;
            if (a[j] > mx) mx = a[j];
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            a[j] = a[j] == -INFINITY ? 0.f : expf(a[j] - mx);
            sum += a[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < n; j++) a[j] *= inv;
    }
}

/* SCAttn of the B windows' n rows each in Y [B*n x C], in place, then + res_cls * cls[b] */
static int sc_attention(const ct_head_call *c, const float *asim, float *Y, const float *cls, float res_cls, float *av) {
    ct_tf *tf = c->tf;
    const ct_model *m = c->m;
    const ct_block *blk = &m->vblocks[m->cfg.vision_layers - 1];
    int B = c->B, n = c->h * c->w, C = c->D, Bn = B * n;
    static const ct_attn_spec kk = {.n_streams = 1, .x = {CT_K}, .y = {CT_K}};
    ct_layernorm_eps(&tf->nn.ex, Bn, C, Y, C, blk->ln1_w, blk->ln1_b, tf->xn, C, tf->eps);
    ct_epilogue eb = {1.f, 0.f, blk->qkv_b, CT_ACT_NONE}, e1 = {1.f, 0.f, NULL, CT_ACT_NONE};
    if (!tf->linear(tf->wctx, &tf->nn, Bn, tf->xn, C, &blk->qkv, &eb, tf->qkv, 3 * C)) return 0;
    if (!ct_attention(&tf->nn, &kk, tf->qkv, B, n, C, c->heads, 0, n, tf->att)) return 0;
    /* av [B*n x C]: A_sim V (A_sim is shared by the heads: one product per window) */
    for (int b = 0; b < B; b++)
        if (!ct_gemm(&tf->nn, 0, 0, n, C, n, asim + (size_t)b * n * n, n, tf->qkv + (size_t)b * n * 3 * C + 2 * C, 3 * C, &e1,
                     av + (size_t)b * n * C, C))
            return 0;
    for (size_t i = 0; i < (size_t)Bn * C; i++) tf->att[i] = (tf->att[i] + av[i]) * 0.5f;
    if (!ct_tf_out(tf, blk, tf->att, Bn, Y, 0)) return 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            float *y = Y + ((size_t)b * n + i) * C;
            const float *cr = cls + (size_t)b * C;
            for (int e = 0; e < C; e++) y[e] += res_cls * cr[e];
        }
    return 1;
}

static int last_block(const ct_head_call *c) {
    const ct_config *cfg = &c->m->cfg;
    int B = c->B, T = c->T, h = c->h, w = c->w, n = h * w, C = c->D, L = cfg->vision_layers, lay[4];
    float res_cls;
    if (!resolve(c->p, L, lay, &res_cls)) return 0;
    layout lo;
    lay_out(B, n, C, &lo);
    char *base = c->scratch;
    float *asim = (float *)(base + lo.asim), *tb = (float *)(base + lo.tb), *S = (float *)(base + lo.s);
    float *xs = (float *)(base + lo.xs), *sg = (float *)(base + lo.sg), *cls = (float *)(base + lo.cls);
    float *scls = (float *)(base + lo.scls), *tmp = (float *)(base + lo.tmp), *tmp2 = tmp + (size_t)n * C;
    int32_t *mask = (int32_t *)(base + lo.mask);
    ct_nn nn32 = fp32_of(c->tf->nn);
    ct_epilogue e1 = {1.f, 0.f, NULL, CT_ACT_NONE};
    float beta = c->p->sc_beta;
    for (int b = 0; b < B; b++) {
        size_t row0 = (size_t)b * T; /* the window's CLS row in x and the kept layers */
        const float *P = c->x + (row0 + 1) * C;
        /* 1. outliers of F[L-2]; 3. x = Rep(P), its CLS row */
        lof_outliers(&c->tf->nn.ex, P, n, C, C, (double *)(base + lo.kd), (int *)(base + lo.nbr), (double *)(base + lo.score), mask);
        if (c->patch_mask) memcpy(c->patch_mask + (size_t)b * n, mask, sizeof(int32_t) * (size_t)n);
        memcpy(cls + (size_t)b * C, c->x + row0 * C, sizeof(float) * (size_t)C);
        repair(P, C, h, w, C, mask, tmp2);
        /* 4. S of Rep(F[pre]); A_sim; x = Agg(x, S_beta) */
        repair(c->layers[lay[0]] + (row0 + 1) * C, C, h, w, C, mask, tmp);
        ct_l2norm_rows(n, C, tmp);
        if (!ct_gram(&nn32, n, C, tmp, C, 1.f, S, n)) return 0;
        sim_prior(S, n, asim + (size_t)b * n * n);
        beta_rows(S, n, beta);
        if (!ct_gemm(&nn32, 0, 0, n, C, n, S, n, tmp2, C, &e1, xs + (size_t)b * n * C, C)) return 0;
        /* 6. T of F[post], T_beta's weights */
        float *Tb = tb + (size_t)b * n * n;
        unit_rows(c->layers[lay[1]] + (row0 + 1) * C, C, n, C, tmp);
        if (!ct_gram(&nn32, n, C, tmp, C, 1.f, Tb, n)) return 0;
        beta_rows(Tb, n, beta);
        /* 7. Sigma = F[start] + ... + F[end-1], CLS row apart */
        float *sgb = sg + (size_t)b * n * C, *sc = scls + (size_t)b * C;
        memset(sc, 0, sizeof(float) * (size_t)C);
        memset(sgb, 0, sizeof(float) * (size_t)n * C);
        for (int l = lay[2]; l < lay[3]; l++) {
            const float *F = c->layers[l] + row0 * C;
            for (int e = 0; e < C; e++) sc[e] += F[e];
            for (size_t i = 0; i < (size_t)n * C; i++) sgb[i] += F[C + i];
        }
    }
    /* 5. main = SCAttn(x) + res_cls cls; multi = SCAttn(Sigma) + res_cls cls(Sigma) */
    float *av = (float *)(base + lo.av);
    if (!sc_attention(c, asim, xs, cls, res_cls, av) || !sc_attention(c, asim, sg, scls, res_cls, av)) return 0;
    /* 8. out = Agg(main + multi, T_beta), into the patch rows of x; the CLS row 0 */
    for (int b = 0; b < B; b++) {
        float *xb = xs + (size_t)b * n * C;
        const float *sb = sg + (size_t)b * n * C;
        for (size_t i = 0; i < (size_t)n * C; i++) xb[i] += sb[i];
        memset(c->x + (size_t)b * T * C, 0, sizeof(float) * (size_t)C);
        if (!ct_gemm(&nn32, 0, 0, n, C, n, tb + (size_t)b * n * n, n, xb, C, &e1, c->x + ((size_t)b * T + 1) * C, C)) return 0;
    }
    return 1;
}

const ct_head_desc ct_head_scclip = {
    .id = CT_HEAD_SCCLIP, .name = "scclip", .post = CT_POST_MMSEG, .own_qkv = 1, .tokens_cls = 0, .mask_name = "outliers",
    .preset = preset, .check = check, .keep = keep, .workspace = workspace, .last_block = last_block,
};
