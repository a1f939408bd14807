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

/* argmax over n maps [n x ih x iw] bilinearly upsampled to H x W, optionally scaled per map;
 * out_map (optional) receives the upsampled maps, lab receives label[argmax] (first maximum) */
typedef struct {
    const float *maps;
    int n, ih, iw, H, W;
    const ct_taps *ty, *tx;
    const float *scale;   /* [n] or NULL */
    const int32_t *label; /* [n] or NULL (identity) */
    float *out_map;       /* [n x H x W] or NULL */
    int32_t *lab;         /* [H x W] */
} up_argmax_job;

static void up_argmax_rows(void *arg, int64_t y0, int64_t y1) {
    up_argmax_job *j = arg;
    size_t plane = (size_t)j->ih * j->iw, oplane = (size_t)j->H * j->W;
    for (int64_t y = y0; y < y1; y++)
        for (int x = 0; x < j->W; x++) {
            float best = -INFINITY;
            int bi = 0;
            for (int c = 0; c < j->n; c++) {
                float v = ct_bilinear_at(j->maps + c * plane, j->iw, &j->ty[y], &j->tx[x]);
                if (j->scale) v *= j->scale[c];
                if (j->out_map) j->out_map[c * oplane + (size_t)y * j->W + x] = v;
                if (v > best || c == 0) { best = v; bi = c; }
            }
            j->lab[(size_t)y * j->W + x] = j->label ? j->label[bi] : bi;
        }
}

static ct_status up_argmax(const ct_exec *ex, const float *maps, int n, int ih, int iw, int H, int W, const float *scale,
                           const int32_t *label, float *out_map, int32_t *lab, ct_error *err) {
    ct_taps *ty = ct_alloc((size_t)H, sizeof(ct_taps)), *tx = ct_alloc((size_t)W, sizeof(ct_taps));
    if (!ty || !tx) { free(ty); free(tx); return ct_fail(err, CT_ERR_NOMEM, "out of memory"); }
    ct_bilinear_taps(ih, H, ty);
    ct_bilinear_taps(iw, W, tx);
    up_argmax_job j = {maps, n, ih, iw, H, W, ty, tx, scale, label, out_map, lab};
    ct_parallel_for(ex, H, 1, up_argmax_rows, &j);
    free(ty); free(tx);
    return CT_OK;
}

typedef struct {
    float *maps; /* [n x h x w], filtered in place */
    int h, w, size;
    ct_status *st; /* [n] status of each map: written by one thread each */
} median_job;

static void median_maps(void *arg, int64_t c0, int64_t c1) {
    median_job *j = arg;
    for (int64_t c = c0; c < c1; c++) {
        float *m = j->maps + (size_t)c * j->h * j->w;
        j->st[c] = ct_median_filter(m, j->h, j->w, j->size, m, NULL);
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

    ct_status st = CT_OK;
    float *corr = ct_alloc((size_t)hw * hw, sizeof(float));       /* [hw x hw] */
    float *pl = ct_alloc((size_t)hw * n_names, sizeof(float));    /* [hw x N] then [N x hw] */
    float *plt = ct_alloc((size_t)hw * n_names, sizeof(float));   /* [N x h x w] */
    float *cls = ct_alloc((size_t)n_names, sizeof(float));        /* [N] */
    int32_t *pred_raw = ct_alloc(HW, sizeof(int32_t));            /* [H x W] */
    int32_t *dbl = ct_alloc((size_t)hw, sizeof(int32_t));         /* [hw] */
    int32_t *assign = ct_calloc(HW, sizeof(int32_t));             /* [H x W] */
    int32_t *pred = ct_alloc(HW, sizeof(int32_t));                /* [H x W] */
    float *logits_up = NULL, *cmaps = NULL, *cmean = NULL;
    int32_t *hist = NULL;
    int nc = 0;
    if (!corr || !pl || !plt || !cls || !pred_raw || !dbl || !assign || !pred) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for %d patches", hw); goto done; }
    if (inter && !(logits_up = ct_alloc(nlog, sizeof(float)))) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory for intermediates"); goto done; }

    /* global patch denoising: subtract the CLS row, keep positive correlations */
    denoise_job dj = {corr_raw, corr, hw};
    ct_parallel_for(ex, hw, 16, denoise_rows, &dj);
    ct_epilogue scaled = {logit_scale, 0.f, NULL, CT_ACT_NONE};
    if (!ct_gemm(nn, 0, 1, hw, n_names, E, img_tokens + E, E, class_emb, E, &scaled, pl, n_names)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < hw; i++)
        for (int n = 0; n < n_names; n++) plt[(size_t)n * hw + i] = pl[(size_t)i * n_names + n];
    if (p->cls_reweight && !ct_gemm(nn, 0, 1, 1, n_names, E, img_tokens, E, class_emb, E, &scaled, cls, n_names)) {
        st = ct_fail(err, CT_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = up_argmax(ex, plt, n_names, h, w, H, W, p->cls_reweight ? cls : NULL, name_label, logits_up, pred_raw, err);
    if (st) goto done;

    st = ct_dbscan_nn(nn, corr, hw, hw, eps, min_samples, dbl, &nc, err);
    if (st) goto done;
    memcpy(pred, pred_raw, HW * sizeof(int32_t));
    if (nc > 0) {
        int ch = ratio * h, cw = ratio * w;
        cmean = ct_calloc((size_t)nc * hw, sizeof(float));          /* [nc x h x w] */
        cmaps = ct_alloc((size_t)nc * ch * cw, sizeof(float));      /* [nc x ch x cw] */
        hist = ct_calloc((size_t)nc * L, sizeof(int32_t));          /* [nc x L] */
        double *acc = ct_calloc((size_t)nc * hw, sizeof(double));
        int32_t *cnt = ct_calloc((size_t)nc, sizeof(int32_t));
        if (!cmean || !cmaps || !hist || !acc || !cnt) {
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
        if (!ct_bilinear(ex, nc, h, w, cmean, ch, cw, cmaps)) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        ct_status *mst = ct_calloc((size_t)nc, sizeof(ct_status));
        if (!mst) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        median_job mj = {cmaps, ch, cw, msize, mst};
        ct_parallel_for(ex, nc, 1, median_maps, &mj); /* clusters are independent */
        for (int c = 0; c < nc && !st; c++)
            if (mst[c]) st = ct_fail(err, mst[c], "median filter of cluster %d: %s", c, ct_status_str(mst[c]));
        free(mst);
        if (st) goto done;
        st = up_argmax(ex, cmaps, nc, ch, cw, H, W, NULL, NULL, NULL, assign, err);
        if (st) goto done;
        /* majority vote of the raw labels inside each cluster region; ties go to the smaller label */
        for (size_t i = 0; i < HW; i++) hist[(size_t)assign[i] * L + pred_raw[i]]++;
        int32_t *winner = ct_alloc((size_t)nc, sizeof(int32_t));
        if (!winner) { st = ct_fail(err, CT_ERR_NOMEM, "out of memory"); goto done; }
        for (int c = 0; c < nc; c++) {
            int32_t best = -1, bl = 0;
            for (int l = 0; l < L; l++)
                if (hist[(size_t)c * L + l] > best) { best = hist[(size_t)c * L + l]; bl = l; }
            winner[c] = bl;
        }
        for (size_t i = 0; i < HW; i++) pred[i] = winner[assign[i]];
        free(winner);
    }
    memcpy(labels, pred, HW * sizeof(int32_t));
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
        inter->cluster_maps = cmaps; cmaps = NULL;
        inter->cluster_assign = assign; assign = NULL;
        inter->pred = pred; pred = NULL;
    }
    st = ct_ok(err);
done:
    free(corr); free(pl); free(plt); free(cls); free(pred_raw); free(dbl); free(assign); free(pred);
    free(logits_up); free(cmaps); free(cmean); free(hist);
    return st;
}
