/* Classification of the logits (classify.c). */
#ifndef CT_SEG_CLASSIFY_H
#define CT_SEG_CLASSIFY_H

#include "core/internal.h"
#include "core/runtime.h"

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
