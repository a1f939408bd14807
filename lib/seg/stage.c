/* What every segmentation stage shares (stage.h). */
#include "seg/stage.h"

#include <math.h>

#include <string.h>

ct_status ct_seg_nn_transient(int n_threads, ct_nn *nn, ct_error *err) {
    memset(nn, 0, sizeof *nn);
    nn->kernel = ct_kernel_choose(CT_PRECISION_FP32, CT_BACKEND_NATIVE);
    nn->ex = ct_exec_serial();
    ct_status st = ct_check_threads(n_threads, err);
    if (st || n_threads == 1) return st;
    ct_runtime *rt = NULL;
    if (ct_runtime_new(n_threads, &rt, NULL) == CT_OK) nn->ex = ct_exec_for(rt, 0);
    return CT_OK;
}

ct_status ct_seg_labels(int n_names, const int32_t *name_label, int *n_labels, ct_error *err) {
    if (n_names <= 0) return ct_fail(err, CT_ERR_INVALID_ARG, "at least one class name is needed");
    int L = 0;
    for (int i = 0; i < n_names; i++) {
        int32_t l = name_label ? name_label[i] : i;
        if (l < 0 || l >= 65536) return ct_fail(err, CT_ERR_INVALID_ARG, "label %d of name %d outside [0, 65536)", l, i);
        if (l + 1 > L) L = l + 1;
    }
    *n_labels = L;
    return CT_OK;
}

ct_status ct_seg_check_finite(const float *x, size_t n, size_t E, const char *what, ct_error *err) {
    for (size_t i = 0; i < n * E; i++)
        if (!isfinite(x[i]))
            return ct_fail(err, CT_ERR_NONFINITE, "%s: row %zu holds a non-finite value (%s) at column %zu", what, i / E, isnan(x[i]) ? "NaN" : "Inf", i % E);
    return CT_OK;
}
