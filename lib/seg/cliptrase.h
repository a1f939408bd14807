/* The CLIPtrase cluster vote (cliptrase.c): patch logits, DBSCAN on the correlation rows,
 * cluster maps, median filter, majority vote. */
#ifndef CT_SEG_CLIPTRASE_H
#define CT_SEG_CLIPTRASE_H

#include "core/internal.h"
#include "nn/gemm.h"
#include "seg/dbscan.h"

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

/* Bytes ct_cliptrase_vote holds throughout without intermediates; *dbscan receives DBSCAN's
 * scratch, freed before the cluster maps are made (4 (3 + 2 ratio^2) h w bytes per cluster, and
 * n_labels counts per cluster and thread: their count is known only after DBSCAN). 0 on
 * overflow. */
size_t ct_cliptrase_vote_bytes(ct_kernel k, int H, int W, int patch, int E, int n_names, int n_threads, size_t *dbscan);

ct_status ct_cliptrase_vote(const ct_nn *nn, const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E,
                            float logit_scale, const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_cliptrase_out *out, ct_error *err);

#endif
