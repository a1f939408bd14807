/* ProxyCLIP (Lan et al., ECCV 2024): the last CLIP block attends with a proxy backbone's
 * affinities, on the proxy's grid; no residual, no MLP (docs/heads.md; exact to mc-lan/ProxyCLIP,
 * ../shared/oracle/heads_proxyclip/README.md). For one window, with f the proxy's patch features
 * L2-normalised (max(|f|, 1e-12)) and v the last block's v resized bilinearly to the proxy grid:
 *   A = softmax_rows(gamma (f f^T - beta mean(f f^T))), entries < 0 -> -inf;
 *   tokens = L2(proj(ln_post(out_proj(A v)))).
 * The windows (padded to multiples of 56) and the two towers: seg/proxy.c.
 * Preset: ProxyCLIP's configs, logit scale 40, window 336 / stride 112, beta 1.2, gamma 3.0. */
#include "heads/head.h"

#include "nn/ops.h"

#include <math.h>
#include <string.h>

static void preset(ct_segment_params *p) {
    p->logit_scale = 40.f; p->slide_crop = 336; p->slide_stride = 112;
}

static ct_status check(const ct_segment_params *p, const ct_config *c, int wh, int ww, ct_error *err) {
    (void)c; (void)wh; (void)ww;
    const ct_model *px = p->proxy;
    if (!px)
        return ct_fail(err, CT_ERR_INVALID_ARG, "head proxyclip needs a proxy backbone (ct_segment_params.proxy: a DINO or DINOv2 model, "
                                                "--proxy-model)");
    if (px->cfg.arch == CT_ARCH_CLIP)
        return ct_fail(err, CT_ERR_INVALID_ARG, "the proxy of head proxyclip is a CLIP model: it must be a DINO or DINOv2 backbone");
    if (!(p->proxy_beta >= 0 && p->proxy_beta <= 100))
        return ct_fail(err, CT_ERR_INVALID_ARG, "proxy beta %g outside [0, 100]", (double)p->proxy_beta);
    if (!(p->proxy_gamma > 0 && p->proxy_gamma <= 1e4f))
        return ct_fail(err, CT_ERR_INVALID_ARG, "proxy gamma %g outside (0, 1e4]", (double)p->proxy_gamma);
    return CT_OK;
}

/* fn [n x dim], S [n x n], vt [nc x C], vr and o [n x C] */
static size_t scratch(const ct_model *m, int n, int nc, int dim) {
    size_t C = (size_t)m->cfg.vision_width, a = 16;
    return ((size_t)n * dim + a) + ((size_t)n * n + a) + ((size_t)nc * C + a) + 2 * ((size_t)n * C + a);
}

typedef struct {
    const float *f;
    float *fn;
    int dim;
} l2_job;

/* f / max(|f|, 1e-12), rows [r0, r1) */
static void l2_rows(void *arg, int64_t r0, int64_t r1) {
    const l2_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *s = j->f + (size_t)r * j->dim;
        float *d = j->fn + (size_t)r * j->dim;
        double ss = 0;
        for (int i = 0; i < j->dim; i++) ss += (double)s[i] * s[i];
        float nrm = (float)sqrt(ss);
        if (nrm < 1e-12f) nrm = 1e-12f;
        for (int i = 0; i < j->dim; i++) d[i] = s[i] / nrm;
    }
}

typedef struct {
    float *S;
    int n;
    float mb, gamma;
} mask_job;

/* rows [r0, r1) of S: gamma (S - beta mean), negatives to -inf, softmax */
static void mask_rows(void *arg, int64_t r0, int64_t r1) {
    const mask_job *j = arg;
    ct_exec one = ct_exec_serial();
    for (int64_t r = r0; r < r1; r++) {
        float *row = j->S + (size_t)r * j->n;
        for (int i = 0; i < j->n; i++) {
            float t = (row[i] - j->mb) * j->gamma;
            row[i] = t < 0.f ? -INFINITY : t;
        }
        ct_softmax_rows(&one, 1, j->n, row, j->n);
    }
}

static float *carve(float **at, size_t n) {
    float *p = *at;
    *at += (n + 15) & ~(size_t)15;
    return p;
}

static int block(const ct_head_proxy_call *c) {
    const ct_model *m = c->m;
    const int n = c->ph * c->pw, nc = c->h * c->w, C = m->cfg.vision_width, E = m->cfg.embed_dim, dim = c->dim;
    float *at = c->scratch;
    float *fn = carve(&at, (size_t)n * dim), *S = carve(&at, (size_t)n * n), *vt = carve(&at, (size_t)nc * C);
    float *vr = carve(&at, (size_t)n * C), *o = carve(&at, (size_t)n * C);
    /* the attention in fp32 whatever the model's precision: its mask compares with 0 */
    ct_nn nn32 = *c->nn;
    nn32.ws = NULL;
    nn32.ws_bytes = 0;
    nn32.kernel = ct_kernel_fp32(nn32.kernel);
    l2_job lj = {c->features, fn, dim};
    ct_parallel_for(&c->nn->ex, n, 64, l2_rows, &lj);
    if (!ct_gram(&nn32, n, dim, fn, dim, 1.f, S, n)) return 0;
    /* mean(S) = |sum_i f_i|^2 / n^2, in double */
    double sum = 0;
    for (int j = 0; j < dim; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += fn[(size_t)i * dim + j];
        sum += s * s;
    }
    float mean = (float)(sum / ((double)n * n));
    mask_job mj = {S, n, mean * c->p->proxy_beta, c->p->proxy_gamma};
    ct_parallel_for(&c->nn->ex, n, 16, mask_rows, &mj);
    /* v [h x w x C] -> [C x h x w] -> bilinear to [C x ph x pw]; o = A v~ */
    for (int i = 0; i < nc; i++)
        for (int ch = 0; ch < C; ch++) vt[(size_t)ch * nc + i] = c->v[(size_t)i * C + ch];
    if (!ct_bilinear(&c->nn->ex, C, c->h, c->w, vt, c->ph, c->pw, vr)) return 0;
    if (!ct_gemm(&nn32, 0, 1, n, C, n, S, n, vr, n, NULL, o, C)) return 0;
    /* out_proj (no residual, no MLP), ln_post, proj, L2 */
    const ct_block *last = &m->vblocks[m->cfg.vision_layers - 1];
    ct_epilogue eo = {1.f, 0.f, last->out_b, CT_ACT_NONE};
    if (!ct_model_linear(m, c->nn, n, o, C, &last->out, &eo, vr, C)) return 0;
    ct_layernorm_eps(&c->nn->ex, n, C, vr, C, m->ln_post_w, m->ln_post_b, o, C, m->cfg.vision_ln_eps);
    if (!ct_model_linear(m, c->nn, n, o, C, &m->vproj, NULL, c->tokens, E)) return 0;
    ct_l2norm_rows(n, E, c->tokens);
    return 1;
}

const ct_head_desc ct_head_proxyclip = {
    .id = CT_HEAD_PROXYCLIP, .name = "proxyclip", .post = CT_POST_MMSEG, .needs_proxy = 1,
    .preset = preset, .check = check, .proxy_scratch = scratch, .proxy_block = block,
};
