/* ProxyCLIP (proxyclip.h), exact to mc-lan/ProxyCLIP's proxyclip_segmentor.py and its open_clip
 * copy (../shared/oracle/heads_proxyclip/README.md; both window sides used where the reference
 * takes one). Per window, padded to multiples of 56 (sliding) or as it is (whole image):
 *   F = proxy(ImageNet-normalised pixels) patch rows [n x Dp], f = F / max(|F|, 1e-12);
 *   A = softmax_rows(gamma (f f^T - beta mean(f f^T))), entries < 0 -> -inf;
 *   v = the last CLIP block's v of ln_1(x) (patch rows, CLIP grid hc x wc), bilinearly resized to
 *   the proxy grid; tokens = L2(proj(ln_post(out_proj(A v))));
 *   logits = tokens . names, bilinearly resized to the padded window, cropped back. */
#include "heads/proxyclip.h"

#include "core/arena.h"
#include "nn/ops.h"
#include "vision/dino.h"
#include "vision/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mmseg's window grid: n windows of wh x ww along one side, window i starting at start(i) */
typedef struct {
    int n, side, stride, img;
} axis;

static axis axis_make(int img, int crop, int stride) {
    axis a = {1, img, 1, img};
    if (crop > 0) {
        int64_t d = (int64_t)img - crop + stride - 1;
        a.n = (int)((d > 0 ? d : 0) / stride + 1);
        a.side = crop < img ? crop : img;
        a.stride = stride;
    }
    return a;
}

static int axis_start(const axis *a, int i) {
    int64_t y2 = (int64_t)i * a->stride + a->side;
    if (y2 > a->img) y2 = a->img;
    return (int)(y2 - a->side > 0 ? y2 - a->side : 0);
}

static int padded(int side, int sliding) { return sliding && side % CT_PROXYCLIP_PAD ? side + CT_PROXYCLIP_PAD - side % CT_PROXYCLIP_PAD : side; }

ct_status ct_proxyclip_check(const ct_model *clip, const ct_segment_params *p, int H, int W, ct_error *err) {
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
    int pc = clip->cfg.patch, pd = px->cfg.patch, need = pc > pd ? pc : pd;
    /* the smallest window: the image side, or the crop (padded to 56 when sliding) */
    int sh = p->slide_crop > 0 && p->slide_crop < H ? p->slide_crop : H, sw = p->slide_crop > 0 && p->slide_crop < W ? p->slide_crop : W;
    sh = padded(sh, p->slide_crop > 0);
    sw = padded(sw, p->slide_crop > 0);
    if (sh < need || sw < need)
        return ct_fail(err, CT_ERR_INVALID_ARG, "head proxyclip: a %d x %d window is smaller than a patch of the CLIP model (%d) or the "
                                                "proxy (%d)", sh, sw, pc, pd);
    if ((int64_t)H * W > (int64_t)CT_MAX_IMAGE_PIXELS)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d has more than CT_MAX_IMAGE_PIXELS (%u) pixels", H, W, CT_MAX_IMAGE_PIXELS);
    if ((int64_t)(sh / pd) * (sw / pd) > CT_MAX_PATCHES || (int64_t)(sh / pc) * (sw / pc) > CT_MAX_PATCHES ||
        (int64_t)(H / pc) * (W / pc) > CT_MAX_PATCHES)
        return ct_fail(err, CT_ERR_TOO_LARGE, "image %d x %d gives more than %d patches (128 x 128) in a window", H, W, CT_MAX_PATCHES);
    return CT_OK;
}

/* the buffers of one window (Hp x Wp padded; CLIP grid hc x wc, proxy grid hd x wd) */
typedef struct {
    int Hp, Wp, hc, wc, hd, wd, n, nc, C, Dp, E, N;
    size_t wpx, dpx, cpx, feat, fn, sim, v, vt, vr, o, y, tok, lg, clip_ws, dino_ws, total;
} plan;

static int make_plan(const ct_model *m, const ct_model *px, int Hp, int Wp, int N, int nth, plan *pl) {
    memset(pl, 0, sizeof *pl);
    pl->Hp = Hp; pl->Wp = Wp;
    pl->hc = Hp / m->cfg.patch; pl->wc = Wp / m->cfg.patch;
    pl->hd = Hp / px->cfg.patch; pl->wd = Wp / px->cfg.patch;
    pl->n = pl->hd * pl->wd; pl->nc = pl->hc * pl->wc;
    pl->C = m->cfg.vision_width; pl->Dp = px->cfg.vision_width; pl->E = m->cfg.embed_dim; pl->N = N;
    size_t n = (size_t)pl->n, nc = (size_t)pl->nc, C = (size_t)pl->C, plane = (size_t)Hp * Wp;
    ct_vision_out vo = {CT_HEAD_CLIP, 5.f, NULL, NULL, NULL, (float *)1, 1};
    pl->clip_ws = ct_vision_workspace(m, 1, pl->hc * m->cfg.patch, pl->wc * m->cfg.patch, nth, &vo);
    pl->dino_ws = ct_dino_workspace(px, Hp, Wp, nth);
    if (!pl->clip_ws || !pl->dino_ws) return 0;
    ct_arena a = {0};
    pl->wpx = ct_arena_add_floats(&a, 3 * plane);
    pl->dpx = ct_arena_add_floats(&a, 3 * plane);
    pl->cpx = ct_arena_add_floats(&a, 3 * (size_t)pl->hc * m->cfg.patch * (size_t)pl->wc * m->cfg.patch);
    pl->feat = ct_arena_add_floats(&a, n * (size_t)pl->Dp);
    pl->fn = ct_arena_add_floats(&a, n * (size_t)pl->Dp);
    pl->sim = ct_arena_add_floats(&a, n * n);
    pl->v = ct_arena_add_floats(&a, nc * C);
    pl->vt = ct_arena_add_floats(&a, nc * C);
    pl->vr = ct_arena_add_floats(&a, n * C);
    pl->o = ct_arena_add_floats(&a, n * C);
    pl->y = ct_arena_add_floats(&a, n * C);
    pl->tok = ct_arena_add_floats(&a, n * (size_t)pl->E);
    pl->lg = ct_arena_add_floats(&a, n * (size_t)N);
    pl->total = a.size;
    return a.size != SIZE_MAX;
}

size_t ct_proxyclip_bytes(const ct_model *m, const ct_segment_params *p, int H, int W, int N, int with_outputs) {
    axis ay = axis_make(H, p->slide_crop, p->slide_stride), ax = axis_make(W, p->slide_crop, p->slide_stride);
    int Hp = padded(ay.side, p->slide_crop > 0), Wp = padded(ax.side, p->slide_crop > 0);
    int nth = ct_model_nn(m, p->n_threads).ex.nth;
    plan pl;
    if (!make_plan(m, p->proxy, Hp, Wp, N, nth, &pl)) return 0;
    /* the window's buffers, and the larger of the two towers' workspaces (one at a time) */
    double b = (double)pl.total + (double)(pl.clip_ws > pl.dino_ws ? pl.clip_ws : pl.dino_ws) + 8.0 * (H + W);
    if (with_outputs) b += 4.0 * pl.n * ((double)pl.E + pl.Dp);
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

typedef struct {
    const float *f;
    float *fn;
    int Dp;
} l2_job;

/* f / max(|f|, 1e-12), rows [r0, r1) */
static void l2_rows(void *arg, int64_t r0, int64_t r1) {
    const l2_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *s = j->f + (size_t)r * j->Dp;
        float *d = j->fn + (size_t)r * j->Dp;
        double ss = 0;
        for (int i = 0; i < j->Dp; i++) ss += (double)s[i] * s[i];
        float nrm = (float)sqrt(ss);
        if (nrm < 1e-12f) nrm = 1e-12f;
        for (int i = 0; i < j->Dp; i++) d[i] = s[i] / nrm;
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

typedef struct {
    const float *lg;      /* [N x hd*wd] */
    int hd, wd, N, top, left, wh, ww, y1, x1, W, H;
    const ct_taps *ty, *tx; /* to the padded window */
    float *seg;
} acc_job;

/* rows (name, window row) in [r0, r1): the upsampled logits of the unpadded part, added */
static void acc_rows(void *arg, int64_t r0, int64_t r1) {
    const acc_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        int n = (int)(r / j->wh), y = (int)(r % j->wh);
        const float *map = j->lg + (size_t)n * j->hd * j->wd;
        float *o = j->seg + ((size_t)n * j->H + j->y1 + y) * j->W + j->x1;
        const ct_taps *ty = &j->ty[j->top + y];
        for (int x = 0; x < j->ww; x++) o[x] += ct_bilinear_at(map, j->wd, ty, &j->tx[j->left + x]);
    }
}

typedef struct {
    const ct_model *m, *px;
    ct_nn nn, nn_px, nn32;
    const ct_segment_params *p;
    const float *class_emb;
    plan pl;
    void *mem;
} ctx;

#define AT(off) CT_AT(c->mem, c->pl.off, float)

/* One padded window wpx [3 x Hp x Wp] -> logits lg [N x n]; the proxy features stay in feat and
 * the tokens in tok. */
static ct_status run_window(ctx *c, double *t_enc, ct_error *err) {
    const plan *pl = &c->pl;
    const ct_model *m = c->m;
    const int Hp = pl->Hp, Wp = pl->Wp, n = pl->n, nc = pl->nc, C = pl->C, Dp = pl->Dp, E = pl->E, pc = m->cfg.patch;
    size_t plane = (size_t)Hp * Wp;
    float *wpx = AT(wpx), *dpx = AT(dpx), *cpx = AT(cpx), *feat = AT(feat), *fn = AT(fn), *S = AT(sim), *v = AT(v), *vt = AT(vt);
    float *vr = AT(vr), *o = AT(o), *y = AT(y), *tok = AT(tok), *lg = AT(lg);
    double t0 = now_s();
    /* 1-2: the proxy on ImageNet-normalised pixels */
    ct_dino_input(wpx, plane, dpx);
    ct_status st = ct_dino_encode(c->px, &c->nn_px, dpx, Hp, Wp, NULL, feat, err);
    if (st) return st;
    /* 4: CLIP on the pixels its convolution sees (floor of the grid) up to the last block's v */
    int Hc = pl->hc * pc, Wc = pl->wc * pc;
    for (int ch = 0; ch < 3; ch++)
        for (int r = 0; r < Hc; r++) memcpy(cpx + ((size_t)ch * Hc + r) * Wc, wpx + (size_t)ch * plane + (size_t)r * Wp, sizeof(float) * Wc);
    ct_vision_out vo = {CT_HEAD_CLIP, 5.f, NULL, NULL, NULL, v, 1};
    st = ct_vision_encode(m, &c->nn, cpx, 1, Hc, Wc, &vo, err);
    *t_enc += now_s() - t0;
    if (st) return st;
    /* 3: the proxy attention, in fp32 whatever the models' precision (its mask compares to 0) */
    l2_job lj = {feat, fn, Dp};
    ct_parallel_for(&c->nn.ex, n, 64, l2_rows, &lj);
    if (!ct_gram(&c->nn32, n, Dp, fn, Dp, 1.f, S, n)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    double sum = 0;
    for (int j = 0; j < Dp; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += fn[(size_t)i * Dp + j];
        sum += s * s;
    }
    float mean = (float)(sum / ((double)n * n));
    mask_job mj = {S, n, mean * c->p->proxy_beta, c->p->proxy_gamma};
    ct_parallel_for(&c->nn.ex, n, 16, mask_rows, &mj);
    /* 5: v [hc x wc x C] -> [C x hc x wc] -> bilinear to [C x hd x wd]; o = A v~; out_proj */
    for (int i = 0; i < nc; i++)
        for (int ch = 0; ch < C; ch++) vt[(size_t)ch * nc + i] = v[(size_t)i * C + ch];
    if (!ct_bilinear(&c->nn.ex, C, pl->hc, pl->wc, vt, pl->hd, pl->wd, vr)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    if (!ct_gemm(&c->nn32, 0, 1, n, C, n, S, n, vr, n, NULL, o, C)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    const ct_block *last = &m->vblocks[m->cfg.vision_layers - 1];
    ct_epilogue eo = {1.f, 0.f, last->out_b, CT_ACT_NONE};
    if (!ct_model_linear(m, &c->nn, n, o, C, &last->out, &eo, y, C)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    /* 6: ln_post, proj, L2; cosine logits [N x n] */
    ct_layernorm(&c->nn.ex, n, C, y, C, m->ln_post_w, m->ln_post_b, o, C);
    if (!ct_model_linear(m, &c->nn, n, o, C, &m->vproj, NULL, tok, E)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    ct_l2norm_rows(n, E, tok);
    if (!ct_gemm(&c->nn32, 0, 1, pl->N, n, E, c->class_emb, E, tok, E, NULL, lg, n)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

ct_status ct_proxyclip_logits(const ct_model *m, const ct_nn *nn, const float *pixels, int H, int W, const ct_segment_params *p,
                              const float *class_emb, int N, float *seg, ct_proxyclip_out *out, ct_error *err) {
    ct_status st = ct_proxyclip_check(m, p, H, W, err);
    if (st) return st;
    const int sliding = p->slide_crop > 0;
    axis ay = axis_make(H, p->slide_crop, p->slide_stride), ax = axis_make(W, p->slide_crop, p->slide_stride);
    int wh = ay.side, ww = ax.side, Hp = padded(wh, sliding), Wp = padded(ww, sliding);
    int top = (Hp - wh) / 2, left = (Wp - ww) / 2;
    ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.px = p->proxy;
    c.nn = *nn;
    c.nn_px = ct_model_nn(p->proxy, p->n_threads);
    c.nn32 = *nn;
    c.nn32.ws = NULL;
    c.nn32.ws_bytes = 0;
    if (c.nn32.kernel == CT_KERNEL_BF16) c.nn32.kernel = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE);
    c.p = p;
    c.class_emb = class_emb;
    if (!make_plan(m, p->proxy, Hp, Wp, N, nn->ex.nth, &c.pl)) return ct_fail(err, CT_ERR_TOO_LARGE, "a %d x %d window is too large", Hp, Wp);
    const plan *pl = &c.pl;
    c.mem = ct_alloc_large(pl->total);
    ct_taps *ty = ct_alloc((size_t)Hp, sizeof(ct_taps)), *tx = ct_alloc((size_t)Wp, sizeof(ct_taps));
    int *cy = ct_calloc((size_t)H, sizeof(int)), *cx = ct_calloc((size_t)W, sizeof(int));
    int keep = out && out->keep;
    float *ftok = keep && !sliding ? ct_alloc((size_t)pl->n * pl->E, sizeof(float)) : NULL;
    float *ffeat = keep ? ct_alloc((size_t)pl->n * pl->Dp, sizeof(float)) : NULL;
    double t_enc = 0;
    if (!c.mem || !ty || !tx || !cy || !cx || (keep && ((!sliding && !ftok) || !ffeat))) {
        st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d x %d windows", Hp, Wp);
        goto done;
    }
    ct_bilinear_taps(pl->hd, Hp, ty);
    ct_bilinear_taps(pl->wd, Wp, tx);
    memset(seg, 0, sizeof(float) * (size_t)N * H * W);
    for (int i = 0; i < ay.n && !st; i++)
        for (int j = 0; j < ax.n && !st; j++) {
            int y1 = axis_start(&ay, i), x1 = axis_start(&ax, j);
            /* the window, zero-padded (0 in CLIP-normalised space) */
            float *wpx = CT_AT(c.mem, pl->wpx, float);
            memset(wpx, 0, sizeof(float) * 3 * (size_t)Hp * Wp);
            for (int ch = 0; ch < 3; ch++)
                for (int r = 0; r < wh; r++)
                    memcpy(wpx + ((size_t)ch * Hp + top + r) * Wp + left, pixels + ((size_t)ch * H + y1 + r) * W + x1, sizeof(float) * ww);
            st = run_window(&c, &t_enc, err);
            if (st) break;
            if (i == 0 && j == 0 && keep) {
                memcpy(ffeat, CT_AT(c.mem, pl->feat, float), sizeof(float) * (size_t)pl->n * pl->Dp);
                if (ftok) memcpy(ftok, CT_AT(c.mem, pl->tok, float), sizeof(float) * (size_t)pl->n * pl->E);
            }
            acc_job aj = {CT_AT(c.mem, pl->lg, float), pl->hd, pl->wd, N, top, left, wh, ww, y1, x1, W, H, ty, tx, seg};
            ct_parallel_for(&nn->ex, (int64_t)N * wh, 8, acc_rows, &aj);
            if (i == 0)
                for (int x = 0; x < ww; x++) cx[x1 + x]++;
            if (j == 0)
                for (int y = 0; y < wh; y++) cy[y1 + y]++;
        }
    if (!st) {
        for (int n = 0; n < N; n++)
            for (int y = 0; y < H; y++) {
                float *row = seg + ((size_t)n * H + y) * W;
                for (int x = 0; x < W; x++) row[x] /= (float)(cy[y] * cx[x]);
            }
        if (out) {
            out->tokens = ftok;
            out->features = ffeat;
            out->ph = pl->hd;
            out->pw = pl->wd;
            out->dim = pl->Dp;
            out->n_windows = ay.n * ax.n;
            out->t_encode = t_enc;
            ftok = ffeat = NULL;
        }
    }
done:
    free(c.mem); free(ty); free(tx); free(cy); free(cx); free(ftok); free(ffeat);
    return st;
}
