/* The one-call segmentation: parameters checked before any heavy work, the encoder with the
 * selected head, then the head's post-processing (the CLIPtrase cluster vote, or the mmseg
 * pipeline of the other heads), with the cheap results (ct_segment_info) and, when asked, every
 * intermediate. */
#include "seg/classify.h"
#include "seg/cliptrase.h"
#include "seg/pamr.h"
#include "seg/slide.h"
#include "seg/stage.h"

#include "heads/head.h"
#include "seg/proxy.h"
#include "model/model.h"
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

void ct_intermediates_free(ct_intermediates *x) {
    if (!x) return;
    free(x->image_embedding); free(x->img_tokens); free(x->corr_raw); free(x->corr);
    free(x->patch_logits); free(x->logits_up); free(x->pred_raw); free(x->dbscan_labels);
    free(x->cluster_maps); free(x->cluster_assign); free(x->pred); free(x->seg_logits); free(x->pamr_logits);
    free(x->outliers);
    free(x->proxy_features);
    memset(x, 0, sizeof *x);
}

/* Every parameter, before any work (the ranges docs/api.md gives): the common ones, the rules of
 * the head's post-processing, then the head's own (its descriptor's check, for windows of the
 * image's grid). */
static ct_status check_params(const ct_segment_params *p, const ct_model *m, int H, int W, ct_error *err) {
    const ct_head_desc *d = ct_head_get(p->head);
    if (!d) return ct_fail(err, CT_ERR_INVALID_ARG, "unknown head %d", (int)p->head);
    int patch = m->cfg.patch;
    if (!isfinite(p->eps) || !isfinite(p->logit_scale) || !isfinite(p->gaussian_std) || !isfinite(p->prob_thd) || !isfinite(p->area_thd))
        return ct_fail(err, CT_ERR_INVALID_ARG, "segmentation parameters must be finite numbers");
    if (p->upsample_ratio > 64) return ct_fail(err, CT_ERR_INVALID_ARG, "upsample ratio %d too large (max 64)", p->upsample_ratio);
    if (p->median_size > 255) return ct_fail(err, CT_ERR_INVALID_ARG, "median size %d too large (max 255)", p->median_size);
    if (p->slide_crop < 0) return ct_fail(err, CT_ERR_INVALID_ARG, "window size %d is negative", p->slide_crop);
    if (p->slide_crop > 0) {
        if (p->slide_crop % patch && !d->needs_proxy) /* the proxy heads pad their windows */
            return ct_fail(err, CT_ERR_INVALID_ARG, "window size %d is not a multiple of the patch size %d", p->slide_crop, patch);
        if (p->slide_stride <= 0 || p->slide_stride > p->slide_crop)
            return ct_fail(err, CT_ERR_INVALID_ARG, "window stride %d must be in [1, %d] (the window size): a larger stride leaves pixels no window covers",
                           p->slide_stride, p->slide_crop);
    }
    if (p->pamr_steps < 0 || p->pamr_steps > 1000) return ct_fail(err, CT_ERR_INVALID_ARG, "PAMR steps %d outside [0, 1000]", p->pamr_steps);
    if (p->n_pamr_dilations < 0 || p->n_pamr_dilations > CT_MAX_DILATIONS)
        return ct_fail(err, CT_ERR_INVALID_ARG, "%d PAMR dilations (1 to %d)", p->n_pamr_dilations, CT_MAX_DILATIONS);
    if (p->pamr_steps > 0 && p->n_pamr_dilations < 1) return ct_fail(err, CT_ERR_INVALID_ARG, "PAMR needs at least one dilation");
    for (int i = 0; i < p->n_pamr_dilations; i++)
        if (p->pamr_dilations[i] <= 0 || p->pamr_dilations[i] > 4096)
            return ct_fail(err, CT_ERR_INVALID_ARG, "PAMR dilation %d outside [1, 4096]", p->pamr_dilations[i]);
    if (p->prob_thd < 0 || p->prob_thd > 1) return ct_fail(err, CT_ERR_INVALID_ARG, "prob_thd %g outside [0, 1]", (double)p->prob_thd);
    if (p->area_thd < 0 || p->area_thd > 1) return ct_fail(err, CT_ERR_INVALID_ARG, "area_thd %g outside [0, 1]", (double)p->area_thd);
    if (p->logit_scale < 0 || p->logit_scale > 1e6f) return ct_fail(err, CT_ERR_INVALID_ARG, "logit scale %g outside [0, 1e6]", (double)p->logit_scale);
    if (d->post == CT_POST_VOTE && (p->slide_crop || p->pamr_steps || p->prob_thd > 0 || p->area_thd > 0))
        return ct_fail(err, CT_ERR_INVALID_ARG,
                       "head %s runs on the whole image with its cluster vote: sliding windows, PAMR, prob_thd and area_thd apply to "
                       "the other heads (set them to 0, or choose another head)", d->name);
    if (!d->needs_proxy && p->proxy)
        return ct_fail(err, CT_ERR_INVALID_ARG, "a proxy model belongs to head proxyclip: head %s does not use it (set params.proxy to NULL)",
                       d->name);
    if (d->post != CT_POST_VOTE && p->cls_reweight)
        return ct_fail(err, CT_ERR_INVALID_ARG, "cls_reweight belongs to the CLIPtrase vote: head %s does not use it (set it to 0)", d->name);
    if (d->keep && m->cfg.vision_layers - 1 > CT_HEAD_MAX_KEEP)
        return ct_fail(err, CT_ERR_UNSUPPORTED, "head %s keeps block outputs: models of at most %d blocks", d->name, CT_HEAD_MAX_KEEP + 1);
    ct_status st = ct_check_threads(p->n_threads, err);
    if (st || !d->check) return st;
    int wh = p->slide_crop > 0 && p->slide_crop < H ? p->slide_crop : H, ww = p->slide_crop > 0 && p->slide_crop < W ? p->slide_crop : W;
    return d->check(p, &m->cfg, wh, ww, err);
}

ct_status ct_postprocess(const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E, float logit_scale,
                         const float *class_emb, int n_names, const int32_t *name_label, const ct_segment_params *p,
                         int32_t *labels, ct_intermediates *inter, ct_error *err) {
    ct_segment_params dp;
    ct_segment_params_default(&dp);
    if (!p) p = &dp;
    /* filled in a local struct and handed over on success: a failure leaves *inter untouched */
    ct_intermediates tmp;
    memset(&tmp, 0, sizeof tmp);
    /* the encoder outputs given by the caller are finite (sizes checked first: the vote checks
     * everything else, class embeddings included, before any work) */
    if (img_tokens && corr_raw && E > 0 && patch > 0 && ct_vision_check(H, W, patch, NULL) == CT_OK) {
        size_t T = (size_t)(H / patch) * (size_t)(W / patch) + 1;
        ct_status sf = ct_seg_check_finite(img_tokens, T, (size_t)E, "img_tokens", err);
        if (!sf) sf = ct_seg_check_finite(corr_raw, T, T, "corr_raw", err);
        if (sf) return sf;
    }
    ct_nn nn;
    ct_status st = ct_seg_nn_transient(p->n_threads, &nn, err);
    if (st) return st;
    ct_cliptrase_out co = {.inter = inter ? &tmp : NULL};
    st = ct_cliptrase_vote(&nn, img_tokens, corr_raw, H, W, patch, E, logit_scale, class_emb, n_names, name_label, p, labels, &co, err);
    ct_runtime_free(nn.ex.rt);
    if (st) ct_intermediates_free(&tmp);
    else if (inter) *inter = tmp;
    return st;
}

/* Everything a call checks before any work; p NULL: the defaults (in *dp). */
static ct_status check_call(const ct_model *m, int H, int W, int n_names, const int32_t *name_label, const ct_segment_params **p,
                            ct_segment_params *dp, int *L, ct_error *err) {
    if (!*p) {
        ct_segment_params_default(dp);
        *p = dp;
    }
    ct_status st = ct_model_need_clip(m, "segmentation", err);
    if (st) return st;
    if (ct_head_get((*p)->head) && ct_head_get((*p)->head)->needs_proxy) {
        /* any H x W: the windows are padded; the proxy (checked by the head) sets the grid */
        st = check_params(*p, m, H, W, err);
        if (!st) st = ct_proxy_check_size(m, *p, H, W, err);
    } else {
        st = ct_vision_check(H, W, m->cfg.patch, err);
        if (!st) st = check_params(*p, m, H, W, err);
    }
    if (!st) st = ct_seg_labels(n_names, name_label, L, err);
    return st;
}

/* The class embeddings of a call, before any work: finite (one NaN would give every pixel label 0
 * with status OK) */
static ct_status check_emb(const ct_model *m, const float *class_emb, int n_names, ct_error *err) {
    return ct_seg_check_finite(class_emb, (size_t)n_names, (size_t)m->cfg.embed_dim, "class embeddings", err);
}

/* The resolved softmax temperature of the class probabilities. */
static float resolved_scale(const ct_model *m, const ct_segment_params *p) { return p->logit_scale > 0 ? p->logit_scale : m->cfg.logit_scale; }

static void info_common(ct_segment_info *in, const ct_model *m, const ct_nn *nn, const ct_segment_params *p, int H, int W, int n_names,
                        int L) {
    memset(in, 0, sizeof *in);
    in->head = p->head; in->H = H; in->W = W; in->h = H / m->cfg.patch; in->w = W / m->cfg.patch;
    in->n_names = n_names; in->n_labels = L; in->logit_scale = resolved_scale(m, p);
    in->n_threads = nn->ex.nth; in->precision = m->precision; in->kernel = ct_kernel_name(m->kernel);
}

/* Bytes the mmseg pipeline holds at its peak: seg_logits, then the largest stage next to it:
 * the window batches, or PAMR or the classification next to the encoder workspace the model
 * keeps after the windows; with intermediates also img_tokens, the separate pamr_logits and
 * pred. */
static size_t mmseg_bytes(const ct_model *m, int H, int W, int n_names, int L, const ct_segment_params *p, int nth, int with_inter) {
    ct_slide_grid g;
    ct_slide_grid_make(H, W, p->slide_crop, p->slide_stride, &g);
    size_t HW = (size_t)H * W, T = (size_t)(H / m->cfg.patch) * (size_t)(W / m->cfg.patch) + 1, E = (size_t)m->cfg.embed_dim;
    int proxy = ct_head_get(p->head)->needs_proxy;
    size_t sl = proxy ? ct_proxy_bytes(m, p, H, W, n_names, with_inter) : ct_slide_workspace(m, &g, p, n_names);
    size_t pa = p->pamr_steps > 0 ? ct_pamr_workspace(H, W, p->n_pamr_dilations, p->pamr_dilations, nth < n_names ? nth : n_names) : 0;
    size_t cl = ct_classify_workspace(HW, n_names, L, nth);
    if (!sl || (p->pamr_steps > 0 && !pa) || !cl) return 0;
    size_t post = (pa > cl ? pa : cl) + ct_slide_encoder_workspace(m, &g, p);
    size_t big = sl > post ? sl : post;
    double b = 4.0 * (double)n_names * (double)HW + (double)big;
    if (with_inter) {
        b += 4.0 * (double)HW; /* pred */
        if (ct_head_get(p->head)->mask_name) b += 4.0 * (double)g.n * (double)(g.wh / m->cfg.patch) * (double)(g.ww / m->cfg.patch);
        if (g.n == 1 && g.wh == H && g.ww == W && !proxy) b += 4.0 * (double)(T * E);
        if (p->pamr_steps > 0) b += 4.0 * (double)n_names * (double)HW;
    }
    return b < (double)(SIZE_MAX / 2) ? (size_t)b : 0;
}

/* Every head but cliptrase: windows (or the whole image) -> seg_logits -> PAMR -> classification. */
static ct_status segment_mmseg(const ct_model *m, const float *pixels, int H, int W, const float *class_emb, int N, const int32_t *name_label,
                               int L, const ct_segment_params *p, const ct_segment_outputs *out, double t0, ct_error *err) {
    const ct_config *c = &m->cfg;
    const ct_head_desc *d = ct_head_get(p->head);
    ct_nn nn = ct_model_nn(m, p->n_threads);
    ct_slide_grid g;
    ct_slide_grid_make(H, W, p->slide_crop, p->slide_stride, &g);
    int whole = g.n == 1 && g.wh == H && g.ww == W, h = H / c->patch, w = W / c->patch, E = c->embed_dim;
    size_t HW = (size_t)H * W, T = (size_t)h * w + 1, nmask = (size_t)g.n * (size_t)(g.wh / c->patch) * (size_t)(g.ww / c->patch);
    ct_intermediates *inter = out->inter;
    float *seg = ct_alloc(HW * (size_t)N, sizeof(float));                    /* [N x H x W] */
    int proxy = d->needs_proxy;
    float *tok = inter && whole && !proxy ? ct_alloc(T * E, sizeof(float)) : NULL; /* [T x E] */
    int32_t *mask = inter && d->mask_name ? ct_alloc(nmask, sizeof(int32_t)) : NULL; /* [windows x h x w] */
    float *pamr = NULL;
    int32_t *pred = inter ? ct_alloc(HW, sizeof(int32_t)) : NULL;
    if (!seg || (inter && whole && !proxy && !tok) || (inter && !pred) || (inter && d->mask_name && !mask)) {
        free(seg); free(tok); free(pred); free(mask);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for the logits of %d names on a %d x %d image", N, W, H);
    }
    ct_slide_stats ss = {0};
    ct_proxy_out po;
    memset(&po, 0, sizeof po);
    po.keep = inter != NULL;
    ct_status st;
    if (proxy) {
        st = ct_proxy_logits(m, &nn, pixels, H, W, p, class_emb, N, seg, &po, err);
        ss.n_windows = po.n_windows;
        ss.t_encode = po.t_encode;
        tok = po.tokens;
    } else {
        st = ct_slide_logits(m, &nn, pixels, &g, p, class_emb, N, 0, seg, tok, mask, &ss, err);
    }
    const float *fin = seg;
    if (!st && p->pamr_steps > 0) {
        /* in place unless seg_logits is kept */
        pamr = inter ? ct_alloc(HW * (size_t)N, sizeof(float)) : seg;
        if (!pamr) st = ct_fail(err, CT_ERR_NOMEM, "out of memory for the PAMR logits");
        else {
            if (pamr != seg) memcpy(pamr, seg, sizeof(float) * HW * (size_t)N);
            st = ct_pamr(&nn.ex, pixels, H, W, p->pamr_dilations, p->n_pamr_dilations, p->pamr_steps, pamr, N, err);
            fin = pamr;
        }
    }
    ct_classify_params cp = {name_label, L, resolved_scale(m, p), p->area_thd, p->prob_thd};
    int nt = 0;
    if (!st) st = ct_classify(&nn.ex, fin, N, HW, &cp, out->labels, out->probs, &nt, err);
    if (st) {
        free(seg); free(tok); free(pred); free(mask); free(po.features);
        if (pamr != seg) free(pamr);
        return st;
    }
    if (out->info) {
        ct_segment_info *in = out->info;
        info_common(in, m, &nn, p, H, W, N, L);
        in->n_windows = ss.n_windows;
        in->n_thresholded = nt;
        in->t_encode = ss.t_encode;
        in->t_total = now_s() - t0;
        in->t_post = in->t_total - in->t_encode;
        in->workspace_bytes = mmseg_bytes(m, H, W, N, L, p, nn.ex.nth, inter != NULL);
    }
    if (inter) {
        memset(inter, 0, sizeof *inter);
        inter->H = H; inter->W = W; inter->h = h; inter->w = w; inter->n_names = N; inter->embed_dim = E;
        memcpy(pred, out->labels, HW * sizeof(int32_t));
        /* a head without the CLS row in its tokens: img_tokens [h*w x E] */
        if (tok && !d->tokens_cls && !proxy) memmove(tok, tok + E, sizeof(float) * (T - 1) * E);
        inter->img_tokens = tok;
        inter->outliers = mask;
        inter->n_windows = g.n; inter->win_h = g.wh / c->patch; inter->win_w = g.ww / c->patch;
        inter->img_tokens_rows = tok ? (proxy ? po.ph * po.pw : (int)(d->tokens_cls ? T : T - 1)) : 0;
        inter->proxy_features = po.features;
        inter->proxy_h = po.ph; inter->proxy_w = po.pw; inter->proxy_dim = po.dim;
        inter->seg_logits = seg;
        inter->pamr_logits = pamr;
        inter->pred = pred;
        return ct_ok(err);
    }
    free(seg);
    return ct_ok(err);
}

/* cliptrase: the encoder on the whole image, then the cluster vote. probs (when asked): the
 * classification's softmax of the raw logits before the vote (logits_up: the model's logit scale
 * times the cosine logits, upsampled, times the CLS logits with cls_reweight), rescaled to the
 * resolved logit scale; no thresholds. */
static ct_status segment_cliptrase(const ct_model *m, const float *pixels, int H, int W, const float *class_emb, int n_names,
                                   const int32_t *name_label, int L, const ct_segment_params *p, const ct_segment_outputs *out, double t0,
                                   ct_error *err) {
    const ct_config *c = &m->cfg;
    int h = H / c->patch, w = W / c->patch, E = c->embed_dim;
    size_t T = (size_t)h * w + 1, HW = (size_t)H * W;
    ct_intermediates own, *inter = out->inter ? out->inter : out->probs ? &own : NULL;
    if (inter) memset(inter, 0, sizeof *inter);
    float *tokens = ct_alloc(T * E, sizeof(float));   /* [T x E] */
    float *corr_raw = ct_alloc(T * T, sizeof(float)); /* [T x T] */
    float *emb = out->inter ? ct_alloc((size_t)E, sizeof(float)) : NULL;
    int32_t *scratch = out->probs ? ct_alloc(HW, sizeof(int32_t)) : NULL;
    if (!tokens || !corr_raw || (out->inter && !emb) || (out->probs && !scratch)) {
        free(tokens); free(corr_raw); free(emb); free(scratch);
        return ct_fail(err, CT_ERR_NOMEM, "out of memory for a %d x %d image", W, H);
    }
    ct_nn nn = ct_model_nn(m, p->n_threads);
    ct_vision_out vo = {.p = p, .tokens = tokens, .corr_raw = corr_raw, .image_embedding = emb};
    ct_status st = ct_vision_encode(m, &nn, pixels, 1, H, W, &vo, err);
    double t1 = now_s();
    ct_cliptrase_out co = {.inter = inter};
    /* the vote compares distances against eps: always in fp32, whatever the encoder's precision */
    ct_nn nn_post = nn;
    nn_post.kernel = ct_kernel_fp32(nn_post.kernel);
    /* with probabilities, the vote's labels wait in scratch until the classification (which
     * fails only before it writes) has succeeded: a failure leaves labels untouched */
    if (!st)
        st = ct_cliptrase_vote(&nn_post, tokens, corr_raw, H, W, c->patch, E, c->logit_scale, class_emb, n_names, name_label, p,
                               out->probs ? scratch : out->labels, &co, err);
    if (!st && out->probs) {
        ct_classify_params cp = {name_label, L, resolved_scale(m, p) / c->logit_scale, 0.f, 0.f};
        st = ct_classify(&nn.ex, inter->logits_up, n_names, HW, &cp, out->labels, out->probs, NULL, err);
        if (!st) memcpy(out->labels, scratch, HW * sizeof(int32_t));
    }
    free(scratch);
    if (inter == &own) ct_intermediates_free(&own);
    double t2 = now_s();
    if (st) {
        free(tokens); free(corr_raw); free(emb);
        if (inter) ct_intermediates_free(inter);
        return st;
    }
    if (out->info) {
        ct_segment_info *in = out->info;
        info_common(in, m, &nn, p, H, W, n_names, L);
        in->n_windows = 1; in->n_clusters = co.n_clusters; in->eps = co.eps; in->min_samples = co.min_samples;
        in->median_size = co.median_size; in->upsample_ratio = co.upsample_ratio;
        in->t_encode = t1 - t0; in->t_post = t2 - t1; in->t_total = now_s() - t0;
        in->workspace_bytes = ct_vision_workspace(m, 1, H, W, nn.ex.nth, &vo);
    }
    if (out->inter) {
        out->inter->image_embedding = emb;
        out->inter->img_tokens = tokens;
        out->inter->img_tokens_rows = (int)T;
        out->inter->corr_raw = corr_raw;
        return ct_ok(err);
    }
    free(tokens); free(corr_raw);
    return ct_ok(err);
}

/* Bytes of the cluster vote's call at its peak, with n_clusters clusters (-1: hw / min_samples,
 * the most a typical picture gives; the count is known only after DBSCAN). */
static size_t vote_bytes_n(const ct_model *m, int H, int W, int n_names, int L, const ct_segment_params *p, int with_intermediates,
                           int n_clusters) {
    const ct_config *c = &m->cfg;
    size_t hw = (size_t)(H / c->patch) * (size_t)(W / c->patch), T = hw + 1, HW = (size_t)H * W, E = (size_t)c->embed_dim;
    ct_vision_out vo = {.p = p, .tokens = (float *)1, .corr_raw = (float *)1};
    size_t ws = ct_vision_workspace(m, 1, H, W, ct_model_threads(m), &vo);
    /* encoder outputs, then the vote (in fp32 whatever the encoder's precision), and the
     * clusters (a cluster can have fewer points than min_samples when its border points went to
     * earlier clusters), each with its mean row (float and double sums), its map upsampled by the
     * ratio and a count of each label per thread */
    ct_nn nn = ct_model_nn(m, p->n_threads);
    ct_kernel k = ct_kernel_fp32(nn.kernel);
    size_t db = 0, vote = ct_cliptrase_vote_bytes(k, H, W, c->patch, c->embed_dim, n_names, nn.ex.nth, &db);
    if (!vote || !ws) return 0;
    int ms = p->min_samples > 0 ? p->min_samples : (ct_cliptrase_small_grid(H, W, c->patch) ? 3 : 7);
    int ratio = p->upsample_ratio > 0 ? p->upsample_ratio : 4;
    double nc = n_clusters >= 0 ? (double)n_clusters : (double)hw / ms;
    int wide = ratio * (W / c->patch) > W ? ratio * (W / c->patch) : W;
    /* per cluster: mean (float, double sums), map upsampled and filtered, counts, two cached rows
     * per thread of the upsampling; DBSCAN's scratch is freed before the maps are made */
    double per = (12.0 + 8.0 * ratio * ratio) * (double)hw + 4.0 * nn.ex.nth * L + 8.0 * nn.ex.nth * wide + 8.0;
    double clusters = nc * per;
    double b = (double)ws + 4.0 * (double)(T * E + T * T) + (double)vote + (clusters > (double)db ? clusters : (double)db);
    /* intermediates: the upsampled logits, the regions and the labels' copy, the image embedding
     * and DBSCAN's labels (corr, the patch logits and the raw labels are the vote's own arrays,
     * handed over instead of freed) */
    if (with_intermediates) b += 4.0 * ((double)n_names * (double)HW + 2.0 * (double)HW + (double)E + (double)hw);
    return b < (double)SIZE_MAX / 2 ? (size_t)b : 0;
}

static size_t vote_bytes(const ct_model *m, int H, int W, int n_names, int L, const ct_segment_params *p, int nth, int with_intermediates) {
    (void)nth;
    return vote_bytes_n(m, H, W, n_names, L, p, with_intermediates, -1);
}

/* The post-processing pipelines a head names (head.h), with their memory estimates. */
typedef struct {
    ct_status (*run)(const ct_model *m, const float *pixels, int H, int W, const float *class_emb, int n_names,
                     const int32_t *name_label, int L, const ct_segment_params *p, const ct_segment_outputs *out, double t0,
                     ct_error *err);
    size_t (*bytes)(const ct_model *m, int H, int W, int n_names, int L, const ct_segment_params *p, int nth, int with_inter);
} pipeline;

static const pipeline k_pipelines[CT_POST_COUNT] = {
    [CT_POST_VOTE] = {segment_cliptrase, vote_bytes},
    [CT_POST_MMSEG] = {segment_mmseg, mmseg_bytes},
};

ct_status ct_segment_memory(const ct_model *m, int H, int W, int n_names, const ct_segment_params *p, int with_intermediates,
                            size_t *bytes, ct_error *err) {
    return ct_segment_memory_clusters(m, H, W, n_names, p, with_intermediates, -1, bytes, err);
}

ct_status ct_segment_memory_clusters(const ct_model *m, int H, int W, int n_names, const ct_segment_params *p, int with_intermediates,
                                     int n_clusters, size_t *bytes, ct_error *err) {
    if (!m || !bytes) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_segment_memory: NULL argument");
    ct_segment_params dp;
    int L = 0;
    ct_status st = check_call(m, H, W, n_names, NULL, &p, &dp, &L, err);
    if (st) return st;
    int post = ct_head_get(p->head)->post;
    size_t b = post == CT_POST_VOTE && n_clusters >= 0
                   ? vote_bytes_n(m, H, W, n_names, L, p, with_intermediates, n_clusters)
                   : k_pipelines[post].bytes(m, H, W, n_names, L, p, ct_model_nn(m, p->n_threads).ex.nth, with_intermediates);
    if (!b) return ct_fail(err, CT_ERR_TOO_LARGE, "size overflow");
    *bytes = b;
    return ct_ok(err);
}

ct_status ct_segment_ex(const ct_model *m, const float *pixels, int H, int W, const float *class_emb, int n_names,
                        const int32_t *name_label, const ct_segment_params *p, const ct_segment_outputs *out, ct_error *err) {
    double t0 = now_s();
    if (!m || !pixels || !class_emb || !out || !out->labels) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_segment: NULL argument");
    ct_segment_params dp;
    int L = 0;
    ct_status st = check_call(m, H, W, n_names, name_label, &p, &dp, &L, err);
    if (!st) st = check_emb(m, class_emb, n_names, err);
    if (st) return st;
    /* intermediates and info are filled in local structs and handed over on success: a failure
     * leaves the caller's untouched (and a struct still holding an earlier call's arrays leaks
     * nothing) */
    ct_intermediates tmp;
    ct_segment_info info;
    ct_segment_outputs o = *out;
    o.inter = out->inter ? &tmp : NULL;
    o.info = out->info ? &info : NULL;
    st = k_pipelines[ct_head_get(p->head)->post].run(m, pixels, H, W, class_emb, n_names, name_label, L, p, &o, t0, err);
    if (st) return st;
    if (out->inter) *out->inter = tmp;
    if (out->info) *out->info = info;
    return CT_OK;
}

ct_status ct_segment(const ct_model *m, const float *pixels, int H, int W, const float *class_emb, int n_names,
                     const int32_t *name_label, const ct_segment_params *p, int32_t *labels, ct_intermediates *inter,
                     ct_error *err) {
    ct_segment_outputs o = {labels, NULL, NULL, inter};
    return ct_segment_ex(m, pixels, H, W, class_emb, n_names, name_label, p, &o, err);
}

/* Multiply-adds of one encoder pass over an h x w patch grid (the vision tower: patch embedding,
 * per block the projections, attention and MLP). */
static double encoder_ops(const ct_model *m, int h, int w) {
    const ct_config *c = &m->cfg;
    double T = (double)h * w + 1, D = c->vision_width, F = m->vision_mlp > 0 ? m->vision_mlp : 4.0 * D;
    double per_block = T * D * (4.0 * D + 2.0 * F) + 2.0 * T * T * D;
    return T * D * 3.0 * c->patch * c->patch + c->vision_layers * per_block + T * D * c->embed_dim;
}

ct_status ct_segment_cost(const ct_model *m, int H, int W, int n_names, const ct_segment_params *p, int with_intermediates,
                          ct_segment_cost_info *out, ct_error *err) {
    if (!m || !out) return ct_fail(err, CT_ERR_INVALID_ARG, "ct_segment_cost: NULL argument");
    ct_segment_params dp;
    int L = 0;
    ct_status st = check_call(m, H, W, n_names, NULL, &p, &dp, &L, err);
    if (st) return st;
    size_t bytes = 0;
    st = ct_segment_memory(m, H, W, n_names, p, with_intermediates, &bytes, err);
    if (st) return st;
    const ct_config *c = &m->cfg;
    int patch = c->patch, h = H / patch, w = W / patch;
    double hw = (double)h * w, HW = (double)H * W, N = n_names;
    ct_segment_cost_info ci;
    memset(&ci, 0, sizeof ci);
    ci.bytes = bytes;
    if (ct_head_get(p->head)->post == CT_POST_VOTE) {
        int ms = p->min_samples > 0 ? p->min_samples : (ct_cliptrase_small_grid(H, W, m->cfg.patch) ? 3 : 7);
        int ratio = p->upsample_ratio > 0 ? p->upsample_ratio : 4, msize = p->median_size > 0 ? p->median_size : 2 * ratio - 1;
        double nc = hw / ms, up = (double)ratio * ratio * hw;
        ci.n_windows = 1;
        ci.n_clusters = (int)(nc + 0.5);
        ci.encoder_ops = encoder_ops(m, h, w);
        /* logits upsampled and compared (N per pixel), DBSCAN's Gram product, per cluster its mean
         * map, the upsampling, the median filter (size^2 comparisons per pixel at most, each
         * counted as 8 multiply-adds: a selection step is that much slower than a vector product)
         * and the regions */
        ci.post_ops = 4.0 * N * HW + hw * hw * hw / 2 + nc * (hw * hw + up * ((double)msize * msize * 8.0 + 4.0) + 4.0 * HW);
    } else {
        ct_slide_grid g;
        ct_slide_grid_make(H, W, p->slide_crop, p->slide_stride, &g);
        ci.n_windows = g.n;
        ci.encoder_ops = (double)g.n * (encoder_ops(m, g.wh / patch, g.ww / patch) + ((double)g.wh / patch) * (g.ww / patch) * c->embed_dim * N);
        /* the windows' logits upsampled into the image, PAMR (one neighbour per dilation and
         * direction, 8 of them, per step), the classification */
        ci.post_ops = (double)g.n * N * g.wh * g.ww * 4.0 + (double)p->pamr_steps * N * HW * 8.0 * p->n_pamr_dilations * 2.0 + 4.0 * N * HW;
    }
    ci.total_ops = ci.encoder_ops + ci.post_ops;
    *out = ci;
    return ct_ok(err);
}
