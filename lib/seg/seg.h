/* Segmentation stages (internal): the CLIPtrase cluster vote (cliptrase.c), DBSCAN (dbscan.c),
 * the mmseg pipeline of the other heads: sliding windows (slide.c), PAMR (pamr.c),
 * classification (classify.c), and the entry points that run the encoder and a head's
 * post-processing (segment.c). */
#ifndef CT_SEG_H
#define CT_SEG_H

#include "core/internal.h"
#include "model/model.h"
#include "nn/gemm.h"

#include <time.h>

/* CPU seconds of the whole process (every thread): what a stage costs, spinning included. */
static inline double ct_seg_cpu_s(void) {
    struct timespec ts;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) ? 0.0 : (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* At least one name, the label of every name in [0, 65536) (name_label NULL: the identity);
 * *n_labels = the largest label + 1. */
ct_status ct_seg_labels(int n_names, const int32_t *name_label, int *n_labels, ct_error *err);

/* Stages of the CLIPtrase vote, for the process CPU time each took (benchmarks, docs). */
enum {
    CT_VOTE_DENOISE,  /* corr from corr_raw */
    CT_VOTE_LOGITS,   /* patch logits (and CLS logits) */
    CT_VOTE_UP_RAW,   /* logits bilinear to H x W, argmax: pred_raw */
    CT_VOTE_DBSCAN,   /* DBSCAN on the rows of corr */
    CT_VOTE_MEANS,    /* cluster mean rows */
    CT_VOTE_UPSAMPLE, /* cluster maps bilinear x ratio */
    CT_VOTE_MEDIAN,   /* median filter of the cluster maps */
    CT_VOTE_ASSIGN,   /* cluster maps bilinear to H x W, argmax: cluster_assign */
    CT_VOTE_VOTE,     /* majority label of each region, labels */
    CT_VOTE_STAGES
};

/* Stages of DBSCAN, process CPU seconds. */
enum { CT_DB_NORMS, CT_DB_GRAM, CT_DB_THRESHOLD, CT_DB_MIRROR, CT_DB_GROW, CT_DB_STAGES };

/* What the CLIPtrase vote reports back: resolved parameters, and the intermediates when asked. */
typedef struct {
    ct_intermediates *inter; /* optional: corr, patch_logits, logits_up, pred_raw, dbscan_labels,
                                cluster_maps, cluster_assign, pred (zeroed by the caller) */
    int n_clusters, min_samples, median_size, upsample_ratio;
    float eps;
    double t_stage[CT_VOTE_STAGES]; /* process CPU seconds of each stage */
    double t_dbscan[CT_DB_STAGES];
} ct_cliptrase_out;

/* The paper's DBSCAN settings, stated in patches: its 224 setting (ViT-B/16: 14 patches a side)
 * is eps 0.7 / min_samples 3 for a short side of at most 14 patches, its 336 setting (21 patches)
 * 1.1 / 7 above: 1 when the smaller settings apply. */
int ct_cliptrase_small_grid(int H, int W, int patch);

/* Bytes ct_cliptrase_vote allocates at most without intermediates, DBSCAN included, except the
 * cluster maps (4 (3 + 2 ratio^2) h w bytes per cluster, and n_labels counts per cluster and
 * thread): their count is known only after DBSCAN. 0 on overflow. */
size_t ct_cliptrase_vote_bytes(ct_kernel k, int H, int W, int patch, int E, int n_names, int n_threads);

ct_status ct_cliptrase_vote(const ct_nn *nn, const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E,
                            float logit_scale, const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_cliptrase_out *out, ct_error *err);

/* Bytes ct_dbscan_nn allocates for n points of d dimensions on n_threads threads (0 on overflow). */
size_t ct_dbscan_bytes(ct_kernel k, int n, int d, int n_threads);
/* t (optional) [CT_DB_STAGES] receives the process CPU seconds of each stage. */
ct_status ct_dbscan_nn(const ct_nn *nn, const float *x, int n, int d, float eps, int min_samples, int32_t *labels, int *n_clusters,
                       double *t, ct_error *err);

/* Threads for the model-less public functions (ct_dbscan, ct_postprocess): a runtime started for
 * the call (none for one thread) and the best fp32 kernel. Free nn->ex.rt after the call. */
ct_status ct_seg_nn_transient(int n_threads, ct_nn *nn, ct_error *err);

/* ---- median filter (median.c): ct_median_filter's rows, for callers that split the work */

typedef struct ct_median_plan ct_median_plan;
/* The networks of a size x size filter (size in [1, 255]); NULL when out of memory or out of range. */
ct_median_plan *ct_median_plan_new(int size);
void ct_median_plan_free(ct_median_plan *p);
/* int32 scratch of a call filtering `rows` rows of width w. */
size_t ct_median_scratch(const ct_median_plan *p, int w, int rows);
/* Rows [r0, r1) of the median filter of x [h x w] into the same rows of y (y must not overlap x).
 * Returns nonzero when a value read was NaN (the rows are then unspecified). */
int ct_median_rows(const ct_median_plan *p, const float *x, int h, int w, int r0, int r1, float *y, int32_t *scratch);

/* ---- sliding windows (slide.c) */

/* The references' window grid of an H x W image (SCLIP's / NACLIP's forward_slide): with crop c
 * and stride s, gh = max(H - c + s - 1, 0) / s + 1 windows down (gw across); window (i, j):
 * y1 = i s, y2 = min(y1 + c, H), y1 = max(y2 - c, 0) (x likewise). Every window is wh x ww =
 * min(c, H) x min(c, W): a window larger than the image shrinks to its side. crop 0: the whole
 * image as one window. */
typedef struct {
    int H, W, wh, ww, gh, gw, stride;
    int n;                  /* gh * gw */
} ct_slide_grid;

/* The grid (crop, stride already checked: crop a multiple of the patch or 0, stride in [1, crop]). */
void ct_slide_grid_make(int H, int W, int crop, int stride, ct_slide_grid *g);
/* Top-left corner of window k (row-major: k = i * gw + j). */
void ct_slide_window(const ct_slide_grid *g, int k, int *y1, int *x1);

/* Windows per encoder batch: the largest count whose encoder workspace stays within
 * CT_SLIDE_BATCH_BYTES (at least one window). */
#define CT_SLIDE_BATCH_BYTES ((size_t)256 << 20)
int ct_slide_batch(const ct_model *m, const ct_slide_grid *g, ct_head head);

/* Bytes ct_slide_logits allocates (encoder workspace of one batch, the batch's pixels, tokens and
 * logits, the taps); 0 on overflow. */
size_t ct_slide_workspace(const ct_model *m, const ct_slide_grid *g, ct_head head, int n_names);

typedef struct {
    int n_windows, n_batches;
    double t_encode;        /* seconds in the encoder */
    size_t workspace_bytes; /* the largest of the call's allocations at once */
} ct_slide_stats;

/* seg_logits [N x H x W]: per window, the cosine logits of the head's patch tokens against
 * class_emb [N x E], bilinearly upsampled (align_corners=False) to the window, summed over the
 * windows and divided by the count of windows covering each pixel. The windows run through the
 * encoder in batches of ct_slide_batch windows (max_batch > 0: at most that many; the result
 * does not depend on it). img_tokens [(1+h*w) x E] (optional): the head's tokens when the grid is
 * one window covering the whole image. */
ct_status ct_slide_logits(const ct_model *m, const ct_nn *nn, const float *pixels, const ct_slide_grid *g, ct_head head,
                          float gaussian_std, const float *class_emb, int n_names, int max_batch, float *seg_logits,
                          float *img_tokens, ct_slide_stats *stats, ct_error *err);

/* ---- PAMR (pamr.c) */

/* Bytes ct_pamr allocates for n_threads threads (0 on overflow). */
size_t ct_pamr_workspace(int H, int W, int n_dil, const int *dil, int n_threads);
/* Pixel-adaptive mask refinement (NACLIP's pamr.py) of n maps [n x H x W], in place, guided by
 * the image img [3 x H x W]. */
ct_status ct_pamr(const ct_exec *ex, const float *img, int H, int W, const int *dil, int n_dil, int steps, float *maps, int n,
                  ct_error *err);

/* ---- classification (classify.c) */

typedef struct {
    const int32_t *name_label; /* [N] label of each name, NULL: identity */
    int n_labels;              /* L */
    float scale;               /* logit scale */
    float area_thd, prob_thd;  /* 0: off */
} ct_classify_params;

/* Bytes ct_classify allocates. */
size_t ct_classify_workspace(size_t HW, int n_names, int n_labels, int n_threads);
/* labels [HW] from logits [N x HW]: probs = softmax over names of scale * logits, a label's
 * probability the maximum over its names; area_thd drops labels 1.. of small argmax area
 * (probability 0); argmax; below prob_thd: label 0. probs (optional) [L x HW] receives the label
 * probabilities after area_thd; *n_thresholded the pixels prob_thd set to 0. Fails only before
 * writing labels or probs (out of memory). */
ct_status ct_classify(const ct_exec *ex, const float *logits, int N, size_t HW, const ct_classify_params *cp, int32_t *labels,
                      float *probs, int *n_thresholded, ct_error *err);

#endif
