/* CLIPtrase post-processing (paper Sec. 3.3), the head's cluster vote:
 *   corr = patch rows of corr_raw minus its CLS row, clamped at 0;
 *   patch logits = logit_scale * patch tokens . class embeddings, bilinear to H x W (optionally
 *   times the CLS logits), argmax -> raw labels (several names may share a label);
 *   DBSCAN on the rows of corr; per-cluster mean correlation map, bilinear x ratio, median filter,
 *   bilinear to H x W, argmax -> cluster regions; each region takes its majority raw label.
 * The N x H x W logits are never stored unless intermediates are asked for: each output row is
 * interpolated and reduced on the fly with the same arithmetic.
 * Threads: three parallel regions, each stage a phase between barriers (a region costs a wake-up
 * of the workers; a stage between regions would leave them spinning): the front (denoising, the
 * logits, their argmax), DBSCAN (dbscan.c), the back (cluster means, upsampling, median filter,
 * regions with the vote's counts, the vote). Every value is computed by one thread in an order
 * that does not depend on the split: results are bit for bit the same for any thread count. */
#include "seg/cliptrase.h"
#include "seg/median.h"
#include "seg/stage.h"

#include "core/internal.h"
#include "nn/gemm.h"
#include "vision/vision.h"
#include "nn/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- bilinear upsampling of n maps [n x ih x iw] to [n x H x W], with the argmax over the maps
 * The interpolation is split (PyTorch's operation order kept, so every value is bit for bit
 * ct_bilinear_at's): each source row of every map is interpolated along x once per thread into a
 * cache of two rows; each output row is a blend of two cached rows, vectorised along x. */
typedef struct {
    const float *maps;
    int n, ih, iw, H, W;
    const ct_taps *ty, *tx;  /* [H], [W] */
    const float *scale;      /* [n] or NULL */
    const int32_t *label;    /* [n] or NULL (identity) */
    float *out_map;          /* [n x H x W] or NULL */
    int32_t *lab;            /* [H x W] label of the first maximum, or NULL (no argmax: out_map) */
    const int32_t *pred_raw; /* with counts: the raw labels (lab may be the same array) */
    const int32_t *dense;    /* with counts: [labels] index of each raw label among the labels used */
    int L;                   /* with counts: labels used */
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
 * with track, best / arg keep the first maximum (c == 0 starts them) */
static inline __attribute__((always_inline)) void up_blend(int W, int c, float l0, float l1, const float *restrict a,
                                                            const float *restrict b, int scaled, float sc, float *restrict om,
                                                            int track, float *restrict best, int32_t *restrict arg) {
    if (!track || c == 0) {
        for (int x = 0; x < W; x++) {
            float v = l0 * a[x] + l1 * b[x];
            if (scaled) v *= sc;
            if (om) om[x] = v;
            if (track) {
                best[x] = v;
                arg[x] = 0;
            }
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

/* one output row of every map (the variants with their constants in registers) */
CT_VECTOR_CLONES static void up_vert(const up_job *j, float l0, float l1, const float *a, const float *b, size_t y, float *best,
                                     int32_t *arg) {
    int W = j->W;
    size_t oplane = (size_t)j->H * W;
    for (int c = 0; c < j->n; c++) {
        const float *ac = a + (size_t)c * W, *bc = b + (size_t)c * W;
        float *om = j->out_map ? j->out_map + c * oplane + y * W : NULL;
        if (!j->lab) up_blend(W, c, l0, l1, ac, bc, 0, 1.f, om, 0, NULL, NULL);
        else if (j->scale && om) up_blend(W, c, l0, l1, ac, bc, 1, j->scale[c], om, 1, best, arg);
        else if (j->scale) up_blend(W, c, l0, l1, ac, bc, 1, j->scale[c], NULL, 1, best, arg);
        else if (om) up_blend(W, c, l0, l1, ac, bc, 0, 1.f, om, 1, best, arg);
        else up_blend(W, c, l0, l1, ac, bc, 0, 1.f, NULL, 1, best, arg);
    }
}

/* this thread's share of the output rows; scratch: up_scratch_floats(n, W); hist (optional):
 * [n x L] counts of (argmax, pred_raw) pairs */
static void up_rows(const up_job *j, float *scratch, int32_t *hist, int tid, int nth) {
    int W = j->W;
    float *buf[2] = {scratch, scratch + (size_t)j->n * W}, *best = scratch + 2 * (size_t)j->n * W;
    int32_t *am = (int32_t *)(best + W);
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
        if (!j->lab) continue;
        if (hist) { /* before lab: lab may be pred_raw itself (the regions written over the raw labels) */
            const int32_t *pr = j->pred_raw + (size_t)y * W;
            for (int x = 0; x < W; x++) hist[(size_t)am[x] * j->L + j->dense[pr[x]]]++;
        }
        int32_t *lab = j->lab + (size_t)y * W;
        for (int x = 0; x < W; x++) lab[x] = j->label ? j->label[am[x]] : am[x];
    }
}

/* stage times: thread 0 reads the process CPU clock at the phase ends */
static void stage_mark(double *ts, int tid, int stage, double *t) {
    if (!ts || tid) return;
    double now = ct_seg_cpu_s();
    ts[stage] += now - *t;
    *t = now;
}

/* ---- the front: denoising, logits, their argmax */
#define LOGIT_COLS 128
typedef struct {
    const float *img_tokens, *corr_raw, *class_emb;
    int E, N, hw, cls_reweight;
    float logit_scale;
    ct_kernel kernel;
    char *ws;            /* per thread: ws_bytes of product workspace */
    size_t ws_bytes;
    float *corr;         /* [hw x hw] */
    float *plt;          /* [N x hw] */
    float *cls;          /* [N] */
    up_job up;           /* plt -> pred_raw (and logits_up) */
    float *scratch;      /* per thread: scratch_floats */
    size_t scratch_floats;
    int *nomem;          /* [nth] */
    double *ts;
} front_job;

static void front_task(void *arg, ct_team *team, int tid, int nth) {
    front_job *j = arg;
    double t = j->ts && !tid ? ct_seg_cpu_s() : 0;
    size_t T = (size_t)j->hw + 1;
    int64_t b, e;
    /* global patch denoising: subtract the CLS row, keep positive correlations */
    ct_split(j->hw, tid, nth, &b, &e);
    for (int64_t i = b; i < e; i++)
        for (int k = 0; k < j->hw; k++) {
            float v = j->corr_raw[(size_t)(1 + i) * T + 1 + k] - j->corr_raw[1 + k];
            j->corr[(size_t)i * j->hw + k] = v < 0 ? 0.f : v;
        }
    ct_team_barrier(team);
    stage_mark(j->ts, tid, CT_VOTE_DENOISE, &t);
    /* patch logits [N x hw] = class_emb . tokens^T in products of LOGIT_COLS columns taken from a
     * counter (their shapes do not depend on the thread count, whatever the backend) */
    ct_nn one = {ct_exec_serial(), j->kernel, j->ws ? j->ws + (size_t)tid * j->ws_bytes : NULL, j->ws_bytes};
    ct_epilogue scaled = {j->logit_scale, 0.f, NULL, CT_ACT_NONE};
    for (int64_t c0; (c0 = ct_team_next(team, 0, LOGIT_COLS)) < j->hw;) {
        int cn = j->hw - c0 < LOGIT_COLS ? (int)(j->hw - c0) : LOGIT_COLS;
        if (!ct_gemm(&one, 0, 1, j->N, cn, j->E, j->class_emb, j->E, j->img_tokens + (size_t)(1 + c0) * j->E, j->E, &scaled, j->plt + c0,
                     j->hw))
            j->nomem[tid] = 1;
    }
    if (tid == 0 && j->cls_reweight && !ct_gemm(&one, 0, 1, 1, j->N, j->E, j->img_tokens, j->E, j->class_emb, j->E, &scaled, j->cls, j->N))
        j->nomem[tid] = 1;
    ct_team_barrier(team);
    stage_mark(j->ts, tid, CT_VOTE_LOGITS, &t);
    up_rows(&j->up, j->scratch + (size_t)tid * j->scratch_floats, NULL, tid, nth);
    stage_mark(j->ts, tid, CT_VOTE_UP_RAW, &t);
}

/* ---- the back: cluster maps, regions, vote */
#define MEDIAN_ROWS 16
typedef struct {
    const float *corr;
    const int32_t *dbl;  /* [hw] DBSCAN labels */
    const int32_t *cnt;  /* [nc] cluster sizes */
    int hw, nc, L, ch, cw;
    double *acc;         /* [nc x hw] */
    float *cmean;        /* [nc x hw] */
    up_job upc;          /* cmean -> cmaps (x ratio) */
    const ct_median_plan *plan;
    float *cmaps, *cfilt;/* [nc x ch x cw] upsampled, filtered */
    int32_t *mscratch;   /* per thread: mscratch_ints */
    size_t mscratch_ints;
    up_job upa;          /* cfilt -> assign, with counts */
    float *scratch;      /* per thread: scratch_floats */
    size_t scratch_floats;
    int32_t *hist;       /* [nth x nc x L] counts per thread (L: the labels used) */
    const int32_t *used; /* [L] the labels used, ascending */
    int32_t *winner;     /* [nc] */
    const int32_t *assign;
    int32_t *labels;
    size_t HW;
    int *nan;            /* [nth] */
    double *ts;          /* stage times (thread 0), or NULL */
} back_job;

static void back_task(void *arg, ct_team *team, int tid, int nth) {
    back_job *j = arg;
    int64_t b, e;
    double t = j->ts && !tid ? ct_seg_cpu_s() : 0;
    /* the mean corr row of each cluster, a range of columns each: every sum in row order */
    ct_split(j->hw, tid, nth, &b, &e);
    for (int i = 0; i < j->hw; i++) {
        int c = j->dbl[i];
        if (c < 0) continue;
        const float *row = j->corr + (size_t)i * j->hw;
        double *a = j->acc + (size_t)c * j->hw;
        for (int64_t k = b; k < e; k++) a[k] += row[k];
    }
    for (int c = 0; c < j->nc; c++)
        for (int64_t k = b; k < e; k++) j->cmean[(size_t)c * j->hw + k] = (float)(j->acc[(size_t)c * j->hw + k] / j->cnt[c]);
    ct_team_barrier(team);
    stage_mark(j->ts, tid, CT_VOTE_MEANS, &t);
    float *scr = j->scratch + (size_t)tid * j->scratch_floats;
    up_rows(&j->upc, scr, NULL, tid, nth);
    ct_team_barrier(team);
    stage_mark(j->ts, tid, CT_VOTE_UPSAMPLE, &t);
    /* the median filter: every thread on every map, MEDIAN_ROWS rows at a time */
    int per = (j->ch + MEDIAN_ROWS - 1) / MEDIAN_ROWS;
    size_t plane = (size_t)j->ch * j->cw;
    int32_t *ms = j->mscratch + (size_t)tid * j->mscratch_ints;
    for (int64_t k; (k = ct_team_next(team, 0, 1)) < (int64_t)j->nc * per;) {
        int c = (int)(k / per), r0 = (int)(k % per) * MEDIAN_ROWS, r1 = r0 + MEDIAN_ROWS < j->ch ? r0 + MEDIAN_ROWS : j->ch;
        j->nan[tid] |= ct_median_rows(j->plan, j->cmaps + c * plane, j->ch, j->cw, r0, r1, j->cfilt + c * plane, ms);
    }
    ct_team_barrier(team);
    for (int u = 0; u < nth; u++)
        if (j->nan[u]) return; /* every thread sees the same flags: no one waits at a later barrier */
    stage_mark(j->ts, tid, CT_VOTE_MEDIAN, &t);
    /* regions, with this thread's counts of raw labels per region */
    size_t nl = (size_t)j->nc * j->L;
    up_rows(&j->upa, scr, j->hist + (size_t)tid * nl, tid, nth);
    ct_team_barrier(team);
    stage_mark(j->ts, tid, CT_VOTE_ASSIGN, &t);
    /* majority vote of the raw labels inside each region; ties go to the smaller label */
    ct_split((int64_t)nl, tid, nth, &b, &e);
    for (int u = 1; u < nth; u++)
        for (int64_t i = b; i < e; i++) j->hist[i] += j->hist[(size_t)u * nl + i];
    ct_team_barrier(team);
    ct_split(j->nc, tid, nth, &b, &e);
    for (int64_t c = b; c < e; c++) {
        int32_t best = -1, bl = 0;
        for (int l = 0; l < j->L; l++)
            if (j->hist[(size_t)c * j->L + l] > best) { best = j->hist[(size_t)c * j->L + l]; bl = l; }
        j->winner[c] = j->used[bl];
    }
    ct_team_barrier(team);
    ct_split((int64_t)j->HW, tid, nth, &b, &e);
    for (int64_t i = b; i < e; i++) j->labels[i] = j->winner[j->assign[i]];
    stage_mark(j->ts, tid, CT_VOTE_VOTE, &t);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t ct_cliptrase_vote_bytes(ct_kernel k, int H, int W, int patch, int E, int n_names, int n_threads, size_t *dbscan) {
    int nth = n_threads > 0 ? n_threads : 1;
    double hw = (double)(H / patch) * (double)(W / patch), HW = (double)H * W;
    size_t db = ct_dbscan_bytes(k, (int)hw, (int)hw, nth);
    size_t ws = max_sz(ct_gemm_workspace(k, n_names, LOGIT_COLS, E, 0), ct_gemm_workspace(k, 1, n_names, E, 0)) + 64;
    /* corr, logits, DBSCAN labels, taps, per-thread products and rows, the raw labels (then the
     * regions), the labels used (one label per name: a label index and a name each); DBSCAN's
     * scratch is freed before the clusters' maps are made (ct_segment_memory adds the larger) */
    double b = 4.0 * hw * hw + 4.0 * hw * n_names + 4.0 * n_names + 4.0 * hw + 16.0 * (H + W) + (double)nth * ws +
               4.0 * nth * (double)up_scratch_floats(n_names, W) + 4.0 * HW + 8.0 * n_names;
    if (dbscan) *dbscan = db;
    return db && b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

/* The parameters and sizes of a vote, before any work. */
static ct_status vote_check(const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E, float logit_scale,
                            const float *class_emb, int n_names, const int32_t *name_label, const ct_segment_params *p, int32_t *labels,
                            int *L, ct_error *err) {
    if (!img_tokens || !corr_raw || !class_emb || !labels) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_postprocess: NULL argument");
    ct_status st = ct_vision_check(H, W, patch, err);
    if (st) return st;
    if (E <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "embedding size %d is not positive", E);
    if (!isfinite(logit_scale) || !isfinite(p->eps))
        return ct_fail(err, CT_ERR_INVALID_ARG, "the logit scale and eps must be finite numbers");
    if (!(logit_scale >= CT_MIN_LOGIT_SCALE && logit_scale <= CT_MAX_LOGIT_SCALE))
        return ct_fail(err, CT_ERR_INVALID_ARG, "logit scale %g outside [%g, %g]", (double)logit_scale, (double)CT_MIN_LOGIT_SCALE,
                       (double)CT_MAX_LOGIT_SCALE);
    if (p->upsample_ratio > 64) return ct_fail(err, CT_ERR_INVALID_ARG, "upsample ratio %d too large (max 64)", p->upsample_ratio);
    if (p->median_size > 255) return ct_fail(err, CT_ERR_INVALID_ARG, "median size %d too large (max 255)", p->median_size);
    st = ct_seg_labels(n_names, name_label, L, err);
    if (!st) st = ct_seg_check_finite(class_emb, (size_t)n_names, (size_t)E, "class embeddings", err);
    return st;
}

int ct_cliptrase_small_grid(int H, int W, int patch) { return (H < W ? H : W) <= 14 * patch; }

ct_status ct_cliptrase_vote(const ct_nn *nn, const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E,
                            float logit_scale, const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_cliptrase_out *out, ct_error *err) {
    ct_segment_params dp;
    ct_segment_params_default(&dp);
    if (!p) p = &dp;
    int L = 0;
    ct_status st = vote_check(img_tokens, corr_raw, H, W, patch, E, logit_scale, class_emb, n_names, name_label, p, labels, &L, err);
    if (st) return st;
    int h = H / patch, w = W / patch, hw = h * w;
    int small = ct_cliptrase_small_grid(H, W, patch);
    float eps = p->eps > 0 ? p->eps : (small ? 0.7f : 1.1f);
    int min_samples = p->min_samples > 0 ? p->min_samples : (small ? 3 : 7);
    int ratio = p->upsample_ratio > 0 ? p->upsample_ratio : 4;
    int msize = p->median_size > 0 ? p->median_size : 2 * ratio - 1;
    ct_intermediates *inter = out ? out->inter : NULL;
    const ct_exec *ex = &nn->ex;
    size_t HW = (size_t)H * W, nlog;
    if (!ct_mul_ok(HW, (size_t)n_names, &nlog)) return ct_fail(err, CT_ERR_NOMEM, "size overflow");
    int nth = ex->nth > 0 ? ex->nth : 1;

    /* `labels` is written last, after every step that can fail. Without intermediates the raw
     * labels become the regions in place (each row's counts are taken before it is overwritten). */
    float *corr = ct_alloc((size_t)hw * hw, sizeof(float));       /* [hw x hw] */
    float *plt = ct_alloc((size_t)hw * n_names, sizeof(float));   /* [N x h x w] */
    float *cls = ct_alloc((size_t)n_names, sizeof(float));        /* [N] */
    int32_t *pred_raw = ct_alloc(HW, sizeof(int32_t));            /* [H x W] */
    int32_t *dbl = ct_alloc((size_t)hw, sizeof(int32_t));         /* [hw] */
    int32_t *dense = ct_alloc((size_t)L, sizeof(int32_t));        /* [L] index of a label among the labels used */
    int32_t *used = ct_alloc((size_t)n_names, sizeof(int32_t));   /* the labels used, ascending */
    ct_taps *ty = ct_alloc((size_t)H, sizeof(ct_taps)), *tx = ct_alloc((size_t)W, sizeof(ct_taps));
    int *flags = ct_calloc(2 * (size_t)nth, sizeof(int));         /* per thread: out of memory, NaN */
    size_t ws_bytes = (max_sz(ct_gemm_workspace(nn->kernel, n_names, LOGIT_COLS, E, 0), ct_gemm_workspace(nn->kernel, 1, n_names, E, 0)) + 63) / 64 * 64;
    char *ws = ws_bytes ? aligned_alloc(64, (size_t)nth * ws_bytes) : NULL;
    size_t sf = up_scratch_floats(n_names, W);
    float *scratch = ct_alloc(sf * (size_t)nth, sizeof(float));
    /* with intermediates: the regions (all 0 when there is no cluster), the labels' copy, the logits */
    int32_t *assign = inter ? ct_calloc(HW, sizeof(int32_t)) : NULL, *pred = inter ? ct_alloc(HW, sizeof(int32_t)) : NULL;
    float *logits_up = inter ? ct_alloc(nlog, sizeof(float)) : NULL;
    int32_t *hist = NULL, *winner = NULL, *cnt = NULL, *mscr = NULL;
    float *cmaps = NULL, *cmean = NULL, *cfilt = NULL;
    double *acc = NULL;
    ct_taps *tyc = NULL, *txc = NULL;
    ct_median_plan *plan = NULL;
    int nc = 0;
    if (!corr || !plt || !cls || !pred_raw || !dbl || !dense || !used || !ty || !tx || !flags || (ws_bytes && !ws) || !scratch ||
        (inter && (!assign || !pred || !logits_up))) {
        st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d patches", hw);
        goto done;
    }
    /* the labels used, in ascending order: the vote counts only those */
    int n_used = 0;
    for (int l = 0; l < L; l++) dense[l] = -1;
    for (int i = 0; i < n_names; i++) dense[name_label ? name_label[i] : i] = 0;
    for (int l = 0; l < L; l++)
        if (dense[l] == 0) { dense[l] = n_used; used[n_used++] = l; }
    ct_bilinear_taps(h, H, ty);
    ct_bilinear_taps(w, W, tx);
    double *ts = out ? out->t_stage : NULL;
    front_job fj = {img_tokens, corr_raw, class_emb, E, n_names, hw, p->cls_reweight, logit_scale, nn->kernel, ws, ws_bytes, corr, plt, cls,
                    {plt, n_names, h, w, H, W, ty, tx, p->cls_reweight ? cls : NULL, name_label, logits_up, pred_raw, NULL, NULL, 0},
                    scratch, sf, flags, ts};
    ct_run(ex, front_task, &fj);
    for (int t = 0; t < nth; t++)
        if (flags[t]) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }

    double tc = ct_seg_cpu_s();
    st = ct_dbscan_nn(nn, corr, hw, hw, eps, min_samples, dbl, &nc, out ? out->t_dbscan : NULL, err);
    if (st) goto done;
    if (ts) ts[CT_VOTE_DBSCAN] += ct_seg_cpu_s() - tc;
    if (nc > 0) {
        int ch = ratio * h, cw = ratio * w;
        size_t cplane = (size_t)ch * cw, sfc = max_sz(up_scratch_floats(nc, cw), up_scratch_floats(nc, W));
        cmean = ct_alloc((size_t)nc * hw, sizeof(float));           /* [nc x h x w] */
        acc = ct_calloc((size_t)nc * hw, sizeof(double));
        cnt = ct_calloc((size_t)nc, sizeof(int32_t));
        cmaps = ct_alloc((size_t)nc * cplane, sizeof(float));       /* [nc x ch x cw] upsampled */
        cfilt = ct_alloc((size_t)nc * cplane, sizeof(float));       /* [nc x ch x cw] filtered */
        hist = ct_calloc((size_t)nth * nc * n_used, sizeof(int32_t)); /* [nth x nc x n_used] */
        winner = ct_alloc((size_t)nc, sizeof(int32_t));
        if (!inter) assign = pred_raw;                              /* [H x W], over the raw labels */
        tyc = ct_alloc((size_t)ch, sizeof(ct_taps));
        txc = ct_alloc((size_t)cw, sizeof(ct_taps));
        plan = ct_median_plan_new(msize);
        size_t sci = plan ? ct_median_scratch(plan, cw, MEDIAN_ROWS) : 0;
        mscr = plan ? ct_alloc(sci * (size_t)nth, sizeof(int32_t)) : NULL;
        if (sfc > sf) {
            free(scratch);
            scratch = ct_alloc(sfc * (size_t)nth, sizeof(float));
            sf = sfc;
        }
        if (!cmean || !acc || !cnt || !cmaps || !cfilt || !hist || !winner || !tyc || !txc || !plan || !mscr || !scratch) {
            st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d clusters", nc);
            goto done;
        }
        for (int i = 0; i < hw; i++)
            if (dbl[i] >= 0) cnt[dbl[i]]++;
        ct_bilinear_taps(h, ch, tyc);
        ct_bilinear_taps(w, cw, txc);
        ct_bilinear_taps(ch, H, ty);
        ct_bilinear_taps(cw, W, tx);
        back_job bj = {corr, dbl, cnt, hw, nc, n_used, ch, cw, acc, cmean,
                       {cmean, nc, h, w, ch, cw, tyc, txc, NULL, NULL, cmaps, NULL, NULL, NULL, 0},
                       plan, cmaps, cfilt, mscr, sci,
                       {cfilt, nc, ch, cw, H, W, ty, tx, NULL, NULL, NULL, assign, pred_raw, dense, n_used},
                       scratch, sf, hist, used, winner, assign, labels, HW, flags + nth, ts};
        ct_run(ex, back_task, &bj);
        for (int t = 0; t < nth; t++)
            if (flags[nth + t]) { st = ct_fail(err, CT_ERR_NONFINITE, "median filter of the cluster maps: NaN in input"); goto done; }
    } else {
        memcpy(labels, pred_raw, HW * sizeof(int32_t));
    }
    if (inter) memcpy(pred, labels, HW * sizeof(int32_t));
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
        inter->median_size = msize; inter->upsample_ratio = ratio;
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
    if (assign != pred_raw) free(assign);
    free(corr); free(plt); free(cls); free(pred_raw); free(dbl); free(dense); free(used); free(pred);
    free(logits_up); free(cmaps); free(cfilt); free(cmean); free(hist);
    free(ty); free(tx); free(flags); free(ws); free(scratch); free(winner); free(cnt); free(mscr); free(acc); free(tyc); free(txc);
    ct_median_plan_free(plan);
    return st;
}
