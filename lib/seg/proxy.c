/* The proxy heads' windows (proxy.h), exact to ProxyCLIP's forward_slide / forward_feature (both
 * window sides used where the reference takes one). Per window, padded to multiples of 56
 * (sliding) or as it is (whole image): the proxy backbone on ImageNet-normalised pixels, CLIP up
 * to the last block's v on the pixels its convolution sees, the head's block (heads/), cosine
 * logits bilinearly resized to the padded window and cropped back; the sum over the windows
 * divided by the count at each pixel. */
#include "seg/proxy.h"

#include "heads/head.h"
#include "seg/slide.h"

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

static int padded(int side, int sliding) { return sliding && side % CT_PROXY_PAD ? side + CT_PROXY_PAD - side % CT_PROXY_PAD : side; }

ct_status ct_proxy_check_size(const ct_model *clip, const ct_segment_params *p, int H, int W, ct_error *err) {
    const ct_model *px = p->proxy;
    int pc = clip->cfg.patch, pd = px->cfg.patch, need = pc > pd ? pc : pd;
    /* the smallest window: the image side, or the crop (padded to 56 when sliding) */
    int sh = p->slide_crop > 0 && p->slide_crop < H ? p->slide_crop : H, sw = p->slide_crop > 0 && p->slide_crop < W ? p->slide_crop : W;
    sh = padded(sh, p->slide_crop > 0);
    sw = padded(sw, p->slide_crop > 0);
    if (sh < need || sw < need)
        return ct_fail(err, CT_ERR_INVALID_ARG, "head %s: a %d x %d window is smaller than a patch of the CLIP model (%d) or the proxy (%d)",
                       ct_head_name(p->head), sh, sw, pc, pd);
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
    size_t wpx, dpx, cpx, feat, v, head, tok, lg, clip_ws, dino_ws, total;
} plan;

static int make_plan(const ct_model *m, const ct_segment_params *p, int Hp, int Wp, int N, int nth, plan *pl) {
    const ct_model *px = p->proxy;
    memset(pl, 0, sizeof *pl);
    pl->Hp = Hp; pl->Wp = Wp;
    pl->hc = Hp / m->cfg.patch; pl->wc = Wp / m->cfg.patch;
    pl->hd = Hp / px->cfg.patch; pl->wd = Wp / px->cfg.patch;
    pl->n = pl->hd * pl->wd; pl->nc = pl->hc * pl->wc;
    pl->C = m->cfg.vision_width; pl->Dp = px->cfg.vision_width; pl->E = m->cfg.embed_dim; pl->N = N;
    size_t n = (size_t)pl->n, nc = (size_t)pl->nc, C = (size_t)pl->C, plane = (size_t)Hp * Wp;
    ct_segment_params clip_p;
    ct_segment_params_preset(&clip_p, CT_HEAD_CLIP);
    ct_vision_out vo = {.p = &clip_p, .last_v = (float *)1, .pos_by_count = 1};
    pl->clip_ws = ct_vision_workspace(m, 1, pl->hc * m->cfg.patch, pl->wc * m->cfg.patch, nth, &vo);
    pl->dino_ws = ct_dino_workspace(px, Hp, Wp, nth);
    if (!pl->clip_ws || !pl->dino_ws) return 0;
    ct_arena a = {0};
    pl->wpx = ct_arena_add_floats(&a, 3 * plane);
    pl->dpx = ct_arena_add_floats(&a, 3 * plane);
    pl->cpx = ct_arena_add_floats(&a, 3 * (size_t)pl->hc * m->cfg.patch * (size_t)pl->wc * m->cfg.patch);
    pl->feat = ct_arena_add_floats(&a, n * (size_t)pl->Dp);
    pl->v = ct_arena_add_floats(&a, nc * C);
    pl->head = ct_arena_add_floats(&a, ct_head_get(p->head)->proxy_scratch(m, pl->n, pl->nc, pl->Dp));
    pl->tok = ct_arena_add_floats(&a, n * (size_t)pl->E);
    pl->lg = ct_arena_add_floats(&a, n * (size_t)N);
    pl->total = a.size;
    return a.size != SIZE_MAX;
}

size_t ct_proxy_bytes(const ct_model *m, const ct_segment_params *p, int H, int W, int N, int with_outputs) {
    ct_slide_grid g;
    ct_slide_grid_make(H, W, p->slide_crop, p->slide_stride, &g);
    int Hp = padded(g.wh, p->slide_crop > 0), Wp = padded(g.ww, p->slide_crop > 0);
    int nth = ct_model_nn(m, p->n_threads).ex.nth;
    plan pl;
    if (!make_plan(m, p, Hp, Wp, N, nth, &pl)) return 0;
    /* the window's buffers, and the larger of the two towers' workspaces (one at a time) */
    double b = (double)pl.total + (double)(pl.clip_ws > pl.dino_ws ? pl.clip_ws : pl.dino_ws) + 8.0 * (H + W);
    if (with_outputs) b += 4.0 * pl.n * ((double)pl.E + pl.Dp);
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
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

/* One padded window wpx [3 x Hp x Wp] -> the head's tokens tok [n x E] and logits lg [N x n]; the
 * proxy features stay in feat. */
static ct_status run_window(ctx *c, double *t_enc, ct_error *err) {
    const plan *pl = &c->pl;
    const ct_model *m = c->m;
    const int Hp = pl->Hp, Wp = pl->Wp, n = pl->n, E = pl->E, pc = m->cfg.patch;
    size_t plane = (size_t)Hp * Wp;
    float *wpx = AT(wpx), *dpx = AT(dpx), *cpx = AT(cpx), *feat = AT(feat), *v = AT(v), *tok = AT(tok), *lg = AT(lg);
    double t0 = now_s();
    /* the proxy on ImageNet-normalised pixels */
    ct_dino_input(wpx, plane, dpx);
    ct_status st = ct_dino_encode(c->px, &c->nn_px, dpx, Hp, Wp, NULL, feat, err);
    if (st) return st;
    /* CLIP on the pixels its convolution sees (floor of the grid), up to the last block's v; the
     * position grid as stored whenever the patch count is the native one (open_clip's rule) */
    int Hc = pl->hc * pc, Wc = pl->wc * pc;
    for (int ch = 0; ch < 3; ch++)
        for (int r = 0; r < Hc; r++) memcpy(cpx + ((size_t)ch * Hc + r) * Wc, wpx + (size_t)ch * plane + (size_t)r * Wp, sizeof(float) * Wc);
    ct_segment_params clip_p;
    ct_segment_params_preset(&clip_p, CT_HEAD_CLIP);
    ct_vision_out vo = {.p = &clip_p, .last_v = v, .pos_by_count = 1};
    st = ct_vision_encode(m, &c->nn, cpx, 1, Hc, Wc, &vo, err);
    *t_enc += now_s() - t0;
    if (st) return st;
    ct_head_proxy_call hc = {m, c->p, &c->nn, feat, pl->hd, pl->wd, pl->Dp, v, pl->hc, pl->wc, AT(head), tok};
    if (!ct_head_get(c->p->head)->proxy_block(&hc)) return ct_fail(err, CT_ERR_NOMEM, "out of memory in the head");
    /* cosine logits [N x n], in fp32 */
    if (!ct_gemm(&c->nn32, 0, 1, pl->N, n, E, c->class_emb, E, tok, E, NULL, lg, n)) return ct_fail(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

ct_status ct_proxy_logits(const ct_model *m, const ct_nn *nn, const float *pixels, int H, int W, const ct_segment_params *p,
                              const float *class_emb, int N, float *seg, ct_proxy_out *out, ct_error *err) {
    ct_status st = ct_proxy_check_size(m, p, H, W, err);
    if (st) return st;
    const int sliding = p->slide_crop > 0;
    ct_slide_grid g;
    ct_slide_grid_make(H, W, p->slide_crop, p->slide_stride, &g);
    int wh = g.wh, ww = g.ww, Hp = padded(wh, sliding), Wp = padded(ww, sliding);
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
    c.nn32.kernel = ct_kernel_fp32(c.nn32.kernel);
    c.p = p;
    c.class_emb = class_emb;
    if (!make_plan(m, p, Hp, Wp, N, nn->ex.nth, &c.pl)) return ct_fail(err, CT_ERR_TOO_LARGE, "a %d x %d window is too large", Hp, Wp);
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
    for (int k = 0; k < g.n && !st; k++) {
            int y1, x1;
            ct_slide_window(&g, k, &y1, &x1);
            /* the window, zero-padded (0 in CLIP-normalised space) */
            float *wpx = CT_AT(c.mem, pl->wpx, float);
            memset(wpx, 0, sizeof(float) * 3 * (size_t)Hp * Wp);
            for (int ch = 0; ch < 3; ch++)
                for (int r = 0; r < wh; r++)
                    memcpy(wpx + ((size_t)ch * Hp + top + r) * Wp + left, pixels + ((size_t)ch * H + y1 + r) * W + x1, sizeof(float) * ww);
            st = run_window(&c, &t_enc, err);
            if (st) break;
            if (k == 0 && keep) {
                memcpy(ffeat, CT_AT(c.mem, pl->feat, float), sizeof(float) * (size_t)pl->n * pl->Dp);
                if (ftok) memcpy(ftok, CT_AT(c.mem, pl->tok, float), sizeof(float) * (size_t)pl->n * pl->E);
            }
            acc_job aj = {CT_AT(c.mem, pl->lg, float), pl->hd, pl->wd, N, top, left, wh, ww, y1, x1, W, H, ty, tx, seg};
            ct_parallel_for(&nn->ex, (int64_t)N * wh, 8, acc_rows, &aj);
            if (k < g.gw)
                for (int x = 0; x < ww; x++) cx[x1 + x]++;
            if (k % g.gw == 0)
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
            out->n_windows = g.n;
            out->t_encode = t_enc;
            ftok = ffeat = NULL;
        }
    }
done:
    free(c.mem); free(ty); free(tx); free(cy); free(cx); free(ftok); free(ffeat);
    return st;
}
