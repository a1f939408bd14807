/* NumPy .npy (format 1.0/2.0/3.0) reader and writer for float32 and int32 little-endian arrays. */
#ifndef CT_NPY_H
#define CT_NPY_H

#include "internal.h"

#define CT_NPY_MAX_DIMS 8

typedef struct {
    int is_int;      /* 0: <f4, 1: <i4 */
    int ndim;
    int64_t shape[CT_NPY_MAX_DIMS];
    size_t numel;
    void *data;      /* float* or int32_t*, malloc'd */
} ct_npy;

ct_status ct_npy_load(const char *path, ct_npy *out, ct_error *err);
void ct_npy_free(ct_npy *a);
/* Write a C-order array; is_int selects <i4, else <f4. */
ct_status ct_npy_save(const char *path, const void *data, int is_int, int ndim, const int64_t *shape, ct_error *err);

#endif
