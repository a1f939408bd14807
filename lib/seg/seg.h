/* Segmentation stages (internal): the CLIPtrase cluster vote (cliptrase.c), DBSCAN (dbscan.c),
 * and the entry points that run the encoder and a head's post-processing (segment.c). */
#ifndef CT_SEG_H
#define CT_SEG_H

#include "core/internal.h"
#include "nn/gemm.h"

/* What the CLIPtrase vote reports back: resolved parameters, and the intermediates when asked. */
typedef struct {
    ct_intermediates *inter; /* optional: corr, patch_logits, logits_up, pred_raw, dbscan_labels,
                                cluster_maps, cluster_assign, pred (zeroed by the caller) */
    int n_clusters, min_samples, median_size, upsample_ratio;
    float eps;
} ct_cliptrase_out;

ct_status ct_cliptrase_vote(const ct_nn *nn, const float *img_tokens, const float *corr_raw, int H, int W, int patch, int E,
                            float logit_scale, const float *class_emb, int n_names, const int32_t *name_label,
                            const ct_segment_params *p, int32_t *labels, ct_cliptrase_out *out, ct_error *err);

ct_status ct_dbscan_nn(const ct_nn *nn, const float *x, int n, int d, float eps, int min_samples, int32_t *labels, int *n_clusters,
                       ct_error *err);

/* Threads for the model-less public functions (ct_dbscan, ct_postprocess): a runtime started for
 * the call (none for one thread) and the best fp32 kernel. Free nn->ex.rt after the call. */
ct_status ct_seg_nn_transient(int n_threads, ct_nn *nn, ct_error *err);

#endif
