/* CLIPtrase post-processing (paper Sec. 3.3), the head's cluster vote:
 *   corr = patch rows of corr_raw minus its CLS row, clamped at 0;
 *   patch logits = logit_scale * patch tokens . class embeddings, bilinear to H x W (optionally
 *   times the CLS logits), argmax -> raw labels (several names may share a label);
 *   DBSCAN on the rows of corr; per-cluster mean correlation map, bilinear x ratio, median filter,
 *   bilinear to H x W, argmax -> cluster regions; each region takes its majority raw label.
 * The N x H x W logits and n x H x W cluster maps are never stored unless intermediates are asked
 * for: each output pixel is interpolated and reduced on the fly with the same arithmetic. */
#include "seg/seg.h"

#include "core/internal.h"
#include "nn/gemm.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* argmax over n maps [n x ih x iw] bilinearly upsampled to H x W, optionally scaled per map:
 * lab receives label[argmax] (the first maximum), out_map (optional) the upsampled maps. The
 * interpolation is split (PyTorch's operation order kept, so every value is bit for bit
 * ct_bilinear_at's): each source row of every map is interpolated along x once per thread into
 * a cache of two rows, each output row is a blend of two cached rows, vectorised along x.
 * With vote_hist, each thread also counts (argmax, pred_raw) pairs for the vote. */
typedef struct {
    const float *maps;
    int n, ih, iw, H, W;
    const ct_taps *ty, *tx;
    const float *scale;       /* [n] or NULL */
    const int32_t *label;     /* [n] or NULL (identity) */
    float *out_map;           /* [n x H x W] or NULL */
    int32_t *lab;             /* [H x W] */
    float *scratch;           /* per thread: two cached rows [2 x n x W], best [W], argmax [W] */
    size_t scratch_floats;
    const int32_t *pred_raw;  /* with vote_hist: the raw labels */
    int32_t *vote_hist;       /* per thread [n x L] counts, or NULL */
    int L;
} up_job;

static size_t up_scratch_floats(int n, int W) { return (2 * (size_t)n + 2) * (size_t)W + 16; }

/* row i of every map, interpolated along x: dst [n x W] */
static void up_hrow(const up_job *j, int i, float *dst) {
    size_t plane = (size_t)j->ih * j->iw;
    for (int c = 0; c < j->n; c++) {
        const float *m = j->maps + c * plane + (size_t)i * j->iw;
        float *d = dst + (size_t)c * j->W;
        for (int x = 0; x < j->W; x++) d[x] = j->tx[x].l0 * m[j->tx[x].i0] + j->tx[x].l1 * m[j->tx[x].i1];
    }
}

/* map c of one output row: v = l0 a + l1 b (times sc when scaled), stored to om when given;
 * best / arg keep the first maximum (c == 0 starts them) */
static inline __attribute__((always_inline)) void up_blend(int W, int c, float l0, float l1, const float *restrict a,
                                                            const float *restrict b, int scaled, float sc, float *restrict om,
                                                            float *restrict best, int32_t *restrict arg) {
    if (c == 0) {
        for (int x = 0; x < W; x++) {
            float v = l0 * a[x] + l1 * b[x];
            if (scaled) v *= sc;
            if (om) om[x] = v;
            best[x] = v;
            arg[x] = 0;
        }
        return;
    }
    for (int x = 0; x < W; x++) {
        float v = l0 * a[x] + l1 * b[x];
        if (scaled) v *= sc;
        if (om) om[x] = v;
        float bx = best[x];
        best[x] = v > bx ? v : bx;
        arg[x] = v > bx ? c : arg[x];
    }
}

/* one output row: every map blended, the first maximum over the maps */
CT_VECTOR_CLONES static void up_vert(const up_job *j, float l0, float l1, const float *a, const float *b, size_t y, float *best,
                                     int32_t *arg) {
    int W = j->W;
    size_t oplane = (size_t)j->H * W;
    for (int c = 0; c < j->n; c++) {
        const float *ac = a + (size_t)c * W, *bc = b + (size_t)c * W;
        float *om = j->out_map ? j->out_map + c * oplane + y * W : NULL;
        if (j->scale && om) up_blend(W, c, l0, l1, ac, bc, 1, j->scale[c], om, best, arg);
        else if (j->scale) up_blend(W, c, l0, l1, ac, bc, 1, j->scale[c], NULL, best, arg);
        else if (om) up_blend(W, c, l0, l1, ac, bc, 0, 1.f, om, best, arg);
        else up_blend(W, c, l0, l1, ac, bc, 0, 1.f, NULL, best, arg);
    }
}

static void up_task(void *arg, ct_team *team, int tid, int nth) {
    (void)team;
    const up_job *j = arg;
    int W = j->W;
    float *buf[2], *best;
    buf[0] = j->scratch + (size_t)tid * j->scratch_floats;
    buf[1] = buf[0] + (size_t)j->n * W;
    best = buf[1] + (size_t)j->n * W;
    int32_t *am = (int32_t *)(best + W);
    int32_t *hist = j->vote_hist ? j->vote_hist + (size_t)tid * j->n * j->L : NULL;
    int held[2] = {-1, -1};
    int64_t y0, y1;
    ct_split(j->H, tid, nth, &y0, &y1);
    for (int64_t y = y0; y < y1; y++) {
        const ct_taps *t = &j->ty[y];
        int s0 = held[0] == t->i0 ? 0 : held[1] == t->i0 ? 1 : -1;
        if (s0 < 0) {
            s0 = held[0] == t->i1 ? 1 : 0;
            up_hrow(j, t->i0, buf[s0]);
            held[s0] = t->i0;
        }
        int s1 = held[0] == t->i1 ? 0 : held[1] == t->i1 ? 1 : -1;
        if (s1 < 0) {
            s1 = 1 - s0;
            up_hrow(j, t->i1, buf[s1]);
            held[s1] = t->i1;
        }
        up_vert(j, t->l0, t->l1, buf[s0], buf[s1], (size_t)y, best, am);
        int32_t *lab = j->lab + (size_t)y * W;
        for (int x = 0; x < W; x++) lab[x] = j->label ? j->label[am[x]] : am[x];
        if (hist) {
            const int32_t *pr = j->pred_raw + (size_t)y * W;
            for (int x = 0; x < W; x++) hist[(size_t)am[x] * j->L + pr[x]]++;
        }
    }
}

/* vote_hist (optional): [nth x n x L] zeroed counts, nth = ex->nth */
static ct_status up_argmax(const ct_exec *ex, const float *maps, int n, int ih, int iw, int H, int W, const float *scale,
                           const int32_t *label, float *out_map, int32_t *lab, const int32_t *pred_raw, int32_t *vote_hist, int L,
                           ct_error *err) {
    int nth = ex->nth > 0 ? ex->nth : 1;
    size_t sf = up_scratch_floats(n, W);
    ct_taps *ty = ct_alloc((size_t)H, sizeof(ct_taps)), *tx = ct_alloc((size_t)W, sizeof(ct_taps));
    float *scratch = ct_alloc(sf * (size_t)nth, sizeof(float));
    if (!ty || !tx || !scratch) { free(ty); free(tx); free(scratch); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    ct_bilinear_taps(ih, H, ty);
    ct_bilinear_taps(iw, W, tx);
    up_job j = {maps, n, ih, iw, H, W, ty, tx, scale, label, out_map, lab, scratch, sf, pred_raw, vote_hist, L};
    ct_run(ex, up_task, &j);
    free(ty); free(tx); free(scratch);
    return CT_OK;
}

/* the median filter of every cluster map, in tasks of MEDIAN_ROWS rows taken from a counter */
#define MEDIAN_ROWS 16
typedef struct {
    const ct_median_plan *plan;
    const float *in; /* [n x h x w] */
    float *out;      /* [n x h x w] */
    int n, h, w;
    int32_t *scratch;
    size_t scratch_ints;
    int *nan;        /* [nth] */
} median_job;

static void median_task(void *arg, ct_team *team, int tid, int nth) {
    (void)nth;
    median_job *j = arg;
    int per = (j->h + MEDIAN_ROWS - 1) / MEDIAN_ROWS;
    int32_t *scr = j->scratch + (size_t)tid * j->scratch_ints;
    for (int64_t t; (t = ct_team_next(team, 0, 1)) < (int64_t)j->n * per;) {
        int c = (int)(t / per), r0 = (int)(t % per) * MEDIAN_ROWS, r1 = r0 + MEDIAN_ROWS < j->h ? r0 + MEDIAN_ROWS : j->h;
        size_t plane = (size_t)j->h * j->w;
        j->nan[tid] |= ct_median_rows(j->plan, j->in + c * plane, j->h, j->w, r0, r1, j->out + c * plane, scr);
    }
}

typedef struct {
    const float *corr_raw;
    float *corr;
    int hw;
} denoise_job;

static void denoise_rows(void *arg, int64_t i0, int64_t i1) {
    const denoise_job *j = arg;
    size_t T = (size_t)j->hw + 1;
    for (int64_t i = i0; i < i1; i++)
        for (int k = 0; k < j->hw; k++) {
            float v = j->corr_raw[(size_t)(1 + i) * T + 1 + k] - j->corr_raw[1 + k];
            j->corr[(size_t)i * j->hw + k] = v < 0 ? 0.f : v;
        }
}

typedef struct {
    const float *corr;
    const int32_t *lab, *cnt;
    double *acc;  /* [nc x hw] */
    float *mean;  /* [nc x hw] */
    int hw, nc;
} cmean_job;

/* columns [k0, k1) of every cluster's mean row: each sum in row order, whatever the split */
static void cluster_mean_cols(void *arg, int64_t k0, int64_t k1) {
    const cmean_job *j = arg;
    for (int i = 0; i < j->hw; i++) {
        int c = j->lab[i];
        if (c < 0) continue;
        const float *row = j->corr + (size_t)i * j->hw;
        double *a = j->acc + (size_t)c * j->hw;
        for (int64_t k = k0; k < k1; k++) a[k] += row[k];
    }
    for (int c = 0; c < j->nc; c++)
        for (int64_t k = k0; k < k1; k++) j->mean[(size_t)c * j->hw + k] = (float)(j->acc[(size_t)c * j->hw + k] / j->cnt[c]);
}

typedef struct {
    const int32_t *assign, *winner;
    int32_t *labels;
} vote_job;

static void vote_pixels(void *arg, int64_t i0, int64_t i1) {
    const vote_job *j = arg;
    for (int64_t i = i0; i < i1; i++) j->labels[i] = j->winner[j->assign[i]];
}

ct_status ct_cliptrase_vote(const ct_nn *nn, const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E,
                            float logit_scale, const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_cliptrase_out *out, ct_error *err) {
    if (!img_tokens || !corr_raw || !class_emb || !labels) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_postprocess: NULL argument");
    if (patch <= 0 || H <= 0 || W <= 0 || H % patch || W % patch)
        return ct_fail(err, CT_ERR_INVALID_ARG, "image size %d x %d is not a positive multiple of the patch size %d", H, W, patch);
    if (E <= 0 || n_names <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_postprocess: need at least one name and a positive embedding size");
    ct_segment_params dp;
    ct_segment_params_default(&dp);
    if (!p) p = &dp;
    int h = H / patch, w = W / patch, hw = h * w;
    int short_side = H < W ? H : W;
    float eps = p->eps > 0 ? p->eps : (short_side <= 224 ? 0.7f : 1.1f);
    int min_samples = p->min_samples > 0 ? p->min_samples : (short_side <= 224 ? 3 : 7);
    int ratio = p->upsample_ratio > 0 ? p->upsample_ratio : 4;
    int msize = p->median_size > 0 ? p->median_size : 2 * ratio - 1;
    ct_intermediates *inter = out ? out->inter : NULL;
    const ct_exec *ex = &nn->ex;
    if (ratio > 64) return ct_fail(err, CT_ERR_INVALID_ARG, "upsample ratio %d too large (max 64)", ratio);
    int L = 0;
    for (int i = 0; i < n_names; i++) {
        int32_t l = name_label ? name_label[i] : i;
        if (l < 0 || l >= 65536) return ct_fail(err, CT_ERR_INVALID_ARG, "label %d of name %d outside [0, 65536)", l, i);
        if (l + 1 > L) L = l + 1;
    }
    size_t HW = (size_t)H * W, nlog;
    if (!ct_mul_ok(HW, (size_t)n_names, &nlog)) return ct_fail(err, CT_ERR_NOMEM, "size overflow");

    /* without intermediates, the raw labels live in `labels` until the vote overwrites them */
    ct_status st = CT_OK;
    float *corr = ct_alloc((size_t)hw * hw, sizeof(float));       /* [hw x hw] */
    float *plt = ct_alloc((size_t)hw * n_names, sizeof(float));   /* [N x h x w] */
    float *cls = ct_alloc((size_t)n_names, sizeof(float));        /* [N] */
    int32_t *pred_raw = inter ? ct_alloc(HW, sizeof(int32_t)) : labels; /* [H x W] */
    int32_t *dbl = ct_alloc((size_t)hw, sizeof(int32_t));         /* [hw] */
    int32_t *assign = NULL, *pred = NULL, *hist = NULL;
    float *logits_up = NULL, *cmaps = NULL, *cmean = NULL, *cfilt = NULL;
    int nc = 0;
    if (!corr || !plt || !cls || !pred_raw || !dbl) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d patches", hw); goto done; }
    if (inter && !(logits_up = ct_alloc(nlog, sizeof(float)))) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for intermediates"); goto done; }
    double *ts = out ? out->t_stage : NULL, tc = ct_seg_cpu_s();
#define STAGE(k) do { double t_ = ct_seg_cpu_s(); if (ts) ts[k] += t_ - tc; tc = t_; } while (0)
    /* global patch denoising: subtract the CLS row, keep positive correlations */
    denoise_job dj = {corr_raw, corr, hw};
    ct_parallel_for(ex, hw, 16, denoise_rows, &dj);
    STAGE(CT_VOTE_DENOISE);
    /* patch logits [N x hw] = class_emb . tokens^T: each a dot product over E in the GEMM's one order */
    ct_epilogue scaled = {logit_scale, 0.f, NULL, CT_ACT_NONE};
    if (!ct_gemm(nn, 0, 1, n_names, hw, E, class_emb, E, img_tokens + E, E, &scaled, plt, hw)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    if (p->cls_reweight && !ct_gemm(nn, 0, 1, 1, n_names, E, img_tokens, E, class_emb, E, &scaled, cls, n_names)) {
        st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
        goto done;
    }
    STAGE(CT_VOTE_LOGITS);
    st = up_argmax(ex, plt, n_names, h, w, H, W, p->cls_reweight ? cls : NULL, name_label, logits_up, pred_raw, NULL, NULL, 0, err);
    if (st) goto done;
    STAGE(CT_VOTE_UP_RAW);

    st = ct_dbscan_nn(nn, corr, hw, hw, eps, min_samples, dbl, &nc, out ? out->t_dbscan : NULL, err);
    if (st) goto done;
    STAGE(CT_VOTE_DBSCAN);
    if (nc > 0) {
        int ch = ratio * h, cw = ratio * w, nth = ex->nth > 0 ? ex->nth : 1;
        size_t cplane = (size_t)ch * cw;
        cmean = ct_calloc((size_t)nc * hw, sizeof(float));          /* [nc x h x w] */
        cmaps = ct_alloc((size_t)nc * cplane, sizeof(float));       /* [nc x ch x cw] upsampled */
        cfilt = ct_alloc((size_t)nc * cplane, sizeof(float));       /* [nc x ch x cw] filtered */
        hist = ct_calloc((size_t)nth * nc * L, sizeof(int32_t));   /* [nth x nc x L] */
        assign = ct_alloc(HW, sizeof(int32_t));                     /* [H x W] */
        double *acc = ct_calloc((size_t)nc * hw, sizeof(double));
        int32_t *cnt = ct_calloc((size_t)nc, sizeof(int32_t));
        if (!cmean || !cmaps || !cfilt || !hist || !assign || !acc || !cnt) {
            free(acc); free(cnt);
            st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d clusters", nc);
            goto done;
        }
        for (int i = 0; i < hw; i++)
            if (dbl[i] >= 0) cnt[dbl[i]]++;
        /* the mean corr row of each cluster: threads take column ranges */
        cmean_job cj = {corr, dbl, cnt, acc, cmean, hw, nc};
        ct_parallel_for(ex, hw, 64, cluster_mean_cols, &cj);
        free(acc);
        free(cnt);
        STAGE(CT_VOTE_MEANS);
        if (!ct_bilinear(ex, nc, h, w, cmean, ch, cw, cmaps)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        STAGE(CT_VOTE_UPSAMPLE);
        /* the median filter: every thread on every map, rows at a time */
        ct_median_plan *plan = ct_median_plan_new(msize);
        size_t sci = plan ? ct_median_scratch(plan, cw, MEDIAN_ROWS) : 0;
        int32_t *mscr = plan ? ct_alloc(sci * (size_t)nth, sizeof(int32_t)) : NULL;
        int *mnan = ct_calloc((size_t)nth, sizeof(int));
        if (!plan || !mscr || !mnan) {
            ct_median_plan_free(plan); free(mscr); free(mnan);
            st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
            goto done;
        }
        median_job mj = {plan, cmaps, cfilt, nc, ch, cw, mscr, sci, mnan};
        ct_run(ex, median_task, &mj);
        int nan = 0;
        for (int t = 0; t < nth; t++) nan |= mnan[t];
        ct_median_plan_free(plan); free(mscr); free(mnan);
        if (nan) { st = ct_fail(err, CT_ERR_NONFINITE, "median filter of the cluster maps: NaN in input"); goto done; }
        STAGE(CT_VOTE_MEDIAN);
        /* regions, with each thread's counts of raw labels per region */
        st = up_argmax(ex, cfilt, nc, ch, cw, H, W, NULL, NULL, NULL, assign, pred_raw, hist, L, err);
        if (st) goto done;
        STAGE(CT_VOTE_ASSIGN);
        /* majority vote of the raw labels inside each cluster region; ties go to the smaller label */
        for (int t = 1; t < nth; t++)
            for (size_t i = 0; i < (size_t)nc * L; i++) hist[i] += hist[(size_t)t * nc * L + i];
        int32_t *winner = ct_alloc((size_t)nc, sizeof(int32_t));
        if (!winner) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        for (int c = 0; c < nc; c++) {
            int32_t best = -1, bl = 0;
            for (int l = 0; l < L; l++)
                if (hist[(size_t)c * L + l] > best) { best = hist[(size_t)c * L + l]; bl = l; }
            winner[c] = bl;
        }
        vote_job vj = {assign, winner, labels};
        ct_parallel_for(ex, (int64_t)HW, 65536, vote_pixels, &vj);
        free(winner);
    } else if (pred_raw != labels) {
        memcpy(labels, pred_raw, HW * sizeof(int32_t));
    }
    if (inter) {
        pred = ct_alloc(HW, sizeof(int32_t));
        if (!assign) assign = ct_calloc(HW, sizeof(int32_t)); /* no cluster: all 0 */
        if (!pred || !assign) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for intermediates"); goto done; }
        memcpy(pred, labels, HW * sizeof(int32_t));
    }
    STAGE(CT_VOTE_VOTE);
#undef STAGE
    if (out) {
        out->n_clusters = nc;
        out->eps = eps;
        out->min_samples = min_samples;
        out->median_size = msize;
        out->upsample_ratio = ratio;
    }
    if (inter) {
        inter->H = H; inter->W = W; inter->h = h; inter->w = w; inter->n_names = n_names; inter->embed_dim = E;
        inter->n_clusters = nc; inter->eps = eps; inter->min_samples = min_samples;
        inter->corr = corr; corr = NULL;
        inter->patch_logits = plt; plt = NULL;
        inter->logits_up = logits_up; logits_up = NULL;
        inter->pred_raw = pred_raw; pred_raw = NULL;
        inter->dbscan_labels = dbl; dbl = NULL;
        inter->cluster_maps = cfilt; cfilt = NULL;
        inter->cluster_assign = assign; assign = NULL;
        inter->pred = pred; pred = NULL;
    }
    st = ct_ok(err);
done:
    free(corr); free(plt); free(cls); free(dbl); free(assign); free(pred);
    if (pred_raw != labels) free(pred_raw);
    free(logits_up); free(cmaps); free(cfilt); free(cmean); free(hist);
    return st;
}
