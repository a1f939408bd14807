/* What every segmentation stage shares (stage.c): the labels of the names, the threads of
 * the model-less public functions, the process CPU clock the stages report. */
#ifndef CT_SEG_STAGE_H
#define CT_SEG_STAGE_H

#include "core/internal.h"
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
/* CT_ERR_NONFINITE naming the first NaN or Inf of an [n x E] array (`what`: its name), else OK. */
ct_status ct_seg_check_finite(const float *x, size_t n, size_t E, const char *what, ct_error *err);
/* ct_segment_memory with the CLIPtrase cluster count given (n_clusters >= 0; -1: the public
 * estimate's hw / min_samples), for tests that compare with a run's real count (segment.c). */
ct_status ct_segment_memory_clusters(const ct_model *m, int H, int W, int n_names, const ct_segment_params *p, int with_intermediates,
                                     int n_clusters, size_t *bytes, ct_error *err);

/* Threads for the model-less public functions (ct_dbscan, ct_postprocess): a runtime started for
 * the call (none for one thread) and the best fp32 kernel. Free nn->ex.rt after the call. */
ct_status ct_seg_nn_transient(int n_threads, ct_nn *nn, ct_error *err);

#endif
