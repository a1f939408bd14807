/* DBSCAN on the rows of a matrix (dbscan.c; the public ct_dbscan is declared in include/cliptrase.h). */
#ifndef CT_SEG_DBSCAN_H
#define CT_SEG_DBSCAN_H

#include "core/internal.h"
#include "nn/gemm.h"

/* Stages of DBSCAN, process CPU seconds. */
enum { CT_DB_NORMS, CT_DB_GRAM, CT_DB_THRESHOLD, CT_DB_MIRROR, CT_DB_GROW, CT_DB_STAGES };

/* Bytes ct_dbscan_nn allocates for n points of d dimensions on n_threads threads (0 on overflow). */
size_t ct_dbscan_bytes(ct_kernel k, int n, int d, int n_threads);
/* t (optional) [CT_DB_STAGES] receives the process CPU seconds of each stage. */
ct_status ct_dbscan_nn(const ct_nn *nn, const float *x, int n, int d, float eps, int min_samples, int32_t *labels, int *n_clusters,
                       double *t, ct_error *err);

#endif
